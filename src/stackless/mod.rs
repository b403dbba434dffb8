//! The stackless twin: the same runtime built on `std::future::Future`.
//!
//! yieldfrom's tasks are *stackful*: each has a stack, and pausing is a stack
//! switch. Rust's `async`/`await` (and Python's generator frames) are
//! *stackless*: an `async fn` compiles to a state machine, pausing returns
//! `Poll::Pending` all the way up the chain of `.await`s, and resuming polls
//! the chain again from the top. This module is a small, readable runtime of
//! that kind, with the same files as the stackful side, in the same order,
//! so that the two can be read side by side and measured against each other:
//!
//! | file | stackful (`src/`) | stackless (`src/stackless/`) |
//! |---|---|---|
//! | `task.rs` | a record with a stack, a counted reference, a wait number | a boxed state machine in a slab slot, a generation |
//! | `suspend.rs` | `suspend(reason)`: one stack switch | return `Poll::Pending` through every frame |
//! | `event_loop.rs` | ready queue, timers, clock, reactor | the same, sharing the timer heap and the clock |
//! | `future.rs` | `Future<T>`, awaited with `yield_from` | `Future<T>`, awaited with `.await` |
//! | `time.rs` | `sleep`, `timeout`: a timer wakes the task record | `sleep`, `timeout`: the timer entry holds a `Waker` |
//! | `net.rs` | sockets that suspend on `WouldBlock` | sockets whose operations return `Pending` on it |
//! | `sync.rs` | `Event`, `Lock` over a FIFO of wake tokens | `Event`, `Lock` over wakers |
//! | `combinators.rs` | `gather`, `select` | `gather`, `select` |
//!
//! | concept | stackful (`yieldfrom`) | stackless (`yieldfrom::stackless`) |
//! |---|---|---|
//! | a coroutine | `Coro<T>` (a closure) | `impl std::future::Future<Output = T>` (a state machine) |
//! | await | `yield_from(x)` from any function | `x.await`, only inside `async` |
//! | pause | `suspend(reason)`: one stack switch | return `Poll::Pending` through every frame |
//! | resume | switch back into the stack | `poll` the task's future from the top |
//! | wake-up | a wake token schedules the task record | `Waker::wake` queues the task's slot key |
//! | cancellation | `Cancelled` raised at the await point | drop the future |
//!
//! The twin drives its own `mio::Poll` and reactor slots (a waker is a
//! different currency from the stackful side's wake tokens, and bridging the
//! two would make neither readable on its own); it shares the timer heap
//! (`timer.rs`) and the clock, virtual or real. Both use the same mechanism:
//! edge-triggered registrations, a waiter per direction, a timer heap. A
//! main task that nothing can wake any more is reported as a deadlock, as
//! the stackful loop reports it.
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

mod combinators;
mod event_loop;
mod future;
mod net;
mod suspend;
mod sync;
mod task;
mod time;

pub use self::combinators::{gather, select};
pub use self::event_loop::{EventLoop, now, run, spawn};
pub use self::future::Future;
pub use self::net::{TcpListener, TcpStream};
pub use self::suspend::{YieldNow, suspend, yield_now};
pub use self::sync::{Event, Lock, LockGuard};
pub use self::task::JoinHandle;
pub use self::time::{Sleep, Timeout, sleep, sleep_until, timeout};
