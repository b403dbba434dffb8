//! The connection under a [`Client`](super::Client): the queue of
//! statements waiting for their replies, the prepared-statement cache,
//! and what the server said aside (notices, parameters, notifications).
//!
//! The shape is tokio-postgres's and may_postgres's: a task that queries
//! encodes its messages into the connection's output buffer and puts a
//! reply slot at the back of a FIFO; a writer task sends what has gathered
//! (the queries of every task that ran since its last write) with one
//! `write`; a reader task cuts the server's replies at each `ReadyForQuery`
//! and hands them to the slot at the front (both in `pipeline.rs`). Every
//! statement ends with its own `Sync`, so that an error ends that statement
//! only. A task cancelled while it waits leaves its slot in place, marked
//! abandoned: the reader drains its rows and the connection stays in step.
//! `NoticeResponse`, `ParameterStatus` and `NotificationResponse` may
//! arrive between any two messages and are taken aside.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;
use postgres_protocol::{IsNull, Oid};
use postgres_types::IsNull as TypesIsNull;
use postgres_types::{Kind, ToSql, Type};

use super::error::{DbError, Error};
use super::row::{Column, Row, SimpleRow};
use super::statement::{Statement, StatementInner, StatementOwner};
use super::stream::Stream;
use crate::reason::Suspend;
use crate::task::Task;
use crate::task::suspend::{Waker, suspend_or_cancel};

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
pub(super) struct Slot {
    /// The messages so far (up to `ReadyForQuery`), then the outcome.
    pub(super) messages: RefCell<Vec<Message>>,
    /// The statement's end: `Ok` at `ReadyForQuery`, or why it failed.
    pub(super) outcome: RefCell<Option<Result<(), Error>>>,
    /// The task waiting for the outcome.
    pub(super) waker: RefCell<Option<Waker>>,
    /// Nobody waits any more (cancelled, or never meant to): drain only.
    pub(super) abandoned: Cell<bool>,
}

impl Slot {
    pub(super) fn new() -> Rc<Slot> {
        Rc::new(Slot {
            // Bind, a few rows, the command's end, ReadyForQuery.
            messages: RefCell::new(Vec::with_capacity(16)),
            outcome: RefCell::new(None),
            waker: RefCell::new(None),
            abandoned: Cell::new(false),
        })
    }

    pub(super) fn finish(&self, outcome: Result<(), Error>) {
        *self.outcome.borrow_mut() = Some(outcome);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Waits for the statement's replies.
    pub(super) fn wait(&self) -> Result<Vec<Message>, Error> {
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
/// What the connection keeps between statements.
pub(super) struct State {
    /// Encoded messages not written yet.
    pub(super) out: BytesMut,
    /// Reply slots, in the order their statements were written.
    pub(super) pending: VecDeque<Rc<Slot>>,
    /// Why the connection is closed, once it is.
    pub(super) closed: Option<Error>,
    /// Prepared statements by SQL text, with when each was last used.
    pub(super) cache: HashMap<String, (Statement, u64)>,
    /// Statements run through the cache so far (the clock of its LRU).
    pub(super) uses: u64,
    /// The number in the next prepared statement's name.
    pub(super) next_name: u64,
    /// Server parameters, as reported at login and since.
    pub(super) params: HashMap<String, String>,
    /// Notices not yet taken (`take_notices`), the latest hundred.
    pub(super) notices: VecDeque<DbError>,
    /// Notifications not yet taken, oldest first.
    pub(super) notifications: VecDeque<Notification>,
    /// Tasks waiting for a notification.
    pub(super) notification_waiters: Vec<Waker>,
    /// The writer task, when it waits for something to write.
    pub(super) writer: Option<Waker>,
    /// A transaction holds the connection; others wait here, in order.
    pub(super) exclusive: bool,
    /// Queries waiting for a transaction to end, in order.
    pub(super) gate_waiters: VecDeque<Waker>,
    /// The serving backend's process id.
    pub(super) backend_pid: i32,
}

pub(super) struct Inner {
    /// The socket.
    pub(super) stream: Stream,
    /// What the queries, the reader and the writer share.
    pub(super) state: RefCell<State>,
    /// Statements (or, unnamed, their descriptions) kept by SQL text.
    pub(super) cache_size: usize,
    /// The pooler-safe mode: only the unnamed statement is used.
    pub(super) unnamed: bool,
    /// The login was SCRAM-SHA-256-PLUS, bound to this TLS connection.
    pub(super) channel_bound: bool,
    /// The reader and writer tasks (cancelled when the connection closes).
    pub(super) tasks: RefCell<Vec<Task<()>>>,
}
impl Inner {
    /// Waits until no transaction holds the connection; with `take`, holds
    /// it (until [`release_gate`](Self::release_gate)).
    pub(super) fn gate(&self, take: bool) -> Result<(), Error> {
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
    pub(super) fn release_gate(&self) {
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
    pub(super) fn submit(&self, messages: &[u8]) -> Result<Rc<Slot>, Error> {
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
    pub(super) fn submit_abandoned(&self, messages: &[u8]) {
        if let Ok(slot) = self.submit(messages) {
            slot.abandoned.set(true);
        }
    }

    pub(super) fn roundtrip(&self, messages: &[u8]) -> Result<Vec<Message>, Error> {
        self.submit(messages)?.wait()
    }

    pub(super) fn query(
        self: &Rc<Self>,
        sql: &str,
        params: &[&dyn ToSql],
    ) -> Result<Vec<Row>, Error> {
        let statement = self.cached(sql)?;
        self.run(&statement, params).map(|(rows, _)| rows)
    }

    pub(super) fn execute(self: &Rc<Self>, sql: &str, params: &[&dyn ToSql]) -> Result<u64, Error> {
        let statement = self.cached(sql)?;
        self.run(&statement, params).map(|(_, n)| n)
    }

    /// The cached statement for `sql`, prepared now if it is not cached.
    pub(super) fn cached(self: &Rc<Self>, sql: &str) -> Result<Statement, Error> {
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

    pub(super) fn prepare(self: &Rc<Self>, sql: &str) -> Result<Statement, Error> {
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
            conn: {
                let owner: Rc<dyn StatementOwner> = self.clone();
                Rc::downgrade(&owner)
            },
        })))
    }

    /// Binds and executes `statement`: its rows and how many rows the
    /// command affected.
    pub(super) fn run(
        &self,
        statement: &Statement,
        params: &[&dyn ToSql],
    ) -> Result<(Vec<Row>, u64), Error> {
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

    pub(super) fn simple_query(&self, sql: &str) -> Result<Vec<SimpleRow>, Error> {
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
    pub(super) fn close(&self, why: Error) {
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
}

impl StatementOwner for Inner {
    fn submit_abandoned(&self, messages: &[u8]) {
        Inner::submit_abandoned(self, messages);
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
