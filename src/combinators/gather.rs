//! `gather` and `join`: every result, in the order asked (Python:
//! `asyncio.gather`), and the completion list the other combinators share.

use std::rc::Rc;

use crate::coro::Coro;
use crate::event_loop::spawn;
use crate::task::Task;
use crate::task::future::{Completions, Outcome, Waiter};
use crate::task::suspend::{self, Wake};

/// A completion list that every one of `tasks` reports its index to.
pub(super) fn watch<T>(tasks: &[Task<T>]) -> Rc<Completions> {
    let c = Completions::new();
    for (i, t) in tasks.iter().enumerate() {
        t.fut.add_waiter(Waiter::Index(c.clone(), i));
    }
    c
}

/// Runs the coroutines concurrently as tasks and returns their results in
/// argument order, whatever the order they finish in (Python: `asyncio.gather`).
///
/// Errors: the first task to panic (or be cancelled) has its panic raised
/// here at once; the other tasks are *not* cancelled and go on running, as in
/// Python with `return_exceptions=False`. Use [`gather_outcomes`] to get every
/// outcome instead. Cancelling the gathering task cancels every child.
///
/// ```
/// use yieldfrom::{EventLoop, Coro, sleep, combinators::gather};
/// use std::time::Duration;
/// let lp = EventLoop::builder().virtual_clock(true).build();
/// let got = lp.run(Coro::new("main", || gather([3u64, 1, 2].map(|s| Coro::new("nap", move || {
///     sleep(Duration::from_secs(s));
///     s
/// })))));
/// assert_eq!(got, [3, 1, 2]);
/// ```
pub fn gather<T: 'static>(coros: impl IntoIterator<Item = Coro<T>>) -> Vec<T> {
    gather_tasks(coros.into_iter().map(spawn).collect())
}

/// [`gather`] for tasks that are already running.
///
/// ```
/// use yieldfrom::{run, spawn, Coro, combinators::gather_tasks};
/// let squares = run(Coro::new("main", || {
///     let tasks = (1..=3).map(|i| spawn(Coro::new("square", move || i * i))).collect();
///     gather_tasks(tasks)
/// }));
/// assert_eq!(squares, [1, 4, 9]);
/// ```
pub fn gather_tasks<T: 'static>(tasks: Vec<Task<T>>) -> Vec<T> {
    collect(tasks, true, |o| match o {
        Outcome::Value(v) => Some(v),
        other => {
            other.unwrap();
            None
        }
    })
}

/// Like [`gather`], but returns every task's [`Outcome`] (value, panic or
/// cancelled) instead of raising the first failure (Python: `return_exceptions=True`).
///
/// ```
/// use yieldfrom::{run, Coro, Outcome, combinators::gather_outcomes};
/// let outcomes = run(Coro::new("main", || {
///     gather_outcomes([
///         Coro::new("ok", || 1),
///         Coro::new("fails", || -> i32 { panic!("no") }),
///     ])
/// }));
/// assert!(matches!(outcomes[0], Outcome::Value(1)));
/// assert!(matches!(outcomes[1], Outcome::Panic(_)));
/// ```
pub fn gather_outcomes<T: 'static>(coros: impl IntoIterator<Item = Coro<T>>) -> Vec<Outcome<T>> {
    collect(coros.into_iter().map(spawn).collect(), false, Some)
}

/// `raises`: whether `each` raises a failure (then a failure wakes the
/// gatherer at once; otherwise it wakes once, when every task is done).
pub(super) fn collect<T: 'static, U>(
    tasks: Vec<Task<T>>,
    raises: bool,
    mut each: impl FnMut(Outcome<T>) -> Option<U>,
) -> Vec<U> {
    let completions = watch(&tasks);
    let mut results: Vec<Option<U>> = (0..tasks.len()).map(|_| None).collect();
    let mut left = tasks.len();
    while left > 0 {
        while let Some(i) = completions.pop() {
            let outcome = tasks[i]
                .fut
                .take_outcome()
                .expect("a reported task is done");
            // A raised failure leaves the other tasks running, as in Python.
            results[i] = each(outcome);
            left -= 1;
        }
        if left > 0 && completions.park_for(left, raises, "gather") == Wake::Cancel {
            for t in &tasks {
                t.cancel();
            }
            suspend::raise_cancelled();
        }
    }
    results
        .into_iter()
        .map(|r| r.expect("every task reported"))
        .collect()
}

