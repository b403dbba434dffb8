//! Task groups (Python: `asyncio.TaskGroup`): children that end with their
//! group, the first failure cancelling the rest.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use crate::coro::Coro;
use crate::event_loop::spawn;
use crate::task::context;
use crate::task::future::{Completions, Waiter, panic_message};
use crate::task::suspend::{self, Wake};
use crate::task::{Task, TaskRef, raw};

/// A child task failure collected by a [`TaskGroup`].
#[derive(Debug)]
struct Failure {
    /// The failed child's name.
    name: &'static str,
    /// Its panic's message.
    message: String,
}

struct GroupState {
    /// Children still alive: (core, cancel).
    children: RefCell<Vec<TaskRef>>,
    /// The children's failures so far, in the order they came.
    failures: RefCell<Vec<Failure>>,
    /// The task running the group's body (cancelled when a child fails).
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
    /// What the group and its children's callbacks share.
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
                if let Some(failure) = fut.exception() {
                    state.failures.borrow_mut().push(Failure {
                        name: fut_name(&state, index),
                        message: failure.to_string(),
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
    let cancels_before = parent.state.cancelling();
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
    /// Every child's failure.
    failures: Vec<Failure>,
    /// The body's own panic, if it had one.
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

opaque_debug!(TaskGroup);
