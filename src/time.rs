//! Time: `sleep`, `yield_now`, `timeout`, `wait_for` (Python: `asyncio.sleep`,
//! `asyncio.timeout`, `asyncio.wait_for`).
//!
//! Every function here reads the running loop's clock, which is either real
//! or virtual (see [`Builder::virtual_clock`](crate::Builder::virtual_clock)):
//! with the virtual clock, `sleep(2 s)` takes no real time, and the order of
//! events is the same as with the real one.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::awaitable::Awaitable;
use crate::event_loop::now as loop_now;
use crate::task::context;
use crate::task::deadline::Scope;
use crate::task::raw;
use crate::task::state::TaskState;
use crate::task::suspend::{self, Suspend, suspend_or_cancel};

/// The running loop's clock, now (virtual or real).
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::{EventLoop, Coro, now, sleep};
/// let lp = EventLoop::builder().virtual_clock(true).build();
/// let waited = lp.run(Coro::new("main", || {
///     let start = now();
///     sleep(Duration::from_secs(5));
///     now() - start
/// }));
/// assert_eq!(waited, Duration::from_secs(5));
/// ```
pub fn now() -> Instant {
    loop_now()
}

/// Suspends the running task for `duration` (Python: `await asyncio.sleep(s)`).
///
/// `sleep(Duration::ZERO)` is [`yield_now`]; a duration too large for the
/// clock (`Duration::MAX`) sleeps for ever (until cancelled). Cancellation
/// raises `Cancelled` here.
///
/// ```
/// use yieldfrom::{EventLoop, Coro, sleep};
/// use std::time::Duration;
/// let lp = EventLoop::builder().virtual_clock(true).build();
/// let t = lp.clone();
/// let took = lp.run(Coro::new("main", move || {
///     let t0 = t.time();
///     sleep(Duration::from_secs(2));
///     t.time() - t0
/// }));
/// assert_eq!(took, 2.0);
/// ```
#[track_caller]
pub fn sleep(duration: Duration) {
    context::require_task("sleep()");
    if duration.is_zero() {
        yield_now();
    } else {
        sleep_until(crate::event_loop::timer::deadline(now(), duration));
    }
}

/// Suspends the running task until the loop's clock reaches `deadline`.
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::{EventLoop, Coro, now, sleep_until};
/// let lp = EventLoop::builder().virtual_clock(true).build();
/// let late = lp.run(Coro::new("main", || {
///     let deadline = now() + Duration::from_millis(250);
///     sleep_until(deadline);
///     now() - deadline
/// }));
/// assert_eq!(late, Duration::ZERO);
/// ```
#[track_caller]
pub fn sleep_until(deadline: Instant) {
    suspend_or_cancel(Suspend::Sleep { until: deadline });
}

/// Lets every other ready task run once before this one goes on
/// (Python: `await asyncio.sleep(0)`).
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use yieldfrom::{run, spawn, yield_from, yield_now, Coro};
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let l = log.clone();
/// run(Coro::new("main", move || {
///     let l2 = l.clone();
///     let other = spawn(Coro::new("other", move || l2.borrow_mut().push("other")));
///     l.borrow_mut().push("main, before");
///     yield_now(); // `other` runs here
///     l.borrow_mut().push("main, after");
///     yield_from(other);
/// }));
/// assert_eq!(*log.borrow(), ["main, before", "other", "main, after"]);
/// ```
#[track_caller]
pub fn yield_now() {
    suspend_or_cancel(Suspend::YieldNow);
}

/// The error of a [`timeout`] or [`wait_for`] whose time ran out (Python: `TimeoutError`).
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::{EventLoop, Coro, Elapsed, sleep, timeout};
/// let lp = EventLoop::builder().virtual_clock(true).build();
/// let r = lp.run(Coro::new("main", || timeout(Duration::from_secs(1), || sleep(Duration::from_secs(9)))));
/// assert_eq!(r, Err(Elapsed));
/// assert_eq!(Elapsed.to_string(), "deadline has elapsed");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// Runs `f` in the running task, cancelling it if it takes longer than
/// `limit` (Python: `async with asyncio.timeout(limit):`).
///
/// `f` runs inline, on the task's stack; when the time is up, `Cancelled` is
/// raised at the await point where `f` is suspended, `f`'s frames unwind, and
/// `timeout` returns `Err(Elapsed)`. A cancellation that did not come from
/// this timeout goes on unwinding.
///
/// ```
/// use yieldfrom::{EventLoop, Coro, sleep, timeout, Elapsed};
/// use std::time::Duration;
/// let lp = EventLoop::builder().virtual_clock(true).build();
/// let r = lp.run(Coro::new("main", || timeout(Duration::from_secs(1), || sleep(Duration::from_secs(5)))));
/// assert_eq!(r, Err(Elapsed));
/// ```
#[track_caller]
pub fn timeout<T>(limit: Duration, f: impl FnOnce() -> T) -> Result<T, Elapsed> {
    let task = context::with_current("timeout()", |t| t.rc());
    let deadline = crate::event_loop::timer::deadline(now(), limit);
    under_deadline(task, Some(deadline), |_| f())
}

