//! Tasks: a coroutine driven by the loop on a stack of its own.
//!
//! [`spawn`](crate::spawn) (Python: `asyncio.create_task`) takes a
//! [`Coro`](crate::Coro), gives it a pooled stack and puts its first step on
//! the ready queue. It does not run it: the task starts when the loop gets to
//! it. From then on the task runs until it suspends (see
//! [`suspend`]), and the loop resumes it when what it waited
//! for is done.
//!
//! ```text
//!   spawn ──▶ Ready ──step──▶ Running ──suspend──▶ Waiting
//!               ▲                │  │                 │
//!               └────── wake ────┼──┼─────────────────┘
//!                                │  └─return/panic/Cancelled──▶ Done
//! ```
//!
//! Invariant (as asyncio's `Task` states it): a task is either on the ready
//! queue (Ready), on the loop's stack being stepped (Running), parked with a
//! waiter registered somewhere that will wake it (Waiting), or Done — never
//! two of these. Every wake carries the *wait sequence number* the task had
//! when it parked; a wake with an older number (a timer that lost the race
//! with a cancellation, say) is ignored.
//!
//! The task's outcome lives in a [`Future`]: a panic in the body is caught at
//! the root of the task's stack and stored there, and re-raised wherever the
//! task is awaited; nobody awaiting it means the warning "task exception was
//! never retrieved" when the last handle goes.

use std::alloc::Layout;
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

use corosensei::Coroutine;

mod alloc;
pub(crate) mod cancel;
pub(crate) mod context;
pub(crate) mod deadline;
pub(crate) mod future;
mod handle;
pub(crate) mod outcome;
pub(crate) mod raw;
mod slot;
pub(crate) mod state;
pub mod suspend;
pub(crate) mod waiters;
pub(crate) mod wake;

use self::alloc as blocks;
pub use self::handle::{Task, shield};
pub(crate) use self::raw::{Home, HomeRef, TaskCore, TaskRef, TaskState, Vtable};
pub use crate::names::TaskName;
pub use crate::task_id::{CancelCause, TaskEnd, TaskId, TaskInfo};

use crate::reason::{TaskYielder, Trap, Wake};
use crate::stack::StackMode;
use crate::stack::shared;
use crate::task::future::{Future, Inner, Outcome};

/// A task's one allocation: the untyped part the loop works with, the body
/// until it starts, and the task's result slot (its [`Future`]).
///
/// tokio's `Cell<T, S>` has the same shape, for the same reason: one
/// allocation per task, not three (see the book's performance chapter).
#[repr(C)]
struct TaskCell<F, T> {
    /// First, so that a pointer to the cell is a pointer to its core.
    core: TaskCore,
    /// The body until it starts; the core's `BODY_LIVE` mark says whether it is there
    /// (a flag among the core's, rather than an `Option`'s tag here).
    body: UnsafeCell<MaybeUninit<F>>,
    /// The task's result slot (what its `Future` handles point at).
    out: Inner<T>,
}

impl<T: 'static, F: FnOnce() -> T + 'static> TaskCell<F, T> {
    const VTABLE: Vtable = Vtable {
        launch: Self::launch,
        abandon: Self::abandon,
        dealloc: Self::dealloc,
    };

    /// Builds a task (not yet scheduled) running `body`, and a handle to its
    /// result.
    fn create(body: F, id: TaskId, name: &'static str, lp: HomeRef) -> (TaskRef, Future<T>) {
        let ptr = blocks::alloc(Layout::new::<Self>()).cast::<Self>();
        let core = ptr.cast::<TaskCore>();
        // SAFETY: a fresh block with the cell's size and alignment.
        unsafe {
            ptr.write(TaskCell {
                core: TaskCore::new(&Self::VTABLE, id, name, lp),
                body: UnsafeCell::new(MaybeUninit::new(body)),
                out: Inner::in_task(core),
            })
        };
        // The cell was just written with one count (`TaskCore::new` starts
        // at one), which the TaskRef takes over.
        let task = TaskRef(core);
        // SAFETY: the cell was just written, and lives while any count does.
        let cell = unsafe { ptr.as_ref() };
        // SAFETY: the result slot lives as long as the cell, whose count the
        // future shares.
        let out = unsafe { Future::in_task(NonNull::from(&cell.out)) };
        (task, out)
    }

