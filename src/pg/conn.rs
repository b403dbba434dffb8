//! [`Client`]: one connection to PostgreSQL, shared by every task that
//! holds a clone of it.
//!
//! The shape is tokio-postgres's and may_postgres's: a task that queries
//! encodes its messages into the connection's output buffer and puts a
//! reply slot at the back of a FIFO; a writer task sends what has gathered
//! (the queries of every task that ran since its last write) with one
//! `write`; a reader task cuts the server's replies at each `ReadyForQuery`
//! and hands them to the slot at the front. Every statement ends with its
//! own `Sync`, so that an error ends that statement only. A task cancelled
//! while it waits leaves its slot in place, marked abandoned: the reader
//! drains its rows and the connection stays in step. `NoticeResponse`,
//! `ParameterStatus` and `NotificationResponse` may arrive between any two
//! messages and are taken aside.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::rc::{Rc, Weak};

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;
use postgres_protocol::{IsNull, Oid};
use postgres_types::IsNull as TypesIsNull;
use postgres_types::{Kind, ToSql, Type};

use super::config::Config;
use super::error::{DbError, Error};
use super::row::{Column, Row, SimpleRow};
use crate::coro::Coro;
use crate::event_loop::spawn;
use crate::net::{TcpStream, UnixStream};
use crate::reason::Suspend;
use crate::task::Task;
use crate::task::suspend::{Waker, suspend_or_cancel};
use crate::tls::TlsStream;

/// The largest backend message accepted, announced length included.
const MAX_MESSAGE: usize = 64 << 20;
/// Notifications kept unread before the oldest are dropped.
const MAX_NOTIFICATIONS: usize = 10_000;

/// The socket: TCP, TLS over TCP, or a Unix socket.
pub(super) enum Stream {
    Tcp(TcpStream),
    Tls(Box<TlsStream>),
    Unix(UnixStream),
}

impl Stream {
    pub(super) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }

    pub(super) fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(buf),
            Stream::Tls(s) => s.write_all(buf),
            Stream::Unix(s) => s.write_all(buf),
        }
    }

    /// Sends what the socket takes at once (a goodbye), never waiting.
    pub(super) fn try_write(&self, buf: &[u8]) {
        let _ = match self {
            Stream::Tcp(s) => s.try_write(buf),
            Stream::Tls(s) => s.try_write(buf),
            Stream::Unix(_) => Ok(0),
        };
    }

    pub(super) fn shutdown(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
            Stream::Tls(s) => {
                s.close_now();
                Ok(())
            }
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }
}

/// A `LISTEN`/`NOTIFY` notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The notifying backend's process id.
    pub process_id: i32,
    /// The channel.
    pub channel: String,
    /// The payload.
    pub payload: String,
}

/// Where one statement's replies go.
struct Slot {
    /// The messages so far (up to `ReadyForQuery`), then the outcome.
    messages: RefCell<Vec<Message>>,
    outcome: RefCell<Option<Result<(), Error>>>,
    waker: RefCell<Option<Waker>>,
    /// Nobody waits any more (cancelled, or never meant to): drain only.
    abandoned: Cell<bool>,
}

impl Slot {
    fn new() -> Rc<Slot> {
        Rc::new(Slot {
            // Bind, a few rows, the command's end, ReadyForQuery.
            messages: RefCell::new(Vec::with_capacity(16)),
            outcome: RefCell::new(None),
            waker: RefCell::new(None),
            abandoned: Cell::new(false),
        })
    }

    fn finish(&self, outcome: Result<(), Error>) {
        *self.outcome.borrow_mut() = Some(outcome);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Waits for the statement's replies.
    fn wait(&self) -> Result<Vec<Message>, Error> {
        // A cancellation raised while waiting leaves the slot to be drained.
        struct Abandon<'a>(&'a Slot, bool);
        impl Drop for Abandon<'_> {
            fn drop(&mut self) {
                if !self.1 {
                    self.0.abandoned.set(true);
                    self.0.messages.borrow_mut().clear();
                }
            }
        }
        let mut guard = Abandon(self, false);
        loop {
            if let Some(outcome) = self.outcome.borrow_mut().take() {
                guard.1 = true;
                return outcome.map(|()| self.messages.take());
            }
            *self.waker.borrow_mut() = Some(Waker::current());
            suspend_or_cancel(Suspend::Sync("PostgreSQL query"));
        }
    }
}

