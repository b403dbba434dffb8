//! Timers as futures (the twin of `time.rs`): a sleep is an entry in the
//! timer heap the stackful loop uses too, holding the sleeping task's waker.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::event_loop::{TimerEntry, now, with};
use super::suspend::suspend;
use crate::time::Elapsed;

/// Completes `duration` after it is first polled, by the loop's clock
/// (`asyncio.sleep`: the delay starts when the sleep is awaited).
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::stackless::{EventLoop, sleep};
/// let lp = EventLoop::with_virtual_clock();
/// lp.run(sleep(Duration::from_secs(2)));
/// assert_eq!(lp.time(), 2.0);
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        deadline: When::After(duration),
        entry: None,
    }
}

/// Completes when the loop's clock reaches `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline: When::At(deadline),
        entry: None,
    }
}

/// When a [`Sleep`] ends: a delay until its first poll, then a deadline.
#[derive(Clone, Copy)]
enum When {
    After(Duration),
    At(Instant),
}

/// The future of [`sleep`]. Dropping it withdraws its timer.
pub struct Sleep {
    /// When it ends.
    deadline: When,
    /// The waker in the timer heap, once armed.
    entry: Option<TimerEntry>,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let now = now();
        let deadline = match self.deadline {
            When::At(at) => at,
            When::After(delay) => {
                let at = crate::event_loop::timer::deadline(now, delay);
                self.deadline = When::At(at);
                at
            }
        };
        if now >= deadline {
            return Poll::Ready(());
        }
        if let Some(entry) = &self.entry {
            // Polled again before the deadline: keep the newest waker.
            entry.set(Some(cx.waker().clone()));
            return Poll::Pending;
        }
        let entry: TimerEntry = Rc::new(Cell::new(None));
        self.entry = Some(entry.clone());
        suspend(cx, |waker: Waker| {
            entry.set(Some(waker));
            with("stackless::sleep()", |core| {
                core.timers.borrow_mut().push(deadline, entry)
            });
        })
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(entry) = &self.entry {
            entry.take();
        }
    }
}

/// Runs `fut`, giving up after `limit` (`asyncio.wait_for`, the twin of
/// [`wait_for`](crate::wait_for)): giving up drops `fut`, which is how a
/// stackless task is cancelled.
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::{Elapsed, stackless::{EventLoop, sleep, timeout}};
/// let lp = EventLoop::with_virtual_clock();
/// let (quick, lazy) = lp.run(async {
///     let quick = timeout(Duration::from_secs(1), async { sleep(Duration::from_millis(10)).await; 1 });
///     let lazy = timeout(Duration::from_secs(1), async { sleep(Duration::from_secs(10)).await; 2 });
///     (quick.await, lazy.await)
/// });
/// assert_eq!((quick, lazy), (Ok(1), Err(Elapsed)));
/// ```
pub fn timeout<F: Future>(limit: Duration, fut: F) -> Timeout<F> {
    Timeout {
        fut: Box::pin(fut),
        timer: sleep(limit),
    }
}

/// The future of [`timeout`].
pub struct Timeout<F> {
    /// The future being limited.
    fut: Pin<Box<F>>,
    /// The deadline's timer.
    timer: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(v) = self.fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(&mut self.timer).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

opaque_debug!(Sleep, Timeout<F>);
