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
use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::rc::Rc;

pub use super::outcome::{Exception, Outcome};
use crate::names::CallbackName;
use crate::task::context;
use crate::task::raw::{self, HomeRef, TaskCore, TaskRef};
use crate::task::suspend::{self, Suspend, Wake};
pub(crate) use crate::task::waiters::{Completions, Waiter};
pub use crate::warnings::panic_message;

enum Slot<T> {
    Pending,
    Done(Outcome<T>),
    /// The outcome was moved out by whoever awaited it; whether it was a
    /// cancellation is remembered (`cancelled()` stays true, as in asyncio).
    Taken {
        cancelled: bool,
    },
}

/// A future's state. Alone, it is boxed and counts its handles itself; a
/// task's result slot lives in the task's record and shares its count.
pub(crate) struct Inner<T> {
    /// Who owns the slot: a task (which alone ends it) or nobody (a future made alone).
    owner: Owner,
    /// The outcome, once there is one (and whether it was taken).
    slot: RefCell<Slot<T>>,
    /// Who to tell when it is done (taken out, never borrowed across a call).
    waiters: Cell<Vec<Waiter>>,
    /// Whether anyone looked at a failure (for "exception was never retrieved").
    retrieved: Cell<bool>,
}

/// Who keeps a future's state alive, in one word: the low bit tells a task
/// record from an alone header (both are aligned to at least 8). In a task's
/// record every word counts: the record stays four cache lines.
#[derive(Clone, Copy)]
struct Owner(NonNull<()>);

/// An [`Owner`], told apart.
enum OwnerRef {
    /// The task whose record holds it: the task's count is the one used, and
    /// the task's name and loop are the future's.
    Task(NonNull<TaskCore>),
    /// Nobody: the future is boxed alone (an [`Alone`]), whose header counts
    /// its handles, names it and remembers its loop.
    Alone(NonNull<AloneHeader>),
}

impl Owner {
    const ALONE: usize = 1;

    fn task(core: NonNull<TaskCore>) -> Owner {
        Owner(core.cast())
    }

    fn alone(header: NonNull<AloneHeader>) -> Owner {
        let tagged = header.as_ptr().cast::<()>().map_addr(|a| a | Self::ALONE);
        // SAFETY: a non-null pointer with a bit set is still non-null.
        Owner(unsafe { NonNull::new_unchecked(tagged) })
    }

    #[inline]
    fn get(self) -> OwnerRef {
        let ptr = self.0.as_ptr();
        if ptr.addr() & Self::ALONE == 0 {
            OwnerRef::Task(self.0.cast())
        } else {
            // SAFETY: made by `alone` from a non-null pointer (tag removed);
            // `map_addr` keeps the box's provenance.
            OwnerRef::Alone(unsafe {
                NonNull::new_unchecked(ptr.map_addr(|a| a & !Self::ALONE).cast())
            })
        }
    }
}

/// What a future made alone keeps beside its state.
struct AloneHeader {
    /// Handles to the box: it is freed when the last goes.
    refs: Cell<usize>,
    /// Its name in reports ("future" unless made otherwise).
    name: &'static str,
    /// The loop it belongs to: the one of the first task that awaited it or
    /// the loop that was running when a callback was added (asyncio binds a
    /// future to a loop when it is made; this one binds on first use, so it
    /// can be made outside a loop).
    home: Cell<Option<HomeRef>>,
}

/// A future made alone: one box, the header first.
#[repr(C)]
struct Alone<T> {
    /// The count, name and loop.
    header: AloneHeader,
    /// The state, as a task's result slot has it.
    inner: Inner<T>,
}

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

impl<T> Inner<T> {
    fn with_owner(owner: Owner) -> Inner<T> {
        Inner {
            owner,
            slot: RefCell::new(Slot::Pending),
            waiters: Cell::new(Vec::new()),
            retrieved: Cell::new(false),
        }
    }

    /// A pending slot for the task record whose core is at `core` (the slot
    /// lives in that record, under its count).
    pub(crate) fn in_task(core: NonNull<TaskCore>) -> Inner<T> {
        Inner::with_owner(Owner::task(core))
    }

