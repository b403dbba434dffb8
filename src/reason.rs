//! The words of suspension: why a task paused ([`Suspend`]), how the loop
//! resumes it ([`Wake`]), and the cancellation it may be resumed with
//! ([`Cancelled`]). Plain data, below everything that suspends or wakes;
//! [`suspend`](crate::suspend) is where they are used.

use std::fmt;
use std::time::Instant;

use corosensei::Yielder;

use crate::task_id::TaskId;

/// Why a task paused: what the loop shows in traces, timelines and the stepper.
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::{EventLoop, Coro, Suspend, sleep, trace::{Recorder, StepEnd, EventKind}};
/// let rec = Recorder::new();
/// let lp = EventLoop::builder().virtual_clock(true).instrument(rec.clone()).build();
/// lp.run(Coro::new("napper", || sleep(Duration::from_secs(1))));
/// // The trace holds the very reason the task suspended with.
/// let paused_on_sleep = rec.events().iter().any(|e| {
///     matches!(e.kind, EventKind::End(StepEnd::Suspended(Suspend::Sleep { .. })))
/// });
/// assert!(paused_on_sleep);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suspend {
    /// `yield_now()`: go to the back of the ready queue.
    YieldNow,
    /// `sleep`/`sleep_until`: wake at this instant of the loop's clock.
    Sleep {
        /// The deadline.
        until: Instant,
    },
    /// Awaiting another task.
    Task {
        /// The awaited task.
        id: TaskId,
        /// Its name.
        name: &'static str,
    },
    /// Awaiting a [`Future`](crate::Future) set by someone else.
    Future,
    /// Waiting on a synchronisation object (`"Lock.acquire"`, `"Queue.get"`, ...).
    Sync(&'static str),
    /// Waiting for a file descriptor to become readable or writable.
    Io {
        /// The loop's token for the source.
        token: usize,
        /// Which readiness it waits for.
        direction: Direction,
        /// What the wait is part of: plain data, a connect, a TLS handshake.
        purpose: IoPurpose,
    },
    /// Waiting for a closure on the worker threads (`to_thread`).
    Thread,
}

impl fmt::Display for Suspend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Suspend::YieldNow => f.write_str("yield_now"),
            Suspend::Sleep { .. } => f.write_str("sleep"),
            Suspend::Task { name, id } => write!(f, "task '{name}' (#{})", id.0),
            Suspend::Future => f.write_str("a future"),
            Suspend::Sync(what) => f.write_str(what),
            Suspend::Io {
                token,
                direction,
                purpose: IoPurpose::Data,
            } => write!(f, "socket {token} {direction}"),
            Suspend::Io {
                token,
                direction,
                purpose,
            } => write!(f, "socket {token} {direction} ({purpose})"),
            Suspend::Thread => f.write_str("a worker thread"),
        }
    }
}

impl Suspend {
    /// The await point a task calls to pause for this reason (for messages).
    pub(crate) fn await_point(&self) -> &'static str {
        match self {
            Suspend::YieldNow => "yield_now()",
            Suspend::Sleep { .. } => "sleep()",
            Suspend::Task { .. } | Suspend::Future => "yield_from()",
            Suspend::Sync(what) => what,
            Suspend::Io { .. } => "socket I/O",
            Suspend::Thread => "to_thread()",
        }
    }
}

/// What an I/O wait is part of, for the timeline and the stepper: "socket
/// 5 readable (TLS handshake)" says more than "socket 5 readable".
///
/// ```
/// use yieldfrom::suspend::{Direction, IoPurpose, Suspend};
/// let waiting = Suspend::Io { token: 5, direction: Direction::Read, purpose: IoPurpose::TlsHandshake };
/// assert_eq!(waiting.to_string(), "socket 5 readable (TLS handshake)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IoPurpose {
    /// Reading or writing the stream's bytes.
    #[default]
    Data,
    /// A TCP connect in progress (the socket turns writable when it ends).
    Connect,
    /// The TLS handshake.
    TlsHandshake,
}

impl fmt::Display for IoPurpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoPurpose::Data => "data",
            IoPurpose::Connect => "connect",
            IoPurpose::TlsHandshake => "TLS handshake",
        })
    }
}

/// Read or write: which readiness an I/O wait is for.
///
/// ```
/// use yieldfrom::suspend::Direction;
/// assert_eq!(Direction::Read.to_string(), "readable");
/// assert_eq!(Direction::Write.to_string(), "writable");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Waiting to read (or accept).
    Read,
    /// Waiting to write (or for a connect to finish).
    Write,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Read => "readable",
            Direction::Write => "writable",
        })
    }
}

