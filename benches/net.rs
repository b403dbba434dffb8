//! `cargo bench --bench net`: TCP echo of 64-byte messages, yieldfrom against a
//! tokio current_thread server written the same way.
//!
//! Each server runs in a child process (this binary with `--server ours|tokio`)
//! on one thread; the same client — a tokio current_thread runtime in this
//! process — opens C connections, waits until all are up, then ping-pongs
//! 64-byte messages on every connection for a fixed window. On this 2-core
//! machine the loopback stack and the client take most of the CPU, so round
//! trips per second alone cannot tell servers apart: the figure that can is
//! the server's own user CPU time per round trip, read from
//! `/proc/<pid>/stat` at the start and the end of the window.
//!
//! One line per size: `BENCH name=echo_c<C> ours_rps=.. peer_rps=..
//! ours_cpu_us=.. peer_cpu_us=.. ratio=<ours_cpu_us/peer_cpu_us>` (medians of
//! six runs of 10 s each, the two servers alternating which goes first).
//! Loopback only; every run is bounded in time.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "common.rs"]
#[allow(dead_code)]
mod common;
use common::{median, raise_fd_limit};

const MSG: usize = 64;

fn serve_ours() {
    use yieldfrom::net::{TcpStream, start_server};
    use yieldfrom::{Coro, run};
    run(Coro::new("server", || {
        let server = start_server("127.0.0.1:0", |stream: TcpStream| {
            Coro::new("echo", move || {
                let _ = stream.set_nodelay(true);
                let mut buf = [0u8; MSG];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            })
        })
        .unwrap();
        println!("{}", server.local_addr());
        use std::io::Write;
        std::io::stdout().flush().unwrap();
        // Serve until stdin closes (the bench ends the run by closing it).
        let stdin = yieldfrom::net::PipeReader::stdin().unwrap();
        let mut b = [0u8; 1];
        let _ = stdin.read(&mut b);
    }));
}

fn serve_tokio() {
    let rt = common::tokio_rt();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        use std::io::Write;
        std::io::stdout().flush().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    let mut buf = [0u8; MSG];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let mut stdin = tokio::io::stdin();
        let mut b = [0u8; 1];
        let _ = stdin.read(&mut b).await;
    });
}

/// User CPU time of `pid`, in microseconds (utime of /proc/<pid>/stat).
fn user_cpu_us(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let utime: f64 = after_name.split(' ').nth(11).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    utime / ticks * 1e6
}

fn start_server(kind: &str) -> (Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--server", kind])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().to_string())
}

/// `conns` connections to `addr`, Nagle off, all open before any is used.
async fn connect_all(addr: &str, conns: usize) -> Vec<tokio::net::TcpStream> {
    let mut streams = Vec::with_capacity(conns);
    for _ in 0..conns {
        let s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        streams.push(s);
    }
    streams
}

/// The client alone: C connections ping-ponging for `window`; returns the round trips.
fn drive(addr: String, conns: usize, window: Duration) -> u64 {
    let unused = std::sync::Arc::new(std::sync::Mutex::new((0.0, 0.0)));
    drive_measured(addr, conns, window, || 0.0, &unused)
}

