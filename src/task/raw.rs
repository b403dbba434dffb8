//! A task's record as the loop sees it: untyped, counted, scheduled.
//!
//! [`TaskCore`] is the part of a task's one allocation that does not depend
//! on its body's or result's types (those are in
//! [`TaskCell`](super::TaskCell), reached through the [`Vtable`]).
//! [`TaskRef`] is a counted reference to it, an `Rc` whose count lives in
//! the record. [`Home`] is all a task knows of the loop it belongs to: where
//! to schedule it. The record, its reference and the two ways to ask a task
//! to run ([`wake`], [`cancel`]) are below every waiter, so that a lock, a
//! future or a socket can wake a task without knowing the loop's insides.

use std::cell::{Cell, UnsafeCell};
use std::ptr::NonNull;
use std::rc::{Rc, Weak};

use corosensei::Coroutine;

use crate::arch::prefetch;
use crate::reason::{TaskYielder, Trap, Wake};
use crate::stack::StackMode;
use crate::stack::shared::TaskStack;
use crate::task_id::{TaskEnd, TaskId, TaskInfo};

use super::state::{CancelAction, State};
pub(crate) use super::state::{TaskState, Unwind};

pub(crate) type TaskCoroutine = Coroutine<Wake, Trap, (), TaskStack>;

/// What a task record does that depends on its body's and result's types.
pub(crate) struct Vtable {
    /// Makes the coroutine (in the core's `co`) on the task's first step,
    /// given the stack size and mode and the first wake; false if the task finished
    /// without running (cancelled before it started, or no stack could be
    /// mapped: the task then fails with that error).
    pub(crate) launch: unsafe fn(&TaskCore, usize, StackMode, Wake) -> bool,
    /// Drops the body of a task that never started, and ends its result as
    /// cancelled if it has none (the loop is closing without it).
    pub(crate) abandon: unsafe fn(&TaskCore),
    /// Drops the whole record and frees it (the last reference went).
    pub(crate) dealloc: unsafe fn(NonNull<TaskCore>),
}

/// A counted reference to a task's record (an `Rc` whose count lives in the
/// record's core, shared with the task's result slot).
pub(crate) struct TaskRef(pub(super) NonNull<TaskCore>);

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
        let record = unsafe { core.as_ref() };
        let (refs, vtable) = (&record.refs, record.vtable);
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
    pub(crate) refs: Cell<u32>,
    /// What depends on the body's and result's types (launch, abandon, free).
    pub(crate) vtable: &'static Vtable,
    /// Its number, unique in the process (traces and reports).
    pub(crate) id: TaskId,
    /// Its name (Python's `get_name()`), for reports and traces.
    pub(crate) name: &'static str,
    /// The loop it belongs to: wakes and cancellations are scheduled there,
    /// whichever loop (or none) is running when they happen.
    pub(crate) lp: HomeRef,
    /// Its coroutine, once launched (`None` before its first step and after it ends).
    pub(crate) co: UnsafeCell<Option<TaskCoroutine>>,
    /// Where it is in its life: the one owner of its phase, wait number,
    /// wakes and cancellations (see [`State`]'s invariant).
    pub(crate) state: State,
    /// The body's yielder, on the task's stack: where the task's side of the switch parks.
    pub(crate) yielder: Cell<*const TaskYielder>,
    /// The top of its stack, and the usable bytes below it.
    pub(crate) stack_hi: Cell<usize>,
    /// How many bytes of it are usable (the stack grows down from `stack_hi`).
    pub(crate) stack_len: Cell<u32>,
    /// About where the stack pointer was when the task last parked (0 before
    /// its first step): the loop prefetches that part of the stack when it
    /// schedules the task.
    pub(crate) parked_sp: Cell<usize>,
    /// 0 on a dedicated stack; `index + 1` on shared stack `index` (whose
    /// frames must be switched in before the coroutine is touched).
    pub(crate) shared: Cell<u8>,
    /// Its index in the loop's task table.
    pub(crate) slot: Cell<u32>,
    /// Flags of the task (one byte: the record is kept to 256 bytes):
    /// [`WARNED_BLOCKING`], [`SCOPED`], [`BODY_LIVE`], [`CALL_SITES`].
    pub(crate) marks: Cell<u8>,
}

