//! [`Config`]: where a server is and how to log in, from a
//! `postgres://` URL or piece by piece.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::error::Error;

mod tls;

pub use self::tls::{ChannelBinding, RootCert, SslMode};

/// Where the server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// A host name or address, with the port.
    Tcp(String),
    /// The directory of the server's Unix socket (`.s.PGSQL.<port>` in it).
    Unix(PathBuf),
}

/// How to reach and log in to a PostgreSQL server (libpq's connection
/// string, as a URL: `postgres://user:password@host:port/dbname?options`).
///
/// ```
/// use yieldfrom::pg::{Config, Host};
/// let c: Config = "postgres://ada:secret@db.example:6432/shop?application_name=api"
///     .parse()
///     .unwrap();
/// assert_eq!(c.get_user(), "ada");
/// assert_eq!(c.get_host(), &Host::Tcp("db.example".into()));
/// assert_eq!(c.get_port(), 6432);
/// assert_eq!(c.get_dbname(), "shop");
/// // A Unix socket: the directory as `host`, percent-encoded or as a parameter.
/// let c: Config = "postgres:///shop?host=/run/postgresql&user=ada".parse().unwrap();
/// assert_eq!(c.get_host(), &Host::Unix("/run/postgresql".into()));
/// ```
#[derive(Clone)]
pub struct Config {
    /// The role to log in as.
    pub(crate) user: String,
    /// Its password, for password, MD5 or SCRAM logins.
    pub(crate) password: Option<String>,
    /// Where the server is: a host name, an address, or a Unix socket directory.
    pub(crate) host: Host,
    /// The port (5432 by default; also the Unix socket's number).
    pub(crate) port: u16,
    /// The database (the user's name by default).
    pub(crate) dbname: Option<String>,
    /// `-c name=value` settings sent as the startup `options` parameter.
    pub(crate) options: Vec<(String, String)>,
    /// Sent at startup: shown in `pg_stat_activity`.
    pub(crate) application_name: Option<String>,
    /// How long connecting and logging in may take.
    pub(crate) connect_timeout: Duration,
    /// TCP keepalive idle time, if any (a dead peer is noticed).
    pub(crate) keepalive: Option<Duration>,
    /// Prepared statements kept per connection (0: unnamed only, for PgBouncer).
    pub(crate) statement_cache: usize,
    /// Whether and how TLS is used (`sslmode`).
    pub(crate) ssl_mode: SslMode,
    /// Which certificates to trust (`sslrootcert`).
    pub(crate) ssl_root_cert: Option<RootCert>,
    /// Whether the host name is sent in the TLS handshake (`sslsni`).
    pub(crate) ssl_sni: bool,
    /// Whether SCRAM must bind the login to the TLS channel (`channel_binding`).
    pub(crate) channel_binding: ChannelBinding,
    /// The TLS client configuration: given, or built from the settings
    /// above at the first TLS connection and shared by the clones made
    /// since (a pool's connections load the roots once).
    pub(crate) tls: Arc<OnceLock<Arc<crate::tls::ClientConfig>>>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            user: std::env::var("USER").unwrap_or_else(|_| "postgres".into()),
            password: None,
            host: Host::Tcp("localhost".into()),
            port: 5432,
            dbname: None,
            options: Vec::new(),
            application_name: None,
            connect_timeout: Duration::from_secs(10),
            keepalive: Some(Duration::from_secs(60)),
            statement_cache: 256,
            ssl_mode: SslMode::Prefer,
            ssl_root_cert: None,
            ssl_sni: true,
            channel_binding: ChannelBinding::Prefer,
            tls: Arc::default(),
        }
    }
}

impl Config {
    /// The defaults: the current user, `localhost:5432`, the database
    /// named after the user.
    ///
    /// ```
    /// use yieldfrom::pg::Config;
    /// let c = Config::new();
    /// assert_eq!((c.get_port(), c.get_dbname()), (5432, c.get_user()));
    /// ```
    pub fn new() -> Config {
        Config::default()
    }

