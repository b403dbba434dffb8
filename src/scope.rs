//! Scoped tasks: tasks that may borrow from the task that starts them
//! (`std::thread::scope` for tasks; Python's tasks borrow freely because
//! everything is on the heap).
//!
//! Every task body is `'static`, because a task may outlive the function
//! that spawned it. A *scoped* task may not: [`scope`] does not return, nor
//! unwind out, until every task spawned in it has finished — so they may
//! borrow what lives outside the scope (a slice to split up, a `&Queue`, a
//! `&mut` counter per task).
//!
//! # Why this is sound
//!
//! The children's bodies are spawned as ordinary tasks with their lifetime
//! erased; everything rests on the parent's frames (and what they own) being
//! alive and in place for as long as a child can run or drop:
//!
//! - **Waiting.** `scope` runs its body under `catch_unwind`, then waits for
//!   every child whatever happened: a panic, or a cancellation (which it
//!   passes on to the children, then goes on waiting). Only then does it
//!   return, or raise what it caught. The list it waits on is its own, not
//!   the handles' (forgetting a [`ScopedTask`] changes nothing).
//! - **Frames in place.** On a dedicated stack the parent's frames never
//!   move. On a shared stack (copy-stack mode) they are copied aside while
//!   another task of that stack runs, and that task's frames fill the same
//!   addresses; so the loop puts the frames of every task up a scoped
//!   task's chain of scopes back on their stacks (a copy, without running
//!   them) before it runs the scoped task, cancels it, drops its body or
//!   unwinds it, and never gives a scoped task the shared stack of a task
//!   it borrows from (`task/raw.rs`, "scoped tasks"). While the scoped task
//!   runs nothing else does, so nothing can move them away under it.
//! - **A task that can wait.** `scope` panics, before spawning anything,
//!   inside a `Generator` body (a generator cannot pause its task, so the
//!   scope could not wait).
//! - **Loop close.** A closing loop cancels the parent and the children and
//!   runs them to their end, as any task; a task it gives up on is never
//!   resumed and its stack stays mapped (leaked) — a given-up parent on a
//!   shared stack keeps its place and its saved frames there while its
//!   scoped tasks live — so its data stays valid for children that still
//!   run, and a given-up child never touches its parent's data again.
//! - **A parent destroyed without waiting.** The one path where the
//!   parent's stack is unwound without the loop running (a loop dropped
//!   while it could not close) would free the parent's frames under live
//!   children: there the process aborts, with a message, rather than let a
//!   child read freed memory.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::Rc;

use crate::coro::Coro;
use crate::event_loop::spawn;
use crate::task::context;
use crate::task::future::{Completions, Future, Outcome, Waiter};
use crate::task::suspend::{self, Wake};
use crate::task::{Task, TaskName, TaskRef, raw};

/// The scope of [`scope`]: spawns tasks that may borrow anything that
/// outlives it (`'env`), and that all end before `scope` returns.
pub struct Scope<'scope, 'env: 'scope> {
    /// Every child spawned, in order: its record and its outcome's handle.
    children: RefCell<Vec<(TaskRef, Future<()>)>>,
    /// Their completions, to wake the parent.
    done: Rc<Completions>,
    /// The task that opened the scope: the one whose frames its tasks may
    /// borrow (whichever task spawns them, the scope's own or one of them).
    owner: TaskRef,
    /// Invariance over both lifetimes, as `std::thread::Scope` has.
    scope: PhantomData<&'scope mut &'scope ()>,
    /// Invariance over the environment the tasks borrow from.
    env: PhantomData<&'env mut &'env ()>,
}

