//! `Future<T>`: asyncio's Future for the stackless twin (the twin of
//! `future.rs`), a result slot that any number of tasks can `.await`.
//!
//! Not to be confused with the `std::future::Future` trait, which it
//! implements: awaiting it returns a clone of the result once one is set.

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::suspend::suspend;

struct State<T> {
    /// The value, once set.
    value: Option<T>,
    /// Tasks awaiting it.
    waiters: Vec<Waker>,
}

/// A result that will be set later; cheap to clone (every clone is the same
/// future).
///
/// ```
/// use yieldfrom::stackless::{run, spawn, Future};
/// let answer = run(async {
///     let fut = Future::new();
///     let setter = fut.clone();
///     spawn(async move { setter.set_result(42) });
///     fut.await // pending until the setter task has run
/// });
/// assert_eq!(answer, 42);
/// ```
pub struct Future<T> {
    /// The state, shared by the clones.
    state: Rc<RefCell<State<T>>>,
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future {
            state: self.state.clone(),
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
        Future {
            state: Rc::new(RefCell::new(State {
                value: None,
                waiters: Vec::new(),
            })),
        }
    }

    /// Whether a result is set.
    pub fn done(&self) -> bool {
        self.state.borrow().value.is_some()
    }

    /// Sets the result and wakes every task awaiting it; panics if one is
    /// set already (Python's `InvalidStateError`).
    pub fn set_result(&self, value: T) {
        let waiters = {
            let mut state = self.state.borrow_mut();
            assert!(
                state.value.is_none(),
                "invalid state: the future is already done"
            );
            state.value = Some(value);
            std::mem::take(&mut state.waiters)
        };
        waiters.into_iter().for_each(Waker::wake);
    }
}

impl<T: Clone> std::future::Future for Future<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if let Some(v) = &self.state.borrow().value {
            return Poll::Ready(v.clone());
        }
        suspend(cx, |waker| self.state.borrow_mut().waiters.push(waker))
    }
}

opaque_debug!(Future<T>);
