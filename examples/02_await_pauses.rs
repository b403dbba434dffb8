//! 02 — `await` pauses the task; the event loop waits (or runs others) meanwhile.
//!
//! Python:
//! ```python
//! async def greet():
//!     print("Hello")
//!     await asyncio.sleep(2)
//!     print("World")
//! asyncio.run(greet())
//! ```
//!
//! What to notice: `yield_from(sleep(2 s))` — here just `sleep(..)`, since a
//! stackful task can pause from any function — hands control back to the loop
//! for two seconds, then greet resumes exactly where it stopped.
//!
//! Expected output (times from the loop's clock):
//! ```text
//! [0.00 s] Hello
//! [0.00 s] greet pauses: control goes back to the event loop
//! [2.00 s] greet resumes
//! [2.00 s] World
//! ```

use std::time::Duration;
use yieldfrom::{EventLoop, async_def, run, sleep};

fn stamp() -> String {
    format!("[{:.2} s]", EventLoop::current().time())
}

async_def! {
    fn greet() {
        println!("{} Hello", stamp());
        println!("{} greet pauses: control goes back to the event loop", stamp());
        sleep(Duration::from_secs(2));
        println!("{} greet resumes", stamp());
        println!("{} World", stamp());
    }
}

pub fn main() {
    run(greet());
}
