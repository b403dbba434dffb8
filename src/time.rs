//! Time: `sleep`, `yield_now`, `timeout`, `wait_for` (Python: `asyncio.sleep`,
//! `asyncio.timeout`, `asyncio.wait_for`).
//!
//! Every function here reads the running loop's clock, which is either real
//! or virtual (see [`Builder::virtual_clock`](crate::Builder::virtual_clock)):
//! with the virtual clock, `sleep(2 s)` takes no real time, and the order of
//! events is the same as with the real one.

use std::cell::Cell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::context;
use crate::coro::Coro;
use crate::event_loop::{EventLoop, now as loop_now};
use crate::suspend::{self, Suspend, suspend_or_cancel};
use crate::task::raw;

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
        sleep_until(crate::timer::deadline(now(), duration));
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
    context::require_task("timeout()");
    timeout_at(crate::timer::deadline(now(), limit), f)
}

/// [`timeout`] with a deadline instead of a duration (Python: `asyncio.timeout_at`).
#[track_caller]
pub fn timeout_at<T>(deadline: Instant, f: impl FnOnce() -> T) -> Result<T, Elapsed> {
    let task = context::with_current("timeout()", |t| t.rc());
    // Cancellations requested before the timeout began: one more than
    // these at the end means someone else asked too, and that one wins.
    let before = task.cancels.get();
    let fired = Rc::new(Cell::new(false));
    let handle = {
        let (fired, task) = (fired.clone(), task.clone());
        EventLoop::current().call_at_named(deadline, crate::trace::TIMEOUT_CALLBACK, move || {
            fired.set(true);
            raw::cancel(&task);
        })
    };
    let result = catch_unwind(AssertUnwindSafe(f));
    handle.cancel();
    // The deadline passed: withdraw our cancellation (Python's
    // `Timeout.__aexit__`: `task.uncancel()`), whether `f` met it or
    // finished first; what is left is someone else's.
    let others = if fired.get() {
        raw::uncancel(&task) > before
    } else {
        false
    };
    match result {
        Ok(v) => Ok(v),
        // Ours alone: the cancellation becomes `Elapsed`. Another came
        // too: it goes on as a cancellation (asyncio raises CancelledError,
        // not TimeoutError, then).
        Err(p) if fired.get() && !others && suspend::is_cancelled(p.as_ref()) => {
            suspend::cancellation_handled();
            Err(Elapsed)
        }
        Err(p) => resume_unwind(p),
    }
}

/// Awaits `coro`, giving up after `limit` (Python: `asyncio.wait_for`).
///
/// With a zero `limit` the coroutine never starts, as in Python 3.11.
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
#[track_caller]
pub fn wait_for<T: 'static>(coro: Coro<T>, limit: Duration) -> Result<T, Elapsed> {
    if limit.is_zero() {
        drop(coro.into_body());
        return Err(Elapsed);
    }
    timeout(limit, || coro.run_inline())
}
