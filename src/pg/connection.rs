//! The connection under a [`Client`](super::Client): the queue of
//! statements waiting for their replies, the prepared-statement cache,
//! and what the server said aside (notices, parameters, notifications).
//!
//! The shape is tokio-postgres's and may_postgres's: a task that queries
//! encodes its messages into the connection's output buffer and puts a
//! entry at the back of a FIFO, keeping the receiving end of a
//! [`oneshot`](crate::sync::oneshot); a writer task sends what has gathered
//! (the queries of every task that ran since its last write) with one
//! `write`; a reader task cuts the server's replies at each `ReadyForQuery`
//! and sends them to the entry at the front (both in `pipeline.rs`). Every
//! statement ends with its own `Sync`, so that an error ends that statement
//! only. A task cancelled while it waits drops its receiving end; its entry
//! stays in place, and the reader, seeing nobody waits, drains its rows:
//! the connection stays in step.
//! `NoticeResponse`, `ParameterStatus` and `NotificationResponse` may
//! arrive between any two messages and are taken aside.

use std::cell::RefCell;
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
use crate::sync::{Event, OneshotSender, oneshot};
use crate::task::Task;
use crate::task::suspend::Waker;

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
/// What a statement's waiter gets: every reply message up to
/// `ReadyForQuery`, or why the statement failed.
pub(super) type Reply = Result<Vec<Message>, Error>;

/// A statement in flight: its replies so far, and where they go at its end.
pub(super) struct Pending {
    /// The messages so far (up to `ReadyForQuery`).
    pub(super) messages: Vec<Message>,
    /// The waiting task's end of the reply; `None` when nobody ever waits
    /// (a `Close`, a destructor's `ROLLBACK`).
    pub(super) reply: Option<OneshotSender<Reply>>,
}

impl Pending {
    /// Whether a task still waits for the replies: when none does (it was
    /// cancelled, or never meant to), the reader drains them instead.
    pub(super) fn wanted(&self) -> bool {
        self.reply.as_ref().is_some_and(|r| !r.is_closed())
    }

    /// Hands the outcome to the waiting task, if any.
    pub(super) fn finish(self, outcome: Result<(), Error>) {
        if let Some(reply) = self.reply {
            // A waiter gone meanwhile: the replies are dropped here.
            let _ = reply.send(outcome.map(|()| self.messages));
        }
    }
}

/// What the connection keeps between statements.
pub(super) struct State {
    /// Encoded messages not written yet.
    pub(super) out: BytesMut,
    /// Statements in flight, in the order they were written.
    pub(super) pending: VecDeque<Pending>,
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
    /// The writer task, when it waits for something to write.
    pub(super) writer: Option<Waker>,
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
    /// Set while no transaction holds the connection: queries wait for it
    /// (in the order they came) but do not take it; a transaction clears
    /// it. Set again when the connection closes, so that waiters see why.
    pub(super) open: Event,
    /// Set when a notification arrives or the connection closes; those
    /// who wait for one clear it before they wait.
    pub(super) notified: Event,
}
impl Inner {
    /// Waits until no transaction holds the connection; with `take`, holds
    /// it (until [`release_gate`](Self::release_gate)).
    pub(super) fn gate(&self, take: bool) -> Result<(), Error> {
        loop {
            if let Some(e) = &self.state.borrow().closed {
                return Err(e.clone());
            }
            if self.open.is_set() {
                if take {
                    self.open.clear();
                }
                return Ok(());
            }
            self.open.wait_as("PostgreSQL transaction");
        }
    }

    /// Ends a transaction's hold: every waiter tries again, in the order
    /// they came.
    pub(super) fn release_gate(&self) {
        self.open.set();
    }

    /// Queues `messages` (ending with a `Sync`), their replies to go to
    /// `reply` (or nowhere).
    fn enqueue(&self, messages: &[u8], reply: Option<OneshotSender<Reply>>) -> Result<(), Error> {
        let mut st = self.state.borrow_mut();
        if let Some(e) = &st.closed {
            return Err(e.clone());
        }
        st.out.extend_from_slice(messages);
        st.pending.push_back(Pending {
            // Bind, a few rows, the command's end, ReadyForQuery.
            messages: Vec::with_capacity(if reply.is_some() { 16 } else { 0 }),
            reply,
        });
        if let Some(w) = st.writer.take() {
            w.wake();
        }
        Ok(())
    }

    /// Queues `messages` whose replies nobody waits for (a `Close`, a
    /// `ROLLBACK` from a destructor).
    pub(super) fn submit_abandoned(&self, messages: &[u8]) {
        let _ = self.enqueue(messages, None);
    }

    /// Queues `messages` and waits for their replies. A cancellation while
    /// it waits drops the receiving end: the reader then drains the replies
    /// and the connection stays in step.
    pub(super) fn roundtrip(&self, messages: &[u8]) -> Result<Vec<Message>, Error> {
        let (reply, replies) = oneshot();
        self.enqueue(messages, Some(reply))?;
        // (The sending end is dropped unsent only with the connection.)
        replies
            .recv_as("PostgreSQL query")
            .unwrap_or(Err(Error::Closed))
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
        let (slots, writer, tasks, cache) = {
            let mut st = self.state.borrow_mut();
            if st.closed.is_some() {
                return;
            }
            st.closed = Some(why.clone());
            // Dropped outside the borrow (a statement's drop looks at the state).
            let cache = std::mem::take(&mut st.cache);
            let slots: Vec<_> = st.pending.drain(..).collect();
            (slots, st.writer.take(), self.tasks.take(), cache)
        };
        drop(cache);
        if matches!(why, Error::Closed) {
            // Say goodbye, if the socket takes it at once.
            let mut out = BytesMut::new();
            frontend::terminate(&mut out);
            self.stream.try_write(&out);
        }
        self.stream.shutdown();
        for pending in slots {
            pending.finish(Err(why.clone()));
        }
        // Those waiting for the gate or a notification see why.
        self.open.set();
        self.notified.set();
        if let Some(w) = writer {
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
