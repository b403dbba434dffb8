//! `Future<T>`: asyncio's Future — a slot for a result that arrives later.
//!
//! Not the `std::future::Future` trait (that one belongs to the stackless
//! twin): this is a plain object with a state (pending, done with a value,
//! failed with a panic, cancelled) and a list of who waits for it. A task
//! awaiting a pending future adds itself to that list and suspends; setting
//! the result schedules every waiter on the loop's ready queue, so done
//! callbacks run on a *later* iteration of the loop, never inside
//! `set_result` (as asyncio's `Future.__schedule_callbacks` does).
//!
//! A [`Task`](crate::Task) keeps its outcome in one of these.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::rc::Rc;

pub use super::outcome::{Exception, Outcome};
pub(crate) use super::slot::Inner;
use super::slot::Slot;
use crate::names::CallbackName;
use crate::task::context;
use crate::task::raw;
use crate::task::suspend::{self, Suspend, Wake};
pub(crate) use crate::task::waiters::{Completions, Waiter};
pub use crate::warnings::panic_message;

/// A result that will be set later (Python's `asyncio.Future`); cheap to clone.
///
/// ```
/// use yieldfrom::{run, spawn, yield_from, Coro, Future};
///
/// let answer = run(Coro::new("main", || {
///     let fut = Future::new();
///     let setter = fut.clone();
///     spawn(Coro::new("setter", move || setter.set_result(42)));
///     yield_from(&fut) // suspends until the setter task has run
/// }));
/// assert_eq!(answer, 42);
/// ```
pub struct Future<T> {
    /// The state: in a task's record, or in a box of its own.
    inner: NonNull<Inner<T>>,
    /// Owns an `Inner<T>` (for drop check and variance), and is neither
    /// `Send` nor `Sync`, like the `Rc` it stands for.
    _owns: PhantomData<Rc<Inner<T>>>,
}

impl<T> Future<T> {
    /// A handle to the result slot of a task, adding a count to the task.
    ///
    /// # Safety
    /// `inner` lives in the live task record it names as its owner.
    pub(crate) unsafe fn in_task(inner: NonNull<Inner<T>>) -> Future<T> {
        // SAFETY: the caller vouches that the slot is alive.
        unsafe { inner.as_ref() }.add_handle();
        Future {
            inner,
            _owns: PhantomData,
        }
    }

    fn inner(&self) -> &Inner<T> {
        // SAFETY: this handle holds a count of the slot (or of the task
        // record around it), so it is alive.
        unsafe { self.inner.as_ref() }
    }
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        self.inner().add_handle();
        Future {
            inner: self.inner,
            _owns: PhantomData,
        }
    }
}

impl<T> Drop for Future<T> {
    fn drop(&mut self) {
        // SAFETY: this handle owns one count, given up here with the handle.
        unsafe { Inner::release_handle(self.inner) }
    }
}

impl<T> Default for Future<T> {
    fn default() -> Self {
        Future::new()
    }
}

impl<T> Future<T> {
    /// A pending future.
    ///
    /// ```
    /// use yieldfrom::{run, spawn, yield_from, Coro, Future};
    /// let got = run(Coro::new("main", || {
    ///     let fut: Future<&str> = Future::new();
    ///     let f = fut.clone();
    ///     spawn(Coro::new("setter", move || f.set_result("ready")));
    ///     yield_from(&fut) // waits until the setter runs
    /// }));
    /// assert_eq!(got, "ready");
    /// ```
    pub fn new() -> Future<T> {
        Future::named("future")
    }

    pub(crate) fn named(name: &'static str) -> Future<T> {
        Future {
            inner: Inner::alone(name),
            _owns: PhantomData,
        }
    }

    /// Whether a result, a panic or a cancellation has been set.
    ///
    /// ```
    /// use yieldfrom::Future;
    /// let fut = Future::new();
    /// assert!(!fut.done());
    /// fut.set_result(1);
    /// assert!(fut.done());
    /// ```
    pub fn done(&self) -> bool {
        self.inner().is_done()
    }

