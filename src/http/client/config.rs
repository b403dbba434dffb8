//! How a client connects, what it accepts, how long it waits: the
//! per-phase [`Timeouts`] and the [`ClientConfig`] they belong to.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The per-phase limits (see the module docs for what each covers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Waiting for a pooled connection.
    pub pool: Duration,
    /// Resolving the name.
    pub resolve: Duration,
    /// The TCP connect.
    pub connect: Duration,
    /// The TLS handshake.
    pub handshake: Duration,
    /// Writing the request.
    pub send: Duration,
    /// Waiting for the response head.
    pub head: Duration,
    /// Each read of the body.
    pub body_idle: Duration,
    /// The whole request, the body read whole included.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            pool: Duration::from_secs(10),
            resolve: Duration::from_secs(5),
            connect: Duration::from_secs(10),
            handshake: Duration::from_secs(10),
            send: Duration::from_secs(30),
            head: Duration::from_secs(30),
            body_idle: Duration::from_secs(30),
            total: Duration::from_secs(60),
        }
    }
}

/// How a [`Client`](super::Client) connects, what it accepts, how long it waits.
#[derive(Clone)]
pub struct ClientConfig {
    /// The limit of each phase of a request.
    pub(super) timeouts: Timeouts,
    /// Connections open to one host at most.
    pub(super) per_host: usize,
    /// Connections open in all at most.
    pub(super) total: usize,
    /// How long a connection stays idle in the pool.
    pub(super) idle_timeout: Duration,
    /// The largest response head accepted.
    pub(super) max_head: usize,
    /// The most header fields in a response.
    pub(super) max_headers: usize,
    /// The largest body `bytes()`, `text()` and `json()` read.
    pub(super) max_body: usize,
    /// Redirects followed at most (0: none).
    pub(super) max_redirects: usize,
    /// Whether gzip and deflate bodies are asked for and undone.
    pub(super) decompress: bool,
    /// The `User-Agent` sent.
    pub(super) user_agent: String,
    /// The TLS configuration for `https` (the system's roots by default).
    #[cfg(feature = "tls")]
    pub(super) tls: Option<Arc<crate::tls::ClientConfig>>,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            timeouts: Timeouts::default(),
            per_host: 10,
            total: 100,
            idle_timeout: Duration::from_secs(4),
            max_head: 64 * 1024,
            max_headers: 100,
            max_body: 64 * 1024 * 1024,
            max_redirects: 10,
            decompress: true,
            user_agent: concat!("yieldfrom/", env!("CARGO_PKG_VERSION")).to_string(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl ClientConfig {
    /// The per-phase limits.
    pub fn timeouts(mut self, timeouts: Timeouts) -> ClientConfig {
        self.timeouts = timeouts;
        self
    }

    /// The total limit of a request (default 60 s).
    pub fn total_timeout(mut self, limit: Duration) -> ClientConfig {
        self.timeouts.total = limit;
        self
    }

    /// Connections open at once to one (scheme, host, port) (default 10).
    pub fn max_per_host(mut self, n: usize) -> ClientConfig {
        self.per_host = n.max(1);
        self
    }

    /// Connections open at once in all (default 100).
    pub fn max_connections(mut self, n: usize) -> ClientConfig {
        self.total = n.max(1);
        self
    }

    /// How long an idle connection is kept (default 4 s: below the 5 s
    /// most servers keep one, so that the client closes first and never
    /// sends into a connection the server is closing).
    pub fn idle_timeout(mut self, limit: Duration) -> ClientConfig {
        self.idle_timeout = limit;
        self
    }

    /// The largest response head, and the most header fields (default
    /// 64 KiB, 100).
    pub fn max_head(mut self, bytes: usize, fields: usize) -> ClientConfig {
        self.max_head = bytes;
        self.max_headers = fields;
        self
    }

    /// The largest body read whole ([`Response::bytes`](super::Response::bytes), `text`, `json`),
    /// counted after decompression (default 64 MiB).
    pub fn max_body(mut self, bytes: usize) -> ClientConfig {
        self.max_body = bytes;
        self
    }

    /// Redirects followed (default 10; 0 returns every 3xx as it is).
    pub fn max_redirects(mut self, n: usize) -> ClientConfig {
        self.max_redirects = n;
        self
    }

    /// Whether to ask for `gzip, deflate` and decode what comes so
    /// (default on; a request that sets `Accept-Encoding` itself gets the
    /// body as sent).
    pub fn decompress(mut self, on: bool) -> ClientConfig {
        self.decompress = on;
        self
    }

    /// The `User-Agent` sent.
    pub fn user_agent(mut self, agent: &str) -> ClientConfig {
        self.user_agent = agent.to_string();
        self
    }

    #[cfg(feature = "tls")]
    /// The TLS configuration for `https` (default: the Mozilla roots of
    /// `webpki-roots`, [`tls::client_config`](crate::tls::client_config));
    /// [`tls::client_config_with_ca`](crate::tls::client_config_with_ca)
    /// trusts a private CA.
    pub fn tls(mut self, config: Arc<crate::tls::ClientConfig>) -> ClientConfig {
        self.tls = Some(config);
        self
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("timeouts", &self.timeouts)
            .field("max_per_host", &self.per_host)
            .field("max_connections", &self.total)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}
