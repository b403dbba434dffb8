//! The event loop: the one place that resumes tasks.
//!
//! Principles (curio's kernel, asyncio's `BaseEventLoop`): tasks reach the
//! loop only through [`suspend`](crate::suspend); the loop keeps a FIFO ready
//! queue, a timer heap and a `mio::Poll`, and nothing else decides what runs.
//!
//! One iteration ([`EventLoop::run_once`]), shaped like asyncio's `_run_once`:
//!
//! ```text
//!  ┌─ 1. poll I/O ───────────────────────────────────────────────────────┐
//!  │ timeout = 0 if something is ready, else until the nearest timer,      │
//!  │ else forever. While tasks stay ready the poll is skipped for up to    │
//!  │ `event_interval` task steps (a zero-timeout poll is a system call),   │
//!  │ never longer, so a busy loop cannot starve I/O. Virtual clock with    │
//!  │ nothing to poll: jump the clock to the nearest deadline instead.      │
//!  ├─ 2. expire timers ───────────────────────────────────────────────────┤
//!  │ every timer due by now goes to the back of the ready queue, in        │
//!  │ deadline order (ties in scheduling order)                              │
//!  ├─ 3. run ready ───────────────────────────────────────────────────────┤
//!  │ run the entries that were ready when this phase began, in FIFO order: │
//!  │ task steps and callbacks; what they schedule runs next iteration      │
//!  └──────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! A loop belongs to the thread that made it; tasks never migrate, which is
//! what makes the thread-locals here (the running loop, the running task)
//! sound — a coroutine that moved between threads would carry stale
//! thread-locals with it.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::panic::resume_unwind;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};

use crate::coro::Coro;
use crate::future::Outcome;
use crate::suspend::{Suspend, Trap, Wake};
use crate::task::{Task, TaskCore, TaskRef, TaskState};
use crate::threads::Threads;
use crate::timer::{Due, Timers};

/// The token of the loop's `mio::Waker` (worker threads use it).
pub(crate) const WAKER: Token = Token(usize::MAX);

/// A scheduled callback (Python's `Handle`); `None` once run or cancelled.
pub(crate) struct Callback {
    f: RefCell<Option<Box<dyn FnOnce()>>>,
    /// What reports name it by: the closure's type name.
    name: &'static str,
}

impl Callback {
    /// A callback that runs `f`, named after `f`'s type.
    pub(crate) fn new<F: FnOnce() + 'static>(f: F) -> Rc<Callback> {
        Rc::new(Callback {
            f: RefCell::new(Some(Box::new(f))),
            name: std::any::type_name::<F>(),
        })
    }

    /// A callback that runs a boxed `f` named `name`.
    pub(crate) fn boxed(f: Box<dyn FnOnce()>, name: &'static str) -> Rc<Callback> {
        Rc::new(Callback {
            f: RefCell::new(Some(f)),
            name,
        })
    }

    /// Whether it was cancelled or has run.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.f.borrow().is_none()
    }
}

/// A callback scheduled with `call_soon`, `call_later` or `call_at`; cancel it to skip it.
#[derive(Clone)]
pub struct Handle(Rc<Callback>);

impl Handle {
    /// Cancels the callback if it has not run yet (Python: `Handle.cancel()`).
    pub fn cancel(&self) {
        self.0.f.borrow_mut().take();
    }

    /// Whether the callback was cancelled or has run.
    pub fn cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

/// One ready-queue entry, in one machine word: a task to step (how it is
/// woken waits in the task's `wake` cell) or a callback to call, told apart by
/// the pointer's low bit.
///
/// Why not `enum { Step(TaskRef, Wake), Call(Rc<Callback>) }`: that is
/// two words, built on the stack with a 1-byte store for the tag and an
/// 8-byte store for the pointer, then copied into the queue with one 16-byte
/// load, which store forwarding cannot serve: the load waits until both
/// stores have reached the cache, on every task switch.
struct Ready(NonNull<()>);

/// What a [`Ready`] holds, once taken out of the queue.
enum Entry {
    Step(TaskRef),
    Call(Rc<Callback>),
}

impl Ready {
    const CALL: usize = 1;

    fn step(task: TaskRef) -> Ready {
        // SAFETY: `TaskRef::into_raw` never returns null.
        Ready(unsafe { NonNull::new_unchecked(TaskRef::into_raw(task) as *mut ()) })
    }

    fn call(cb: Rc<Callback>) -> Ready {
        let ptr = Rc::into_raw(cb) as *mut ();
        // `Rc`'s allocation is aligned to at least its counters' 8 bytes, so
        // the low bit of the pointer is free for the tag.
        debug_assert_eq!(ptr.addr() & Self::CALL, 0);
        // SAFETY: a non-null pointer with a bit set is still non-null.
        Ready(unsafe { NonNull::new_unchecked(ptr.map_addr(|a| a | Self::CALL)) })
    }

    fn is_call(&self) -> bool {
        self.0.as_ptr().addr() & Self::CALL != 0
    }