    /// Whether the future was cancelled.
    ///
    /// ```
    /// use yieldfrom::Future;
    /// let fut: Future<u8> = Future::new();
    /// assert!(fut.cancel());
    /// assert!(fut.cancelled() && fut.done());
    /// ```
    pub fn cancelled(&self) -> bool {
        matches!(
            *self.inner().slot.borrow(),
            Slot::Done(Outcome::Cancelled) | Slot::Taken { cancelled: true }
        )
    }

    /// Sets the result and schedules everyone waiting (Python: `set_result`).
    ///
    /// Panics if the future is already done (Python's `InvalidStateError`),
    /// or if it is a task's result ([`Task::future`](crate::Task::future)):
    /// only the task sets that, by returning (Python: "Task does not support
    /// set_result() operation").
    ///
    /// ```
    /// use yieldfrom::Future;
    /// let fut = Future::new();
    /// fut.set_result("done");
    /// assert_eq!(fut.result(), Some("done"));
    /// ```
    pub fn set_result(&self, value: T) {
        self.refuse_if_task("set_result");
        self.finish(Outcome::Value(value));
    }

    /// Fails the future: awaiting it raises `payload` as a panic (Python: `set_exception`).
    ///
    /// Panics as [`set_result`](Self::set_result) does.
    ///
    /// ```
    /// use yieldfrom::{run, yield_from, Coro, Future};
    /// let fut: Future<u32> = Future::new();
    /// fut.set_exception("the disk is full");
    /// let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    ///     run(Coro::new("main", move || yield_from(&fut)))
    /// }));
    /// assert!(caught.is_err()); // awaiting it raised the panic
    /// ```
    pub fn set_exception(&self, payload: impl Any + Send) {
        self.refuse_if_task("set_exception");
        self.finish(Outcome::Panic(Box::new(payload)));
    }

    /// Cancels a pending future; returns false if it was already done (Python: `cancel`).
    ///
    /// A task's result ([`Task::future`](crate::Task::future)) is not ended
    /// here: the call asks the task to stop, exactly as
    /// [`Task::cancel`](crate::Task::cancel) does (Python's `Task.cancel`
    /// overrides `Future.cancel` the same way), and the task ends its result
    /// itself.
    ///
    /// ```
    /// use yieldfrom::Future;
    /// let fut = Future::new();
    /// fut.set_result(3);
    /// assert!(!fut.cancel()); // done already: nothing to cancel
    /// ```
    pub fn cancel(&self) -> bool {
        if self.done() {
            return false;
        }
        if let Some(task) = self.inner().task() {
            raw::cancel(&task.rc());
            return true;
        }
        self.finish(Outcome::Cancelled);
        true
    }

    /// Panics if this is a task's result slot: the task alone may end it
    /// (ending it from outside would leave the task nowhere to put its own
    /// outcome when it returns).
    fn refuse_if_task(&self, what: &str) {
        if self.inner().task().is_some() {
            panic!(
                "invalid state: '{}' is a task's result; a task does not support {what}() \
                 (it ends its result itself; use Task::cancel() to stop it)",
                self.inner().name()
            );
        }
    }

    pub(crate) fn finish(&self, outcome: Outcome<T>) {
        self.inner().finish(outcome);
    }

