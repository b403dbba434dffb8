//! What the loop tells an observer: the [`Instrument`] hooks it calls at
//! each decision, and the [`Snapshot`] of its queues a stepper shows.

use std::time::{Duration, Instant};

use super::event::{StepEnd, WakeCause};
use crate::task_id::TaskInfo;

/// The loop's queues at one moment (what the stepper prints).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The ready queue, front first.
    pub ready: Vec<String>,
    /// Pending timers, earliest first.
    pub timers: Vec<String>,
    /// Tasks parked, with what they wait on.
    pub waiting: Vec<String>,
    /// For each entry of `waiting`, where its task waits: the program's
    /// own call sites, outermost first ("function (file:line)"); empty
    /// unless the loop records them (`YIELDFROM_TRACE=explore` does).
    pub call_sites: Vec<Vec<String>>,
}

/// Hooks the loop calls at each decision (all default to doing nothing).
///
/// Times are the loop's clock, from the loop's creation.
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// use yieldfrom::{EventLoop, Coro, trace::{Instrument, StepEnd, TaskInfo}};
/// /// Counts the steps that ended in a pause.
/// struct Pauses(Rc<Cell<u32>>);
/// impl Instrument for Pauses {
///     fn after_step(&mut self, _at: Duration, _task: TaskInfo, end: &StepEnd) {
///         if matches!(end, StepEnd::Suspended(_)) {
///             self.0.set(self.0.get() + 1);
///         }
///     }
/// }
/// let pauses = Rc::new(Cell::new(0));
/// let lp = EventLoop::builder().instrument(Pauses(pauses.clone())).build();
/// lp.run(Coro::new("main", || { yieldfrom::yield_now(); yieldfrom::yield_now(); }));
/// assert_eq!(pauses.get(), 2);
/// ```
pub trait Instrument {
    /// The loop was made, its clock started at `start`: the times given to
    /// the other hooks count from it, and a sleep's `until` less `start` is
    /// its deadline on the same axis.
    fn clock_started(&mut self, _start: Instant) {}
    /// A task was created and scheduled.
    fn task_spawned(&mut self, _at: Duration, _task: TaskInfo) {}
    /// `task` was made ready, for `cause` (it runs on a later step).
    fn task_woken(&mut self, _at: Duration, _task: TaskInfo, _cause: &WakeCause) {}
    /// A step of `task` is about to run.
    fn before_step(&mut self, _at: Duration, _task: TaskInfo) {}
    /// A step of `task` ended.
    fn after_step(&mut self, _at: Duration, _task: TaskInfo, _end: &StepEnd) {}
    /// A callback (`call_soon`, a timer, a done callback) is about to run;
    /// `name` is its name (a closure's is the path where it was written).
    fn callback(&mut self, _at: Duration, _name: &'static str) {}
    /// The loop is about to wait for I/O, for at most `timeout`.
    fn waiting_for_io(&mut self, _at: Duration, _timeout: Option<Duration>) {}
    /// The loop has nothing ready and is about to wait: for the next timer
    /// (`timeout`, on the real or the virtual clock), for I/O or a worker
    /// thread, or both (`timeout` `None`: no timer). Called whether or not
    /// the loop polls, unlike [`waiting_for_io`](Self::waiting_for_io).
    fn idle(&mut self, _at: Duration, _timeout: Option<Duration>) {}
    /// A callback ran (after [`callback`](Self::callback)); a stepper shows
    /// the loop's queues here as after a task's step.
    fn after_callback(&mut self, _at: Duration) {}
    /// A source became ready.
    fn io_ready(&mut self, _at: Duration, _token: usize) {}
    /// The loop is closing.
    fn loop_closed(&mut self, _at: Duration) {}
    /// Whether [`show`](Self::show) should be called after each step (the
    /// snapshot costs a walk over the loop's queues).
    fn wants_snapshot(&self) -> bool {
        false
    }
    /// The loop's queues after a step (for a stepper).
    fn show(&mut self, _snapshot: &Snapshot) {}
}