impl TaskCore {
    /// A core with one count, for a cell whose vtable is `vtable`.
    pub(super) fn new(
        vtable: &'static Vtable,
        id: TaskId,
        name: &'static str,
        lp: HomeRef,
    ) -> TaskCore {
        TaskCore {
            refs: Cell::new(1),
            vtable,
            id,
            name,
            lp,
            co: UnsafeCell::new(None),
            state: State::new(),
            yielder: Cell::new(std::ptr::null()),
            stack_hi: Cell::new(0),
            stack_len: Cell::new(0),
            parked_sp: Cell::new(0),
            shared: Cell::new(0),
            slot: Cell::new(u32::MAX),
            marks: Cell::new(BODY_LIVE),
        }
    }

    /// Another counted reference to this task.
    pub(crate) fn rc(&self) -> TaskRef {
        let core = NonNull::from(self);
        // SAFETY: every core lives in a task cell (`TaskCore::new` is visible only to
        // the task module, whose one caller is `TaskCell::create`), and `self` is borrowed, so it is alive.
        unsafe { TaskRef::acquire(core) };
        TaskRef(core)
    }

    /// Its id and name, for instruments.
    pub(crate) fn info(&self) -> TaskInfo {
        TaskInfo {
            id: self.id,
            name: self.name,
        }
    }

    /// Records how the task ended, when not by returning.
    pub(crate) fn note_end(&self, end: TaskEnd) {
        self.state.note_end(end);
    }

    /// How the task ended.
    pub(crate) fn end_note(&self) -> TaskEnd {
        self.state.end()
    }

    /// The number of its current (or next) wait.
    #[inline(always)]
    pub(crate) fn wait_seq(&self) -> u32 {
        self.state.wait_seq()
    }

