//! The one place where a task gives control back to the event loop.
//!
//! This is yieldfrom's version of curio's `traps.py`: every way a task can
//! pause is a variant of [`Suspend`], and every pause goes through
//! [`suspend`]. Sleeping, awaiting a task or a future, waiting on a lock or a
//! queue, on a socket, on a worker thread: each ends here, in a stack switch
//! from the task's stack to the loop's. The loop reads the reason (to arm a
//! timer, or just to show it in a trace) and, when the wait is over, switches
//! back with a [`Wake`]: `Run`, or `Cancel` when the task was cancelled while
//! it waited.
//!
//! ```text
//!   task stack                          loop stack
//!   ----------                          ----------
//!   sleep(1s)
//!    └ suspend(Sleep{until}) ──switch──▶ step() returns Sleep{until}
//!                                        push timer; run other tasks ...
//!                                        timer due: resume(Wake::Run)
//!    ┌───────────────────────◀─switch──┘
//!   sleep returns
//! ```
//!
//! A cancelled wait becomes an unwind with a [`Cancelled`] payload (not a
//! panic: no message is printed), so every frame between the await point and
//! the task's root runs its destructors, and [`catch_cancelled`] can stop it,
//! as Python's `except CancelledError` does.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::ptr::NonNull;
use std::time::Instant;

use corosensei::Yielder;

use crate::task::{TaskCore, TaskId, Unwind};

/// Why a task paused: what the loop shows in traces, timelines and the stepper.
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
            Suspend::Io { token, direction } => write!(f, "socket {token} {direction}"),
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

/// Read or write: which readiness an I/O wait is for.
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The wait is over: go on.
    Run,
    /// The task was cancelled while it waited.
    Cancel,
}

/// The unwind payload of a cancellation (Python's `asyncio.CancelledError`).
///
/// It reaches the task's root unless [`catch_cancelled`] stops it; the task is
/// then *cancelled*, and awaiting it raises `Cancelled` in the awaiter too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the task was cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// Raises [`Cancelled`] here: unwinds to the nearest [`catch_cancelled`] or the task's root.
///
/// Until one of those catches it, the task's next await raises it again (a
/// cancellation swallowed by a bare `catch_unwind` is not lost).
pub fn raise_cancelled() -> ! {
    mark_cancelling();
    resume_unwind(Box::new(Cancelled))
}

/// Notes that a cancellation is unwinding through the running task, if any.
fn mark_cancelling() {
    if let Some(task) = CURRENT.with(|c| c.get()) {
        // SAFETY: as in `with_current`: CURRENT points to a live task.
        let task = unsafe { task.as_ref() };
        if task.unwind.get() == Unwind::None {
            task.unwind.set(Unwind::Cancelling);
        }
    }
}

