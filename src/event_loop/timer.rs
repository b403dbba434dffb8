//! The timer queue: a min-heap of deadlines (asyncio's `_scheduled`).
//!
//! Entries fire in deadline order; entries with the same deadline fire in the
//! order they were scheduled (a sequence number breaks ties). A cancelled
//! timer stays in the heap and is skipped when it comes up, as asyncio's
//! `TimerHandle.cancel` does; a sleeping task's entry carries its wait number
//! and is skipped the same way when the task was woken otherwise.
//!
//! Dead entries never pile up: whenever the heap has doubled since it was
//! last swept, the next push sweeps it (an O(n) pass paid for by the n/2
//! pushes before it), so at most about half of it is ever dead, as asyncio
//! keeps it by compacting once more than half of its handles are cancelled.
//! And the loop never waits for a dead entry: [`Timers::next_deadline`] drops
//! dead entries from the top first, so a loop whose only timers are dead is
//! idle, not asleep.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::event_loop::ready::Callback;
use crate::task::raw::TaskRef;

/// What a due timer does.
pub(crate) enum Due {
    /// Ends a task's wait at its deadline, if it still waits with this
    /// number: a sleep ends, a socket wait reports that its time ran out.
    /// No callback and no cancellation, so a timed wait costs one heap
    /// entry. The loop files these itself, from the deadline that crossed
    /// the switch with the wait.
    Wake(TaskRef, u32),
    /// Runs a callback (if not cancelled).
    Call(Rc<Callback>),
}

/// What a timer heap holds: something to do at a deadline, which can tell
/// whether doing it would still matter (a cancelled callback, a task woken
/// otherwise, a dropped sleep: dead entries are skipped and swept out).
pub(crate) trait Pending {
    /// Whether firing it would still do anything.
    fn live(&self) -> bool;
    /// What the stepper prints for it, if it is live.
    fn describe(&self) -> Option<String>;
}

struct Entry<D> {
    /// When it is due.
    when: Instant,
    /// The order it was filed in: equal deadlines keep it.
    order: u64,
    /// What to do then (wake a wait, run a callback).
    due: D,
}

impl<D> PartialEq for Entry<D> {
    fn eq(&self, other: &Self) -> bool {
        (self.when, self.order) == (other.when, other.order)
    }
}

impl<D> Eq for Entry<D> {}

impl<D> PartialOrd for Entry<D> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<D> Ord for Entry<D> {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.when, other.order).cmp(&(self.when, self.order))
    }
}

/// A delay as long as this, or longer, means "never" (about 30 years): an
/// `Instant` cannot hold `now + Duration::MAX`.
const NEVER: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// `now + delay`, saturated: a delay too large to add is "never".
pub(crate) fn deadline(now: Instant, delay: Duration) -> Instant {
    // 30 years past any instant a monotonic clock reads fit in an `Instant`
    // (Linux keeps seconds in an i64); `now` itself only if that ever fails.
    now.checked_add(delay.min(NEVER)).unwrap_or(now)
}

impl Pending for Due {
    fn live(&self) -> bool {
        match self {
            Due::Wake(task, seq) => task.state.waits_in(*seq),
            Due::Call(cb) => !cb.is_cancelled(),
        }
    }

    fn describe(&self) -> Option<String> {
        match self {
            Due::Wake(t, seq) if t.wait_seq() == *seq => match t.state.waiting_on() {
                Some(crate::Suspend::Sleep { .. }) => {
                    Some(format!("wake task '{}' (#{})", t.name, t.id.0))
                }
                _ => Some(format!("end the wait of task '{}' (#{})", t.name, t.id.0)),
            },
            Due::Wake(..) => None,
            Due::Call(cb) => Some(cb.describe()),
        }
    }
}

/// No sweep below this many entries (a sweep of a small heap is not worth it).
const MIN_SWEEP: usize = 1024;

/// Deadlines, earliest first (the stackful loop's entries are [`Due`]s; the
/// stackless twin keeps wakers in the same heap).
pub(crate) struct Timers<D = Due> {
    /// The entries, the earliest on top.
    heap: BinaryHeap<Entry<D>>,
    /// The next entry's filing number.
    order: u64,
    /// The heap's length at which the next push sweeps out dead entries.
    sweep_at: usize,
}

impl<D> Default for Timers<D> {
    fn default() -> Timers<D> {
        Timers {
            heap: BinaryHeap::new(),
            order: 0,
            sweep_at: MIN_SWEEP,
        }
    }
}

impl<D: Pending> Timers<D> {
    pub(crate) fn push(&mut self, when: Instant, due: D) {
        if self.heap.len() >= self.sweep_at {
            self.sweep();
        }
        self.order += 1;
        self.heap.push(Entry {
            when,
            order: self.order,
            due,
        });
    }

    /// Drops every dead entry; the next sweep comes when the heap has doubled.
    #[cold]
    fn sweep(&mut self) {
        self.heap.retain(|e| e.due.live());
        self.sweep_at = (self.heap.len() * 2).max(MIN_SWEEP);
    }

    /// The earliest deadline of a live entry (dead ones on top are dropped).
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(top) = self.heap.peek() {
            if top.due.live() {
                return Some(top.when);
            }
            self.heap.pop();
        }
        None
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, D)> {
        if self.heap.peek()?.when <= now {
            self.heap.pop().map(|e| (e.when, e.due))
        } else {
            None
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// The pending timers, earliest first, as the stepper prints them; one
    /// whose time has passed (`now`) says by how much it is overdue.
    pub(crate) fn describe(&self, start: Instant, now: Instant) -> Vec<String> {
        let mut entries: Vec<&Entry<D>> = self.heap.iter().collect();
        entries.sort_by_key(|e| (e.when, e.order));
        entries
            .into_iter()
            .filter_map(|e| {
                let at = e.when.saturating_duration_since(start).as_secs_f64();
                let late = now.saturating_duration_since(e.when);
                let note = if late.is_zero() {
                    String::new()
                } else {
                    format!(" (overdue by {:.3} s)", late.as_secs_f64())
                };
                e.due
                    .describe()
                    .map(|what| format!("{at:.3} s{note}: {what}"))
            })
            .collect()
    }

    pub(crate) fn clear(&mut self) -> Vec<D> {
        self.heap.drain().map(|e| e.due).collect()
    }
}