    /// Moves the body out, if it is still there.
    ///
    /// # Safety
    /// Nothing else touches the body meanwhile (the loop's launch, abandon
    /// and free run one at a time, never while the task runs).
    unsafe fn take_body(&self) -> Option<F> {
        self.core.mark(raw::BODY_LIVE, false).then(|| {
            // SAFETY: nothing else touches the body now (the caller's contract).
            let body = unsafe { &*self.body.get() };
            // SAFETY: the flag is set exactly while the body is initialised,
            // and is cleared above before the value is moved out, so it is
            // read once.
            unsafe { body.assume_init_read() }
        })
    }

    /// The cell whose core `core` is.
    ///
    /// # Safety
    /// `core` is the core of a `TaskCell<F, T>` (its vtable is `Self::VTABLE`).
    unsafe fn of(core: &TaskCore) -> &Self {
        // SAFETY: the cell is repr(C) with the core first, so both start at
        // the same address; the caller vouches for the type.
        unsafe { &*(core as *const TaskCore as *const Self) }
    }

    /// See [`Vtable::launch`].
    unsafe fn launch(core: &TaskCore, stack_size: usize, mode: StackMode, first: Wake) -> bool {
        // SAFETY: only called through this type's vtable.
        let cell = unsafe { Self::of(core) };
        // SAFETY: the loop launches a task once, on its own stack, and nothing
        // else touches the body.
        let body = unsafe { cell.take_body() }.expect("a task is launched once");
        let out: *const Inner<T> = &cell.out;
        // SAFETY: the result slot lives in the cell, which outlives the task's
        // coroutine (the coroutine lives in the cell too, and is dropped first).
        let finish = move |outcome| unsafe { (*out).finish(outcome) };
        if first == Wake::Cancel {
            // Cancelled before it ever ran: the body never starts, no stack is taken.
            core.note_end(TaskEnd::Cancelled(CancelCause::Requested));
            drop(body);
            finish(Outcome::Cancelled);
            return false;
        }
        // A scoped task never shares a stack with a task it borrows from.
        let avoid = if core.marked(raw::SCOPED) {
            raw::ancestor_stacks(core)
        } else {
            Vec::new()
        };
        let (stack, shared_index) =
            match shared::task_stack(stack_size, core.name, mode, suspend::park_depth, &avoid) {
                Ok(stack) => stack,
                Err(e) => {
                    finish(Outcome::Panic(Box::new(e.to_string())));
                    return false;
                }
            };
        let (hi, size) = stack.bounds();
        let Ok(len) = u32::try_from(size) else {
            unreachable!("stack sizes are at most MAX_STACK_SIZE (1 GiB)")
        };
        core.stack_len.set(len);
        core.stack_hi.set(hi);
        if let Some(index) = shared_index {
            core.shared.set(index + 1);
            // corosensei writes the coroutine's first frame into the stack
            // as it creates it: the previous occupant's frames go out first.
            shared::switch_in(index, core.key(), core.name);
        }
        let me: *const TaskCore = core;
        let co = Coroutine::with_stack(stack, move |yielder: &TaskYielder, _first: Wake| {
            // SAFETY: the coroutine lives in the task's record, so the record
            // outlives it.
            let core = unsafe { &*me };
            core.yielder.set(yielder);
            let caught = catch_unwind(AssertUnwindSafe(body));
            core.state.cancellation_caught();
            let outcome = match caught {
                // Cancelled right before it returned: it ends cancelled (asyncio does the same).
                Ok(_) if core.state.cancelled_at_return() => Outcome::Cancelled,
                Ok(v) => Outcome::Value(v),
                Err(p) if suspend::is_forced_unwind() => std::panic::resume_unwind(p),
                Err(p) if suspend::is_cancelled(p.as_ref()) => {
                    let cause = match p.downcast_ref::<suspend::AwaitedCancelled>() {
                        Some(awaited) => CancelCause::Awaited(awaited.0),
                        None => CancelCause::Requested,
                    };
                    core.note_end(TaskEnd::Cancelled(cause));
                    Outcome::Cancelled
                }
                Err(p) => {
                    if let Some(home) = core.lp.upgrade() {
                        home.discount_step();
                    }
                    Outcome::Panic(p)
                }
            };
            match &outcome {
                Outcome::Value(_) => {}
                Outcome::Cancelled => {
                    // Keep a more telling cause set above.
                    core.state
                        .note_cancelled(TaskEnd::Cancelled(CancelCause::Requested));
                }
                Outcome::Panic(p) => core.note_end(TaskEnd::Panicked(
                    crate::warnings::panic_message(p.as_ref()),
                )),
            }
            finish(outcome);
        });
        // SAFETY: the loop launches a task once, from `step`, which holds no
        // reference to `co` across this call.
        unsafe { *core.co.get() = Some(co) };
        true
    }

