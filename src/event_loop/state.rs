//! The loop's state ([`Core`]) and the thread-local that reaches it.
//!
//! `Core` holds what one loop owns: the ready queue, the timers, the clock,
//! the poller and the reactor's slots, the worker pool, the live tasks, the
//! instruments. Tasks and futures see it only as their [`Home`] (where to
//! schedule); the I/O layers above reach the running one with [`with_loop`].

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll};

use super::clock::Clock;
use super::ready::{Callback, Ready};
use super::workers::Threads;
use crate::coro::Coro;
use crate::event_loop::reactor::Reactor;
use crate::event_loop::timer::{Due, Timers};
use crate::task::context::{self, LoopEntered};
use crate::task::suspend::{Suspend, Wake};
use crate::task::{Home, HomeRef, Task, TaskCore, TaskId, TaskRef, TaskState};
use crate::trace::{Instrument, Output, Recorder, Snapshot, WakeCause, WokenBy};
use crate::watchdog::Watch;

/// Settings of a loop; see [`Builder`](super::Builder).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Deterministic mode: pick among ready entries in a seeded random order.
    pub(super) seed: Option<u64>,
    /// Sleeps jump the clock instead of taking real time (see `Builder::virtual_clock`).
    pub(super) virtual_clock: bool,
    /// Task steps between two polls of I/O while tasks stay ready.
    pub(super) event_interval: usize,
    /// A step longer than this is reported as blocking the loop.
    pub(super) slow_task: Duration,
    /// The tasks' stack size in bytes (0: the pool's default).
    pub(super) stack_size: usize,
    /// Whether tasks get stacks of their own, share a few, or choose.
    pub(super) stack_mode: crate::stack::StackMode,
    /// Worker threads for `to_thread` at most (`None`: Python's default).
    pub(super) max_workers: Option<usize>,
}

/// The loop's state, shared by its handles and reached by tasks through a thread-local.
pub(crate) struct Core {
    /// This loop, as its tasks and futures know it.
    pub(super) home: HomeRef,
    /// Task steps and callbacks to run, in order (one word each).
    pub(super) ready: RefCell<VecDeque<Ready>>,
    /// Deadlines of waits and timed callbacks, earliest first.
    pub(super) timers: RefCell<Timers>,
    /// The loop's time: real, held while a stepper waits, or virtual.
    pub(super) clock: Clock,
    /// Every live task, so that closing the loop can reach them.
    pub(super) tasks: RefCell<TaskTable>,
    /// The poller (epoll) that sockets and the workers' waker register with.
    pub(super) poll: RefCell<Poll>,
    /// The buffer one poll fills (kept, so a poll allocates nothing).
    pub(super) events: RefCell<Events>,
    /// The worker threads of `to_thread`, and what they have finished.
    pub(super) threads: Threads,
    /// Sources registered for I/O (the poll cannot produce events without them).
    pub(super) io_sources: Cell<usize>,
    /// The registered sources and the tasks waiting on each side of them.
    pub(super) reactor: Reactor,
    /// The settings it was built with.
    pub(super) config: Config,
    /// Task steps since the last poll (I/O is polled again at `event_interval`).
    pub(super) steps_since_poll: Cell<usize>,
    /// Instruments (trace recorder, stepper, user tools); `instrumented` is
    /// the one flag the hot path checks.
    pub(super) instruments: RefCell<Vec<Box<dyn Instrument>>>,
    /// Whether any instrument is installed: the one test the hot path pays.
    pub(super) instrumented: Cell<bool>,
    /// Where `YIELDFROM_TRACE` wants the recorded trace to go at close.
    pub(super) trace_output: Option<(Output, Recorder)>,
    /// The seeded generator of deterministic mode (xorshift64 state).
    pub(super) rng: Cell<u64>,
    /// The next task id.
    pub(super) next_id: Cell<u64>,
    /// Steps run so far, and what the watchdog sees of them (the blocking warning).
    pub(super) steps: Cell<u64>,
    /// The step the watchdog thread watches (for the blocking warning).
    pub(super) watch: Arc<Watch>,
    /// The callback running now, by name (who woke a task, for instruments).
    pub(super) calling: Cell<Option<&'static str>>,
    /// `stop()` was called: `run_forever` returns after this iteration.
    pub(super) stopping: Cell<bool>,
    /// Whether the loop is running (it cannot be closed then).
    pub(super) running: Cell<bool>,
    /// Whether `close()` has run (a closed loop does nothing more).
    pub(super) closed: Cell<bool>,
    /// Where this loop's reports go (`set_exception_handler`); installed
    /// as the thread's while the loop runs.
    pub(super) exception_handler: RefCell<Option<crate::warnings::ExceptionHandler>>,
}

/// Live tasks, so that closing the loop can unwind them.
#[derive(Default)]
pub(super) struct TaskTable {
    /// Tasks by slot (a task knows its slot, so removal is O(1)).
    pub(super) slots: Vec<Option<TaskRef>>,
    /// Empty slots, reused before the table grows.
    pub(super) free: Vec<usize>,
    /// How many slots hold a task.
    pub(super) live: usize,
}

