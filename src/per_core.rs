//! [`run_loops`]: a loop per core, the way a Rust (or nginx) server uses
//! every core: N threads, each with its own event loop, its own tasks, its
//! own listener on the shared port, its own pool. Nothing moves between
//! them; a task stays on the thread that spawned it, as it must (the loop
//! and its tasks are thread-local).

use std::panic::resume_unwind;
use std::sync::Arc;

use crate::coro::Coro;
use crate::event_loop::run::run;

/// Runs `main(i)` on a loop of its own on each of `n` threads (named
/// `yieldfrom-loop-<i>`) and returns their results in order, once every
/// loop has finished. A panic in one loop is raised here after the others
/// end.
///
/// Each loop typically binds its listener with
/// [`TcpListener::bind_reuseport`](crate::net::TcpListener::bind_reuseport)
/// (or `http::Config::reuse_port`) to one port, reserved beforehand with
/// [`net::reserve_port`](crate::net::reserve_port), and catches SIGINT and
/// SIGTERM itself ([`net::Signals`](crate::net::Signals): every loop's
/// handler sees the signal), so that a signal stops and drains them all.
///
/// What the kernel does, and what to know:
///
/// - `SO_REUSEPORT` spreads new connections over the listeners by a hash of
///   the connection's addresses and ports, not by how busy each loop is: a
///   few long-lived, busy connections can land on one loop while another
///   idles. Many short or evenly loaded connections spread well (the
///   `scale` bench measures the share each loop accepted).
/// - A listener that closes drops the connections waiting in its own accept
///   queue (their clients see a reset) unless `net.ipv4.tcp_migrate_req=1`
///   (Linux 5.14+) moves them to the other listeners. At shutdown every loop
///   stops accepting at about the same time, so little is lost; for a
///   rolling restart of one process among several, drain it at the load
///   balancer first.
///
/// ```
/// let ids = yieldfrom::run_loops(2, |i| yieldfrom::Coro::new("main", move || i * 10));
/// assert_eq!(ids, [0, 10]);
/// ```
pub fn run_loops<T, F>(n: usize, main: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Coro<T> + Send + Sync + 'static,
{
    let main = Arc::new(main);
    let threads: Vec<_> = (0..n.max(1))
        .map(|i| {
            let main = main.clone();
            std::thread::Builder::new()
                .name(format!("yieldfrom-loop-{i}"))
                .spawn(move || run(main(i)))
                .expect("spawning a loop's thread")
        })
        .collect();
    let mut results = Vec::new();
    let mut panic = None;
    for t in threads {
        match t.join() {
            Ok(v) => results.push(v),
            Err(p) => panic = panic.or(Some(p)),
        }
    }
    if let Some(p) = panic {
        resume_unwind(p);
    }
    results
}

/// The cores this process may run on (the default number of loops).
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
