//! The loop's clock: real, or virtual (time moves only when the loop moves it).

use std::cell::Cell;
use std::time::{Duration, Instant};

/// A loop's clock. A virtual clock stands still until the loop advances it
/// (to the next timer when nothing else can happen, or by the time a real
/// poll took), so sleeps take no real time and a run is repeatable.
///
/// A real clock can be *held*: the time a stepper spends waiting for a key is
/// taken out of it ([`hold`](Clock::hold)), so the program's own timings
/// (a 1 s sleep, a 2 s total) read as they would without the stepper.
#[derive(Debug)]
pub(crate) struct Clock {
    /// Whether time moves only when the loop moves it.
    virtual_clock: bool,
    /// The virtual time now (unused by a real clock).
    now: Cell<Instant>,
    /// When the loop was made: `time()` counts from here.
    start: Instant,
    /// Real time taken out of a real clock (see `hold`).
    held: Cell<Duration>,
}

impl Clock {
    /// A clock starting now; virtual if `virtual_clock`.
    pub(crate) fn new(virtual_clock: bool) -> Clock {
        // The epoch the switch's deadlines count from comes first.
        let _ = crate::reason::epoch();
        let now = Instant::now();
        Clock {
            virtual_clock,
            now: Cell::new(now),
            start: now,
            held: Cell::new(Duration::ZERO),
        }
    }

    /// The time now (a real clock reads the system's: about 20 ns).
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        if self.virtual_clock {
            self.now.get()
        } else {
            // `held` never exceeds the real time since `start`, so this
            // cannot go below `start`.
            Instant::now()
                .checked_sub(self.held.get())
                .unwrap_or(self.start)
        }
    }

    /// When the clock started (the loop was made).
    pub(crate) fn start(&self) -> Instant {
        self.start
    }

    /// Time since the clock started.
    pub(crate) fn since_start(&self) -> Duration {
        self.now().saturating_duration_since(self.start)
    }

    /// Whether the clock is virtual.
    pub(crate) fn is_virtual(&self) -> bool {
        self.virtual_clock
    }

    /// Takes `by` of real time out of a real clock: the clock reads as if
    /// that time had not passed (a virtual clock did not move anyway).
    pub(crate) fn hold(&self, by: Duration) {
        if !self.virtual_clock {
            self.held.set(self.held.get() + by);
        }
    }

    /// Moves a virtual clock `by` forward (a real clock moves by itself).
    pub(crate) fn advance(&self, by: Duration) {
        if self.virtual_clock {
            self.now.set(self.now.get() + by);
        }
    }
}
