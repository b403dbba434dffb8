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
//! sleep is over. The timeline at the end is not drawn by hand: the loop
//! recorded what it did ([`Recorder`]) and drew it, so it shows what really
//! happened on this run — one row per task, `█` while it runs, `─` while it
//! is paused, then the tutorial's sentence for each task.
//!
//! Run it under the stepper to take one scheduling decision at a time (the
//! clock stands still while the stepper waits for a key, so the times read
//! the same): `YIELDFROM_STEP=1 cargo run --example 04_tasks_timeline`.
//!
//! Expected output (on the real clock the times can differ in the last digit):
//! ```text
//! [0.00 s] Task A: start, sleeps 2 s
//! [0.00 s] Task B: start, sleeps 1 s
//! [1.00 s] Task B: resume, done
//! [2.00 s] Task A: resume, done
//! total: 2.00 s (sequential would take 3.00 s)
//!
//! Time →   0 s                                            2.00 s
//! main │ █───────────────────────────────────────────────────█
//! A    │ █───────────────────────────────────────────────────█
//! B    │ █─────────────────────────█
//!
//! main: Start (0.00 s) → Pause (0.00 s, gather)
//!     → Resume (2.00 s, gather: woken by task 'A' (#2))
//!     → Done (2.00 s)
//! A: Start (0.00 s) → Pause (0.00 s, sleep)
//!     → Resume (2.00 s, its sleep ended) → Done (2.00 s)
//! B: Start (0.00 s) → Pause (0.00 s, sleep)
//!     → Resume (1.00 s, its sleep ended) → Done (1.00 s)
//! ```

use std::time::Duration;
use yieldfrom::{Coro, EventLoop, combinators::gather, sleep, trace::Recorder};

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
    let recorder = Recorder::new();
    let lp = EventLoop::builder()
        .instrument(recorder.clone())
        .own_timeline()
        .build();
    lp.run(Coro::new("main", || {
        let t0 = now();
        gather([task("A", 2), task("B", 1)]);
        println!("total: {:.2} s (sequential would take 3.00 s)", now() - t0);
    }));
    println!();
    print!("{}", recorder.timeline(60));
}
