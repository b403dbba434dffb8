//! `cargo bench --bench scale`: past one core.
//!
//! - `cpu_pool_2_jobs`: a CPU-bound job (counting primes), once inline in a
//!   task, then two at once through `to_thread` on a loop with
//!   `max_workers(2)`; the speed-up is two jobs' inline time over the pool's
//!   wall time (2.0 = perfect on two cores). Median of five runs.
//!   `BENCH name=cpu_pool_2_jobs speedup=<x> runs=5`
//! - `loops_1_vs_2`: the `/plain` HTTP server (this binary with `--server
//!   <loops>`) on one loop, then on two loops sharing the port
//!   (`SO_REUSEPORT`), driven by wrk (one thread, 100 connections, 10 s
//!   after a 2 s warm-up). On this two-core machine wrk shares the cores
//!   with the server, so req/s cannot double; what stays meaningful is the
//!   server's CPU per request (user + system from `/proc`: flat means the
//!   loops do not slow each other) and the share of connections each loop
//!   accepted. Median of three runs each.
//!   `BENCH name=loops_1_vs_2 cpu_per_req_ratio=<2 loops / 1 loop>
//!   min_accept_share=<the less busy loop's share, 0.5 = even>
//!   rps_1=<r> rps_2=<r> runs=3` (and the range fields below)
//! - `loops_1_vs_2_paced`: the same work per loop, with room on the cores:
//!   wrk paced (`benches/wrk/pace.lua`: 1 ms before each request) over 50
//!   connections for one loop and 100 for two, so each loop serves about
//!   25,000 requests a second and neither core is full. Flat out, two loops
//!   and wrk are three busy threads on two cores, and two loops sharing a
//!   fixed load each wake for less work: the CPU per request then counts
//!   those, not the loops slowing each other. Median of seven, with the
//!   range of the ratios and the spread (max / min) of the one-loop figure
//!   across runs, which is the machine's own noise.
//!   The control, in each run: the same two loops as two processes of one
//!   loop each on the port (they share nothing but the kernel and the
//!   cores); `loops_vs_processes` is two loops' CPU per request over two
//!   processes', 1.0 when the loops of one process cost each other nothing.
//!   `BENCH name=loops_1_vs_2_paced cpu_per_req_ratio=<r> ratio_range=<lo>-<hi>
//!   one_loop_cpu_spread=<max/min> loops_vs_processes=<r> ...`
//!
//! Then Python's side of the CPU figure (`benches/python/cpu_pool.py`):
//! `to_thread` (the GIL: no speed-up) and `ProcessPoolExecutor`.
//!
//! Needs `wrk`; loopback only; every run bounded.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common.rs"]
#[allow(dead_code)]
mod common;
use common::{cpu_s, median, raise_fd_limit, wrk_totals};

/// Primes below `n`, by trial division: pure CPU, no memory traffic.
fn count_primes(n: u64) -> u64 {
    (2..n)
        .filter(|&k| (2..).take_while(|d| d * d <= k).all(|d| k % d != 0))
        .count() as u64
}

const JOB: u64 = 600_000;

fn cpu_pool() -> f64 {
    let mut speedups = Vec::new();
    for _ in 0..5 {
        let lp = yieldfrom::EventLoop::builder().max_workers(2).build();
        let (inline, pooled) = lp.run(yieldfrom::Coro::new("main", || {
            let t = Instant::now();
            std::hint::black_box(count_primes(std::hint::black_box(JOB)));
            let inline = t.elapsed();
            let t = Instant::now();
            let counts = yieldfrom::combinators::gather((0..2).map(|_| {
                yieldfrom::Coro::new("job", || {
                    yieldfrom::to_thread(|| count_primes(std::hint::black_box(JOB)))
                })
            }));
            std::hint::black_box(counts);
            (inline, t.elapsed())
        }));
        speedups.push(2.0 * inline.as_secs_f64() / pooled.as_secs_f64());
    }
    median(&mut speedups)
}

/// The `/plain` server on `loops` loops; prints its address; on a line
/// `count` on stdin prints how many connections each loop serves now; stops
/// when stdin closes.
fn server(loops: usize, at: Option<std::net::SocketAddr>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use yieldfrom::http::{self, Config, Response, Router};
    // A port of our own, or one the parent holds for several processes.
    let port = match at {
        Some(_) => None,
        None => Some(yieldfrom::net::reserve_port("127.0.0.1:0").unwrap()),
    };
    let addr = at.unwrap_or_else(|| port.as_ref().unwrap().addr());
    let stop = Arc::new(AtomicBool::new(false));
    let live: Arc<Vec<AtomicUsize>> = Arc::new((0..loops).map(|_| AtomicUsize::new(0)).collect());
    let (stop2, live2) = (stop.clone(), live.clone());
    std::thread::spawn(move || {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
            let counts: Vec<String> = live2
                .iter()
                .map(|n| n.load(Ordering::SeqCst).to_string())
                .collect();
            println!("{}", counts.join(" "));
            line.clear();
        }
        stop2.store(true, Ordering::SeqCst);
    });
    let bound = Arc::new(std::sync::Barrier::new(loops));
    yieldfrom::run_loops(loops, move |i| {
        let (stop, bound, live) = (stop.clone(), bound.clone(), live.clone());
        yieldfrom::Coro::new("bench server", move || {
            let router = Router::new().get("/plain", |_| {
                Response::json(&serde_json::json!({"message": "hello"}))
            });
            let config = Config::default().reuse_port(true);
            let server = http::serve_with(addr, router, config).unwrap();
            if bound.wait().is_leader() {
                println!("{addr}");
            }
            while !stop.load(Ordering::SeqCst) {
                live[i].store(server.connections(), Ordering::SeqCst);
                yieldfrom::sleep(Duration::from_millis(20));
            }
            server.shutdown(Duration::from_secs(1));
        })
    });
    drop(port);
}

