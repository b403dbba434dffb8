//! The loop: the ready tasks, the timer heap and the clock (both shared with
//! the stackful loop, `timer.rs` and `event_loop/clock.rs`), and the
//! reactor's slots over a `mio::Poll` (the twin of `event_loop/`).
//!
//! One iteration, as the stackful loop's: run the tasks that are ready now
//! (each `poll` runs its state machine until it returns `Pending` or
//! `Ready`); if none is ready, wait for I/O until the nearest timer (or,
//! with nothing to poll, sleep, or jump a virtual clock, to it); wake the
//! tasks whose timers are due or whose sockets are ready.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::task::Waker;
use std::time::{Duration, Instant};

use mio::{Events, Token};

use super::task::{self, JoinHandle, Tasks};
use crate::event_loop::clock::Clock;
use crate::event_loop::timer::{Pending, Timers};

/// A timer entry: the sleeping task's waker, shared with its `Sleep`
/// future, which takes it back when dropped (so a dropped sleep leaves a
/// dead entry that the heap sweeps out, as the stackful side's does).
pub(super) type TimerEntry = Rc<Cell<Option<Waker>>>;

impl Pending for TimerEntry {
    fn live(&self) -> bool {
        let waker = self.take();
        let live = waker.is_some();
        self.set(waker);
        live
    }

    fn describe(&self) -> Option<String> {
        self.live().then(|| "wake a sleeping task".to_string())
    }
}

/// One registered source: its generation and the task waiting on each side.
#[derive(Default)]
pub(super) struct IoSlot {
    /// Bumped when the slot is reused, so a stale token finds no source.
    generation: u32,
    /// Whether a source holds the slot.
    live: bool,
    /// The task waiting to read, if any.
    pub(super) read: Option<Waker>,
    /// The task waiting to write, if any.
    pub(super) write: Option<Waker>,
}

/// The reactor's slots (the twin of `reactor.rs`).
#[derive(Default)]
pub(super) struct Reactor {
    /// Sources by token.
    slots: Vec<IoSlot>,
    /// Slots free for the next source.
    free: Vec<usize>,
}

/// A token's slot index and generation (the stackful reactor's encoding).
fn split(token: Token) -> (usize, u32) {
    (token.0 & 0xFFFF_FFFF, (token.0 >> 32) as u32)
}

impl Reactor {
    /// A slot for a new source; its token.
    pub(super) fn open(&mut self) -> Token {
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(IoSlot::default());
            self.slots.len() - 1
        });
        let slot = &mut self.slots[index];
        slot.generation = slot.generation.wrapping_add(1);
        slot.live = true;
        Token(((slot.generation as usize) << 32) | index)
    }

    /// Frees the slot of `token` and drops its waiters.
    pub(super) fn close(&mut self, token: Token) {
        if let Some(slot) = self.slot(token) {
            *slot = IoSlot {
                generation: slot.generation,
                ..IoSlot::default()
            };
            self.free.push(split(token).0);
        }
    }

    /// The live slot of `token`.
    pub(super) fn slot(&mut self, token: Token) -> Option<&mut IoSlot> {
        let (index, generation) = split(token);
        self.slots
            .get_mut(index)
            .filter(|s| s.live && s.generation == generation)
    }

    /// Whether any task waits on a socket (the loop can still be woken).
    fn has_waiters(&self) -> bool {
        self.slots
            .iter()
            .any(|s| s.live && (s.read.is_some() || s.write.is_some()))
    }

    /// Whether any source is registered (the poll can return events).
    fn has_sources(&self) -> bool {
        self.free.len() < self.slots.len()
    }
}

