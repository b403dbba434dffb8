//! [`Builder`]: a loop's settings, from code and from the environment.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use mio::{Events, Poll};

use super::clock::Clock;
use super::state::{Config, Core, TaskTable};
use super::workers::{Threads, WAKER};
use crate::event_loop::reactor::Reactor;
use crate::event_loop::timer::Timers;
use crate::stack::StackMode;
use crate::task::HomeRef;
use crate::trace::stepper::Stepper;
use crate::trace::{Instrument, Output, Recorder};
use crate::watchdog::Watch;

/// Configures an [`EventLoop`](crate::EventLoop) before it is built.
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
    /// The settings being chosen.
    config: Config,
    /// Instruments to install in the loop.
    instruments: Vec<Box<dyn Instrument>>,
    /// Whether `YIELDFROM_TRACE` and `YIELDFROM_STEP` may add instruments.
    from_env: bool,
    /// Whether the program prints this loop's timeline itself.
    own_timeline: bool,
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
            own_timeline: false,
            config: Config {
                seed: None,
                virtual_clock: crate::env::virtual_clock(),
                event_interval: 61,
                slow_task: Duration::from_millis(100),
                stack_size: 0,
                stack_mode: crate::env::stack_mode([
                    StackMode::Auto,
                    StackMode::Dedicated,
                    StackMode::Shared,
                ])
                .unwrap_or_default(),
                max_workers: None,
            },
        }
    }
}

impl Builder {
    /// The most worker threads [`to_thread`](crate::to_thread) runs jobs on
    /// at once (Python's `ThreadPoolExecutor(max_workers=n)`); more jobs
    /// queue. Default: `min(32, cores + 4)`, Python's. Rust threads run in
    /// parallel (no GIL), so for CPU-bound jobs the number of cores is the
    /// setting that gives the most speed-up: this pool is the counterpart of
    /// Python's `ProcessPoolExecutor`.
    ///
    /// ```
    /// use yieldfrom::{EventLoop, Coro, to_thread};
    /// let lp = EventLoop::builder().max_workers(2).build();
    /// let sum = lp.run(Coro::new("main", || to_thread(|| (1..=10u64).sum::<u64>())));
    /// assert_eq!(sum, 55);
    /// ```
    pub fn max_workers(mut self, n: usize) -> Builder {
        self.config.max_workers = Some(n.max(1));
        self
    }

    /// Uses the virtual clock: when nothing is ready and nothing can arrive
    /// from I/O, time jumps to the next timer, so sleeps take no real time and
    /// the order of events is the same on every run. Default: off, unless
    /// `YIELDFROM_VIRTUAL_CLOCK=1`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::{EventLoop, Coro, sleep};
    /// let lp = EventLoop::builder().virtual_clock(true).build();
    /// let started = std::time::Instant::now();
    /// lp.run_until_complete(Coro::new("nap", || sleep(Duration::from_secs(3600))));
    /// assert_eq!(lp.time(), 3600.0); // an hour of loop time,
    /// assert!(started.elapsed() < Duration::from_secs(3600)); // not of ours
    /// ```
    pub fn virtual_clock(mut self, on: bool) -> Builder {
        self.config.virtual_clock = on;
        self
    }

    /// Polls I/O at least every `steps` task steps while tasks stay ready
    /// (tokio's `event_interval`; default 61).
    ///
    /// ```
    /// use yieldfrom::{EventLoop, Coro, yield_now};
    /// // Poll I/O after every 8 steps of busy tasks (fairer to sockets, more
    /// // system calls).
    /// let lp = EventLoop::builder().event_interval(8).build();
    /// lp.run_until_complete(Coro::new("busy", || for _ in 0..100 { yield_now() }));
    /// ```
    pub fn event_interval(mut self, steps: usize) -> Builder {
        self.config.event_interval = steps.max(1);
        self
    }

    /// Warns when a task runs this long without suspending (default 100 ms;
    /// asyncio's `slow_callback_duration`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::{EventLoop, Coro, warnings};
    /// let lp = EventLoop::builder().slow_task_threshold(Duration::from_millis(10)).build();
    /// let ((), said) = warnings::catch(|| {
    ///     lp.run_until_complete(Coro::new("hog", || std::thread::sleep(Duration::from_millis(50))))
    /// });
    /// assert!(said[0].contains("task 'hog' blocked the event loop"));
    /// ```
    pub fn slow_task_threshold(mut self, threshold: Duration) -> Builder {
        self.config.slow_task = threshold;
        self
    }