    fn into_entry(self) -> Entry {
        let this = std::mem::ManuallyDrop::new(self);
        let ptr = this.0.as_ptr();
        if this.is_call() {
            // SAFETY: made by `Ready::call` from `Rc::into_raw` (tag removed),
            // and `this` is not dropped, so the count is taken over exactly once.
            Entry::Call(unsafe {
                Rc::from_raw(ptr.map_addr(|a| a & !Self::CALL) as *const Callback)
            })
        } else {
            // SAFETY: made by `Ready::step` from `TaskRef::into_raw`; as above.
            Entry::Step(unsafe { TaskRef::from_raw(ptr as *const TaskCore) })
        }
    }

    /// The task this entry steps, if it is one.
    fn task(&self) -> Option<&TaskCore> {
        // SAFETY: a step entry owns one count of a live `TaskRef`, so
        // the pointee is alive while `self` is borrowed.
        (!self.is_call()).then(|| unsafe { &*(self.0.as_ptr() as *const TaskCore) })
    }

    /// Prefetches the stack of the task this entry steps.
    fn prefetch(&self) {
        if let Some(task) = self.task() {
            task.prefetch_stack();
        }
    }

    /// Prefetches the record of the task this entry steps.
    fn prefetch_record(&self) {
        if let Some(task) = self.task() {
            task.prefetch_record();
        }
    }

    /// What the stepper shows for this entry.
    fn describe(&self) -> String {
        if self.is_call() {
            "a callback".to_string()
        } else {
            let t = self.task().expect("a step entry");
            format!("task '{}' (#{})", t.name, t.id.0)
        }
    }
}

impl Drop for Ready {
    fn drop(&mut self) {
        // SAFETY: `self` is never used again; `into_entry` takes the `Rc`
        // count it owns, and dropping the entry releases it.
        drop(unsafe { std::ptr::read(self) }.into_entry());
    }
}

/// Settings of a loop; see [`Builder`].
#[derive(Clone, Debug)]
struct Config {
    /// Deterministic mode: pick among ready entries in a seeded random order.
    seed: Option<u64>,
    virtual_clock: bool,
    event_interval: usize,
    slow_task: Duration,
    stack_size: usize,
    stack_mode: crate::stack::StackMode,
}

/// The loop's clock: real, or virtual (time moves only when the loop jumps it).
struct Clock {
    virtual_clock: bool,
    now: Cell<Instant>,
    start: Instant,
}

impl Clock {
    fn now(&self) -> Instant {
        if self.virtual_clock {
            self.now.get()
        } else {
            Instant::now()
        }
    }
}

/// The loop's state, shared by its handles and reached by tasks through a thread-local.
pub(crate) struct Core {
    ready: RefCell<VecDeque<Ready>>,
    timers: RefCell<Timers>,
    clock: Clock,
    tasks: RefCell<TaskTable>,
    poll: RefCell<Poll>,
    events: RefCell<Events>,
    pub(crate) threads: Threads,
    /// Sources registered for I/O (the poll cannot produce events without them).
    pub(crate) io_sources: Cell<usize>,
    pub(crate) reactor: crate::reactor::Reactor,
    config: Config,
    steps_since_poll: Cell<usize>,
    /// Instruments (trace recorder, stepper, user tools); `instrumented` is
    /// the one flag the hot path checks.
    instruments: RefCell<Vec<Box<dyn crate::trace::Instrument>>>,
    instrumented: Cell<bool>,
    /// Where `YIELDFROM_TRACE` wants the recorded trace to go at close.
    trace_output: Option<(crate::trace::Output, crate::trace::Recorder)>,
    /// The seeded generator of deterministic mode (xorshift64 state).
    rng: Cell<u64>,
    /// The next task id.
    next_id: Cell<u64>,
    /// Steps run so far, and what the watchdog sees of them (the blocking warning).
    steps: Cell<u64>,
    watch: Arc<crate::watchdog::Watch>,
    stopping: Cell<bool>,
    running: Cell<bool>,
    closed: Cell<bool>,
}

/// Live tasks, so that closing the loop can unwind them.
#[derive(Default)]
struct TaskTable {
    slots: Vec<Option<TaskRef>>,
    free: Vec<usize>,
    live: usize,
}

impl TaskTable {
    fn insert(&mut self, task: TaskRef) {
        let at = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        task.slot
            .set(u32::try_from(at).expect("fewer than 2^32 live tasks"));
        self.slots[at] = Some(task);
        self.live += 1;
    }

    fn remove(&mut self, task: &TaskCore) -> Option<TaskRef> {
        let at = task.slot.get() as usize;
        let taken = self.slots.get_mut(at)?.take();
        if taken.is_some() {
            self.free.push(at);
            self.live -= 1;
        }
        taken
    }

