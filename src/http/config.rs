//! [`Config`]: a server's limits and timeouts, and what its connections share.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use super::body::MinRate;
use super::framing;
use super::router::Router;
use crate::task::suspend::Waker;

/// A server's limits and timeouts (the defaults are those of the module docs).
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::http::Config;
/// let config = Config::default()
///     .max_body_bytes(64 * 1024)
///     .keep_alive_timeout(Duration::from_secs(30));
/// # let _ = config;
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// Sizes of the head, target and body (4xx past them).
    pub(crate) limits: framing::Limits,
    /// How long a request's head may take.
    pub(crate) head_timeout: Duration,
    /// How long an idle keep-alive connection stays open.
    pub(crate) keep_alive_timeout: Duration,
    /// How long a body may go without a byte.
    pub(crate) body_timeout: Duration,
    /// The slowest a body may come, after a grace time.
    pub(crate) min_body_rate: Option<MinRate>,
    /// How long a response may wait for the client to read it.
    pub(crate) write_timeout: Duration,
    /// Connections served at once at most (more get 503).
    pub(crate) max_connections: usize,
    /// Handlers running at once at most (more get 503, the connection stays).
    pub(crate) max_in_flight: usize,
    /// Bind with `SO_REUSEPORT` (a server per loop on one port).
    pub(crate) reuse_port: bool,
    /// HTTPS: every connection runs a TLS handshake first.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<std::sync::Arc<crate::tls::ServerConfig>>,
    /// How long a TLS handshake may take (a client that stalls in it is
    /// closed, as one that stalls in its head is).
    pub(crate) handshake_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            limits: framing::Limits {
                max_head: 16 * 1024,
                max_headers: 100,
                max_target: 8 * 1024,
                max_body: 1024 * 1024,
            },
            head_timeout: Duration::from_secs(5),
            keep_alive_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(5),
            min_body_rate: Some(MinRate {
                bytes_per_second: 240,
                grace: Duration::from_secs(5),
            }),
            write_timeout: Duration::from_secs(5),
            max_connections: 16_384,
            max_in_flight: 16_384,
            reuse_port: false,
            #[cfg(feature = "tls")]
            tls: None,
            handshake_timeout: Duration::from_secs(5),
        }
    }
}

impl Config {
    /// The largest request head, request line and fields (431 past it).
    ///
    /// ```
    /// use yieldfrom::http::Config;
    /// let config = Config::default().max_head_bytes(8 * 1024);
    /// assert!(format!("{config:?}").contains("max_head: 8192"));
    /// ```
    pub fn max_head_bytes(mut self, bytes: usize) -> Config {
        self.limits.max_head = bytes;
        self
    }

    /// The most header fields in a request (431 past it).
    ///
    /// ```
    /// use yieldfrom::http::Config;
    /// let config = Config::default().max_headers(50);
    /// assert!(format!("{config:?}").contains("max_headers: 50"));
    /// ```
    pub fn max_headers(mut self, n: usize) -> Config {
        self.limits.max_headers = n;
        self
    }

    /// The longest request target (414 past it).
    ///
    /// ```
    /// use yieldfrom::http::Config;
    /// let config = Config::default().max_target_bytes(2048);
    /// assert!(format!("{config:?}").contains("max_target: 2048"));
    /// ```
    pub fn max_target_bytes(mut self, bytes: usize) -> Config {
        self.limits.max_target = bytes;
        self
    }

    /// The largest request body (413 past it).
    ///
    /// ```
    /// use yieldfrom::http::Config;
    /// // Uploads of up to 10 MiB; a larger one is answered 413.
    /// let config = Config::default().max_body_bytes(10 << 20);
    /// assert!(format!("{config:?}").contains("max_body: 10485760"));
    /// ```
    pub fn max_body_bytes(mut self, bytes: usize) -> Config {
        self.limits.max_body = bytes;
        self
    }

    /// How long a request's head may take from its first byte (408 after).
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::http::Config;
    /// let config = Config::default().head_timeout(Duration::from_secs(2));
    /// assert!(format!("{config:?}").contains("head_timeout: 2s"));
    /// ```
    pub fn head_timeout(mut self, limit: Duration) -> Config {
        self.head_timeout = limit;
        self
    }

    /// How long an idle keep-alive connection stays open.
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::http::Config;
    /// // Behind a load balancer that keeps connections 60 s, outlast it.
    /// let config = Config::default().keep_alive_timeout(Duration::from_secs(75));
    /// assert!(format!("{config:?}").contains("keep_alive_timeout: 75s"));
    /// ```
    pub fn keep_alive_timeout(mut self, limit: Duration) -> Config {
        self.keep_alive_timeout = limit;
        self
    }

    /// How long a body may go without a byte arriving.
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::http::Config;
    /// let config = Config::default().body_timeout(Duration::from_secs(30));
    /// assert!(format!("{config:?}").contains("body_timeout: 30s"));
    /// ```
    pub fn body_timeout(mut self, limit: Duration) -> Config {
        self.body_timeout = limit;
        self
    }

    /// The slowest a request body may arrive: after `grace` from the start
    /// of the body, at least `bytes_per_second` on average since that
    /// start, or the request is answered 408 and the connection closed
    /// (Kestrel's `MinRequestBodyDataRate`, whose default this is: 240
    /// bytes a second after 5 s). The [`body_timeout`](Self::body_timeout)
    /// alone restarts at every byte, so a client trickling one byte every
    /// few seconds would hold its connection and task for ever. `None`
    /// (or a rate of 0) turns it off.
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::http::Config;
    /// // Uploads over slow links: 50 bytes a second after 20 s.
    /// let config = Config::default().min_body_rate(Some((50, Duration::from_secs(20))));
    /// # let _ = config;
    /// ```
    pub fn min_body_rate(mut self, rate: Option<(u64, Duration)>) -> Config {
        self.min_body_rate = rate
            .filter(|(bytes_per_second, _)| *bytes_per_second > 0)
            .map(|(bytes_per_second, grace)| MinRate {
                bytes_per_second,
                grace,
            });
        self
    }

