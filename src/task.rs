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
use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::mem::MaybeUninit;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;
use std::rc::Weak;

use corosensei::{Coroutine, CoroutineResult};

use crate::event_loop::Core;
use crate::future::{Future, Inner, Outcome};
use crate::stack::StackMode;
use crate::stack::shared::{self, TaskStack};
use crate::suspend::{self, Suspend, TaskYielder, Trap, Wake};

/// A task's number, unique within its loop, in order of creation (so a
/// replayed program numbers its tasks the same way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub(crate) u64);

impl TaskId {
    /// The number: 1 for the loop's first task, then in order of spawning.
    ///
    /// ```
    /// use yieldfrom::{run, spawn, Coro};
    /// let (a, b) = run(Coro::new("main", || {
    ///     let t = spawn(Coro::new("t", || ()));
    ///     (yieldfrom::Task::id(&t).get(), t.id().get())
    /// }));
    /// assert_eq!((a, b), (2, 2)); // main is #1
    /// ```
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// How a task ended (what traces, timelines and the stepper say).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskEnd {
    /// Its body returned a value.
    Returned,
    /// Its body panicked, with this message.
    Panicked(String),
    /// It was cancelled.
    Cancelled(CancelCause),
}

/// Why a task ended cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelCause {
    /// [`Task::cancel`] (or a timeout, a task group) asked it to stop.
    Requested,
    /// It awaited this task, which was cancelled, and did not catch that.
    Awaited(&'static str),
    /// Its loop closed before it started, or gave up on it.
    LoopClosed,
}

impl fmt::Display for TaskEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskEnd::Returned => f.write_str("returned"),
            TaskEnd::Panicked(message) => write!(f, "panicked: {message}"),
            TaskEnd::Cancelled(CancelCause::Requested) => f.write_str("cancelled"),
            TaskEnd::Cancelled(CancelCause::Awaited(name)) => {
                write!(
                    f,
                    "cancelled: it awaited task '{name}', which was cancelled"
                )
            }
            TaskEnd::Cancelled(CancelCause::LoopClosed) => {
                f.write_str("cancelled: the loop closed")
            }
        }
    }
}

/// What is unwinding through a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unwind {
    /// Nothing.
    None,
    /// A cancellation raised at an await point, not yet caught by
    /// [`catch_cancelled`](crate::catch_cancelled) or the task's root.
    Cancelling,
    /// The loop is dropped without closing and drops the task's stack.
    Forced,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskState {
    Ready,
    Running,
    Waiting,
    Done,
}

type TaskCoroutine = Coroutine<Wake, Trap, (), TaskStack>;

/// What a task record does that depends on its body's and result's types.
struct Vtable {
    /// Makes the coroutine (in the core's `co`) on the task's first step,
    /// given the stack size and mode and the first wake; false if the task finished
    /// without running (cancelled before it started, or no stack could be
    /// mapped: the task then fails with that error).
    launch: unsafe fn(&TaskCore, usize, StackMode, Wake) -> bool,
    /// Drops the body of a task that never started, and ends its result as
    /// cancelled if it has none (the loop is closing without it).
    abandon: unsafe fn(&TaskCore),
    /// Drops the whole record and frees it (the last reference went).
    dealloc: unsafe fn(NonNull<TaskCore>),
}

/// A task's one allocation: the untyped part the loop works with, the body
/// until it starts, and the task's result slot (its [`Future`]).
///
/// tokio's `Cell<T, S>` has the same shape, for the same reason: spawn and
/// join of 100,000 tasks spent about half its time in `malloc` and `free`
/// when a task was three objects (record, result slot, body), the record
/// past glibc's 128-byte fast bins.
#[repr(C)]
struct TaskCell<F, T> {
    /// First, so that a pointer to the cell is a pointer to its core.
    core: TaskCore,
    /// The body until it starts; `core.body_live` says whether it is there
    /// (a flag among the core's, rather than an `Option`'s tag here).
    body: UnsafeCell<MaybeUninit<F>>,
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
    fn create(body: F, id: TaskId, name: &'static str, lp: Weak<Core>) -> (TaskRef, Future<T>) {
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
        // SAFETY: the cell was just written with one count (`TaskCore::new`
        // starts at one), which the TaskRef takes over; the result slot lives
        // as long as the cell, whose count the future shares.
        unsafe {
            let task = TaskRef(core);
            let out = Future::in_task(NonNull::from(&ptr.as_ref().out));
            (task, out)
        }
    }