    fn all(&self) -> Vec<TaskRef> {
        self.slots.iter().flatten().cloned().collect()
    }
}

thread_local! {
    static RUNNING: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// Calls `f` with the loop running on this thread; panics with `what` if none.
pub(crate) fn with_loop<R>(what: &str, f: impl FnOnce(&Rc<Core>) -> R) -> R {
    RUNNING.with(|r| match &*r.borrow() {
        Some(core) => f(core),
        None => panic!("{what} needs a running event loop: call it inside run() or a task"),
    })
}

/// The loop running on this thread, if any.
pub(crate) fn try_with_loop<R>(f: impl FnOnce(&Rc<Core>) -> R) -> Option<R> {
    RUNNING.with(|r| r.borrow().as_ref().map(f))
}

/// The running loop, as a weak reference (what tasks and futures keep).
pub(crate) fn running_weak() -> Option<std::rc::Weak<Core>> {
    try_with_loop(Rc::downgrade)
}

/// Schedules `task` on its own loop if it still waits with number `seq`
/// (used by every waker, from any loop or none).
pub(crate) fn wake(task: &TaskRef, seq: u32, how: Wake) {
    if task.wait_seq() != seq {
        return;
    }
    match task.state.get() {
        // A loop that is gone (dropped while a destructor runs during its
        // unwind) has nothing left to schedule on; never panic here.
        TaskState::Waiting => {
            if let Some(core) = task.lp.upgrade() {
                core.schedule(task.clone(), how);
            }
        }
        TaskState::Running => {
            // Woken before it parked: it is rescheduled as soon as it does.
            task.bump_seq();
            task.early_wake.set(Some(how));
        }
        TaskState::Ready | TaskState::Done => {}
    }
}

/// Asks `task` to stop: a waiting task is woken with `Cancel` on its own
/// loop's next iteration, whichever loop (or none) is running now.
pub(crate) fn cancel_task(task: &TaskRef) {
    match task.state.get() {
        TaskState::Waiting => match task.lp.upgrade() {
            Some(core) => core.schedule(task.clone(), Wake::Cancel),
            // Its loop is gone: the request waits for a step that never comes.
            None => task.cancel_requested.set(true),
        },
        TaskState::Ready | TaskState::Running => task.cancel_requested.set(true),
        TaskState::Done => {}
    }
}

/// Schedules `f` on `home` if it is alive, else on the running loop; with
/// neither, runs it now (a future that never met a loop).
pub(crate) fn call_soon_on(home: &std::rc::Weak<Core>, f: Box<dyn FnOnce()>, name: &'static str) {
    let cb = |f| Ready::call(Callback::boxed(f, name));
    match home.upgrade() {
        Some(core) => core.ready.borrow_mut().push_back(cb(f)),
        None => match RUNNING.with(|r| r.borrow().clone()) {
            Some(core) => core.ready.borrow_mut().push_back(cb(f)),
            // Reported, not raised, as a loop would: the future's other
            // waiters still get their wake-up.
            None => {
                if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                    crate::warnings::warn(format!(
                        "yieldfrom: exception in callback {name}: {}",
                        crate::future::panic_message(payload.as_ref())
                    ));
                }
            }
        },
    }
}

/// The step in progress ended in a panic: its time is not blocking (see
/// [`Watch::discount_step`](crate::watchdog::Watch::discount_step)).
pub(crate) fn discount_step() {
    let _ = try_with_loop(|core| core.watch.discount_step());
}

/// The running loop's clock, now.
pub(crate) fn now() -> Instant {
    with_loop("the loop's clock", |core| core.clock.now())
}

impl Core {
    /// The loop's clock since the loop was made (what instruments see).
    fn since_start(&self) -> Duration {
        self.clock.now().saturating_duration_since(self.clock.start)
    }

    /// Calls every instrument (only when some are installed).
    #[inline]
    fn instrument(&self, f: impl Fn(&mut dyn crate::trace::Instrument, Duration)) {
        if self.instrumented.get() {
            let at = self.since_start();
            for i in self.instruments.borrow_mut().iter_mut() {
                f(i.as_mut(), at);
            }
        }
    }

    /// What the stepper shows: the ready queue, the timers, the waiting tasks.
    pub(crate) fn snapshot(&self) -> crate::debug::Snapshot {
        let ready = self.ready.borrow().iter().map(Ready::describe).collect();
        let start = self.clock.start;
        let timers = self.timers.borrow().describe(start);
        let waiting = self
            .tasks
            .borrow()
            .all()
            .into_iter()
            .filter(|t| t.state.get() == TaskState::Waiting)
            .map(|t| {
                let on = t
                    .waiting_on
                    .get()
                    .map_or("?".to_string(), |r| r.to_string());
                format!("task '{}' (#{}) on {on}", t.name, t.id.0)
            })
            .collect();
        crate::debug::Snapshot {
            ready,
            timers,
            waiting,
        }
    }

    fn schedule(&self, task: TaskRef, how: Wake) {
        task.bump_seq();
        task.state.set(TaskState::Ready);
        task.wake.set(how);
        self.ready.borrow_mut().push_back(Ready::step(task));
    }

    /// Calls `f` with the poller's registry (no clone: cloning dups the
    /// epoll descriptor, which fails exactly when descriptors run out).
    pub(crate) fn with_registry<R>(&self, f: impl FnOnce(&mio::Registry) -> R) -> R {
        f(self.poll.borrow().registry())
    }

    pub(crate) fn push_timer(&self, when: Instant, due: Due) {
        self.timers.borrow_mut().push(when, due);
    }

    fn spawn<T: 'static>(self: &Rc<Self>, coro: Coro<T>) -> Task<T> {
        assert!(!self.closed.get(), "spawn() on a closed event loop");
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let name = coro.name();
        let task = coro
            .into_body()
            .into_task(crate::task::TaskId(id), name, Rc::downgrade(self));
        self.tasks.borrow_mut().insert(task.core.clone());
        let info = task.core.info();
        self.instrument(|i, at| i.task_spawned(at, info));
        self.ready
            .borrow_mut()
            .push_back(Ready::step(task.core.clone()));
        task
    }

