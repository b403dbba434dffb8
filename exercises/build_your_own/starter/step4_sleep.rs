//! STARTER — fill in the `todo!()`s, then run
//! `YIELDFROM_LEARNER=1 cargo test --test build_your_own`.
//!
//! Step 4 — a homemade `sleep`, from a Future and `call_later`.
//!
//! Put steps 1 and 2 together: generator tasks on the callback loop. A task
//! that wants to sleep makes a `Future` (a slot for a result, plus the
//! callbacks to run when it is set), asks the loop to set it later
//! (`call_later`), and yields the future. The scheduler then parks the task
//! on it: when the future is set, its callback puts the task back on the
//! ready queue. That is asyncio's `sleep` exactly.

use std::cell::RefCell;
use std::rc::Rc;

use super::step1_callbacks::{Callback, Loop};
use yieldfrom::{Generator, GeneratorState};

/// A result slot and who to tell when it is set (asyncio's `Future`).
#[derive(Default)]
pub struct Future {
    done: RefCell<bool>,
    callbacks: RefCell<Vec<Callback>>,
}

impl Future {
    /// A pending future.
    pub fn new() -> Rc<Future> {
        Rc::new(Future::default())
    }

    /// Sets it, and schedules every callback on the loop.
    pub fn set(&self, lp: &Loop) {
        *self.done.borrow_mut() = true;
        for callback in self.callbacks.borrow_mut().drain(..) {
            lp.call_soon(callback);
        }
    }

    /// Runs `f` once it is set (at once, on the next turn, if it is).
    pub fn add_done_callback(&self, lp: &Loop, f: impl FnOnce(&Loop) + 'static) {
        if *self.done.borrow() {
            lp.call_soon(f);
        } else {
            self.callbacks.borrow_mut().push(Box::new(f));
        }
    }
}

/// A task yields the future it waits on.
pub type Task = Generator<Rc<Future>, (), ()>;

/// What a task yields to sleep for `delay` seconds: a future that the loop
/// sets when the time is up.
pub fn sleep(lp: &Loop, delay: f64) -> Rc<Future> {
    todo!("step 4: make a Future, and call_later(delay) a callback that sets it; return the future")
}

/// Resumes `task`; if it yielded a future, parks it there: the future's
/// callback resumes it again.
pub fn resume(lp: &Loop, task: Rc<Task>) {
    todo!(
        "step 4: send () to the task; if it yielded a future, add a done callback to the future that resumes the task again"
    )
}

/// Starts each task on the loop (its first step on the next turn).
pub fn spawn(lp: &Loop, task: Task) {
    let task = Rc::new(task);
    lp.call_soon(move |lp| resume(lp, task));
}
