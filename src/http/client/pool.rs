//! The client's connections: one open connection to a server
//! ([`Conn`]), and the pool that keeps them between requests.
//!
//! The pool counts every open connection (idle or busy) against two caps,
//! one per (scheme, host, port) and one in total; a request that finds
//! neither an idle connection nor room waits in one FIFO line, and is
//! handed what frees up directly (an idle connection, or the right to open
//! one), so that no later request can take it first. Whatever a request
//! holds, a connection or a place in the line, goes back when it ends in
//! any way: an answer read, an error, a timeout, a cancellation, a
//! response dropped half-read (then the connection is closed, never
//! returned: its next bytes would be the rest of the old answer).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use super::super::body::{InBuf, give_buffer, take_buffer};
use super::super::transport::Transport;
use crate::reason::Suspend;
use crate::task::suspend::{Waker, suspend_or_cancel};
use crate::time::now;

/// Where a connection goes: scheme, host and port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    /// Whether the connection is TLS (`https`).
    pub(crate) tls: bool,
    /// The host, as the URL names it.
    pub(crate) host: String,
    /// The port.
    pub(crate) port: u16,
}

/// An open connection to a server.
pub(crate) struct Conn {
    /// The socket, plain or TLS.
    pub(crate) io: Transport,
    /// Bytes read and not consumed yet.
    pub(crate) buf: InBuf,
    /// It served a request before (a failure on it may be a stale
    /// keep-alive connection, and an idempotent request is tried again).
    pub(crate) reused: bool,
    /// When it last went idle.
    idle_since: Instant,
    /// Its place in the pool's counts, released when it closes.
    _slot: Slot,
}

impl Conn {
    /// A connection just opened on `io`, counted by `slot`.
    pub(crate) fn new(io: Transport, slot: Slot) -> Conn {
        Conn {
            io,
            buf: InBuf::over(take_buffer()),
            reused: false,
            idle_since: now(),
            _slot: slot,
        }
    }

    /// Reads more bytes into the buffer, giving up at `until`: the bytes
    /// read (0 at the end of the stream), or `None` at the deadline.
    pub(crate) fn fill(&mut self, until: Instant) -> io::Result<Option<usize>> {
        let room = self.buf.room();
        let read = self.io.read_until(room, until)?;
        if let Some(n) = read {
            self.buf.commit(n);
        }
        Ok(read)
    }

    /// A read buffer again, for a connection taken from the idle list.
    fn rearm(&mut self) {
        if self.buf.data.capacity() == 0 {
            self.buf = InBuf::over(take_buffer());
        }
    }

    /// Whether an idle connection can carry a request: nothing unread, and
    /// the socket neither closed nor holding bytes the server sent
    /// unasked (a `408` before it closed): a one-byte probe that must
    /// find nothing (ureq's check).
    fn is_alive(&self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        matches!(self.io.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        give_buffer(std::mem::take(&mut self.buf.data));
    }
}

/// One open connection's place in the pool's counts.
pub(crate) struct Slot {
    /// The pool whose counts it is in (weakly: the pool may go first).
    pool: Weak<Shared>,
    /// The host it counts against.
    key: Key,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.upgrade() {
            {
                let mut st = pool.state.borrow_mut();
                if let Some(n) = st.open.get_mut(&self.key) {
                    *n -= 1;
                    if *n == 0 {
                        st.open.remove(&self.key);
                    }
                }
                st.total -= 1;
            }
            Pool(pool).dispatch();
        }
    }
}

/// The pool's limits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Connections open to one host at most.
    pub(crate) per_host: usize,
    /// Connections open in all at most.
    pub(crate) total: usize,
    /// How long a connection stays idle before it is closed.
    pub(crate) idle_timeout: Duration,
}

/// What a request gets from the pool.
pub(crate) enum Acquired {
    /// An idle connection, checked alive.
    Idle(Conn),
    /// The right to open a new one (already counted).
    New(Slot),
}

/// A request waiting in line.
struct Waiter {
    /// The host it wants a connection to.
    key: Key,
    /// The waiting task.
    waker: RefCell<Option<Waker>>,
    /// What it was handed, once it was.
    grant: RefCell<Option<Acquired>>,
}

struct State {
    /// Idle connections per host, the most recently used last.
    idle: HashMap<Key, VecDeque<Conn>>,
    /// Connections open per host (idle or in use).
    open: HashMap<Key, usize>,
    /// Connections open in all.
    total: usize,
    /// Requests waiting for a connection, in order.
    line: VecDeque<Rc<Waiter>>,
    /// Whether a timer will close idle connections past their time.
    sweep_armed: bool,
}

