//! Step 5 — the stackful switch makes the trampoline unnecessary.
//!
//! yieldfrom's generators are *stackful*: each has a stack of its own, and
//! pausing switches stacks. So a plain function called from the body, at
//! any depth, can pause the whole generator — it only needs the `Co`
//! handle (yieldfrom's tasks hide even that: `sleep()` finds the running
//! task itself). Step 3's `Op::Call` and the scheduler's stack of
//! generators disappear: the task's call stack *is* that stack.

use std::collections::VecDeque;
use yieldfrom::{Co, GenError, Generator, GeneratorState};

/// A task: pauses by yielding `()`, returns a `u64`.
pub type Task = Generator<(), (), u64>;

/// A plain function (not a generator) that pauses twice, then returns 42:
/// what step 3 needed a sub-generator and a trampoline for.
pub fn fetch(co: &Co<(), ()>) -> Result<u64, GenError> {
    co.yield_(())?;
    co.yield_(())?;
    Ok(42)
}

/// Runs the tasks round robin (step 2's scheduler, now with results).
pub fn run_all(tasks: Vec<Task>) -> Vec<u64> {
    let mut results = vec![0; tasks.len()];
    let mut queue: VecDeque<(usize, Task)> = tasks.into_iter().enumerate().collect();
    while let Some((i, task)) = queue.pop_front() {
        match task.send(()).expect("no task fails here") {
            GeneratorState::Yielded(()) => queue.push_back((i, task)),
            GeneratorState::Complete(value) => results[i] = value,
        }
    }
    results
}