/// A task spawned in a [`Scope`]; [`join`](Self::join) awaits its result.
pub struct ScopedTask<'scope, T> {
    /// The child, running the body that fills `result`.
    task: Task<()>,
    /// The body's return value, once it returns.
    result: Rc<RefCell<Option<T>>>,
    /// The scope it borrows from, which it cannot outlive.
    scope: PhantomData<&'scope ()>,
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Spawns `f` as a task that may borrow from outside the scope; it
    /// starts when the loop gets to it, like [`spawn`](crate::spawn)'s.
    ///
    /// ```
    /// use yieldfrom::{run, scope, Coro};
    /// let total = run(Coro::new("main", || {
    ///     let words = vec!["stack", "ful"]; // borrowed by the tasks below
    ///     scope(|s| {
    ///         let a = s.spawn("len a", || words[0].len());
    ///         let b = s.spawn("len b", || words[1].len());
    ///         a.join() + b.join()
    ///     })
    /// }));
    /// assert_eq!(total, 8);
    /// ```
    pub fn spawn<T: 'scope>(
        &'scope self,
        name: impl Into<TaskName>,
        f: impl FnOnce() -> T + 'scope,
    ) -> ScopedTask<'scope, T> {
        let result = Rc::new(RefCell::new(None));
        let slot = result.clone();
        let body: Box<dyn FnOnce() + 'scope> = Box::new(move || {
            let value = f();
            *slot.borrow_mut() = Some(value);
        });
        // SAFETY: only the lifetime bound of the trait object changes (the
        // layout is the same). The body, and everything it borrows for
        // 'scope, is used only by the child task, and `scope` does not
        // return or unwind before that task has finished — its body run or
        // dropped — or has been given up by its loop, after which it never
        // runs again (see the module's "Why this is sound").
        let body: Box<dyn FnOnce() + 'static> = unsafe {
            std::mem::transmute::<Box<dyn FnOnce() + 'scope>, Box<dyn FnOnce() + 'static>>(body)
        };
        let coro = Coro::new(name, body);
        // The list is taken before the task exists, so that nothing can
        // fail between spawning it and listing it (an unlisted task would
        // not be waited for).
        let mut children = self.children.borrow_mut();
        let task = spawn(coro);
        // Before it can first run: the task it borrows from.
        raw::set_scope_parent(&task.core, self.owner.clone());
        task.fut
            .add_waiter(Waiter::Index(self.done.clone(), children.len()));
        children.push((task.core.clone(), task.fut.clone()));
        ScopedTask {
            task,
            result,
            scope: PhantomData,
        }
    }

    /// How many tasks this scope has spawned.
    ///
    /// ```
    /// use yieldfrom::{run, scope, Coro};
    /// run(Coro::new("main", || scope(|s| {
    ///     assert!(s.is_empty());
    ///     s.spawn("one", || ());
    ///     assert_eq!(s.len(), 1);
    /// })));
    /// ```
    pub fn len(&self) -> usize {
        self.children.borrow().len()
    }

    /// Whether it has spawned none.
    ///
    /// ```
    /// use yieldfrom::{run, scope, Coro};
    /// run(Coro::new("main", || scope(|s| assert!(s.is_empty()))));
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cancels every child that has not finished.
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::{EventLoop, scope, sleep, Coro};
    /// let lp = EventLoop::builder().virtual_clock(true).build();
    /// lp.run_until_complete(Coro::new("main", || scope(|s| {
    ///     let slow = s.spawn("slow", || sleep(Duration::from_secs(3600)));
    ///     s.cancel_all();
    ///     drop(slow);
    /// })));
    /// assert_eq!(lp.time(), 0.0); // the scope ended without waiting an hour
    /// ```
    pub fn cancel_all(&self) {
        for (child, _) in self.children.borrow().iter() {
            raw::cancel(child);
        }
    }

    /// Waits until every child has finished (a child may spawn more while
    /// it waits); a cancellation of the waiting task is passed on to the
    /// children and waited out. Returns whether one came.
    fn wait_all(&self) -> bool {
        let mut cancelled = false;
        loop {
            while self.done.pop().is_some() {}
            let left = self
                .children
                .borrow()
                .iter()
                .filter(|(_, fut)| !fut.done())
                .count();
            if left == 0 {
                return cancelled;
            }
            if self.done.park_for(left, false, "scope") == Wake::Cancel {
                cancelled = true;
                self.cancel_all();
            }
        }
    }
}

