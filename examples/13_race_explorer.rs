//! 13 — A race that FIFO order hides, found by exploring schedules.
//!
//! Two tasks add to a shared counter with a pause between reading and
//! writing it (`v = counter; await ...; counter = v + 1`). Whether an update
//! is lost depends on the order the loop runs ready tasks in. In FIFO order
//! this program happens to pass. `explore` re-runs it under seeded random
//! orders (virtual clock, reproducible) and reports the first seed that loses
//! an update, with the interleaving; replaying that seed fails the same way.
//! The version with a `Lock` around the read-modify-write passes every seed.
//!
//! Expected output:
//! ```text
//! FIFO order: counter = 2 (looks fine)
//! exploring 100 schedules without a lock ...
//!   seed 1 loses an update: counter = 1, expected 2
//!   the interleaving:
//!     task #2 'adder' runs
//!     task #2 'adder' paused on yield_now
//!     task #2 'adder' woken: its turn came round
//!     task #3 'adder' runs
//!     task #3 'adder' paused on yield_now
//!     task #3 'adder' woken: its turn came round
//!     task #3 'adder' runs
//!     task #3 'adder' paused on yield_now
//!     task #3 'adder' woken: its turn came round
//!     task #2 'adder' runs
//!     task #2 'adder' done: returned
//!     task #3 'adder' runs
//!     task #3 'adder' done: returned
//! exploring 100 schedules with a Lock ...
//!   all 100 schedules keep every update
//! ```

use std::cell::Cell;
use std::rc::Rc;
use yieldfrom::combinators::gather;
use yieldfrom::debug::explore;
use yieldfrom::sync::Lock;
use yieldfrom::{Coro, EventLoop, yield_now};

/// Two adders; the second one starts a step later (it yields once first).
fn program(with_lock: bool) -> Coro<u32> {
    Coro::new("main", move || {
        let counter = Rc::new(Cell::new(0u32));
        let lock = Rc::new(Lock::new());
        gather((0..2u32).map(|i| {
            let (counter, lock) = (counter.clone(), lock.clone());
            Coro::new("adder", move || {
                for _ in 0..i {
                    yield_now(); // the second adder arrives later
                }
                let _held = with_lock.then(|| lock.acquire());
                let v = counter.get();
                yield_now(); // an await between the read and the write
                counter.set(v + 1);
            })
        }));
        let total = counter.get();
        assert!(total == 2, "counter = {total}, expected 2");
        total
    })
}

pub fn main() {
    let fifo = EventLoop::builder()
        .virtual_clock(true)
        .build()
        .run(program(false));
    println!("FIFO order: counter = {fifo} (looks fine)");
    println!("exploring 100 schedules without a lock ...");
    match explore(0..100, || program(false)) {
        Ok(n) => println!("  all {n} schedules passed"),
        Err(f) => {
            println!("  seed {} loses an update: {}", f.seed, f.message);
            println!("  the interleaving:");
            // The adders' events: each step, its pause, and why it woke.
            for event in f
                .trace
                .lines()
                .filter_map(|l| l.split_once("] ").map(|(_, rest)| rest))
                .filter(|e| e.split(' ').nth(2) == Some("'adder'") && !e.ends_with("spawned"))
            {
                println!("    {event}");
            }
        }
    }
    println!("exploring 100 schedules with a Lock ...");
    match explore(0..100, || program(true)) {
        Ok(n) => println!("  all {n} schedules keep every update"),
        Err(f) => println!("  seed {} failed: {}", f.seed, f.message),
    }
}