/// [`timeout`] with a deadline instead of a duration (Python: `asyncio.timeout_at`).
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::{EventLoop, Coro, Elapsed, now, sleep, timeout_at};
/// let lp = EventLoop::builder().virtual_clock(true).build();
/// let r = lp.run(Coro::new("main", || {
///     let deadline = now() + Duration::from_secs(2);
///     let first = timeout_at(deadline, || sleep(Duration::from_secs(1))); // in time
///     let second = timeout_at(deadline, || sleep(Duration::from_secs(5))); // one second left
///     (first, second, yieldfrom::EventLoop::current().time())
/// }));
/// assert_eq!(r, (Ok(()), Err(Elapsed), 2.0));
/// ```
#[track_caller]
pub fn timeout_at<T>(deadline: Instant, f: impl FnOnce() -> T) -> Result<T, Elapsed> {
    timeout_with(Some(deadline), |_| f())
}

/// A running timeout (Python: the object `async with asyncio.timeout(..) as
/// cm` gives): its deadline can be read and moved while `f` runs.
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::{EventLoop, Coro, now, sleep, timeout_with};
/// let lp = EventLoop::builder().virtual_clock(true).build();
/// let r = lp.run(Coro::new("main", || {
///     timeout_with(None, |cm| {
///         assert_eq!(cm.when(), None); // no deadline yet
///         cm.reschedule(Some(now() + Duration::from_secs(1)));
///         sleep(Duration::from_secs(5));
///     })
/// }));
/// assert_eq!(r, Err(yieldfrom::Elapsed));
/// ```
///
/// Clones share the timeout: another task may move its deadline.
///
/// The timeout is a deadline the task runs under, not a timer: each wait
/// of the task inside it carries the earlier of its own deadline and the
/// timeout's, and the loop files that one; when the timeout's comes first,
/// the wait ends with a cancellation (see the task state's deadlines).
#[derive(Clone)]
pub struct Timeout {
    /// The task it stops when time is up.
    task: raw::TaskRef,
    /// Its deadline, in the task's chain of them (which says too whether
    /// the guarded work has ended: a clone kept past it cannot move it).
    scope: Rc<Scope>,
}

impl fmt::Debug for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("when", &self.when())
            .field("expired", &self.expired())
            .finish()
    }
}

impl Timeout {
    /// The deadline, or `None` for none (Python: `Timeout.when()`, in
    /// loop time; here an `Instant` of the loop's clock).
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::{run, now, timeout_with, Coro};
    /// run(Coro::new("main", || {
    ///     let deadline = now() + Duration::from_secs(5);
    ///     timeout_with(Some(deadline), |cm| assert_eq!(cm.when(), Some(deadline))).unwrap();
    /// }));
    /// ```
    pub fn when(&self) -> Option<Instant> {
        self.scope.when()
    }

    /// Moves the deadline (Python: `Timeout.reschedule()`): later, sooner
    /// (a deadline already past fires at the loop's next iteration), or
    /// away (`None`). Panics if the timeout has fired already (the
    /// cancellation is on its way and cannot be called back) or has ended
    /// (its work is over: asyncio's "Cannot change state" error).
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::{EventLoop, Coro, now, sleep, timeout_with};
    /// let lp = EventLoop::builder().virtual_clock(true).build();
    /// let r = lp.run(Coro::new("main", || {
    ///     timeout_with(Some(now() + Duration::from_secs(1)), |cm| {
    ///         cm.reschedule(Some(now() + Duration::from_secs(10))); // more time
    ///         sleep(Duration::from_secs(3));
    ///         "finished"
    ///     })
    /// }));
    /// assert_eq!(r, Ok("finished"));
    /// ```
    pub fn reschedule(&self, when: Option<Instant>) {
        assert!(
            !self.scope.fired(),
            "reschedule() on a timeout that has expired: its cancellation is under way"
        );
        assert!(
            !self.scope.ended(),
            "reschedule() on a timeout whose work has ended"
        );
        self.scope.set_when(when);
        // A task that waits now filed its wait's deadline as it parked; a
        // sooner one is filed here (a later one is found when the filed
        // instant comes). A task that runs reads it as it next parks.
        let task = &self.task;
        if let Some(when) = when
            && task.state.get() == TaskState::Waiting
            && let Some(home) = task.lp.upgrade()
        {
            home.file_deadline(task.clone(), task.wait_seq(), when);
        }
    }

