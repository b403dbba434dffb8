//! Step 3 — trampolining, and why `yield from` was added.
//!
//! A generator can only pause *itself*: a plain function it calls cannot
//! yield on its behalf. So a task that wants a subroutine that pauses must
//! make the subroutine a generator too and ask the scheduler to run it:
//! it yields `Op::Call(sub)`, the scheduler pushes `sub` on the task's own
//! stack of generators and runs it until it returns, then sends the
//! return value back to the caller. That bookkeeping — the trampoline — is
//! what PEP 380's `yield from` moved into the language, and what a
//! stackful coroutine (step 5) makes unnecessary.

use std::collections::VecDeque;
use yieldfrom::{Generator, GeneratorState};

/// What a generator asks of the scheduler.
pub enum Op {
    /// Pause: let the other tasks run.
    Pause,
    /// Run this sub-generator to its end and send me what it returns.
    Call(Gen),
}

/// A generator of this scheduler: yields `Op`s, is sent `u64`s, returns one.
pub type Gen = Generator<Op, u64, u64>;

/// A task: its stack of generators, the innermost last, and the value to
/// send it on its next resume.
pub struct Task {
    pub stack: Vec<Gen>,
    pub send: u64,
}

/// Resumes a task's innermost generator once and follows what it says:
/// `Pause` ends the turn; `Call` pushes the sub-generator (and runs it on
/// at once); a return pops the generator and sends the value to its caller.
/// Returns `Some(value)` when the task's outermost generator returned.
pub fn step(task: &mut Task) -> Option<u64> {
    loop {
        let top = task.stack.last().expect("a live task has a generator");
        match top.send(task.send).expect("no generator fails here") {
            GeneratorState::Yielded(Op::Pause) => {
                task.send = 0;
                return None;
            }
            GeneratorState::Yielded(Op::Call(sub)) => {
                task.stack.push(sub);
                task.send = 0;
            }
            GeneratorState::Complete(value) => {
                task.stack.pop();
                if task.stack.is_empty() {
                    return Some(value);
                }
                task.send = value;
            }
        }
    }
}

/// Runs the tasks round robin until each returns; their results in order.
pub fn run_all(mains: Vec<Gen>) -> Vec<u64> {
    let mut results = vec![0; mains.len()];
    let mut queue: VecDeque<(usize, Task)> = mains
        .into_iter()
        .enumerate()
        .map(|(i, g)| {
            (
                i,
                Task {
                    stack: vec![g],
                    send: 0,
                },
            )
        })
        .collect();
    while let Some((i, mut task)) = queue.pop_front() {
        match step(&mut task) {
            Some(value) => results[i] = value,
            None => queue.push_back((i, task)),
        }
    }
    results
}
