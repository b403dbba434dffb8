//! The blocking detector (asyncio's slow-callback warning), at almost no cost
//! per step.
//!
//! Reading a clock around every task step costs about 10 ns — a fifth of a
//! task switch. Instead, each loop publishes two relaxed atomics: whether a
//! step is running, and how many steps have run. One watchdog thread for the
//! whole process looks at every loop every few milliseconds; when it sees the
//! same step running for longer than the loop's threshold, it flags the loop
//! with the instant it first saw that step. When the step ends, the loop
//! finds the flag and prints the warning with the measured time (accurate to
//! the watchdog's period, a tenth of the threshold).
//!
//! ```text
//!  loop thread:   step 41 ──────────── step 42 (blocks 2 s) ───────────── step 43
//!  in_step/steps:  1/41                 1/42 ...................... 0/42
//!  watchdog:        tick  tick  tick (42 seen at t0) tick ... tick (now - t0 ≥ 100 ms: flag t0)
//!  loop after 42:                                                  flag set → warn "blocked for ~2.00 s"
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// One loop's published state.
pub(crate) struct Watch {
    in_step: AtomicBool,
    steps: AtomicU64,
    /// Nanoseconds since `EPOCH` when the watchdog first saw the blocking step; 0 = none.
    flagged: AtomicU64,
    threshold: Duration,
}

struct Watched {
    watch: Weak<Watch>,
    last_steps: u64,
    seen_at: Option<Instant>,
}

static EPOCH: OnceLock<Instant> = OnceLock::new();
static WATCHED: Mutex<Vec<Watched>> = Mutex::new(Vec::new());
static STARTED: OnceLock<()> = OnceLock::new();

fn epoch() -> Instant {
    *EPOCH.get_or_init(Instant::now)
}

impl Watch {
    /// Registers a loop with the watchdog (started on first use).
    pub(crate) fn new(threshold: Duration) -> Arc<Watch> {
        let watch = Arc::new(Watch {
            in_step: AtomicBool::new(false),
            steps: AtomicU64::new(0),
            flagged: AtomicU64::new(0),
            threshold,
        });
        epoch();
        WATCHED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Watched {
                watch: Arc::downgrade(&watch),
                last_steps: 0,
                seen_at: None,
            });
        STARTED.get_or_init(|| {
            std::thread::Builder::new()
                .name("yieldfrom-watchdog".into())
                .spawn(watchdog)
                .expect("spawning the watchdog thread");
        });
        watch
    }

    /// Called by the loop before a step.
    #[inline]
    pub(crate) fn enter_step(&self) {
        self.in_step.store(true, Relaxed);
    }

    /// Called by the loop after a step: how long it blocked, if the watchdog flagged it.
    #[inline]
    pub(crate) fn leave_step(&self, steps: u64) -> Option<Duration> {
        self.steps.store(steps, Relaxed);
        self.in_step.store(false, Relaxed);
        match self.flagged.load(Relaxed) {
            0 => None,
            since => Some(self.take_flag(since)),
        }
    }

    #[cold]
    fn take_flag(&self, since: u64) -> Duration {
        self.flagged.store(0, Relaxed);
        epoch()
            .elapsed()
            .saturating_sub(Duration::from_nanos(since))
    }
}

fn watchdog() {
    loop {
        let period = {
            let mut watched = WATCHED.lock().unwrap_or_else(|e| e.into_inner());
            watched.retain(|w| w.watch.strong_count() > 0);
            let now = Instant::now();
            let mut period = Duration::from_millis(50);
            for w in watched.iter_mut() {
                let Some(watch) = w.watch.upgrade() else {
                    continue;
                };
                period = period.min(watch.threshold / 10);
                let steps = watch.steps.load(Relaxed);
                if !watch.in_step.load(Relaxed) || steps != w.last_steps {
                    w.last_steps = steps;
                    w.seen_at = watch.in_step.load(Relaxed).then_some(now);
                    continue;
                }
                let seen = *w.seen_at.get_or_insert(now);
                if now - seen >= watch.threshold && watch.flagged.load(Relaxed) == 0 {
                    let since = seen.duration_since(epoch()).as_nanos().max(1) as u64;
                    watch.flagged.store(since, Relaxed);
                }
            }
            period.max(Duration::from_millis(1))
        };
        std::thread::sleep(period);
    }
}
