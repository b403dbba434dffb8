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
//!
//! # Building an await point
//!
//! This module is also the low-level API for await points of your own (what
//! a `Future` subclass with a custom `__await__` is in Python). The pattern
//! is the one every await point of the crate follows: check the condition;
//! if it does not hold, hand a [`Waker`] to whatever will make it hold, then
//! [`suspend_or_cancel`]; check again when resumed (a wake is a hint, never
//! a promise). A waker for a wait that is over does nothing, so nobody has
//! to take wakers back out. A task that nothing wakes waits until it is
//! cancelled; a loop left with nothing else to run reports it as a deadlock,
//! naming the [`Suspend`] reason given here.
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use yieldfrom::suspend::{Suspend, Waker, suspend_or_cancel};
//! use yieldfrom::{Coro, run, spawn, yield_from, yield_now};
//!
//! /// A gate: `wait` parks the task until someone calls `open`.
//! #[derive(Clone, Default)]
//! struct Gate(Rc<RefCell<(bool, Vec<Waker>)>>);
//!
//! impl Gate {
//!     fn wait(&self) {
//!         while !self.0.borrow().0 {
//!             self.0.borrow_mut().1.push(Waker::current());
//!             suspend_or_cancel(Suspend::Sync("Gate.wait"));
//!         }
//!     }
//!
//!     fn open(&self) {
//!         let waiters = {
//!             let mut gate = self.0.borrow_mut();
//!             gate.0 = true;
//!             std::mem::take(&mut gate.1)
//!         };
//!         waiters.into_iter().for_each(Waker::wake);
//!     }
//! }
//!
//! let through = run(Coro::new("main", || {
//!     let gate = Gate::default();
//!     let g = gate.clone();
//!     let waiter = spawn(Coro::new("waiter", move || {
//!         g.wait();
//!         "through"
//!     }));
//!     yield_now(); // the waiter runs and parks at the gate
//!     gate.open();
//!     yield_from(waiter)
//! }));
//! assert_eq!(through, "through");
//! ```

use std::cell::Cell;
use std::time::Instant;

use corosensei::CoroutineResult;

