//! Waking a task: the [`WakeToken`] every waiter keeps (a task and the
//! number of its wait), and the public [`Waker`] that wraps one.

use crate::reason::Wake;
use crate::task::context::with_current;
use crate::task::raw::{self, TaskCore, TaskRef};

/// A task's promise to be woken: the task and the number of the wait it is
/// in. Every waiter (a future, a lock, a queue, a socket, a timer) keeps one
/// of these; a wake for a wait that is over (the number moved on) does
/// nothing, so a waiter never needs to be taken back out in a race.
pub(crate) struct WakeToken {
    /// The task to schedule.
    task: TaskRef,
    /// The number of the wait this token was made for.
    seq: u32,
}

impl WakeToken {
    /// The token of the running task's next wait; panics outside a task,
    /// naming `what`.
    #[inline]
    #[track_caller]
    pub(crate) fn current(what: &'static str) -> WakeToken {
        with_current(what, WakeToken::of)
    }

    /// The token of `task`'s current (or next) wait.
    #[inline]
    pub(crate) fn of(task: &TaskCore) -> WakeToken {
        WakeToken {
            task: task.rc(),
            seq: task.wait_seq(),
        }
    }

    /// Schedules the task on its own loop, if it still waits on this.
    #[inline]
    pub(crate) fn wake(self) {
        raw::wake(&self.task, self.seq, Wake::Run);
    }

    /// Wakes the task through `schedule` rather than its loop's [`Home`]
    /// (the loop waking its own tasks; see [`raw::wake_on`]).
    ///
    /// [`Home`]: crate::task::raw::Home
    #[inline(always)]
    pub(crate) fn wake_on(self, schedule: impl FnOnce(TaskRef, Wake)) {
        raw::wake_on(&self.task, self.seq, Wake::Run, schedule);
    }

    /// Schedules the task as [`wake`](Self::wake) does, keeping the token.
    #[inline]
    pub(crate) fn wake_by_ref(&self) {
        raw::wake(&self.task, self.seq, Wake::Run);
    }

    /// Whether the task is still parked in this wait (not woken, cancelled
    /// or moved on).
    pub(crate) fn is_waiting(&self) -> bool {
        self.task.state.waits_in(self.seq)
    }

    /// Whether both are the same task's tokens for the same wait.
    pub(crate) fn same(&self, other: &WakeToken) -> bool {
        std::ptr::eq(&*self.task, &*other.task) && self.seq == other.seq
    }

    /// The waiting task.
    pub(crate) fn task(&self) -> &TaskRef {
        &self.task
    }
}

opaque_debug!(WakeToken);

/// A handle that wakes one wait of one task: what an await point hands to
/// whoever will end the wait (see [Building an await point](crate::suspend#building-an-await-point)).
///
/// Waking schedules the task on its own loop's next iteration, from any loop
/// or none; a waker whose wait is over (the task was woken, cancelled, or
/// waits on something else now) does nothing. It is not `Send`: wake a task
/// from another thread by finishing a [`to_thread`](crate::to_thread) job.
pub struct Waker(WakeToken);

impl Waker {
    /// The running task's waker for its next wait.
    ///
    /// Panics outside a task ("... needs a running task").
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use yieldfrom::suspend::{Suspend, Waker, suspend_or_cancel};
    /// use yieldfrom::{run, spawn, yield_now, Coro};
    /// let slot: Rc<RefCell<Option<Waker>>> = Rc::default();
    /// let s = slot.clone();
    /// run(Coro::new("main", move || {
    ///     let sleeper = spawn(Coro::new("sleeper", move || {
    ///         *s.borrow_mut() = Some(Waker::current()); // for this wait
    ///         suspend_or_cancel(Suspend::Sync("a custom wait"));
    ///         "woken"
    ///     }));
    ///     yield_now();
    ///     slot.borrow_mut().take().unwrap().wake();
    ///     assert_eq!(sleeper.join(), "woken");
    /// }));
    /// ```
    #[track_caller]
    pub fn current() -> Waker {
        Waker(WakeToken::current("Waker::current()"))
    }

    /// Schedules the task, if it still waits in the wait this waker is for.
    ///
    /// ```
    /// use yieldfrom::suspend::Waker;
    /// use yieldfrom::{run, Coro};
    /// run(Coro::new("main", || {
    ///     let stale = Waker::current();
    ///     // No wait is in progress for it: waking it does nothing.
    ///     stale.wake();
    /// }));
    /// ```
    pub fn wake(self) {
        self.0.wake();
    }

    /// Schedules the task as [`wake`](Self::wake) does, keeping the waker.
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use yieldfrom::suspend::{Suspend, Waker, suspend_or_cancel};
    /// use yieldfrom::{run, spawn, yield_now, Coro};
    /// let slot: Rc<RefCell<Option<Waker>>> = Rc::default();
    /// let s = slot.clone();
    /// run(Coro::new("main", move || {
    ///     let t = spawn(Coro::new("t", move || {
    ///         *s.borrow_mut() = Some(Waker::current());
    ///         suspend_or_cancel(Suspend::Sync("a custom wait"));
    ///     }));
    ///     yield_now();
    ///     let w = slot.borrow_mut().take().unwrap();
    ///     w.wake_by_ref();
    ///     w.wake_by_ref(); // a second wake of the same wait does nothing
    ///     t.join();
    /// }));
    /// ```
    pub fn wake_by_ref(&self) {
        self.0.wake_by_ref();
    }
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Waker(task '{}' {})",
            self.0.task().name,
            self.0.task().id
        )
    }
}