    /// Runs one step of `task`, then files it where its suspension says.
    fn run_task(&self, task: TaskRef) {
        if task.state.get() == TaskState::Done {
            return;
        }
        let wake = if task.cancel_requested.replace(false) {
            Wake::Cancel
        } else {
            task.wake.get()
        };
        task.state.set(TaskState::Running);
        if self.instrumented.get() {
            let info = task.info();
            self.instrument(|i, at| i.before_step(at, info));
        }
        let steps = self.steps.get() + 1;
        self.steps.set(steps);
        self.watch.enter_step(steps);
        let paused = task.step(wake, self.config.stack_size, self.config.stack_mode);
        let hook = self.instrumented.get().then(|| (task.clone(), paused));
        if let Some(took) = self.watch.leave_step(steps)
            && !task.warned_blocking.replace(true)
        {
            crate::warnings::warn(format!(
                "yieldfrom: task '{}' blocked the event loop for {:.2} s — a blocking call \
                 (std::thread::sleep, a CPU-bound loop) belongs in sleep() or to_thread()",
                task.name,
                took.as_secs_f64()
            ));
        }
        let Some(trap) = paused else {
            task.state.set(TaskState::Done);
            task.waiting_on.set(None);
            self.tasks.borrow_mut().remove(&task);
            if let Some((task, paused)) = hook {
                self.after_step_hook(&task, paused);
            }
            return;
        };
        task.state.set(TaskState::Waiting);
        if task.cancel_requested.replace(false) {
            self.schedule(task, Wake::Cancel);
        } else if let Some(how) = task.early_wake.take() {
            self.schedule(task, how);
        } else {
            match trap {
                Trap::YieldNow => self.schedule(task, Wake::Run),
                Trap::Sleep => {
                    let Some(Suspend::Sleep { until }) = task.waiting_on.get() else {
                        unreachable!("a sleeping task waits on its deadline")
                    };
                    let seq = task.wait_seq();
                    self.push_timer(until, Due::Task(task, seq));
                }
                Trap::Wait => {}
            }
        }
        if let Some((task, paused)) = hook {
            // After the task is filed, so the snapshot shows it waiting.
            self.after_step_hook(&task, paused);
        }
    }

    /// A closing loop gives up on a task that will not finish: reported
    /// (asyncio's "Task was destroyed but it is pending!"), ended cancelled,
    /// its stack leaked.
    #[cold]
    fn give_up(&self, task: &TaskRef, why: &str) {
        self.tasks.borrow_mut().remove(task);
        crate::warnings::warn(format!(
            "yieldfrom: task '{}' was destroyed but it is pending: the loop closed and {why}; \
             its stack is leaked",
            task.name
        ));
        task.leak();
    }

    /// Runs a callback as asyncio's `Handle._run` does: a panic is reported
    /// ("Exception in callback ...") and the loop goes on; a callback that
    /// blocks is reported as a blocking task is.
    fn run_callback(&self, f: Box<dyn FnOnce()>, name: &'static str) {
        let steps = self.steps.get() + 1;
        self.steps.set(steps);
        self.watch.enter_step(steps);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let took = self.watch.leave_step(steps);
        match result {
            Err(payload) => crate::warnings::warn(format!(
                "yieldfrom: exception in callback {name}: {} (the loop goes on)",
                crate::future::panic_message(payload.as_ref())
            )),
            Ok(()) => {
                if let Some(took) = took {
                    crate::warnings::warn(format!(
                        "yieldfrom: callback {name} blocked the event loop for {:.2} s — a \
                         blocking call (std::thread::sleep, a CPU-bound loop) belongs in \
                         to_thread()",
                        took.as_secs_f64()
                    ));
                }
            }
        }
    }

    #[cold]
    fn after_step_hook(&self, task: &TaskCore, paused: Option<Trap>) {
        use crate::trace::StepEnd;
        let end = match paused {
            Some(Trap::YieldNow) => StepEnd::Suspended(Suspend::YieldNow),
            Some(_) => StepEnd::Suspended(
                task.waiting_on
                    .get()
                    .expect("a task that parks says on what"),
            ),
            None => StepEnd::Done(task.end_note()),
        };
        let info = task.info();
        self.instrument(|i, at| i.after_step(at, info, &end));
        let wants = self.instruments.borrow().iter().any(|i| i.wants_snapshot());
        if wants {
            let snap = self.snapshot();
            self.instrument(|i, _| i.show(&snap));
        }
    }

