use std::cell::Cell;

use super::wait::WaitQueue;
use crate::task::suspend::{self, Wake};

/// A flag tasks can wait for (Python: `asyncio.Event`).
///
/// ```
/// use yieldfrom::{run, spawn, yield_from, Coro, sync::Event};
/// use std::rc::Rc;
/// let got = run(Coro::new("main", || {
///     let ev = Rc::new(Event::new());
///     let e = ev.clone();
///     let waiter = spawn(Coro::new("waiter", move || { e.wait(); "woken" }));
///     ev.set();
///     yield_from(waiter)
/// }));
/// assert_eq!(got, "woken");
/// ```
#[derive(Default)]
pub struct Event {
    /// The flag.
    set: Cell<bool>,
    /// Tasks waiting for the flag to be set.
    waiters: WaitQueue,
}

impl Event {
    /// An event that is not set.
    ///
    /// ```
    /// use yieldfrom::sync::Event;
    /// assert!(!Event::new().is_set());
    /// ```
    pub fn new() -> Event {
        Event::default()
    }

    /// Sets the flag and wakes every waiting task.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use yieldfrom::{run, spawn, yield_now, Coro, sync::Event};
    /// run(Coro::new("main", || {
    ///     let go = Rc::new(Event::new());
    ///     let runners: Vec<_> = (0..3)
    ///         .map(|_| { let g = go.clone(); spawn(Coro::new("runner", move || g.wait())) })
    ///         .collect();
    ///     yield_now(); // all three wait
    ///     go.set(); // and all three go
    ///     for r in runners { r.join(); }
    /// }));
    /// ```
    pub fn set(&self) {
        self.set.set(true);
        self.waiters.wake_all();
    }

    /// Clears the flag.
    ///
    /// ```
    /// use yieldfrom::sync::Event;
    /// let e = Event::new();
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// ```
    pub fn clear(&self) {
        self.set.set(false);
    }

    /// Whether the flag is set.
    ///
    /// ```
    /// use yieldfrom::sync::Event;
    /// let e = Event::new();
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.set.get()
    }

    /// Suspends until the flag is set (returns at once if it is).
    ///
    /// Every task waiting when [`set`](Self::set) is called is woken and
    /// returns, even if the flag is cleared again before it runs (a
    /// pulse: `set(); clear();` wakes them all), as asyncio's and
    /// `threading.Event`'s waiters do.
    ///
    /// ```
    /// use yieldfrom::{run, Coro, sync::Event};
    /// run(Coro::new("main", || {
    ///     let e = Event::new();
    ///     e.set();
    ///     e.wait(); // set already: returns at once
    /// }));
    /// ```
    #[track_caller]
    pub fn wait(&self) {
        self.wait_as("Event.wait");
    }

    /// [`wait`](Self::wait), shown in timelines as `what` (the crate's own
    /// waits say what they wait for: "PostgreSQL transaction").
    #[track_caller]
    pub(crate) fn wait_as(&self, what: &'static str) {
        if self.set.get() {
            return;
        }
        loop {
            let waited = self.waiters.wait(what);
            if waited.wake == Wake::Cancel {
                suspend::raise_cancelled();
            }
            // Granted: `set` woke it. Not granted: woken by something
            // else (a spurious wake): it waits on unless the flag is up.
            if waited.granted || self.set.get() {
                return;
            }
        }
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}
