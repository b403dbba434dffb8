//! Waiting for many things at once: `gather`, `wait`, `as_completed`,
//! `select`, and task groups (Python: `asyncio.gather`, `asyncio.wait`,
//! `asyncio.as_completed`, `asyncio.TaskGroup`).
//!
//! All of them rest on `Completions`: every watched task reports its index
//! there when it is done, and the waiting task wakes to read the indices in
//! completion order. Each completion costs one wake-up, so waiting for n
//! tasks is O(n), not O(n²).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use crate::coro::Coro;
use crate::event_loop::{EventLoop, spawn};
use crate::task::context;
use crate::task::future::{Completions, Outcome, Waiter, panic_message};
use crate::task::suspend::{self, Wake};
use crate::task::{Task, TaskRef, raw};

/// A completion list that every one of `tasks` reports its index to.
fn watch<T>(tasks: &[Task<T>]) -> Rc<Completions> {
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
fn collect<T: 'static, U>(
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
    tasks: Vec<Task<T>>,
    completions: Rc<Completions>,
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

/// A child task failure collected by a [`TaskGroup`].
#[derive(Debug)]
struct Failure {
    name: &'static str,
    message: String,
}

struct GroupState {
    /// Children still alive: (core, cancel).
    children: RefCell<Vec<TaskRef>>,
    failures: RefCell<Vec<Failure>>,
    parent: TaskRef,
    /// Completions of children, to wake the parent when it waits at the end.
    done: Rc<Completions>,
    /// The children are being cancelled (a failure, the body's panic or
    /// cancellation); children spawned now are cancelled at once.
    aborting: Cell<bool>,
    /// The group cancelled the parent to stop its body (a child failed):
    /// it must withdraw that request at the end (asyncio's
    /// `_parent_cancel_requested`).
    parent_cancel_requested: Cell<bool>,
}

/// A scope whose children cannot outlive it (Python: `asyncio.TaskGroup`).
///
/// Made by [`task_group`]. When the body returns, the group waits for every
/// child. If a child panics, the group cancels the body (at its current await
/// point) and every other child, waits for them, and then panics with a
/// message listing the failures (Python raises an `ExceptionGroup`).
pub struct TaskGroup {
    state: Rc<GroupState>,
}

impl TaskGroup {
    /// Starts a child task in the group (Python: `tg.create_task`).
    pub fn spawn<T: 'static>(&self, coro: Coro<T>) -> Task<T> {
        let task = spawn(coro);
        // A child spawned while the group aborts is cancelled before it starts.
        if self.state.aborting.get() {
            task.cancel();
        }
        let index = {
            let mut children = self.state.children.borrow_mut();
            children.push(task.core.clone());
            children.len() - 1
        };
        let (state, fut) = (self.state.clone(), task.fut.clone());
        task.fut.add_waiter(Waiter::Callback(
            Box::new(move || {
                if let Some(message) = fut.exception() {
                    state.failures.borrow_mut().push(Failure {
                        name: fut_name(&state, index),
                        message,
                    });
                    state.child_failed();
                }
                state.done.push(index, false);
            }),
            "task_group's watch of a child".into(),
        ));
        task
    }
}

fn fut_name(state: &GroupState, index: usize) -> &'static str {
    state.children.borrow()[index].name
}

impl GroupState {
    /// Cancels every child (once).
    fn abort(&self) {
        if self.aborting.replace(true) {
            return;
        }
        for child in self.children.borrow().iter() {
            raw::cancel(child);
        }
    }

    /// A child failed: unless the group is stopping already, cancel the
    /// others, and the parent too, to stop the body wherever it waits
    /// (asyncio's `_on_task_done`); that request is withdrawn at the end.
    fn child_failed(&self) {
        if self.aborting.get() || self.parent_cancel_requested.get() {
            return;
        }
        self.abort();
        self.parent_cancel_requested.set(true);
        raw::cancel(&self.parent);
    }
}

/// How the group's body ended.
enum BodyEnd<R> {
    Returned(R),
    Panicked(Box<dyn std::any::Any + Send>),
    /// A cancellation reached its end: the group's own (a child failed) or
    /// one from outside; the count of requests tells which.
    Cancelled,
}

