//! [`Pool`]: a fixed set of connections per loop, shared by the loop's
//! tasks, with a bounded wait and a deadline.
//!
//! A request takes a share of one connection: up to `pipeline` requests
//! ride one connection at once (their statements pipelined, see
//! [`Client`]), and the least loaded connection is chosen. A transaction
//! takes a connection whole. When every share is taken, requests wait in
//! one FIFO queue; a share given back goes straight to the first waiter,
//! so that newcomers never overtake. Past `queue` waiters a request is
//! refused at once ([`Error::PoolFull`]); a waiter not served by the
//! acquire deadline gets [`Error::PoolTimeout`]: both are "overloaded",
//! which an HTTP handler answers with 503 (deadpool and bb8 have neither
//! by default, and their users meet hangs instead).
//!
//! A connection found closed (the server restarted, a socket reset) is
//! replaced: connecting happens in the task that needs it, and after a
//! failure the slot waits a backoff (50 ms, doubling to [`MAX_BACKOFF`])
//! before the next attempt, so that a server that is down is not
//! hammered. While no connection is open and none can be tried yet,
//! requests fail at once with the last connection error
//! ([`Error::Connect`], "the database is unreachable") rather than wait;
//! a timer wakes the line when a member's backoff ends, so requests
//! already waiting try again then instead of at their own deadline. The
//! backoff's cap is what bounds the outage a restart costs beyond its own
//! time: the first attempt after the server is back is at most
//! `MAX_BACKOFF` away, and one success makes every member due again.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use postgres_types::ToSql;

use super::client::Client;
use super::config::Config;
use super::error::Error;
use super::row::Row;
use super::transaction::Transaction;
use crate::reason::Suspend;
use crate::task::suspend::{Waker, suspend_or_cancel};
use crate::time::{now, timeout_at};

/// The first wait after a failed connect; it doubles with each failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// The longest wait between two connection attempts of one member: the
/// most a pool can add to an outage once the server accepts again.
pub const MAX_BACKOFF: Duration = Duration::from_millis(400);

/// A pool's sizes and deadline (see [`Pool::with_options`]).
#[derive(Clone, Debug)]
pub struct PoolOptions {
    /// Connections (default 8).
    pub size: usize,
    /// Requests sharing one connection at once (default 16).
    pub pipeline: usize,
    /// Requests that may wait for a share (default 4,096); more are refused.
    pub queue: usize,
    /// How long a request may wait for a share (default 5 s).
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

/// A share of a connection, or all of it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Share,
    Whole,
}

/// One connection of the pool.
struct Member {
    /// The connection, once open (`None` while connecting or after a failure).
    client: Option<Client>,
    /// Shares taken (`pipeline` when held whole).
    taken: usize,
    /// Whether one holder has it whole (a transaction: `Pool::transaction`).
    whole: bool,
    /// Bumped when the connection is replaced: a share of the old one,
    /// given back, does not count against the new.
    generation: u64,
    /// A task is opening it now.
    connecting: bool,
    /// Connection attempts failed in a row (the backoff grows with them).
    failures: u32,
    /// When the next attempt may be made, after a failure.
    retry_at: Option<Instant>,
}

/// A request waiting in line.
struct Waiting {
    /// A share of a connection, or a connection whole.
    want: Want,
    /// The member granted to it (index, generation), or why none will be.
    outcome: RefCell<Option<Result<(usize, u64), Error>>>,
    /// The task waiting in line.
    waker: RefCell<Option<Waker>>,
    /// Gave up (deadline, cancellation): skipped when its turn comes.
    gone: Cell<bool>,
}

struct PoolInner {
    /// How to connect.
    config: Config,
    /// The pool's size, pipelining and timeouts.
    options: PoolOptions,
    /// The connections, open or being opened.
    members: RefCell<Vec<Member>>,
    /// Requests waiting for a connection, in order.
    waiting: RefCell<VecDeque<Rc<Waiting>>>,
    /// Why the last connection attempt failed, until one succeeds: what a
    /// request gets while no connection is open and none can be tried.
    last_error: RefCell<Option<Error>>,
    /// Whether a timer is set to serve the line when a backoff ends (one
    /// at a time: the earliest).
    retry_timer: Cell<Option<Instant>>,
}

