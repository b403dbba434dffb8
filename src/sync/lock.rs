use std::cell::Cell;

use super::wait::WaitQueue;
use crate::task::suspend::{self, Wake};

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

/// A counter of permits (Python: `asyncio.Semaphore`).
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// use yieldfrom::{EventLoop, Coro, sleep, combinators::gather, sync::Semaphore};
/// let lp = EventLoop::builder().virtual_clock(true).build();
/// let (sem, busy, peak) = (Rc::new(Semaphore::new(2)), Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
/// lp.run(Coro::new("main", move || {
///     gather((0..5).map(|_| {
///         let (sem, busy, peak) = (sem.clone(), busy.clone(), peak.clone());
///         Coro::new("worker", move || {
///             let _permit = sem.acquire();
///             busy.set(busy.get() + 1);
///             peak.set(peak.get().max(busy.get()));
///             sleep(Duration::from_secs(1));
///             busy.set(busy.get() - 1);
///         })
///     }));
///     assert_eq!(peak.get(), 2); // never more than two at once
/// }));
/// ```
pub struct Semaphore {
    /// Permits free now.
    value: Cell<usize>,
    /// The most permits there may be (a `BoundedSemaphore`), if any.
    bound: Option<usize>,
    /// Tasks waiting for a permit, first come first served.
    waiters: WaitQueue,
}

/// A permit of a [`Semaphore`]; dropping it gives it back.
#[must_use = "the permit is given back when dropped"]
pub struct SemaphorePermit<'a> {
    /// The semaphore it gives the permit back to.
    sem: &'a Semaphore,
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.release();
    }
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    ///
    /// ```
    /// use yieldfrom::sync::Semaphore;
    /// let sem = Semaphore::new(3);
    /// assert_eq!(sem.available(), 3);
    /// ```
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            value: Cell::new(permits),
            bound: None,
            waiters: WaitQueue::default(),
        }
    }

    /// Permits available now.
    ///
    /// ```
    /// use yieldfrom::{run, Coro, sync::Semaphore};
    /// run(Coro::new("main", || {
    ///     let sem = Semaphore::new(2);
    ///     let _one = sem.acquire();
    ///     assert_eq!(sem.available(), 1);
    /// }));
    /// ```
    pub fn available(&self) -> usize {
        self.value.get()
    }

    /// Whether `acquire` would wait (Python: `locked()`).
    ///
    /// ```
    /// use yieldfrom::{run, Coro, sync::Semaphore};
    /// run(Coro::new("main", || {
    ///     let sem = Semaphore::new(1);
    ///     assert!(!sem.locked());
    ///     let _permit = sem.acquire();
    ///     assert!(sem.locked()); // the next acquire would wait
    /// }));
    /// ```
    pub fn locked(&self) -> bool {
        self.value.get() == 0 || self.waiters.has_waiters()
    }

    /// Suspends until a permit is free and takes it.
    ///
    /// ```
    /// use yieldfrom::{run, Coro, sync::Semaphore};
    /// run(Coro::new("main", || {
    ///     let sem = Semaphore::new(1);
    ///     {
    ///         let _permit = sem.acquire();
    ///         assert_eq!(sem.available(), 0);
    ///     } // given back here
    ///     assert_eq!(sem.available(), 1);
    /// }));
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        if !self.locked() {
            self.value.set(self.value.get() - 1);
            return SemaphorePermit { sem: self };
        }
        self.waiters
            .wait_for_handoff("Semaphore.acquire", || self.release());
        SemaphorePermit { sem: self }
    }

    /// Gives a permit back without a [`SemaphorePermit`] (Python: `release()`).
    ///
    /// Panics for a [`BoundedSemaphore`] released more often than acquired.
    ///
    /// ```
    /// use yieldfrom::sync::Semaphore;
    /// let sem = Semaphore::new(0);
    /// sem.release();
    /// assert_eq!(sem.available(), 1);
    /// ```
    pub fn release(&self) {
        if self.waiters.wake_one() {
            return; // handed straight to a waiter
        }
        if let Some(bound) = self.bound
            && self.value.get() >= bound
        {
            panic!("BoundedSemaphore released too many times");
        }
        self.value.set(self.value.get() + 1);
    }

    /// Keeps a permit after the guard is dropped (pair with [`release`](Self::release)).
    ///
    /// ```
    /// use yieldfrom::{run, Coro, sync::Semaphore};
    /// run(Coro::new("main", || {
    ///     let sem = Semaphore::new(1);
    ///     Semaphore::forget(sem.acquire()); // kept past the guard
    ///     assert_eq!(sem.available(), 0);
    ///     sem.release();
    ///     assert_eq!(sem.available(), 1);
    /// }));
    /// ```
    pub fn forget(permit: SemaphorePermit<'_>) {
        std::mem::forget(permit);
    }
}

/// A semaphore that refuses to be released above its initial value
/// (Python: `asyncio.BoundedSemaphore`).
pub struct BoundedSemaphore;

impl BoundedSemaphore {
    /// A [`Semaphore`] with `permits` permits that panics when released too often.
    ///
    /// ```
    /// use yieldfrom::sync::BoundedSemaphore;
    /// let sem = BoundedSemaphore::new(1);
    /// let too_many = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sem.release()));
    /// assert!(too_many.is_err()); // released above its initial value
    /// ```
    #[allow(clippy::new_ret_no_self)]
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            bound: Some(permits),
            ..Semaphore::new(permits)
        }
    }
}

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

opaque_debug!(LockGuard<'a>, SemaphorePermit<'a>, BoundedSemaphore);

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked())
            .finish()
    }
}

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.available())
            .finish()
    }
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Condition").finish_non_exhaustive()
    }
}
