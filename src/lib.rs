//! # yieldfrom — Python's `async`/`await`, rebuilt on stackful coroutines
//!
//! yieldfrom is a single-threaded coroutine runtime written to show how
//! asyncio works inside, and to be used for real. Each task runs on a stack of
//! its own; when it waits (for a timer, a socket, another task) it switches
//! back to the event loop, which resumes it when the wait is over.
//!
//! ```
//! use std::time::Duration;
//! use yieldfrom::{EventLoop, Coro, combinators::gather, sleep};
//!
//! // The virtual clock makes sleeps instant and the run deterministic.
//! let lp = EventLoop::builder().virtual_clock(true).build();
//! let clock = lp.clone();
//! let (names, took) = lp.run(Coro::new("main", move || {
//!     let t0 = clock.time();
//!     let names = gather([("A", 2), ("B", 1)].map(|(name, s)| Coro::new("task", move || {
//!         sleep(Duration::from_secs(s));
//!         name
//!     })));
//!     (names, clock.time() - t0)
//! }));
//! assert_eq!(names, ["A", "B"]);
//! assert_eq!(took, 2.0); // concurrent: 2 s, not 3
//! ```
//!
//! ## Python ↔ yieldfrom
//!
//! | Python (asyncio) | yieldfrom | notes |
//! |---|---|---|
//! | generator, `yield x` | [`Generator`], [`Co::yield_`] | `yield_` returns `Result<S, GenError>`: `Err` is a thrown exception |
//! | `gen.send(v)`, `next(gen)`, `gen.throw(e)`, `gen.close()` | [`Generator::send`], [`Generator::start`] / `Iterator` (or [`Generator::next_default`] for `S = Option<T>`), [`Generator::throw`], [`Generator::close`] | `next` on a paused generator sends `()`; see "Where Python and yieldfrom differ" |
//! | `yield from sub` (PEP 380) | [`Co::yield_from`] | delegates send/throw/close, returns the sub's value |
//! | `async def f(): ...` | [`async_def!`], [`Coro::new`] | returns a lazy [`Coro`] |
//! | coroutine object | [`Coro<T>`] | `#[must_use]`; "coroutine 'f' was never awaited" on drop |
//! | `await x` | [`yield_from(x)`](yield_from), `x.await_()` | coroutine: inline; task/future: suspend |
//! | `asyncio.run(main())` | [`run`] | new loop, run, cancel leftovers, close |
//! | `asyncio.create_task(c)` | [`spawn`] | the task starts when the loop gets to it |
//! | a `TaskGroup` whose tasks use the caller's data | [`scope`] (`std::thread::scope` for tasks) | scoped tasks may borrow; Python's tasks share heap objects instead |
//! | `create_task(c, name=f"fetch {url}")`, `task.get_name()` | `Coro::new(format!("fetch {url}"), ..)`, [`Task::name`] | a run-time name is interned ([`TaskName`]) |
//! | `asyncio.Task` | [`Task`] | `cancel`, `done`, `cancelled`, `add_done_callback`, `cancelling`, `uncancel` |
//! | `asyncio.current_task().cancelling()`, `.uncancel()` | [`cancelling`], [`uncancel`] | for the running task |
//! | `asyncio.shield(aw)` | [`shield(task)`](shield) | the waiter is cancelled, the task runs on |
//! | `asyncio.Future` | [`Future`] | `set_result`, `set_exception`, `cancel`, `result` |
//! | `asyncio.CancelledError` | [`Cancelled`] | an unwind; stop it with [`catch_cancelled`] |
//! | `loop = asyncio.new_event_loop()` | [`EventLoop::new`], [`EventLoop::builder`] | |
//! | `loop.call_soon/call_later/call_at` | [`EventLoop::call_soon`], [`call_later`](EventLoop::call_later), [`call_at`](EventLoop::call_at) | return a [`Handle`]; reports name a callback by the function it was written in and where it was scheduled (`call_soon_named` gives a name) |
//! | `loop.set_exception_handler(h)`, `call_exception_handler(ctx)`, `default_exception_handler` | [`EventLoop::set_exception_handler`], [`EventLoop::call_exception_handler`], [`warnings::default_exception_handler`] | every report (exception in callback, never retrieved, blocked the loop, never awaited, ...) is a [`warnings::Report`] |
//! | `loop.run_until_complete`, `run_forever`, `stop`, `close`, `time` | same names on [`EventLoop`] (and `run_until_idle`) | `run_forever` returns, with a warning, when nothing is left that could call `stop()` |
//! | `asyncio.sleep(s)`, `asyncio.sleep(0)` | [`sleep`], [`yield_now`] | |
//! | `asyncio.timeout(s)`, `asyncio.wait_for(aw, s)` | [`timeout`], [`wait_for`] | `Err(Elapsed)` is `TimeoutError`; `wait_for` takes a coroutine, a task (cancelled when time is up) or a future |
//! | `async with asyncio.timeout(None) as cm: cm.reschedule(t)`, `cm.when()`, `cm.expired()` | [`timeout_with`], [`Timeout`] | |
//! | `asyncio.gather`, `return_exceptions=True` | [`combinators::gather`] over coroutines, tasks or futures; `gather(outcomes(aws))`; results of different types: [`combinators::join`] (a tuple) | results in argument order; the caller wakes once |
//! | `asyncio.wait`, `as_completed` | [`combinators::wait`], [`combinators::as_completed`] | |
//! | `asyncio.TaskGroup` | [`combinators::task_group`] | a failing child cancels its siblings |
//! | `asyncio.Event/Lock/Semaphore/BoundedSemaphore/Condition` | [`sync`] | same names; guards release on drop |
//! | `asyncio.Queue/LifoQueue/PriorityQueue` | [`sync::Queue`] (`new`, `lifo`, `priority`) | |
//! | `asyncio.to_thread`, `run_in_executor` | [`to_thread`] | |
//! | `aiofiles.open`, `aiofiles.os.stat` (asyncio has no file API) | [`fs::File`], [`fs::read_to_string`], [`fs::metadata`], [`fs::read_dir`] | on the worker threads, as `tokio::fs`: a regular file cannot be waited on with epoll |
//! | sockets, `start_server`, `open_connection`, subprocesses | [`net`] | std-shaped, suspend on `WouldBlock` |
//! | `open_connection(ssl=ctx)`, `start_server(ssl=ctx)`, `ssl.create_default_context(cafile=...)` | `tls::TlsStream::connect` / `accept` over a `TcpStream`, `tls::client_config_with_ca`, `http::Config::tls_pem` | rustls, sans-IO (feature `tls`, on by default) |
//! | `loop.getaddrinfo(host, port)`, `happy_eyeballs_delay` | [`net::lookup_host`], `TcpStream::connect` | names resolved on the worker threads (a replaceable [`net::Resolver`]); Happy Eyeballs at 250 ms |
//! | FastAPI's `@app.get`, uvicorn | `http::Router`, `http::serve` | HTTP/1.1, one task per connection (feature `http`, on by default) |
//! | asyncpg: `connect`, `fetch`, `fetchrow`, `execute`, `transaction()`, `create_pool` | `pg::Client::connect`, `query`, `query_opt`, `execute`, `transaction`, `pg::Pool` | PostgreSQL, pipelined per connection (feature `pg`, on by default) |
//! | aiohttp `ClientSession` / httpx `AsyncClient`: `get`, `post`, `raise_for_status`, `resp.json()`, `iter_any()`, SSE via `aiter_lines()` | `http::client::Client`: `get(url)?.query(..).timeout(..).send()`, `Response::{error_for_status, json, chunk, events}` | pooled keep-alive, a limit per phase, gzip (feature `http`) |
//! | asyncpg: `connect(dsn, ssl="verify-full")`, `ssl=ctx`; libpq's `sslmode`, `sslrootcert`, `channel_binding` | `pg::Config` (`?sslmode=verify-full&sslrootcert=system`), `pg::Config::ssl_mode`, `tls_config`, `channel_binding` | TLS after an `SSLRequest`, SCRAM-SHA-256-PLUS |
//! | debug mode, tracing | [`trace`], [`debug`] | timelines, Chrome JSON, the stepper, the explorer page (`YIELDFROM_TRACE=explore`), schedule exploration (`debug::explore`) |
//! | Rust's own `async`/`await` | [`stackless`] | the stackless twin, for comparison |
//! | slow callback warning (debug mode) | built in, 100 ms by default | [`Builder::slow_task_threshold`] |
//! | "Task exception was never retrieved" | built in | via [`warnings`] |
//!
//! ## Where Python and yieldfrom differ
//!
//! - **No colouring.** Python's `await` is legal only inside `async def`; each
//!   caller up the chain must be async too. Here every task has its own stack,
//!   so [`yield_from`] and [`sleep`] work from any plain function called
//!   inside a task. Outside a task they panic: "yield_from() needs a running
//!   task: start one with run() or spawn()".
//! - **`run_forever` with nothing left.** asyncio's loop waits forever for a
//!   `stop()` that nothing left could call; [`EventLoop::run_forever`] returns
//!   then, with a warning saying so. [`EventLoop::run_until_idle`] is the
//!   name for "run until nothing is left", without the warning.
//! - **Exceptions.** A panic in a task is caught at the root of its stack and
//!   raised again where the task is awaited; `Cancelled` travels as an unwind
//!   too. Errors you expect are ordinary `Result`s.
//! - **`Future` is asyncio's Future**, a result slot with callbacks, not the
//!   `std::future::Future` trait.
//! - **Closing a loop with tasks still pending** cancels them and runs them
//!   to their end (their cleanup may await), so every task ends and a handle
//!   that outlives the loop reports *cancelled* instead of waiting for ever;
//!   Python's `loop.close()` leaves them pending and warns "Task was
//!   destroyed but it is pending!" (tokio's shutdown cancels them, as here).
//!   [`run`] cancels and finishes every task before closing, as `asyncio.run`
//!   does, so there the two agree. A task that will not stop is given up
//!   with asyncio's warning, its stack leaked.
//! - **Swallowed cancellations come back.** A `Cancelled` caught by a bare
//!   `catch_unwind` is raised again at the task's next await; only
//!   [`catch_cancelled`] (Python's `except CancelledError`) ends it. Both
//!   count requests as Python does ([`Task::cancelling`]); a timeout or a
//!   task group withdraws its own ([`uncancel`]), so a cancellation from
//!   anyone else still wins.
//! - **Nested task groups.** asyncio wraps an inner group's `ExceptionGroup`
//!   in the outer one's; here an inner group's failure panics through the
//!   outer body, and the outer group raises it as it is when it has no
//!   failures of its own (else it lists its children's and names the
//!   body's panic). `shield` takes a task, not any awaitable: spawn a
//!   coroutine to shield it.
//! - **Cleanup that awaits inside a destructor** works (the cancellation's
//!   unwind pauses in the destructor and the loop runs others), but while it
//!   is paused the thread is unwinding, so `std::thread::panicking()` reads
//!   true in every task of the loop (a `std::sync::Mutex` guard dropped then
//!   is marked poisoned). Rust's panic count is per thread, not per stack,
//!   and `std` offers no way to set it. Cleanup that awaits is best written
//!   after [`catch_cancelled`], where nothing is unwinding.
//! - **Loops.** A task belongs to the loop that spawned it and a future to
//!   the loop of its first waiter (asyncio binds it when it is made, so a
//!   future here can be made before any loop runs). Awaiting either from a
//!   task of another loop panics, as asyncio raises "Task got Future attached
//!   to a different loop". Waking and cancelling work from anywhere, even
//!   outside every loop: they are scheduled on the task's own loop, for its
//!   next iteration. A future that never met a loop runs its done callbacks
//!   when it is resolved.
//! - **Threads.** A loop and its tasks belong to one thread and never move:
//!   that is what makes the thread-locals inside (the running loop, the
//!   running task) sound. The types say so: a loop, a task, a future, a
//!   coroutine object and a socket are not `Send`, so none can reach another
//!   thread (work for threads goes through [`to_thread`]).
//!
//! ```compile_fail
//! fn needs_send<T: Send>(_: T) {}
//! needs_send(yieldfrom::EventLoop::new());
//! ```
//! ```compile_fail
//! fn needs_send<T: Send>(_: T) {}
//! needs_send(yieldfrom::Future::<u8>::new());
//! ```
//! ```compile_fail
//! fn needs_send<T: Send>(_: T) {}
//! needs_send(yieldfrom::Coro::new("c", || 1));
//! ```
//! ```compile_fail
//! fn needs_send<T: Send>(_: T) {}
//! let task: yieldfrom::Task<u8> = unimplemented!();
//! needs_send(task);
//! ```
//! ```compile_fail
//! fn needs_send<T: Send>(_: T) {}
//! let listener: yieldfrom::net::TcpListener = unimplemented!();
//! needs_send(listener); // a socket cannot move to another thread
//! ```
//!
//! ## Layers, in reading order
//!
//! Each file of `src/` uses only the files before it here (a test,
//! `tests/layers.rs`, keeps it so), so the crate reads from the top down:
//!
//! Each folder holds one run of these layers (the same test checks it).
//!
//! 0. **The machine.** `arch/`: the few instructions written by hand
//!    (the stack pointer, painting below it, a prefetch, Valgrind's
//!    requests), one file per architecture.
//! 1. **Words.** `task_id.rs` ([`TaskId`], [`TaskEnd`]) and `reason.rs`
//!    ([`Suspend`]: why a task paused; [`Wake`](suspend::Wake): how it is
//!    resumed; [`Cancelled`]): plain data.
//! 2. **Reports and settings.** `warnings.rs` ([`warnings`]), `names.rs`
//!    ([`TaskName`]: names made at run time, interned), `call_sites.rs`
//!    (where a task waits, for the explorer), `env.rs` (every
//!    `YIELDFROM_*` variable), `watchdog.rs` (the blocking detector).
//! 3. **Stacks and generators.** `stack/` ([`stack`]: `pool.rs`,
//!    `overflow.rs`, `shared.rs`), then `generator/` ([`Generator`]:
//!    PEP 342/380 on a stack of its own).
//! 4. **A task.** `task/`: `raw.rs` (a task's record, its counted
//!    reference, waking it on its own loop), `context.rs` (what is running
//!    now), `cancel.rs` ([`Cancelled`] raised and caught), `wake.rs` (the
//!    one wake token every waiter keeps, and [`Waker`](suspend::Waker)),
//!    `suspend.rs` ([`suspend`]: the switch itself, both ways), `future.rs` ([`Future`]: what
//!    tasks wait on), `mod.rs` ([`Task`]: a coroutine given a stack, its
//!    result in a future); then `coro.rs` ([`Coro`], [`async_def!`]).
//! 5. **What the loop reports.** `trace/` ([`trace`]: `capture.rs`, a
//!    program's output per step; `event.rs`, the words of a trace;
//!    `instrument.rs`, the hooks; one renderer per file: `svg.rs` the
//!    picture, `timeline.rs` the ASCII timeline, `chrome.rs` Chrome's
//!    JSON, `explore.rs` the page to step through a run; `mod.rs`, the
//!    recorder; `stepper.rs`, the stepper).
//! 6. **The loop.** `event_loop/`: `ready.rs`, `timer.rs`, `reactor.rs`
//!    (which task waits on which socket), `clock`, `workers`, `state`,
//!    `scheduler` (one iteration), `builder` ([`Builder`]) and `mod.rs`
//!    ([`EventLoop`]).
//! 7. **Built on the loop.** `awaitable.rs` ([`yield_from`]), `time.rs`
//!    ([`sleep`], [`timeout`]), `threads.rs` ([`to_thread`]), `fs.rs`
//!    ([`fs`]: files on the worker threads), [`combinators`], `scope.rs`
//!    ([`scope`]: tasks that may borrow), [`sync`], [`net`], and
//!    [`debug`]'s explorer.
//! 8. **Protocols on the sockets.** `pg/` ([`pg`]: PostgreSQL's client,
//!    its pipelined connection and pool) and `http/` ([`http`]: the
//!    HTTP/1.1 server), each on the runtime's own TCP.
//! 9. **The twin.** [`stackless`], the same ideas on Rust's `async`/`await`.
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![warn(
    clippy::undocumented_unsafe_blocks,
    clippy::multiple_unsafe_ops_per_block
)]

