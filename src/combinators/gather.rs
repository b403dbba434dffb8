//! `gather`: every result, in the order asked (Python: `asyncio.gather`),
//! and the completion list the other combinators share.

use std::rc::Rc;

use crate::awaitable::yield_from;
use crate::coro::Coro;
use crate::event_loop::spawn;
use crate::task::Task;
use crate::task::future::{Completions, Future, Outcome, Waiter};
use crate::task::suspend::{self, Wake};

/// A completion list that every one of `tasks` reports its index to.
pub(super) fn watch<T>(tasks: &[Task<T>]) -> Rc<Completions> {
    let c = Completions::new();
    for (i, t) in tasks.iter().enumerate() {
        t.fut.add_waiter(Waiter::Index(c.clone(), i));
    }
    c
}

/// Something [`gather`] waits for: a coroutine (run as a task), a task
/// already running, or a future (awaited by a task of its own).
pub trait Gatherable {
    /// Its result.
    type Output: 'static;
    /// The task that gather waits for.
    fn into_task(self) -> Task<Self::Output>;
}

impl<T: 'static> Gatherable for Coro<T> {
    type Output = T;
    fn into_task(self) -> Task<T> {
        spawn(self)
    }
}

impl<T: 'static> Gatherable for Task<T> {
    type Output = T;
    fn into_task(self) -> Task<T> {
        self
    }
}

impl<T: Clone + 'static> Gatherable for Future<T> {
    type Output = T;
    fn into_task(self) -> Task<T> {
        spawn(Coro::new("gather: future", move || yield_from(self)))
    }
}

/// What [`gather`] takes, and what it gives back: any iterable of
/// [`Gatherable`]s gives their results (the first failure raised); the same
/// wrapped in [`outcomes`] gives every [`Outcome`] (Python's
/// `return_exceptions=True`). (A tuple, whose results differ in type, is
/// [`join`]'s: Rust cannot tell a tuple from an iterable in one trait.)
pub trait Gather {
    /// The results, in argument order.
    type Output;
    /// Runs them concurrently; see [`gather`].
    fn gather(self) -> Self::Output;
}

/// Items for [`gather`] whose every outcome is wanted (see [`outcomes`]).
#[derive(Debug)]
pub struct Outcomes<I>(I);

/// Asks [`gather`] for every item's [`Outcome`] (value, panic or cancelled)
/// instead of raising the first failure (Python: `gather(*aws,
/// return_exceptions=True)`).
///
/// ```
/// use yieldfrom::{run, spawn, Coro, Outcome, combinators::{gather, outcomes}};
/// let got = run(Coro::new("main", || {
///     let doomed = spawn(Coro::new("doomed", || { yieldfrom::yield_now(); 2 }));
///     doomed.cancel();
///     let fails = spawn(Coro::new("fails", || -> i32 { panic!("no") }));
///     gather(outcomes([spawn(Coro::new("ok", || 1)), doomed, fails]))
/// }));
/// assert!(matches!(got[0], Outcome::Value(1)));
/// assert!(matches!(got[1], Outcome::Cancelled));
/// assert!(matches!(got[2], Outcome::Panic(_)));
/// ```
pub fn outcomes<I>(items: I) -> Outcomes<I>
where
    I: IntoIterator,
    I::Item: Gatherable,
{
    Outcomes(items)
}

impl<I> Gather for I
where
    I: IntoIterator,
    I::Item: Gatherable,
{
    type Output = Vec<<I::Item as Gatherable>::Output>;
    fn gather(self) -> Self::Output {
        let tasks = self.into_iter().map(Gatherable::into_task).collect();
        collect(tasks, true, |o| match o {
            Outcome::Value(v) => Some(v),
            other => {
                other.unwrap();
                None
            }
        })
    }
}

impl<I> Gather for Outcomes<I>
where
    I: IntoIterator,
    I::Item: Gatherable,
{
    type Output = Vec<Outcome<<I::Item as Gatherable>::Output>>;
    fn gather(self) -> Self::Output {
        let tasks = self.0.into_iter().map(Gatherable::into_task).collect();
        collect(tasks, false, Some)
    }
}

/// Runs coroutines, tasks or futures concurrently and returns their results
/// in argument order, whatever the order they finish in (Python:
/// `asyncio.gather`). Coroutines become tasks; the caller is woken once,
/// when every one is done.
///
/// Errors: the first task to panic (or be cancelled) has its panic raised
/// here at once; the others are *not* cancelled and go on running, as in
/// Python with `return_exceptions=False`. Wrap the items in [`outcomes`]
/// to get every outcome instead. Cancelling the gathering task cancels
/// every child.
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
///
/// Tasks already running, and futures, are gathered the same way:
///
/// ```
/// use yieldfrom::{run, spawn, Coro, Future, combinators::gather};
/// let squares = run(Coro::new("main", || {
///     let tasks: Vec<_> = (1..=3).map(|i| spawn(Coro::new("square", move || i * i))).collect();
///     let answer = Future::new();
///     answer.set_result(42);
///     (gather(tasks), gather([answer]))
/// }));
/// assert_eq!(squares, (vec![1, 4, 9], vec![42]));
/// ```
///
/// Results of *different* types come from [`join`], which takes a tuple.
pub fn gather<G: Gather>(items: G) -> G::Output {
    items.gather()
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

/// Coroutines, tasks or futures of different result types, run together by
/// [`join`]: tuples of up to eight.
pub trait Join {
    /// The tuple of their results, in the same order.
    type Output;
    /// Runs them concurrently; see [`join`].
    fn join(self) -> Self::Output;
}

/// Runs coroutines, tasks or futures of *different* result types
/// concurrently and returns their results as a tuple, in argument order
/// ([`gather`] for a tuple, as `tokio::join!` is; Python's `gather` is
/// untyped, so one call covers both).
///
/// As with [`gather`], the caller is woken once, when every one is done,
/// or at once by the first to fail, whose panic (or cancellation) is
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
pub fn join<J: Join>(items: J) -> J::Output {
    items.join()
}

macro_rules! impl_join {
    ($n:literal; $($T:ident $coro:ident $task:ident $i:tt),+) => {
        impl<$($T: Gatherable),+> Join for ($($T,)+) {
            type Output = ($($T::Output,)+);

            fn join(self) -> Self::Output {
                let ($($coro,)+) = self;
                let completions = Completions::new();
                $(
                    let $task = $coro.into_task();
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