/// Runs `body` with a [`TaskGroup`] and waits for all the children it spawned.
///
/// ```
/// use yieldfrom::{EventLoop, Coro, sleep, combinators::task_group};
/// use std::time::Duration;
/// let lp = EventLoop::builder().virtual_clock(true).build();
/// let sum = lp.run(Coro::new("main", || {
///     task_group(|tg| {
///         let a = tg.spawn(Coro::new("a", || { sleep(Duration::from_secs(1)); 1 }));
///         let b = tg.spawn(Coro::new("b", || { sleep(Duration::from_secs(2)); 2 }));
///         (a, b)
///     });
///     // both children are done here
///     3
/// }));
/// assert_eq!(sum, 3);
/// ```
pub fn task_group<R>(body: impl FnOnce(&TaskGroup) -> R) -> R {
    let parent = context::with_current("task_group()", |t| t.rc());
    // Cancellations of the parent requested before the group: more than
    // these at the end (ours withdrawn) means someone else asked meanwhile.
    let cancels_before = parent.cancels.get();
    let group = TaskGroup {
        state: Rc::new(GroupState {
            children: RefCell::default(),
            failures: RefCell::default(),
            parent,
            done: Completions::new(),
            aborting: Cell::new(false),
            parent_cancel_requested: Cell::new(false),
        }),
    };
    let end = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&group))) {
        Ok(v) => BodyEnd::Returned(v),
        // The loop is closing and unwinds this stack: no waiting for children.
        Err(p) if suspend::is_forced_unwind() => std::panic::resume_unwind(p),
        Err(p) if suspend::is_cancelled(p.as_ref()) => {
            suspend::cancellation_handled();
            BodyEnd::Cancelled
        }
        Err(p) => BodyEnd::Panicked(p),
    };
    let state = &group.state;
    // Whether the parent ends cancelled, unless children failed (their
    // errors have priority, as in asyncio).
    let mut propagate_cancel = matches!(end, BodyEnd::Cancelled);
    if !matches!(end, BodyEnd::Returned(_)) {
        state.abort();
    }
    // Wait for every child, including ones spawned while aborting. A
    // cancellation met here while the group is not stopping yet is from
    // outside: stop the children and end cancelled. (While stopping, it is
    // the group's own request or a repeat: the count below decides.)
    let mut finished = 0;
    while finished < state.children.borrow().len() {
        while state.done.pop().is_some() {
            finished += 1;
        }
        let left = state.children.borrow().len() - finished;
        if left > 0
            && state.done.park_for(left, false, "TaskGroup") == Wake::Cancel
            && !state.aborting.get()
        {
            propagate_cancel = true;
            state.abort();
        }
    }
    if state.parent_cancel_requested.get() {
        // Withdraw the group's own request (asyncio: `uncancel()`). None
        // left beyond those from before the group: the cancellation the
        // body met was ours. More: someone else asked too, and that wins.
        propagate_cancel = raw::uncancel(&state.parent) > cancels_before;
    }
    let failures = std::mem::take(&mut *state.failures.borrow_mut());
    if !failures.is_empty() {
        // The children's errors have priority over a cancellation from
        // outside, which stays counted (`cancelling()`), as in asyncio.
        let body_error = match &end {
            BodyEnd::Panicked(p) => Some(panic_message(p.as_ref())),
            _ => None,
        };
        panic!(
            "{}",
            GroupFailed {
                failures,
                body_error
            }
        );
    }
    match end {
        BodyEnd::Panicked(p) => std::panic::resume_unwind(p),
        _ if propagate_cancel => suspend::raise_cancelled(),
        BodyEnd::Returned(v) => v,
        BodyEnd::Cancelled => unreachable!("a cancellation is withdrawn only with failures"),
    }
}

struct GroupFailed {
    failures: Vec<Failure>,
    body_error: Option<String>,
}

impl fmt::Display for GroupFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskGroup: {} child task(s) failed", self.failures.len())?;
        for failure in &self.failures {
            write!(f, "; task '{}' panicked: {}", failure.name, failure.message)?;
        }
        if let Some(body) = &self.body_error {
            write!(f, "; the group's body panicked: {body}")?;
        }
        Ok(())
    }
}

opaque_debug!(AsCompleted<T>, TaskGroup);
