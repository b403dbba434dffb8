//! The blocking detector (asyncio's slow-callback warning), at almost no cost
//! per step.
//!
//! Reading a clock around every task step would cost a good part of a task
//! switch. Instead, each loop publishes, with relaxed atomics, the number
//! of the step it is running and whether it is in a step. One watchdog thread
//! for the whole process looks at every loop every few milliseconds and, the
//! first time it sees a step in progress, records that step's number and the
//! instant it saw it. When that step ends, the loop (and only then: a rare
//! event for the short steps of a healthy program) reads the clock: if the
//! step has run longer than the threshold since the watchdog saw it, it warns.
//! The measure is accurate to the watchdog's period, a tenth of the threshold,
//! and one sighting is enough, so a watchdog starved of CPU still catches a
//! blocking step.
//!
//! ```text
//!  loop thread:   step 41 ─── step 42 (blocks 2 s) ──────────────── step 43
//!  published:      41/in      42/in ........................... 42/out
//!  watchdog:        tick  tick (42 in progress: seen at t0)  tick ...
//!  loop after 42:                                   seen 42 → now - t0 = 2 s ≥ 100 ms → warn
//! ```

use std::sync::atomic::{
    AtomicBool, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// One loop's published state.
pub(crate) struct Watch {
    /// Whether a step is running now (the watchdog looks only then).
    in_step: AtomicBool,
    /// The number of the step running (or last run).
    step: AtomicU64,
    /// The step the watchdog last saw in progress.
    seen_step: AtomicU64,
    /// When it first saw that step (ns since `EPOCH`): a step seen again
    /// past the threshold is blocking.
    seen_at: AtomicU64,
    /// A step longer than this is reported.
    threshold: Duration,
}

struct Watched {
    /// The loop's state, dropped when the loop goes (the watchdog forgets it).
    watch: Weak<Watch>,
}

static EPOCH: OnceLock<Instant> = OnceLock::new();
static WATCHED: Mutex<Vec<Watched>> = Mutex::new(Vec::new());
/// The watchdog thread, to wake it when a loop registers.
static THREAD: OnceLock<std::thread::Thread> = OnceLock::new();

fn epoch() -> Instant {
    *EPOCH.get_or_init(Instant::now)
}

impl Watch {
    /// Registers a loop with the watchdog (started on first use).
    pub(crate) fn new(threshold: Duration) -> Arc<Watch> {
        let watch = Arc::new(Watch {
            in_step: AtomicBool::new(false),
            step: AtomicU64::new(0),
            seen_step: AtomicU64::new(0),
            seen_at: AtomicU64::new(0),
            threshold,
        });
        epoch();
        WATCHED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Watched {
                watch: Arc::downgrade(&watch),
            });
        let thread = THREAD.get_or_init(|| {
            std::thread::Builder::new()
                .name("yieldfrom-watchdog".into())
                .spawn(watchdog)
                .expect("spawning the watchdog thread")
                .thread()
                .clone()
        });
        // Wake it: it may be sleeping a period chosen before this loop existed,
        // and a late first sighting would under-measure a blocking step.
        thread.unpark();
        watch
    }

    /// Called by the loop before step number `n` (numbers start at 1).
    #[inline]
    pub(crate) fn enter_step(&self, n: u64) {
        self.step.store(n, Relaxed);
        self.in_step.store(true, Release);
    }

    /// Called by the loop after step `n`: how long it blocked, if it ran
    /// longer than the threshold.
    #[inline]
    pub(crate) fn leave_step(&self, n: u64) -> Option<Duration> {
        self.in_step.store(false, Relaxed);
        if self.seen_step.load(Acquire) != n {
            return None; // the watchdog never saw this step running: it was short
        }
        self.measure()
    }

    /// Stops the step in progress from counting as blocking: called when a
    /// panic reaches a task's root, since the panic hook (which may print a
    /// whole backtrace under `RUST_BACKTRACE=1`) ran inside the step.
    #[cold]
    pub(crate) fn discount_step(&self) {
        self.seen_step.store(0, Relaxed);
    }

    #[cold]
    fn measure(&self) -> Option<Duration> {
        let seen = Duration::from_nanos(self.seen_at.load(Relaxed));
        let took = epoch().elapsed().saturating_sub(seen);
        (took >= self.threshold).then_some(took)
    }
}

fn watchdog() {
    loop {
        let period = {
            let mut watched = WATCHED.lock().unwrap_or_else(|e| e.into_inner());
            watched.retain(|w| w.watch.strong_count() > 0);
            let mut period = Duration::from_millis(50);
            for w in watched.iter() {
                let Some(watch) = w.watch.upgrade() else {
                    continue;
                };
                period = period.min(watch.threshold / 10);
                if !watch.in_step.load(Acquire) {
                    continue;
                }
                let step = watch.step.load(Relaxed);
                if watch.seen_step.load(Relaxed) != step {
                    // First sighting of this step in progress: remember when.
                    let now = epoch().elapsed().as_nanos() as u64;
                    watch.seen_at.store(now, Relaxed);
                    watch.seen_step.store(step, Release);
                }
            }
            period.max(Duration::from_millis(1))
        };
        std::thread::park_timeout(period);
    }
}
