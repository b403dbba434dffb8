//! Running a loop: one iteration, until a task is done, until stopped or
//! idle, and closing it (Python's `run_until_complete`, `run_forever`,
//! `close`, and `asyncio.run`).

use std::panic::resume_unwind;
use std::rc::Rc;

use super::state::Enter;
use super::{EventLoop, Ready};
use crate::coro::Coro;
use crate::task::future::Outcome;
use crate::task::{CancelCause, Task, TaskCore, TaskEnd, TaskRef, raw};

impl EventLoop {
    /// Runs one iteration: poll, expire timers, run what is ready.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use yieldfrom::EventLoop;
    /// let lp = EventLoop::new();
    /// let ran = Rc::new(Cell::new(0));
    /// let (r, l) = (ran.clone(), lp.clone());
    /// lp.call_soon(move || {
    ///     r.set(1);
    ///     let r = r.clone();
    ///     l.call_soon(move || r.set(2)); // scheduled now: runs next iteration
    /// });
    /// lp.run_once();
    /// assert_eq!(ran.get(), 1);
    /// lp.run_once();
    /// assert_eq!(ran.get(), 2);
    /// ```
    pub fn run_once(&self) {
        let _enter = Enter::new(&self.0);
        self.0.run_once();
    }

    /// Runs `coro` as a task until it is done and returns its result
    /// (Python: `loop.run_until_complete`); a panic in it is raised here.
    ///
    /// Panics with a deadlock message if the task waits on something that
    /// nothing left in the loop can ever finish.
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::{EventLoop, Coro, sleep};
    /// let lp = EventLoop::builder().virtual_clock(true).build();
    /// let first = lp.run_until_complete(Coro::new("one", || { sleep(Duration::from_secs(1)); 1 }));
    /// // The loop is not closed: it can run again.
    /// let second = lp.run_until_complete(Coro::new("two", || 2));
    /// assert_eq!((first, second, lp.time()), (1, 2, 1.0));
    /// ```
    pub fn run_until_complete<T: 'static>(&self, coro: Coro<T>) -> T {
        let task = self.spawn(coro);
        self.run_until_done(&task);
        task.fut.take_outcome().expect("the task is done").unwrap()
    }

    fn run_until_done<T>(&self, task: &Task<T>) {
        let _enter = Enter::new(&self.0);
        while !task.done() {
            if self.0.ready.borrow().is_empty() && self.0.is_idle() {
                panic!(
                    "yieldfrom: deadlock: the event loop has nothing left to run, but task '{}' \
                     is still waiting on {}",
                    task.name(),
                    task.core
                        .state
                        .waiting_on()
                        .map_or("nothing".to_string(), |r| r.to_string())
                );
            }
            self.0.run_once();
        }
    }

    /// Runs until [`stop`](Self::stop) is called (Python: `loop.run_forever`).
    ///
    /// Where Python and yieldfrom differ: when nothing is left that could
    /// ever run (no task, timer, socket or worker job) and nobody called
    /// `stop()`, asyncio's loop would wait forever — nothing could wake it
    /// but a signal or another thread. This loop has no other thread that
    /// could call `stop()`, so it returns instead, with a warning naming the
    /// mistake; call [`run_until_idle`](Self::run_until_idle) when returning
    /// then is what you want.
    ///
    /// ```
    /// use yieldfrom::{EventLoop, warnings};
    /// let lp = EventLoop::builder().virtual_clock(true).build();
    /// let lp2 = lp.clone();
    /// lp.call_later(std::time::Duration::from_secs(5), move || lp2.stop());
    /// let ((), warned) = warnings::catch(|| lp.run_forever());
    /// assert_eq!(lp.time(), 5.0);
    /// assert!(warned.is_empty());
    /// ```
    pub fn run_forever(&self) {
        let stopped = self.run_until_stopped_or_idle();
        if !stopped {
            crate::warnings::warn(
                "yieldfrom: run_forever() returns: nothing is left that could ever run, and \
                 stop() was not called (asyncio's loop would wait forever here); use \
                 run_until_idle() if that is what you meant",
            );
        }
    }

    /// Runs until nothing is left that could ever run (no task, timer,
    /// socket or worker job), or until [`stop`](Self::stop) is called.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    /// use yieldfrom::EventLoop;
    /// let lp = EventLoop::builder().virtual_clock(true).build();
    /// let fired = Rc::new(Cell::new(0));
    /// for s in [1, 3, 2] {
    ///     let f = fired.clone();
    ///     lp.call_later(Duration::from_secs(s), move || f.set(f.get() + 1));
    /// }
    /// lp.run_until_idle();
    /// assert_eq!((fired.get(), lp.time()), (3, 3.0));
    /// ```
    pub fn run_until_idle(&self) {
        self.run_until_stopped_or_idle();
    }

    /// Whether it stopped because `stop()` was called (else: idle).
    fn run_until_stopped_or_idle(&self) -> bool {
        let _enter = Enter::new(&self.0);
        self.0.stopping.set(false);
        while !self.0.stopping.get() && !self.0.is_idle() {
            self.0.run_once();
        }
        let stopped = self.0.stopping.get();
        if stopped {
            // Python: the iteration in progress completes, then the loop stops.
            self.0.run_once();
        }
        self.0.stopping.set(false);
        stopped
    }

    /// Stops `run_forever` after the current iteration (Python: `loop.stop`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::EventLoop;
    /// let lp = EventLoop::builder().virtual_clock(true).build();
    /// let l = lp.clone();
    /// lp.call_later(Duration::from_secs(1), move || l.stop());
    /// lp.call_later(Duration::from_secs(9), || {});
    /// lp.run_forever(); // returns at 1 s, with a timer still pending
    /// assert_eq!(lp.time(), 1.0);
    /// ```
    pub fn stop(&self) {
        self.0.stopping.set(true);
    }

    /// Whether [`close`](Self::close) was called.
    ///
    /// ```
    /// use yieldfrom::EventLoop;
    /// let lp = EventLoop::new();
    /// assert!(!lp.is_closed());
    /// lp.close();
    /// assert!(lp.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.0.closed.get()
    }

    /// How many tasks are alive (not done).
    ///
    /// ```
    /// use yieldfrom::{EventLoop, Coro, yield_now};
    /// let lp = EventLoop::new();
    /// lp.spawn(Coro::new("a", yield_now));
    /// lp.spawn(Coro::new("b", || {}));
    /// assert_eq!(lp.live_tasks(), 2);
    /// lp.run_until_idle();
    /// assert_eq!(lp.live_tasks(), 0);
    /// ```
    pub fn live_tasks(&self) -> usize {
        self.0.tasks.borrow().live
    }

    /// Runs `coro` to completion, cancels whatever tasks are left and waits for
    /// them, closes the loop and returns the result (Python: `asyncio.run`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::{EventLoop, Coro, sleep, spawn};
    /// let lp = EventLoop::builder().virtual_clock(true).build();
    /// let answer = lp.run(Coro::new("main", || {
    ///     // Left running when main returns: cancelled as the loop closes.
    ///     spawn(Coro::new("forever", || sleep(Duration::from_secs(3600))));
    ///     42
    /// }));
    /// assert_eq!(answer, 42);
    /// ```
    pub fn run<T: 'static>(self, coro: Coro<T>) -> T {
        let main = self.spawn(coro);
        self.run_until_done(&main);
        let outcome = main.fut.take_outcome().expect("the main task is done");
        self.cancel_all_tasks();
        self.close();
        outcome_or_raise(outcome, &main.core)
    }

    /// Cancels every live task and runs the loop until they have finished.
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::{EventLoop, Coro, sleep};
    /// let lp = EventLoop::builder().virtual_clock(true).build();
    /// let task = lp.spawn(Coro::new("sleeper", || sleep(Duration::from_secs(60))));
    /// lp.run_once();
    /// lp.cancel_all_tasks();
    /// assert!(task.cancelled());
    /// assert_eq!(lp.live_tasks(), 0);
    /// ```
    pub fn cancel_all_tasks(&self) {
        let tasks = self.0.tasks.borrow().all();
        if tasks.is_empty() {
            return;
        }
        let _enter = Enter::new(&self.0);
        for task in &tasks {
            raw::cancel(task);
        }
        while tasks.iter().any(|t| !t.state.is_done()) && !self.0.is_idle() {
            self.0.run_once();
        }
    }

    /// Closes the loop (Python: `loop.close`): tasks still alive are
    /// cancelled and the loop runs until they have finished, so their
    /// cleanup runs as under [`Task::cancel`] (destructors run, cleanup may
    /// await); bodies never started are dropped; then pending callbacks and
    /// timers are dropped and worker threads are told to finish. Every task
    /// ends with an outcome, cancelled if it had none, so its handles do not
    /// wait for ever (Python leaves them pending; tokio's shutdown cancels
    /// them, as here). A task that will not finish (it swallows each
    /// cancellation, or its cleanup waits on something nothing can finish)
    /// is given up after three rounds: reported ("task ... was destroyed but
    /// it is pending"), ended cancelled, its stack leaked. Panics if the loop
    /// is running.
    ///
    /// ```
    /// use yieldfrom::{EventLoop, Coro};
    /// let lp = EventLoop::new();
    /// let unstarted = lp.spawn(Coro::new("never ran", || 1));
    /// lp.close();
    /// assert!(unstarted.cancelled());
    /// ```
    pub fn close(&self) {
        assert!(!self.0.running.get(), "cannot close a running event loop");
        if self.0.closed.get() {
            return;
        }
        // With this loop as the running one, so destructors that touch the
        // loop (a task handle, a queue) find it.
        let _enter = Enter::new(&self.0);
        // How many times a task may swallow the closing cancellation (it is
        // delivered again at each of its awaits) before it is given up.
        const SWALLOWS: usize = 1000;
        let mut swallowed: Vec<(TaskRef, usize)> = Vec::new();
        for _round in 0..3 {
            let tasks = self.0.tasks.borrow().all();
            if tasks.is_empty() {
                break;
            }
            for task in &tasks {
                raw::cancel(task);
            }
            while tasks.iter().any(|t| !t.state.is_done()) && !self.0.is_idle() {
                self.0.run_once();
                for task in tasks.iter().filter(|t| t.state.swallowed_cancel()) {
                    let at = swallowed
                        .iter()
                        .position(|(t, _)| std::ptr::eq(&**t, &**task));
                    let at = at.unwrap_or_else(|| {
                        swallowed.push((task.clone(), 0));
                        swallowed.len() - 1
                    });
                    swallowed[at].1 += 1;
                }
                for (task, n) in &swallowed {
                    if *n == SWALLOWS && !task.state.is_done() {
                        self.0
                            .give_up(task, "it swallowed the cancellation 1000 times");
                    }
                }
            }
        }
        self.0.closed.set(true);
        for task in self.0.tasks.borrow().all() {
            let why = format!(
                "cancelled three times, its cleanup still waits on {}",
                task.state
                    .waiting_on()
                    .map_or("nothing".to_string(), |r| r.to_string())
            );
            self.0.give_up(&task, &why);
        }
        self.0.instrument(|i, at| i.loop_closed(at));
        if let Some((out, rec)) = &self.0.trace_output {
            out.emit(rec);
        }
        let ready: Vec<Ready> = self.0.ready.borrow_mut().drain(..).collect();
        drop(ready);
        let timers = self.0.timers.borrow_mut().clear();
        drop(timers);
        self.0.threads.shutdown();
    }
}