    /// The future's name: its task's, or the one it was made with.
    fn name(&self) -> &'static str {
        match self.owner.get() {
            // SAFETY: the owner holds this slot, so it is alive while the slot is.
            OwnerRef::Task(core) => unsafe { core.as_ref().name },
            // SAFETY: the header is in the same box as this state, which
            // lives while any handle does.
            OwnerRef::Alone(header) => unsafe { header.as_ref().name },
        }
    }

    /// Calls `f` with the loop it belongs to (a dead or unbound one reads as
    /// `Weak::new()`), without touching its counts.
    #[inline]
    fn with_home<R>(&self, f: impl FnOnce(Option<&HomeRef>) -> R) -> R {
        match self.owner.get() {
            // SAFETY: as in `name`.
            OwnerRef::Task(core) => f(Some(&unsafe { core.as_ref() }.lp)),
            OwnerRef::Alone(header) => {
                // SAFETY: as in `name`.
                let home = unsafe { &header.as_ref().home };
                let bound = home.take();
                let r = f(bound.as_ref());
                home.set(bound);
                r
            }
        }
    }

    /// Checks that a task of loop `lp` may wait on this future, binding an
    /// alone future that has no live loop yet to `lp`.
    ///
    /// Panics when the future belongs to another live loop (asyncio: "Task
    /// got Future attached to a different loop"): its wake-ups would arrive
    /// on a loop that is not running the waiter.
    #[inline]
    fn attach(&self, lp: &HomeRef) {
        let (same, live) = self
            .with_home(|home| home.map_or((false, false), |home| (home.same(lp), home.is_live())));
        if same {
            return;
        }
        self.attach_slow(lp, live);
    }

    #[cold]
    fn attach_slow(&self, lp: &HomeRef, live: bool) {
        if live {
            panic!(
                "yieldfrom: '{}' belongs to a different event loop than the task awaiting it \
                 (asyncio: \"Task got Future attached to a different loop\"); await it from a \
                 task of its own loop",
                self.name()
            );
        }
        if let OwnerRef::Alone(header) = self.owner.get() {
            // SAFETY: as in `name`.
            unsafe { header.as_ref() }.home.set(Some(lp.clone()));
        }
    }

    /// Whether an outcome has been set (or already taken).
    pub(crate) fn is_done(&self) -> bool {
        !matches!(*self.slot.borrow(), Slot::Pending)
    }

    /// Whether the outcome is a panic or a cancellation (`false` while
    /// pending, and for a taken value).
    pub(crate) fn failed(&self) -> bool {
        match &*self.slot.borrow() {
            Slot::Pending => false,
            Slot::Done(outcome) => !matches!(outcome, Outcome::Value(_)),
            Slot::Taken { cancelled } => *cancelled,
        }
    }

    /// Sets the outcome and schedules everyone waiting.
    pub(crate) fn finish(&self, outcome: Outcome<T>) {
        {
            let mut slot = self.slot.borrow_mut();
            if !matches!(*slot, Slot::Pending) {
                panic!(
                    "invalid state: the future '{}' is already done",
                    self.name()
                );
            }
            *slot = Slot::Done(outcome);
        }
        let failed = self.failed();
        let waiters = self.waiters.take();
        if !waiters.is_empty() {
            // A copy of an alone future's link: a callback run right here may
            // add another to this future, which reads the cell.
            let home = match self.owner.get() {
                OwnerRef::Task(_) => None,
                OwnerRef::Alone(_) => Some(self.with_home(|home| home.cloned())),
            };
            let wake_all = |home: Option<&HomeRef>| {
                for waiter in waiters {
                    waiter.wake(home, failed);
                }
            };
            match home {
                Some(home) => wake_all(home.as_ref()),
                None => self.with_home(wake_all),
            }
        }
    }
}