/// A prepared statement: its parameters' types and its result's columns.
#[derive(Clone)]
pub struct Statement(Rc<StatementInner>);

struct StatementInner {
    /// Its name on the server; empty for the unnamed statement.
    name: String,
    /// The SQL, for an unnamed statement: parsed again in each query's
    /// flight (the pooler-safe mode, see `Config::statement_cache`).
    unnamed_sql: Option<String>,
    params: Vec<Type>,
    columns: Rc<[Column]>,
    /// The connection, to close the statement there when it is dropped.
    conn: Weak<Inner>,
}

impl Statement {
    /// The parameters' types, as the server inferred them.
    pub fn params(&self) -> &[Type] {
        &self.0.params
    }

    /// The result's columns (none for a statement that returns no rows).
    pub fn columns(&self) -> &[Column] {
        &self.0.columns
    }
}

impl Drop for StatementInner {
    fn drop(&mut self) {
        if self.unnamed_sql.is_some() {
            return; // nothing to close on the server
        }
        if let Some(conn) = self.conn.upgrade() {
            let mut out = BytesMut::new();
            if frontend::close(b'S', &self.name, &mut out).is_ok() {
                frontend::sync(&mut out);
                conn.submit_abandoned(&out);
            }
        }
    }
}

/// What the connection keeps between statements.
struct State {
    /// Encoded messages not written yet.
    out: BytesMut,
    /// Reply slots, in the order their statements were written.
    pending: VecDeque<Rc<Slot>>,
    /// Why the connection is closed, once it is.
    closed: Option<Error>,
    /// Prepared statements by SQL text, with when each was last used.
    cache: HashMap<String, (Statement, u64)>,
    uses: u64,
    next_name: u64,
    params: HashMap<String, String>,
    notices: VecDeque<DbError>,
    notifications: VecDeque<Notification>,
    notification_waiters: Vec<Waker>,
    writer: Option<Waker>,
    /// A transaction holds the connection; others wait here, in order.
    exclusive: bool,
    gate_waiters: VecDeque<Waker>,
    backend_pid: i32,
}

struct Inner {
    stream: Stream,
    state: RefCell<State>,
    /// Statements (or, unnamed, their descriptions) kept by SQL text.
    cache_size: usize,
    /// The pooler-safe mode: only the unnamed statement is used.
    unnamed: bool,
    /// The login was SCRAM-SHA-256-PLUS, bound to this TLS connection.
    channel_bound: bool,
    tasks: RefCell<Vec<Task<()>>>,
}

/// A connection to PostgreSQL (asyncpg's `Connection`; tokio-postgres's
/// `Client`). Clones share the connection: the queries of many tasks are
/// pipelined on it and answered in order. The connection closes when the
/// last clone is dropped, or at [`close`](Self::close).
///
/// Every method waits in the running task: call them from tasks.
#[derive(Clone)]
pub struct Client {
    handle: Rc<Handle>,
}

/// Closes the connection when the last clone of a client goes.
struct Handle(Rc<Inner>);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.close(Error::Closed);
    }
}

impl Client {
    fn inner(&self) -> &Rc<Inner> {
        &self.handle.0
    }

