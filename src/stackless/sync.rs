//! An event and a lock between stackless tasks (the twin of `sync/`): a
//! FIFO of wakers where the stackful side keeps a FIFO of wake tokens.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::{Poll, Waker};

use super::suspend::suspend;

/// Wakes every waiter when set (Python: `asyncio.Event`).
///
/// ```
/// use std::rc::Rc;
/// use yieldfrom::stackless::{run, spawn, Event};
/// let seen = run(async {
///     let event = Rc::new(Event::new());
///     let e = event.clone();
///     let waiter = spawn(async move { e.wait().await; "set" });
///     event.set();
///     waiter.await
/// });
/// assert_eq!(seen, "set");
/// ```
#[derive(Default)]
pub struct Event {
    /// The flag.
    set: Cell<bool>,
    /// Tasks waiting for it to be set.
    waiters: RefCell<Vec<Waker>>,
}

impl Event {
    /// An event that is not set.
    pub fn new() -> Event {
        Event::default()
    }

    /// Sets the event and wakes every waiter.
    pub fn set(&self) {
        self.set.set(true);
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Whether the event is set.
    pub fn is_set(&self) -> bool {
        self.set.get()
    }

    /// Unsets the event.
    pub fn clear(&self) {
        self.set.set(false);
    }

    /// Waits until the event is set.
    pub async fn wait(&self) {
        poll_fn(|cx| {
            if self.set.get() {
                Poll::Ready(())
            } else {
                suspend(cx, |waker| self.waiters.borrow_mut().push(waker))
            }
        })
        .await
    }
}

/// A mutual-exclusion lock (Python: `asyncio.Lock`); the guard releases it.
///
/// Unlike the stackful `Lock`, a release does not hand the lock to the
/// oldest waiter: it wakes every waiter, and the first polled takes it (the
/// others park again). A waiter that is dropped, which is how a stackless
/// task is cancelled, leaves only a dead waker behind, so waking one waiter
/// could wake nobody.
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// use yieldfrom::stackless::{EventLoop, Lock, sleep, spawn};
/// let lp = EventLoop::with_virtual_clock();
/// let most = lp.run(async {
///     let (lock, inside, most) = (Rc::new(Lock::new()), Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
///     let workers: Vec<_> = (0..3).map(|_| {
///         let (lock, inside, most) = (lock.clone(), inside.clone(), most.clone());
///         spawn(async move {
///             let _guard = lock.acquire().await;
///             inside.set(inside.get() + 1);
///             most.set(most.get().max(inside.get()));
///             sleep(Duration::from_millis(5)).await;
///             inside.set(inside.get() - 1);
///         })
///     }).collect();
///     for w in workers { w.await; }
///     most.get()
/// });
/// assert_eq!(most, 1);
/// ```
#[derive(Default)]
pub struct Lock {
    /// Whether a task holds the lock.
    locked: Cell<bool>,
    /// Tasks waiting for it.
    waiters: RefCell<Vec<Waker>>,
}

/// Holds a [`Lock`]; dropping it releases the lock.
#[must_use = "the lock is released when the guard drops"]
pub struct LockGuard<'a> {
    /// The lock it releases when dropped.
    lock: &'a Lock,
}

impl Lock {
    /// An unlocked lock.
    pub fn new() -> Lock {
        Lock::default()
    }

    /// Whether the lock is held.
    pub fn locked(&self) -> bool {
        self.locked.get()
    }

    /// Waits until the lock is free and takes it.
    pub async fn acquire(&self) -> LockGuard<'_> {
        poll_fn(|cx| {
            if !self.locked.get() {
                self.locked.set(true);
                Poll::Ready(LockGuard { lock: self })
            } else {
                suspend(cx, |waker| self.waiters.borrow_mut().push(waker))
            }
        })
        .await
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.lock.locked.set(false);
        let waiters = std::mem::take(&mut *self.lock.waiters.borrow_mut());
        waiters.into_iter().for_each(Waker::wake);
    }
}

opaque_debug!(Event, Lock, LockGuard<'a>);
