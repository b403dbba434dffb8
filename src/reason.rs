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

/// What crosses the stack switch: a register-sized tag. The details of the
/// wait (a deadline, what is awaited) stay in the task, so the switch never
/// copies a large value through memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trap {
    /// Reschedule at the back of the ready queue.
    YieldNow,
    /// Arm a timer at the task's `sleep_until`.
    Sleep,
    /// A waker was registered elsewhere; nothing to do.
    Wait,
}

pub(crate) type TaskYielder = Yielder<Wake, Trap>;