    /// Phase 1: polls for I/O and thread completions, or sleeps or jumps the clock.
    fn poll_io(&self, timeout: Option<Duration>) {
        self.steps_since_poll.set(0);
        let can_fire = self.io_sources.get() > 0 || self.threads.pending() > 0;
        if !can_fire {
            match timeout {
                Some(t) if t.is_zero() => {}
                Some(t) if self.clock.virtual_clock => {
                    self.clock.now.set(self.clock.now.get() + t);
                }
                Some(t) => std::thread::sleep(t),
                None => {}
            }
            return;
        }
        if timeout != Some(Duration::ZERO) {
            self.instrument(|i, at| i.waiting_for_io(at, timeout));
        }
        let mut events = self.events.borrow_mut();
        let started = Instant::now();
        loop {
            match self.poll.borrow_mut().poll(&mut events, timeout) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => panic!("yieldfrom: polling for I/O failed: {e}"),
            }
        }
        if self.clock.virtual_clock {
            // While real I/O is awaited, virtual time passes as real time does;
            // a poll that timed out has reached the deadline it waited for.
            let waited = match timeout {
                Some(t) if events.is_empty() => t,
                _ => started.elapsed(),
            };
            self.clock.now.set(self.clock.now.get() + waited);
        }
        for event in events.iter() {
            if event.token() == WAKER {
                self.threads.deliver();
            } else {
                if self.instrumented.get() {
                    let token = event.token().0 & 0xFFFF_FFFF;
                    self.instrument(|i, at| i.io_ready(at, token));
                }
                self.reactor.dispatch(event);
            }
        }
    }

    fn run_once(&self) {
        let n = self.ready.borrow().len();
        let has_ready = n > 0;
        let has_timers = self.timers.borrow().len() > 0;
        // The clock is read only when a timer needs it (a read costs ~20 ns).
        let timeout = if has_ready || self.stopping.get() {
            Some(Duration::ZERO)
        } else if has_timers {
            let next = self.timers.borrow_mut().next_deadline();
            next.map(|d| d.saturating_duration_since(self.clock.now()))
        } else {
            None
        };
        if !has_ready || self.steps_since_poll.get() >= self.config.event_interval {
            self.poll_io(timeout);
        }
        // Phase 2: due timers join the ready queue in deadline order.
        if has_timers {
            let now = self.clock.now();
            loop {
                let due = self.timers.borrow_mut().pop_due(now);
                let Some((_, due)) = due else { break };
                match due {
                    Due::Task(task, seq) => {
                        if task.wait_seq() == seq && task.state.get() == TaskState::Waiting {
                            self.schedule(task, Wake::Run);
                        }
                    }
                    Due::Call(cb) => self.ready.borrow_mut().push_back(Ready::call(cb)),
                }
            }
        }
        // Phase 3: run what is ready now, but poll again after `event_interval`
        // steps if anything could be polled (the rest stays at the front).
        let n = self.ready.borrow().len().max(n);
        if self.config.seed.is_some() {
            self.shuffle_ready(n);
        }
        let pollable = self.io_sources.get() > 0 || self.threads.pending() > 0;
        for _ in 0..n {
            if pollable && self.steps_since_poll.get() >= self.config.event_interval {
                break;
            }
            let entry = {
                let mut ready = self.ready.borrow_mut();
                let entry = ready.pop_front().map(Ready::into_entry);
                // While this one runs, bring the next task's stack in, and
                // the record of the one after it (which says where its stack is).
                if let Some(next) = ready.front() {
                    next.prefetch();
                }
                if let Some(after) = ready.get(1) {
                    after.prefetch_record();
                }
                entry
            };
            match entry {
                Some(Entry::Step(task)) => {
                    self.steps_since_poll.set(self.steps_since_poll.get() + 1);
                    self.run_task(task);
                }
                Some(Entry::Call(cb)) => {
                    let f = cb.f.borrow_mut().take();
                    if let Some(f) = f {
                        self.instrument(|i, at| i.callback(at));
                        self.run_callback(f, cb.name);
                    }
                }
                None => break,
            }
        }
    }

    /// Deterministic mode: a seeded Fisher-Yates shuffle of the first `n` ready entries.
    fn shuffle_ready(&self, n: usize) {
        let mut ready = self.ready.borrow_mut();
        let len = n.min(ready.len());
        let slice = &mut ready.make_contiguous()[..len];
        for i in (1..slice.len()).rev() {
            let mut x = self.rng.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.rng.set(x);
            slice.swap(i, (x % (i as u64 + 1)) as usize);
        }
    }

    fn is_idle(&self) -> bool {
        self.ready.borrow().is_empty()
            && self.timers.borrow_mut().next_deadline().is_none()
            && self.io_sources.get() == 0
            && self.threads.pending() == 0
    }
}

/// Sets the running loop for this thread while alive; restores the previous one.
struct Enter(Option<Rc<Core>>);

impl Enter {
    fn new(core: &Rc<Core>) -> Enter {
        assert!(
            !core.running.replace(true),
            "this event loop is already running"
        );
        assert!(
            !crate::suspend::in_task(),
            "run() cannot be called from a running task: await the coroutine with yield_from() instead"
        );
        Enter(RUNNING.with(|r| r.replace(Some(core.clone()))))
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let core = RUNNING.with(|r| r.replace(self.0.take()));
        if let Some(core) = core {
            core.running.set(false);
        }
    }
}