/// How the loop resumes a paused task.
///
/// ```
/// use yieldfrom::suspend::{suspend, Suspend, Wake, Waker};
/// use yieldfrom::{run, Coro};
/// let how = run(Coro::new("main", || {
///     Waker::current().wake(); // woken before it even parks
///     suspend(Suspend::Sync("example"))
/// }));
/// assert_eq!(how, Wake::Run);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The wait is over: go on.
    Run,
    /// The task was cancelled while it waited.
    Cancel,
}

/// The unwind payload of a cancellation (Python's `asyncio.CancelledError`).
///
/// It reaches the task's root unless [`catch_cancelled`](crate::catch_cancelled) stops it; the task is
/// then *cancelled*, and awaiting it raises `Cancelled` in the awaiter too.
///
/// ```
/// use yieldfrom::{run, spawn, yield_from, yield_now, Coro, Cancelled, catch_cancelled};
/// let caught = run(Coro::new("main", || {
///     let worker = spawn(Coro::new("worker", || {
///         catch_cancelled(|| loop { yield_now() })
///     }));
///     yield_now();
///     worker.cancel();
///     yield_from(worker)
/// }));
/// assert_eq!(caught, Err(Cancelled));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the task was cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// The unwind payload of awaiting a task that was cancelled: a cancellation
/// for every purpose ([`catch_cancelled`] stops it, the awaiter ends
/// cancelled), which remembers whose, so that a report can say so.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AwaitedCancelled(pub(crate) &'static str);

/// What crosses the stack switch: one word, so that it travels in a
/// register (corosensei copies a larger value through memory). It says
/// whether the task yielded (back of the ready queue) or waits, and a
/// wait's deadline, if it has one: a sleep's, or a socket wait's with a
/// time limit. The loop files that deadline in its timer heap after the
/// switch, and nothing else does: one road into the heap for every wait
/// with a deadline. What the task waits on stays in its record (for the
/// stepper and the deadlock messages).
///
/// The word: 0 a wait with no deadline, 1 a yield, `2 + n` a wait until
/// `n` nanoseconds past [`epoch`] (585 years of them fit).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Trap(u64);

impl Trap {
    /// Waits until something wakes it (a waker was handed out elsewhere).
    pub(crate) const WAIT: Trap = Trap(0);
    /// Goes to the back of the ready queue.
    pub(crate) const YIELD_NOW: Trap = Trap(1);

    /// Waits until something wakes it or `until` comes, whichever is first.
    pub(crate) fn wait_until(until: Instant) -> Trap {
        let nanos = until.saturating_duration_since(epoch()).as_nanos();
        Trap(u64::try_from(nanos).unwrap_or(u64::MAX).min(u64::MAX - 2) + 2)
    }

    /// The deadline of a wait, if it has one.
    pub(crate) fn deadline(self) -> Option<Instant> {
        (self.0 >= 2).then(|| epoch() + std::time::Duration::from_nanos(self.0 - 2))
    }
}

impl fmt::Debug for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Trap::WAIT => f.write_str("Wait"),
            Trap::YIELD_NOW => f.write_str("YieldNow"),
            _ => write!(f, "WaitUntil({:?})", self.deadline()),
        }
    }
}

/// The instant a [`Trap`]'s deadline counts from: taken before any loop's
/// clock starts (`Clock::new` reads it first), so every deadline a loop
/// makes is at or after it. A deadline before it (an `Instant` from before
/// the first loop) is kept as the epoch itself: already past either way.
pub(crate) fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

pub(crate) type TaskYielder = Yielder<Wake, Trap>;

#[cfg(test)]
mod trap_tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_deadline_crosses_the_switch_in_one_word_to_the_nanosecond() {
        assert_eq!(std::mem::size_of::<Trap>(), 8);
        let at = epoch() + Duration::new(3, 141_592_653);
        assert_eq!(Trap::wait_until(at).deadline(), Some(at));
        // Thirty years on (the farthest deadline a loop makes) still fits.
        let far = epoch() + Duration::from_secs(30 * 365 * 24 * 3600);
        assert_eq!(Trap::wait_until(far).deadline(), Some(far));
        // An instant before the epoch is already past: kept as the epoch.
        if let Some(before) = epoch().checked_sub(Duration::from_secs(1)) {
            assert_eq!(Trap::wait_until(before).deadline(), Some(epoch()));
        }
        assert_eq!(Trap::WAIT.deadline(), None);
        assert_eq!(Trap::YIELD_NOW.deadline(), None);
        assert_ne!(Trap::wait_until(epoch()), Trap::YIELD_NOW);
    }
}
