//! [`Condition`]: asyncio's Condition, a wait for a notification with a
//! lock held around the check.

use super::lock::{Lock, LockGuard};
use super::wait::WaitQueue;
use crate::task::suspend::{self, Wake};

/// Wait until notified, with a lock held around the check (Python: `asyncio.Condition`).
///
/// ```
/// use yieldfrom::{run, spawn, yield_from, Coro, sync::Condition};
/// use std::{rc::Rc, cell::Cell};
/// let got = run(Coro::new("main", || {
///     let (cond, ready) = (Rc::new(Condition::new()), Rc::new(Cell::new(false)));
///     let (c, r) = (cond.clone(), ready.clone());
///     let consumer = spawn(Coro::new("consumer", move || {
///         let guard = c.lock();
///         let _guard = c.wait_for(guard, || r.get());
///         "saw it"
///     }));
///     let _g = cond.lock();
///     ready.set(true);
///     cond.notify_all();
///     drop(_g);
///     yield_from(consumer)
/// }));
/// assert_eq!(got, "saw it");
/// ```
#[derive(Default)]
pub struct Condition {
    /// The lock held around the check of the condition.
    lock: Lock,
    /// Tasks waiting for a notification.
    waiters: WaitQueue,
}

impl Condition {
    /// A condition with its own lock.
    ///
    /// ```
    /// use yieldfrom::{run, Coro, sync::Condition};
    /// run(Coro::new("main", || {
    ///     let cond = Condition::new();
    ///     let _held = cond.lock();
    /// }));
    /// ```
    pub fn new() -> Condition {
        Condition::default()
    }

    /// Acquires the underlying lock.
    ///
    /// ```
    /// use yieldfrom::{run, Coro, sync::Condition};
    /// run(Coro::new("main", || {
    ///     let cond = Condition::new();
    ///     let guard = cond.lock();
    ///     cond.notify_all(); // notify with the lock held, as asyncio asks
    ///     drop(guard);
    /// }));
    /// ```
    #[track_caller]
    pub fn lock(&self) -> LockGuard<'_> {
        self.lock.acquire()
    }

    /// Releases the lock, waits for a notification, and takes the lock again.
    ///
    /// If cancelled, the lock is taken again before `Cancelled` is raised (as in Python).
    ///
    /// ```
    /// use std::rc::Rc;
    /// use yieldfrom::{run, spawn, yield_now, Coro, sync::Condition};
    /// let woke = run(Coro::new("main", || {
    ///     let cond = Rc::new(Condition::new());
    ///     let c = cond.clone();
    ///     let sleeper = spawn(Coro::new("sleeper", move || {
    ///         let guard = c.lock();
    ///         let _guard = c.wait(guard); // the lock is free while it waits
    ///         "notified"
    ///     }));
    ///     yield_now();
    ///     let _g = cond.lock();
    ///     cond.notify(1);
    ///     drop(_g);
    ///     sleeper.join()
    /// }));
    /// assert_eq!(woke, "notified");
    /// ```
    #[track_caller]
    pub fn wait<'a>(&'a self, guard: LockGuard<'a>) -> LockGuard<'a> {
        drop(guard);
        let waited = self.waiters.wait("Condition.wait");
        let guard = self.lock.acquire();
        if waited.wake == Wake::Cancel {
            if waited.granted {
                // Do not swallow a notification meant for someone.
                self.notify(1);
            }
            drop(guard);
            suspend::raise_cancelled();
        }
        guard
    }

    /// Waits until `predicate` is true, checking it with the lock held.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use yieldfrom::{run, spawn, yield_now, Coro, sync::Condition};
    /// run(Coro::new("main", || {
    ///     let (cond, count) = (Rc::new(Condition::new()), Rc::new(Cell::new(0)));
    ///     let (c, n) = (cond.clone(), count.clone());
    ///     let watcher = spawn(Coro::new("watcher", move || {
    ///         let guard = c.lock();
    ///         let _guard = c.wait_for(guard, || n.get() >= 3);
    ///         n.get()
    ///     }));
    ///     for _ in 0..3 {
    ///         yield_now();
    ///         let _g = cond.lock();
    ///         count.set(count.get() + 1);
    ///         cond.notify_all();
    ///     }
    ///     assert_eq!(watcher.join(), 3);
    /// }));
    /// ```
    #[track_caller]
    pub fn wait_for<'a>(
        &'a self,
        mut guard: LockGuard<'a>,
        mut predicate: impl FnMut() -> bool,
    ) -> LockGuard<'a> {
        while !predicate() {
            guard = self.wait(guard);
        }
        guard
    }

    /// Wakes up to `n` waiting tasks.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use yieldfrom::{run, spawn, yield_now, Coro, sync::Condition};
    /// run(Coro::new("main", || {
    ///     let (cond, woken) = (Rc::new(Condition::new()), Rc::new(Cell::new(0)));
    ///     for _ in 0..3 {
    ///         let (c, w) = (cond.clone(), woken.clone());
    ///         spawn(Coro::new("waiter", move || {
    ///             let g = c.lock();
    ///             let _g = c.wait(g);
    ///             w.set(w.get() + 1);
    ///         }));
    ///     }
    ///     yield_now();
    ///     let g = cond.lock();
    ///     cond.notify(2); // two of the three
    ///     drop(g);
    ///     for _ in 0..4 { yield_now(); }
    ///     assert_eq!(woken.get(), 2);
    ///     cond.notify_all();
    /// }));
    /// ```
    pub fn notify(&self, n: usize) {
        for _ in 0..n {
            if !self.waiters.wake_one() {
                break;
            }
        }
    }

    /// Wakes every waiting task.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use yieldfrom::{run, spawn, yield_now, Coro, sync::Condition};
    /// run(Coro::new("main", || {
    ///     let (cond, woken) = (Rc::new(Condition::new()), Rc::new(Cell::new(0)));
    ///     for _ in 0..3 {
    ///         let (c, w) = (cond.clone(), woken.clone());
    ///         spawn(Coro::new("waiter", move || {
    ///             let g = c.lock();
    ///             let _g = c.wait(g);
    ///             w.set(w.get() + 1);
    ///         }));
    ///     }
    ///     yield_now();
    ///     let g = cond.lock();
    ///     cond.notify_all();
    ///     drop(g);
    ///     for _ in 0..4 { yield_now(); }
    ///     assert_eq!(woken.get(), 3);
    /// }));
    /// ```
    pub fn notify_all(&self) {
        self.waiters.wake_all();
    }
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Condition").finish_non_exhaustive()
    }
}