/// `Debug` for a type whose insides are not for printing: `Name { .. }`.
macro_rules! opaque_debug {
    ($($ty:ident $(<$($g:tt),*>)?),* $(,)?) => {$(
        impl$(<$($g),*>)? std::fmt::Debug for $ty$(<$($g),*>)? {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty)).finish_non_exhaustive()
            }
        }
    )*};
}

mod arch;
mod awaitable;
mod call_sites;
pub mod combinators;
mod coro;
pub mod debug;
mod env;
mod event_loop;
pub mod fs;
mod generator;
#[cfg(feature = "http")]
pub mod http;
mod names;
pub mod net;
mod per_core;
mod percent;
#[cfg(feature = "pg")]
pub mod pg;
mod reason;
mod scope;
pub mod stack;
pub mod stackless;
pub mod sync;
mod task;
mod task_id;
mod threads;
mod time;
#[cfg(feature = "tls")]
pub mod tls;
pub mod trace;
pub mod warnings;
mod watchdog;

pub use awaitable::{Awaitable, yield_from};
pub use coro::Coro;
pub use event_loop::run::run;
pub use event_loop::{Builder, EventLoop, Handle, spawn};
pub use generator::adapters::{FromIter, from_iter};
pub use generator::delegation::Subgenerator;
pub use generator::{Co, GenError, Generator, GeneratorState, Resume};
pub use per_core::{available_cores, run_loops};
pub use scope::{Scope, ScopedTask, scope};
pub use task::future::{Exception, Future, Outcome};
pub use task::suspend;
pub use task::suspend::{Cancelled, Suspend, cancelling, catch_cancelled, uncancel};
pub use task::{CancelCause, Task, TaskEnd, TaskId, TaskName, shield};
pub use threads::to_thread;
pub use time::{
    Elapsed, Timeout, now, sleep, sleep_until, timeout, timeout_at, timeout_with, wait_for,
    yield_now,
};

