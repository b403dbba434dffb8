//! 05 — The chef: a sequential cook waits by the pot; an async cook cuts
//! vegetables while the water boils.
//!
//! The tutorial's first cook is a plain Python function, so its waits
//! *block* (nothing else could run). Ours awaits each step in turn: it is
//! *sequential*, not blocking — the loop could run other tasks during the
//! boil, there just are none. Blocking is chapter 06's subject.
//!
//! Python:
//! ```python
//! def cook():              # one thing after another: 3 s + 2 s
//!     boil_water(); cut_vegetables()
//! async def cook():        # async: the boil runs while we cut
//!     water = asyncio.create_task(boil_water()); await cut_vegetables(); await water
//! ```
//!
//! Expected output:
//! ```text
//! sequential chef:
//!   [0.00 s] puts the water on and waits by the pot
//!   [3.00 s] water boiled
//!   [3.00 s] cuts vegetables
//!   [5.00 s] vegetables cut
//!   dinner after 5.00 s
//! async chef:
//!   [0.00 s] puts the water on (a task) and does not wait
//!   [0.00 s] cuts vegetables
//!   [2.00 s] vegetables cut
//!   [3.00 s] water boiled
//!   dinner after 3.00 s
//! ```

use std::time::Duration;
use yieldfrom::{Coro, EventLoop, run, sleep, spawn, yield_from};

fn at() -> String {
    format!("[{:.2} s]", EventLoop::current().time())
}

fn boil_water() -> Coro<()> {
    Coro::new("boil_water", || {
        sleep(Duration::from_secs(3)); // the stove does the work: an I/O wait
        println!("  {} water boiled", at());
    })
}

fn cut_vegetables() -> Coro<()> {
    Coro::new("cut_vegetables", || {
        println!("  {} cuts vegetables", at());
        sleep(Duration::from_secs(2));
        println!("  {} vegetables cut", at());
    })
}

pub fn main() {
    println!("sequential chef:");
    run(Coro::new("sequential_chef", || {
        println!("  {} puts the water on and waits by the pot", at());
        yield_from(boil_water());
        yield_from(cut_vegetables());
        println!("  dinner after {:.2} s", EventLoop::current().time());
    }));
    println!("async chef:");
    run(Coro::new("async_chef", || {
        println!("  {} puts the water on (a task) and does not wait", at());
        let water = spawn(boil_water());
        yield_from(cut_vegetables());
        yield_from(water);
        println!("  dinner after {:.2} s", EventLoop::current().time());
    }));
}