struct Shared {
    /// The counts and the idle connections.
    state: RefCell<State>,
    /// The caps and the idle time.
    limits: Limits,
    /// Idle connections closed because they were found dead (for tests
    /// and the docs: the liveness check at work).
    found_dead: Cell<u64>,
}

/// A pool of connections, shared by the clones of one client.
#[derive(Clone)]
pub(crate) struct Pool(Rc<Shared>);

/// The pool's counts now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open (idle or carrying a request).
    pub open: usize,
    /// Of those, idle.
    pub idle: usize,
    /// Requests waiting in line for a connection.
    pub waiting: usize,
    /// Idle connections found closed (or speaking unasked) when a request
    /// wanted them, and closed instead of used.
    pub found_dead: u64,
}

impl Pool {
    pub(crate) fn new(limits: Limits) -> Pool {
        Pool(Rc::new(Shared {
            state: RefCell::new(State {
                idle: HashMap::new(),
                open: HashMap::new(),
                total: 0,
                line: VecDeque::new(),
                sweep_armed: false,
            }),
            limits,
            found_dead: Cell::new(0),
        }))
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let st = self.0.state.borrow();
        PoolStats {
            open: st.total,
            idle: st.idle.values().map(VecDeque::len).sum(),
            waiting: st.line.len(),
            found_dead: self.0.found_dead.get(),
        }
    }

    fn slot(&self, st: &mut State, key: &Key) -> Slot {
        *st.open.entry(key.clone()).or_insert(0) += 1;
        st.total += 1;
        Slot {
            pool: Rc::downgrade(&self.0),
            key: key.clone(),
        }
    }

    /// An idle connection to `key` that is alive, or the right to open
    /// one; waits in line (until `until`) while the caps allow neither.
    /// `fresh`: never an idle one (a retry after a stale one failed).
    /// `Err(())` when the deadline passed first.
    pub(crate) fn acquire(&self, key: &Key, fresh: bool, until: Instant) -> Result<Acquired, ()> {
        loop {
            let mut closing: Vec<Conn> = Vec::new();
            let got = {
                let mut st = self.0.state.borrow_mut();
                let expired = self.expire(&mut st, now());
                closing.extend(expired);
                // Nobody in line for this key, and nobody held back by the
                // total cap: this request may take what is there.
                let blocked = st.line.iter().any(|w| w.key == *key)
                    || (!st.line.is_empty() && st.total >= self.0.limits.total);
                if blocked {
                    None
                } else if let Some(conn) = (!fresh)
                    .then(|| st.idle.get_mut(key).and_then(VecDeque::pop_back))
                    .flatten()
                {
                    Some(Acquired::Idle(conn))
                } else if st.open.get(key).copied().unwrap_or(0) < self.0.limits.per_host {
                    if st.total < self.0.limits.total {
                        Some(Acquired::New(self.slot(&mut st, key)))
                    } else if let Some(victim) = Self::oldest_idle(&mut st) {
                        // Full, with idle connections elsewhere: close one
                        // (after the borrow), and come round again.
                        closing.push(victim);
                        None
                    } else {
                        None
                    }
                } else {
                    None
                }
            };
            let retry_now = !closing.is_empty();
            drop(closing);
            match got {
                Some(Acquired::Idle(mut conn)) => {
                    if conn.is_alive() {
                        conn.rearm();
                        return Ok(Acquired::Idle(conn));
                    }
                    self.0.found_dead.set(self.0.found_dead.get() + 1);
                    drop(conn);
                    continue;
                }
                Some(new) => return Ok(new),
                None if retry_now => continue,
                None => {}
            }
            match self.wait(key, until)? {
                Acquired::Idle(conn) if fresh || !conn.is_alive() => {
                    if !fresh {
                        self.0.found_dead.set(self.0.found_dead.get() + 1);
                    }
                    drop(conn);
                    continue;
                }
                Acquired::Idle(mut conn) => {
                    conn.rearm();
                    return Ok(Acquired::Idle(conn));
                }
                new => return Ok(new),
            }
        }
    }