impl<T> ScopedTask<'_, T> {
    /// Awaits the task and returns its result; its panic is raised here
    /// (and so not again at the scope's end), as is a cancellation.
    ///
    /// ```
    /// use yieldfrom::{run, scope, Coro};
    /// let n = run(Coro::new("main", || {
    ///     let data = [1, 2, 3];
    ///     scope(|s| s.spawn("sum", || data.iter().sum::<i32>()).join())
    /// }));
    /// assert_eq!(n, 6);
    /// ```
    pub fn join(self) -> T {
        self.task.join();
        self.result
            .borrow_mut()
            .take()
            .expect("a task that returned left its result")
    }

    /// Asks the task to stop (see [`Task::cancel`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::{EventLoop, scope, sleep, yield_now, Coro};
    /// let lp = EventLoop::builder().virtual_clock(true).build();
    /// lp.run(Coro::new("main", || scope(|s| {
    ///     let t = s.spawn("napper", || sleep(Duration::from_secs(60)));
    ///     yield_now();
    ///     t.cancel();
    ///     yield_now();
    ///     assert!(t.is_done());
    /// })));
    /// ```
    pub fn cancel(&self) {
        self.task.cancel();
    }

    /// Whether it has finished.
    ///
    /// ```
    /// use yieldfrom::{run, scope, yield_now, Coro};
    /// run(Coro::new("main", || scope(|s| {
    ///     let t = s.spawn("quick", || ());
    ///     assert!(!t.is_done());
    ///     yield_now();
    ///     assert!(t.is_done());
    /// })));
    /// ```
    pub fn is_done(&self) -> bool {
        self.task.done()
    }
}

/// Aborts the process if dropped while armed: the scope's frames are being
/// destroyed without the loop running (a forced unwind of its task), so its
/// children could be left holding borrows of freed memory.
struct AbortIfUnwoundEarly<'a> {
    /// Whether the scope's children are still alive.
    live: &'a dyn Fn() -> bool,
    /// Disarmed once the scope has waited for its children.
    armed: Cell<bool>,
}

impl Drop for AbortIfUnwoundEarly<'_> {
    fn drop(&mut self) {
        if self.armed.get() && (self.live)() {
            eprintln!(
                "yieldfrom: a task was destroyed inside scope() while the scoped tasks it \
                 started were still alive (they borrow its data); aborting"
            );
            std::process::abort();
        }
    }
}

