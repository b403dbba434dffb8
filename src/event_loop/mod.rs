//! The event loop: the one place that resumes tasks.
//!
//! Principles (curio's kernel, asyncio's `BaseEventLoop`): tasks reach the
//! loop only through [`suspend`](crate::suspend); the loop keeps a FIFO ready
//! queue, a timer heap and a `mio::Poll`, and nothing else decides what runs.
//!
//! One iteration ([`EventLoop::run_once`]) is shaped like asyncio's
//! `_run_once`: poll I/O, expire timers, run what is ready (see the
//! scheduler's diagram in `event_loop/scheduler.rs`).
//!
//! The files, bottom up: `ready` (what the ready queue holds), `clock`,
//! `workers` (the thread pool's loop side), `state` (the loop's state and the
//! thread-local that reaches it), `scheduler` (one iteration), `builder`,
//! and this one, the public [`EventLoop`].
//!
//!
//! A loop belongs to the thread that made it; tasks never migrate, which is
//! what makes the thread-locals here (the running loop, the running task)
//! sound — a coroutine that moved between threads would carry stale
//! thread-locals with it.

use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

mod builder;
pub(crate) mod clock;
pub(crate) mod reactor;
pub(crate) mod ready;
pub(crate) mod run;
mod scheduler;
mod state;
pub(crate) mod timer;
pub(crate) mod workers;

pub use self::builder::Builder;
pub use self::ready::Handle;
pub(crate) use self::ready::{Callback, Ready};

pub(crate) use self::state::{Core, now, with_loop};
use crate::coro::Coro;
use crate::event_loop::timer::Due;
use crate::task::Task;

impl Builder {
    /// Builds the loop.
    pub fn build(self) -> EventLoop {
        self.try_build()
            .unwrap_or_else(|e| panic!("yieldfrom: cannot create an event loop: {e}"))
    }

    /// Builds the loop, or says why the poller could not be created (or
    /// why a setting is out of range).
    pub fn try_build(self) -> io::Result<EventLoop> {
        self.into_core().map(EventLoop)
    }
}

/// An event loop (Python's `asyncio.AbstractEventLoop`); a cheap handle.
#[derive(Clone)]
pub struct EventLoop(pub(crate) Rc<Core>);

impl Default for EventLoop {
    fn default() -> Self {
        EventLoop::new()
    }
}

impl EventLoop {
    /// A loop with the default settings (real clock).
    ///
    /// ```
    /// use yieldfrom::{EventLoop, Coro};
    /// let lp = EventLoop::new();
    /// assert!(!lp.is_virtual());
    /// assert_eq!(lp.run_until_complete(Coro::new("main", || 6 * 7)), 42);
    /// ```
    pub fn new() -> EventLoop {
        Builder::default().build()
    }

    /// A [`Builder`] to choose the settings.
    ///
    /// ```
    /// use yieldfrom::EventLoop;
    /// let lp = EventLoop::builder().virtual_clock(true).seed(7).build();
    /// assert!(lp.is_virtual());
    /// ```
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The loop running on this thread (Python: `asyncio.get_running_loop()`).
    ///
    /// Panics outside a running loop.
    ///
    /// ```
    /// use yieldfrom::{EventLoop, Coro};
    /// let lp = EventLoop::builder().virtual_clock(true).build();
    /// let virtual_inside = lp.run_until_complete(Coro::new("main", || EventLoop::current().is_virtual()));
    /// assert!(virtual_inside);
    /// ```
    pub fn current() -> EventLoop {
        with_loop("EventLoop::current()", |core| EventLoop(core.clone()))
    }

    /// The loop's clock (virtual or real). Deadlines for
    /// [`call_at`](Self::call_at) and `timeout_at` come from this clock, not
    /// from `Instant::now()`: a virtual clock differs from it, and a real one
    /// falls behind it by the time the stepper waited for keys.
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::{EventLoop, Coro, sleep};
    /// let lp = EventLoop::builder().virtual_clock(true).build();
    /// let start = lp.now();
    /// lp.run_until_complete(Coro::new("nap", || sleep(Duration::from_secs(3))));
    /// assert_eq!(lp.now() - start, Duration::from_secs(3));
    /// ```
    pub fn now(&self) -> Instant {
        self.0.clock.now()
    }

    /// Seconds since the loop was made, by its clock (Python: `loop.time()`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::{EventLoop, Coro, sleep};
    /// let lp = EventLoop::builder().virtual_clock(true).build();
    /// lp.run_until_complete(Coro::new("nap", || sleep(Duration::from_millis(1500))));
    /// assert_eq!(lp.time(), 1.5);
    /// ```
    pub fn time(&self) -> f64 {
        self.0.clock.since_start().as_secs_f64()
    }

    /// Whether the clock is virtual.
    ///
    /// ```
    /// use yieldfrom::EventLoop;
    /// assert!(EventLoop::builder().virtual_clock(true).build().is_virtual());
    /// assert!(!EventLoop::builder().virtual_clock(false).build().is_virtual());
    /// ```
    pub fn is_virtual(&self) -> bool {
        self.0.clock.is_virtual()
    }