/// A pool of connections for the tasks of one loop (asyncpg's `Pool`).
/// Clones share it.
#[derive(Clone)]
pub struct Pool(Rc<PoolInner>);

/// A share of one of the pool's connections, given back when dropped.
pub struct PooledClient {
    /// The pool it goes back to.
    pool: Rc<PoolInner>,
    /// Which connection it is a share of.
    member: usize,
    /// That connection's generation (a share of a replaced one counts for nothing).
    generation: u64,
    /// Whether it is a share or the whole connection.
    want: Want,
    /// The connection.
    client: Client,
}

impl std::ops::Deref for PooledClient {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        self.pool.give_back(self.member, self.generation, self.want);
    }
}

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
        let members = (0..options.size)
            .map(|_| Member {
                client: None,
                taken: 0,
                whole: false,
                generation: 0,
                connecting: false,
                failures: 0,
                retry_at: None,
            })
            .collect();
        Pool(Rc::new(PoolInner {
            config,
            options,
            members: RefCell::new(members),
            waiting: RefCell::new(VecDeque::new()),
            last_error: RefCell::new(None),
            retry_timer: Cell::new(None),
        }))
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

    /// [`Client::query`] on a share of a connection.
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

    /// [`Client::query_one`] on a share of a connection.
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

    /// [`Client::query_opt`] on a share of a connection.
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

    /// [`Client::execute`] on a share of a connection.
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

    /// [`Client::batch_execute`] on a share of a connection.
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

    /// [`Client::transaction`] on a connection taken whole: no other
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

impl PoolInner {
    fn acquire(self: &Rc<Self>, want: Want) -> Result<PooledClient, Error> {
        loop {
            // Nobody in line: take a share directly, or connect a member.
            if self.line_is_empty() {
                if let Some((member, generation, client)) = self.try_take(want) {
                    return Ok(self.pooled(member, generation, want, client));
                }
                if let Some(member) = self.due_for_connect() {
                    self.connect(member)?;
                    // The one who connected keeps its turn; the rest of the
                    // new room goes to the line.
                    let taken = self.try_take(want);
                    self.serve_line();
                    if let Some((member, generation, client)) = taken {
                        return Ok(self.pooled(member, generation, want, client));
                    }
                    continue;
                }
                if let Some(e) = self.unreachable() {
                    return Err(e);
                }
            }
            return self.wait_in_line(want);
        }
    }

    /// The last connection error, while no connection is open, none is
    /// being made and none may be tried yet: a request then fails at once
    /// instead of waiting out a backoff it cannot shorten.
    fn unreachable(&self) -> Option<Error> {
        let members = self.members.borrow();
        let stuck = members.iter().all(|m| m.client.is_none() && !m.connecting);
        if !stuck {
            return None;
        }
        self.last_error.borrow().clone()
    }

    /// Sets a timer to serve the line when the earliest backoff ends, so
    /// that requests already in line connect then (nothing else would wake
    /// them: a closed-loop client has no newcomer to do it).
    fn wake_line_at_retry(self: &Rc<Self>) {
        let next = self
            .members
            .borrow()
            .iter()
            .filter(|m| m.client.is_none() && !m.connecting)
            .filter_map(|m| m.retry_at)
            .min();
        let Some(at) = next else { return };
        if self.retry_timer.get().is_some_and(|set| set <= at) {
            return;
        }
        self.retry_timer.set(Some(at));
        let pool: Weak<PoolInner> = Rc::downgrade(self);
        crate::EventLoop::current().call_at(at, move || {
            if let Some(pool) = pool.upgrade() {
                pool.retry_timer.set(None);
                pool.serve_line();
                // Still in line and still backing off: the next one.
                if !pool.line_is_empty() {
                    pool.wake_line_at_retry();
                }
            }
        });
    }