impl Drop for EventLoop {
    /// The last handle of a loop that was not closed closes it: suspended
    /// tasks are unwound with the loop as the running one, so destructors that
    /// touch it (a lock guard waking the next waiter) work.
    fn drop(&mut self) {
        if Rc::strong_count(&self.0) == 1 && !self.0.closed.get() && !self.0.running.get() {
            self.close();
        }
    }
}

/// The main task's result; its panic raised again; its cancellation as a
/// panic saying why ("it awaited task 'x', which was cancelled", when main
/// itself was not).
fn outcome_or_raise<T>(outcome: Outcome<T>, main: &TaskCore) -> T {
    match outcome {
        Outcome::Value(v) => v,
        Outcome::Panic(p) => resume_unwind(p),
        Outcome::Cancelled => match main.end_note() {
            TaskEnd::Cancelled(CancelCause::Awaited(awaited)) => panic!(
                "the main coroutine '{}' was cancelled: it awaited task '{awaited}', which was \
                 cancelled",
                main.name
            ),
            _ => panic!("the main coroutine '{}' was cancelled", main.name),
        },
    }
}

/// Runs `coro` on a new event loop and returns its result (Python: `asyncio.run`).
///
/// Creates a loop, runs the coroutine as its main task until it is done,
/// cancels every task still alive and waits for them, closes the loop. A panic
/// in the main task is raised here.
///
/// ```
/// use yieldfrom::{run, Coro};
/// assert_eq!(run(Coro::new("main", || 6 * 7)), 42);
/// ```
pub fn run<T: 'static>(coro: Coro<T>) -> T {
    EventLoop::new().run(coro)
}