impl TaskTable {
    pub(super) fn insert(&mut self, task: TaskRef) {
        let at = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        task.slot
            .set(u32::try_from(at).expect("fewer than 2^32 live tasks"));
        self.slots[at] = Some(task);
        self.live += 1;
    }

    pub(super) fn remove(&mut self, task: &TaskCore) -> Option<TaskRef> {
        let at = task.slot.get() as usize;
        let taken = self.slots.get_mut(at)?.take();
        if taken.is_some() {
            self.free.push(at);
            self.live -= 1;
        }
        taken
    }

    pub(super) fn all(&self) -> Vec<TaskRef> {
        self.slots.iter().flatten().cloned().collect()
    }
}

/// Calls `f` with the loop running on this thread; panics with `what` if none.
pub(crate) fn with_loop<R>(what: &str, f: impl FnOnce(&Rc<Core>) -> R) -> R {
    context::with_running(
        |running| match running.and_then(|r| r.downcast_ref::<Rc<Core>>()) {
            Some(core) => f(core),
            None => panic!("{what} needs a running event loop: call it inside run() or a task"),
        },
    )
}

/// The running loop's clock, now.
pub(crate) fn now() -> Instant {
    with_loop("the loop's clock", |core| core.clock.now())
}

impl Core {
    /// Calls every instrument (only when some are installed).
    #[inline]
    pub(super) fn instrument(&self, f: impl Fn(&mut dyn Instrument, Duration)) {
        if self.instrumented.get() {
            let at = self.clock.since_start();
            for i in self.instruments.borrow_mut().iter_mut() {
                f(i.as_mut(), at);
            }
        }
    }

    // What I/O sees of the loop, and all it sees: a source goes in (a token
    // and a slot), its sides are waited on, it comes out; work goes to the
    // worker threads. The reactor, the poller and the workers stay private
    // to the loop.

    /// Registers `source` for reading and writing: its token.
    pub(crate) fn open_source(
        &self,
        source: &mut impl mio::event::Source,
    ) -> io::Result<mio::Token> {
        let token = self.reactor.open();
        let registered = self.with_registry(|registry| {
            registry.register(
                source,
                token,
                mio::Interest::READABLE | mio::Interest::WRITABLE,
            )
        });
        if let Err(e) = registered {
            self.reactor.close(token);
            return Err(e);
        }
        self.io_sources.set(self.io_sources.get() + 1);
        Ok(token)
    }

    /// Takes `source` off the poller (before it is closed; its slot is freed
    /// by [`close_source`](Self::close_source)).
    pub(crate) fn deregister_source(&self, source: &mut impl mio::event::Source) {
        self.with_registry(|registry| {
            let _ = registry.deregister(source);
        })
    }

    /// Frees the slot of `token` (its waiters are dropped), once.
    pub(crate) fn close_source(&self, token: mio::Token) {
        if self.reactor.close(token) {
            self.io_sources.set(self.io_sources.get() - 1);
        }
    }

    /// Calls `f` with one side of `token`'s slot, if the slot is still that
    /// source's.
    #[inline]
    pub(crate) fn with_source_side<R>(
        &self,
        token: mio::Token,
        dir: crate::event_loop::reactor::Direction,
        f: impl FnOnce(&mut crate::event_loop::reactor::Side) -> R,
    ) -> Option<R> {
        self.reactor.with_side(token, dir, f)
    }

    /// Runs `f` on a worker thread; `done` gets its result on this loop.
    pub(crate) fn to_workers(
        &self,
        f: Box<dyn FnOnce() -> Box<dyn std::any::Any + Send> + Send>,
        done: super::workers::Setter,
    ) {
        self.threads.submit(f, done);
    }

    /// Names what the source of `token` is, if the loop is instrumented
    /// (`what` is not called otherwise).
    pub(crate) fn describe_source(&self, token: mio::Token, what: impl FnOnce() -> String) {
        if self.instrumented.get() {
            self.reactor.label(token, what());
        }
    }

    /// Whether the loop records where its tasks wait (for the explorer).
    fn records_call_sites(&self) -> bool {
        matches!(self.trace_output, Some((Output::Explore, _)))
    }