    /// Whether nobody waits (entries gone at the front are dropped first).
    fn line_is_empty(&self) -> bool {
        let mut line = self.waiting.borrow_mut();
        while line.front().is_some_and(|w| w.gone.get()) {
            line.pop_front();
        }
        line.is_empty()
    }

    fn pooled(
        self: &Rc<Self>,
        member: usize,
        generation: u64,
        want: Want,
        client: Client,
    ) -> PooledClient {
        PooledClient {
            pool: self.clone(),
            member,
            generation,
            want,
            client,
        }
    }

    /// Takes a share (of the least loaded live member) or a member whole
    /// (an idle one), if one is free now. Members found closed are
    /// emptied, to be connected again.
    fn try_take(&self, want: Want) -> Option<(usize, u64, Client)> {
        let mut members = self.members.borrow_mut();
        for m in members.iter_mut() {
            if m.client.as_ref().is_some_and(Client::is_closed) {
                m.client = None;
                m.taken = 0;
                m.whole = false;
                m.generation += 1;
            }
        }
        let pipeline = self.options.pipeline;
        let best = members
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                m.client.is_some()
                    && match want {
                        Want::Share => !m.whole && m.taken < pipeline,
                        Want::Whole => m.taken == 0,
                    }
            })
            .min_by_key(|(_, m)| m.taken)
            .map(|(i, _)| i)?;
        let m = &mut members[best];
        match want {
            Want::Share => m.taken += 1,
            Want::Whole => {
                m.taken = pipeline;
                m.whole = true;
            }
        }
        Some((best, m.generation, m.client.clone().expect("chosen live")))
    }

    /// Whether a member has no connection and its backoff is over.
    fn connect_due(&self) -> bool {
        let t = now();
        self.members
            .borrow()
            .iter()
            .any(|m| m.client.is_none() && !m.connecting && m.retry_at.is_none_or(|at| at <= t))
    }

    /// A member due for connecting, marked as being connected.
    fn due_for_connect(&self) -> Option<usize> {
        let mut members = self.members.borrow_mut();
        let t = now();
        let (i, m) = members.iter_mut().enumerate().find(|(_, m)| {
            m.client.is_none() && !m.connecting && m.retry_at.is_none_or(|at| at <= t)
        })?;
        m.connecting = true;
        Some(i)
    }

    /// Connects member `i` in this task. On failure the member backs off,
    /// and if no member is open, everyone in line gets the error now
    /// rather than at their deadline.
    fn connect(self: &Rc<Self>, i: usize) -> Result<(), Error> {
        // A cancellation while connecting must not leave it "connecting".
        struct Connecting<'a>(&'a PoolInner, usize);
        impl Drop for Connecting<'_> {
            fn drop(&mut self) {
                self.0.members.borrow_mut()[self.1].connecting = false;
            }
        }
        let connecting = Connecting(self, i);
        let result = Client::connect(&self.config);
        drop(connecting);
        match result {
            Ok(client) => {
                let mut members = self.members.borrow_mut();
                let m = &mut members[i];
                m.client = Some(client);
                m.taken = 0;
                m.whole = false;
                m.generation += 1;
                // The server is back: every member may connect now.
                for m in members.iter_mut() {
                    m.failures = 0;
                    m.retry_at = None;
                }
                *self.last_error.borrow_mut() = None;
                Ok(())
            }
            Err(e) => {
                let e = Error::Connect(Box::new(e));
                let none_open = {
                    let mut members = self.members.borrow_mut();
                    let m = &mut members[i];
                    m.failures += 1;
                    let backoff = FIRST_BACKOFF
                        .saturating_mul(1 << (m.failures - 1).min(6))
                        .min(MAX_BACKOFF);
                    m.retry_at = Some(crate::event_loop::timer::deadline(now(), backoff));
                    members.iter().all(|m| m.client.is_none())
                };
                *self.last_error.borrow_mut() = Some(e.clone());
                if none_open {
                    let line: Vec<_> = self.waiting.borrow_mut().drain(..).collect();
                    for w in line {
                        if !w.gone.get() {
                            *w.outcome.borrow_mut() = Some(Err(e.clone()));
                            if let Some(waker) = w.waker.borrow_mut().take() {
                                waker.wake();
                            }
                        }
                    }
                } else {
                    self.wake_line_at_retry();
                }
                Err(e)
            }
        }
    }

    /// Waits in line for a share handed over by [`serve_line`](Self::serve_line),
    /// by the acquire deadline; connects a member itself if one is due.
    fn wait_in_line(self: &Rc<Self>, want: Want) -> Result<PooledClient, Error> {
        let entry = {
            let mut line = self.waiting.borrow_mut();
            while line.front().is_some_and(|w| w.gone.get()) {
                line.pop_front();
            }
            // (Entries gone in the middle still count: the bound is on memory.)
            if line.len() >= self.options.queue {
                return Err(Error::PoolFull);
            }
            let entry = Rc::new(Waiting {
                want,
                outcome: RefCell::new(None),
                waker: RefCell::new(None),
                gone: Cell::new(false),
            });
            line.push_back(entry.clone());
            entry
        };
        // On every way out without the grant in hand (the deadline, a
        // cancellation), the entry is marked gone, and a grant that came
        // meanwhile is given back.
        struct Leave<'a>(&'a PoolInner, &'a Waiting);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.1.gone.set(true);
                if let Some(Ok((member, generation))) = self.1.outcome.take() {
                    self.0.give_back(member, generation, self.1.want);
                }
            }
        }
        let leave = Leave(self, &entry);
        let until = crate::event_loop::timer::deadline(now(), self.options.acquire_timeout);
        let outcome = timeout_at(until, || {
            loop {
                if let Some(outcome) = entry.outcome.take() {
                    return outcome;
                }
                if let Some(member) = self.due_for_connect() {
                    // New room for the line, in order: this entry perhaps.
                    self.connect(member)?;
                    self.serve_line();
                    continue;
                }
                self.wake_line_at_retry();
                *entry.waker.borrow_mut() = Some(Waker::current());
                suspend_or_cancel(Suspend::Sync("Pool.acquire"));
            }
        });
        drop(leave);
        match outcome {
            Ok(Ok((member, generation))) => {
                let client = self.members.borrow()[member].client.clone();
                match client {
                    Some(client) => Ok(self.pooled(member, generation, want, client)),
                    // Closed and emptied since the grant: start again.
                    None => self.acquire(want),
                }
            }
            Ok(Err(e)) => Err(e),
            Err(_elapsed) => Err(Error::PoolTimeout),
        }
    }

    /// Gives a share (or a whole member) back and hands what is free to
    /// those in line.
    fn give_back(&self, member: usize, generation: u64, want: Want) {
        {
            let mut members = self.members.borrow_mut();
            let m = &mut members[member];
            if m.generation != generation {
                return; // a share of a connection since replaced
            }
            match want {
                Want::Share => m.taken = m.taken.saturating_sub(1),
                Want::Whole => {
                    m.taken = 0;
                    m.whole = false;
                }
            }
        }
        self.serve_line();
    }

    /// Grants free shares to the waiters at the front of the line, in
    /// order, while the first can be served; if it cannot and a member is
    /// due for connecting, wakes it to connect.
    fn serve_line(&self) {
        loop {
            let front = {
                let mut line = self.waiting.borrow_mut();
                while line.front().is_some_and(|w| w.gone.get()) {
                    line.pop_front();
                }
                match line.front() {
                    Some(w) => w.clone(),
                    None => return,
                }
            };
            let Some((member, generation, _)) = self.try_take(front.want) else {
                if self.connect_due()
                    && let Some(w) = front.waker.borrow_mut().take()
                {
                    w.wake();
                }
                return;
            };
            self.waiting.borrow_mut().pop_front();
            *front.outcome.borrow_mut() = Some(Ok((member, generation)));
            if let Some(w) = front.waker.borrow_mut().take() {
                w.wake();
            }
        }
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

impl std::fmt::Debug for PooledClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledClient")
            .field("member", &self.member)
            .field("client", &self.client)
            .finish()
    }
}