    /// See [`Vtable::abandon`].
    unsafe fn abandon(core: &TaskCore) {
        // SAFETY: only called through this type's vtable, by the loop, never
        // while the task runs.
        let cell = unsafe { Self::of(core) };
        // SAFETY: as above: nothing else touches the body.
        drop(unsafe { cell.take_body() });
        if !cell.out.is_done() {
            core.note_end(TaskEnd::Cancelled(CancelCause::LoopClosed));
            cell.out.finish(Outcome::Cancelled);
        }
    }

    /// See [`Vtable::dealloc`].
    unsafe fn dealloc(core_ptr: NonNull<TaskCore>) {
        let cell = core_ptr.cast::<Self>();
        // The last count went, so nothing else refers to the cell, which
        // `create` wrote into a block from `blocks::alloc`; each part is
        // dropped once, then the block goes back. The coroutine first, while
        // all it may refer to is there (the loop has normally unwound and
        // dropped it already); then the result slot, which reads the task's
        // name to warn of a failure nobody retrieved; then the rest.
        let cell = cell.as_ptr();
        // SAFETY: the cell is alive and whole until the drops below.
        unsafe { &(*cell).core }.drop_coroutine();
        // SAFETY: a field of the live cell, no reference made.
        let out = unsafe { &raw mut (*cell).out };
        // SAFETY: the result slot is dropped here, once, and not used again.
        unsafe { std::ptr::drop_in_place(out) };
        // SAFETY: the core is alive until it is dropped below.
        if unsafe { &(*cell).core }.mark(raw::BODY_LIVE, false) {
            // SAFETY: a field of the live cell, no reference made;
            // `UnsafeCell<MaybeUninit<F>>` has the layout of an `F`.
            let body = unsafe { &raw mut (*cell).body }.cast::<F>();
            // SAFETY: the flag said the body is there; it was just cleared,
            // so the body is dropped once, and nothing else touches it (the
            // last count went).
            unsafe { std::ptr::drop_in_place(body) };
        }
        // SAFETY: as for the result slot.
        let record = unsafe { &raw mut (*cell).core };
        // SAFETY: the core is dropped here, once, and not used again.
        unsafe { std::ptr::drop_in_place(record) };
        // SAFETY: every part is dropped; the block came from
        // `blocks::alloc` with this layout and is not used again.
        unsafe { blocks::free(core_ptr.cast(), Layout::new::<Self>()) };
    }
}

