//! 04 — Tasks run concurrently: two sleeps of 2 s and 1 s take 2 s, not 3.
//!
//! Python:
//! ```python
//! async def task(name, seconds):
//!     print(name, "start"); await asyncio.sleep(seconds); print(name, "done")
//! async def main():
//!     await asyncio.gather(task("A", 2), task("B", 1))
//! ```
//!
//! What to notice: while A is paused, B runs; the loop resumes each when its
//! sleep is over. The timeline is the tutorial's picture.
//!
//! Expected output:
//! ```text
//! [0.00 s] Task A: start, sleeps 2 s
//! [0.00 s] Task B: start, sleeps 1 s
//! [1.00 s] Task B: resume, done
//! [2.00 s] Task A: resume, done
//! total: 2.00 s (sequential would take 3.00 s)
//!
//! Time →   0s        1s        2s
//! Task A:  Start ----- Pause ---------- Resume/Done
//! Task B:  Start ----- Resume/Done
//! ```

use std::time::Duration;
use yieldfrom::{Coro, EventLoop, combinators::gather, run, sleep};

fn now() -> f64 {
    EventLoop::current().time()
}

fn task(name: &'static str, seconds: u64) -> Coro<()> {
    Coro::new(name, move || {
        println!("[{:.2} s] Task {name}: start, sleeps {seconds} s", now());
        sleep(Duration::from_secs(seconds));
        println!("[{:.2} s] Task {name}: resume, done", now());
    })
}

pub fn main() {
    run(Coro::new("main", || {
        let t0 = now();
        gather([task("A", 2), task("B", 1)]);
        println!("total: {:.2} s (sequential would take 3.00 s)", now() - t0);
    }));
    println!();
    println!("Time →   0s        1s        2s");
    println!("Task A:  Start ----- Pause ---------- Resume/Done");
    println!("Task B:  Start ----- Resume/Done");
}