/// The pacing script (`benches/wrk/pace.lua`): 1 ms before each request.
const PACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/wrk/pace.lua");

/// wrk, one thread, `conns` connections, for `duration`, paced or flat
/// out; how many requests it made.
fn wrk(addr: &str, conns: usize, duration: &str, paced: bool) -> f64 {
    let pace: &[&str] = if paced { &["-s", PACE] } else { &[] };
    let out = Command::new("wrk")
        .arg("-t1")
        .arg(format!("-c{conns}"))
        .args(pace)
        .arg(format!("-d{duration}"))
        .arg(format!("http://{addr}/plain"))
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout);
    wrk_totals(&text).0
}

/// One server process of `loops` loops, on a port of its own or on `at`.
fn spawn_server(
    loops: usize,
    at: Option<std::net::SocketAddr>,
) -> (Child, BufReader<ChildStdout>, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--server", &loops.to_string()])
        .args(at.map(|a| a.to_string()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut addr = String::new();
    out.read_line(&mut addr).unwrap();
    (child, out, addr.trim().to_string())
}

/// `processes` server processes of `loops` loops each on one port, under
/// wrk: (req/s, CPU s per request of all of them, the least busy loop's
/// share of connections).
fn measure(loops: usize, processes: usize, conns: usize, paced: bool) -> (f64, f64, f64) {
    use std::io::Write;
    let mut servers: Vec<_> = if processes == 1 {
        vec![spawn_server(loops, None)]
    } else {
        // The parent holds the port until every process has bound it.
        let port = yieldfrom::net::reserve_port("127.0.0.1:0").unwrap();
        let servers = (0..processes)
            .map(|_| spawn_server(loops, Some(port.addr())))
            .collect();
        drop(port);
        servers
    };
    let addr = servers[0].2.clone();
    let cpu = |servers: &[(Child, BufReader<ChildStdout>, String)]| -> f64 {
        servers.iter().map(|(c, _, _)| cpu_s(c.id())).sum()
    };
    wrk(&addr, conns, "2s", paced);
    let before = cpu(&servers);
    let t = Instant::now();
    let run = {
        let addr = addr.clone();
        std::thread::spawn(move || wrk(&addr, conns, "10s", paced))
    };
    // Mid-run, wrk's connections are open: how many each loop serves.
    std::thread::sleep(Duration::from_secs(5));
    let mut counts = Vec::new();
    for (child, out, _) in servers.iter_mut() {
        writeln!(child.stdin.as_mut().unwrap(), "count").unwrap();
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        counts.extend(line.split_whitespace().map(|n| n.parse::<f64>().unwrap()));
    }
    let requests = run.join().unwrap();
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu(&servers) - before;
    for (mut child, _, _) in servers {
        drop(child.stdin.take());
        let _ = child.wait();
    }
    let total: f64 = counts.iter().sum();
    let least = counts.iter().cloned().fold(f64::INFINITY, f64::min);
    (requests / secs, cpu / requests, least / total.max(1.0))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--server") {
        raise_fd_limit();
        server(
            args[at + 1].parse().unwrap(),
            args.get(at + 2).map(|a| a.parse().unwrap()),
        );
        return;
    }
    let found = Command::new("sh")
        .args(["-c", "command -v wrk"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "the scale bench needs `wrk` (apt-get install -y wrk)"
    );
    println!(
        "BENCH name=cpu_pool_2_jobs speedup={:.2} runs=5",
        cpu_pool()
    );
    // (name, paced, connections for one loop, for two, runs)
    let scenarios = [
        ("loops_1_vs_2", false, 100, 100, 3),
        ("loops_1_vs_2_paced", true, 50, 100, 7),
    ];
    for (name, paced, conns_1, conns_2, runs) in scenarios {
        let (mut rps1, mut rps2, mut ratio, mut share) = (vec![], vec![], vec![], vec![]);
        let (mut cpu1, mut vs_processes) = (vec![], vec![]);
        for _ in 0..runs {
            let (r1, c1, _) = measure(1, 1, conns_1, paced);
            let (r2, c2, s2) = measure(2, 1, conns_2, paced);
            rps1.push(r1);
            rps2.push(r2);
            ratio.push(c2 / c1);
            share.push(s2);
            cpu1.push(c1);
            if paced {
                // The control: the same two loops as two processes share
                // nothing but the kernel and the cores.
                let (_, c2p, _) = measure(1, 2, conns_2, paced);
                vs_processes.push(c2 / c2p);
            }
        }
        let range = |v: &[f64]| {
            v.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &r| {
                (lo.min(r), hi.max(r))
            })
        };
        let (lo, hi) = range(&ratio);
        let (lo1, hi1) = range(&cpu1);
        let control = if vs_processes.is_empty() {
            String::new()
        } else {
            format!(" loops_vs_processes={:.3}", median(&mut vs_processes))
        };
        println!(
            "BENCH name={name} cpu_per_req_ratio={:.3} ratio_range={lo:.3}-{hi:.3} \
             one_loop_cpu_spread={:.3}{control} min_accept_share={:.3} rps_1={:.0} rps_2={:.0} \
             runs={runs}",
            median(&mut ratio),
            hi1 / lo1,
            median(&mut share),
            median(&mut rps1),
            median(&mut rps2)
        );
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/python/cpu_pool.py");
    match Command::new("python3").arg(script).output() {
        Ok(out) if out.status.success() => print!("{}", String::from_utf8_lossy(&out.stdout)),
        _ => println!("BENCH name=py_cpu_pool skipped=python3_failed"),
    }
}
