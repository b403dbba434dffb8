//! A pool's sizes and deadline, and its backoff between connection
//! attempts.

use std::time::Duration;

/// The first wait after a failed connect; it doubles with each failure.
pub(super) const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// The longest wait between two connection attempts of one member: the
/// most a pool can add to an outage once the server accepts again.
pub const MAX_BACKOFF: Duration = Duration::from_millis(400);

/// A pool's sizes and deadline (see [`Pool::with_options`](crate::pg::Pool::with_options)).
#[derive(Clone, Debug)]
pub struct PoolOptions {
    /// Connections (default 8).
    pub size: usize,
    /// Requests sharing one connection at once (default 16).
    pub pipeline: usize,
    /// Requests that may wait for a share (default 4,096); more are refused.
    pub queue: usize,
    /// How long a request may wait for a share (default 5 s). A connect
    /// the request makes meanwhile is not cut at this deadline (the config's
    /// `connect_timeout` bounds it): the connection serves the whole line.
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> PoolOptions {
        PoolOptions {
            size: 8,
            pipeline: 16,
            queue: 4096,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}
