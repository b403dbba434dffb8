//! Debugging tools: the stepper and the schedule explorer.
//!
//! **The stepper** (`YIELDFROM_STEP=1`) pauses after every scheduling step and
//! prints what just ran and why it stopped, the ready queue, the timers, and
//! the tasks waiting — then waits for a key: Enter steps, `c` runs on without
//! pausing, `q` quits. It is an [`Instrument`](crate::trace::Instrument), so it sees exactly what the
//! loop decides. While it waits for a key the loop's clock stands still
//! (a real clock is held; a virtual one does not move anyway), so a program
//! stepped through reads the same times as one run straight through; a
//! timer whose time passed while the loop was busy shows as
//! `(overdue by …)`.
//!
//! ```text
//! ── step 1 · 0.000 s ───────────────────────────────
//! ran      task 'greet' (#1) → paused on sleep
//! woken    spawned (its first step)
//! ready    (empty)
//! timers   2.000 s: wake task 'greet' (#1)
//! waiting  task 'greet' (#1) on sleep
//! [Enter] step · [c] continue · [q] quit
//! ```
//!
//! **The explorer** ([`explore`]) runs a program under many schedules: the
//! virtual clock plus a seed that picks among ready tasks in a reproducible
//! random order. The first seed whose run fails comes back with its trace,
//! so a race that FIFO order hides can be found and replayed.

use crate::coro::Coro;
use crate::event_loop::EventLoop;
use crate::task::future::panic_message;
use crate::trace::Recorder;
pub use crate::trace::Snapshot;
pub use crate::trace::stepper::Stepper;

/// The first failing schedule found by [`explore`].
#[derive(Clone, Debug)]
pub struct Failure {
    /// The seed that replays it (`Builder::seed`).
    pub seed: u64,
    /// What the failing run panicked with.
    pub message: String,
    /// The run's event log (the interleaving).
    pub trace: String,
}

/// Runs `program` once per seed, each on a fresh loop with the virtual clock
/// and that seed, and returns how many runs passed — or the first failure
/// (a panic, such as a failed assertion) with its seed and trace.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use yieldfrom::{Coro, combinators::gather, yield_now, debug::explore};
///
/// // Two tasks increment a counter with a pause between read and write.
/// let racy = || Coro::new("main", || {
///     let n = Rc::new(Cell::new(0));
///     gather((0..2).map(|_| { let n = n.clone(); Coro::new("inc", move || {
///         let v = n.get(); yield_now(); n.set(v + 1);
///     })}));
///     assert_eq!(n.get(), 2, "lost update");
/// });
/// let failure = explore(0..20, racy).unwrap_err();
/// assert!(failure.message.contains("lost update"));
/// ```
pub fn explore<T: 'static>(
    seeds: impl IntoIterator<Item = u64>,
    program: impl Fn() -> Coro<T>,
) -> Result<usize, Failure> {
    let hook = std::panic::take_hook();
    // The failures are expected: keep their messages out of the output.
    std::panic::set_hook(Box::new(|_| {}));
    let mut passed = 0;
    let mut failure = None;
    for seed in seeds {
        let rec = Recorder::new();
        let lp = EventLoop::builder()
            .virtual_clock(true)
            .seed(seed)
            .instrument(rec.clone())
            .ignore_env_instruments()
            .build();
        let coro = program();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run(coro))) {
            Ok(_) => passed += 1,
            Err(p) => {
                failure = Some(Failure {
                    seed,
                    message: panic_message(p.as_ref()),
                    trace: rec.log(),
                });
                break;
            }
        }
    }
    std::panic::set_hook(hook);
    match failure {
        Some(f) => Err(f),
        None => Ok(passed),
    }
}

opaque_debug!(Stepper);