/// Knobs for memory a program rarely needs to tune: how many records of
/// finished tasks a thread keeps for its next spawns. (Stacks have theirs
/// in [`stack`] and on the [`Builder`].)
pub mod tuning {
    pub use crate::task::{record_limit, set_record_limit};
}

/// The README's code blocks, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The book's Rust snippets, compiled and run as doc tests.
#[cfg(doctest)]
pub mod book {
    macro_rules! chapters {
        ($($name:ident = $path:literal),* $(,)?) => {$(
            #[doc = include_str!(concat!("../docs/src/", $path))]
            pub struct $name;
        )*};
    }
    chapters! {
        Generators = "generators.md", Io = "io.md", WebServer = "web-server.md",
        StackfulVsStackless = "stackful-vs-stackless.md",
        StacklessInside = "stackless-inside.md",
        Ch01 = "course/01-lazy.md", Ch02 = "course/02-await.md",
        Ch03 = "course/03-event-loop.md", Ch04 = "course/04-tasks.md",
        Ch05 = "course/05-chef.md", Ch06 = "course/06-mistakes.md",
        Ch07 = "course/07-generators.md", Ch08 = "course/08-awaitables.md",
        Ch09 = "course/09-cpu.md", Ch10 = "course/10-call-center.md",
        Ch11 = "course/11-users-api.md", Ch12 = "course/12-stackless.md",
        Ch13 = "course/13-race.md", Ch14 = "course/14-files.md", Ch15 = "course/15-crawler.md", Ch16 = "course/16-api-calls.md", RunningForReal = "running-for-real.md",
        MoreThanOneCore = "more-than-one-core.md", Tls = "tls.md",
    }
}
