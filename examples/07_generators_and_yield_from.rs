//! 07 — Under the hood, `await` is `yield from`: generators, delegation, and a
//! ten-line scheduler built from them.
//!
//! Python's coroutines are generators: `await x` is `yield from
//! x.__await__()`. This example shows the generator model step by step, then
//! drives three "tasks" written as generators with a tiny round-robin loop —
//! the essence of an event loop.
//!
//! Expected output:
//! ```text
//! a generator is lazy: created, nothing printed
//!   body: started
//! next() -> 1
//! send(10) -> body got 10, yields 11
//! delegation: outer yields from inner
//!   inner yields a
//!   inner yields b
//!   outer got inner's return value: "inner done"
//! throw: the body catches "oops" and yields "recovered"
//! close: the body's cleanup runs
//!   cleanup ran
//! a scheduler of generators (each yield = "I pause here"):
//!   A step 0
//!   B step 0
//!   C step 0
//!   A step 1
//!   B step 1
//!   A step 2
//!   all tasks finished
//! ```

use std::collections::VecDeque;
use yieldfrom::{Co, GenError, Generator, GeneratorState::*};

struct Cleanup;
impl Drop for Cleanup {
    fn drop(&mut self) {
        println!("  cleanup ran");
    }
}

/// A "task" for the mini scheduler: does `steps` steps, pausing after each.
fn worker(name: &'static str, steps: u32) -> Generator<()> {
    Generator::named(name, move |co| {
        for i in 0..steps {
            println!("  {name} step {i}");
            co.yield_(())?; // pause: give the scheduler back control
        }
        Ok(())
    })
}

pub fn main() -> Result<(), GenError> {
    let g = Generator::new(|co: &Co<i32, i32>| {
        println!("  body: started");
        let got = co.yield_(1)?;
        print!("body got {got}, ");
        co.yield_(got + 1)?;
        Ok(())
    });
    println!("a generator is lazy: created, nothing printed");
    if let Yielded(v) = g.start()? {
        println!("next() -> {v}");
    }
    print!("send(10) -> ");
    if let Yielded(v) = g.send(10)? {
        println!("yields {v}");
    }

    println!("delegation: outer yields from inner");
    let inner = Generator::new(|co: &Co<&str, ()>| {
        co.yield_("a")?;
        co.yield_("b")?;
        Ok("inner done")
    });
    let outer = Generator::new(move |co: &Co<&str, ()>| {
        let r = co.yield_from(inner)?;
        println!("  outer got inner's return value: {r:?}");
        Ok(())
    });
    for v in outer {
        println!("  inner yields {v}");
    }

    let g = Generator::new(|co: &Co<&str, ()>| {
        let _cleanup = Cleanup;
        match co.yield_("ready") {
            Err(e) if e.to_string() == "oops" => co.yield_("recovered")?,
            other => other?,
        }
        co.yield_("never")?;
        Ok(())
    });
    g.start()?;
    if let Yielded(v) = g.throw(GenError::msg("oops"))? {
        println!("throw: the body catches \"oops\" and yields {v:?}");
    }
    println!("close: the body's cleanup runs");
    g.close()?;

    println!("a scheduler of generators (each yield = \"I pause here\"):");
    let mut ready: VecDeque<Generator<()>> =
        VecDeque::from([worker("A", 3), worker("B", 2), worker("C", 1)]);
    while let Some(task) = ready.pop_front() {
        match task.send(())? {
            Yielded(()) => ready.push_back(task), // paused: back of the queue
            Complete(()) => {}                    // finished
        }
    }
    println!("  all tasks finished");
    Ok(())
}