use crate::arch::stack_pointer;
pub(crate) use crate::reason::AwaitedCancelled;
pub use crate::reason::{Cancelled, Direction, IoPurpose, Suspend, Wake};
use crate::reason::{TaskYielder, Trap};
use crate::stack::shared;
pub(crate) use crate::task::cancel::{
    cancellation_handled, is_cancelled, is_forced_unwind, raise_awaited_cancelled,
};
pub use crate::task::cancel::{cancelling, catch_cancelled, raise_cancelled, uncancel};
pub use crate::task::context::in_task;
use crate::task::context::with_current;
use crate::task::raw::{self, TaskCore, Unwind};
pub(crate) use crate::task::wake::WakeToken;
pub use crate::task::wake::Waker;

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
            // SAFETY: a fresh coroutine stack of MIN_STACK_SIZE (16 KiB):
            // the 4 KiB below this frame are mapped, writable and unused.
            let sp = unsafe { crate::arch::paint_below_stack_pointer::<PAINT>(PATTERN) };
            top.set(sp);
            park(y, Trap::WAIT, &rec);
        });
    if !matches!(co.resume(Wake::Run), CoroutineResult::Yield(Trap::WAIT)) {
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

/// Pauses the running task for `reason` until something wakes it.
///
/// Hand a [`Waker`] to whatever will end the wait first (see [Building an
/// await point](self#building-an-await-point)). Returns [`Wake::Cancel`]
/// instead of raising, so that a caller holding a resource (a lock being
/// handed over, a queue slot) can give it back first; most code wants
/// [`suspend_or_cancel`]. Panics outside a task.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use yieldfrom::suspend::{Suspend, Wake, Waker, suspend};
/// use yieldfrom::{run, spawn, yield_now, Coro};
/// let slot: Rc<RefCell<Option<Waker>>> = Rc::default();
/// let s = slot.clone();
/// let how = run(Coro::new("main", move || {
///     let t = spawn(Coro::new("holder", move || {
///         *s.borrow_mut() = Some(Waker::current());
///         // Told, not raised: a holder of a resource gives it back first.
///         suspend(Suspend::Sync("a custom wait"))
///     }));
///     yield_now();
///     t.cancel();
///     t.join()
/// }));
/// assert_eq!(how, Wake::Cancel);
/// ```
#[inline]
#[track_caller]
pub fn suspend(reason: Suspend) -> Wake {
    with_current(reason.await_point(), |task| switch_out(task, reason, None))
}

/// [`suspend`], with a deadline: the loop wakes the task at `until` if
/// nothing has by then (the wait's number tells the two apart). The loop
/// files the deadline after the switch, so a wait that never began leaves
/// no timer behind.
#[inline]
#[track_caller]
pub(crate) fn suspend_until(reason: Suspend, until: Instant) -> Wake {
    with_current(reason.await_point(), |task| {
        switch_out(task, reason, Some(until))
    })
}

/// Pauses the running task for `reason` until something wakes it, as
/// [`suspend`] does; a cancellation raises [`Cancelled`] here.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use yieldfrom::suspend::{Suspend, Wake, Waker, suspend_or_cancel};
/// use yieldfrom::{run, spawn, yield_now, Coro};
/// let slot: Rc<RefCell<Option<Waker>>> = Rc::default();
/// let s = slot.clone();
/// let how = run(Coro::new("main", move || {
///     let t = spawn(Coro::new("t", move || {
///         *s.borrow_mut() = Some(Waker::current());
///         suspend_or_cancel(Suspend::Sync("a custom wait"))
///     }));
///     yield_now();
///     slot.borrow_mut().take().unwrap().wake();
///     t.join()
/// }));
/// assert_eq!(how, Wake::Run);
/// ```
#[inline]
#[track_caller]
pub fn suspend_or_cancel(reason: Suspend) -> Wake {
    match suspend(reason) {
        Wake::Cancel => raise_cancelled(),
        wake => wake,
    }
}

/// The task's side of the switch, on the task's own stack: records why it
/// waits, then switches to the loop, which resumes it with a [`Wake`].
///
/// A cancellation that was raised and then swallowed (caught by a bare
/// `catch_unwind`, not [`catch_cancelled`]) is delivered again here: the task
/// yields to the loop and comes back with `Cancel` (so a task that swallows
/// every cancellation in a loop still lets the others run, and a closing loop
/// can give up on it). During the cancellation's own unwind (its destructors
/// running) waiting is allowed, as under asyncio's `finally: await`.
#[inline(always)]
fn switch_out(task: &TaskCore, reason: Suspend, until: Option<Instant>) -> Wake {
    let reason = if task.state.unwind() == Unwind::Cancelling && !std::thread::panicking() {
        task.state.redeliver_cancel()
    } else {
        reason
    };
    let sp = check_on_task_stack(task.stack_lo(), task.stack_hi.get());
    task.parked_sp.set(sp);
    let (own, yields) = match reason {
        Suspend::YieldNow => (None, true),
        Suspend::Sleep { until } => (Some(until), false),
        _ => (until, false),
    };
    if !yields {
        task.state.waits_on(reason);
    }
    // The wait's deadline: its own, or an earlier one of a timeout it runs
    // under (whose passing is checked here, so that a task whose waits all
    // end at once still times out).
    let trap = match task
        .state
        .wait_deadline(own, || task.lp.upgrade().map(|home| home.now()))
    {
        Some(_) if yields => Trap::YIELD_NOW,
        Some(deadline) => deadline.map_or(Trap::WAIT, Trap::wait_until),
        None => {
            // Timed out: parked to be resumed with `Cancel` at once.
            task.state.waits_on(reason);
            Trap::WAIT
        }
    };
    if task.marked(raw::CALL_SITES) && trap != Trap::YIELD_NOW {
        crate::call_sites::capture(task.id);
    }
    // SAFETY: `yielder` was set by the task's body at its start, on this
    // stack, and stays valid until the body returns; we are on this stack
    // (checked above), so the body has not returned.
    let yielder = unsafe { &*task.yielder.get() };
    if task.shared.get() != 0 {
        // The loop saves this task's frames from the exact stack pointer.
        return park(yielder, trap, &task.parked_sp);
    }
    yielder.suspend(trap)
}

/// The loop's side of the switch: runs the launched task until it parks
/// again (`Some(trap)`) or its body returns (`None`). A task on a shared
/// stack has its frames copied in first and out after.
pub(crate) fn resume(task: &TaskCore, wake: Wake) -> Option<Trap> {
    let shared = task.shared_index();
    if let Some(index) = shared {
        shared::switch_in(index, task.key(), task.name);
    }
    // SAFETY: steps are driven only by the loop, one at a time, and a task
    // never steps itself (`switch_out` runs on the task stack, this on the
    // loop's), so nothing else refers to the coroutine now.
    let co = unsafe { &mut *task.co.get() };
    match co.as_mut().map(|co| co.resume(wake)) {
        Some(CoroutineResult::Yield(trap)) => {
            if let Some(index) = shared {
                let depth = park_depth().expect("a shared stack was calibrated");
                shared::parked(index, task.key(), task.parked_sp.get() - depth);
            }
            Some(trap)
        }
        Some(CoroutineResult::Return(())) | None => None,
    }
}

/// Checks that the current stack pointer lies
/// inside the task's stack, so that a task is never suspended from another
/// coroutine's stack (a generator body running inside the task).
///
/// Returns that address: where the task's stack is in use when it parks.
#[inline]
fn check_on_task_stack(lo: usize, hi: usize) -> usize {
    let probe = 0u8;
    let sp = std::hint::black_box(&probe) as *const u8 as usize;
    if sp < lo || sp >= hi {
        not_on_task_stack();
    }
    sp
}

/// Runs `f` on the loop's stack (the one that resumed the running task)
/// rather than the task's own, then comes back: for deep computation that
/// never waits (a TLS handshake's cryptography), whose stack pages would
/// otherwise stay resident in every parked task that once ran it. Outside a
/// task, or inside a generator (whose stack is not the task's), `f` runs
/// where it is. If `f` tries to wait, the wait panics (it is not on the
/// task's stack), which is the contract: `f` must not suspend.
#[cfg_attr(not(feature = "tls"), allow(dead_code))] // used by TLS
pub(crate) fn on_loop_stack<R>(f: impl FnOnce() -> R) -> R {
    let yielder = crate::task::context::try_with_current(|task| {
        let probe = 0u8;
        let sp = std::hint::black_box(&probe) as *const u8 as usize;
        (sp >= task.stack_lo() && sp < task.stack_hi.get()).then(|| task.yielder.get())
    })
    .flatten();
    match yielder {
        Some(yielder) => {
            let f = SameThread(f);
            // `on_parent_stack` asks for `Send` only so that a yielder cannot
            // be carried onto the parent's stack and suspended from there.
            // `f` runs on this very thread, and a wait it attempts panics
            // before it reaches a yielder (`check_on_task_stack`: the loop's
            // stack is not the task's).
            // SAFETY: the task's body set `yielder` at its start, on the
            // stack we are on now (checked above), and it stays valid until
            // the body returns, which it cannot do while this frame is on
            // that stack; `on_parent_stack` returns here before this frame goes.
            unsafe { &*yielder }.on_parent_stack(move || f.call())
        }
        None => f(),
    }
}

/// A closure run on another stack of the same thread (see [`on_loop_stack`]).
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
struct SameThread<F>(F);

// SAFETY: the value never leaves its thread: `on_loop_stack` runs it at once
// on the loop's stack of the same thread and waits for it to return.
unsafe impl<F> Send for SameThread<F> {}

impl<F: FnOnce() -> R, R> SameThread<F> {
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    fn call(self) -> R {
        (self.0)()
    }
}

#[cold]
#[inline(never)]
fn not_on_task_stack() -> ! {
    panic!(
        "yield_from() was called off the task's own stack: inside a Generator body running \
         in a task (a generator has its own stack and cannot pause the task: await outside \
         the generator, or make it a coroutine, Coro), or inside code the runtime runs on \
         the loop's stack, which must not wait"
    );
}

#[cfg(test)]
mod tests {
    /// `on_loop_stack` runs its closure off the task's stack, hands back its
    /// value and its panic, and refuses a wait from there, on either kind
    /// of stack.
    #[test]
    fn on_loop_stack_runs_elsewhere_and_refuses_to_wait() {
        use crate::stack::StackMode;
        for mode in [StackMode::Dedicated, StackMode::Shared] {
            let lp = crate::EventLoop::builder().stack_mode(mode).build();
            lp.run(crate::Coro::new("t", move || {
                let (lo, hi) = crate::task::context::with_current("test", |t| {
                    (t.stack_lo(), t.stack_hi.get())
                });
                let here = 0u8;
                let here = std::hint::black_box(&here) as *const u8 as usize;
                assert!(here >= lo && here < hi, "the task runs on its stack");
                let there = super::on_loop_stack(|| {
                    let probe = 0u8;
                    std::hint::black_box(&probe) as *const u8 as usize
                });
                assert!(
                    there < lo || there >= hi,
                    "{mode:?}: ran on the task's stack"
                );
                let panicked = std::panic::catch_unwind(|| {
                    super::on_loop_stack(|| panic!("inside"));
                });
                assert!(panicked.is_err());
                let waited = std::panic::catch_unwind(|| {
                    super::on_loop_stack(crate::yield_now);
                })
                .unwrap_err();
                let message = waited
                    .downcast_ref::<&str>()
                    .copied()
                    .or(waited.downcast_ref::<String>().map(String::as_str))
                    .unwrap();
                assert!(message.contains("must not wait"), "{message}");
                // The task itself still waits as usual afterwards.
                crate::yield_now();
            }));
        }
        // Outside a task it simply calls.
        assert_eq!(super::on_loop_stack(|| 7), 7);
    }

    #[test]
    fn a_panic_inside_a_step_leaves_no_running_task_behind() {
        let lp = crate::EventLoop::new();
        let task = lp.spawn(crate::Coro::new("t", || ()));
        let core = task.core.clone();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _entered = crate::task::context::enter(&core);
            assert!(crate::task::context::in_task());
            panic!("escaped a step");
        }));
        assert!(caught.is_err());
        assert!(
            !crate::task::context::in_task(),
            "the guard restored the previous task"
        );
        lp.close();
    }
}
