//! 09 — CPU-bound work blocks the loop; `to_thread` moves it off the loop.
//!
//! Async is concurrency, not parallelism: a loop on one thread cannot run a
//! heavy computation and serve other tasks at the same time. Python's answer
//! is `asyncio.to_thread` (or a process pool); ours is `to_thread`.
//!
//! A heartbeat task ticks every 10 ms. First the computation runs in a task
//! (the heartbeat stops); then it runs in `to_thread` (the heartbeat goes on).
//!
//! Expected output (the tick count in the second part varies with the machine):
//! ```text
//! computing in the task itself:
//!   result 1754
//!   heartbeats while computing: 0 (the loop was blocked)
//! computing in to_thread:
//!   result 1754
//!   heartbeats while computing: 17 (the loop stayed free)
//! ```

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use yieldfrom::{Builder, Coro, sleep, spawn, to_thread};

/// A deliberately slow computation: primes below `limit`, by trial division.
fn count_primes(limit: u64) -> usize {
    (2..limit).filter(|n| (2..*n).all(|d| n % d != 0)).count()
}

fn heartbeat(beats: Rc<Cell<u32>>) -> Coro<()> {
    Coro::new("heartbeat", move || {
        loop {
            sleep(Duration::from_millis(10));
            beats.set(beats.get() + 1);
        }
    })
}

pub fn main() {
    // This example shows slowness on purpose: no warning for it.
    let quiet = || {
        // The real clock, whatever `YIELDFROM_VIRTUAL_CLOCK` says: the
        // computation takes real time, and the timelines show it.
        Builder::default()
            .virtual_clock(false)
            .slow_task_threshold(Duration::from_secs(3600))
            .build()
    };
    println!("computing in the task itself:");
    quiet().run(Coro::new("main", || {
        let beats = Rc::new(Cell::new(0));
        spawn(heartbeat(beats.clone()));
        let result = count_primes(15_000);
        println!("  result {result}");
        println!(
            "  heartbeats while computing: {} (the loop was blocked)",
            beats.get()
        );
    }));
    println!("computing in to_thread:");
    quiet().run(Coro::new("main", || {
        let beats = Rc::new(Cell::new(0));
        spawn(heartbeat(beats.clone()));
        let result = to_thread(|| count_primes(15_000));
        println!("  result {result}");
        println!(
            "  heartbeats while computing: {} (the loop stayed free)",
            beats.get()
        );
    }));
}
