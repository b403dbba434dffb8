//! [`Task`]: the handle to a running coroutine (Python's `asyncio.Task`):
//! its name and state, cancelling it, and waiting for its outcome.

use std::fmt;

use super::future::{Future, Outcome};
use super::raw::{self, TaskRef};
use super::suspend::{self, Suspend};
use crate::task_id::TaskId;

/// A handle to a running coroutine (Python's `asyncio.Task`); await it with
/// [`yield_from`](crate::yield_from) for its result.
///
/// Dropping the handle does not stop the task.
///
/// ```
/// use yieldfrom::{run, spawn, yield_from, Coro};
/// let total = run(Coro::new("main", || {
///     let a = spawn(Coro::new("a", || 20));
///     let b = spawn(Coro::new("b", || 22));
///     assert_eq!((a.name(), a.done()), ("a", false)); // not started yet
///     yield_from(a) + yield_from(b)
/// }));
/// assert_eq!(total, 42);
/// ```
pub struct Task<T> {
    /// The record the loop schedules.
    pub(crate) core: TaskRef,
    /// The result, shared with the task.
    pub(crate) fut: Future<T>,
}

impl<T> Task<T> {
    /// The task's id.
    ///
    /// ```
    /// use yieldfrom::{run, spawn, Coro};
    /// run(Coro::new("main", || {
    ///     let (a, b) = (spawn(Coro::new("a", || {})), spawn(Coro::new("b", || {})));
    ///     assert_ne!(a.id(), b.id());
    /// }));
    /// ```
    pub fn id(&self) -> TaskId {
        self.core.id
    }