    /// Runs `sql` with `params` (`$1`, `$2`, ...) and returns every row
    /// (asyncpg's `fetch`). The statement is prepared once per connection
    /// and cached by its text.
    pub fn query(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<Row>, Error> {
        self.inner().gate(false)?;
        self.inner().query(sql, params)
    }

    /// The one row of `sql`'s result; [`Error::RowCount`] for none or more
    /// (asyncpg's `fetchrow` is [`query_opt`](Self::query_opt)).
    pub fn query_one(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Row, Error> {
        one(self.query(sql, params)?)
    }

    /// The row of `sql`'s result if there is one; [`Error::RowCount`] for more.
    pub fn query_opt(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Option<Row>, Error> {
        opt(self.query(sql, params)?)
    }

    /// Runs `sql` and returns how many rows it affected (asyncpg's `execute`).
    pub fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> Result<u64, Error> {
        self.inner().gate(false)?;
        self.inner().execute(sql, params)
    }

    /// Prepares `sql` (a `Parse` and a `Describe`); the statement is
    /// closed on the server when the last clone of it is dropped.
    pub fn prepare(&self, sql: &str) -> Result<Statement, Error> {
        self.inner().gate(false)?;
        self.inner().prepare(sql)
    }

    /// Runs a prepared statement.
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
    pub fn simple_query(&self, sql: &str) -> Result<Vec<SimpleRow>, Error> {
        self.inner().gate(false)?;
        self.inner().simple_query(sql)
    }

    /// Runs statements separated by `;` (DDL, seeding) and drops any rows.
    pub fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        self.simple_query(sql).map(drop)
    }

    /// Runs `f` in a transaction on this connection, which no other task's
    /// query enters meanwhile (they wait their turn): committed if `f`
    /// returns `Ok`, rolled back if it returns `Err`, panics or is
    /// cancelled (the rollback is queued ahead of anything else, so the
    /// connection is clean for the next user).
    pub fn transaction<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let inner = self.inner();
        inner.gate(true)?;
        // From here the guard rolls back (unless done) and lets the others
        // in, on every way out: an error, a panic, a cancellation.
        let tx = Transaction {
            inner,
            done: Cell::new(false),
        };
        inner.simple_query("BEGIN")?;
        let value = f(&tx)?;
        tx.done.set(true);
        let commit = inner.simple_query("COMMIT");
        drop(tx);
        commit.map(|_| value)
    }

    /// The value of a server parameter reported at startup or since
    /// (`server_version`, `TimeZone`, `client_encoding`, ...).
    pub fn parameter(&self, name: &str) -> Option<String> {
        self.inner().state.borrow().params.get(name).cloned()
    }

    /// The server process serving this connection (`pg_backend_pid()`).
    pub fn backend_pid(&self) -> i32 {
        self.inner().state.borrow().backend_pid
    }

    /// The notices (warnings, `RAISE NOTICE`) received since the last call.
    pub fn take_notices(&self) -> Vec<DbError> {
        self.inner().state.borrow_mut().notices.drain(..).collect()
    }

    /// Waits for the next `NOTIFY` on a channel this connection `LISTEN`s
    /// to; [`Error::Closed`] (or the failure) once the connection is gone.
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
                st.notification_waiters.push(Waker::current());
            }
            suspend_or_cancel(Suspend::Sync("PostgreSQL notification"));
        }
    }

    /// Whether the connection is encrypted (libpq's `PQsslInUse`).
    pub fn is_tls(&self) -> bool {
        matches!(self.inner().stream, Stream::Tls(_))
    }

    /// Whether the login was bound to the TLS connection
    /// (SCRAM-SHA-256-PLUS with `tls-server-end-point`).
    pub fn is_channel_bound(&self) -> bool {
        self.inner().channel_bound
    }

    /// The TLS version in use (`TLSv1_3`), when the connection is TLS.
    pub fn tls_version(&self) -> Option<crate::tls::ProtocolVersion> {
        match &self.inner().stream {
            Stream::Tls(s) => s.protocol_version(),
            _ => None,
        }
    }

    /// Whether the connection is closed (lost, or closed by us).
    pub fn is_closed(&self) -> bool {
        self.inner().state.borrow().closed.is_some()
    }

    /// Statements waiting for their replies now.
    pub fn pending(&self) -> usize {
        self.inner().state.borrow().pending.len()
    }

    /// Closes the connection (a `Terminate`, then the socket); statements
    /// still waiting get [`Error::Closed`].
    pub fn close(&self) {
        self.inner().close(Error::Closed);
    }
}

/// A transaction in progress (see [`Client::transaction`]).
pub struct Transaction<'a> {
    inner: &'a Rc<Inner>,
    done: Cell<bool>,
}

