//! The timer queue: a min-heap of deadlines (asyncio's `_scheduled`).
//!
//! Entries fire in deadline order; entries with the same deadline fire in the
//! order they were scheduled (a sequence number breaks ties). A cancelled
//! timer stays in the heap and is skipped when it comes up, as asyncio's
//! `TimerHandle.cancel` does; a sleeping task's entry carries its wait number
//! and is skipped the same way when the task was woken otherwise.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::rc::Rc;
use std::time::Instant;

use crate::event_loop::Callback;
use crate::task::TaskRef;

/// What a due timer does.
pub(crate) enum Due {
    /// Wakes a sleeping task (if it still waits with this number).
    Task(TaskRef, u32),
    /// Runs a callback (if not cancelled).
    Call(Rc<Callback>),
}

struct Entry {
    when: Instant,
    order: u64,
    due: Due,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.when, self.order) == (other.when, other.order)
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.when, other.order).cmp(&(self.when, self.order))
    }
}

/// Deadlines, earliest first.
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Entry>,
    order: u64,
}

impl Timers {
    pub(crate) fn push(&mut self, when: Instant, due: Due) {
        self.order += 1;
        self.heap.push(Entry {
            when,
            order: self.order,
            due,
        });
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|e| e.when)
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, Due)> {
        if self.heap.peek()?.when <= now {
            self.heap.pop().map(|e| (e.when, e.due))
        } else {
            None
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// The pending timers, earliest first, as the stepper prints them.
    pub(crate) fn describe(&self, start: Instant) -> Vec<String> {
        let mut entries: Vec<&Entry> = self.heap.iter().collect();
        entries.sort_by_key(|e| (e.when, e.order));
        entries
            .into_iter()
            .filter_map(|e| {
                let at = e.when.saturating_duration_since(start).as_secs_f64();
                match &e.due {
                    Due::Task(t, seq) if t.wait_seq() == *seq => {
                        Some(format!("{at:.3} s: wake task '{}' (#{})", t.name, t.id.0))
                    }
                    Due::Task(..) => None,
                    Due::Call(_) => Some(format!("{at:.3} s: a callback")),
                }
            })
            .collect()
    }

    pub(crate) fn clear(&mut self) -> Vec<Due> {
        self.heap.drain().map(|e| e.due).collect()
    }
}