/// The loop's state; one per loop, reached through a thread-local while it runs.
pub(super) struct Core {
    /// The tasks: their state machines and the ready queue.
    pub(super) tasks: Rc<Tasks>,
    /// Sleeps' deadlines, earliest first (the stackful loop's heap).
    pub(super) timers: RefCell<Timers<TimerEntry>>,
    /// The loop's time, real or virtual (the stackful loop's clock).
    pub(super) clock: Clock,
    /// The poller sockets register with.
    pub(super) poll: RefCell<mio::Poll>,
    /// The registered sources and their waiting tasks.
    pub(super) reactor: RefCell<Reactor>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// Calls `f` with the loop running on this thread; panics naming `what` if none.
#[track_caller]
pub(super) fn with<R>(what: &str, f: impl FnOnce(&Core) -> R) -> R {
    CURRENT.with(|c| match c.borrow().as_ref() {
        Some(core) => f(core),
        None => panic!("{what} needs a running stackless loop: call it inside stackless::run()"),
    })
}

/// The running loop, as the weak link a socket keeps.
pub(super) fn current_weak(what: &str) -> std::rc::Weak<Core> {
    CURRENT.with(|c| match c.borrow().as_ref() {
        Some(core) => Rc::downgrade(core),
        None => panic!("{what} needs a running stackless loop: call it inside stackless::run()"),
    })
}

/// A stackless event loop (the twin of [`EventLoop`](crate::EventLoop)).
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::stackless::{EventLoop, sleep};
/// let lp = EventLoop::with_virtual_clock();
/// let took = lp.run(async {
///     sleep(Duration::from_secs(3600)).await; // no real hour passes
/// });
/// assert_eq!((took, lp.time()), ((), 3600.0));
/// ```
pub struct EventLoop {
    /// The loop's state.
    core: Rc<Core>,
}

impl Default for EventLoop {
    fn default() -> Self {
        EventLoop::new()
    }
}

impl EventLoop {
    /// A loop on the real clock (or the virtual one if
    /// `YIELDFROM_VIRTUAL_CLOCK=1`, as the stackful loop's default).
    pub fn new() -> EventLoop {
        EventLoop::build(crate::env::virtual_clock())
    }

    /// A loop on the virtual clock: when nothing is ready and no socket can
    /// wake a task, time jumps to the next timer.
    pub fn with_virtual_clock() -> EventLoop {
        EventLoop::build(true)
    }

    fn build(virtual_clock: bool) -> EventLoop {
        let poll =
            mio::Poll::new().unwrap_or_else(|e| panic!("yieldfrom: cannot create a poller: {e}"));
        EventLoop {
            core: Rc::new(Core {
                tasks: Rc::default(),
                timers: RefCell::default(),
                clock: Clock::new(virtual_clock),
                poll: RefCell::new(poll),
                reactor: RefCell::default(),
            }),
        }
    }

    /// Seconds since the loop was made, by its clock (Python: `loop.time()`).
    pub fn time(&self) -> f64 {
        self.core.clock.since_start().as_secs_f64()
    }

    /// Runs `fut` as the main task until it is done and returns its output;
    /// the tasks still alive then are dropped (cancelled). Panics with a
    /// deadlock message when nothing left can wake the main task, and
    /// raises a task's panic here.
    pub fn run<T: 'static>(&self, fut: impl Future<Output = T> + 'static) -> T {
        let core = self.core.clone();
        let _running = Running::enter(&core);
        let main = spawn(fut);
        let mut events = Events::with_capacity(1024);
        loop {
            let n = core.tasks.ready_len();
            for _ in 0..n {
                core.tasks.poll_next();
            }
            if let Some(v) = main.take() {
                return v;
            }
            core.wait(&mut events);
        }
    }
}