impl Transaction<'_> {
    /// [`Client::query`], inside the transaction.
    pub fn query(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<Row>, Error> {
        self.inner.query(sql, params)
    }

    /// [`Client::query_one`], inside the transaction.
    pub fn query_one(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Row, Error> {
        one(self.inner.query(sql, params)?)
    }

    /// [`Client::query_opt`], inside the transaction.
    pub fn query_opt(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Option<Row>, Error> {
        opt(self.inner.query(sql, params)?)
    }

    /// [`Client::execute`], inside the transaction.
    pub fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> Result<u64, Error> {
        self.inner.execute(sql, params)
    }

    /// [`Client::batch_execute`], inside the transaction.
    pub fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        self.inner.simple_query(sql).map(drop)
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done.get() {
            // Queued, not awaited: this may run while a cancellation
            // unwinds. Whatever comes next on the connection is written
            // after it.
            let mut out = BytesMut::new();
            if frontend::query("ROLLBACK", &mut out).is_ok() {
                self.inner.submit_abandoned(&out);
            }
        }
        self.inner.release_gate();
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
                notification_waiters: Vec::new(),
                writer: None,
                exclusive: false,
                gate_waiters: VecDeque::new(),
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
        });
        let (r, w) = (inner.clone(), inner.clone());
        let reader = spawn(Coro::new("pg reader", move || read_loop(r, buf)));
        let writer = spawn(Coro::new("pg writer", move || write_loop(w)));
        inner.tasks.borrow_mut().extend([reader, writer]);
        Client {
            handle: Rc::new(Handle(inner)),
        }
    }
}

fn one(mut rows: Vec<Row>) -> Result<Row, Error> {
    match rows.len() {
        1 => Ok(rows.pop().expect("one row")),
        n => Err(Error::RowCount(n)),
    }
}

fn opt(mut rows: Vec<Row>) -> Result<Option<Row>, Error> {
    match rows.len() {
        0 | 1 => Ok(rows.pop()),
        n => Err(Error::RowCount(n)),
    }
}

impl Inner {
    /// Waits until no transaction holds the connection; with `take`, holds
    /// it (until [`release_gate`](Self::release_gate)).
    fn gate(&self, take: bool) -> Result<(), Error> {
        loop {
            {
                let mut st = self.state.borrow_mut();
                if let Some(e) = &st.closed {
                    return Err(e.clone());
                }
                if !st.exclusive {
                    st.exclusive = take;
                    return Ok(());
                }
                st.gate_waiters.push_back(Waker::current());
            }
            suspend_or_cancel(Suspend::Sync("PostgreSQL transaction"));
        }
    }

    /// Ends a transaction's hold: every waiter tries again, in the order
    /// they came (a waker of a task cancelled meanwhile does nothing).
    fn release_gate(&self) {
        let waiters: Vec<Waker> = {
            let mut st = self.state.borrow_mut();
            st.exclusive = false;
            st.gate_waiters.drain(..).collect()
        };
        for w in waiters {
            w.wake();
        }
    }

    /// Queues `messages` (ending with a `Sync`) with a slot to wait on.
    fn submit(&self, messages: &[u8]) -> Result<Rc<Slot>, Error> {
        let slot = Slot::new();
        let mut st = self.state.borrow_mut();
        if let Some(e) = &st.closed {
            return Err(e.clone());
        }
        st.out.extend_from_slice(messages);
        st.pending.push_back(slot.clone());
        if let Some(w) = st.writer.take() {
            w.wake();
        }
        Ok(slot)
    }

    /// Queues `messages` whose replies nobody waits for (a `Close`, a
    /// `ROLLBACK` from a destructor).
    fn submit_abandoned(&self, messages: &[u8]) {
        if let Ok(slot) = self.submit(messages) {
            slot.abandoned.set(true);
        }
    }

    fn roundtrip(&self, messages: &[u8]) -> Result<Vec<Message>, Error> {
        self.submit(messages)?.wait()
    }

