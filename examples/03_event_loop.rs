//! 03 — What `run()` does, step by step: the event loop is the brain.
//!
//! Python's `asyncio.run(main())` creates a loop, schedules `main` as a task,
//! runs the loop until it completes, then closes the loop. Here the same four
//! steps are done by hand with `EventLoop`, and a callback and a task show
//! the loop's rule: what is ready runs in FIFO order, one step at a time.
//!
//! Expected output:
//! ```text
//! 1. create an event loop
//! 2. schedule work: call_soon(callback), spawn(task)
//! 3. run until complete:
//!    callback runs (scheduled first)
//!    task starts, then awaits sleep(1 s): the loop takes back control
//!    task resumes at 1.00 s and returns 42
//! 4. close the loop (closed: true)
//! result: 42
//! ```

use std::time::Duration;
use yieldfrom::{Coro, EventLoop, sleep};

pub fn main() {
    println!("1. create an event loop");
    let lp = EventLoop::new();
    println!("2. schedule work: call_soon(callback), spawn(task)");
    lp.call_soon(|| println!("   callback runs (scheduled first)"));
    println!("3. run until complete:");
    let result = lp.run_until_complete(Coro::new("task", || {
        println!("   task starts, then awaits sleep(1 s): the loop takes back control");
        sleep(Duration::from_secs(1));
        println!(
            "   task resumes at {:.2} s and returns 42",
            EventLoop::current().time()
        );
        42
    }));
    lp.close();
    println!("4. close the loop (closed: {})", lp.is_closed());
    println!("result: {result}");
}