    /// Whether the deadline passed and the work was cancelled for it
    /// (Python: `Timeout.expired()`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::{EventLoop, Coro, now, sleep, timeout_with};
    /// let lp = EventLoop::builder().virtual_clock(true).build();
    /// let expired = lp.run(Coro::new("main", || {
    ///     let mut kept = None;
    ///     let r = timeout_with(Some(now() + Duration::from_secs(1)), |cm| {
    ///         kept = Some(cm.clone());
    ///         sleep(Duration::from_secs(2));
    ///     });
    ///     assert!(r.is_err());
    ///     kept.unwrap().expired()
    /// }));
    /// assert!(expired);
    /// ```
    pub fn expired(&self) -> bool {
        self.scope.fired()
    }
}

/// [`timeout_at`] with the running [`Timeout`] handed to `f`, which can read
/// and move its deadline (Python: `async with asyncio.timeout(None) as cm:
/// ... cm.reschedule(..)`). `None` starts with no deadline.
#[track_caller]
pub fn timeout_with<T>(
    deadline: Option<Instant>,
    f: impl FnOnce(&Timeout) -> T,
) -> Result<T, Elapsed> {
    let task = context::with_current("timeout()", |t| t.rc());
    under_deadline(task, deadline, f)
}

/// Runs `f` in `task` (the running one) under `deadline`.
fn under_deadline<T>(
    task: raw::TaskRef,
    deadline: Option<Instant>,
    f: impl FnOnce(&Timeout) -> T,
) -> Result<T, Elapsed> {
    // Cancellations requested before the timeout began: one more than
    // these at the end means someone else asked too, and that one wins.
    let before = task.state.cancelling();
    let scope = task.state.enter_scope(deadline);
    let cm = Timeout { task, scope };
    let result = catch_unwind(AssertUnwindSafe(|| f(&cm)));
    cm.task.state.leave_scope(&cm.scope);
    let fired = cm.scope.fired();
    // The deadline passed: withdraw our cancellation (Python's
    // `Timeout.__aexit__`: `task.uncancel()`), whether `f` met it or
    // finished first; what is left is someone else's.
    let others = fired && raw::uncancel(&cm.task) > before;
    let Timeout { task, scope } = cm;
    task.state.recycle_scope(scope);
    match result {
        Ok(v) => Ok(v),
        // Ours alone: the cancellation becomes `Elapsed`. Another came
        // too: it goes on as a cancellation (asyncio raises CancelledError,
        // not TimeoutError, then).
        Err(p) if fired && !others && suspend::is_cancelled(p.as_ref()) => {
            suspend::cancellation_handled();
            Err(Elapsed)
        }
        Err(p) => resume_unwind(p),
    }
}

/// Awaits `aw` (a coroutine, a task or a future), giving up after `limit`
/// (Python: `asyncio.wait_for`).
///
/// When time is up the wait is cancelled, and so is what it waits for: a
/// coroutine unwinds, a task is cancelled and waited for (its cleanup may
/// await), a future is cancelled. A task that swallows its cancellation
/// and returns a value gives that value, as in asyncio. With a zero
/// `limit` nothing waits: a coroutine never starts (as in Python 3.11), a
/// task or future done already gives its result, one still pending is
/// cancelled (a task, waited for).
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::{EventLoop, Coro, Elapsed, sleep, wait_for};
/// let lp = EventLoop::builder().virtual_clock(true).build();
/// let (fast, slow) = lp.run(Coro::new("main", || {
///     let quick = Coro::new("quick", || { sleep(Duration::from_millis(10)); 1 });
///     let lazy = Coro::new("lazy", || { sleep(Duration::from_secs(10)); 2 });
///     (wait_for(quick, Duration::from_secs(1)), wait_for(lazy, Duration::from_secs(1)))
/// }));
/// assert_eq!((fast, slow), (Ok(1), Err(Elapsed)));
/// ```
///
/// A task, cancelled when its time is up:
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::{EventLoop, Coro, Elapsed, sleep, spawn, wait_for};
/// let lp = EventLoop::builder().virtual_clock(true).build();
/// let cancelled = lp.run(Coro::new("main", || {
///     let slow = spawn(Coro::new("slow", || sleep(Duration::from_secs(10))));
///     let watch = slow.future().clone();
///     assert_eq!(wait_for(slow, Duration::from_secs(1)), Err(Elapsed));
///     watch.cancelled()
/// }));
/// assert!(cancelled);
/// ```
#[track_caller]
pub fn wait_for<A: Awaitable>(aw: A, limit: Duration) -> Result<A::Output, Elapsed> {
    if limit.is_zero() {
        return aw.give_up_now().ok_or(Elapsed);
    }
    timeout(limit, || crate::awaitable::yield_from(aw))
}
