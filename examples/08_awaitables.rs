//! 08 — Three things can be awaited: a coroutine, a task, a future.
//!
//! Python: `await coro()`, `await asyncio.create_task(coro())`, `await fut`.
//! Awaiting a coroutine runs it inline, in the awaiting task; awaiting a task
//! waits for a coroutine that runs on its own; awaiting a future waits for
//! someone to set its result.
//!
//! Expected output:
//! ```text
//! [0.00 s] await a coroutine: it runs inline, now
//! [1.00 s]   coroutine returned 1
//! [1.00 s] await a task: it was already running in the background
//! [2.00 s]   task returned 2
//! [2.00 s] await a future: a callback sets it 1 s later
//! [3.00 s]   future resolved to 3
//! ```

use std::time::Duration;
use yieldfrom::{Coro, EventLoop, Future, run, sleep, spawn, yield_from};

fn at() -> String {
    format!("[{:.2} s]", EventLoop::current().time())
}

fn one_second(value: i32) -> Coro<i32> {
    Coro::new("one_second", move || {
        sleep(Duration::from_secs(1));
        value
    })
}

pub fn main() {
    run(Coro::new("main", || {
        let task = spawn(Coro::new("background", || {
            sleep(Duration::from_secs(2));
            2
        }));
        println!("{} await a coroutine: it runs inline, now", at());
        let v = yield_from(one_second(1));
        println!("{}   coroutine returned {v}", at());

        println!(
            "{} await a task: it was already running in the background",
            at()
        );
        let v = yield_from(task);
        println!("{}   task returned {v}", at());

        println!("{} await a future: a callback sets it 1 s later", at());
        let fut = Future::new();
        let setter = fut.clone();
        EventLoop::current().call_later(Duration::from_secs(1), move || setter.set_result(3));
        let v = yield_from(&fut);
        println!("{}   future resolved to {v}", at());
    }));
}