/// The client: connects C connections, then (reading `probe` at the start and
/// the end of the window into `span`) ping-pongs on all of them.
fn drive_measured(
    addr: String,
    conns: usize,
    window: Duration,
    probe: impl Fn() -> f64,
    span: &std::sync::Arc<std::sync::Mutex<(f64, f64)>>,
) -> u64 {
    let rt = common::tokio_rt();
    rt.block_on(async move {
        let streams = connect_all(&addr, conns).await;
        span.lock().unwrap().0 = probe();
        let deadline = tokio::time::Instant::now() + window;
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|mut s| {
                tokio::spawn(async move {
                    let (msg, mut buf, mut n) = ([7u8; MSG], [0u8; MSG], 0u64);
                    while tokio::time::Instant::now() < deadline {
                        s.write_all(&msg).await.unwrap();
                        s.read_exact(&mut buf).await.unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut trips = 0;
        for t in tasks {
            trips += t.await.unwrap();
        }
        span.lock().unwrap().1 = probe();
        trips
    })
}

/// The client for a fixed amount of work: `conns` connections, `k` round
/// trips on each, all in flight at once; returns the round trips made.
fn drive_counted(addr: String, conns: usize, k: u64) -> u64 {
    let rt = common::tokio_rt();
    rt.block_on(async move {
        let streams = connect_all(&addr, conns).await;
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|mut s| {
                tokio::spawn(async move {
                    let (msg, mut buf) = ([7u8; MSG], [0u8; MSG]);
                    for _ in 0..k {
                        s.write_all(&msg).await.unwrap();
                        s.read_exact(&mut buf).await.unwrap();
                    }
                    k
                })
            })
            .collect();
        let mut trips = 0;
        for t in tasks {
            trips += t.await.unwrap();
        }
        trips
    })
}

/// One run: (round trips per second, server user CPU µs per round trip).
fn measure(kind: &str, conns: usize, window: Duration) -> (f64, f64) {
    let (mut child, addr) = start_server(kind);
    let figures = measure_running(addr, child.id(), conns, window);
    drop(child.stdin.take()); // the server exits when its stdin closes
    let _ = child.wait();
    figures
}

/// Drives the server `pid` listening at `addr`: (round trips per second,
/// its user CPU µs per round trip over the window; connecting is not measured).
fn measure_running(addr: String, pid: u32, conns: usize, window: Duration) -> (f64, f64) {
    let cpu = std::sync::Arc::new(std::sync::Mutex::new((0.0, 0.0)));
    let trips = drive_measured(addr, conns, window, || user_cpu_us(pid), &cpu);
    let (cpu0, cpu1) = *cpu.lock().unwrap();
    (
        trips as f64 / window.as_secs_f64(),
        (cpu1 - cpu0) / trips as f64,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    raise_fd_limit();
    if let Some(at) = args.iter().position(|a| a == "--server") {
        match args[at + 1].as_str() {
            "ours" => serve_ours(),
            _ => serve_tokio(),
        }
        return;
    }
    if let Some(at) = args.iter().position(|a| a == "--client") {
        // Drive an already running server (for profiling it): --client ADDR CONNS SECS
        let (addr, conns, secs) = (&args[at + 1], &args[at + 2], &args[at + 3]);
        let n = drive(
            addr.clone(),
            conns.parse().unwrap(),
            Duration::from_secs(secs.parse().unwrap()),
        );
        println!("{n} round trips");
        return;
    }
    if let Some(at) = args.iter().position(|a| a == "--trips") {
        // A fixed amount of work, for counting a server's instructions and
        // cache misses under cachegrind (`benches/ab_echo.py --count`):
        // --trips ADDR CONNS K opens CONNS connections, then makes K round
        // trips on every one of them, all connections in flight at once.
        let (addr, conns, k) = (&args[at + 1], &args[at + 2], &args[at + 3]);
        let n = drive_counted(addr.clone(), conns.parse().unwrap(), k.parse().unwrap());
        println!("trips={n}");
        return;
    }
    if let Some(at) = args.iter().position(|a| a == "--measure") {
        // Drive a running server and report its user CPU per round trip over
        // the window (for comparing two builds): --measure ADDR PID CONNS SECS
        let (addr, pid, conns, secs) = (&args[at + 1], &args[at + 2], &args[at + 3], &args[at + 4]);
        let (rps, cpu_us) = measure_running(
            addr.clone(),
            pid.parse().unwrap(),
            conns.parse().unwrap(),
            Duration::from_secs(secs.parse().unwrap()),
        );
        println!("rps={rps:.0} cpu_us={cpu_us:.3}");
        return;
    }
    // The kernel charges user time by sampling the mode at each tick (250 Hz
    // here), and the server is in user mode only ~5-8 % of the time: a 4 s
    // window rested on ~50 user ticks at 1,000 connections (±15 % a run).
    // 10 s gives ~2.5 times the ticks (±9 % a run, before the median of six).
    let window = Duration::from_secs(10);
    // `cargo bench --bench net -- 1000` runs one size.
    let only: Vec<usize> = args.iter().skip(1).filter_map(|a| a.parse().ok()).collect();
    for conns in [100usize, 1_000, 10_000] {
        if !only.is_empty() && !only.contains(&conns) {
            continue;
        }
        let started = Instant::now();
        let (mut ours_rps, mut ours_cpu, mut peer_rps, mut peer_cpu) =
            (vec![], vec![], vec![], vec![]);
        // Six runs each, in the order ours-tokio, tokio-ours, ... so that
        // neither server always runs first (right after the previous size's
        // sockets were torn down) or always second.
        for run in 0..6u32 {
            let order = if run.is_multiple_of(2) {
                ["ours", "tokio"]
            } else {
                ["tokio", "ours"]
            };
            for kind in order {
                let (r, c) = measure(kind, conns, window);
                if kind == "ours" {
                    ours_rps.push(r);
                    ours_cpu.push(c);
                } else {
                    peer_rps.push(r);
                    peer_cpu.push(c);
                }
            }
        }
        let (o, p) = (median(&mut ours_cpu), median(&mut peer_cpu));
        println!(
            "BENCH name=echo_c{conns} ours_rps={:.0} peer_rps={:.0} ours_cpu_us={o:.3} peer_cpu_us={p:.3} ratio={:.3}",
            median(&mut ours_rps),
            median(&mut peer_rps),
            o / p
        );
        eprintln!(
            "# echo_c{conns} took {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
}
