//! The reactor: which task waits for which file descriptor.
//!
//! Every I/O object registers its `mio` source once, for both directions,
//! edge-triggered. The reactor keeps, per source, a *readiness flag* per
//! direction and the task (at most one) waiting for it. The contract, as mio
//! states it:
//!
//! - an event sets the flag and wakes the waiting task;
//! - an operation that returns `WouldBlock` clears the flag, then waits;
//!   since events are only read by the loop, and the loop does not run while
//!   the task does, no edge can slip between the failed operation and the
//!   wait (no lost wake-up);
//! - a wake is only a hint: the task retries the operation, and waits again
//!   on `WouldBlock` (events can be spurious).
//!
//! Tokens carry a generation in their high bits, so an event for a source
//! that was closed and whose slot was reused within one batch of events is
//! recognised as stale and dropped.

use std::cell::RefCell;
use std::io;
use std::rc::{Rc, Weak};

use mio::event::{Event, Source};
use mio::{Interest, Registry, Token};

use crate::event_loop::{self, Core, with_loop};
use crate::suspend::{self, Suspend, Wake};
use crate::task::TaskRef;

pub use crate::suspend::Direction;

#[derive(Default)]
struct Side {
    ready: bool,
    /// Tasks waiting for this direction (usually one; all are woken).
    waiters: Waiters,
}

type Waiter = (TaskRef, u32);

/// The tasks waiting on one side of a source, first come first served. The
/// usual single waiter is kept inline, in the slot's own cache line: with
/// 10,000 connections a separate buffer per side is one more cold line to
/// fetch on every wait and every wake-up.
#[derive(Default)]
struct Waiters {
    first: Option<Waiter>,
    more: Vec<Waiter>,
}

impl Waiters {
    fn push(&mut self, waiter: Waiter) {
        if self.first.is_none() && self.more.is_empty() {
            self.first = Some(waiter);
        } else {
            self.more.push(waiter);
        }
    }

    /// Takes every waiter, in the order they came.
    fn drain(&mut self) -> impl Iterator<Item = Waiter> + '_ {
        self.first.take().into_iter().chain(self.more.drain(..))
    }

    fn retain(&mut self, mut keep: impl FnMut(&Waiter) -> bool) {
        if self.first.as_ref().is_some_and(|w| !keep(w)) {
            self.first = None;
        }
        self.more.retain(keep);
    }
}

#[derive(Default)]
struct Slot {
    generation: u32,
    live: bool,
    read: Side,
    write: Side,
}

/// The per-loop table of registered sources.
#[derive(Default)]
pub(crate) struct Reactor {
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<usize>>,
}

fn split(token: Token) -> (usize, u32) {
    (token.0 & 0xFFFF_FFFF, (token.0 >> 32) as u32)
}

impl Reactor {
    /// Called by the loop for every event of a batch.
    pub(crate) fn dispatch(&self, event: &Event) {
        let (index, generation) = split(event.token());
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slots.get_mut(index) else {
            return;
        };
        if !slot.live || slot.generation != generation {
            return; // stale: the source was closed
        }
        // Waking only touches the ready queue, never these slots, so it is
        // done in place: no allocation per event.
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            slot.read.ready = true;
            for (task, seq) in slot.read.waiters.drain() {
                event_loop::wake(&task, seq, Wake::Run);
            }
        }
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            slot.write.ready = true;
            for (task, seq) in slot.write.waiters.drain() {
                event_loop::wake(&task, seq, Wake::Run);
            }
        }
    }
}

/// A source registered with the running loop's reactor; deregisters on drop.
///
/// It belongs to that loop: every operation and the final deregistration go
/// to it, whichever loop (or none) is running, and a task of another loop
/// that tries to wait on it gets an error. It is neither `Send` nor `Sync`
/// (the loop's poller and slots live on the loop's thread), so neither is
/// any socket built on it (a `compile_fail` doc test in the crate docs).
pub(crate) struct Registration {
    token: Token,
    /// The loop whose poller and reactor hold the source.
    lp: Weak<Core>,
}