    fn query(self: &Rc<Self>, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<Row>, Error> {
        let statement = self.cached(sql)?;
        self.run(&statement, params).map(|(rows, _)| rows)
    }

    fn execute(self: &Rc<Self>, sql: &str, params: &[&dyn ToSql]) -> Result<u64, Error> {
        let statement = self.cached(sql)?;
        self.run(&statement, params).map(|(_, n)| n)
    }

    /// The cached statement for `sql`, prepared now if it is not cached.
    fn cached(self: &Rc<Self>, sql: &str) -> Result<Statement, Error> {
        {
            let mut st = self.state.borrow_mut();
            st.uses += 1;
            let now = st.uses;
            if let Some((statement, used)) = st.cache.get_mut(sql) {
                *used = now;
                return Ok(statement.clone());
            }
        }
        let statement = self.prepare(sql)?;
        let evicted = {
            let mut st = self.state.borrow_mut();
            let now = st.uses;
            let evicted = if st.cache.len() >= self.cache_size {
                let oldest = st
                    .cache
                    .iter()
                    .min_by_key(|(_, (_, used))| *used)
                    .map(|(sql, _)| sql.clone());
                oldest.and_then(|sql| st.cache.remove(&sql))
            } else {
                None
            };
            let replaced = st.cache.insert(sql.to_string(), (statement.clone(), now));
            (evicted, replaced)
        };
        // Dropped outside the borrow: their `Close` is queued then.
        drop(evicted);
        Ok(statement)
    }

    fn prepare(self: &Rc<Self>, sql: &str) -> Result<Statement, Error> {
        let name = if self.unnamed {
            String::new()
        } else {
            let mut st = self.state.borrow_mut();
            st.next_name += 1;
            format!("yf{}", st.next_name)
        };
        let mut out = BytesMut::new();
        frontend::parse(&name, sql, std::iter::empty::<Oid>(), &mut out)?;
        frontend::describe(b'S', &name, &mut out)?;
        frontend::sync(&mut out);
        let replies = self.roundtrip(&out)?;
        let (mut params, mut columns) = (Vec::new(), Vec::new());
        for m in replies {
            match m {
                Message::ErrorResponse(body) => return Err(DbError::parse(body.fields())?.into()),
                Message::ParameterDescription(body) => {
                    params = body.parameters().map(|oid| Ok(type_of(oid))).collect()?;
                }
                Message::RowDescription(body) => columns = describe_columns(&body)?,
                _ => {}
            }
        }
        Ok(Statement(Rc::new(StatementInner {
            name,
            unnamed_sql: self.unnamed.then(|| sql.to_string()),
            params,
            columns: columns.into(),
            conn: Rc::downgrade(self),
        })))
    }

    /// Binds and executes `statement`: its rows and how many rows the
    /// command affected.
    fn run(&self, statement: &Statement, params: &[&dyn ToSql]) -> Result<(Vec<Row>, u64), Error> {
        let types = &statement.0.params;
        if types.len() != params.len() {
            return Err(Error::Conversion(format!(
                "the statement takes {} parameters, {} were given",
                types.len(),
                params.len()
            )));
        }
        let mut out = BytesMut::with_capacity(64 + 16 * params.len());
        if let Some(sql) = &statement.0.unnamed_sql {
            // Parsed again with the types learned when it was described,
            // and described again as a portal: the columns come fresh in
            // the same flight (the table may have changed since).
            frontend::parse("", sql, types.iter().map(Type::oid), &mut out)?;
        }
        let formats = params
            .iter()
            .zip(types)
            .map(|(p, t)| p.encode_format(t) as i16);
        let mut which = 0;
        let bound = frontend::bind(
            "",
            &statement.0.name,
            formats,
            params.iter().zip(types),
            |(param, ty), buf| {
                which += 1;
                match param.to_sql_checked(ty, buf)? {
                    TypesIsNull::Yes => Ok(IsNull::Yes),
                    TypesIsNull::No => Ok(IsNull::No),
                }
            },
            Some(1),
            &mut out,
        );
        if let Err(e) = bound {
            return Err(Error::Conversion(match e {
                frontend::BindError::Conversion(e) => format!("parameter ${which}: {e}"),
                frontend::BindError::Serialization(e) => e.to_string(),
            }));
        }
        if statement.0.unnamed_sql.is_some() {
            frontend::describe(b'P', "", &mut out)?;
        }
        frontend::execute("", 0, &mut out)?;
        frontend::sync(&mut out);
        let replies = self.roundtrip(&out)?;
        let (mut rows, mut affected) = (Vec::new(), 0);
        let mut columns = statement.0.columns.clone();
        for m in replies {
            match m {
                Message::RowDescription(body) => columns = describe_columns(&body)?.into(),
                Message::DataRow(body) => rows.push(Row::new(columns.clone(), body)?),
                Message::CommandComplete(body) => affected = rows_affected(body.tag()?),
                Message::ErrorResponse(body) => return Err(DbError::parse(body.fields())?.into()),
                _ => {}
            }
        }
        Ok((rows, affected))
    }

    fn simple_query(&self, sql: &str) -> Result<Vec<SimpleRow>, Error> {
        let mut out = BytesMut::new();
        frontend::query(sql, &mut out)?;
        let replies = self.roundtrip(&out)?;
        let mut rows = Vec::new();
        let mut columns: Rc<[String]> = Rc::from(Vec::new());
        let mut error = None;
        for m in replies {
            match m {
                Message::RowDescription(body) => {
                    let names: Vec<String> =
                        body.fields().map(|f| Ok(f.name().to_string())).collect()?;
                    columns = names.into();
                }
                Message::DataRow(body) => {
                    let buf = body.buffer();
                    let values = body
                        .ranges()
                        .map(|r| Ok(r.map(|r| String::from_utf8_lossy(&buf[r]).into_owned())))
                        .collect()?;
                    rows.push(SimpleRow {
                        columns: columns.clone(),
                        values,
                    });
                }
                Message::ErrorResponse(body) => error = Some(DbError::parse(body.fields())?),
                _ => {}
            }
        }
        match error {
            Some(e) => Err(e.into()),
            None => Ok(rows),
        }
    }

    /// Ends the connection: every waiting statement gets `why`.
    fn close(&self, why: Error) {
        let (slots, waiters, tasks, cache) = {
            let mut st = self.state.borrow_mut();
            if st.closed.is_some() {
                return;
            }
            st.closed = Some(why.clone());
            // Dropped outside the borrow (a statement's drop looks at the state).
            let cache = std::mem::take(&mut st.cache);
            let slots: Vec<_> = st.pending.drain(..).collect();
            let mut waiters: Vec<Waker> = st.notification_waiters.drain(..).collect();
            waiters.extend(st.gate_waiters.drain(..));
            waiters.extend(st.writer.take());
            (slots, waiters, self.tasks.take(), cache)
        };
        drop(cache);
        if matches!(why, Error::Closed) {
            // Say goodbye, if the socket takes it at once.
            let mut out = BytesMut::new();
            frontend::terminate(&mut out);
            self.stream.try_write(&out);
        }
        self.stream.shutdown();
        for slot in slots {
            slot.finish(Err(why.clone()));
        }
        for w in waiters {
            w.wake();
        }
        for t in tasks {
            t.cancel();
        }
    }

    /// Sorts one message from the server: aside, or to the front slot.
    fn dispatch(&self, message: Message) -> Result<(), Error> {
        let mut st = self.state.borrow_mut();
        match message {
            Message::NoticeResponse(body) => {
                let notice = DbError::parse(body.fields())?;
                if st.notices.len() >= 100 {
                    st.notices.pop_front();
                }
                st.notices.push_back(notice);
            }
            Message::ParameterStatus(body) => {
                let (name, value) = (body.name()?.to_string(), body.value()?.to_string());
                st.params.insert(name, value);
            }
            Message::NotificationResponse(body) => {
                let n = Notification {
                    process_id: body.process_id(),
                    channel: body.channel()?.to_string(),
                    payload: body.message()?.to_string(),
                };
                if st.notifications.len() >= MAX_NOTIFICATIONS {
                    st.notifications.pop_front();
                }
                st.notifications.push_back(n);
                for w in st.notification_waiters.drain(..) {
                    w.wake();
                }
            }
            message => {
                let end = matches!(message, Message::ReadyForQuery(_));
                let Some(slot) = st.pending.front() else {
                    return Err(Error::protocol("a reply to no statement"));
                };
                if !slot.abandoned.get() {
                    slot.messages.borrow_mut().push(message);
                }
                if end {
                    let slot = st.pending.pop_front().expect("checked above");
                    drop(st);
                    slot.finish(Ok(()));
                }
            }
        }
        Ok(())
    }
}

/// The reader task: cuts the server's stream into messages.
fn read_loop(inner: Rc<Inner>, mut buf: BytesMut) {
    let mut scratch = vec![0u8; 16 * 1024];
    let why = loop {
        match next_message(&inner.stream, &mut buf, &mut scratch) {
            Ok(message) => {
                if let Err(e) = inner.dispatch(message) {
                    break e;
                }
            }
            Err(e) => break e,
        }
    };
    inner.close(why);
}

/// The writer task: writes what has gathered, one `write` per batch.
fn write_loop(inner: Rc<Inner>) {
    loop {
        let batch = {
            let mut st = inner.state.borrow_mut();
            if st.closed.is_some() {
                return;
            }
            if st.out.is_empty() {
                st.writer = Some(Waker::current());
                None
            } else {
                Some(st.out.split())
            }
        };
        match batch {
            None => {
                suspend_or_cancel(Suspend::Sync("PostgreSQL writer"));
            }
            Some(batch) => {
                if let Err(e) = inner.stream.write_all(&batch) {
                    inner.close(e.into());
                    return;
                }
                // Give the buffer's room back for the next batch.
                let mut st = inner.state.borrow_mut();
                if st.out.is_empty() {
                    let mut batch = batch;
                    batch.clear();
                    st.out.unsplit(batch);
                }
            }
        }
    }
}

/// Reads until `buf` holds a whole message, and takes it off. Bytes are
/// read into `scratch` (zeroed once, reused) and appended: a read into the
/// buffer's own spare room would have to zero it first, every time.
pub(super) fn next_message(
    stream: &Stream,
    buf: &mut BytesMut,
    scratch: &mut [u8],
) -> Result<Message, Error> {
    loop {
        if buf.len() >= 5 {
            let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
            if len > MAX_MESSAGE {
                return Err(Error::protocol(format!(
                    "a message of {len} bytes announced (the limit is {MAX_MESSAGE})"
                )));
            }
            if let Some(m) = Message::parse(buf)? {
                return Ok(m);
            }
        }
        let n = stream.read(scratch)?;
        if n == 0 {
            return Err(Error::Io(std::sync::Arc::new(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ))));
        }
        buf.extend_from_slice(&scratch[..n]);
    }
}

