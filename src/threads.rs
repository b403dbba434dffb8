//! `to_thread`: blocking or CPU-bound work on worker threads
//! (Python: `asyncio.to_thread`, `loop.run_in_executor`).
//!
//! The event loop runs on one thread, so a closure that computes for two
//! seconds stops every task for two seconds. `to_thread(f)` sends `f` to a
//! small pool of worker threads and suspends the calling task; the worker
//! pushes the result onto a completion list and wakes the loop through its
//! `mio::Waker`; the loop hands the result to the waiting task. Other tasks
//! run in the meantime.
//!
//! ```text
//!  task ──to_thread(f)──▶ job queue ──▶ worker: r = f()
//!   │ suspend(Thread)                      │ completions.push(r); waker.wake()
//!   ▼                                      ▼
//!  loop: poll() returns WAKER ──▶ deliver(): future.set_result(r) ──▶ task resumes
//! ```

use std::any::Any;

use crate::event_loop::with_loop;
use crate::task::future::{Future, Outcome};
use crate::task::suspend::Suspend;

/// Runs `f` on a worker thread and suspends the task until it returns
/// (Python: `await asyncio.to_thread(f)`).
///
/// Other tasks run meanwhile. A panic in `f` is raised here. Cancelling the
/// waiting task raises `Cancelled` in it at once; the thread itself cannot be
/// stopped and its result is dropped.
///
/// ```
/// use yieldfrom::{run, to_thread, Coro};
/// let sum = run(Coro::new("main", || to_thread(|| (1..=1000u64).sum::<u64>())));
/// assert_eq!(sum, 500500);
/// ```
pub fn to_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let fut: Future<Box<dyn Any + Send>> = Future::named("to_thread");
    let out = fut.clone();
    with_loop("to_thread()", |core| {
        core.to_workers(
            Box::new(move || Box::new(f()) as Box<dyn Any + Send>),
            Box::new(move |result| {
                if !out.done() {
                    out.finish(match result {
                        Ok(v) => Outcome::Value(v),
                        Err(p) => Outcome::Panic(p),
                    });
                }
            }),
        )
    });
    fut.wait(
        || Suspend::Thread,
        || {
            fut.cancel();
        },
    );
    let value = fut.take_outcome().expect("done").unwrap();
    *value
        .downcast::<T>()
        .expect("the worker returns the closure's type")
}