    /// What the stepper shows: the ready queue, the timers, the waiting tasks.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let ready = self.ready.borrow().iter().map(Ready::describe).collect();
        let start = self.clock.start();
        let timers = self.timers.borrow().describe(start, self.clock.now());
        let (mut waiting, mut call_sites) = (Vec::new(), Vec::new());
        for t in self.tasks.borrow().all() {
            if t.state.get() != TaskState::Waiting {
                continue;
            }
            let on = t.state.waiting_on();
            let what = match on {
                Some(Suspend::Io { token, .. }) => self.reactor.label_of(token),
                _ => None,
            };
            let on = on.map_or("?".to_string(), |r| r.to_string());
            waiting.push(match what {
                Some(what) => format!("task '{}' (#{}) on {on}: {what}", t.name, t.id.0),
                None => format!("task '{}' (#{}) on {on}", t.name, t.id.0),
            });
            let sites = t
                .marked(crate::task::raw::CALL_SITES)
                .then(|| crate::call_sites::of(t.id))
                .flatten();
            call_sites.push(sites.map_or(Vec::new(), |s| s.to_vec()));
        }
        Snapshot {
            ready,
            timers,
            waiting,
            call_sites,
        }
    }

    pub(super) fn schedule(&self, task: TaskRef, how: Wake) {
        if self.instrumented.get() {
            self.note_wake(&task, how, task.state.waiting_on());
        }
        self.enqueue(task, how);
    }

    /// Files `task` on the ready queue (no instrument told).
    #[inline]
    pub(super) fn enqueue(&self, task: TaskRef, how: Wake) {
        task.state.make_ready(how);
        self.ready.borrow_mut().push_back(Ready::step(task));
    }

    /// Tells the instruments why `task` was made ready: what it waited on,
    /// and what was running (a task, a callback, or the loop itself).
    #[cold]
    pub(super) fn note_wake(&self, task: &TaskCore, how: Wake, waited_on: Option<Suspend>) {
        let by = context::try_with_current(|t| WokenBy::Task(t.info()))
            .unwrap_or_else(|| WokenBy::callback_or_loop(self.calling.get()));
        self.note_wake_by(task, how, waited_on, by);
    }

    /// [`note_wake`](Self::note_wake) when the loop knows who woke the task.
    #[cold]
    pub(super) fn note_wake_by(
        &self,
        task: &TaskCore,
        how: Wake,
        waited_on: Option<Suspend>,
        by: WokenBy,
    ) {
        let cause = WakeCause { waited_on, how, by };
        let info = task.info();
        self.instrument(|i, at| i.task_woken(at, info, &cause));
    }

    /// Calls `f` with the poller's registry (no clone: cloning dups the
    /// epoll descriptor, which fails exactly when descriptors run out).
    fn with_registry<R>(&self, f: impl FnOnce(&mio::Registry) -> R) -> R {
        f(self.poll.borrow().registry())
    }

    pub(super) fn push_timer(&self, when: Instant, due: Due) {
        self.timers.borrow_mut().push(when, due);
    }

    pub(super) fn spawn<T: 'static>(self: &Rc<Self>, coro: Coro<T>) -> Task<T> {
        assert!(!self.closed.get(), "spawn() on a closed event loop");
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let name = coro.name();
        let task = coro
            .into_body()
            .into_task(TaskId(id), name, self.home.clone());
        self.tasks.borrow_mut().insert(task.core.clone());
        if self.instrumented.get() && self.records_call_sites() {
            task.core.mark(crate::task::raw::CALL_SITES, true);
        }
        let info = task.core.info();
        self.instrument(|i, at| i.task_spawned(at, info));
        self.ready
            .borrow_mut()
            .push_back(Ready::step(task.core.clone()));
        task
    }
}

impl Home for Core {
    #[inline]
    fn schedule(&self, task: TaskRef, how: Wake) {
        Core::schedule(self, task, how);
    }

    fn call_soon(&self, f: Box<dyn FnOnce()>, name: crate::names::CallbackName) {
        self.ready
            .borrow_mut()
            .push_back(Ready::call(Callback::boxed(f, name)));
    }

    fn now(&self) -> std::time::Instant {
        self.clock.now()
    }

    fn file_deadline(&self, task: TaskRef, seq: u32, when: std::time::Instant) {
        self.push_timer(when, Due::Wake(task, seq));
    }

    fn discount_step(&self) {
        self.watch.discount_step();
    }
}

/// Sets the running loop for this thread while alive; restores the previous one.
pub(super) struct Enter {
    /// The loop made the running one (its reports go to its handler meanwhile).
    core: Rc<Core>,
    /// The running loop (the previous one comes back when it drops).
    entered: Option<LoopEntered>,
    /// The thread's exception handler before this loop's was installed.
    previous_handler: Option<crate::warnings::ExceptionHandler>,
}

impl Enter {
    pub(super) fn new(core: &Rc<Core>) -> Enter {
        assert!(
            !core.running.replace(true),
            "this event loop is already running"
        );
        assert!(
            !crate::task::context::in_task(),
            "run() cannot be called from a running task: await the coroutine with yield_from() instead"
        );
        let entered = context::enter_loop(core.home.clone(), Box::new(core.clone()));
        let handler = core.exception_handler.borrow().clone();
        Enter {
            core: core.clone(),
            entered: Some(entered),
            previous_handler: crate::warnings::install_handler(handler),
        }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        crate::warnings::install_handler(self.previous_handler.take());
        drop(self.entered.take());
        self.core.running.set(false);
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // Only reached if close() could not run (see EventLoop's Drop).
        if !self.closed.get() {
            for task in self.tasks.borrow_mut().slots.drain(..).flatten() {
                task.unwind();
            }
            self.threads.shutdown();
        }
    }
}