/// The number at the end of a command tag (`INSERT 0 3`, `UPDATE 2`,
/// `SELECT 10`); 0 for a tag without one.
fn rows_affected(tag: &str) -> u64 {
    tag.rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The type with `oid`: a built-in one, or a placeholder named after the
/// oid (values of it decode only as raw bytes).
/// The columns a `RowDescription` announces.
fn describe_columns(
    body: &postgres_protocol::message::backend::RowDescriptionBody,
) -> Result<Vec<Column>, Error> {
    Ok(body
        .fields()
        .map(|f| {
            Ok(Column {
                name: f.name().to_string(),
                type_: type_of(f.type_oid()),
            })
        })
        .collect()?)
}

fn type_of(oid: Oid) -> Type {
    Type::from_oid(oid)
        .unwrap_or_else(|| Type::new(format!("oid {oid}"), oid, Kind::Simple, "".into()))
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

impl std::fmt::Debug for Statement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Statement")
            .field("name", &self.0.name)
            .field("params", &self.0.params)
            .field("columns", &self.0.columns)
            .finish()
    }
}

impl std::fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transaction { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_give_affected_rows() {
        assert_eq!(rows_affected("INSERT 0 3"), 3);
        assert_eq!(rows_affected("UPDATE 12"), 12);
        assert_eq!(rows_affected("CREATE TABLE"), 0);
    }
}