    /// Asks the CPU to bring the top of the parked task's stack into the
    /// cache: called when the task is scheduled, so that by the time the loop
    /// switches to it (after the rest of the events of this poll), returning
    /// through its frames does not stall on memory (with thousands of tasks
    /// the stacks do not fit in the cache; see the book's performance chapter).
    #[inline]
    pub(crate) fn prefetch_stack(&self) {
        // Where the stack was is itself in the record, which is cold too: the
        // loop prefetched it one task earlier (`prefetch_record`).
        let sp = self.parked_sp.get();
        if sp == 0 {
            return;
        }
        // The frames the task returns through lie above `sp`; what it calls
        // next (a read, a write) lies just below: the lines from 128 bytes
        // below to 384 above. A fixed count, unrolled, and not clamped to
        // the stack's bounds: a prefetch never faults, so a line past them
        // (the guard page, the next slot) costs one wasted hint, where the
        // clamped loop cost some forty instructions a switch.
        let lo = sp.wrapping_sub(128) & !63;
        for line in 0..9 {
            prefetch(lo.wrapping_add(line * 64) as *const u8);
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
    pub(crate) fn stack_lo(&self) -> usize {
        self.stack_hi.get() - self.stack_len.get() as usize
    }

    /// The index of its shared stack, if it runs on one.
    #[inline(always)]
    pub(crate) fn shared_index(&self) -> Option<u8> {
        self.shared.get().checked_sub(1)
    }

    /// The key of its frames on a shared stack: the record's address.
    #[inline(always)]
    pub(crate) fn key(&self) -> usize {
        self as *const TaskCore as usize
    }

    /// Sets `mark`; returns whether it was set already.
    pub(crate) fn mark(&self, mark: u8, on: bool) -> bool {
        let marks = self.marks.get();
        self.marks
            .set(if on { marks | mark } else { marks & !mark });
        marks & mark != 0
    }

    /// Whether `mark` is set.
    #[inline(always)]
    pub(crate) fn marked(&self, mark: u8) -> bool {
        self.marks.get() & mark != 0
    }
}

/// Mark: the task was warned about blocking the loop (once per task).
pub(crate) const WARNED_BLOCKING: u8 = 1;
/// Mark: a scoped task (see [`set_scope_parent`]): its ancestors' frames
/// must be in place whenever the loop touches it.
pub(crate) const SCOPED: u8 = 2;
/// Mark: the cell still holds the body (the task has not started).
pub(crate) const BODY_LIVE: u8 = 4;
/// Mark: the loop records where the task waits (its call sites, for the
/// explorer): the switch captures its stack at every wait.
pub(crate) const CALL_SITES: u8 = 8;

/// What a task, and a future, need of the loop they belong to. The loop's
/// state (`event_loop::Core`) is the one implementation; tasks and futures
/// reach it through a [`HomeRef`], so that they sit below the loop.
pub(crate) trait Home {
    /// Puts `task` on the ready queue, to be resumed with `how`.
    fn schedule(&self, task: TaskRef, how: Wake);
    /// Puts a callback on the ready queue.
    fn call_soon(&self, f: Box<dyn FnOnce()>, name: crate::names::CallbackName);
    /// The loop's clock.
    fn now(&self) -> std::time::Instant;
    /// Files `when` as a deadline of `task`'s wait `seq` (a timeout's
    /// deadline moved sooner while the task waits).
    fn file_deadline(&self, task: TaskRef, seq: u32, when: std::time::Instant);
    /// The step in progress ended in a panic: its time is not blocking (see
    /// [`Watch::discount_step`](crate::watchdog::Watch::discount_step)).
    fn discount_step(&self);
}

/// The loop a task or future belongs to, in one word: a cell that the loop
/// makes once and all its tasks share, holding the loop weakly (so a task
/// whose loop is gone can tell, and never keeps it alive).
#[derive(Clone)]
pub(crate) struct HomeRef(Rc<Weak<dyn Home>>);

impl HomeRef {
    /// The shared cell of the loop `home`.
    pub(crate) fn new(home: Weak<dyn Home>) -> HomeRef {
        HomeRef(Rc::new(home))
    }

    /// The loop, if it is still alive.
    #[inline]
    pub(crate) fn upgrade(&self) -> Option<Rc<dyn Home>> {
        self.0.upgrade()
    }

    /// Whether the loop is still alive.
    pub(crate) fn is_live(&self) -> bool {
        self.0.strong_count() > 0
    }

    /// Whether both name the same loop.
    #[inline]
    pub(crate) fn same(&self, other: &HomeRef) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }

    /// Whether this names the loop allocated at `at` (a `Weak<Core>`'s pointer).
    pub(crate) fn is_at<T>(&self, at: *const T) -> bool {
        std::ptr::addr_eq(self.0.as_ptr(), at)
    }
}

/// Schedules `task` on its own loop if it still waits with number `seq`
/// (used by every waker, from any loop or none).
pub(crate) fn wake(task: &TaskRef, seq: u32, how: Wake) {
    // A loop that is gone (dropped while a destructor runs during its
    // unwind) has nothing left to schedule on; never panic here.
    wake_on(task, seq, how, |task, how| {
        if let Some(home) = task.lp.upgrade() {
            home.schedule(task, how);
        }
    });
}

/// [`wake`], with `schedule` in place of the task's home: for the loop
/// itself, which wakes its own tasks (the reactor's events) directly.
#[inline(always)]
pub(crate) fn wake_on(task: &TaskRef, seq: u32, how: Wake, schedule: impl FnOnce(TaskRef, Wake)) {
    if task.state.woken(seq, how) {
        schedule(task.clone(), how);
    }
}

/// Withdraws one cancellation request (asyncio's `Task.uncancel()`): how
/// many are left (see [`State::uncancel`]).
pub(crate) fn uncancel(task: &TaskCore) -> u8 {
    task.state.uncancel()
}

/// Asks `task` to stop: a waiting task is woken with `Cancel` on its own
/// loop's next iteration, whichever loop (or none) is running now.
pub(crate) fn cancel(task: &TaskRef) {
    if task.state.cancel() == CancelAction::Schedule {
        match task.lp.upgrade() {
            Some(home) => home.schedule(task.clone(), Wake::Cancel),
            // Its loop is gone: the request waits for a step that never comes.
            None => task.state.cancel_unscheduled(),
        }
    }
}

// ----- scoped tasks: their ancestors stay in place while they run ----------
//
// A scoped task (`crate::scope`) borrows from the frames of the task that
// opened the scope. On a dedicated stack those frames never move. On a
// shared stack they are copied aside whenever another task of that stack
// runs, and the addresses hold that task's frames meanwhile. So before a
// scoped task runs — or anything of it is dropped — the frames of every
// task up its chain of scopes are put back on their shared stacks (a copy;
// they do not run), and a scoped task never gets a shared stack one of its
// ancestors uses (it would evict the frames it borrows from).

thread_local! {
    /// Scoped task (by key) → the task whose scope it was spawned in.
    static SCOPE_PARENTS: std::cell::RefCell<std::collections::HashMap<usize, TaskRef>> =
        std::cell::RefCell::default();
}

/// Records that `child` was spawned in a scope opened by `parent`, before
/// `child` first runs. The entry must go ([`clear_scope_parent`]) before
/// the child's record can be freed (the key is its address).
pub(crate) fn set_scope_parent(child: &TaskCore, parent: TaskRef) {
    child.mark(SCOPED, true);
    SCOPE_PARENTS.with(|m| m.borrow_mut().insert(child.key(), parent));
}

/// Forgets `child`'s scope (it has finished).
pub(crate) fn clear_scope_parent(child: &TaskCore) {
    if child.mark(SCOPED, false) {
        let _ = SCOPE_PARENTS.try_with(|m| m.borrow_mut().remove(&child.key()));
    }
}

/// Whether scoped tasks spawned by `task` are still registered (alive).
pub(crate) fn has_scoped_children(task: &TaskCore) -> bool {
    SCOPE_PARENTS
        .try_with(|m| m.borrow().values().any(|p| p.key() == task.key()))
        .unwrap_or(false)
}

/// The chain of tasks whose scopes `task` runs in, innermost first.
fn ancestors(task: &TaskCore) -> Vec<TaskRef> {
    let mut chain = Vec::new();
    if !task.marked(SCOPED) {
        return chain;
    }
    SCOPE_PARENTS.with(|m| {
        let m = m.borrow();
        let mut at = m.get(&task.key()).cloned();
        while let Some(parent) = at {
            at = if parent.marked(SCOPED) {
                m.get(&parent.key()).cloned()
            } else {
                None
            };
            chain.push(parent);
        }
    });
    chain
}

/// Puts back on their shared stacks the frames of every task `task`
/// borrows from (nothing to do for a task that is not scoped: one branch).
/// Called by the loop, on its own stack, before it touches the task.
#[inline]
pub(crate) fn ancestors_resident(task: &TaskCore) {
    if task.marked(SCOPED) {
        restore_ancestors(task);
    }
}

#[cold]
fn restore_ancestors(task: &TaskCore) {
    for ancestor in ancestors(task) {
        if let Some(index) = ancestor.shared_index() {
            crate::stack::shared::switch_in(index, ancestor.key(), ancestor.name);
        }
    }
}

/// The shared stacks of the tasks `task` borrows from: a stack it must not
/// be given.
pub(crate) fn ancestor_stacks(task: &TaskCore) -> Vec<u8> {
    ancestors(task)
        .iter()
        .filter_map(|a| a.shared_index())
        .collect()
}
