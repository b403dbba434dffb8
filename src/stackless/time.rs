//! Timers as futures (the twin of `time.rs`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::executor::with;

/// Completes after `duration` (`asyncio.sleep`).
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        deadline: Instant::now() + duration,
        armed: false,
    }
}

/// The future of [`sleep`].
pub struct Sleep {
    deadline: Instant,
    armed: bool,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        if !self.armed {
            self.armed = true;
            let (at, w) = (self.deadline, cx.waker().clone());
            with(|exec| exec.add_timer(at, w));
        }
        Poll::Pending
    }
}

/// Lets the other ready tasks run once (`asyncio.sleep(0)`).
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
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

opaque_debug!(Sleep, YieldNow);