    /// Stack size for the loop's tasks (default: the pool's, see [`crate::stack`]).
    ///
    /// A size above [`MAX_STACK_SIZE`](crate::stack::MAX_STACK_SIZE) makes
    /// [`try_build`](Self::try_build) fail (and [`build`](Self::build) panic)
    /// with a message saying so.
    ///
    /// ```
    /// use yieldfrom::{EventLoop, Coro};
    /// let lp = EventLoop::builder().stack_size(256 * 1024).build();
    /// assert_eq!(lp.run_until_complete(Coro::new("deep", || [0u8; 100_000].len())), 100_000);
    /// // Too large a stack is refused when the loop is built.
    /// assert!(EventLoop::builder().stack_size(usize::MAX / 2).try_build().is_err());
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.config.stack_size = bytes;
        self
    }

    /// How the loop's tasks get their stacks (default
    /// [`StackMode::Auto`](crate::stack::StackMode::Auto): a stack of their
    /// own while the guard budget lasts, a shared one after it; or
    /// `YIELDFROM_STACK_MODE=auto|dedicated|shared`).
    ///
    /// ```
    /// use yieldfrom::{EventLoop, Coro, spawn, yield_now, combinators::gather};
    /// use yieldfrom::stack::StackMode;
    /// // Every task on one of a few shared stacks: its frames are copied aside
    /// // while the others run (small resident memory per parked task).
    /// let lp = EventLoop::builder().stack_mode(StackMode::Shared).build();
    /// let sum: u32 = lp.run_until_complete(Coro::new("main", || {
    ///     gather((1..=4u32).map(|i| Coro::new("part", move || { yield_now(); i })))
    ///         .into_iter()
    ///         .sum()
    /// }));
    /// assert_eq!(sum, 10);
    /// ```
    pub fn stack_mode(mut self, mode: crate::stack::StackMode) -> Builder {
        self.config.stack_mode = mode;
        self
    }

    /// Deterministic mode: among the entries ready in an iteration, run them
    /// in an order drawn from `seed` instead of FIFO. With the virtual clock,
    /// the same program and seed give the same trace, byte for byte; other
    /// seeds explore other interleavings (see [`crate::debug::explore`]).
    ///
    /// ```
    /// use yieldfrom::{EventLoop, Coro, spawn, yield_now, combinators::gather};
    /// fn order(seed: u64) -> Vec<u32> {
    ///     let lp = EventLoop::builder().virtual_clock(true).seed(seed).build();
    ///     lp.run(Coro::new("main", || gather((0..6u32).map(|i| Coro::new("t", move || i)))))
    /// }
    /// // The same seed gives the same schedule.
    /// assert_eq!(order(1), order(1));
    /// ```
    pub fn seed(mut self, seed: u64) -> Builder {
        self.config.seed = Some(seed);
        self
    }

    /// Installs an [`Instrument`](Instrument) (a tracer, a
    /// stepper, a tool of your own); it sees every scheduling decision.
    ///
    /// ```
    /// use yieldfrom::{EventLoop, Coro, trace::Recorder};
    /// let rec = Recorder::new();
    /// let lp = EventLoop::builder().instrument(rec.clone()).build();
    /// lp.run_until_complete(Coro::new("main", || {}));
    /// assert!(!rec.events().is_empty());
    /// ```
    pub fn instrument(mut self, instrument: impl Instrument + 'static) -> Builder {
        self.instruments.push(Box::new(instrument));
        self
    }

    /// Ignores `YIELDFROM_TRACE` and `YIELDFROM_STEP` for this loop (for tools
    /// that run many loops and record them themselves, such as `explore`).
    ///
    /// ```
    /// use yieldfrom::{EventLoop, Coro};
    /// // Whatever YIELDFROM_TRACE says, this loop is not traced.
    /// let lp = EventLoop::builder().ignore_env_instruments().build();
    /// lp.run_until_complete(Coro::new("quiet", || {}));
    /// ```
    pub fn ignore_env_instruments(mut self) -> Builder {
        self.from_env = false;
        self
    }

    /// Says that the program prints this loop's timeline itself (from a
    /// [`Recorder`](crate::trace::Recorder) of its own), so
    /// `YIELDFROM_TRACE=timeline` does not print it a second time; the other
    /// trace outputs and `YIELDFROM_STEP` still apply.
    ///
    /// ```
    /// use yieldfrom::{EventLoop, Coro, trace::Recorder};
    /// let rec = Recorder::new();
    /// let lp = EventLoop::builder().instrument(rec.clone()).own_timeline().build();
    /// lp.run_until_complete(Coro::new("main", || {}));
    /// let picture = rec.timeline(60); // printed by the program itself
    /// assert!(picture.contains("main"));
    /// ```
    pub fn own_timeline(mut self) -> Builder {
        self.own_timeline = true;
        self
    }

    /// The loop's state, or why the poller could not be created (see
    /// [`try_build`](Self::try_build)).
    pub(super) fn into_core(self) -> io::Result<Rc<Core>> {
        if self.config.stack_size != 0 {
            crate::stack::round_size(self.config.stack_size)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        }
        let poll = Poll::new()?;
        let watch = Watch::new(self.config.slow_task);
        let rng = self
            .config
            .seed
            .map_or(0, |s| s.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut instruments = self.instruments;
        let from_env = self.from_env;
        let own_timeline = self.own_timeline;
        let trace_output = Output::from_env()
            .filter(|out| from_env && !(own_timeline && *out == Output::Timeline))
            .map(|out| {
                let rec = if out == Output::Explore {
                    Recorder::for_explorer()
                } else {
                    Recorder::new()
                };
                instruments.push(Box::new(rec.clone()));
                (out, rec)
            });
        if from_env && crate::env::step() {
            instruments.push(Box::new(Stepper::from_terminal()));
        }
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
        let core = Rc::new_cyclic(|me: &std::rc::Weak<Core>| Core {
            home: HomeRef::new(me.clone()),
            ready: RefCell::new(VecDeque::new()),
            timers: RefCell::new(Timers::default()),
            clock: Clock::new(self.config.virtual_clock),
            tasks: RefCell::new(TaskTable::default()),
            poll: RefCell::new(poll),
            events: RefCell::new(Events::with_capacity(1024)),
            threads: Threads::new(waker, self.config.max_workers),
            io_sources: Cell::new(0),
            reactor: Reactor::default(),
            config: self.config,
            steps_since_poll: Cell::new(0),
            instrumented: Cell::new(!instruments.is_empty()),
            instruments: RefCell::new(instruments),
            trace_output,
            rng: Cell::new(rng),
            next_id: Cell::new(1),
            steps: Cell::new(0),
            watch,
            calling: Cell::new(None),
            stopping: Cell::new(false),
            running: Cell::new(false),
            closed: Cell::new(false),
            exception_handler: RefCell::new(None),
        });
        let start = core.clock.start();
        core.instrument(|i, _| i.clock_started(start));
        Ok(core)
    }
}