/// Configures an [`EventLoop`] before it is built.
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::{EventLoop, Coro, sleep};
///
/// let lp = EventLoop::builder().virtual_clock(true).build();
/// let clock = lp.clone();
/// let slept = lp.run(Coro::new("nap", move || {
///     sleep(Duration::from_secs(3600)); // the clock jumps: no real hour passes
///     clock.time()
/// }));
/// assert_eq!(slept, 3600.0);
/// ```
pub struct Builder {
    config: Config,
    instruments: Vec<Box<dyn crate::trace::Instrument>>,
    /// Whether `YIELDFROM_TRACE` and `YIELDFROM_STEP` may add instruments.
    from_env: bool,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Builder({:?}, {} instrument(s))",
            self.config,
            self.instruments.len()
        )
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            instruments: Vec::new(),
            from_env: true,
            config: Config {
                seed: None,
                virtual_clock: crate::env::virtual_clock(),
                event_interval: 61,
                slow_task: Duration::from_millis(100),
                stack_size: 0,
                stack_mode: crate::env::stack_mode().unwrap_or_default(),
            },
        }
    }
}

impl Builder {
    /// Uses the virtual clock: when nothing is ready and nothing can arrive
    /// from I/O, time jumps to the next timer, so sleeps take no real time and
    /// the order of events is the same on every run. Default: off, unless
    /// `YIELDFROM_VIRTUAL_CLOCK=1`.
    pub fn virtual_clock(mut self, on: bool) -> Builder {
        self.config.virtual_clock = on;
        self
    }

    /// Polls I/O at least every `steps` task steps while tasks stay ready
    /// (tokio's `event_interval`; default 61).
    pub fn event_interval(mut self, steps: usize) -> Builder {
        self.config.event_interval = steps.max(1);
        self
    }

    /// Warns when a task runs this long without suspending (default 100 ms;
    /// asyncio's `slow_callback_duration`).
    pub fn slow_task_threshold(mut self, threshold: Duration) -> Builder {
        self.config.slow_task = threshold;
        self
    }

