//! Where a stackless task gives control back: by returning.
//!
//! Open this file beside `src/task/suspend.rs`. Both pause a task until a waker
//! says go on, and both hand that waker to whatever ends the wait first. The
//! one difference that matters is *how* control goes back to the loop:
//!
//! - **stackful** (`suspend::suspend`): the task calls a function that
//!   switches stacks. Every frame between the await point and the task's
//!   root stays where it is, on the task's stack; resuming switches back and
//!   the function returns. Any plain function can await.
//! - **stackless** (here): the await point returns `Poll::Pending`, and so
//!   must every `poll` above it, up to the task's root: the loop gets control
//!   when the whole chain has returned. The frames are gone; what survives is
//!   the state the compiler saved in each `async fn`'s future. Resuming
//!   polls the root again, which polls its way back down to the await point.
//!   Only `async` code can await, because only it can be re-entered that way.
//!
//! Cancelling differs for the same reason: a stackful task is resumed with
//! a cancellation that unwinds its stack (and cleanup may await); a
//! stackless task is cancelled by dropping its future, which runs the
//! destructors of what it holds and cannot await.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Pauses the polling task: hands its waker to `park` (whatever will end
/// the wait keeps it and wakes it), then returns `Poll::Pending` for the
/// caller to return in turn. The twin of `suspend::suspend`.
#[inline]
pub fn suspend<T>(cx: &mut Context<'_>, park: impl FnOnce(Waker)) -> Poll<T> {
    park(cx.waker().clone());
    Poll::Pending
}

/// Lets every other ready task run once (`asyncio.sleep(0)`), the twin of
/// [`yield_now`](crate::yield_now): the task wakes itself and returns
/// `Pending` once.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use yieldfrom::stackless::{run, spawn, yield_now};
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let l = log.clone();
/// run(async move {
///     let l2 = l.clone();
///     let other = spawn(async move { l2.borrow_mut().push("other") });
///     l.borrow_mut().push("main, before");
///     yield_now().await; // `other` runs here
///     l.borrow_mut().push("main, after");
///     other.await;
/// });
/// assert_eq!(*log.borrow(), ["main, before", "other", "main, after"]);
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow(false)
}

/// The future of [`yield_now`].
pub struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        suspend(cx, Waker::wake)
    }
}

opaque_debug!(YieldNow);
