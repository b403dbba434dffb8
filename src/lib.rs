//! yieldfrom (crate docs are written in full below once the loop exists).
#![warn(missing_docs, rust_2018_idioms)]

pub mod awaitable;
pub mod combinators;
pub mod coro;
pub mod event_loop;
pub mod future;
pub mod generator;
pub mod reactor;
pub mod stack;
pub mod suspend;
pub mod sync;
pub mod task;
pub mod threads;
pub mod time;
mod timer;
pub mod warnings;

pub use awaitable::{Awaitable, yield_from};
pub use coro::Coro;
pub use event_loop::{Builder, EventLoop, Handle, run, spawn};
pub use future::{Future, Outcome};
pub use generator::{
    Co, FromIter, GenError, Generator, GeneratorState, Resume, Subgenerator, from_iter,
};
pub use suspend::{Cancelled, Suspend, catch_cancelled};
pub use task::{Task, TaskId};
pub use threads::to_thread;
pub use time::{Elapsed, now, sleep, sleep_until, timeout, timeout_at, wait_for, yield_now};