    /// Waits in line until handed something, or `until`.
    fn wait(&self, key: &Key, until: Instant) -> Result<Acquired, ()> {
        let me = Rc::new(Waiter {
            key: key.clone(),
            waker: RefCell::new(None),
            grant: RefCell::new(None),
        });
        self.0.state.borrow_mut().line.push_back(me.clone());
        // On every way out (a grant taken, the deadline, a cancellation):
        // out of the line, and a grant not taken goes back.
        struct Leave<'a>(&'a Pool, Rc<Waiter>);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                let left = {
                    let mut st = self.0.0.state.borrow_mut();
                    st.line.retain(|w| !Rc::ptr_eq(w, &self.1));
                    self.1.grant.borrow_mut().take()
                };
                match left {
                    Some(Acquired::Idle(conn)) => self.0.put_idle(conn),
                    Some(Acquired::New(slot)) => drop(slot),
                    None => {}
                }
            }
        }
        let leave = Leave(self, me.clone());
        let waited = crate::time::timeout_at(until, || {
            loop {
                if let Some(got) = me.grant.borrow_mut().take() {
                    return got;
                }
                *me.waker.borrow_mut() = Some(Waker::current());
                suspend_or_cancel(Suspend::Sync("HTTP client pool"));
            }
        });
        drop(leave);
        waited.map_err(drop)
    }

    /// Hands what is free to the requests in line, in order.
    fn dispatch(&self) {
        let mut closing = None;
        {
            let mut st = self.0.state.borrow_mut();
            let mut i = 0;
            while i < st.line.len() {
                let w = st.line[i].clone();
                if w.grant.borrow().is_some() {
                    i += 1;
                    continue;
                }
                let grant = if let Some(conn) = st.idle.get_mut(&w.key).and_then(VecDeque::pop_back)
                {
                    Some(Acquired::Idle(conn))
                } else if st.open.get(&w.key).copied().unwrap_or(0) >= self.0.limits.per_host {
                    None
                } else if st.total < self.0.limits.total {
                    Some(Acquired::New(self.slot(&mut st, &w.key)))
                } else {
                    // Held by the total cap: close an idle connection of
                    // another key to make room (its slot's release comes
                    // back here), else everyone behind waits too.
                    closing = Self::oldest_idle(&mut st);
                    break;
                };
                match grant {
                    Some(grant) => {
                        *w.grant.borrow_mut() = Some(grant);
                        st.line.remove(i);
                        if let Some(waker) = w.waker.borrow_mut().take() {
                            waker.wake();
                        }
                    }
                    None => i += 1,
                }
            }
        }
        drop(closing);
    }

    /// Takes back a connection whose answer was read whole and that may
    /// carry another request.
    pub(crate) fn put_idle(&self, mut conn: Conn) {
        conn.reused = true;
        conn.idle_since = now();
        // An idle connection holds no read buffer: it goes back to the
        // thread's pool, and the next request on it takes one.
        if conn.buf.is_empty() {
            give_buffer(std::mem::take(&mut conn.buf.data));
        }
        let arm = {
            let mut st = self.0.state.borrow_mut();
            let key = conn._slot.key.clone();
            st.idle.entry(key).or_default().push_back(conn);
            !std::mem::replace(&mut st.sweep_armed, true)
        };
        self.dispatch();
        if arm {
            self.arm_sweep();
        }
    }

    /// Closes idle connections past the idle timeout now and then, so that
    /// none is kept open long after the server gave up on it.
    fn arm_sweep(&self) {
        let pool = Rc::downgrade(&self.0);
        let every = self.0.limits.idle_timeout.max(Duration::from_millis(100));
        crate::EventLoop::current().call_later(every, move || {
            let Some(pool) = pool.upgrade() else { return };
            let pool = Pool(pool);
            let (expired, again) = {
                let mut st = pool.0.state.borrow_mut();
                let expired = pool.expire(&mut st, now());
                let again = st.idle.values().any(|q| !q.is_empty());
                st.sweep_armed = again;
                (expired, again)
            };
            drop(expired);
            if again {
                pool.arm_sweep();
            }
        });
    }

    /// Takes the idle connections past the idle timeout out (to be dropped
    /// by the caller, outside the borrow).
    fn expire(&self, st: &mut State, at: Instant) -> Vec<Conn> {
        let limit = self.0.limits.idle_timeout;
        let mut out = Vec::new();
        st.idle.retain(|_, q| {
            while q
                .front()
                .is_some_and(|c| at.saturating_duration_since(c.idle_since) >= limit)
            {
                out.extend(q.pop_front());
            }
            !q.is_empty()
        });
        out
    }

    /// The idle connection that has waited longest, taken out.
    fn oldest_idle(st: &mut State) -> Option<Conn> {
        let key = st
            .idle
            .iter()
            .filter_map(|(k, q)| q.front().map(|c| (c.idle_since, k.clone())))
            .min_by_key(|(since, _)| *since)?
            .1;
        let q = st.idle.get_mut(&key)?;
        let conn = q.pop_front();
        if q.is_empty() {
            st.idle.remove(&key);
        }
        conn
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The connections' slots point here weakly: they see the pool gone
        // and count nothing. Dropped outside any borrow of the state.
        let idle: Vec<_> = self.state.get_mut().idle.drain().collect();
        drop(idle);
    }
}