    /// Moves the body out, if it is still there.
    ///
    /// # Safety
    /// Nothing else touches the body meanwhile (the loop's launch, abandon
    /// and free run one at a time, never while the task runs).
    unsafe fn take_body(&self) -> Option<F> {
        // SAFETY: the flag is set exactly while the body is initialised, and
        // is cleared here before the value is moved out, so it is read once.
        self.core
            .body_live
            .replace(false)
            .then(|| unsafe { (*self.body.get()).assume_init_read() })
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
        let (stack, shared_index) = match shared::task_stack(stack_size, core.name, mode) {
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
        let co =
            Coroutine::with_stack(stack, move |yielder: &TaskYielder, _first: Wake| {
                // SAFETY: the coroutine lives in the task's record, so the record
                // outlives it.
                let core = unsafe { &*me };
                core.yielder.set(yielder);
                let caught = catch_unwind(AssertUnwindSafe(body));
                if core.unwind.get() == Unwind::Cancelling {
                    core.unwind.set(Unwind::None);
                }
                let outcome = match caught {
                    // Cancelled right before it returned: it ends cancelled (asyncio does the same).
                    Ok(_) if core.cancel_requested.replace(false) => Outcome::Cancelled,
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
                        crate::event_loop::discount_step();
                        Outcome::Panic(p)
                    }
                };
                match &outcome {
                    Outcome::Value(_) => {}
                    Outcome::Cancelled => {
                        // Keep a more telling cause set above.
                        let note = core.end_note.take();
                        core.end_note.set(Some(note.unwrap_or_else(|| {
                            Box::new(TaskEnd::Cancelled(CancelCause::Requested))
                        })));
                    }
                    Outcome::Panic(p) => {
                        core.note_end(TaskEnd::Panicked(crate::future::panic_message(p.as_ref())))
                    }
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
    unsafe fn dealloc(core: NonNull<TaskCore>) {
        let cell = core.cast::<Self>();
        // SAFETY: the last count went, so nothing else refers to the cell,
        // which `create` wrote into a block from `blocks::alloc`; it is
        // dropped once, then its block goes back.
        unsafe {
            let cell = cell.as_ptr();
            // The coroutine first, while all it may refer to is there (the
            // loop has normally unwound and dropped it already); then the
            // result slot, which reads the task's name to warn of a failure
            // nobody retrieved; then the rest.
            (*cell).core.drop_coroutine();
            std::ptr::drop_in_place(&raw mut (*cell).out);
            drop((*cell).take_body());
            std::ptr::drop_in_place(&raw mut (*cell).core);
            blocks::free(NonNull::new_unchecked(cell.cast()), Layout::new::<Self>());
        }
    }
}

/// Task records of finished tasks, kept for the next spawns.
///
/// A task's record is one block of a few hundred bytes. Handed back to glibc
/// in a burst (100,000 tasks joined), the blocks coalesce, the heap's top is
/// given back to the kernel, and the next burst of spawns page-faults it all
/// in again: spawn + join then costs twice as much (tokio pays exactly that
/// in the spawn + join benchmark). So the blocks of finished tasks stay on
/// this thread, by size class, as Go keeps its dead goroutines' `g` records
/// for the next `go` statement. By default every one is kept: the list
/// never holds more records than were alive at once at the peak, so it costs
/// no more memory than the program already used (10,000 connections: about
/// 3 MB). [`set_record_limit`] bounds it, for a program whose one burst of a
/// million tasks should not keep 250 MB afterwards.
///
/// Blocks are handed out oldest first (FIFO): the next batch of tasks then
/// gets its records in the order the last batch freed them, which is the
/// address order they were first given out in. A stack (LIFO) reverses that
/// order every batch, and every other batch's spawns ran at 70 ns instead of
/// 30 ns per task against the hardware prefetcher.
mod blocks {
    use std::alloc::Layout;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::ptr::NonNull;

    /// Classes are multiples of this many bytes, aligned to it.
    const GRAIN: usize = 64;
    const CLASSES: usize = 16;

    /// This thread's free blocks, by class, and how many of each it keeps.
    struct Free {
        lists: [VecDeque<NonNull<u8>>; CLASSES],
        limit: usize,
    }

    impl Free {
        /// Gives blocks of `class` back to the allocator until at most
        /// `keep` are left.
        fn trim(&mut self, class: usize, keep: usize) {
            while self.lists[class].len() > keep {
                let block = self.lists[class].pop_back().expect("longer than `keep`");
                // SAFETY: every block on the list was allocated by `alloc`
                // with the layout of its class, and is not in use.
                unsafe { std::alloc::dealloc(block.as_ptr(), class_layout(class)) };
            }
        }
    }

    impl Drop for Free {
        fn drop(&mut self) {
            for class in 0..CLASSES {
                self.trim(class, 0);
            }
        }
    }

    thread_local! {
        static FREE: RefCell<Free> = const {
            RefCell::new(Free { lists: [const { VecDeque::new() }; CLASSES], limit: usize::MAX })
        };
    }

    pub(super) fn limit() -> usize {
        FREE.with(|free| free.borrow().limit)
    }

    /// Sets the limit and gives back the blocks beyond it now.
    pub(super) fn set_limit(records: usize) {
        FREE.with(|free| {
            let mut free = free.borrow_mut();
            free.limit = records;
            for class in 0..CLASSES {
                free.trim(class, records);
            }
        });
    }

    fn class_of(layout: Layout) -> Option<usize> {
        let class = layout.size().div_ceil(GRAIN).checked_sub(1)?;
        (class < CLASSES && layout.align() <= GRAIN).then_some(class)
    }

    fn class_layout(class: usize) -> Layout {
        Layout::from_size_align((class + 1) * GRAIN, GRAIN).expect("a valid class layout")
    }

    /// How many blocks of `layout`'s class wait on this thread's list.
    #[cfg(test)]
    pub(super) fn waiting(layout: Layout) -> usize {
        class_of(layout).map_or(0, |c| FREE.with(|free| free.borrow().lists[c].len()))
    }

    /// A block for `layout` (not zero-sized).
    pub(super) fn alloc(layout: Layout) -> NonNull<u8> {
        let class = class_of(layout);
        let reused = class.and_then(|c| {
            FREE.try_with(|free| free.borrow_mut().lists[c].pop_front())
                .ok()
                .flatten()
        });
        if let Some(block) = reused {
            return block;
        }
        let layout = class.map_or(layout, class_layout);
        // SAFETY: task records are never zero-sized (the core is not).
        let block = unsafe { std::alloc::alloc(layout) };
        NonNull::new(block).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
    }

    /// Hands back a block `alloc` gave for `layout`.
    ///
    /// # Safety
    /// `block` came from `alloc(layout)`, its contents are dropped, and it is
    /// not used again.
    pub(super) unsafe fn free(block: NonNull<u8>, layout: Layout) {
        let Some(class) = class_of(layout) else {
            // SAFETY: `alloc` allocated it with this very layout.
            unsafe { std::alloc::dealloc(block.as_ptr(), layout) };
            return;
        };
        let kept = FREE
            .try_with(|free| {
                let mut free = free.borrow_mut();
                let keep = free.lists[class].len() < free.limit;
                if keep {
                    free.lists[class].push_back(block);
                }
                keep
            })
            .unwrap_or(false);
        if !kept {
            // SAFETY: `alloc` allocated it with its class's layout.
            unsafe { std::alloc::dealloc(block.as_ptr(), class_layout(class)) };
        }
    }
}

/// A counted reference to a task's record (an `Rc` whose count lives in the
/// record's core, shared with the task's result slot).
pub(crate) struct TaskRef(NonNull<TaskCore>);

impl TaskRef {
    /// Gives up the reference as a pointer (see [`from_raw`](Self::from_raw)).
    pub(crate) fn into_raw(this: TaskRef) -> *const TaskCore {
        std::mem::ManuallyDrop::new(this).0.as_ptr()
    }

    /// Takes back a reference given up by [`into_raw`](Self::into_raw).
    ///
    /// # Safety
    /// `ptr` comes from `into_raw` and is taken back once.
    pub(crate) unsafe fn from_raw(ptr: *const TaskCore) -> TaskRef {
        // SAFETY: `into_raw` never returns null; the caller hands over its count.
        TaskRef(unsafe { NonNull::new_unchecked(ptr.cast_mut()) })
    }

    /// Adds a count to the record at `core`.
    ///
    /// # Safety
    /// `core` is a live task record.
    pub(crate) unsafe fn acquire(core: NonNull<TaskCore>) {
        // SAFETY: the caller vouches that it is alive.
        let refs = unsafe { &core.as_ref().refs };
        // As `Rc` does: a count that would overflow means leaked handles
        // by the billion; stop rather than free a record still in use.
        refs.set(
            refs.get()
                .checked_add(1)
                .unwrap_or_else(|| std::process::abort()),
        );
    }

    /// Drops a count of the record at `core`, freeing it with the last one.
    ///
    /// # Safety
    /// The caller owns one count of the live record at `core` and gives it up.
    pub(crate) unsafe fn release(core: NonNull<TaskCore>) {
        // SAFETY: the caller's count keeps it alive until here.
        let (refs, vtable) = unsafe { (&core.as_ref().refs, core.as_ref().vtable) };
        let left = refs.get() - 1;
        refs.set(left);
        if left == 0 {
            // SAFETY: that was the last count.
            unsafe { (vtable.dealloc)(core) }
        }
    }
}

impl Clone for TaskRef {
    fn clone(&self) -> TaskRef {
        // SAFETY: this reference's count keeps the record alive.
        unsafe { TaskRef::acquire(self.0) };
        TaskRef(self.0)
    }
}

impl std::ops::Deref for TaskRef {
    type Target = TaskCore;

    fn deref(&self) -> &TaskCore {
        // SAFETY: this reference's count keeps the record alive.
        unsafe { self.0.as_ref() }
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: this reference owns one count, given up here.
        unsafe { TaskRef::release(self.0) }
    }
}

/// The untyped part of a task, owned by the loop.
pub(crate) struct TaskCore {
    /// How many [`TaskRef`]s and [`Future`] handles to the task's result
    /// there are (the record is freed when the last goes).
    refs: Cell<u32>,
    vtable: &'static Vtable,
    pub(crate) id: TaskId,
    pub(crate) name: &'static str,
    /// The loop it belongs to: wakes and cancellations are scheduled there,
    /// whichever loop (or none) is running when they happen.
    pub(crate) lp: Weak<Core>,
    co: UnsafeCell<Option<TaskCoroutine>>,
    pub(crate) state: Cell<TaskState>,
    seq: Cell<u32>,
    pub(crate) cancel_requested: Cell<bool>,
    /// A wake that arrived while the task was still running (before it parked).
    pub(crate) early_wake: Cell<Option<Wake>>,
    /// How the task is woken when the loop next steps it (set as it is
    /// scheduled: the ready queue holds only the task).
    pub(crate) wake: Cell<Wake>,
    yielder: Cell<*const TaskYielder>,
    /// The top of its stack, and the usable bytes below it.
    stack_hi: Cell<usize>,
    stack_len: Cell<u32>,
    /// About where the stack pointer was when the task last parked (0 before
    /// its first step): the loop prefetches that part of the stack when it
    /// schedules the task.
    parked_sp: Cell<usize>,
    /// 0 on a dedicated stack; `index + 1` on shared stack `index` (whose
    /// frames must be switched in before the coroutine is touched).
    shared: Cell<u8>,
    /// Whether the cell still holds the body (it has not started).
    body_live: Cell<bool>,
    /// Its index in the loop's task table.
    pub(crate) slot: Cell<u32>,
    pub(crate) warned_blocking: Cell<bool>,
    /// Whether a cancellation is unwinding through the task, or a forced
    /// unwind (a loop dropped without closing) that must reach the stack's
    /// root untouched.
    pub(crate) unwind: Cell<Unwind>,
    /// What it waits on now (for the stepper and deadlock messages).
    pub(crate) waiting_on: Cell<Option<Suspend>>,
    /// How it ended, when not by returning (for traces).
    /// (A thin box: one word in the record, for a note most tasks never have.)
    end_note: Cell<Option<Box<TaskEnd>>>,
}

impl TaskCore {
    /// A core with one count, for a cell whose vtable is `vtable`.
    fn new(vtable: &'static Vtable, id: TaskId, name: &'static str, lp: Weak<Core>) -> TaskCore {
        TaskCore {
            refs: Cell::new(1),
            vtable,
            id,
            name,
            lp,
            co: UnsafeCell::new(None),
            state: Cell::new(TaskState::Ready),
            seq: Cell::new(0),
            cancel_requested: Cell::new(false),
            early_wake: Cell::new(None),
            wake: Cell::new(Wake::Run),
            yielder: Cell::new(std::ptr::null()),
            stack_hi: Cell::new(0),
            stack_len: Cell::new(0),
            parked_sp: Cell::new(0),
            shared: Cell::new(0),
            body_live: Cell::new(true),
            slot: Cell::new(u32::MAX),
            warned_blocking: Cell::new(false),
            unwind: Cell::new(Unwind::None),
            waiting_on: Cell::new(None),
            end_note: Cell::new(None),
        }
    }

    /// Another counted reference to this task.
    pub(crate) fn rc(&self) -> TaskRef {
        let core = NonNull::from(self);
        // SAFETY: every core lives in a task cell (`TaskCore::new` is private
        // to `TaskCell::create`), and `self` is borrowed, so it is alive.
        unsafe { TaskRef::acquire(core) };
        TaskRef(core)
    }

    /// Its id and name, for instruments.
    pub(crate) fn info(&self) -> crate::trace::TaskInfo {
        crate::trace::TaskInfo {
            id: self.id,
            name: self.name,
        }
    }

    /// Records how the task ended, when not by returning.
    fn note_end(&self, end: TaskEnd) {
        self.end_note.set(Some(Box::new(end)));
    }

    /// How the task ended.
    pub(crate) fn end_note(&self) -> TaskEnd {
        let note = self.end_note.take();
        let end = note.as_deref().cloned().unwrap_or(TaskEnd::Returned);
        self.end_note.set(note);
        end
    }

    pub(crate) fn wait_seq(&self) -> u32 {
        self.seq.get()
    }

    /// Moves to the next wait: older wakes no longer match.
    pub(crate) fn bump_seq(&self) {
        self.seq.set(self.seq.get().wrapping_add(1));
    }

    /// Asks the CPU to bring the top of the parked task's stack into the
    /// cache: called when the task is scheduled, so that by the time the loop
    /// switches to it (after the rest of the events of this poll), returning
    /// through its frames does not stall on memory. With 10,000 connections
    /// the stacks do not fit in the cache, and those misses were most of the
    /// loop's user time per round trip.
    #[inline]
    pub(crate) fn prefetch_stack(&self) {
        // Where the stack was is itself in the record, which is cold too: the
        // loop prefetched it one task earlier (`prefetch_record`).
        let sp = self.parked_sp.get();
        if sp == 0 {
            return;
        }
        // The frames the task returns through lie above `sp`; what it calls
        // next (a read, a write) lies just below.
        let lo = (sp.saturating_sub(128) & !63).max(self.stack_lo());
        let hi = (sp + 384).min(self.stack_hi.get());
        let mut line = lo;
        while line < hi {
            prefetch(line as *const u8);
            line += 64;
        }
    }

    /// Prefetches the part of the record that `prefetch_stack` reads, without
    /// reading it.
    #[inline]
    pub(crate) fn prefetch_record(&self) {
        // The three fields may lie on two lines (the compiler orders the
        // record's fields); a miss on the second showed in the profile with
        // 10,000 connections.
        prefetch(self.parked_sp.as_ptr() as *const u8);
        prefetch(self.stack_len.as_ptr() as *const u8);
        prefetch(self.stack_hi.as_ptr() as *const u8);
    }

    /// The lowest usable address of its stack.
    #[inline(always)]
    fn stack_lo(&self) -> usize {
        self.stack_hi.get() - self.stack_len.get() as usize
    }

    /// Called on the task's own stack: the switch to the loop.
    ///
    /// A cancellation that was raised and then swallowed (caught by a bare
    /// `catch_unwind`, not [`catch_cancelled`](crate::catch_cancelled)) is
    /// delivered again here: the task yields to the loop and comes back with
    /// `Cancel` (so a task that swallows every cancellation in a loop still
    /// lets the others run, and a closing loop can give up on it). During the
    /// cancellation's own unwind (its destructors running) waiting is
    /// allowed, as under asyncio's `finally: await`.
    #[inline(always)]
    pub(crate) fn suspend(&self, reason: Suspend) -> Wake {
        let reason = if self.unwind.get() == Unwind::Cancelling && !std::thread::panicking() {
            self.redeliver_cancel()
        } else {
            reason
        };
        let sp = suspend::check_on_task_stack(self.stack_lo(), self.stack_hi.get());
        self.parked_sp.set(sp);
        let trap = match reason {
            Suspend::YieldNow => Trap::YieldNow,
            Suspend::Sleep { .. } => {
                self.waiting_on.set(Some(reason));
                Trap::Sleep
            }
            reason => {
                self.waiting_on.set(Some(reason));
                Trap::Wait
            }
        };
        // SAFETY: `yielder` was set by the task's body at its start, on this
        // stack, and stays valid until the body returns; we are on this stack
        // (checked above), so the body has not returned.
        let yielder = unsafe { &*self.yielder.get() };
        if self.shared.get() != 0 {
            // The loop saves this task's frames from the exact stack pointer.
            return suspend::park(yielder, trap, &self.parked_sp);
        }
        yielder.suspend(trap)
    }

    /// Runs one step of the task on its stack; `Some(trap)` if it paused.
    pub(crate) fn step(&self, wake: Wake, stack_size: usize, mode: StackMode) -> Option<Trap> {
        let entered = suspend::enter(self);
        // SAFETY: steps are driven only by the loop, one at a time, and a task
        // never steps itself (suspend() runs on the task stack, step() on the
        // loop's), so nothing else refers to the coroutine now.
        let unlaunched = unsafe { (*self.co.get()).is_none() };
        // SAFETY: the vtable is the cell's own, and a task with no coroutine
        // yet has not been launched (a finished one is never stepped); no
        // reference to `co` is held across the launch.
        if unlaunched && !unsafe { (self.vtable.launch)(self, stack_size, mode, wake) } {
            return None;
        }
        let shared = self.shared_index();
        if let Some(index) = shared {
            shared::switch_in(index, self.key(), self.name);
        }
        // SAFETY: as above.
        let co = unsafe { &mut *self.co.get() };
        let result = co.as_mut().map(|co| co.resume(wake));
        drop(entered);
        match result {
            Some(CoroutineResult::Yield(trap)) => {
                if let Some(index) = shared {
                    let depth = suspend::park_depth().expect("a shared stack was calibrated");
                    shared::parked(index, self.key(), self.parked_sp.get() - depth);
                }
                Some(trap)
            }
            Some(CoroutineResult::Return(())) | None => {
                // Give the stack back now.
                self.drop_coroutine();
                None
            }
        }
    }

    /// A swallowed cancellation, delivered again: the task parks as for
    /// `yield_now`, and the loop resumes it with `Cancel`.
    #[cold]
    fn redeliver_cancel(&self) -> Suspend {
        self.cancel_requested.set(true);
        Suspend::YieldNow
    }

    /// Whether the task swallowed a cancellation and is about to get it
    /// again (a closing loop counts these).
    pub(crate) fn swallowed_cancel(&self) -> bool {
        self.unwind.get() == Unwind::Cancelling
            && self.state.get() == TaskState::Ready
            && self.wake.get() == Wake::Cancel
    }

    /// The index of its shared stack, if it runs on one.
    #[inline(always)]
    fn shared_index(&self) -> Option<u8> {
        self.shared.get().checked_sub(1)
    }

    /// The key of its frames on a shared stack: the record's address.
    #[inline(always)]
    fn key(&self) -> usize {
        self as *const TaskCore as usize
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
        // SAFETY: called by the loop on its own stack, never while the task runs.
        let co = unsafe { &mut *self.co.get() };
        std::mem::forget(co.take());
        if let Some(index) = self.shared_index() {
            shared::release(index, self.key());
            self.shared.set(0);
        }
        // SAFETY: the vtable is the cell's own; the task is not running.
        unsafe { (self.vtable.abandon)(self) };
        self.state.set(TaskState::Done);
    }

    /// Unwinds a suspended task's stack (every destructor runs) and drops a
    /// body that never started; a task that has no outcome yet ends
    /// cancelled, so its handles do not wait for ever. Used when a loop is
    /// dropped without being closed (closing cancels tasks instead).
    pub(crate) fn unwind(&self) {
        let entered = suspend::enter(self);
        self.unwind.set(Unwind::Forced);
        self.drop_coroutine();
        // SAFETY: the vtable is the cell's own; the task is not running.
        unsafe { (self.vtable.abandon)(self) };
        drop(entered);
        self.state.set(TaskState::Done);
    }
}

/// Sets how many records of finished tasks this thread keeps for its next
/// spawns, per size class, and frees those beyond it now. Default: no limit
/// (the list never outgrows the peak number of live tasks; a trivial task's record is
/// 256 bytes).
///
/// ```
/// yieldfrom::task::set_record_limit(10_000);
/// assert_eq!(yieldfrom::task::record_limit(), 10_000);
/// ```
pub fn set_record_limit(records: usize) {
    blocks::set_limit(records);
}

/// How many finished tasks' records this thread keeps per size class (see
/// [`set_record_limit`]).
pub fn record_limit() -> usize {
    blocks::limit()
}

#[inline(always)]
fn prefetch(_addr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(_addr as *const i8)
    };
}

/// A handle to a running coroutine (Python's `asyncio.Task`); await it with
/// [`yield_from`](crate::yield_from) for its result.
///
/// Dropping the handle does not stop the task.
pub struct Task<T> {
    pub(crate) core: TaskRef,
    pub(crate) fut: Future<T>,
}

impl<T: 'static> Task<T> {
    /// Builds the task (not yet scheduled) for `body`, named `name`.
    pub(crate) fn new<F: FnOnce() -> T + 'static>(
        body: F,
        id: TaskId,
        name: &'static str,
        lp: Weak<Core>,
    ) -> Task<T> {
        let (core, fut) = TaskCell::create(body, id, name, lp);
        Task { core, fut }
    }
}

impl<T> Task<T> {
    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.core.id
    }

