//! What is running now: the task whose stack is current, and the loop
//! driving it. Both are thread-locals, set and restored by drop guards, so
//! that no panic (from a task's root, a done callback, an instrument) can
//! leave either pointing at something that is then freed.
//!
//! The layers below a loop (tasks, futures, the await points) read them here;
//! the loop itself keeps a richer handle to itself for the I/O layers (see
//! [`event_loop`](crate::event_loop)).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ptr::NonNull;

use crate::task::raw::{HomeRef, TaskCore};

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

/// Calls `f` with the running task, if there is one.
#[inline]
pub(crate) fn try_with_current<R>(f: impl FnOnce(&TaskCore) -> R) -> Option<R> {
    let task = CURRENT.with(|c| c.get())?;
    // SAFETY: as in `with_current`.
    Some(f(unsafe { task.as_ref() }))
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

thread_local! {
    /// The loop running on this thread: the one thread-local that says so.
    static LOOP: RefCell<Option<Running>> = const { RefCell::new(None) };
}

/// The running loop, as the two sides know it.
struct Running {
    /// As tasks and futures know it (what they bind to).
    home: HomeRef,
    /// As the loop knows itself: `event_loop` keeps its state here, typed
    /// away so that this low file need not name it.
    state: Box<dyn Any>,
}

/// Marks a loop as the running one while alive; dropping it restores the
/// previous one (loops nest: `run_until_complete` inside a callback of another).
#[must_use = "the loop is the running one only while the guard lives"]
pub(crate) struct LoopEntered(Option<Running>);

/// Marks the loop `home`, whose own state is `state`, as the running loop
/// until the returned guard drops.
pub(crate) fn enter_loop(home: HomeRef, state: Box<dyn Any>) -> LoopEntered {
    LoopEntered(LOOP.with(|l| l.replace(Some(Running { home, state }))))
}

/// Calls `f` with the running loop's own state (what `enter_loop` was
/// given), or `None` outside a loop.
pub(crate) fn with_running<R>(f: impl FnOnce(Option<&dyn Any>) -> R) -> R {
    LOOP.with(|l| f(l.borrow().as_ref().map(|r| &*r.state)))
}

impl Drop for LoopEntered {
    fn drop(&mut self) {
        let previous = self.0.take();
        LOOP.with(|l| l.replace(previous));
    }
}

/// The running loop (what futures bind to).
pub(crate) fn running_home() -> Option<HomeRef> {
    LOOP.with(|l| l.borrow().as_ref().map(|r| r.home.clone()))
}