impl Registration {
    /// Registers `source` for reading and writing with the running loop.
    pub(crate) fn new(source: &mut impl Source) -> io::Result<Registration> {
        with_loop("I/O", |core| {
            let index = core.reactor.free.borrow_mut().pop().unwrap_or_else(|| {
                let mut slots = core.reactor.slots.borrow_mut();
                slots.push(Slot::default());
                slots.len() - 1
            });
            let generation = {
                let mut slots = core.reactor.slots.borrow_mut();
                let slot = &mut slots[index];
                slot.generation = slot.generation.wrapping_add(1);
                slot.live = true;
                slot.read = Side::default();
                slot.write = Side::default();
                slot.generation
            };
            let token = Token(((generation as usize) << 32) | index);
            let registered = core.with_registry(|registry: &Registry| {
                registry.register(source, token, Interest::READABLE | Interest::WRITABLE)
            });
            if let Err(e) = registered {
                core.reactor.slots.borrow_mut()[index].live = false;
                core.reactor.free.borrow_mut().push(index);
                return Err(e);
            }
            core.io_sources.set(core.io_sources.get() + 1);
            Ok(Registration {
                token,
                lp: Rc::downgrade(core),
            })
        })
    }

    /// The token (shown in traces as the socket's number).
    pub(crate) fn token(&self) -> usize {
        split(self.token).0
    }

    /// Deregisters `source` from the loop's poller; call before the source is
    /// closed (the slot itself is freed when the registration is dropped).
    pub(crate) fn deregister(&self, source: &mut impl Source) {
        if let Some(core) = self.lp.upgrade() {
            core.with_registry(|registry| {
                let _ = registry.deregister(source);
            })
        }
    }

    fn with_side<R>(&self, dir: Direction, f: impl FnOnce(&mut Side) -> R) -> Option<R> {
        let core = self.lp.upgrade()?;
        let (index, generation) = split(self.token);
        let mut slots = core.reactor.slots.borrow_mut();
        let slot = slots
            .get_mut(index)
            .filter(|s| s.generation == generation)?;
        Some(f(match dir {
            Direction::Read => &mut slot.read,
            Direction::Write => &mut slot.write,
        }))
    }

    /// Runs `op` until it does not return `WouldBlock`, suspending the task
    /// for readiness in between (smol's `read_with`/`write_with` idiom).
    pub(crate) fn io<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.park(dir)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    /// Suspends until an event for `dir` arrives (returns at once if one
    /// arrived since the flag was last cleared).
    pub(crate) fn wait(&self, dir: Direction) -> io::Result<()> {
        let ready = self.with_side(dir, |side| side.ready).ok_or_else(gone)?;
        if ready {
            return Ok(());
        }
        self.park(dir)
    }

    /// Clears the readiness flag and waits for the next edge. After a
    /// `WouldBlock` no edge can be pending: events are only read by the loop,
    /// which does not run while this task does.
    fn park(&self, dir: Direction) -> io::Result<()> {
        let (waiter, me, ours) = suspend::with_current("socket I/O", |t| {
            (
                (t.rc(), t.wait_seq()),
                t as *const _,
                Weak::ptr_eq(&t.lp, &self.lp),
            )
        });
        if !ours {
            return Err(foreign());
        }
        let seq = waiter.1;
        self.with_side(dir, move |side| {
            side.ready = false;
            side.waiters.push(waiter);
        })
        .ok_or_else(gone)?;
        let reason = Suspend::Io {
            token: self.token(),
            direction: dir,
        };
        if suspend::suspend(reason) == Wake::Cancel {
            // Leave no stale waiter behind, then raise. (A wake by the reactor
            // has already drained the list.)
            self.with_side(dir, |side| {
                side.waiters
                    .retain(|(t, s)| !(std::ptr::eq(&**t, me) && *s == seq))
            });
            suspend::raise_cancelled();
        }
        Ok(())
    }
}

fn gone() -> io::Error {
    io::Error::other("the event loop this socket belongs to is gone")
}

#[cold]
fn foreign() -> io::Error {
    io::Error::other(
        "this socket belongs to a different event loop than the task using it: \
         use it from a task of the loop that was running when it was made",
    )
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(core) = self.lp.upgrade() {
            let (index, generation) = split(self.token);
            let mut slots = core.reactor.slots.borrow_mut();
            if let Some(slot) = slots
                .get_mut(index)
                .filter(|s| s.generation == generation && s.live)
            {
                slot.live = false;
                slot.read = Side::default();
                slot.write = Side::default();
                core.reactor.free.borrow_mut().push(index);
                core.io_sources.set(core.io_sources.get() - 1);
            }
        }
    }
}

opaque_debug!(Registration);
