//! Cancellation as a task sees it: [`Cancelled`] raised at an await and
//! caught ([`catch_cancelled`]), and the count of requests asyncio's
//! `Task.cancelling()` and `uncancel()` read and withdraw.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::reason::{AwaitedCancelled, Cancelled};
use crate::task::context::{self, with_current};
use crate::task::raw::{self, Unwind};

/// Raises [`Cancelled`] here: unwinds to the nearest [`catch_cancelled`] or the task's root.
///
/// Until one of those catches it, the task's next await raises it again (a
/// cancellation swallowed by a bare `catch_unwind` is not lost).
///
/// ```
/// use yieldfrom::{run, spawn, Coro, Outcome, suspend::raise_cancelled};
/// let outcome = run(Coro::new("main", || {
///     spawn(Coro::new("gives up", || -> u8 { raise_cancelled() })).join_outcome()
/// }));
/// assert!(matches!(outcome, Outcome::Cancelled));
/// ```
pub fn raise_cancelled() -> ! {
    mark_cancelling();
    resume_unwind(Box::new(Cancelled))
}

/// Notes that a cancellation is unwinding through the running task, if any.
fn mark_cancelling() {
    context::try_with_current(|task| task.state.cancellation_raised());
}

/// The cancellation unwinding through the running task was handled (caught
/// by [`catch_cancelled`], or turned into `Err(Elapsed)` by a timeout).
pub(crate) fn cancellation_handled() {
    context::try_with_current(|task| task.state.cancellation_caught());
}

/// Runs `f`; a cancellation raised inside it comes back as `Err(Cancelled)`
/// (Python's `try: ... except asyncio.CancelledError:`).
///
/// The unwinding is over when this returns, so the cleanup that follows may
/// await freely. Re-raise with [`raise_cancelled`] to end cancelled, or
/// return a value to end normally (the task then is not cancelled). Panics
/// other than cancellation go on unwinding.
///
/// ```
/// use yieldfrom::{run, spawn, sleep, yield_from, catch_cancelled, Cancelled};
/// use std::time::Duration;
///
/// let cleaned = run(yieldfrom::Coro::new("main", || {
///     let worker = spawn(yieldfrom::Coro::new("worker", || {
///         match catch_cancelled(|| sleep(Duration::from_secs(60))) {
///             Ok(()) => "slept",
///             Err(Cancelled) => {
///                 sleep(Duration::from_millis(1)); // cleanup may await
///                 "cleaned up"
///             }
///         }
///     }));
///     sleep(Duration::from_millis(1));
///     worker.cancel();
///     yield_from(worker)
/// }));
/// assert_eq!(cleaned, "cleaned up");
/// ```
pub fn catch_cancelled<T>(f: impl FnOnce() -> T) -> Result<T, Cancelled> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Ok(v),
        Err(payload) if is_cancelled(payload.as_ref()) && !is_forced_unwind() => {
            cancellation_handled();
            Err(Cancelled)
        }
        Err(payload) => resume_unwind(payload),
    }
}

/// How many cancellations of the running task are requested and not
/// withdrawn (Python: `asyncio.current_task().cancelling()`; see
/// [`Task::cancelling`](crate::Task::cancelling)). Panics outside a task.
///
/// ```
/// use yieldfrom::{run, Coro, cancelling};
/// assert_eq!(run(Coro::new("main", cancelling)), 0);
/// ```
pub fn cancelling() -> u32 {
    with_current("cancelling()", |t| t.state.cancelling().into())
}

/// Withdraws one cancellation request of the running task (Python:
/// `asyncio.current_task().uncancel()`; see
/// [`Task::uncancel`](crate::Task::uncancel)): how many are left. A task
/// that caught a cancellation and means to go on for good withdraws it,
/// so that the structures it is inside (a timeout, a task group) do not
/// count it as their own. Panics outside a task.
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::{run, spawn, sleep, yield_now, catch_cancelled, cancelling, uncancel, Coro};
/// let after = run(Coro::new("main", || {
///     let t = spawn(Coro::new("stubborn", || {
///         let _ = catch_cancelled(|| sleep(Duration::from_secs(60)));
///         assert_eq!(cancelling(), 1);
///         uncancel(); // it means to go on for good
///         cancelling()
///     }));
///     yield_now();
///     t.cancel();
///     t.join()
/// }));
/// assert_eq!(after, 0);
/// ```
pub fn uncancel() -> u32 {
    with_current("uncancel()", |t| raw::uncancel(t).into())
}

/// Whether the running task's stack is being force-unwound by a closing loop
/// (such an unwind must not be caught).
pub(crate) fn is_forced_unwind() -> bool {
    context::try_with_current(|t| t.state.unwind() == Unwind::Forced).unwrap_or(false)
}

/// Whether an unwind payload is a cancellation (of this task, or of a task it
/// awaited).
pub(crate) fn is_cancelled(payload: &(dyn Any + Send)) -> bool {
    payload.is::<Cancelled>() || payload.is::<AwaitedCancelled>()
}

/// Raises the cancellation of awaiting the cancelled task `name`.
pub(crate) fn raise_awaited_cancelled(name: &'static str) -> ! {
    mark_cancelling();
    resume_unwind(Box::new(AwaitedCancelled(name)))
}
