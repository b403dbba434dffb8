//! [`Pool`]: a fixed set of connections per loop, shared by the loop's
//! tasks, with a bounded wait and a deadline.
//!
//! A request takes a share of one connection: up to `pipeline` requests
//! ride one connection at once (their statements pipelined, see
//! [`Client`](crate::pg::Client)), and the least loaded connection is chosen. A transaction
//! takes a connection whole. When every share is taken, requests wait in
//! one FIFO queue; a share given back goes straight to the first waiter,
//! so that newcomers never overtake. Past `queue` waiters a request is
//! refused at once ([`Error::PoolFull`]); a waiter not served by the
//! acquire deadline gets [`Error::PoolTimeout`]: both are "overloaded",
//! which an HTTP handler answers with 503 (deadpool and bb8 have neither
//! by default, and their users meet hangs instead).
//!
//! A connection found closed (the server restarted, a socket reset) is
//! replaced: connecting happens in the task that needs it, which keeps
//! its place in line meanwhile (a share given back while it connects is
//! its own; the acquire deadline bounds waits for a share, the config's
//! `connect_timeout` bounds the connect), and after a failure the slot waits a backoff (50 ms, doubling to [`MAX_BACKOFF`](options::MAX_BACKOFF))
//! before the next attempt, so that a server that is down is not
//! hammered. While no connection is open and none can be tried yet,
//! requests fail at once with the last connection error
//! ([`Error::Connect`], "the database is unreachable") rather than wait;
//! a timer wakes the line when a member's backoff ends, so requests
//! already waiting try again then instead of at their own deadline. The
//! backoff's cap is what bounds the outage a restart costs beyond its own
//! time: the first attempt after the server is back is at most
//! `MAX_BACKOFF` away, and one success makes every member due again.

mod lending;
mod options;

use std::rc::Rc;

use postgres_types::ToSql;

pub use self::lending::PooledClient;
use self::lending::{PoolInner, Want};
pub use self::options::PoolOptions;
use super::config::Config;
use super::error::Error;
use super::row::Row;
use super::transaction::Transaction;

/// A pool of connections for the tasks of one loop (asyncpg's `Pool`).
/// Clones share it.
#[derive(Clone)]
pub struct Pool(Rc<PoolInner>);

impl Pool {
    /// A pool of `config`'s server with the default [`PoolOptions`].
    /// Connections open when first needed.
    pub fn new(config: Config) -> Pool {
        Pool::with_options(config, PoolOptions::default())
    }

    /// A pool with `options`.
    pub fn with_options(config: Config, options: PoolOptions) -> Pool {
        let options = PoolOptions {
            size: options.size.max(1),
            pipeline: options.pipeline.max(1),
            ..options
        };
        Pool(Rc::new(PoolInner::new(config, options)))
    }

    /// A share of a connection: waits in line if all are taken.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let pool: yieldfrom::pg::Pool = unimplemented!();
    /// let client = pool.get()?; // a share of a connection, given back on drop
    /// let rows = client.query("SELECT 1", &[])?;
    /// # Ok(()) }
    /// ```
    pub fn get(&self) -> Result<PooledClient, Error> {
        self.0.acquire(Want::Share)
    }

    /// [`Client::query`](crate::pg::Client::query) on a share of a connection.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let pool: yieldfrom::pg::Pool = unimplemented!();
    /// let rows = pool.query("SELECT id FROM users ORDER BY id LIMIT $1", &[&10i64])?;
    /// # Ok(()) }
    /// ```
    pub fn query(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<Row>, Error> {
        self.get()?.query(sql, params)
    }

    /// [`Client::query_one`](crate::pg::Client::query_one) on a share of a connection.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let pool: yieldfrom::pg::Pool = unimplemented!();
    /// let now: String = pool.query_one("SELECT now()::text", &[])?.get(0);
    /// # Ok(()) }
    /// ```
    pub fn query_one(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Row, Error> {
        self.get()?.query_one(sql, params)
    }

    /// [`Client::query_opt`](crate::pg::Client::query_opt) on a share of a connection.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let pool: yieldfrom::pg::Pool = unimplemented!();
    /// let user = pool.query_opt("SELECT name FROM users WHERE id = $1", &[&7i32])?;
    /// # Ok(()) }
    /// ```
    pub fn query_opt(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Option<Row>, Error> {
        self.get()?.query_opt(sql, params)
    }

    /// [`Client::execute`](crate::pg::Client::execute) on a share of a connection.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let pool: yieldfrom::pg::Pool = unimplemented!();
    /// let n = pool.execute("DELETE FROM sessions WHERE expires < now()", &[])?;
    /// # Ok(()) }
    /// ```
    pub fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> Result<u64, Error> {
        self.get()?.execute(sql, params)
    }

    /// [`Client::batch_execute`](crate::pg::Client::batch_execute) on a share of a connection.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let pool: yieldfrom::pg::Pool = unimplemented!();
    /// pool.batch_execute("CREATE TABLE IF NOT EXISTS hits (at timestamptz DEFAULT now())")?;
    /// # Ok(()) }
    /// ```
    pub fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        self.get()?.batch_execute(sql)
    }

    /// [`Client::transaction`](crate::pg::Client::transaction) on a connection taken whole: no other
    /// request shares it until the transaction ends.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let pool: yieldfrom::pg::Pool = unimplemented!();
    /// let order_id: i32 = pool.transaction(|tx| {
    ///     let id: i32 = tx.query_one("INSERT INTO orders DEFAULT VALUES RETURNING id", &[])?.get(0);
    ///     tx.execute("UPDATE stock SET n = n - 1 WHERE item = $1", &[&"book"])?;
    ///     Ok(id) // committed; an Err, a panic or a cancellation rolls back
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn transaction<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let whole = self.0.acquire(Want::Whole)?;
        whole.transaction(f)
    }

    /// Requests waiting for a share now.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let pool: yieldfrom::pg::Pool = unimplemented!();
    /// if pool.waiting() > 100 {
    ///     eprintln!("the pool is the bottleneck: {} requests wait", pool.waiting());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn waiting(&self) -> usize {
        self.0
            .waiting
            .borrow()
            .iter()
            .filter(|w| !w.gone.get())
            .count()
    }

    /// Connections open now.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let pool: yieldfrom::pg::Pool = unimplemented!();
    /// println!("{} connections open", pool.open());
    /// # Ok(()) }
    /// ```
    pub fn open(&self) -> usize {
        let members = self.0.members.borrow();
        members
            .iter()
            .filter(|m| m.client.as_ref().is_some_and(|c| !c.is_closed()))
            .count()
    }

    /// The options the pool runs with.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let pool: yieldfrom::pg::Pool = unimplemented!();
    /// println!("{:?}", pool.options());
    /// # Ok(()) }
    /// ```
    pub fn options(&self) -> &PoolOptions {
        &self.0.options
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("options", &self.0.options)
            .field("open", &self.open())
            .field("waiting", &self.waiting())
            .finish()
    }
}
