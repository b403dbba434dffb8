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

use mio::Token;
use mio::event::Event;

pub use crate::task::suspend::Direction;
use crate::task::suspend::WakeToken;

#[derive(Default)]
pub(crate) struct Side {
    /// Whether an event came since the last `WouldBlock` cleared it.
    pub(crate) ready: bool,
    /// A stream read came back short since the last event: the kernel's
    /// buffer was empty then, and no byte has come since (it would have
    /// brought an event), so the next read can wait without trying.
    pub(crate) drained: bool,
    /// The peer closed its side (or the socket failed): a read may end the
    /// stream at any time, so a short read says nothing of what is left.
    pub(crate) hung_up: bool,
    /// Tasks waiting for this direction (usually one; all are woken).
    pub(crate) waiters: Waiters,
}

type Waiter = WakeToken;

/// The tasks waiting on one side of a source, first come first served. The
/// usual single waiter is kept inline, in the slot's own cache line: a
/// separate buffer would be one more cold line per wait and wake-up.
#[derive(Default)]
pub(crate) struct Waiters {
    /// The first waiter, inline: a side almost always has one.
    first: Option<Waiter>,
    /// Any others, in the order they came.
    more: Vec<Waiter>,
}

impl Waiters {
    pub(crate) fn push(&mut self, waiter: Waiter) {
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

    /// Takes `waiter` off the list: whether it was on it.
    pub(crate) fn remove(&mut self, waiter: &Waiter) -> bool {
        if self.first.as_ref().is_some_and(|w| w.same(waiter)) {
            self.first = None;
            return true;
        }
        let before = self.more.len();
        self.more.retain(|w| !w.same(waiter));
        self.more.len() != before
    }
}

#[derive(Default)]
struct Slot {
    /// Bumped when the slot is reused, so a stale token finds no source.
    generation: u32,
    /// Whether a source holds the slot.
    live: bool,
    /// Who waits to read, and whether the source is known readable.
    read: Side,
    /// Who waits to write, and whether the source is known writable.
    write: Side,
}

/// The per-loop table of registered sources.
#[derive(Default)]
pub(crate) struct Reactor {
    /// Sources by token (the token is the index and the generation).
    slots: RefCell<Vec<Slot>>,
    /// Slots free for the next source.
    free: RefCell<Vec<usize>>,
    /// What each named source is ("listener 127.0.0.1:8000", "PostgreSQL
    /// at ..."), by token, kept only while the loop is instrumented (the
    /// stepper and the explorer say it beside "socket 3 readable"). Beside
    /// the slots, not in them: ten thousand slots stay as small as the
    /// echo path wants them.
    labels: RefCell<std::collections::HashMap<usize, Box<str>>>,
}

/// A token's slot index and generation.
pub(crate) fn split(token: Token) -> (usize, u32) {
    (token.0 & 0xFFFF_FFFF, (token.0 >> 32) as u32)
}

impl Reactor {
    /// Takes a free slot for a new source; its token.
    pub(crate) fn open(&self) -> Token {
        let index = self.free.borrow_mut().pop().unwrap_or_else(|| {
            let mut slots = self.slots.borrow_mut();
            slots.push(Slot::default());
            slots.len() - 1
        });
        let mut slots = self.slots.borrow_mut();
        let slot = &mut slots[index];
        slot.generation = slot.generation.wrapping_add(1);
        slot.live = true;
        slot.read = Side::default();
        slot.write = Side::default();
        Token(((slot.generation as usize) << 32) | index)
    }

    /// Names what the source of `token` is (for traces).
    pub(crate) fn label(&self, token: Token, label: String) {
        let (index, generation) = split(token);
        let live = self
            .slots
            .borrow()
            .get(index)
            .is_some_and(|s| s.generation == generation && s.live);
        if live {
            self.labels.borrow_mut().insert(token.0, label.into());
        }
    }

    /// What the source in slot `index` is, if its present source was named.
    pub(crate) fn label_of(&self, index: usize) -> Option<String> {
        let slots = self.slots.borrow();
        let slot = slots.get(index).filter(|s| s.live)?;
        let token = ((slot.generation as usize) << 32) | index;
        self.labels.borrow().get(&token).map(|l| l.to_string())
    }

    /// Frees the slot of `token` (its waiters are dropped); false if it was
    /// already free.
    pub(crate) fn close(&self, token: Token) -> bool {
        let (index, generation) = split(token);
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slots
            .get_mut(index)
            .filter(|s| s.generation == generation && s.live)
        else {
            return false;
        };
        slot.live = false;
        slot.read = Side::default();
        slot.write = Side::default();
        self.free.borrow_mut().push(index);
        let mut labels = self.labels.borrow_mut();
        if !labels.is_empty() {
            labels.remove(&token.0);
        }
        true
    }

    /// Calls `f` with one side of `token`'s slot, if the slot is still its.
    pub(crate) fn with_side<R>(
        &self,
        token: Token,
        dir: Direction,
        f: impl FnOnce(&mut Side) -> R,
    ) -> Option<R> {
        let (index, generation) = split(token);
        let mut slots = self.slots.borrow_mut();
        let slot = slots
            .get_mut(index)
            .filter(|s| s.generation == generation)?;
        Some(f(match dir {
            Direction::Read => &mut slot.read,
            Direction::Write => &mut slot.write,
        }))
    }

    /// Called by the loop for every event of a batch: marks the sides ready
    /// and hands each waiter to `wake`.
    pub(crate) fn dispatch(&self, event: &Event, mut wake: impl FnMut(WakeToken)) {
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
            slot.read.drained = false;
            slot.read.hung_up |= event.is_read_closed() || event.is_error();
            slot.read.waiters.drain().for_each(&mut wake);
        }
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            slot.write.ready = true;
            slot.write.waiters.drain().for_each(&mut wake);
        }
    }
}