    /// The `DATABASE_URL` environment variable, parsed; `None` if unset.
    ///
    /// ```
    /// use yieldfrom::pg::Config;
    /// // `DATABASE_URL=postgres://ada@db.internal/shop` in production.
    /// match Config::from_env() {
    ///     Some(Ok(config)) => println!("connecting to {}", config.get_dbname()),
    ///     Some(Err(e)) => eprintln!("DATABASE_URL is not a PostgreSQL URL: {e}"),
    ///     None => println!("DATABASE_URL is not set"),
    /// }
    /// ```
    pub fn from_env() -> Option<Result<Config, Error>> {
        std::env::var("DATABASE_URL").ok().map(|url| url.parse())
    }

    /// The user to log in as.
    ///
    /// ```
    /// use yieldfrom::pg::Config;
    /// assert_eq!(Config::new().user("ada").get_user(), "ada");
    /// ```
    pub fn user(mut self, user: &str) -> Config {
        self.user = user.into();
        self
    }

    /// The password (for cleartext, md5 and SCRAM-SHA-256 authentication).
    ///
    /// ```
    /// use yieldfrom::pg::Config;
    /// let c = Config::new().user("ada").password("s3cret");
    /// assert!(!format!("{c:?}").contains("s3cret")); // never printed
    /// ```
    pub fn password(mut self, password: &str) -> Config {
        self.password = Some(password.into());
        self
    }

    /// The host: a name or address, or a path (a Unix socket's directory).
    ///
    /// ```
    /// use yieldfrom::pg::{Config, Host};
    /// assert_eq!(Config::new().host("db.internal").get_host(), &Host::Tcp("db.internal".into()));
    /// assert_eq!(Config::new().host("/run/postgresql").get_host(), &Host::Unix("/run/postgresql".into()));
    /// ```
    pub fn host(mut self, host: &str) -> Config {
        self.host = if host.starts_with('/') {
            Host::Unix(host.into())
        } else {
            Host::Tcp(host.into())
        };
        self
    }

    /// The port (also the number in a Unix socket's name).
    ///
    /// ```
    /// use yieldfrom::pg::Config;
    /// assert_eq!(Config::new().port(6432).get_port(), 6432);
    /// ```
    pub fn port(mut self, port: u16) -> Config {
        self.port = port;
        self
    }

    /// The database (the user's name if not given).
    ///
    /// ```
    /// use yieldfrom::pg::Config;
    /// assert_eq!(Config::new().user("ada").dbname("shop").get_dbname(), "shop");
    /// ```
    pub fn dbname(mut self, dbname: &str) -> Config {
        self.dbname = Some(dbname.into());
        self
    }

    /// A server setting for the session, sent at startup as
    /// `options=-c name=value` (`statement_timeout`, `search_path`, ...).
    ///
    /// ```
    /// use yieldfrom::pg::Config;
    /// let c = Config::new().option("search_path", "shop,public");
    /// assert!(format!("{c:?}").contains("search_path"));
    /// ```
    pub fn option(mut self, name: &str, value: &str) -> Config {
        self.options.push((name.into(), value.into()));
        self
    }

    /// `statement_timeout` for every query of the session: the server
    /// cancels a query that runs longer (SQLSTATE 57014).
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::pg::Config;
    /// let c = Config::new().statement_timeout(Duration::from_secs(5));
    /// assert!(format!("{c:?}").contains("statement_timeout"));
    /// ```
    pub fn statement_timeout(self, limit: Duration) -> Config {
        let ms = limit.as_millis().to_string();
        self.option("statement_timeout", &ms)
    }

    /// The name the server shows in `pg_stat_activity`.
    ///
    /// ```
    /// use yieldfrom::pg::Config;
    /// // Shown as `application_name` in pg_stat_activity.
    /// let _config = Config::new().application_name("users-api");
    /// ```
    pub fn application_name(mut self, name: &str) -> Config {
        self.application_name = Some(name.into());
        self
    }

    /// How long connecting and logging in may take.
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::pg::Config;
    /// let _config = Config::new().host("db.internal").connect_timeout(Duration::from_secs(3));
    /// ```
    pub fn connect_timeout(mut self, limit: Duration) -> Config {
        self.connect_timeout = limit;
        self
    }

    /// TCP keepalive idle time on the socket (`None`: off).
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::pg::Config;
    /// // Notice a server that vanished (a failover) within about a minute.
    /// let _config = Config::new().keepalive(Some(Duration::from_secs(60)));
    /// ```
    pub fn keepalive(mut self, idle: Option<Duration>) -> Config {
        self.keepalive = idle;
        self
    }