/// Coroutines of different result types, run together by [`join`]: tuples
/// of up to eight [`Coro`]s.
pub trait Join {
    /// The tuple of their results, in the same order.
    type Output;
    /// Runs them concurrently as tasks; see [`join`].
    fn join(self) -> Self::Output;
}

/// Runs coroutines of *different* result types concurrently and returns
/// their results as a tuple, in argument order (`gather` for a tuple, as
/// `tokio::join!` is; Python's `gather` is untyped, so one call covers both).
///
/// As with [`gather`], the caller is woken once, when every task is done,
/// or at once by the first task to fail, whose panic (or cancellation) is
/// raised here while the others go on running; cancelling the caller
/// cancels every task.
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::{EventLoop, Coro, sleep, combinators::join};
/// let lp = EventLoop::builder().virtual_clock(true).build();
/// let (user, posts, took) = lp.run(Coro::new("page", || {
///     let t0 = yieldfrom::EventLoop::current().time();
///     let (user, posts) = join((
///         Coro::new("user", || { sleep(Duration::from_secs(2)); "ada".to_string() }),
///         Coro::new("posts", || { sleep(Duration::from_secs(1)); vec![1, 2, 3] }),
///     ));
///     (user, posts, yieldfrom::EventLoop::current().time() - t0)
/// }));
/// assert_eq!((user.as_str(), posts.len(), took), ("ada", 3, 2.0));
/// ```
pub fn join<J: Join>(coros: J) -> J::Output {
    coros.join()
}

macro_rules! impl_join {
    ($n:literal; $($T:ident $coro:ident $task:ident $i:tt),+) => {
        impl<$($T: 'static),+> Join for ($(Coro<$T>,)+) {
            type Output = ($($T,)+);

            fn join(self) -> Self::Output {
                let ($($coro,)+) = self;
                let completions = Completions::new();
                $(
                    let $task = spawn($coro);
                    $task.fut.add_waiter(Waiter::Index(completions.clone(), $i));
                )+
                let mut left = $n;
                while left > 0 {
                    while let Some(i) = completions.pop() {
                        left -= 1;
                        // The first failure is raised at once, as gather's.
                        match i {
                            $($i => if $task.fut.failed() {
                                $task.fut.take_outcome().expect("a reported task is done").unwrap();
                            },)+
                            _ => unreachable!("join watches {} tasks", $n),
                        }
                    }
                    if left > 0 && completions.park_for(left, true, "join") == Wake::Cancel {
                        $($task.cancel();)+
                        suspend::raise_cancelled();
                    }
                }
                ($($task.fut.take_outcome().expect("every task reported").unwrap(),)+)
            }
        }
    };
}

impl_join!(1; A a ta 0);
impl_join!(2; A a ta 0, B b tb 1);
impl_join!(3; A a ta 0, B b tb 1, C c tc 2);
impl_join!(4; A a ta 0, B b tb 1, C c tc 2, D d td 3);
impl_join!(5; A a ta 0, B b tb 1, C c tc 2, D d td 3, E e te 4);
impl_join!(6; A a ta 0, B b tb 1, C c tc 2, D d td 3, E e te 4, F f tf 5);
impl_join!(7; A a ta 0, B b tb 1, C c tc 2, D d td 3, E e te 4, F f tf 5, G g tg 6);
impl_join!(8; A a ta 0, B b tb 1, C c tc 2, D d td 3, E e te 4, F f tf 5, G g tg 6, H h th 7);

/// Like [`gather_tasks`], but returns every task's [`Outcome`] instead of
/// raising the first failure (Python: `gather(*tasks, return_exceptions=True)`).
///
/// ```
/// use yieldfrom::{run, spawn, Coro, Outcome, combinators::gather_task_outcomes};
/// let outcomes = run(Coro::new("main", || {
///     let ok = spawn(Coro::new("ok", || 1));
///     let doomed = spawn(Coro::new("doomed", || { yieldfrom::yield_now(); 2 }));
///     doomed.cancel();
///     gather_task_outcomes(vec![ok, doomed])
/// }));
/// assert!(matches!(outcomes[0], Outcome::Value(1)));
/// assert!(matches!(outcomes[1], Outcome::Cancelled));
/// ```
pub fn gather_task_outcomes<T: 'static>(tasks: Vec<Task<T>>) -> Vec<Outcome<T>> {
    collect(tasks, false, Some)
}