impl TaskCore {
    /// Runs one step of the task on its stack; `Some(trap)` if it paused.
    pub(crate) fn step(&self, wake: Wake, stack_size: usize, mode: StackMode) -> Option<Trap> {
        // A scoped task's ancestors' frames in place first: it (or its body's
        // drop, for one cancelled before it started) may read them.
        raw::ancestors_resident(self);
        let entered = context::enter(self);
        // SAFETY: steps are driven only by the loop, one at a time, and a
        // task never steps itself, so nothing else refers to the coroutine.
        let unlaunched = unsafe { (*self.co.get()).is_none() };
        // SAFETY: the vtable is the cell's own, and a task with no coroutine
        // yet has not been launched (a finished one is never stepped); no
        // reference to `co` is held across the launch.
        if unlaunched && !unsafe { (self.vtable.launch)(self, stack_size, mode, wake) } {
            return None;
        }
        let paused = suspend::resume(self, wake);
        drop(entered);
        if paused.is_none() {
            // Give the stack back now.
            self.drop_coroutine();
        }
        paused
    }

    /// Drops the coroutine (unwinding it if it is suspended: its frames are
    /// switched in first on a shared stack) and lets go of the stack.
    fn drop_coroutine(&self) {
        // SAFETY: called by the loop on its own stack (or as the record is
        // freed), never while the task runs: nothing else refers to `co`.
        let co = unsafe { &mut *self.co.get() };
        if co.is_none() {
            return;
        }
        // Unwinding a suspended scoped task runs its destructors.
        raw::ancestors_resident(self);
        if let Some(index) = self.shared_index() {
            shared::switch_in(index, self.key(), self.name);
            drop(co.take());
            shared::release(index, self.key());
            self.shared.set(0);
        } else {
            drop(co.take());
        }
    }

    /// Gives up on a task that would not finish when cancelled: its
    /// coroutine is never resumed again, so its stack is leaked (unwinding
    /// it could run cleanup that awaits inside an unwind, which aborts), and
    /// it ends cancelled if it has no outcome. Used by a closing loop, with
    /// a warning.
    pub(crate) fn leak(&self) {
        // Abandoning drops a body that never started: it may borrow.
        raw::ancestors_resident(self);
        // SAFETY: called by the loop on its own stack, never while the task runs.
        let co = unsafe { &mut *self.co.get() };
        std::mem::forget(co.take());
        // A task whose scoped tasks are still alive keeps its place on its
        // shared stack, frames and all: they read them, and the loop puts
        // them back for each of their steps. (Leaked with the rest.)
        if let Some(index) = self.shared_index()
            && !raw::has_scoped_children(self)
        {
            shared::release(index, self.key());
            self.shared.set(0);
        }
        // SAFETY: the vtable is the cell's own; the task is not running.
        unsafe { (self.vtable.abandon)(self) };
        self.state.finish();
    }

    /// Unwinds a suspended task's stack (every destructor runs) and drops a
    /// body that never started; a task that has no outcome yet ends
    /// cancelled, so its handles do not wait for ever. Used when a loop is
    /// dropped without being closed (closing cancels tasks instead).
    pub(crate) fn unwind(&self) {
        // Its destructors may read what it borrows from its ancestors.
        raw::ancestors_resident(self);
        let entered = context::enter(self);
        self.state.force_unwind();
        self.drop_coroutine();
        // SAFETY: the vtable is the cell's own; the task is not running.
        unsafe { (self.vtable.abandon)(self) };
        drop(entered);
        self.state.finish();
    }
}

/// Sets how many records of finished tasks this thread keeps for its next
/// spawns, per size class, and frees those beyond it now. Default: no limit
/// (the list never outgrows the peak number of live tasks; a trivial task's record is
/// 256 bytes).
///
/// ```
/// yieldfrom::tuning::set_record_limit(10_000);
/// assert_eq!(yieldfrom::tuning::record_limit(), 10_000);
/// ```
pub fn set_record_limit(records: usize) {
    blocks::set_limit(records);
}

/// How many finished tasks' records this thread keeps per size class (see
/// [`set_record_limit`]).
///
/// ```
/// let before = yieldfrom::tuning::record_limit();
/// yieldfrom::tuning::set_record_limit(100);
/// assert_eq!(yieldfrom::tuning::record_limit(), 100);
/// yieldfrom::tuning::set_record_limit(before);
/// ```
pub fn record_limit() -> usize {
    blocks::limit()
}