    /// Stack size for the loop's tasks (default: the pool's, see [`crate::stack`]).
    ///
    /// A size above [`MAX_STACK_SIZE`](crate::stack::MAX_STACK_SIZE) makes
    /// [`try_build`](Self::try_build) fail (and [`build`](Self::build) panic)
    /// with a message saying so.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.config.stack_size = bytes;
        self
    }

    /// How the loop's tasks get their stacks (default
    /// [`StackMode::Auto`](crate::stack::StackMode::Auto): a stack of their
    /// own while the guard budget lasts, a shared one after it; or
    /// `YIELDFROM_STACK_MODE=auto|dedicated|shared`).
    pub fn stack_mode(mut self, mode: crate::stack::StackMode) -> Builder {
        self.config.stack_mode = mode;
        self
    }

    /// Deterministic mode: among the entries ready in an iteration, run them
    /// in an order drawn from `seed` instead of FIFO. With the virtual clock,
    /// the same program and seed give the same trace, byte for byte; other
    /// seeds explore other interleavings (see [`crate::debug::explore`]).
    pub fn seed(mut self, seed: u64) -> Builder {
        self.config.seed = Some(seed);
        self
    }

    /// Installs an [`Instrument`](crate::trace::Instrument) (a tracer, a
    /// stepper, a tool of your own); it sees every scheduling decision.
    pub fn instrument(mut self, instrument: impl crate::trace::Instrument + 'static) -> Builder {
        self.instruments.push(Box::new(instrument));
        self
    }

    /// Ignores `YIELDFROM_TRACE` and `YIELDFROM_STEP` for this loop (for tools
    /// that run many loops and record them themselves, such as `explore`).
    pub fn ignore_env_instruments(mut self) -> Builder {
        self.from_env = false;
        self
    }

    /// Builds the loop.
    pub fn build(self) -> EventLoop {
        self.try_build()
            .unwrap_or_else(|e| panic!("yieldfrom: cannot create an event loop: {e}"))
    }

    /// Builds the loop, or says why the poller could not be created.
    pub fn try_build(self) -> io::Result<EventLoop> {
        if self.config.stack_size != 0 {
            crate::stack::round_size(self.config.stack_size)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        }
        let poll = Poll::new()?;
        let watch = crate::watchdog::Watch::new(self.config.slow_task);
        let rng = self
            .config
            .seed
            .map_or(0, |s| s.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut instruments = self.instruments;
        let from_env = self.from_env;
        let trace_output = crate::trace::Output::from_env()
            .filter(|_| from_env)
            .map(|out| {
                let rec = crate::trace::Recorder::new();
                instruments.push(Box::new(rec.clone()));
                (out, rec)
            });
        if from_env && crate::env::step() {
            instruments.push(Box::new(crate::debug::Stepper::from_terminal()));
        }
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
        let now = Instant::now();
        Ok(EventLoop(Rc::new(Core {
            ready: RefCell::new(VecDeque::new()),
            timers: RefCell::new(Timers::default()),
            clock: Clock {
                virtual_clock: self.config.virtual_clock,
                now: Cell::new(now),
                start: now,
            },
            tasks: RefCell::new(TaskTable::default()),
            poll: RefCell::new(poll),
            events: RefCell::new(Events::with_capacity(1024)),
            threads: Threads::new(waker),
            io_sources: Cell::new(0),
            reactor: crate::reactor::Reactor::default(),
            config: self.config,
            steps_since_poll: Cell::new(0),
            instrumented: Cell::new(!instruments.is_empty()),
            instruments: RefCell::new(instruments),
            trace_output,
            rng: Cell::new(rng),
            next_id: Cell::new(1),
            steps: Cell::new(0),
            watch,
            stopping: Cell::new(false),
            running: Cell::new(false),
            closed: Cell::new(false),
        })))
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
    pub fn new() -> EventLoop {
        Builder::default().build()
    }

    /// A [`Builder`] to choose the settings.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The loop running on this thread (Python: `asyncio.get_running_loop()`).
    ///
    /// Panics outside a running loop.
    pub fn current() -> EventLoop {
        with_loop("EventLoop::current()", |core| EventLoop(core.clone()))
    }

    /// The loop's clock (virtual or real).
    pub fn now(&self) -> Instant {
        self.0.clock.now()
    }

    /// Seconds since the loop was made, by its clock (Python: `loop.time()`).
    pub fn time(&self) -> f64 {
        self.0
            .clock
            .now()
            .duration_since(self.0.clock.start)
            .as_secs_f64()
    }

    /// Whether the clock is virtual.
    pub fn is_virtual(&self) -> bool {
        self.0.clock.virtual_clock
    }

    /// Wraps `coro` in a task and schedules its first step (Python: `loop.create_task`).
    pub fn spawn<T: 'static>(&self, coro: Coro<T>) -> Task<T> {
        self.0.spawn(coro)
    }

    /// Schedules `f` to run on the next iteration, after what is already ready
    /// (Python: `loop.call_soon`).
    pub fn call_soon(&self, f: impl FnOnce() + 'static) -> Handle {
        let cb = Callback::new(f);
        self.0.ready.borrow_mut().push_back(Ready::call(cb.clone()));
        Handle(cb)
    }

    /// Schedules `f` to run `delay` from now (Python: `loop.call_later`); a
    /// delay too large for the clock (`Duration::MAX`) means never.
    pub fn call_later(&self, delay: Duration, f: impl FnOnce() + 'static) -> Handle {
        self.call_at(crate::timer::deadline(self.now(), delay), f)
    }

    /// Schedules `f` to run at `when` by the loop's clock (Python: `loop.call_at`).
    pub fn call_at(&self, when: Instant, f: impl FnOnce() + 'static) -> Handle {
        let cb = Callback::new(f);
        self.0.push_timer(when, Due::Call(cb.clone()));
        Handle(cb)
    }

    /// Runs one iteration: poll, expire timers, run what is ready.
    pub fn run_once(&self) {
        let _enter = Enter::new(&self.0);
        self.0.run_once();
    }

    /// Runs `coro` as a task until it is done and returns its result
    /// (Python: `loop.run_until_complete`); a panic in it is raised here.
    ///
    /// Panics with a deadlock message if the task waits on something that
    /// nothing left in the loop can ever finish.
    pub fn run_until_complete<T: 'static>(&self, coro: Coro<T>) -> T {
        let task = self.spawn(coro);
        self.run_until_done(&task);
        task.fut.take_outcome().expect("the task is done").unwrap()
    }

    fn run_until_done<T>(&self, task: &Task<T>) {
        let _enter = Enter::new(&self.0);
        while !task.done() {
            if self.0.ready.borrow().is_empty() && self.0.is_idle() {
                panic!(
                    "yieldfrom: deadlock: the event loop has nothing left to run, but task '{}' \
                     is still waiting on {}",
                    task.name(),
                    task.core
                        .waiting_on
                        .get()
                        .map_or("nothing".to_string(), |r| r.to_string())
                );
            }
            self.0.run_once();
        }
    }

    /// Runs until [`stop`](Self::stop) is called (Python: `loop.run_forever`),
    /// or until nothing is left that could ever run.
    pub fn run_forever(&self) {
        let _enter = Enter::new(&self.0);
        self.0.stopping.set(false);
        while !self.0.stopping.get() && !self.0.is_idle() {
            self.0.run_once();
        }
        if self.0.stopping.get() {
            // Python: the iteration in progress completes, then the loop stops.
            self.0.run_once();
        }
        self.0.stopping.set(false);
    }

    /// Stops `run_forever` after the current iteration (Python: `loop.stop`).
    pub fn stop(&self) {
        self.0.stopping.set(true);
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.0.closed.get()
    }

    /// How many tasks are alive (not done).
    pub fn live_tasks(&self) -> usize {
        self.0.tasks.borrow().live
    }

    /// Runs `coro` to completion, cancels whatever tasks are left and waits for
    /// them, closes the loop and returns the result (Python: `asyncio.run`).
    pub fn run<T: 'static>(self, coro: Coro<T>) -> T {
        let main = self.spawn(coro);
        self.run_until_done(&main);
        let outcome = main.fut.take_outcome().expect("the main task is done");
        self.cancel_all_tasks();
        self.close();
        outcome_or_raise(outcome, &main.core)
    }

    /// Cancels every live task and runs the loop until they have finished.
    pub fn cancel_all_tasks(&self) {
        let tasks = self.0.tasks.borrow().all();
        if tasks.is_empty() {
            return;
        }
        let _enter = Enter::new(&self.0);
        for task in &tasks {
            cancel_task(task);
        }
        while tasks.iter().any(|t| t.state.get() != TaskState::Done) && !self.0.is_idle() {
            self.0.run_once();
        }
    }

    /// Closes the loop (Python: `loop.close`): tasks still alive are
    /// cancelled and the loop runs until they have finished, so their
    /// cleanup runs as under [`Task::cancel`] (destructors run, cleanup may
    /// await); bodies never started are dropped; then pending callbacks and
    /// timers are dropped and worker threads are told to finish. Every task
    /// ends with an outcome, cancelled if it had none, so its handles do not
    /// wait for ever (Python leaves them pending; tokio's shutdown cancels
    /// them, as here). A task that will not finish (it swallows each
    /// cancellation, or its cleanup waits on something nothing can finish)
    /// is given up after three rounds: reported ("task ... was destroyed but
    /// it is pending"), ended cancelled, its stack leaked. Panics if the loop
    /// is running.
    pub fn close(&self) {
        assert!(!self.0.running.get(), "cannot close a running event loop");
        if self.0.closed.get() {
            return;
        }
        // With this loop as the running one, so destructors that touch the
        // loop (a task handle, a queue) find it.
        let _enter = Enter::new(&self.0);
        // How many times a task may swallow the closing cancellation (it is
        // delivered again at each of its awaits) before it is given up.
        const SWALLOWS: usize = 1000;
        let mut swallowed: Vec<(TaskRef, usize)> = Vec::new();
        for _round in 0..3 {
            let tasks = self.0.tasks.borrow().all();
            if tasks.is_empty() {
                break;
            }
            for task in &tasks {
                cancel_task(task);
            }
            while tasks.iter().any(|t| t.state.get() != TaskState::Done) && !self.0.is_idle() {
                self.0.run_once();
                for task in tasks.iter().filter(|t| t.swallowed_cancel()) {
                    let at = swallowed
                        .iter()
                        .position(|(t, _)| std::ptr::eq(&**t, &**task));
                    let at = at.unwrap_or_else(|| {
                        swallowed.push((task.clone(), 0));
                        swallowed.len() - 1
                    });
                    swallowed[at].1 += 1;
                }
                for (task, n) in &swallowed {
                    if *n == SWALLOWS && task.state.get() != TaskState::Done {
                        self.0
                            .give_up(task, "it swallowed the cancellation 1000 times");
                    }
                }
            }
        }
        self.0.closed.set(true);
        for task in self.0.tasks.borrow().all() {
            let why = format!(
                "cancelled three times, its cleanup still waits on {}",
                task.waiting_on
                    .get()
                    .map_or("nothing".to_string(), |r| r.to_string())
            );
            self.0.give_up(&task, &why);
        }
        self.0.instrument(|i, at| i.loop_closed(at));
        if let Some((out, rec)) = &self.0.trace_output {
            out.emit(rec);
        }
        let ready: Vec<Ready> = self.0.ready.borrow_mut().drain(..).collect();
        drop(ready);
        let timers = self.0.timers.borrow_mut().clear();
        drop(timers);
        self.0.threads.shutdown();
    }
}