    /// How long a response may wait for the client to read it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::http::Config;
    /// let config = Config::default().write_timeout(Duration::from_secs(10));
    /// assert!(format!("{config:?}").contains("write_timeout: 10s"));
    /// ```
    pub fn write_timeout(mut self, limit: Duration) -> Config {
        self.write_timeout = limit;
        self
    }

    /// The most connections served at once; more are answered 503 and
    /// closed (uvicorn's `--limit-concurrency`).
    ///
    /// ```
    /// use yieldfrom::http::Config;
    /// let config = Config::default().max_connections(10_000);
    /// assert!(format!("{config:?}").contains("max_connections: 10000"));
    /// ```
    pub fn max_connections(mut self, n: usize) -> Config {
        self.max_connections = n;
        self
    }

    /// The most requests whose handlers run at once (waiting on a query or
    /// a sleep counts); more are answered 503 with `Retry-After: 1`, and
    /// the connection stays open. Lower it below `max_connections` to shed
    /// load before what the handlers wait on (a database pool) queues up.
    ///
    /// ```
    /// use yieldfrom::http::Config;
    /// // 10,000 connections, but at most 64 handlers at the database at once.
    /// let config = Config::default().max_connections(10_000).max_in_flight(64);
    /// assert!(format!("{config:?}").contains("max_in_flight: 64"));
    /// ```
    pub fn max_in_flight(mut self, n: usize) -> Config {
        self.max_in_flight = n;
        self
    }

    /// Serves HTTPS with `config` (a rustls `ServerConfig`: its certificate,
    /// key and ALPN are used as they are).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: std::sync::Arc<crate::tls::ServerConfig>) -> Config {
        self.tls = Some(config);
        self
    }

    /// Serves HTTPS with the certificate chain and key in PEM files (the
    /// leaf first), ALPN `http/1.1` (uvicorn's `--ssl-certfile`,
    /// `--ssl-keyfile`). Errors if a file does not read or parse, or the key
    /// does not fit the certificate.
    #[cfg(feature = "tls")]
    pub fn tls_pem(
        self,
        cert_chain: impl AsRef<std::path::Path>,
        key: impl AsRef<std::path::Path>,
    ) -> std::io::Result<Config> {
        let config = crate::tls::server_config_from_pem(cert_chain, key, &[b"http/1.1"])?;
        Ok(self.tls(config))
    }

    /// How long a TLS handshake may take (default 5 s): a client that
    /// stalls in it, or sends no ClientHello, is closed at the deadline.
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::http::Config;
    /// let config = Config::default().handshake_timeout(Duration::from_secs(3));
    /// assert!(format!("{config:?}").contains("handshake_timeout: 3s"));
    /// ```
    pub fn handshake_timeout(mut self, limit: Duration) -> Config {
        self.handshake_timeout = limit;
        self
    }

    /// Binds with `SO_REUSEPORT`, so that a server per loop shares the
    /// port (see [`run_loops`](crate::run_loops)). Default: off.
    ///
    /// ```
    /// use yieldfrom::http::Config;
    /// let config = Config::default().reuse_port(true);
    /// assert!(format!("{config:?}").contains("reuse_port: true"));
    /// ```
    pub fn reuse_port(mut self, on: bool) -> Config {
        self.reuse_port = on;
        self
    }
}

/// What every connection of a server shares.
pub(crate) struct Shared {
    /// Where requests go.
    pub(crate) router: Router,
    /// The server's settings.
    pub(crate) config: Config,
    /// Connections being served.
    pub(crate) active: Cell<usize>,
    /// Requests whose handlers are running.
    pub(crate) in_flight: Cell<usize>,
    /// Shutting down: every response says `Connection: close`, idle
    /// connections close.
    pub(crate) stopping: Cell<bool>,
    /// The wakers of idle connections, woken at shutdown.
    pub(crate) idle: RefCell<Slots>,
}

impl Shared {
    pub(crate) fn new(router: Router, config: Config) -> Shared {
        Shared {
            router,
            config,
            active: Cell::new(0),
            in_flight: Cell::new(0),
            stopping: Cell::new(false),
            idle: RefCell::default(),
        }
    }
}

/// One slot per connection, holding its waker while it is idle; a slot is
/// reused once its connection ends, so waiting idle allocates nothing.
#[derive(Default)]
pub(crate) struct Slots {
    /// Idle connections' wakers, by slot (`None`: free or busy).
    slots: Vec<Option<Waker>>,
    /// Slots free for the next connection.
    free: Vec<usize>,
}

impl Slots {
    pub(crate) fn add(&mut self) -> usize {
        match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        }
    }

    pub(crate) fn remove(&mut self, i: usize) {
        self.slots[i] = None;
        self.free.push(i);
    }

    pub(crate) fn set(&mut self, i: usize, waker: Option<Waker>) {
        self.slots[i] = waker;
    }

    /// Takes every waker left (the idle connections').
    pub(crate) fn take_all(&mut self) -> Vec<Waker> {
        self.slots.iter_mut().filter_map(Option::take).collect()
    }
}

/// Counts one more in `cell` while alive (a connection, a request).
pub(crate) struct Count<'a>(&'a Cell<usize>);

impl<'a> Count<'a> {
    pub(crate) fn new(cell: &'a Cell<usize>) -> Count<'a> {
        cell.set(cell.get() + 1);
        Count(cell)
    }
}

impl Drop for Count<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}