impl<T> Future<T> {
    /// A handle to the result slot of a task, adding a count to the task.
    ///
    /// # Safety
    /// `inner` lives in the live task record it names as its owner.
    pub(crate) unsafe fn in_task(inner: NonNull<Inner<T>>) -> Future<T> {
        // SAFETY: as the caller vouches.
        let OwnerRef::Task(owner) = (unsafe { inner.as_ref() }).owner.get() else {
            unreachable!("a task's result slot")
        };
        // SAFETY: the owner is alive (the caller holds it).
        unsafe { TaskRef::acquire(owner) };
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
        match self.inner().owner.get() {
            // SAFETY: this handle's count keeps the owner alive.
            OwnerRef::Task(owner) => unsafe { TaskRef::acquire(owner) },
            OwnerRef::Alone(header) => {
                // SAFETY: this handle's count keeps the box alive.
                let refs = unsafe { &header.as_ref().refs };
                refs.set(refs.get() + 1);
            }
        }
        Future {
            inner: self.inner,
            _owns: PhantomData,
        }
    }
}

impl<T> Drop for Future<T> {
    fn drop(&mut self) {
        match self.inner().owner.get() {
            // SAFETY: this handle owns one count of the owner, given up here.
            OwnerRef::Task(owner) => unsafe { TaskRef::release(owner) },
            OwnerRef::Alone(header) => {
                // SAFETY: this handle's count keeps the box alive.
                let refs = unsafe { &header.as_ref().refs };
                let left = refs.get() - 1;
                refs.set(left);
                if left == 0 {
                    // SAFETY: the last handle of a future alone: the header
                    // pointer is the `Alone<T>` box `Future::named` leaked
                    // (it carries the whole box's provenance).
                    drop(unsafe { Box::from_raw(header.cast::<Alone<T>>().as_ptr()) });
                }
            }
        }
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
        let alone = Box::into_raw(Box::<Alone<T>>::new_uninit()).cast::<Alone<T>>();
        // `alone` is a fresh allocation for an `Alone<T>`, written whole
        // before any handle exists. Both field pointers are derived from it
        // without references, so each keeps the whole box's provenance (the
        // last handle frees the box through the header pointer).
        // SAFETY: a field of the allocation, no reference made.
        let header = unsafe { &raw mut (*alone).header };
        // SAFETY: as above.
        let inner = unsafe { &raw mut (*alone).inner };
        // SAFETY: a field of a non-null allocation is not null.
        let header = unsafe { NonNull::new_unchecked(header) };
        // SAFETY: as above.
        let inner = unsafe { NonNull::new_unchecked(inner) };
        let value = Alone {
            header: AloneHeader {
                refs: Cell::new(1),
                name,
                home: Cell::new(None),
            },
            inner: Inner::with_owner(Owner::alone(header)),
        };
        // SAFETY: the allocation has the layout of an `Alone<T>` and holds
        // nothing yet.
        unsafe { alone.write(value) };
        Future {
            inner,
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
        if let OwnerRef::Task(core) = self.inner().owner.get() {
            // SAFETY: this handle's count keeps the owning record alive.
            raw::cancel(&unsafe { core.as_ref() }.rc());
            return true;
        }
        self.finish(Outcome::Cancelled);
        true
    }

    /// Panics if this is a task's result slot: the task alone may end it
    /// (ending it from outside would leave the task nowhere to put its own
    /// outcome when it returns).
    fn refuse_if_task(&self, what: &str) {
        if matches!(self.inner().owner.get(), OwnerRef::Task(_)) {
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
        if let OwnerRef::Alone(header) = self.inner().owner.get()
            && self
                .inner()
                .with_home(|home| !home.is_some_and(HomeRef::is_live))
            && let Some(lp) = context::running_home()
        {
            // SAFETY: this handle's count keeps the box alive.
            unsafe { header.as_ref() }.home.set(Some(lp));
        }
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

impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        if let Slot::Done(Outcome::Panic(p)) = &*self.slot.borrow()
            && !self.retrieved.get()
        {
            use crate::warnings::{Report, ReportKind, report};
            let exception = panic_message(p.as_ref());
            report(
                Report::new(
                    ReportKind::ExceptionNeverRetrieved,
                    format!(
                        "yieldfrom: task exception was never retrieved: task '{}' panicked: \
                         {exception}",
                        self.name()
                    ),
                )
                .source(self.name())
                .exception(exception),
            );
        }
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
