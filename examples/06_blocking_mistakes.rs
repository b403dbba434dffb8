//! 06 — The two classic mistakes, and what yieldfrom tells you about them.
//!
//! Mistake 1 (Python: `time.sleep(5)` inside `async def`): a blocking call
//! stops the whole loop; every other task waits. The loop notices a task that
//! ran too long without pausing and warns once.
//!
//! Mistake 2 (Python: `data = fetch_data()  # WRONG`): calling a coroutine
//! function without awaiting it gives a coroutine object, not the result, and
//! its body never runs. Dropping it warns "was never awaited".
//!
//! Mistake 1 runs on the real clock, whatever `YIELDFROM_VIRTUAL_CLOCK` says
//! (the tour and the tests set it): a blocking call takes real time, which a
//! virtual clock does not see, so its timeline would read 0.00 s. The rest
//! runs on whichever clock is asked for.
//!
//! Expected output (the blocked time varies a little):
//! ```text
//! mistake 1: std::thread::sleep inside a task
//! yieldfrom: task 'blocking_task' blocked the event loop for 0.25 s — a blocking call (std::thread::sleep, a CPU-bound loop) belongs in sleep() or to_thread()
//!   the ticker could not tick while the loop was blocked: ticks = 0
//! fix: sleep() instead
//!   the ticker ticked meanwhile: ticks = 2
//! mistake 2: calling a coroutine function without awaiting it
//!   data = <coroutine object fetch_data>, not "Data"
//! coroutine 'fetch_data' was never awaited
//! fix: yield_from(fetch_data()) = Data
//! ```

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use yieldfrom::{Coro, EventLoop, async_def, run, sleep, spawn, yield_from};

async_def! {
    fn fetch_data() -> &'static str { "Data" }
}

/// A task that ticks every 100 ms, to show whether the loop is free.
fn ticker(ticks: Rc<Cell<u32>>) -> Coro<()> {
    Coro::new("ticker", move || {
        loop {
            sleep(Duration::from_millis(100));
            ticks.set(ticks.get() + 1);
        }
    })
}

pub fn main() {
    println!("mistake 1: std::thread::sleep inside a task");
    let real_clock = EventLoop::builder().virtual_clock(false).build();
    real_clock.run(Coro::new("main", || {
        let ticks = Rc::new(Cell::new(0));
        spawn(ticker(ticks.clone()));
        yield_from(spawn(Coro::new("blocking_task", || {
            std::thread::sleep(Duration::from_millis(250)); // blocks the loop
        })));
        println!(
            "  the ticker could not tick while the loop was blocked: ticks = {}",
            ticks.get()
        );
    }));
    println!("fix: sleep() instead");
    run(Coro::new("main", || {
        let ticks = Rc::new(Cell::new(0));
        spawn(ticker(ticks.clone()));
        yield_from(spawn(Coro::new("polite_task", || {
            sleep(Duration::from_millis(250))
        })));
        println!("  the ticker ticked meanwhile: ticks = {}", ticks.get());
    }));
    println!("mistake 2: calling a coroutine function without awaiting it");
    run(Coro::new("main", || {
        let data = fetch_data();
        println!("  data = {data:?}, not \"Data\"");
        drop(data);
        println!(
            "fix: yield_from(fetch_data()) = {}",
            yield_from(fetch_data())
        );
    }));
}
