//! Who is told when a future is done ([`Waiter`]): a task, a done
//! callback, or a combinator's completion list ([`Completions`]), which
//! hears the index of each future it watches as it finishes.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::names::CallbackName;
use crate::task::context;
use crate::task::raw::HomeRef;
use crate::task::suspend::{self, Suspend, Wake, WakeToken};

/// Who is told when a future is done.
pub(crate) enum Waiter {
    /// A task suspended on it, with the wait sequence number it suspended at.
    Task(WakeToken),
    /// A done callback, and its name for reports.
    Callback(Box<dyn FnOnce()>, CallbackName),
    /// One of many futures a combinator watches: report the index.
    Index(Rc<Completions>, usize),
}

impl Waiter {
    /// The waiter for the running task.
    pub(crate) fn current() -> Waiter {
        Waiter::Task(WakeToken::current("yield_from()"))
    }

    /// Schedules the waiter: a task on its own loop, a callback on `home`
    /// (the future's loop) or else the running one. Never panics, so one
    /// waiter cannot cost the others their wake-up.
    ///
    /// `failed`: the future ended in a panic or a cancellation (a combinator
    /// that raises the first failure wants to hear of it at once).
    pub(crate) fn wake(self, home: Option<&HomeRef>, failed: bool) {
        match self {
            Waiter::Task(token) => token.wake(),
            Waiter::Callback(f, name) => call_soon_on(home, f, name),
            Waiter::Index(completions, i) => completions.push(i, failed),
        }
    }
}

/// Schedules a done callback on `home` if it is alive, else on the running
/// loop; with neither, runs it now (a future that never met a loop),
/// reporting a panic rather than raising it, as a loop would, so that the
/// future's other waiters still get their wake-up.
fn call_soon_on(home: Option<&HomeRef>, f: Box<dyn FnOnce()>, name: CallbackName) {
    let live = home.and_then(HomeRef::upgrade);
    if let Some(home) = live.or_else(|| context::running_home()?.upgrade()) {
        home.call_soon(f, name);
    } else if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        name.report_panic(payload.as_ref(), "");
    }
}

/// Indices of finished futures, in the order they finished, and the task
/// waiting for the next (what `wait`, `as_completed` and task groups watch
/// through [`Waiter::Index`]).
pub(crate) struct Completions {
    /// Indices of the watched things that finished, in the order they did.
    done: RefCell<std::collections::VecDeque<usize>>,
    /// The task waiting for them, and its wait.
    waiter: RefCell<Option<WakeToken>>,
    /// How many completions the waiter wants before it is woken.
    wanted: Cell<usize>,
    /// Whether a failure wakes the waiter whatever `wanted` says.
    wake_on_failure: Cell<bool>,
}

impl Completions {
    /// An empty list, nobody waiting.
    pub(crate) fn new() -> Rc<Completions> {
        Rc::new(Completions {
            done: RefCell::default(),
            waiter: RefCell::default(),
            wanted: Cell::new(1),
            wake_on_failure: Cell::new(false),
        })
    }

    /// Records that the future with index `i` finished (`failed`: in a panic
    /// or cancellation), waking the waiter if that is what it waits for.
    pub(crate) fn push(&self, i: usize, failed: bool) {
        let queued = {
            let mut done = self.done.borrow_mut();
            done.push_back(i);
            done.len()
        };
        if queued >= self.wanted.get() || (failed && self.wake_on_failure.get()) {
            self.wake_waiter();
        }
    }

    /// Wakes the waiting task, if any, without a completion (a timeout).
    pub(crate) fn wake_waiter(&self) {
        if let Some(token) = self.waiter.borrow_mut().take() {
            token.wake();
        }
    }

    /// The next finished index, if any.
    pub(crate) fn pop(&self) -> Option<usize> {
        self.done.borrow_mut().pop_front()
    }

    /// Suspends the running task until a completion arrives (or it is woken
    /// otherwise); returns at once if one is there.
    pub(crate) fn park(&self, what: &'static str) -> Wake {
        self.park_for(1, false, what)
    }

    /// Suspends the running task until `n` completions are queued, or one
    /// failure if `or_failure` (or it is woken otherwise: a timeout, a
    /// cancellation); returns at once if they are there. One wake-up for
    /// `n` children, as asyncio's `gather` wakes its caller once.
    pub(crate) fn park_for(&self, n: usize, or_failure: bool, what: &'static str) -> Wake {
        if self.done.borrow().len() >= n.max(1) {
            return Wake::Run;
        }
        self.wanted.set(n.max(1));
        self.wake_on_failure.set(or_failure);
        *self.waiter.borrow_mut() = Some(WakeToken::current(what));
        let wake = suspend::suspend(Suspend::Sync(what));
        self.waiter.borrow_mut().take();
        self.wanted.set(1);
        self.wake_on_failure.set(false);
        wake
    }
}

opaque_debug!(Completions);
