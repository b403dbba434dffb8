//! `wait`, `as_completed` and `select`: the first done, or each as it is
//! done (Python: `asyncio.wait`, `asyncio.as_completed`).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use crate::coro::Coro;
use crate::event_loop::{EventLoop, spawn};
use crate::task::Task;
use crate::task::future::Completions;
use crate::task::suspend::{self, Wake};

use super::gather::{collect, watch};

/// When [`wait`] returns (Python: `FIRST_COMPLETED`, `ALL_COMPLETED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as one task is done.
    FirstCompleted,
    /// When every task is done.
    AllCompleted,
}

/// Waits for tasks without raising their failures (Python: `asyncio.wait`).
///
/// Returns `(done, pending)`, each in argument order. With a `timeout`, it
/// returns when the time is up even if the condition is not met; the tasks
/// are not cancelled.
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::{EventLoop, Coro, sleep, spawn, combinators::{wait, ReturnWhen}};
/// let lp = EventLoop::builder().virtual_clock(true).build();
/// let (done, pending) = lp.run(Coro::new("main", || {
///     let tasks = [1, 5].map(|s| spawn(Coro::new("sleeper", move || sleep(Duration::from_secs(s)))));
///     let (done, pending) = wait(tasks.into(), ReturnWhen::FirstCompleted, None);
///     (done.len(), pending.len())
/// }));
/// assert_eq!((done, pending), (1, 1));
/// ```
pub fn wait<T: 'static>(
    tasks: Vec<Task<T>>,
    when: ReturnWhen,
    timeout: Option<Duration>,
) -> (Vec<Task<T>>, Vec<Task<T>>) {
    let completions = watch(&tasks);
    let timed_out = Rc::new(Cell::new(false));
    let timer = timeout.map(|limit| {
        let (flag, c) = (timed_out.clone(), completions.clone());
        EventLoop::current().call_later(limit, move || {
            flag.set(true);
            c.wake_waiter();
        })
    });
    let mut finished = 0;
    loop {
        while completions.pop().is_some() {
            finished += 1;
        }
        let enough = match when {
            ReturnWhen::FirstCompleted => finished > 0,
            ReturnWhen::AllCompleted => finished == tasks.len(),
        };
        if enough || timed_out.get() || tasks.is_empty() {
            break;
        }
        let wanted = match when {
            ReturnWhen::FirstCompleted => 1,
            ReturnWhen::AllCompleted => tasks.len() - finished,
        };
        if completions.park_for(wanted, false, "wait") == Wake::Cancel {
            if let Some(t) = &timer {
                t.cancel();
            }
            suspend::raise_cancelled();
        }
    }
    if let Some(t) = timer {
        t.cancel();
    }
    tasks.into_iter().partition(|t| t.done())
}

/// Results in the order the tasks finish (Python: `asyncio.as_completed`).
///
/// An `Iterator` whose `next()` suspends the running task until the next
/// task is done: possible because the iterator runs on the task's own stack.
/// A failed task's panic is raised from `next()`.
///
/// ```
/// use yieldfrom::{EventLoop, Coro, spawn, sleep, combinators::as_completed};
/// use std::time::Duration;
/// let lp = EventLoop::builder().virtual_clock(true).build();
/// let order = lp.run(Coro::new("main", || {
///     let tasks = [3u64, 1, 2].map(|s| spawn(Coro::new("nap", move || { sleep(Duration::from_secs(s)); s })));
///     as_completed(tasks.into()).collect::<Vec<_>>()
/// }));
/// assert_eq!(order, [1, 2, 3]);
/// ```
pub fn as_completed<T: 'static>(tasks: Vec<Task<T>>) -> AsCompleted<T> {
    AsCompleted {
        completions: watch(&tasks),
        left: tasks.len(),
        tasks,
    }
}

/// The iterator of [`as_completed`].
pub struct AsCompleted<T> {
    /// The tasks, by index.
    tasks: Vec<Task<T>>,
    /// The indices of those done, in the order they finished.
    completions: Rc<Completions>,
    /// How many are still to be yielded.
    left: usize,
}

impl<T> Iterator for AsCompleted<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.left == 0 {
            return None;
        }
        loop {
            if let Some(i) = self.completions.pop() {
                self.left -= 1;
                return Some(self.tasks[i].fut.take_outcome().expect("done").unwrap());
            }
            if self.completions.park("as_completed") == Wake::Cancel {
                suspend::raise_cancelled();
            }
        }
    }
}

/// Runs the coroutines as tasks, returns the first to finish with its index,
/// and cancels the others (waiting for them to finish cancelling).
///
/// A panic in the first task to finish is raised here.
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::{EventLoop, Coro, sleep, combinators::select};
/// let lp = EventLoop::builder().virtual_clock(true).build();
/// let (index, winner) = lp.run(Coro::new("main", || {
///     select([3, 1, 2].map(|s| Coro::new("racer", move || {
///         sleep(Duration::from_secs(s));
///         s
///     })))
/// }));
/// assert_eq!((index, winner), (1, 1)); // the others were cancelled
/// ```
pub fn select<T: 'static>(coros: impl IntoIterator<Item = Coro<T>>) -> (usize, T) {
    let tasks: Vec<Task<T>> = coros.into_iter().map(spawn).collect();
    assert!(!tasks.is_empty(), "select() needs at least one coroutine");
    let completions = watch(&tasks);
    let first = loop {
        if let Some(i) = completions.pop() {
            break i;
        }
        if completions.park("select") == Wake::Cancel {
            tasks.iter().for_each(|t| {
                t.cancel();
            });
            suspend::raise_cancelled();
        }
    };
    let outcome = tasks[first].fut.take_outcome().expect("done");
    let mut losers = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        if i != first {
            t.cancel();
            losers.push(t);
        }
    }
    // The losers' outcomes (normally Cancelled) are not wanted; wait for their cleanup.
    let _ = collect(losers, false, |_| Some(()));
    (first, outcome.unwrap())
}

opaque_debug!(AsCompleted<T>);
