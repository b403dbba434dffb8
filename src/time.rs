//! Time: `sleep`, `yield_now`, `timeout`, `wait_for` (Python: `asyncio.sleep`,
//! `asyncio.timeout`, `asyncio.wait_for`).
//!
//! Every function here reads the running loop's clock, which is either real
//! or virtual (see [`Builder::virtual_clock`](crate::Builder::virtual_clock)):
//! with the virtual clock, `sleep(2 s)` takes no real time, and the order of
//! events is the same as with the real one.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::awaitable::Awaitable;
use crate::event_loop::{EventLoop, now as loop_now};
use crate::task::context;
use crate::task::raw;
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
    context::require_task("timeout()");
    // A zero limit is due now; any other is in the future (the clock is
    // monotonic), so no second reading of the clock is needed.
    let due = if limit.is_zero() {
        Due::Now
    } else {
        Due::Later
    };
    timeout_inner(
        Some(crate::event_loop::timer::deadline(now(), limit)),
        due,
        |_| f(),
    )
}

/// Whether a deadline has been reached when it is armed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Due {
    /// Reached: expire before the task's next step.
    Now,
    /// In the future: a timer.
    Later,
    /// Not known: read the clock.
    Check,
}

/// [`timeout`] with a deadline instead of a duration (Python: `asyncio.timeout_at`).
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
#[derive(Clone)]
pub struct Timeout {
    state: Rc<TimeoutState>,
}

/// What a [`Timeout`] and its timer share.
struct TimeoutState {
    /// The task it cancels when time is up.
    task: raw::TaskRef,
    /// The deadline, if any.
    when: Cell<Option<Instant>>,
    /// The armed timer, withdrawn when the deadline moves or `f` ends.
    handle: RefCell<Option<crate::event_loop::Handle>>,
    /// The deadline passed and the task was cancelled for it.
    fired: Cell<bool>,
    /// The guarded work has ended: a clone kept past it must not arm a
    /// timer that would cancel the task in whatever it does later.
    ended: Cell<bool>,
}

impl TimeoutState {
    /// Arms the timer for `when` (none for `None`), withdrawing any before.
    fn arm(self: &Rc<Self>, when: Option<Instant>, due: Due) {
        if let Some(old) = self.handle.borrow_mut().take() {
            old.cancel();
        }
        self.when.set(when);
        let Some(when) = when else { return };
        let state = self.clone();
        let expire = move || {
            state.fired.set(true);
            raw::cancel(&state.task);
        };
        let lp = EventLoop::current();
        // A deadline already reached expires before the task's next step,
        // as asyncio's `call_soon` of it does: `timeout(0, || sleep(0))`
        // is `Elapsed`.
        let due_now = match due {
            Due::Now => true,
            Due::Later => false,
            Due::Check => when <= lp.now(),
        };
        let handle = if due_now {
            lp.call_soon_named(crate::trace::TIMEOUT_CALLBACK, expire)
        } else {
            lp.call_at_named(when, crate::trace::TIMEOUT_CALLBACK, expire)
        };
        *self.handle.borrow_mut() = Some(handle);
    }
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
    pub fn when(&self) -> Option<Instant> {
        self.state.when.get()
    }

    /// Moves the deadline (Python: `Timeout.reschedule()`): later, sooner
    /// (a deadline already past fires at the loop's next iteration), or
    /// away (`None`). Panics if the timeout has fired already (the
    /// cancellation is on its way and cannot be called back) or has ended
    /// (its work is over: asyncio's "Cannot change state" error).
    pub fn reschedule(&self, when: Option<Instant>) {
        assert!(
            !self.state.fired.get(),
            "reschedule() on a timeout that has expired: its cancellation is under way"
        );
        assert!(
            !self.state.ended.get(),
            "reschedule() on a timeout whose work has ended"
        );
        self.state.arm(when, Due::Check);
    }

    /// Whether the deadline passed and the work was cancelled for it
    /// (Python: `Timeout.expired()`).
    pub fn expired(&self) -> bool {
        self.state.fired.get()
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
    timeout_inner(deadline, Due::Check, f)
}

#[track_caller]
fn timeout_inner<T>(
    deadline: Option<Instant>,
    due: Due,
    f: impl FnOnce(&Timeout) -> T,
) -> Result<T, Elapsed> {
    let task = context::with_current("timeout()", |t| t.rc());
    // Cancellations requested before the timeout began: one more than
    // these at the end means someone else asked too, and that one wins.
    let before = task.state.cancelling();
    let cm = Timeout {
        state: Rc::new(TimeoutState {
            task,
            when: Cell::new(None),
            handle: RefCell::new(None),
            fired: Cell::new(false),
            ended: Cell::new(false),
        }),
    };
    cm.state.arm(deadline, due);
    let result = catch_unwind(AssertUnwindSafe(|| f(&cm)));
    cm.state.ended.set(true);
    if let Some(handle) = cm.state.handle.borrow_mut().take() {
        handle.cancel(); // also drops the timer's hold on the state
    }
    let fired = cm.state.fired.get();
    // The deadline passed: withdraw our cancellation (Python's
    // `Timeout.__aexit__`: `task.uncancel()`), whether `f` met it or
    // finished first; what is left is someone else's.
    let others = fired && raw::uncancel(&cm.state.task) > before;
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