impl<T: 'static> Task<T> {
    /// Builds the task (not yet scheduled) for `body`, named `name`.
    pub(crate) fn new<F: FnOnce() -> T + 'static>(
        body: F,
        id: TaskId,
        name: &'static str,
        lp: HomeRef,
    ) -> Task<T> {
        let (core, fut) = TaskCell::create(body, id, name, lp);
        Task { core, fut }
    }
}

#[cfg(test)]
mod tests {
    use super::blocks;
    use std::alloc::Layout;

    /// Hands a block back (each block of these tests came from
    /// `blocks::alloc` with the layout it is freed with, and is freed once).
    fn free(block: std::ptr::NonNull<u8>, layout: Layout) {
        // SAFETY: as the tests use it (see above).
        unsafe { blocks::free(block, layout) }
    }

    #[test]
    fn blocks_are_reused_first_freed_first_and_kept_up_to_the_record_limit() {
        super::set_record_limit(2);
        let layout = Layout::from_size_align(300, 8).unwrap();
        let same_class = Layout::from_size_align(270, 16).unwrap();
        let a = blocks::alloc(layout);
        let b = blocks::alloc(layout);
        let c = blocks::alloc(layout);
        assert_eq!(a.as_ptr() as usize % 64, 0, "blocks are cache-line aligned");
        free(a, layout);
        free(b, layout);
        free(c, layout); // past the limit: back to the allocator
        assert_eq!(blocks::waiting(layout), 2);
        // Oldest first, and any layout of the same class takes them.
        let again = blocks::alloc(same_class);
        assert_eq!(again, a);
        assert_eq!(blocks::alloc(layout), b);
        assert_eq!(blocks::waiting(layout), 0);
        free(again, same_class);
        free(b, layout);
        // Too big for a class: never kept.
        let big = Layout::from_size_align(4096, 8).unwrap();
        let block = blocks::alloc(big);
        free(block, big);
        assert_eq!(blocks::waiting(big), 0);
        // Lowering the limit frees what is beyond it at once.
        let (a, b) = (blocks::alloc(layout), blocks::alloc(layout));
        free(a, layout);
        free(b, layout);
        assert_eq!(blocks::waiting(layout), 2);
        super::set_record_limit(1);
        assert_eq!(blocks::waiting(layout), 1);
        super::set_record_limit(usize::MAX);
    }

    #[test]
    fn a_trivial_tasks_record_is_four_cache_lines() {
        // The spawn + join figure depends on it: a field that pushes the
        // record into the next 64-byte class costs a cache line per task.
        fn cell_size<F: FnOnce() -> u64>(_: &F) -> usize {
            std::mem::size_of::<super::TaskCell<F, u64>>()
        }
        let captured = 7u64;
        let size = cell_size(&move || captured);
        assert!(size <= 256, "a trivial task's record is {size} bytes");
    }

    #[test]
    fn finished_tasks_records_are_kept_for_the_next_spawns() {
        fn body(i: u32) -> impl FnOnce() -> u32 {
            move || i
        }
        fn cell_layout<F: FnOnce() -> u32>(_: &F) -> Layout {
            Layout::new::<super::TaskCell<F, u32>>()
        }
        let layout = cell_layout(&body(0));
        let lp = crate::EventLoop::new();
        lp.run_until_complete(crate::Coro::new("main", || {
            let tasks: Vec<_> = (0..10u32)
                .map(|i| crate::spawn(crate::Coro::new("t", body(i))))
                .collect();
            let sum: u32 = tasks.into_iter().map(|t| t.join()).sum();
            assert_eq!(sum, 45);
        }));
        // The ten records went back to the list (the main task's may have
        // joined them, if its cell falls in the same size class).
        assert!(blocks::waiting(layout) >= 10, "{}", blocks::waiting(layout));
    }
}
