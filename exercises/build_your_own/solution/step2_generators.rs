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
    let mut queue: VecDeque<Task> = tasks.into();
    let mut resumes = 0;
    while let Some(task) = queue.pop_front() {
        resumes += 1;
        match task.send(()).expect("a task does not fail") {
            GeneratorState::Yielded(()) => queue.push_back(task),
            GeneratorState::Complete(()) => {}
        }
    }
    resumes
}