    /// The coroutine's name (Python: `get_name()`).
    ///
    /// ```
    /// use yieldfrom::{run, spawn, Coro};
    /// run(Coro::new("main", || assert_eq!(spawn(Coro::new("fetch users", || {})).name(), "fetch users")));
    /// ```
    pub fn name(&self) -> &'static str {
        self.core.name
    }

    /// Whether the task has finished (value, panic or cancelled).
    ///
    /// ```
    /// use yieldfrom::{run, spawn, yield_now, Coro};
    /// run(Coro::new("main", || {
    ///     let t = spawn(Coro::new("quick", || {}));
    ///     assert!(!t.done()); // not started yet
    ///     yield_now();
    ///     assert!(t.done());
    /// }));
    /// ```
    pub fn done(&self) -> bool {
        self.fut.done()
    }

    /// Whether the task ended cancelled.
    ///
    /// ```
    /// use yieldfrom::{run, spawn, yield_now, Coro};
    /// run(Coro::new("main", || {
    ///     let t = spawn(Coro::new("doomed", yield_now));
    ///     t.cancel();
    ///     yield_now();
    ///     assert!(t.cancelled());
    /// }));
    /// ```
    pub fn cancelled(&self) -> bool {
        self.fut.cancelled()
    }

    /// Asks the task to stop (Python: `Task.cancel()`).
    ///
    /// [`Cancelled`](crate::Cancelled) is raised at the await point where the
    /// task is suspended (or at its next one, or before its first step if it
    /// has not started). The task may catch it and go on. Returns false, and
    /// does nothing, if the task is already done.
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::{run, spawn, sleep, yield_now, Coro, Outcome};
    /// run(Coro::new("main", || {
    ///     let t = spawn(Coro::new("sleeper", || sleep(Duration::from_secs(3600))));
    ///     yield_now(); // it starts, and sleeps
    ///     assert!(t.cancel());
    ///     assert!(matches!(t.join_outcome(), Outcome::Cancelled));
    /// }));
    /// ```
    pub fn cancel(&self) -> bool {
        if self.done() {
            return false;
        }
        raw::cancel(&self.core);
        true
    }

    /// How many cancellations of the task are requested and not withdrawn
    /// (Python: `Task.cancelling()`): [`cancel`](Self::cancel) adds one,
    /// [`uncancel`](Self::uncancel) takes one back. A timeout or a task
    /// group that cancels a task to stop its own work withdraws its request
    /// when done, so a non-zero count afterwards means someone else asked.
    ///
    /// ```
    /// use yieldfrom::{run, spawn, sleep, Coro};
    /// use std::time::Duration;
    /// run(Coro::new("main", || {
    ///     let t = spawn(Coro::new("t", || sleep(Duration::from_secs(60))));
    ///     assert_eq!(t.cancelling(), 0);
    ///     t.cancel();
    ///     assert_eq!(t.cancelling(), 1);
    ///     assert_eq!(t.uncancel(), 0); // withdrawn before it was delivered
    ///     t.cancel();
    ///     assert!(matches!(t.join_outcome(), yieldfrom::Outcome::Cancelled));
    /// }));
    /// ```
    pub fn cancelling(&self) -> u32 {
        self.core.state.cancelling().into()
    }

    /// Withdraws one cancellation request (Python: `Task.uncancel()`);
    /// returns how many are left. When none is left, a request the task has
    /// not yet met at an await point is dropped; one it has met was raised
    /// already (catching it is the task's business).
    ///
    /// ```
    /// use yieldfrom::{run, spawn, yield_now, Coro};
    /// run(Coro::new("main", || {
    ///     let t = spawn(Coro::new("t", || { yield_now(); "finished" }));
    ///     t.cancel();
    ///     assert_eq!(t.uncancel(), 0); // withdrawn before the task met it
    ///     assert_eq!(t.join(), "finished");
    /// }));
    /// ```
    pub fn uncancel(&self) -> u32 {
        raw::uncancel(&self.core).into()
    }

    /// Calls `f` on a later loop iteration once the task is done.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use yieldfrom::{run, spawn, yield_now, Coro};
    /// let heard = Rc::new(Cell::new(false));
    /// let h = heard.clone();
    /// run(Coro::new("main", move || {
    ///     let t = spawn(Coro::new("w", || {}));
    ///     t.add_done_callback(move || h.set(true));
    ///     yield_now(); // the task runs
    ///     yield_now(); // its callback runs
    /// }));
    /// assert!(heard.get());
    /// ```
    pub fn add_done_callback(&self, f: impl FnOnce() + 'static) {
        self.fut.add_done_callback(f);
    }

    /// The task's result future (shared with the task), to read, await or
    /// watch: `done`, `result`, `add_done_callback`, `yield_from(&fut)`.
    ///
    /// Only the task ends it: [`Future::set_result`] and
    /// [`Future::set_exception`] on it panic, and [`Future::cancel`] asks the
    /// task to stop, as [`Task::cancel`] does.
    ///
    /// ```
    /// use yieldfrom::{run, spawn, yield_from, Coro};
    ///
    /// let answer = run(Coro::new("main", || {
    ///     let task = spawn(Coro::new("worker", || 42));
    ///     let fut = task.future().clone();
    ///     yield_from(&fut)
    /// }));
    /// assert_eq!(answer, 42);
    /// ```
    pub fn future(&self) -> &Future<T> {
        &self.fut
    }

    /// The failure if the task panicked (Python: `Task.exception()`), and
    /// marks it retrieved; `None` while it runs, after a value, or when
    /// cancelled.
    ///
    /// ```
    /// use yieldfrom::{run, spawn, yield_now, Coro};
    /// let message = run(Coro::new("main", || {
    ///     let task = spawn(Coro::new("doomed", || -> u32 { panic!("out of coffee") }));
    ///     yield_now(); // it runs, and fails
    ///     task.exception().map(|e| e.to_string())
    /// }));
    /// assert_eq!(message.as_deref(), Some("out of coffee"));
    /// ```
    pub fn exception(&self) -> Option<crate::task::future::Exception> {
        self.fut.exception()
    }

    /// Waits for the task and returns its outcome without re-raising it.
    ///
    /// ```
    /// use yieldfrom::{run, spawn, Coro, Outcome};
    /// let outcome = run(Coro::new("main", || {
    ///     spawn(Coro::new("fails", || -> u8 { panic!("boom") })).join_outcome()
    /// }));
    /// assert!(matches!(outcome, Outcome::Panic(_))); // not raised: handed over
    /// ```
    #[track_caller]
    pub fn join_outcome(self) -> Outcome<T> {
        self.wait_outcome(false)
    }

    /// Waits for the task; a cancellation of the waiting task is passed on
    /// to it (Python: cancelling a task that awaits another cancels that one
    /// too, and the awaiter gets whatever the awaited one ends with), or,
    /// `shielded`, raised in the waiter at once while the task runs on.
    #[track_caller]
    pub(crate) fn wait_outcome(self, shielded: bool) -> Outcome<T> {
        let (core, fut) = (self.core.clone(), self.fut.clone());
        fut.wait(
            || Suspend::Task {
                id: core.id,
                name: core.name,
            },
            || {
                if shielded {
                    suspend::raise_cancelled();
                }
                self.cancel();
            },
        );
        fut.take_outcome()
            .expect("the outcome of an awaited task is taken once")
    }

    /// Waits for the task and returns its result; a panic or a cancellation
    /// of the task is raised here. This is what `yield_from(task)` does.
    ///
    /// ```
    /// use yieldfrom::{run, spawn, Coro};
    /// assert_eq!(run(Coro::new("main", || spawn(Coro::new("w", || 2 + 2)).join())), 4);
    /// ```
    #[track_caller]
    pub fn join(self) -> T {
        let name = self.core.name;
        match self.join_outcome() {
            Outcome::Cancelled => suspend::raise_awaited_cancelled(name),
            outcome => outcome.unwrap(),
        }
    }
}

/// Awaits `task` so that a cancellation of the waiting task does not reach
/// it (Python: `asyncio.shield`): the waiter gets `Cancelled` at once, and
/// the task runs on to its end. Spawn a coroutine to shield it
/// (`shield(spawn(coro))`); keep a clone of its [`future`](Task::future) to
/// read its result after the waiter was cancelled.
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::{EventLoop, Coro, Elapsed, shield, sleep, spawn, timeout};
/// let lp = EventLoop::builder().virtual_clock(true).build();
/// let (waited, saved) = lp.run(Coro::new("main", || {
///     let save = spawn(Coro::new("save", || { sleep(Duration::from_secs(2)); "saved" }));
///     let result = save.future().clone();
///     // The caller gives up after 1 s; the save goes on.
///     let waited = timeout(Duration::from_secs(1), || shield(save));
///     sleep(Duration::from_secs(2));
///     (waited, result.result())
/// }));
/// assert_eq!((waited, saved), (Err(Elapsed), Some("saved")));
/// ```
#[track_caller]
pub fn shield<T>(task: Task<T>) -> T {
    let name = task.core.name;
    match task.wait_outcome(true) {
        Outcome::Cancelled => suspend::raise_awaited_cancelled(name),
        outcome => outcome.unwrap(),
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<Task #{} {} {:?}>",
            self.core.id.0, self.core.name, self.fut
        )
    }
}
