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
use std::panic::resume_unwind;
use std::rc::Rc;

use crate::event_loop;
use crate::suspend::{self, Cancelled, Suspend, Wake};
use crate::task::TaskCore;

/// How a future or task ended.
pub enum Outcome<T> {
    /// With a value.
    Value(T),
    /// With a panic (Python: an exception); the payload is re-raised where it is awaited.
    Panic(Box<dyn Any + Send>),
    /// Cancelled.
    Cancelled,
}

impl<T> Outcome<T> {
    /// The value, re-raising a panic or a cancellation here.
    pub fn unwrap(self) -> T {
        match self {
            Outcome::Value(v) => v,
            Outcome::Panic(p) => resume_unwind(p),
            Outcome::Cancelled => suspend::raise_cancelled(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Outcome<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Value(v) => write!(f, "Value({v:?})"),
            Outcome::Panic(p) => write!(f, "Panic({:?})", panic_message(p.as_ref())),
            Outcome::Cancelled => f.write_str("Cancelled"),
        }
    }
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if payload.is::<Cancelled>() {
        "Cancelled".to_string()
    } else {
        "<non-string panic payload>".to_string()
    }
}

/// Who is told when a future is done.
pub(crate) enum Waiter {
    /// A task suspended on it, with the wait sequence number it suspended at.
    Task(Rc<TaskCore>, u32),
    /// A done callback.
    Callback(Box<dyn FnOnce()>),
    /// One of many futures a combinator watches: report the index.
    Index(Rc<crate::combinators::Completions>, usize),
}

impl Waiter {
    /// The waiter for the running task.
    pub(crate) fn current() -> Waiter {
        suspend::with_current(|t| Waiter::Task(t.rc(), t.wait_seq()))
    }

    /// Schedules the waiter on the running loop (never runs it inline).
    pub(crate) fn wake(self) {
        match self {
            Waiter::Task(task, seq) => event_loop::wake(&task, seq, Wake::Run),
            Waiter::Callback(f) => event_loop::call_soon_boxed(f),
            Waiter::Index(completions, i) => completions.push(i),
        }
    }
}

enum Slot<T> {
    Pending,
    Done(Outcome<T>),
    /// The outcome was moved out by whoever awaited it.
    Taken,
}

struct Inner<T> {
    slot: RefCell<Slot<T>>,
    waiters: RefCell<Vec<Waiter>>,
    /// Whether anyone looked at a failure (for "exception was never retrieved").
    retrieved: Cell<bool>,
    name: &'static str,
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
    inner: Rc<Inner<T>>,
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future {
            inner: self.inner.clone(),
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
    pub fn new() -> Future<T> {
        Future::named("future")
    }

    pub(crate) fn named(name: &'static str) -> Future<T> {
        Future {
            inner: Rc::new(Inner {
                slot: RefCell::new(Slot::Pending),
                waiters: RefCell::new(Vec::new()),
                retrieved: Cell::new(false),
                name,
            }),
        }
    }

    /// Whether a result, a panic or a cancellation has been set.
    pub fn done(&self) -> bool {
        !matches!(*self.inner.slot.borrow(), Slot::Pending)
    }

    /// Whether the future was cancelled.
    pub fn cancelled(&self) -> bool {
        matches!(*self.inner.slot.borrow(), Slot::Done(Outcome::Cancelled))
    }

    /// Sets the result and schedules everyone waiting (Python: `set_result`).
    ///
    /// Panics if the future is already done (Python's `InvalidStateError`).
    pub fn set_result(&self, value: T) {
        self.finish(Outcome::Value(value));
    }

    /// Fails the future: awaiting it raises `payload` as a panic (Python: `set_exception`).
    pub fn set_exception(&self, payload: impl Any + Send) {
        self.finish(Outcome::Panic(Box::new(payload)));
    }

    /// Cancels a pending future; returns false if it was already done (Python: `cancel`).
    pub fn cancel(&self) -> bool {
        if self.done() {
            return false;
        }
        self.finish(Outcome::Cancelled);
        true
    }

    pub(crate) fn finish(&self, outcome: Outcome<T>) {
        {
            let mut slot = self.inner.slot.borrow_mut();
            if !matches!(*slot, Slot::Pending) {
                panic!(
                    "invalid state: the future '{}' is already done",
                    self.inner.name
                );
            }
            *slot = Slot::Done(outcome);
        }
        let waiters = std::mem::take(&mut *self.inner.waiters.borrow_mut());
        for waiter in waiters {
            waiter.wake();
        }
    }

    /// Calls `f` on a later loop iteration once the future is done (Python: `add_done_callback`).
    pub fn add_done_callback(&self, f: impl FnOnce() + 'static) {
        self.add_waiter(Waiter::Callback(Box::new(f)));
    }

    pub(crate) fn add_waiter(&self, waiter: Waiter) {
        if self.done() {
            waiter.wake();
        } else {
            self.inner.waiters.borrow_mut().push(waiter);
        }
    }

    /// Moves the outcome out (for a single awaiter such as a task's handle).
    pub(crate) fn take_outcome(&self) -> Option<Outcome<T>> {
        let mut slot = self.inner.slot.borrow_mut();
        match std::mem::replace(&mut *slot, Slot::Taken) {
            Slot::Done(outcome) => {
                self.inner.retrieved.set(true);
                Some(outcome)
            }
            other => {
                *slot = other;
                None
            }
        }
    }

    /// Suspends the running task until the future is done; a cancellation of
    /// the waiting task cancels the future (as in asyncio) unless `shield`.
    pub(crate) fn wait(&self, reason: impl Fn() -> Suspend, cancel: impl Fn()) {
        while !self.done() {
            self.add_waiter(Waiter::current());
            if suspend::suspend(reason()) == Wake::Cancel {
                cancel();
            }
        }
    }

    /// The panic message if the future failed.
    pub fn exception(&self) -> Option<String> {
        match &*self.inner.slot.borrow() {
            Slot::Done(Outcome::Panic(p)) => {
                self.inner.retrieved.set(true);
                Some(panic_message(p.as_ref()))
            }
            _ => None,
        }
    }
}

impl<T: Clone> Future<T> {
    /// The result if done (Python: `result()`): `None` while pending; a panic or
    /// cancellation is raised here.
    pub fn result(&self) -> Option<T> {
        match &*self.inner.slot.borrow() {
            Slot::Pending => None,
            Slot::Done(Outcome::Value(v)) => Some(v.clone()),
            Slot::Done(Outcome::Cancelled) => suspend::raise_cancelled(),
            Slot::Done(Outcome::Panic(p)) => {
                self.inner.retrieved.set(true);
                panic!("{}", panic_message(p.as_ref()))
            }
            Slot::Taken => panic!("the result of '{}' was moved out", self.inner.name),
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
            crate::warnings::warn(format!(
                "yieldfrom: task exception was never retrieved: task '{}' panicked: {}",
                self.name,
                panic_message(p.as_ref())
            ));
        }
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &*self.inner.slot.borrow() {
            Slot::Pending => "pending",
            Slot::Done(Outcome::Value(_)) => "finished",
            Slot::Done(Outcome::Panic(_)) => "failed",
            Slot::Done(Outcome::Cancelled) => "cancelled",
            Slot::Taken => "finished (result taken)",
        };
        write!(f, "<Future {} {state}>", self.inner.name)
    }
}
