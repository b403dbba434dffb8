//! STARTER — fill in the `todo!()`s, then run
//! `YIELDFROM_LEARNER=1 cargo test --test build_your_own`.
//!
//! Step 1 — an event loop of callbacks: `call_soon`, `call_later`, a clock.
//!
//! Before generators, asynchronous code was callbacks: "when this is done,
//! call that". The loop is two queues — callbacks ready to run, and timers
//! ordered by deadline — and a clock. This one keeps virtual time: when
//! nothing is ready, it jumps to the next deadline instead of sleeping.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// A callback: it gets the loop, to schedule more.
pub type Callback = Box<dyn FnOnce(&Loop)>;

/// A timer: due at `at`; `order` keeps equal deadlines first-come first-served.
struct Timer {
    at: f64,
    order: u64,
    callback: Callback,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timer {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.at
            .total_cmp(&other.at)
            .then(self.order.cmp(&other.order))
    }
}

/// The loop: ready callbacks, timers, and a virtual clock in seconds.
#[derive(Default)]
pub struct Loop {
    now: Cell<f64>,
    ready: RefCell<VecDeque<Callback>>,
    timers: RefCell<BinaryHeap<Reverse<Timer>>>,
    scheduled: Cell<u64>,
}

impl Loop {
    /// An empty loop at time 0.
    pub fn new() -> Loop {
        Loop::default()
    }

    /// The loop's time, in seconds.
    pub fn time(&self) -> f64 {
        self.now.get()
    }

    /// Runs `f` on the next turn of the loop.
    pub fn call_soon(&self, f: impl FnOnce(&Loop) + 'static) {
        self.ready.borrow_mut().push_back(Box::new(f));
    }

    /// Runs `f` once `delay` seconds have passed.
    pub fn call_later(&self, delay: f64, f: impl FnOnce(&Loop) + 'static) {
        let order = self.scheduled.get();
        self.scheduled.set(order + 1);
        self.timers.borrow_mut().push(Reverse(Timer {
            at: self.now.get() + delay,
            order,
            callback: Box::new(f),
        }));
    }

    /// Runs until nothing is ready and no timer is left.
    pub fn run(&self) {
        todo!(
            "step 1: pop the next ready callback and call it; when none is ready, pop the earliest timer, move the clock to its deadline and make its callback ready; stop when both are empty"
        )
    }
}
