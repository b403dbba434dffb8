//! 10 — The call centre: one agent, many callers, a smart hold system.
//!
//! The tutorial's picture of async: a normal agent talks to one customer
//! until the call ends; an async agent puts a caller on hold while checking
//! their information (an I/O wait), talks to the next caller, and comes back.
//! The event loop is the agent: one thread. Each caller is a task.
//!
//! Expected output:
//! ```text
//! one agent, 3 callers, each call needs a 2 s lookup:
//! [0.00 s] agent answers caller 1, starts a lookup, puts them on hold
//! [0.00 s] agent answers caller 2, starts a lookup, puts them on hold
//! [0.00 s] agent answers caller 3, starts a lookup, puts them on hold
//! [2.00 s] agent back with caller 1: lookup done, call ends
//! [2.00 s] agent back with caller 2: lookup done, call ends
//! [2.00 s] agent back with caller 3: lookup done, call ends
//! all calls done after 2.00 s (one call at a time: 6.00 s)
//! ```

use std::time::Duration;
use yieldfrom::{Coro, EventLoop, combinators::gather, run, sleep};

fn at() -> String {
    format!("[{:.2} s]", EventLoop::current().time())
}

/// Each call's task has a name of its own, so the timeline's rows can be
/// told apart.
const NAMES: [&str; 3] = ["caller_1", "caller_2", "caller_3"];

fn call(caller: u32) -> Coro<()> {
    Coro::new(NAMES[caller as usize - 1], move || {
        println!(
            "{} agent answers caller {caller}, starts a lookup, puts them on hold",
            at()
        );
        sleep(Duration::from_secs(2)); // the database lookup: the agent is free meanwhile
        println!(
            "{} agent back with caller {caller}: lookup done, call ends",
            at()
        );
    })
}

pub fn main() {
    println!("one agent, 3 callers, each call needs a 2 s lookup:");
    run(Coro::new("agent", || {
        gather((1..=3).map(call));
        println!(
            "all calls done after {:.2} s (one call at a time: 6.00 s)",
            EventLoop::current().time()
        );
    }));
}