impl Drop for EventLoop {
    /// The last handle of a loop that was not closed closes it: suspended
    /// tasks are unwound with the loop as the running one, so destructors that
    /// touch it (a lock guard waking the next waiter) work.
    fn drop(&mut self) {
        if Rc::strong_count(&self.0) == 1 && !self.0.closed.get() && !self.0.running.get() {
            self.close();
        }
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

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<EventLoop ready={} timers={} tasks={} virtual={}>",
            self.0.ready.borrow().len(),
            self.0.timers.borrow().len(),
            self.0.tasks.borrow().live,
            self.0.clock.virtual_clock
        )
    }
}

/// The main task's result; its panic raised again; its cancellation as a
/// panic saying why ("it awaited task 'x', which was cancelled", when main
/// itself was not).
fn outcome_or_raise<T>(outcome: Outcome<T>, main: &TaskCore) -> T {
    match outcome {
        Outcome::Value(v) => v,
        Outcome::Panic(p) => resume_unwind(p),
        Outcome::Cancelled => match main.end_note() {
            crate::task::TaskEnd::Cancelled(crate::task::CancelCause::Awaited(awaited)) => panic!(
                "the main coroutine '{}' was cancelled: it awaited task '{awaited}', which was \
                 cancelled",
                main.name
            ),
            _ => panic!("the main coroutine '{}' was cancelled", main.name),
        },
    }
}

/// Runs `coro` on a new event loop and returns its result (Python: `asyncio.run`).
///
/// Creates a loop, runs the coroutine as its main task until it is done,
/// cancels every task still alive and waits for them, closes the loop. A panic
/// in the main task is raised here.
///
/// ```
/// use yieldfrom::{run, Coro};
/// assert_eq!(run(Coro::new("main", || 6 * 7)), 42);
/// ```
pub fn run<T: 'static>(coro: Coro<T>) -> T {
    EventLoop::new().run(coro)
}

/// Wraps `coro` in a task on the running loop (Python: `asyncio.create_task`).
///
/// The task does not start now: it runs when the loop gets to it, after what
/// is already ready. Panics outside a running loop.
pub fn spawn<T: 'static>(coro: Coro<T>) -> Task<T> {
    with_loop("spawn()", |core| core.spawn(coro))
}

/// Type-erased value passed back from a worker thread.
pub(crate) type ThreadResult = std::thread::Result<Box<dyn Any + Send>>;

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("callback", &self.0.name)
            .field("cancelled", &self.cancelled())
            .finish()
    }
}
