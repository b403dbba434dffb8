//! STARTER — fill in the `todo!()`s, then run
//! `YIELDFROM_LEARNER=1 cargo test --test build_your_own`.
//!
//! Step 2 — generators driven by a ten-line scheduler.
//!
//! A generator pauses at each `yield` and resumes where it left off, so a
//! task can be written as straight-line code instead of a chain of
//! callbacks: each `yield` means "I pause here, run someone else". The
//! scheduler is a queue of generators, resumed in turn (Beazley's pyos).

use std::collections::VecDeque;
use yieldfrom::{Generator, GeneratorState};

/// A task: a generator that yields `()` to pause and returns when done.
pub type Task = Generator<(), (), ()>;

/// Runs every task to its end, round robin: resume the first, and if it
/// paused, put it at the back. Returns how many resumes it took.
pub fn run_all(tasks: Vec<Task>) -> usize {
    todo!(
        "step 2: keep the tasks in a VecDeque; send () to the first; if it Yielded, push it to the back; count the resumes"
    )
}
