//! [`Client`]: one connection to PostgreSQL, shared by every task that
//! holds a clone of it (its queries are pipelined on the connection; see
//! `connection.rs`).

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use bytes::BytesMut;
use postgres_types::ToSql;

use super::config::Config;
use super::connection::{Inner, Notification, State};
use super::error::{DbError, Error};
use super::pipeline::{read_loop, write_loop};
use super::row::{Row, SimpleRow};
use super::statement::Statement;
use super::stream::Stream;
use crate::coro::Coro;
use crate::event_loop::spawn;
use crate::sync::Event;

/// A connection to PostgreSQL (asyncpg's `Connection`; tokio-postgres's
/// `Client`). Clones share the connection: the queries of many tasks are
/// pipelined on it and answered in order. The connection closes when the
/// last clone is dropped, or at [`close`](Self::close).
///
/// Every method waits in the running task: call them from tasks.
#[derive(Clone)]
pub struct Client {
    /// The connection, closed when the last clone of the client goes.
    pub(super) handle: Rc<Handle>,
}

/// Closes the connection when the last clone of a client goes.
pub(super) struct Handle(pub(super) Rc<Inner>);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.close(Error::Closed);
    }
}
impl Client {
    pub(super) fn inner(&self) -> &Rc<Inner> {
        &self.handle.0
    }

