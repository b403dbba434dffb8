//! `yield_from(x)`: Python's `await x`, for coroutines, tasks and futures.
//!
//! What awaiting does depends on what is awaited, exactly as in Python:
//!
//! | awaited | what happens | Python |
//! |---|---|---|
//! | [`Coro<T>`](crate::Coro) | its body runs **inline**, on the current task's stack, now | `await coro()` |
//! | [`Task<T>`](crate::Task) | the current task suspends until that task is done | `await task` |
//! | [`Future<T>`](crate::Future) | the current task suspends until the result is set | `await fut` |
//!
//! Because every task has its own stack, `yield_from` works from any plain
//! function called inside a task: there is no `async` colouring to spread up
//! the call chain. Outside a task it panics: "yield_from() needs a running
//! task: start one with run() or spawn()" — Python's "'await' outside async
//! function".

use crate::coro::Coro;
use crate::task::Task;
use crate::task::future::Future;
use crate::task::suspend;

/// Something a task can wait for with [`yield_from`].
pub trait Awaitable {
    /// What awaiting it returns.
    type Output;

    /// Waits for it in the running task; see [`yield_from`].
    fn await_in_task(self) -> Self::Output;

    /// Gives up on it without waiting: what [`wait_for`](crate::wait_for)
    /// does with a zero limit. Its result if it is done already; else it is
    /// abandoned (a coroutine dropped unstarted, a task cancelled and waited
    /// for, a future cancelled) and `None`. By default, dropped.
    #[doc(hidden)]
    fn give_up_now(self) -> Option<Self::Output>
    where
        Self: Sized,
    {
        None
    }

    /// Method spelling of [`yield_from`]: `greet().await_()`.
    fn await_(self) -> Self::Output
    where
        Self: Sized,
    {
        yield_from(self)
    }
}

impl<T> Awaitable for Coro<T> {
    type Output = T;
    fn await_in_task(self) -> T {
        self.run_inline()
    }
    fn give_up_now(self) -> Option<T> {
        drop(self.into_body()); // never started: no "never awaited" warning
        None
    }
}

impl<T> Awaitable for Task<T> {
    type Output = T;
    fn await_in_task(self) -> T {
        self.join()
    }
    fn give_up_now(self) -> Option<T> {
        if self.done() {
            return Some(self.join());
        }
        self.cancel();
        drop(self.join_outcome()); // its cleanup runs to the end first
        None
    }
}

impl<T: Clone> Awaitable for &Future<T> {
    type Output = T;
    fn await_in_task(self) -> T {
        self.await_result()
    }
    fn give_up_now(self) -> Option<T> {
        if self.done() {
            return self.result();
        }
        self.cancel();
        None
    }
}

impl<T: Clone> Awaitable for Future<T> {
    type Output = T;
    fn await_in_task(self) -> T {
        self.await_result()
    }
    fn give_up_now(self) -> Option<T> {
        (&self).give_up_now()
    }
}

/// Awaits `x` (Python: `await x`): runs a coroutine inline, or suspends the
/// running task until a task or future is done, and returns the result.
///
/// A panic in the awaited task or coroutine is raised here; so is a
/// cancellation. Panics outside a task.
///
/// ```
/// use yieldfrom::{run, spawn, yield_from, Coro};
/// let total = run(Coro::new("main", || {
///     let task = spawn(Coro::new("child", || 40));
///     yield_from(task) + yield_from(Coro::new("inline", || 2))
/// }));
/// assert_eq!(total, 42);
/// ```
#[track_caller]
pub fn yield_from<A: Awaitable>(x: A) -> A::Output {
    if !suspend::in_task() {
        panic!("yield_from() needs a running task: start one with run() or spawn()");
    }
    x.await_in_task()
}
