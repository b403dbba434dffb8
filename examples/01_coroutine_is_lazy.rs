//! 01 — A coroutine object is a paused plan: calling the function runs nothing.
//!
//! Python:
//! ```python
//! async def fetch_data():
//!     print("fetch_data: the body runs")
//!     return "Data"
//! x = fetch_data()          # a coroutine object; nothing printed
//! print(asyncio.run(x))     # now the body runs
//! ```
//!
//! What to notice: `fetch_data()` returns a `Coro<&str>` at once and its body
//! has not run; `run()` (asyncio.run) starts an event loop that runs it.
//!
//! Expected output:
//! ```text
//! calling fetch_data() ...
//! got <coroutine object fetch_data>: the body has not run
//! run(x) starts an event loop and runs it:
//!   fetch_data: the body runs
//! result: Data
//! ```

use yieldfrom::{async_def, run};

async_def! {
    fn fetch_data() -> &'static str {
        println!("  fetch_data: the body runs");
        "Data"
    }
}

pub fn main() {
    println!("calling fetch_data() ...");
    let x = fetch_data();
    println!("got {x:?}: the body has not run");
    println!("run(x) starts an event loop and runs it:");
    let result = run(x);
    println!("result: {result}");
}