    /// Runs `sql` with `params` (`$1`, `$2`, ...) and returns every row
    /// (asyncpg's `fetch`). The statement is prepared once per connection
    /// and cached by its text.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// let rows = client.query("SELECT id, name FROM users WHERE age > $1", &[&30i32])?;
    /// for row in &rows {
    ///     let (id, name): (i32, &str) = (row.get("id"), row.get("name"));
    ///     println!("{id}: {name}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn query(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<Row>, Error> {
        self.inner().gate(false)?;
        self.inner().query(sql, params)
    }

    /// The one row of `sql`'s result; [`Error::RowCount`] for none or more
    /// (asyncpg's `fetchrow` is [`query_opt`](Self::query_opt)).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// let count: i64 = client.query_one("SELECT count(*) FROM users", &[])?.get(0);
    /// # Ok(()) }
    /// ```
    pub fn query_one(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Row, Error> {
        one(self.query(sql, params)?)
    }

    /// The row of `sql`'s result if there is one; [`Error::RowCount`] for more.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// match client.query_opt("SELECT name FROM users WHERE id = $1", &[&7i32])? {
    ///     Some(row) => println!("found {}", row.get::<&str>(0)),
    ///     None => println!("no user 7"),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn query_opt(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Option<Row>, Error> {
        opt(self.query(sql, params)?)
    }

    /// Runs `sql` and returns how many rows it affected (asyncpg's `execute`).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// let updated = client.execute("UPDATE users SET active = false WHERE last_seen < now() - $1::interval", &[&"90 days"])?;
    /// println!("{updated} users deactivated");
    /// # Ok(()) }
    /// ```
    pub fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> Result<u64, Error> {
        self.inner().gate(false)?;
        self.inner().execute(sql, params)
    }

    /// Prepares `sql` (a `Parse` and a `Describe`); the statement is
    /// closed on the server when the last clone of it is dropped.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// let by_id = client.prepare("SELECT name FROM users WHERE id = $1")?;
    /// assert_eq!(by_id.params().len(), 1);
    /// let rows = client.query_prepared(&by_id, &[&7i32])?;
    /// # Ok(()) }
    /// ```
    pub fn prepare(&self, sql: &str) -> Result<Statement, Error> {
        self.inner().gate(false)?;
        self.inner().prepare(sql)
    }

    /// Runs a prepared statement.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// let statement = client.prepare("SELECT $1::int4 + 1")?;
    /// let two: i32 = client.query_prepared(&statement, &[&1i32])?[0].get(0);
    /// # Ok(()) }
    /// ```
    pub fn query_prepared(
        &self,
        statement: &Statement,
        params: &[&dyn ToSql],
    ) -> Result<Vec<Row>, Error> {
        self.inner().gate(false)?;
        self.inner().run(statement, params).map(|(rows, _)| rows)
    }

    /// Runs `sql` with the simple query protocol: no parameters, several
    /// statements allowed, every value as text.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// for row in client.simple_query("SELECT 1, 'one'; SELECT 2, 'two'")? {
    ///     println!("{:?} {:?}", row.get(0), row.get(1)); // every value as text
    /// }
    /// # Ok(()) }
    /// ```
    pub fn simple_query(&self, sql: &str) -> Result<Vec<SimpleRow>, Error> {
        self.inner().gate(false)?;
        self.inner().simple_query(sql)
    }

    /// Runs statements separated by `;` (DDL, seeding) and drops any rows.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// client.batch_execute("CREATE TABLE IF NOT EXISTS tags (name text PRIMARY KEY); INSERT INTO tags VALUES ('rust') ON CONFLICT DO NOTHING")?;
    /// # Ok(()) }
    /// ```
    pub fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        self.simple_query(sql).map(drop)
    }

    /// The value of a server parameter reported at startup or since
    /// (`server_version`, `TimeZone`, `client_encoding`, ...).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// let version = client.parameter("server_version").unwrap_or_default();
    /// println!("PostgreSQL {version}");
    /// # Ok(()) }
    /// ```
    pub fn parameter(&self, name: &str) -> Option<String> {
        self.inner().state.borrow().params.get(name).cloned()
    }

    /// The server process serving this connection (`pg_backend_pid()`).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// let pid = client.backend_pid();
    /// let same: i32 = client.query_one("SELECT pg_backend_pid()", &[])?.get(0);
    /// assert_eq!(pid, same);
    /// # Ok(()) }
    /// ```
    pub fn backend_pid(&self) -> i32 {
        self.inner().state.borrow().backend_pid
    }

    /// The notices (warnings, `RAISE NOTICE`) received since the last call.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// client.batch_execute("DO $$ BEGIN RAISE NOTICE 'hello'; END $$")?;
    /// for notice in client.take_notices() {
    ///     println!("server said: {}", notice.message);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn take_notices(&self) -> Vec<DbError> {
        self.inner().state.borrow_mut().notices.drain(..).collect()
    }

    /// Waits for the next `NOTIFY` on a channel this connection `LISTEN`s
    /// to; [`Error::Closed`] (or the failure) once the connection is gone.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// client.batch_execute("LISTEN orders")?;
    /// loop {
    ///     let n = client.notification()?; // waits; other tasks run meanwhile
    ///     println!("order {} on {}", n.payload, n.channel);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn notification(&self) -> Result<Notification, Error> {
        let inner = self.inner();
        loop {
            {
                let mut st = inner.state.borrow_mut();
                if let Some(n) = st.notifications.pop_front() {
                    return Ok(n);
                }
                if let Some(e) = &st.closed {
                    return Err(e.clone());
                }
            }
            inner.notified.clear();
            inner.notified.wait_as("PostgreSQL notification");
        }
    }

    /// Whether the connection is encrypted (libpq's `PQsslInUse`).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// if !client.is_tls() {
    ///     eprintln!("warning: the database connection is not encrypted");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn is_tls(&self) -> bool {
        matches!(self.inner().stream, Stream::Tls(_))
    }

    /// Whether the login was bound to the TLS connection
    /// (SCRAM-SHA-256-PLUS with `tls-server-end-point`).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// println!("login bound to the TLS channel: {}", client.is_channel_bound());
    /// # Ok(()) }
    /// ```
    pub fn is_channel_bound(&self) -> bool {
        self.inner().channel_bound
    }

    /// The TLS version in use (`TLSv1_3`), when the connection is TLS.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// println!("TLS: {:?}", client.tls_version()); // Some(TLSv1_3), or None
    /// # Ok(()) }
    /// ```
    pub fn tls_version(&self) -> Option<crate::tls::ProtocolVersion> {
        match &self.inner().stream {
            Stream::Tls(s) => s.protocol_version(),
            _ => None,
        }
    }

    /// Whether the connection is closed (lost, or closed by us).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// client.close();
    /// assert!(client.is_closed());
    /// # Ok(()) }
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner().state.borrow().closed.is_some()
    }

    /// Statements waiting for their replies now.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// println!("{} statements in flight on this connection", client.pending());
    /// # Ok(()) }
    /// ```
    pub fn pending(&self) -> usize {
        self.inner().state.borrow().pending.len()
    }

    /// Closes the connection (a `Terminate`, then the socket); statements
    /// still waiting get [`Error::Closed`].
    ///
    /// ```no_run
    /// # fn main() -> Result<(), yieldfrom::pg::Error> {
    /// # let client: yieldfrom::pg::Client = unimplemented!();
    /// client.close(); // a Terminate, then the socket
    /// assert!(client.query("SELECT 1", &[]).is_err());
    /// # Ok(()) }
    /// ```
    pub fn close(&self) {
        self.inner().close(Error::Closed);
    }
}
impl Client {
    /// A client over `stream`, logged in (`params`, `backend_pid` and
    /// whether the login was bound to the TLS channel are what the login
    /// said), its reader and writer started; `buf` holds what was read
    /// past the login.
    pub(super) fn started(
        stream: Stream,
        config: &Config,
        (params, backend_pid, channel_bound): (HashMap<String, String>, i32, bool),
        buf: BytesMut,
    ) -> Client {
        let inner = Rc::new(Inner {
            stream,
            state: RefCell::new(State {
                out: BytesMut::with_capacity(4096),
                pending: VecDeque::new(),
                closed: None,
                cache: HashMap::new(),
                uses: 0,
                next_name: 0,
                params,
                notices: VecDeque::new(),
                notifications: VecDeque::new(),
                writer: None,
                backend_pid,
            }),
            // Unnamed, the cache holds descriptions only (no server state).
            cache_size: if config.statement_cache == 0 {
                256
            } else {
                config.statement_cache
            },
            unnamed: config.statement_cache == 0,
            channel_bound,
            tasks: RefCell::new(Vec::new()),
            open: Event::new(),
            notified: Event::new(),
        });
        inner.open.set(); // no transaction holds it yet
        let (r, w) = (inner.clone(), inner.clone());
        let reader = spawn(Coro::new("pg reader", move || read_loop(r, buf)));
        let writer = spawn(Coro::new("pg writer", move || write_loop(w)));
        inner.tasks.borrow_mut().extend([reader, writer]);
        Client {
            handle: Rc::new(Handle(inner)),
        }
    }
}
pub(super) fn one(mut rows: Vec<Row>) -> Result<Row, Error> {
    match rows.len() {
        1 => Ok(rows.pop().expect("one row")),
        n => Err(Error::RowCount(n)),
    }
}

pub(super) fn opt(mut rows: Vec<Row>) -> Result<Option<Row>, Error> {
    match rows.len() {
        0 | 1 => Ok(rows.pop()),
        n => Err(Error::RowCount(n)),
    }
}
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.inner().state.borrow();
        f.debug_struct("Client")
            .field("backend_pid", &st.backend_pid)
            .field("pending", &st.pending.len())
            .field("closed", &st.closed.is_some())
            .finish()
    }
}