    /// Prepared statements kept per connection (the oldest is closed past
    /// it; default 256). `0` is the pooler-safe mode (asyncpg's
    /// `statement_cache_size=0`, psycopg's `prepare_threshold=None`): no
    /// named statement is ever made; every query is one flight of
    /// `Parse`/`Bind`/`Describe`/`Execute`/`Sync` on the unnamed statement,
    /// so that a pooler that hands each transaction to another server
    /// connection (PgBouncer's `pool_mode = transaction` before 1.21
    /// without `max_prepared_statements`, RDS Proxy, Supavisor) never meets
    /// a statement prepared on a different one. The server then parses and
    /// plans every query again; the parameters' types and columns are
    /// still learned once per SQL text and kept by the client. The URL
    /// parameter `statement_cache_size` sets the same.
    ///
    /// ```
    /// use yieldfrom::pg::Config;
    /// let behind_pgbouncer: Config = "postgres://app@pgbouncer:6432/shop?statement_cache_size=0"
    ///     .parse()
    ///     .unwrap();
    /// assert!(behind_pgbouncer.is_pooler_safe());
    /// assert!(!Config::new().is_pooler_safe());
    /// ```
    pub fn statement_cache(mut self, statements: usize) -> Config {
        self.statement_cache = statements;
        self
    }

    /// Whether and how to encrypt (`sslmode`; default [`SslMode::Prefer`]).
    ///
    /// ```
    /// use yieldfrom::pg::{ChannelBinding, Config, RootCert, SslMode};
    /// // A managed service (Neon, RDS, Supabase): a public CA, the host's name
    /// // checked, the login bound to the TLS connection.
    /// let c: Config = "postgres://app:pw@ep-1.eu.aws.neon.tech/shop\
    ///                  ?sslmode=verify-full&sslrootcert=system&channel_binding=require"
    ///     .parse()
    ///     .unwrap();
    /// assert_eq!(c.get_ssl_mode(), SslMode::VerifyFull);
    /// assert_eq!(c.get_ssl_root_cert(), Some(&RootCert::System));
    /// assert_eq!(c.get_channel_binding(), ChannelBinding::Require);
    /// ```
    pub fn ssl_mode(mut self, mode: SslMode) -> Config {
        self.ssl_mode = mode;
        self.tls = Arc::default();
        self
    }

    /// The CA certificates (a PEM file) that verify the server's
    /// certificate (`sslrootcert`). Without it, `verify-ca` and
    /// `verify-full` read `~/.postgresql/root.crt`, as libpq does.
    ///
    /// ```
    /// use yieldfrom::pg::{Config, RootCert};
    /// let c = Config::new().ssl_root_cert(RootCert::File("/etc/ssl/rds-ca.pem".into()));
    /// assert_eq!(c.get_ssl_root_cert(), Some(&RootCert::File("/etc/ssl/rds-ca.pem".into())));
    /// ```
    pub fn ssl_root_cert(mut self, roots: RootCert) -> Config {
        self.ssl_root_cert = Some(roots);
        self.tls = Arc::default();
        self
    }

    /// Whether to send the host's name in the TLS handshake (SNI; on by
    /// default, `sslsni=0` turns it off). Never sent for an IP address.
    /// Proxies that route by name (Neon's) need it.
    ///
    /// ```
    /// use yieldfrom::pg::Config;
    /// let _config = Config::new().host("db.internal").ssl_sni(false);
    /// ```
    pub fn ssl_sni(mut self, on: bool) -> Config {
        self.ssl_sni = on;
        self.tls = Arc::default();
        self
    }

    /// Whether to bind the login to the TLS connection
    /// (`channel_binding`; default [`ChannelBinding::Prefer`]).
    ///
    /// ```
    /// use yieldfrom::pg::{ChannelBinding, Config};
    /// let c = Config::new().channel_binding(ChannelBinding::Require);
    /// assert_eq!(c.get_channel_binding(), ChannelBinding::Require);
    /// ```
    pub fn channel_binding(mut self, binding: ChannelBinding) -> Config {
        self.channel_binding = binding;
        self
    }

