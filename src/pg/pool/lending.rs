//! The pool's state: its members (one connection each), the line of
//! requests waiting for a share, connecting with a backoff, and the shares
//! handed out ([`PooledClient`]).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::time::Instant;

use super::options::{FIRST_BACKOFF, MAX_BACKOFF, PoolOptions};
use crate::pg::client::Client;
use crate::pg::config::Config;
use crate::pg::error::Error;
use crate::reason::Suspend;
use crate::task::suspend::{Waker, suspend_or_cancel};
use crate::time::{now, timeout_at};

/// A share of a connection, or all of it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Want {
    Share,
    Whole,
}

/// One connection of the pool.
pub(super) struct Member {
    /// The connection, once open (`None` while connecting or after a failure).
    pub(super) client: Option<Client>,
    /// Shares taken (`pipeline` when held whole).
    pub(super) taken: usize,
    /// Whether one holder has it whole (a transaction: `Pool::transaction`).
    pub(super) whole: bool,
    /// Bumped when the connection is replaced: a share of the old one,
    /// given back, does not count against the new.
    pub(super) generation: u64,
    /// A task is opening it now.
    pub(super) connecting: bool,
    /// Connection attempts failed in a row (the backoff grows with them).
    pub(super) failures: u32,
    /// When the next attempt may be made, after a failure.
    pub(super) retry_at: Option<Instant>,
}

/// A request waiting in line.
pub(super) struct Waiting {
    /// A share of a connection, or a connection whole.
    pub(super) want: Want,
    /// The member granted to it (index, generation), or why none will be.
    pub(super) outcome: RefCell<Option<Result<(usize, u64), Error>>>,
    /// The task waiting in line.
    pub(super) waker: RefCell<Option<Waker>>,
    /// Gave up (deadline, cancellation): skipped when its turn comes.
    pub(super) gone: Cell<bool>,
}

pub(super) struct PoolInner {
    /// How to connect.
    pub(super) config: Config,
    /// The pool's size, pipelining and timeouts.
    pub(super) options: PoolOptions,
    /// The connections, open or being opened.
    pub(super) members: RefCell<Vec<Member>>,
    /// Requests waiting for a connection, in order.
    pub(super) waiting: RefCell<VecDeque<Rc<Waiting>>>,
    /// Why the last connection attempt failed, until one succeeds: what a
    /// request gets while no connection is open and none can be tried.
    pub(super) last_error: RefCell<Option<Error>>,
    /// Whether a timer is set to serve the line when a backoff ends (one
    /// at a time: the earliest).
    pub(super) retry_timer: Cell<Option<Instant>>,
}

/// A share of one of the pool's connections, given back when dropped.
pub struct PooledClient {
    /// The pool it goes back to.
    pub(super) pool: Rc<PoolInner>,
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

impl PoolInner {
    /// The pool's state, every member closed (connections open when first
    /// needed).
    pub(super) fn new(config: Config, options: PoolOptions) -> PoolInner {
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
        PoolInner {
            config,
            options,
            members: RefCell::new(members),
            waiting: RefCell::new(VecDeque::new()),
            last_error: RefCell::new(None),
            retry_timer: Cell::new(None),
        }
    }

    /// A share (or a member whole): taken at once when nobody is in line
    /// and one is free; otherwise in line, where the request that finds a
    /// member due for connecting connects it. The connecting request holds
    /// its place in line, so a share given back meanwhile goes to it, not
    /// to a request that came after it.
    pub(super) fn acquire(self: &Rc<Self>, want: Want) -> Result<PooledClient, Error> {
        if self.line_is_empty() {
            if let Some((member, generation, client)) = self.try_take(want) {
                return Ok(self.pooled(member, generation, want, client));
            }
            if !self.connect_due()
                && let Some(e) = self.unreachable()
            {
                return Err(e);
            }
        }
        self.wait_in_line(want)
    }

    /// The last connection error, while no connection is open, none is
    /// being made and none may be tried yet: a request then fails at once
    /// instead of waiting out a backoff it cannot shorten.
    pub(super) fn unreachable(&self) -> Option<Error> {
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
    pub(super) fn wake_line_at_retry(self: &Rc<Self>) {
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
    pub(super) fn line_is_empty(&self) -> bool {
        let mut line = self.waiting.borrow_mut();
        while line.front().is_some_and(|w| w.gone.get()) {
            line.pop_front();
        }
        line.is_empty()
    }

    pub(super) fn pooled(
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
    pub(super) fn try_take(&self, want: Want) -> Option<(usize, u64, Client)> {
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
    pub(super) fn connect_due(&self) -> bool {
        let t = now();
        self.members
            .borrow()
            .iter()
            .any(|m| m.client.is_none() && !m.connecting && m.retry_at.is_none_or(|at| at <= t))
    }

    /// A member due for connecting, marked as being connected.
    pub(super) fn due_for_connect(&self) -> Option<usize> {
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
    pub(super) fn connect(self: &Rc<Self>, i: usize) -> Result<(), Error> {
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
    pub(super) fn wait_in_line(self: &Rc<Self>, want: Want) -> Result<PooledClient, Error> {
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
        let outcome = loop {
            if let Some(outcome) = entry.outcome.take() {
                break Ok(outcome);
            }
            if let Some(member) = self.due_for_connect() {
                // Outside the acquire deadline (the config's connect_timeout
                // bounds it): the connection serves the whole line, and
                // cutting it at one request's deadline would waste it: with
                // a deadline shorter than a connect, none would ever open.
                if let Err(e) = self.connect(member) {
                    break Ok(Err(e));
                }
                // New room for the line, in order: this entry perhaps.
                self.serve_line();
                continue;
            }
            self.wake_line_at_retry();
            *entry.waker.borrow_mut() = Some(Waker::current());
            let waited = timeout_at(until, || {
                suspend_or_cancel(Suspend::Sync("Pool.acquire"));
            });
            if let Err(elapsed) = waited {
                // A grant that came as the deadline passed is served.
                break entry.outcome.take().ok_or(elapsed);
            }
        };
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
    pub(super) fn give_back(&self, member: usize, generation: u64, want: Want) {
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
    pub(super) fn serve_line(&self) {
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

impl std::fmt::Debug for PooledClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledClient")
            .field("member", &self.member)
            .field("client", &self.client)
            .finish()
    }
}
