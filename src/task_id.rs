//! What names a task and how it ended: the words every layer above uses
//! about tasks (traces, the stepper, the suspend reasons), with no behaviour.

use std::fmt;

/// A task's number, unique within its loop, in order of creation (so a
/// replayed program numbers its tasks the same way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub(crate) u64);

impl TaskId {
    /// The number: 1 for the loop's first task, then in order of spawning.
    ///
    /// ```
    /// use yieldfrom::{run, spawn, Coro};
    /// let (a, b) = run(Coro::new("main", || {
    ///     let t = spawn(Coro::new("t", || ()));
    ///     (yieldfrom::Task::id(&t).get(), t.id().get())
    /// }));
    /// assert_eq!((a, b), (2, 2)); // main is #1
    /// ```
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// How a task ended (what traces, timelines and the stepper say).
///
/// ```
/// use yieldfrom::{EventLoop, Coro, TaskEnd, trace::{Recorder, StepEnd, EventKind}};
/// let rec = Recorder::new();
/// let lp = EventLoop::builder().instrument(rec.clone()).build();
/// lp.run(Coro::new("main", || 42));
/// let ends: Vec<TaskEnd> = rec.events().into_iter().filter_map(|e| match e.kind {
///     EventKind::End(StepEnd::Done(end)) => Some(end),
///     _ => None,
/// }).collect();
/// assert_eq!(ends, [TaskEnd::Returned]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskEnd {
    /// Its body returned a value.
    Returned,
    /// Its body panicked, with this message.
    Panicked(String),
    /// It was cancelled.
    Cancelled(CancelCause),
}

/// Why a task ended cancelled.
///
/// ```
/// use yieldfrom::{run, spawn, yield_from, yield_now, Coro, CancelCause, TaskEnd};
/// assert_eq!(TaskEnd::Cancelled(CancelCause::Requested).to_string(), "cancelled");
/// assert_eq!(
///     TaskEnd::Cancelled(CancelCause::Awaited("fetch")).to_string(),
///     "cancelled: it awaited task 'fetch', which was cancelled"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelCause {
    /// [`Task::cancel`](crate::Task::cancel) (or a timeout, a task group) asked it to stop.
    Requested,
    /// It awaited this task, which was cancelled, and did not catch that.
    Awaited(&'static str),
    /// Its loop closed before it started, or gave up on it.
    LoopClosed,
}

impl fmt::Display for TaskEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskEnd::Returned => f.write_str("returned"),
            TaskEnd::Panicked(message) => write!(f, "panicked: {message}"),
            TaskEnd::Cancelled(CancelCause::Requested) => f.write_str("cancelled"),
            TaskEnd::Cancelled(CancelCause::Awaited(name)) => {
                write!(
                    f,
                    "cancelled: it awaited task '{name}', which was cancelled"
                )
            }
            TaskEnd::Cancelled(CancelCause::LoopClosed) => {
                f.write_str("cancelled: the loop closed")
            }
        }
    }
}

/// What the loop tells an [`Instrument`](crate::trace::Instrument) about a task.
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::{EventLoop, Coro, trace::{Instrument, TaskInfo}};
/// /// Counts the steps of each task.
/// #[derive(Default)]
/// struct Steps(Vec<&'static str>);
/// impl Instrument for Steps {
///     fn before_step(&mut self, _at: Duration, task: TaskInfo) {
///         self.0.push(task.name);
///     }
/// }
/// let lp = EventLoop::builder().instrument(Steps::default()).build();
/// assert_eq!(lp.run(Coro::new("main", || 1)), 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    /// The task's id.
    pub id: TaskId,
    /// Its coroutine's name.
    pub name: &'static str,
}