/// The cancellation unwinding through the running task was handled (caught
/// by [`catch_cancelled`], or turned into `Err(Elapsed)` by a timeout).
pub(crate) fn cancellation_handled() {
    if let Some(task) = CURRENT.with(|c| c.get()) {
        // SAFETY: as in `with_current`: CURRENT points to a live task.
        let task = unsafe { task.as_ref() };
        if task.unwind.get() == Unwind::Cancelling {
            task.unwind.set(Unwind::None);
        }
    }
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

/// Whether the running task's stack is being force-unwound by a closing loop
/// (such an unwind must not be caught).
pub(crate) fn is_forced_unwind() -> bool {
    CURRENT
        .with(|c| c.get())
        // SAFETY: as in `with_current`: CURRENT points to a live task.
        .is_some_and(|t| unsafe { t.as_ref() }.unwind.get() == Unwind::Forced)
}

/// Whether an unwind payload is a cancellation (of this task, or of a task it
/// awaited).
pub(crate) fn is_cancelled(payload: &(dyn Any + Send)) -> bool {
    payload.is::<Cancelled>() || payload.is::<AwaitedCancelled>()
}

/// The unwind payload of awaiting a task that was cancelled: a cancellation
/// for every purpose ([`catch_cancelled`] stops it, the awaiter ends
/// cancelled), which remembers whose, so that a report can say so.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AwaitedCancelled(pub(crate) &'static str);

/// Raises the cancellation of awaiting the cancelled task `name`.
pub(crate) fn raise_awaited_cancelled(name: &'static str) -> ! {
    mark_cancelling();
    resume_unwind(Box::new(AwaitedCancelled(name)))
}

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

/// The switch of a task on a shared stack: records the stack pointer in `sp`,
/// then switches to the loop.
///
/// Not inlined, so that the distance from the recorded stack pointer to the
/// one the switch leaves behind is one constant of this build, which
/// [`park_depth`] measures: the loop saves the task's frames from exactly
/// there.
#[inline(never)]
pub(crate) fn park(yielder: &TaskYielder, trap: Trap, sp: &Cell<usize>) -> Wake {
    sp.set(stack_pointer());
    yielder.suspend(trap)
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: copies the stack pointer register; touches no memory.
    unsafe {
        std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    sp
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn stack_pointer() -> usize {
    let probe = 0u8;
    std::hint::black_box(&probe) as *const u8 as usize
}

/// How far below the stack pointer that [`park`] records the switch leaves
/// the stack pointer, in bytes; `None` where shared stacks are not supported.
///
/// Measured once per process: a coroutine paints 4 KiB below its stack
/// pointer with a pattern, parks through [`park`], and the loop finds the
/// lowest word the park wrote. That word is the return address corosensei's
/// switch pushes last (a code address, never the pattern, which is not a
/// canonical address), so the figure is exact.
pub(crate) fn park_depth() -> Option<usize> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const UNKNOWN: usize = usize::MAX;
    const NONE: usize = usize::MAX - 1;
    static DEPTH: AtomicUsize = AtomicUsize::new(UNKNOWN);
    let depth = match DEPTH.load(Ordering::Relaxed) {
        UNKNOWN => {
            let d = calibrate().unwrap_or(NONE);
            DEPTH.store(d, Ordering::Relaxed);
            d
        }
        d => d,
    };
    (depth != NONE).then_some(depth)
}

#[cfg(target_arch = "x86_64")]
fn calibrate() -> Option<usize> {
    use corosensei::{Coroutine, CoroutineResult};
    const PAINT: usize = 4096;
    const PATTERN: u64 = 0x5A5A_5A5A_5A5A_5A5A;
    let stack =
        crate::stack::PooledStack::take_outside_budget(crate::stack::MIN_STACK_SIZE).ok()?;
    // Under Valgrind, bytes below a stack pointer are not addressable: say
    // the whole stack is, for the painting below its stack pointer.
    crate::stack::valgrind::make_addressable(stack.usable_lo(), stack.size());
    let recorded = std::rc::Rc::new(Cell::new(0usize));
    let painted_top = std::rc::Rc::new(Cell::new(0usize));
    let (rec, top) = (recorded.clone(), painted_top.clone());
    let mut co: Coroutine<Wake, Trap, (), _> =
        Coroutine::with_stack(stack, move |y: &TaskYielder, _| {
            let sp: usize;
            // SAFETY: fills the 4 KiB below the stack pointer, which no live
            // value occupies (the block is not `nostack`, so the compiler keeps
            // nothing in the red zone across it, as across a call), with the
            // pattern: `rep stosq` writes RCX words from RDI upwards (the ABI
            // clears the direction flag).
            unsafe {
                std::arch::asm!(
                    "mov {sp}, rsp",
                    "lea rdi, [rsp - {paint}]",
                    "rep stosq",
                    sp = out(reg) sp,
                    paint = const PAINT,
                    in("rax") PATTERN,
                    inout("rcx") PAINT / 8 => _,
                    out("rdi") _,
                )
            };
            top.set(sp);
            park(y, Trap::Wait, &rec);
        });
    if !matches!(co.resume(Wake::Run), CoroutineResult::Yield(Trap::Wait)) {
        return None;
    }
    let hi = painted_top.get();
    let mut lowest = hi - PAINT;
    // Under Valgrind the painted bytes below the parked stack pointer are
    // dead stack to memcheck: they are read on purpose.
    crate::stack::valgrind::make_defined(lowest, PAINT);
    // SAFETY: [hi - PAINT, hi) is mapped stack memory below the parked
    // coroutine's frames, every word of it written above (by the pattern or
    // by the park), and nothing runs on that stack while it is read.
    while lowest < hi && unsafe { std::ptr::read_volatile(lowest as *const u64) } == PATTERN {
        lowest += 8;
    }
    let finished = matches!(co.resume(Wake::Run), CoroutineResult::Return(()));
    let depth = recorded.get().checked_sub(lowest)?;
    // Painted all the way down: the park went deeper than we looked.
    (finished && lowest > hi - PAINT && depth < PAINT / 2).then_some(depth)
}

#[cfg(not(target_arch = "x86_64"))]
fn calibrate() -> Option<usize> {
    None
}

thread_local! {
    /// The task whose stack is running now; null on the loop's own stack.
    static CURRENT: Cell<Option<NonNull<TaskCore>>> = const { Cell::new(None) };
}

/// Marks a task as the running one while alive; dropping it restores the
/// previous value, on return and on unwind alike, so no panic (from the task's
/// root, a done callback, an instrument) can leave `CURRENT` pointing at a
/// record that is then freed.
#[must_use = "the task is the running one only while the guard lives"]
pub(crate) struct Entered(Option<NonNull<TaskCore>>);

/// Marks `task` as the running task until the returned guard drops.
pub(crate) fn enter(task: &TaskCore) -> Entered {
    Entered(CURRENT.with(|c| c.replace(Some(NonNull::from(task)))))
}

impl Drop for Entered {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// Calls `f` with the running task, or panics outside one with a message
/// naming `what` (the await point the user called) at the user's line.
#[inline]
#[track_caller]
pub(crate) fn with_current<R>(what: &'static str, f: impl FnOnce(&TaskCore) -> R) -> R {
    let Some(task) = CURRENT.with(|c| c.get()) else {
        no_task(what)
    };
    // SAFETY: CURRENT is set only by the loop around a task's step, while the
    // loop holds an Rc of that task, and reset before the Rc can go away.
    f(unsafe { task.as_ref() })
}

/// Panics at the caller's line unless a task is running, naming `what`.
#[inline]
#[track_caller]
pub(crate) fn require_task(what: &'static str) {
    if CURRENT.with(|c| c.get()).is_none() {
        no_task(what)
    }
}

#[cold]
#[track_caller]
fn no_task(what: &str) -> ! {
    panic!("{what} needs a running task: start one with run() or spawn()")
}

/// Whether code is running inside a task right now.
pub fn in_task() -> bool {
    CURRENT.with(|c| c.get()).is_some()
}

/// Pauses the running task for `reason` until the loop wakes it.
///
/// Low level: returns [`Wake::Cancel`] instead of raising, so that a caller
/// holding a resource (a lock being handed over, a queue slot) can give it
/// back first. Most code wants [`suspend_or_cancel`].
#[inline]
#[track_caller]
pub fn suspend(reason: Suspend) -> Wake {
    with_current(reason.await_point(), |task| task.suspend(reason))
}

/// Pauses the running task for `reason`; a cancellation raises [`Cancelled`].
#[inline]
#[track_caller]
pub fn suspend_or_cancel(reason: Suspend) -> Wake {
    match suspend(reason) {
        Wake::Cancel => raise_cancelled(),
        wake => wake,
    }
}

/// Used by the loop: checks that `sp` (an address on the current stack) lies
/// inside the task's stack, so that a task is never suspended from another
/// coroutine's stack (a generator body running inside the task).
///
/// Returns that address: where the task's stack is in use when it parks.
#[inline]
pub(crate) fn check_on_task_stack(lo: usize, hi: usize) -> usize {
    let probe = 0u8;
    let sp = std::hint::black_box(&probe) as *const u8 as usize;
    if sp < lo || sp >= hi {
        not_on_task_stack();
    }
    sp
}

#[cold]
#[inline(never)]
fn not_on_task_stack() -> ! {
    panic!(
        "yield_from() was called inside a Generator body running in a task; a generator \
         has its own stack and cannot pause the task. Await outside the generator, or make \
         it a coroutine (Coro)"
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_panic_inside_a_step_leaves_no_running_task_behind() {
        let lp = crate::EventLoop::new();
        let task = lp.spawn(crate::Coro::new("t", || ()));
        let core = task.core.clone();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _entered = super::enter(&core);
            assert!(super::in_task());
            panic!("escaped a step");
        }));
        assert!(caught.is_err());
        assert!(!super::in_task(), "the guard restored the previous task");
        lp.close();
    }
}
