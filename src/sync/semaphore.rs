//! [`Semaphore`] and [`BoundedSemaphore`]: asyncio's, permits handed to
//! waiters in order.

use std::cell::Cell;

use super::wait::WaitQueue;

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

opaque_debug!(SemaphorePermit<'a>, BoundedSemaphore);

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.available())
            .finish()
    }
}