    /// Calls `f` on a later loop iteration once the future is done (Python: `add_done_callback`).
    ///
    /// The callback runs on the future's loop: its task's, or for a future
    /// made with [`new`](Self::new) the loop of the first task that awaited
    /// it or the one running when a callback was first added. A future that
    /// never met a loop runs its callbacks as soon as it is resolved.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use yieldfrom::{run, yield_now, Coro, Future};
    /// let heard = Rc::new(Cell::new(false));
    /// let h = heard.clone();
    /// run(Coro::new("main", move || {
    ///     let fut = Future::new();
    ///     fut.add_done_callback(move || h.set(true));
    ///     fut.set_result(());
    ///     yield_now(); // the callback runs on a later iteration
    /// }));
    /// assert!(heard.get());
    /// ```
    #[track_caller]
    pub fn add_done_callback<F: FnOnce() + 'static>(&self, f: F) {
        self.inner().bind_if_unbound(context::running_home);
        let name = CallbackName::of::<F>(std::panic::Location::caller());
        self.add_waiter(Waiter::Callback(Box::new(f), name));
    }

    pub(crate) fn add_waiter(&self, waiter: Waiter) {
        if self.done() {
            let home = self.inner().with_home(|home| home.cloned());
            waiter.wake(home.as_ref(), self.inner().failed());
        } else {
            let mut waiters = self.inner().waiters.take();
            waiters.push(waiter);
            self.inner().waiters.set(waiters);
        }
    }

    /// Whether it ended in a panic or a cancellation.
    pub(crate) fn failed(&self) -> bool {
        self.inner().failed()
    }

    /// Moves the outcome out (for a single awaiter such as a task's handle).
    pub(crate) fn take_outcome(&self) -> Option<Outcome<T>> {
        let mut slot = self.inner().slot.borrow_mut();
        let Slot::Done(outcome) = &*slot else {
            return None;
        };
        let cancelled = matches!(outcome, Outcome::Cancelled);
        let Slot::Done(outcome) = std::mem::replace(&mut *slot, Slot::Taken { cancelled }) else {
            unreachable!("checked above")
        };
        self.inner().retrieved.set(true);
        Some(outcome)
    }

    /// Suspends the running task until the future is done; a cancellation of
    /// the waiting task cancels the future (as in asyncio) unless `shield`.
    pub(crate) fn wait(&self, reason: impl Fn() -> Suspend, cancel: impl Fn()) {
        if self.done() {
            return;
        }
        context::with_current("yield_from()", |t| self.inner().attach(&t.lp));
        while !self.done() {
            self.add_waiter(Waiter::current());
            if suspend::suspend(reason()) == Wake::Cancel {
                cancel();
            }
        }
    }

    /// The failure if the future failed (Python: `Future.exception()`),
    /// and marks it retrieved (no "never retrieved" report then); `None`
    /// while pending, after a value, or when cancelled.
    ///
    /// ```
    /// use yieldfrom::{run, Coro, Future};
    /// run(Coro::new("main", || {
    ///     let fut: Future<u32> = Future::new();
    ///     assert_eq!(fut.exception(), None);
    ///     fut.set_exception("no answer");
    ///     assert_eq!(fut.exception().unwrap().message(), "no answer");
    /// }));
    /// ```
    pub fn exception(&self) -> Option<Exception> {
        match &*self.inner().slot.borrow() {
            Slot::Done(Outcome::Panic(p)) => {
                self.inner().retrieved.set(true);
                Some(Exception::new(panic_message(p.as_ref())))
            }
            _ => None,
        }
    }
}

impl<T: Clone> Future<T> {
    /// The result if done (Python: `result()`): `None` while pending; a panic or
    /// cancellation is raised here.
    ///
    /// ```
    /// use yieldfrom::Future;
    /// let fut = Future::new();
    /// assert_eq!(fut.result(), None); // pending
    /// fut.set_result(vec![1, 2]);
    /// assert_eq!(fut.result(), Some(vec![1, 2])); // a clone: it stays there
    /// ```
    pub fn result(&self) -> Option<T> {
        match &*self.inner().slot.borrow() {
            Slot::Pending => None,
            Slot::Done(Outcome::Value(v)) => Some(v.clone()),
            Slot::Done(Outcome::Cancelled) | Slot::Taken { cancelled: true } => {
                suspend::raise_cancelled()
            }
            Slot::Done(Outcome::Panic(p)) => {
                self.inner().retrieved.set(true);
                panic!("{}", panic_message(p.as_ref()))
            }
            Slot::Taken { cancelled: false } => {
                panic!("the result of '{}' was moved out", self.inner().name())
            }
        }
    }

    /// Awaits the future: the body of `yield_from(&future)`.
    pub(crate) fn await_result(&self) -> T {
        self.wait(
            || Suspend::Future,
            || {
                self.cancel();
            },
        );
        self.result().expect("a done future has an outcome")
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &*self.inner().slot.borrow() {
            Slot::Pending => "pending",
            Slot::Done(Outcome::Value(_)) => "finished",
            Slot::Done(Outcome::Panic(_)) => "failed",
            Slot::Done(Outcome::Cancelled) => "cancelled",
            Slot::Taken { cancelled: true } => "cancelled",
            Slot::Taken { cancelled: false } => "finished (result taken)",
        };
        write!(f, "<Future {} {state}>", self.inner().name())
    }
}
