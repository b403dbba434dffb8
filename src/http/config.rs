//! [`Config`]: a server's limits and timeouts, and what its connections share.

use std::cell::Cell;
use std::time::Duration;

use super::framing;
use super::router::Router;

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
    pub(crate) limits: framing::Limits,
    pub(crate) head_timeout: Duration,
    pub(crate) keep_alive_timeout: Duration,
    pub(crate) body_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) max_connections: usize,
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
            write_timeout: Duration::from_secs(5),
            max_connections: 16_384,
        }
    }
}

impl Config {
    /// The largest request head, request line and fields (431 past it).
    pub fn max_head_bytes(mut self, bytes: usize) -> Config {
        self.limits.max_head = bytes;
        self
    }

    /// The most header fields in a request (431 past it).
    pub fn max_headers(mut self, n: usize) -> Config {
        self.limits.max_headers = n;
        self
    }

    /// The longest request target (414 past it).
    pub fn max_target_bytes(mut self, bytes: usize) -> Config {
        self.limits.max_target = bytes;
        self
    }

    /// The largest request body (413 past it).
    pub fn max_body_bytes(mut self, bytes: usize) -> Config {
        self.limits.max_body = bytes;
        self
    }

    /// How long a request's head may take from its first byte (408 after).
    pub fn head_timeout(mut self, limit: Duration) -> Config {
        self.head_timeout = limit;
        self
    }

    /// How long an idle keep-alive connection stays open.
    pub fn keep_alive_timeout(mut self, limit: Duration) -> Config {
        self.keep_alive_timeout = limit;
        self
    }

    /// How long a body may go without a byte arriving.
    pub fn body_timeout(mut self, limit: Duration) -> Config {
        self.body_timeout = limit;
        self
    }

    /// How long a response may wait for the client to read it.
    pub fn write_timeout(mut self, limit: Duration) -> Config {
        self.write_timeout = limit;
        self
    }

    /// The most connections served at once; more are answered 503.
    pub fn max_connections(mut self, n: usize) -> Config {
        self.max_connections = n;
        self
    }
}

/// What every connection of a server shares.
pub(crate) struct Shared {
    pub(crate) router: Router,
    pub(crate) config: Config,
    /// Connections being served.
    pub(crate) active: Cell<usize>,
    /// Shutting down: every response says `Connection: close`.
    pub(crate) stopping: Cell<bool>,
}