    /// The coroutine's name (Python: `get_name()`).
    pub fn name(&self) -> &'static str {
        self.core.name
    }

    /// Whether the task has finished (value, panic or cancelled).
    pub fn done(&self) -> bool {
        self.fut.done()
    }

    /// Whether the task ended cancelled.
    pub fn cancelled(&self) -> bool {
        self.fut.cancelled()
    }

    /// Asks the task to stop (Python: `Task.cancel()`).
    ///
    /// [`Cancelled`](crate::Cancelled) is raised at the await point where the
    /// task is suspended (or at its next one, or before its first step if it
    /// has not started). The task may catch it and go on. Returns false, and
    /// does nothing, if the task is already done.
    pub fn cancel(&self) -> bool {
        if self.done() {
            return false;
        }
        crate::event_loop::cancel_task(&self.core);
        true
    }

    /// Calls `f` on a later loop iteration once the task is done.
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

    /// The panic message if the task failed (marks the failure as retrieved).
    pub fn exception(&self) -> Option<String> {
        self.fut.exception()
    }

    /// Waits for the task and returns its outcome without re-raising it.
    #[track_caller]
    pub fn join_outcome(self) -> Outcome<T> {
        let (core, fut) = (self.core.clone(), self.fut.clone());
        fut.wait(
            || Suspend::Task {
                id: core.id,
                name: core.name,
            },
            // Python: cancelling a task that awaits another cancels that one too;
            // the awaiter then gets whatever the awaited task ends with.
            || {
                self.cancel();
            },
        );
        fut.take_outcome()
            .expect("the outcome of an awaited task is taken once")
    }

    /// Waits for the task and returns its result; a panic or a cancellation
    /// of the task is raised here. This is what `yield_from(task)` does.
    #[track_caller]
    pub fn join(self) -> T {
        let name = self.core.name;
        match self.join_outcome() {
            Outcome::Cancelled => suspend::raise_awaited_cancelled(name),
            outcome => outcome.unwrap(),
        }
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

#[cfg(test)]
mod tests {
    use super::blocks;
    use std::alloc::Layout;

    #[test]
    fn blocks_are_reused_first_freed_first_and_kept_up_to_the_record_limit() {
        super::set_record_limit(2);
        let layout = Layout::from_size_align(300, 8).unwrap();
        let same_class = Layout::from_size_align(270, 16).unwrap();
        let a = blocks::alloc(layout);
        let b = blocks::alloc(layout);
        let c = blocks::alloc(layout);
        assert_eq!(a.as_ptr() as usize % 64, 0, "blocks are cache-line aligned");
        // SAFETY: each block came from `alloc(layout)` and is not used again.
        unsafe {
            blocks::free(a, layout);
            blocks::free(b, layout);
            blocks::free(c, layout); // past the limit: back to the allocator
        }
        assert_eq!(blocks::waiting(layout), 2);
        // Oldest first, and any layout of the same class takes them.
        let again = blocks::alloc(same_class);
        assert_eq!(again, a);
        assert_eq!(blocks::alloc(layout), b);
        assert_eq!(blocks::waiting(layout), 0);
        // SAFETY: as above (`again` is freed with the layout it was taken for).
        unsafe {
            blocks::free(again, same_class);
            blocks::free(b, layout);
        }
        // Too big for a class: never kept.
        let big = Layout::from_size_align(4096, 8).unwrap();
        let block = blocks::alloc(big);
        // SAFETY: as above.
        unsafe { blocks::free(block, big) };
        assert_eq!(blocks::waiting(big), 0);
        // Lowering the limit frees what is beyond it at once.
        let (a, b) = (blocks::alloc(layout), blocks::alloc(layout));
        // SAFETY: as above.
        unsafe {
            blocks::free(a, layout);
            blocks::free(b, layout);
        }
        assert_eq!(blocks::waiting(layout), 2);
        super::set_record_limit(1);
        assert_eq!(blocks::waiting(layout), 1);
        super::set_record_limit(usize::MAX);
    }

    #[test]
    fn a_trivial_tasks_record_is_four_cache_lines() {
        // The spawn + join figure depends on it: a field that pushes the
        // record into the next 64-byte class costs a cache line per task
        // (18 ns of ~115 at 100,000 tasks).
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
