//! Waiting for many futures at once (the twin of `combinators.rs`).

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

use super::event_loop::spawn;

/// Runs the futures concurrently as tasks and returns their outputs in
/// argument order (Python: `asyncio.gather`, the twin of
/// [`gather`](crate::combinators::gather)).
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::stackless::{EventLoop, gather, sleep};
/// let lp = EventLoop::with_virtual_clock();
/// let names = lp.run(gather([("A", 2), ("B", 1)].map(|(name, s)| async move {
///     sleep(Duration::from_secs(s)).await;
///     name
/// })));
/// assert_eq!((names, lp.time()), (vec!["A", "B"], 2.0)); // concurrent: 2 s, not 3
/// ```
pub async fn gather<T: 'static, F>(futures: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: Future<Output = T> + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await);
    }
    out
}

/// Polls the futures in turn until one is ready; returns its index and
/// output, and drops (cancels) the others (the twin of
/// [`select`](crate::combinators::select)).
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::stackless::{EventLoop, select, sleep};
/// let lp = EventLoop::with_virtual_clock();
/// let (index, winner) = lp.run(select([3, 1, 2].map(|s| async move {
///     sleep(Duration::from_secs(s)).await;
///     s
/// })));
/// assert_eq!((index, winner), (1, 1));
/// ```
pub async fn select<T, F>(futures: impl IntoIterator<Item = F>) -> (usize, T)
where
    F: Future<Output = T>,
{
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    assert!(!futures.is_empty(), "select() needs at least one future");
    poll_fn(|cx| {
        for (i, fut) in futures.iter_mut().enumerate() {
            if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                return Poll::Ready((i, v));
            }
        }
        Poll::Pending
    })
    .await
}