impl Core {
    /// Waits for I/O or the next timer, then wakes what is due.
    fn wait(&self, events: &mut Events) {
        let ready = self.tasks.ready_len() > 0;
        let next = self.timers.borrow_mut().next_deadline();
        let timeout = if ready {
            Some(Duration::ZERO)
        } else {
            next.map(|at| at.saturating_duration_since(self.clock.now()))
        };
        let (waiters, sources) = {
            let reactor = self.reactor.borrow();
            (reactor.has_waiters(), reactor.has_sources())
        };
        if !ready && timeout.is_none() && !waiters {
            panic!(
                "yieldfrom: deadlock: the stackless event loop has nothing left to run, but \
                 the main task is still waiting ({} task(s) alive, no timer or socket can wake \
                 them)",
                self.tasks.live()
            );
        }
        if sources {
            self.poll_io(events, timeout);
        } else if let Some(t) = timeout {
            if self.clock.is_virtual() {
                self.clock.advance(t);
            } else {
                std::thread::sleep(t);
            }
        }
        let now = self.clock.now();
        loop {
            let due = self.timers.borrow_mut().pop_due(now);
            let Some((_, entry)) = due else { break };
            if let Some(waker) = entry.take() {
                waker.wake();
            }
        }
    }

    /// Polls for readiness and wakes each side's waiter.
    fn poll_io(&self, events: &mut Events, timeout: Option<Duration>) {
        let started = Instant::now();
        loop {
            match self.poll.borrow_mut().poll(events, timeout) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => panic!("yieldfrom: polling for I/O failed: {e}"),
            }
        }
        if self.clock.is_virtual() {
            // While real I/O is awaited, virtual time passes as real time does.
            self.clock.advance(match timeout {
                Some(t) if events.is_empty() => t,
                _ => started.elapsed(),
            });
        }
        for event in events.iter() {
            let (read, write) = {
                let mut reactor = self.reactor.borrow_mut();
                let Some(slot) = reactor.slot(event.token()) else {
                    continue; // stale: the source was closed
                };
                let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                let writable = event.is_writable() || event.is_write_closed() || event.is_error();
                (
                    readable.then(|| slot.read.take()).flatten(),
                    writable.then(|| slot.write.take()).flatten(),
                )
            };
            read.into_iter().chain(write).for_each(Waker::wake);
        }
    }
}

/// Makes a loop the running one; on the way out (return or panic) drops its
/// tasks while it still is, so their destructors find it.
struct Running {
    /// The loop that was running before, restored on the way out.
    previous: Option<Rc<Core>>,
    /// The loop made the running one.
    core: Rc<Core>,
    /// Drops the tasks while the loop is still the running one.
    _tasks: task::Entered,
}

impl Running {
    fn enter(core: &Rc<Core>) -> Running {
        Running {
            previous: CURRENT.with(|c| c.replace(Some(core.clone()))),
            core: core.clone(),
            _tasks: task::enter(&core.tasks),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.core.tasks.clear();
        drop(self.core.timers.borrow_mut().clear());
        let previous = self.previous.take();
        let _ = CURRENT.try_with(|c| c.replace(previous));
    }
}

/// Runs `fut` to completion on a new loop (the twin of [`run`](crate::run)).
///
/// ```
/// assert_eq!(yieldfrom::stackless::run(async { 6 * 7 }), 42);
/// ```
pub fn run<T: 'static>(fut: impl Future<Output = T> + 'static) -> T {
    EventLoop::new().run(fut)
}

/// Starts `fut` as a task of the running loop, polled when the loop gets to
/// it (the twin of [`spawn`](crate::spawn)). Panics outside a running loop.
///
/// ```
/// use yieldfrom::stackless::{run, spawn};
/// let sum = run(async {
///     let a = spawn(async { 20 });
///     let b = spawn(async { 22 });
///     a.await + b.await
/// });
/// assert_eq!(sum, 42);
/// ```
#[track_caller]
pub fn spawn<T: 'static>(fut: impl Future<Output = T> + 'static) -> JoinHandle<T> {
    let (boxed, handle) = task::task(fut);
    with("stackless::spawn()", |core| core.tasks.insert(boxed));
    handle
}

/// The running loop's clock, now (the twin of [`now`](crate::now)).
#[track_caller]
pub fn now() -> Instant {
    with("stackless::now()", |core| core.clock.now())
}

opaque_debug!(EventLoop);