/// Runs `body` with a [`Scope`] whose tasks may borrow from the caller, and
/// returns when `body` and every task spawned in the scope have finished
/// (`std::thread::scope` for tasks).
///
/// A panic in `body` is raised after the tasks have finished; so is a
/// cancellation of the calling task (the tasks are cancelled first). A
/// task's panic is raised by its [`join`](ScopedTask::join), or, if it was
/// not joined, here once all have finished (the first one's).
///
/// Works in every stack mode (on shared stacks the loop keeps the borrowed
/// frames in place for the scoped tasks; see the module docs). Panics,
/// before running `body`, outside a task or inside a `Generator`'s body.
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::{EventLoop, Coro, sleep, scope};
/// let lp = EventLoop::builder().virtual_clock(true).build();
/// let (sums, hits) = lp.run(Coro::new("main", || {
///     let data = vec![1, 2, 3, 4, 5, 6];
///     let mut hits = 0;
///     let sums: Vec<i32> = scope(|s| {
///         // Each task borrows its half of `data`; one also borrows `hits`.
///         let (data, hits) = (&data, &mut hits);
///         let left = s.spawn("left", move || {
///             sleep(Duration::from_secs(1)); // the borrow lives across a pause
///             data[..3].iter().sum()
///         });
///         let right = s.spawn("right", move || { *hits += 1; data[3..].iter().sum() });
///         vec![left.join(), right.join()]
///     });
///     (sums, hits)
/// }));
/// assert_eq!((sums, hits), (vec![6, 15], 1));
/// ```
///
/// What must stay impossible does not compile: a scoped task cannot outlive
/// its scope,
///
/// ```compile_fail
/// use yieldfrom::{run, Coro, scope};
/// run(Coro::new("main", || {
///     let escaped = scope(|s| s.spawn("t", || 1));
///     escaped.join()
/// }));
/// ```
///
/// nor borrow what the scope's body owns (it dies before the tasks might),
///
/// ```compile_fail,E0373
/// use yieldfrom::{run, Coro, scope};
/// run(Coro::new("main", || {
///     scope(|s| {
///         let local = vec![1, 2, 3];
///         s.spawn("t", || local.len());
///     });
/// }));
/// ```
///
/// nor share a `&mut` between two tasks,
///
/// ```compile_fail,E0499
/// use yieldfrom::{run, Coro, scope};
/// run(Coro::new("main", || {
///     let mut n = 0;
///     scope(|s| {
///         s.spawn("a", || n += 1);
///         s.spawn("b", || n += 1);
///     });
/// }));
/// ```
///
/// and a plain [`spawn`](crate::spawn) still may not borrow at all:
///
/// ```compile_fail,E0373
/// use yieldfrom::{run, spawn, Coro};
/// run(Coro::new("main", || {
///     let data = vec![1, 2, 3];
///     spawn(Coro::new("t", || data.len())).join()
/// }));
/// ```
pub fn scope<'env, F, R>(body: F) -> R
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
{
    let (owner, on_task_stack) = context::with_current("scope()", |task| {
        let probe = 0u8;
        let sp = std::hint::black_box(&probe) as *const u8 as usize;
        (
            task.rc(),
            (task.stack_lo()..task.stack_hi.get()).contains(&sp),
        )
    });
    assert!(
        on_task_stack,
        "scope() was called inside a Generator body running in a task: a generator cannot \
         pause its task, so the scope could not wait for its tasks; open the scope outside \
         the generator"
    );
    let scope = Scope {
        children: RefCell::new(Vec::new()),
        done: Completions::new(),
        owner,
        scope: PhantomData,
        env: PhantomData,
    };
    let live = || scope.children.borrow().iter().any(|(_, fut)| !fut.done());
    let guard = AbortIfUnwoundEarly {
        live: &live,
        armed: Cell::new(true),
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| body(&scope)));
    if let Err(payload) = outcome {
        if suspend::is_forced_unwind() {
            // The task's stack is being destroyed: it cannot wait, and must
            // not be caught. With live tasks, the guard aborts on the way.
            resume_unwind(payload);
        }
        return finish(&scope, guard, Err(payload));
    }
    finish(&scope, guard, outcome)
}

/// The end of [`scope`]: waits for every task, then returns or raises.
fn finish<R>(
    scope: &Scope<'_, '_>,
    guard: AbortIfUnwoundEarly<'_>,
    outcome: std::thread::Result<R>,
) -> R {
    let body_cancelled = match &outcome {
        Err(payload) if suspend::is_cancelled(payload.as_ref()) => {
            // Handled here for now: the wait below must be able to park.
            suspend::cancellation_handled();
            true
        }
        _ => false,
    };
    if outcome.is_err() {
        scope.cancel_all();
    }
    let cancelled_while_waiting = scope.wait_all();
    guard.armed.set(false);
    drop(guard);
    // Every task has finished: they need their ancestors no more (and their
    // records may be freed once the list goes).
    for (child, _) in scope.children.borrow().iter() {
        raw::clear_scope_parent(child);
    }
    let value = match outcome {
        Err(_) if body_cancelled => suspend::raise_cancelled(),
        Err(payload) => resume_unwind(payload),
        Ok(value) => value,
    };
    if cancelled_while_waiting {
        suspend::raise_cancelled();
    }
    // A task's panic that nobody joined is raised now, the first one's.
    for (_, fut) in scope.children.borrow().iter() {
        if fut.failed()
            && let Some(Outcome::Panic(payload)) = fut.take_outcome()
        {
            resume_unwind(payload);
        }
    }
    value
}

impl std::fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<Scope tasks={}>", self.len())
    }
}

impl<T> std::fmt::Debug for ScopedTask<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<ScopedTask {}>", self.task.name())
    }
}
