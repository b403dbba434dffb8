//! The stackless twin: the same ideas built on `std::future::Future`.
//!
//! yieldfrom's tasks are *stackful*: each has a stack, and pausing is a stack
//! switch. Rust's `async`/`await` (and Python's generator frames) are
//! *stackless*: an `async fn` compiles to a state machine, pausing returns
//! `Poll::Pending` all the way up the chain of `.await`s, and resuming polls
//! the chain again from the top. This module is a small, readable executor of
//! that kind — task slab, ready queue, a `Waker` of its own, timers, and I/O
//! readiness from a `mio::Poll` — with the same names as the stackful side,
//! so that the two can be read side by side and measured against each other.
//!
//! | concept | stackful (`yieldfrom`) | stackless (`yieldfrom::stackless`) |
//! |---|---|---|
//! | a coroutine | `Coro<T>` (a closure) | `impl std::future::Future<Output = T>` (a state machine) |
//! | await | `yield_from(x)` from any function | `x.await`, only inside `async` |
//! | pause | `suspend(reason)`: one stack switch | return `Poll::Pending` through every frame |
//! | resume | switch back into the stack | `poll` the task's future from the top |
//! | wake-up | the loop schedules the task | `Waker::wake` pushes the task's index |
//! | cancellation | `Cancelled` raised at the await point | drop the future |
//!
//! One departure from the project's design (which has the twin share the
//! stackful side's reactor): the twin drives its own `mio::Poll`
//! (forty lines in `executor.rs`) instead of sharing yieldfrom's reactor
//! instance. yieldfrom's reactor wakes stackful task records; a `Waker` is a
//! different currency, and bridging the two would make neither readable on
//! its own. Both use the same mechanism — edge-triggered mio registrations,
//! a waiter per direction, a timer heap — so the comparison stays like for
//! like.
//!
//! ```
//! use std::time::Duration;
//! use yieldfrom::stackless::{run, sleep, spawn};
//!
//! let out = run(async {
//!     let a = spawn(async { sleep(Duration::from_millis(20)).await; "A" });
//!     let b = spawn(async { sleep(Duration::from_millis(10)).await; "B" });
//!     (a.await, b.await)
//! });
//! assert_eq!(out, ("A", "B"));
//! ```

mod executor;
mod net;
mod time;

pub use executor::{JoinHandle, run, spawn};
pub use net::{TcpListener, TcpStream};
pub use time::{sleep, yield_now};