    /// Wraps `coro` in a task and schedules its first step (Python: `loop.create_task`).
    ///
    /// ```
    /// use yieldfrom::{EventLoop, Coro, yield_from};
    /// let lp = EventLoop::new();
    /// let task = lp.spawn(Coro::new("worker", || "done"));
    /// // Nothing runs until the loop does.
    /// assert!(!task.done());
    /// assert_eq!(lp.run_until_complete(Coro::new("main", move || yield_from(task))), "done");
    /// ```
    pub fn spawn<T: 'static>(&self, coro: Coro<T>) -> Task<T> {
        self.0.spawn(coro)
    }

    /// Schedules `f` to run on the next iteration, after what is already ready
    /// (Python: `loop.call_soon`).
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use yieldfrom::EventLoop;
    /// let lp = EventLoop::new();
    /// let order = Rc::new(RefCell::new(Vec::new()));
    /// for name in ["first", "second"] {
    ///     let o = order.clone();
    ///     lp.call_soon(move || o.borrow_mut().push(name));
    /// }
    /// lp.run_until_idle();
    /// assert_eq!(*order.borrow(), ["first", "second"]);
    /// ```
    #[track_caller]
    pub fn call_soon(&self, f: impl FnOnce() + 'static) -> Handle {
        let cb = Callback::new(f, std::panic::Location::caller());
        self.0.ready.borrow_mut().push_back(Ready::call(cb.clone()));
        Handle(cb)
    }

    /// Schedules `f` to run `delay` from now (Python: `loop.call_later`); a
    /// delay too large for the clock (`Duration::MAX`) means never.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    /// use yieldfrom::EventLoop;
    /// let lp = EventLoop::builder().virtual_clock(true).build();
    /// let at = Rc::new(Cell::new(0.0));
    /// let (a, l) = (at.clone(), lp.clone());
    /// lp.call_later(Duration::from_secs(2), move || a.set(l.time()));
    /// let never = lp.call_later(Duration::from_secs(1), || unreachable!());
    /// never.cancel();
    /// lp.run_until_idle();
    /// assert_eq!(at.get(), 2.0);
    /// ```
    #[track_caller]
    pub fn call_later(&self, delay: Duration, f: impl FnOnce() + 'static) -> Handle {
        self.call_at(crate::event_loop::timer::deadline(self.now(), delay), f)
    }

    /// Schedules `f` to run at `when` by the loop's clock (Python: `loop.call_at`).
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    /// use yieldfrom::EventLoop;
    /// let lp = EventLoop::builder().virtual_clock(true).build();
    /// let rang = Rc::new(Cell::new(false));
    /// let r = rang.clone();
    /// lp.call_at(lp.now() + Duration::from_secs(10), move || r.set(true));
    /// lp.run_until_idle();
    /// assert!(rang.get());
    /// assert_eq!(lp.time(), 10.0);
    /// ```
    #[track_caller]
    pub fn call_at(&self, when: Instant, f: impl FnOnce() + 'static) -> Handle {
        let cb = Callback::new(f, std::panic::Location::caller());
        self.0.push_timer(when, Due::Call(cb.clone()));
        Handle(cb)
    }

    /// [`call_soon`](Self::call_soon) with the name reports and traces give
    /// the callback (by default, the function it was written in), and where
    /// it was scheduled.
    ///
    /// ```
    /// use yieldfrom::{EventLoop, warnings};
    /// let lp = EventLoop::new();
    /// lp.call_soon_named("flush the log", || panic!("disk full"));
    /// let ((), said) = warnings::catch(|| lp.run_until_idle());
    /// assert!(said[0].starts_with("yieldfrom: exception in callback flush the log (scheduled at "));
    /// ```
    #[track_caller]
    pub fn call_soon_named(
        &self,
        name: impl Into<crate::TaskName>,
        f: impl FnOnce() + 'static,
    ) -> Handle {
        let cb = Callback::boxed(Box::new(f), Self::named(name));
        self.0.ready.borrow_mut().push_back(Ready::call(cb.clone()));
        Handle(cb)
    }

    /// [`call_later`](Self::call_later) with a name (see
    /// [`call_soon_named`](Self::call_soon_named)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::{EventLoop, warnings};
    /// let lp = EventLoop::builder().virtual_clock(true).build();
    /// lp.call_later_named(Duration::from_secs(1), "rotate the logs", || panic!("no space"));
    /// let ((), said) = warnings::catch(|| lp.run_until_idle());
    /// assert!(said[0].contains("callback rotate the logs"));
    /// ```
    #[track_caller]
    pub fn call_later_named(
        &self,
        delay: Duration,
        name: impl Into<crate::TaskName>,
        f: impl FnOnce() + 'static,
    ) -> Handle {
        self.call_at_named(
            crate::event_loop::timer::deadline(self.now(), delay),
            name,
            f,
        )
    }

    /// [`call_at`](Self::call_at) with a name (see
    /// [`call_soon_named`](Self::call_soon_named)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::{EventLoop, warnings};
    /// let lp = EventLoop::builder().virtual_clock(true).build();
    /// lp.call_at_named(lp.now() + Duration::from_secs(1), "send the report", || panic!("offline"));
    /// let ((), said) = warnings::catch(|| lp.run_until_idle());
    /// assert!(said[0].contains("callback send the report"));
    /// ```
    #[track_caller]
    pub fn call_at_named(
        &self,
        when: Instant,
        name: impl Into<crate::TaskName>,
        f: impl FnOnce() + 'static,
    ) -> Handle {
        let cb = Callback::boxed(Box::new(f), Self::named(name));
        self.0.push_timer(when, Due::Call(cb.clone()));
        Handle(cb)
    }

    /// A given name, and where the caller's caller scheduled it.
    #[track_caller]
    fn named(name: impl Into<crate::TaskName>) -> crate::names::CallbackName {
        crate::names::CallbackName {
            what: name.into().as_str(),
            at: Some(std::panic::Location::caller()),
        }
    }

    /// Sends this loop's reports to `handler` (Python:
    /// `loop.set_exception_handler`): exceptions in callbacks, task
    /// exceptions never retrieved, tasks and callbacks that blocked the
    /// loop, handlers that panicked, coroutines never awaited, and the
    /// others (see [`ReportKind`](crate::warnings::ReportKind)). `None`
    /// restores the default, which prints them.
    /// [`default_exception_handler`](crate::warnings::default_exception_handler)
    /// can be called from a handler to print as well.
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use yieldfrom::{EventLoop, Coro};
    /// use yieldfrom::warnings::ReportKind;
    /// let lp = EventLoop::new();
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let s = seen.clone();
    /// lp.set_exception_handler(Some(Rc::new(move |r: &yieldfrom::warnings::Report| {
    ///     s.borrow_mut().push((r.kind, r.exception.clone()));
    /// })));
    /// lp.call_soon(|| panic!("oops"));
    /// lp.run_until_idle();
    /// assert_eq!(*seen.borrow(), [(ReportKind::CallbackPanicked, Some("oops".to_string()))]);
    /// ```
    pub fn set_exception_handler(&self, handler: Option<crate::warnings::ExceptionHandler>) {
        *self.0.exception_handler.borrow_mut() = handler.clone();
        if self.0.running.get() {
            crate::warnings::install_handler(handler);
        }
    }

    /// This loop's exception handler, if one is set (Python:
    /// `loop.get_exception_handler`).
    ///
    /// ```
    /// use std::rc::Rc;
    /// use yieldfrom::EventLoop;
    /// let lp = EventLoop::new();
    /// assert!(lp.exception_handler().is_none());
    /// lp.set_exception_handler(Some(Rc::new(|_report: &yieldfrom::warnings::Report| {})));
    /// assert!(lp.exception_handler().is_some());
    /// ```
    pub fn exception_handler(&self) -> Option<crate::warnings::ExceptionHandler> {
        self.0.exception_handler.borrow().clone()
    }

    /// Reports `report` to this loop's exception handler, or to the default
    /// one (Python: `loop.call_exception_handler`).
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use yieldfrom::EventLoop;
    /// use yieldfrom::warnings::{Report, ReportKind};
    /// let lp = EventLoop::new();
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let s = seen.clone();
    /// lp.set_exception_handler(Some(Rc::new(move |r: &Report| s.borrow_mut().push(r.message.clone()))));
    /// lp.call_exception_handler(Report::new(ReportKind::Other, "the cache is cold"));
    /// assert_eq!(*seen.borrow(), ["the cache is cold"]);
    /// ```
    pub fn call_exception_handler(&self, report: crate::warnings::Report) {
        match self.exception_handler() {
            Some(handler) => {
                let previous = crate::warnings::install_handler(Some(handler));
                crate::warnings::report(report);
                crate::warnings::install_handler(previous);
            }
            None => crate::warnings::default_exception_handler(&report),
        }
    }
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<EventLoop ready={} timers={} tasks={} virtual={}>",
            self.0.ready.borrow().len(),
            self.0.timers.borrow().len(),
            self.0.tasks.borrow().live,
            self.0.clock.is_virtual()
        )
    }
}

/// Wraps `coro` in a task on the running loop (Python: `asyncio.create_task`).
///
/// The task does not start now: it runs when the loop gets to it, after what
/// is already ready. Panics outside a running loop.
///
/// ```
/// use yieldfrom::{run, spawn, yield_now, Coro};
/// let order = run(Coro::new("main", || {
///     let log = std::rc::Rc::new(std::cell::RefCell::new(vec![]));
///     let l = log.clone();
///     let child = spawn(Coro::new("child", move || l.borrow_mut().push("child")));
///     log.borrow_mut().push("main"); // the child has not started yet
///     yield_now(); // now it runs
///     assert!(child.done());
///     log.take()
/// }));
/// assert_eq!(order, ["main", "child"]);
/// ```
pub fn spawn<T: 'static>(coro: Coro<T>) -> Task<T> {
    with_loop("spawn()", |core| core.spawn(coro))
}