    /// The TLS client configuration to use (rustls's, as asyncpg takes an
    /// `ssl.SSLContext`): its roots, verifier and client certificate decide;
    /// `sslrootcert` and `sslsni` are not read. `sslmode` still says
    /// whether TLS is tried and required. The server is named by the host.
    ///
    /// ```
    /// use yieldfrom::pg::{Config, SslMode};
    /// // The crate's default TLS client settings (the system's roots), given whole.
    /// let tls = yieldfrom::tls::client_config();
    /// let c = Config::new().ssl_mode(SslMode::Require).tls_config(tls);
    /// assert_eq!(c.get_ssl_mode(), SslMode::Require);
    /// ```
    pub fn tls_config(mut self, config: Arc<crate::tls::ClientConfig>) -> Config {
        self.tls = Arc::new(OnceLock::from(config));
        self
    }

    /// The `sslmode`.
    ///
    /// ```
    /// use yieldfrom::pg::{Config, SslMode};
    /// let c: Config = "postgres://ada@db.internal/shop?sslmode=verify-full".parse().unwrap();
    /// assert_eq!(c.get_ssl_mode(), SslMode::VerifyFull);
    /// ```
    pub fn get_ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }

    /// The `sslrootcert`, if given.
    ///
    /// ```
    /// use yieldfrom::pg::Config;
    /// assert_eq!(Config::new().get_ssl_root_cert(), None);
    /// ```
    pub fn get_ssl_root_cert(&self) -> Option<&RootCert> {
        self.ssl_root_cert.as_ref()
    }

    /// The `channel_binding`.
    ///
    /// ```
    /// use yieldfrom::pg::{ChannelBinding, Config};
    /// assert_eq!(Config::new().get_channel_binding(), ChannelBinding::Prefer);
    /// ```
    pub fn get_channel_binding(&self) -> ChannelBinding {
        self.channel_binding
    }

    /// Whether statements are unnamed (see [`statement_cache`](Self::statement_cache)).
    ///
    /// ```
    /// use yieldfrom::pg::Config;
    /// assert!(Config::new().statement_cache(0).is_pooler_safe());
    /// ```
    pub fn is_pooler_safe(&self) -> bool {
        self.statement_cache == 0
    }

    /// The user.
    ///
    /// ```
    /// use yieldfrom::pg::Config;
    /// let c: Config = "postgres://ada@localhost/shop".parse().unwrap();
    /// assert_eq!(c.get_user(), "ada");
    /// ```
    pub fn get_user(&self) -> &str {
        &self.user
    }

    /// The host.
    ///
    /// ```
    /// use yieldfrom::pg::{Config, Host};
    /// let c: Config = "postgres://ada@db.internal:6432/shop".parse().unwrap();
    /// assert_eq!(c.get_host(), &Host::Tcp("db.internal".into()));
    /// ```
    pub fn get_host(&self) -> &Host {
        &self.host
    }

    /// The port.
    ///
    /// ```
    /// use yieldfrom::pg::Config;
    /// let c: Config = "postgres://ada@db.internal:6432/shop".parse().unwrap();
    /// assert_eq!(c.get_port(), 6432);
    /// ```
    pub fn get_port(&self) -> u16 {
        self.port
    }

    /// The database.
    ///
    /// ```
    /// use yieldfrom::pg::Config;
    /// let c: Config = "postgres://ada@localhost/shop".parse().unwrap();
    /// assert_eq!(c.get_dbname(), "shop");
    /// ```
    pub fn get_dbname(&self) -> &str {
        self.dbname.as_deref().unwrap_or(&self.user)
    }

    /// The startup `options` parameter: `-c name=value` per setting, with
    /// spaces and backslashes in values escaped by a backslash.
    pub(crate) fn options_param(&self) -> Option<String> {
        if self.options.is_empty() {
            return None;
        }
        let escape = |s: &str| s.replace('\\', "\\\\").replace(' ', "\\ ");
        let parts: Vec<String> = self
            .options
            .iter()
            .map(|(n, v)| format!("-c {}={}", escape(n), escape(v)))
            .collect();
        Some(parts.join(" "))
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.get_dbname())
            .field("options", &self.options)
            .field("ssl_mode", &self.ssl_mode)
            .field("channel_binding", &self.channel_binding)
            .finish_non_exhaustive()
    }
}
