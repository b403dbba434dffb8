//! [`Lock`]: asyncio's Lock, handed to waiters in order.

use std::cell::Cell;

use super::wait::WaitQueue;

/// A mutual-exclusion lock for tasks (Python: `asyncio.Lock`).
///
/// `acquire` returns a guard; dropping it releases the lock (Python's
/// `async with lock:`). Waiters get the lock in the order they asked.
///
/// ```
/// use yieldfrom::{EventLoop, Coro, sleep, combinators::gather, sync::Lock};
/// use std::{rc::Rc, time::Duration, cell::RefCell};
/// let lp = EventLoop::builder().virtual_clock(true).build();
/// let log = lp.run(Coro::new("main", || {
///     let (lock, log) = (Rc::new(Lock::new()), Rc::new(RefCell::new(vec![])));
///     gather((0..3).map(|i| {
///         let (lock, log) = (lock.clone(), log.clone());
///         Coro::new("worker", move || {
///             let _held = lock.acquire();
///             log.borrow_mut().push(format!("{i} in"));
///             sleep(Duration::from_secs(1));
///             log.borrow_mut().push(format!("{i} out"));
///         })
///     }));
///     log.take()
/// }));
/// assert_eq!(log, ["0 in", "0 out", "1 in", "1 out", "2 in", "2 out"]);
/// ```
#[derive(Default)]
pub struct Lock {
    /// Whether a task holds the lock.
    locked: Cell<bool>,
    /// Tasks waiting for it, first come first served.
    waiters: WaitQueue,
}

/// Holds a [`Lock`]; dropping it releases the lock.
#[must_use = "the lock is released when the guard is dropped"]
pub struct LockGuard<'a> {
    /// The lock it releases when dropped.
    lock: &'a Lock,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.lock.release();
    }
}

impl Lock {
    /// An unlocked lock.
    ///
    /// ```
    /// use yieldfrom::sync::Lock;
    /// let lock = Lock::new();
    /// assert!(!lock.locked());
    /// ```
    pub fn new() -> Lock {
        Lock::default()
    }

    /// Whether the lock is held.
    ///
    /// ```
    /// use yieldfrom::{run, Coro, sync::Lock};
    /// run(Coro::new("main", || {
    ///     let lock = Lock::new();
    ///     let guard = lock.acquire();
    ///     assert!(lock.locked());
    ///     drop(guard);
    ///     assert!(!lock.locked());
    /// }));
    /// ```
    pub fn locked(&self) -> bool {
        self.locked.get()
    }

    /// Suspends until the lock is free, then takes it.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use yieldfrom::{run, spawn, yield_now, Coro, sync::Lock};
    /// run(Coro::new("main", || {
    ///     let lock = Rc::new(Lock::new());
    ///     let held = lock.acquire();
    ///     let l = lock.clone();
    ///     let waiter = spawn(Coro::new("waiter", move || { let _g = l.acquire(); "got it" }));
    ///     yield_now(); // the waiter waits for the lock
    ///     assert!(!waiter.done());
    ///     drop(held); // handed over
    ///     assert_eq!(waiter.join(), "got it");
    /// }));
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> LockGuard<'_> {
        if !self.locked.get() && !self.waiters.has_waiters() {
            self.locked.set(true);
            return LockGuard { lock: self };
        }
        // The lock is handed to us on release: when this returns, we hold it.
        self.waiters
            .wait_for_handoff("Lock.acquire", || self.release());
        LockGuard { lock: self }
    }

    /// Takes the lock if it is free, without waiting.
    ///
    /// ```
    /// use yieldfrom::sync::Lock;
    /// let lock = Lock::new();
    /// let first = lock.try_acquire();
    /// assert!(first.is_some());
    /// assert!(lock.try_acquire().is_none()); // held: no waiting here
    /// ```
    pub fn try_acquire(&self) -> Option<LockGuard<'_>> {
        if self.locked.get() || self.waiters.has_waiters() {
            return None;
        }
        self.locked.set(true);
        Some(LockGuard { lock: self })
    }

    fn release(&self) {
        // Hand the lock to the oldest waiter, or mark it free.
        if !self.waiters.wake_one() {
            self.locked.set(false);
        }
    }
}

opaque_debug!(LockGuard<'a>);

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked())
            .finish()
    }
}
