//! `cargo bench --bench http`: the `/plain` JSON endpoint
//! (`{"message":"hello"}`) on yieldfrom's HTTP server and on hyper 1 over
//! tokio's current_thread runtime, driven by wrk in the same run.
//!
//! Each server runs in a child process (this binary with `--server
//! ours|hyper`) pinned to core 0; wrk (one thread) is pinned to core 1 and
//! runs for 10 s at 100, 1,000 and 10,000 connections, after a 2 s warm-up.
//! The server's CPU (user + system, from `/proc/<pid>/stat`) is read at the
//! start and the end of the measured window. Seven rounds per connection
//! count, the servers taking turns at going first; one line per count, the
//! medians over the rounds:
//!
//! `BENCH name=http_plain_c<N> ours_rps=<r> hyper_rps=<r> rps_ratio=<ours/hyper>
//! cpu_ratio=<our server CPU per request / hyper's> rounds=7
//! round_ratios=<each round's req/s ratio, in order>`
//!
//! Then memory: 5,000 and 10,000 keep-alive connections, each after one
//! request, held idle; the server's resident memory (`VmRSS`) before and
//! after, per connection:
//!
//! `BENCH name=http_idle_conn_bytes conns=<N> ours=<bytes> hyper=<bytes>`
//!
//! (`cargo bench --bench http -- memory` runs only that part.)
//!
//! Then a hostile upload (`-- upload` runs only this): server CPU per
//! 1 MiB body sent as 1-byte chunks (6 MiB of wire) against the same body
//! with `Content-Length`, each uploaded back to back for 3 s; and `/plain`'s
//! p99 latency at 100 connections, idle and while one client uploads such
//! bodies without pause on the same loop:
//!
//! `BENCH name=http_chunked_upload chunked_cpu_ms=<per body> length_cpu_ms=<per body>
//! cpu_ratio=<chunked/length> plain_p99_idle_ms=<ms> plain_p99_upload_ms=<ms>
//! p99_ratio=<upload/idle>`
//!
//! Then HTTPS (`-- tls` runs only this): both servers with the same rustls
//! configuration (the `ring` provider, a certificate made at run time),
//! hyper behind tokio-rustls; wrk over TLS at 100 and 1,000 keep-alive
//! connections, and at 50 with `Connection: close` (a full handshake per
//! request); three rounds each, alternating, medians:
//!
//! `BENCH name=https_plain_c<N> ...` and `BENCH name=https_new_conn_c50 ...`
//! (the fields of `http_plain_c<N>`), then resident bytes per idle TLS
//! keep-alive connection (2,000, each after one request; `-- tls idle` runs
//! only this; `-- tls https_new_conn_c50` runs only that row):
//! `BENCH name=https_idle_conn_bytes conns=2000 ours=<bytes> hyper=<bytes>`
//!
//! Needs `wrk` (`apt-get install -y wrk`) and `taskset`; fails at once,
//! saying so, when either is missing. Loopback only; every run is bounded.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[path = "common.rs"]
#[allow(dead_code)]
mod common;
use common::{bench_certificates, cpu_s, hold_idle, median, raise_fd_limit, wrk_p99, wrk_totals};

const WINDOW: &str = "10s";
const CONNECTIONS: [usize; 3] = [100, 1_000, 10_000];
/// Rounds per connection count (each: both servers, in alternating order).
const ROUNDS: usize = 7;

/// The certificate and key (PEM files) a TLS server of this bench uses.
type TlsFiles = Option<(String, String)>;

fn ours(addr: &'static str, tls: TlsFiles) {
    use yieldfrom::http::{self, Config, Response, Router};
    yieldfrom::run(yieldfrom::Coro::new("bench server", move || {
        let router = Router::new()
            .get("/plain", |_| {
                Response::json(&serde_json::json!({"message": "hello"}))
            })
            .post("/upload", |req| {
                Response::text(format!("{}", req.body().len()))
            });
        // Idle connections are held for the memory figure: no idle timeout in the way.
        let mut config = Config::default()
            .max_connections(20_000)
            .keep_alive_timeout(Duration::from_secs(120));
        if let Some((cert, key)) = &tls {
            config = config.tls_pem(cert, key).unwrap();
        }
        let server = http::serve_with(addr, router, config).unwrap();
        println!("{}", server.local_addr());
        // Until the parent closes our stdin.
        let _ = yieldfrom::to_thread(|| std::io::stdin().read_line(&mut String::new()));
        server.shutdown(Duration::from_secs(1));
    }));
}

fn hyper(addr: &str, tls: TlsFiles) {
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The same rustls configuration as ours: ring, ALPN http/1.1.
    let acceptor = tls.map(|(cert, key)| {
        tokio_rustls::TlsAcceptor::from(
            yieldfrom::tls::server_config_from_pem(cert, key, &[b"http/1.1"]).unwrap(),
        )
    });
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_line(&mut String::new());
            std::process::exit(0);
        });
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let acceptor = acceptor.clone();
            tokio::task::spawn(async move {
                let service = service_fn(|_req| async {
                    let body = serde_json::json!({"message": "hello"}).to_string();
                    Ok::<_, std::convert::Infallible>(
                        hyper::Response::builder()
                            .header("Content-Type", "application/json")
                            .body(Full::new(Bytes::from(body)))
                            .unwrap(),
                    )
                });
                match acceptor {
                    None => {
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                    Some(acceptor) => {
                        let Ok(stream) = acceptor.accept(stream).await else {
                            return;
                        };
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
            });
        }
    });
}

fn start(kind: &str) -> (Child, String) {
    start_with(kind, &None)
}

/// A server of `kind` (`ours`, `hyper`), over TLS with `tls` if given.
fn start_with(kind: &str, tls: &TlsFiles) -> (Child, String) {
    let mut command = Command::new("taskset");
    command
        .args(["-c", "0"])
        .arg(std::env::current_exe().unwrap())
        .args(["--server", kind]);
    if let Some((cert, key)) = tls {
        command.args(["--tls", cert, key]);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("taskset is installed");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().to_string())
}

/// wrk at `conns` connections for `duration`; returns (requests, seconds).
fn wrk(addr: &str, conns: usize, duration: &str) -> (f64, f64) {
    wrk_url(&format!("http://{addr}/plain"), conns, duration, false)
}

/// wrk on `url`; `close`: `Connection: close`, a new connection (and, over
/// TLS, a new handshake) per request.
fn wrk_url(url: &str, conns: usize, duration: &str, close: bool) -> (f64, f64) {
    let mut command = Command::new("taskset");
    command
        .args(["-c", "1", "wrk", "-t1"])
        .arg(format!("-c{conns}"))
        .arg(format!("-d{duration}"))
        .arg(url);
    if close {
        command.args(["-H", "Connection: close"]);
    }
    let out = command.output().expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (requests, secs) = wrk_totals(&text);
    assert!(
        !text.contains("Non-2xx"),
        "the server answered errors:\n{text}"
    );
    (requests, secs)
}

/// Resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024.0
}

/// Resident bytes per idle keep-alive connection (after one request each).
fn idle_bytes(kind: &str, conns: usize) -> f64 {
    let (mut child, addr) = start(kind);
    // Warm: the server's own start-up allocations are not the connections'.
    wrk(&addr, 10, "1s");
    std::thread::sleep(Duration::from_millis(200));
    let before = rss(child.id());
    let held = hold_idle(
        &addr,
        conns,
        b"GET /plain HTTP/1.1\r\nHost: b\r\n\r\n",
        b"}",
    );
    std::thread::sleep(Duration::from_millis(500));
    let after = rss(child.id());
    drop(held);
    drop(child.stdin.take());
    let _ = child.wait();
    (after - before) / conns as f64
}

/// Requests per second and CPU seconds per request of one server at `conns`.
fn measure(kind: &str, conns: usize) -> (f64, f64) {
    let (mut child, addr) = start(kind);
    wrk(&addr, conns, "2s"); // warm-up: connections, buffers, caches
    let before = cpu_s(child.id());
    let (requests, secs) = wrk(&addr, conns, WINDOW);
    let cpu = cpu_s(child.id()) - before;
    drop(child.stdin.take());
    let _ = child.wait();
    (requests / secs, cpu / requests)
}

/// [`measure`] over HTTPS: `close` makes every request a new connection.
fn measure_tls(kind: &str, conns: usize, close: bool, tls: &TlsFiles) -> (f64, f64) {
    let (mut child, addr) = start_with(kind, tls);
    let url = format!("https://{addr}/plain");
    wrk_url(&url, conns, "2s", close);
    let before = cpu_s(child.id());
    let (requests, secs) = wrk_url(&url, conns, WINDOW, close);
    let cpu = cpu_s(child.id()) - before;
    drop(child.stdin.take());
    let _ = child.wait();
    (requests / secs, cpu / requests)
}

/// Resident bytes per idle TLS keep-alive connection, each after one
/// request over a full handshake (rustls on the client side, trusting `ca`).
fn idle_tls_bytes(kind: &str, conns: usize, tls: &TlsFiles, ca: &std::path::Path) -> f64 {
    use std::io::{Read, Write};
    use tokio_rustls::rustls;
    let (mut child, addr) = start_with(kind, tls);
    let config = yieldfrom::tls::client_config_with_ca(ca).unwrap();
    let open = || {
        let tcp = std::net::TcpStream::connect(&addr).unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
        let mut s = rustls::StreamOwned::new(conn, tcp);
        s.write_all(b"GET /plain HTTP/1.1\r\nHost: b\r\n\r\n")
            .unwrap();
        let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
        while !got.ends_with(b"}") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "the server closed a connection before answering");
            got.extend_from_slice(&buf[..n]);
        }
        s
    };
    drop((0..10).map(|_| open()).collect::<Vec<_>>()); // warm
    std::thread::sleep(Duration::from_millis(200));
    let before = rss(child.id());
    let held: Vec<_> = (0..conns).map(|_| open()).collect();
    std::thread::sleep(Duration::from_millis(500));
    let after = rss(child.id());
    drop(held);
    drop(child.stdin.take());
    let _ = child.wait();
    (after - before) / conns as f64
}

/// Rounds per HTTPS scenario (each: both servers, alternating order).
const TLS_ROUNDS: usize = 3;

/// The HTTPS rows: keep-alive at 100 and 1,000 connections, a new
/// connection per request, and idle memory.
fn tls_scenarios(idle_only: bool, only: &[&str]) {
    let (cert, key, ca) = bench_certificates();
    let tls = Some((cert, key));
    let rows = [
        ("https_plain_c100", 100, false),
        ("https_plain_c1000", 1_000, false),
        ("https_new_conn_c50", 50, true),
    ];
    let chosen = |name: &str| !idle_only && (only.is_empty() || only.contains(&name));
    for (name, conns, close) in rows.into_iter().filter(|r| chosen(r.0)) {
        let (mut ours_rps, mut hyper_rps) = (Vec::new(), Vec::new());
        let (mut rps_ratio, mut cpu_ratio) = (Vec::new(), Vec::new());
        for round in 0..TLS_ROUNDS {
            let ((o_rps, o_cpu), (h_rps, h_cpu)) = if round % 2 == 0 {
                let o = measure_tls("ours", conns, close, &tls);
                (o, measure_tls("hyper", conns, close, &tls))
            } else {
                let h = measure_tls("hyper", conns, close, &tls);
                (measure_tls("ours", conns, close, &tls), h)
            };
            ours_rps.push(o_rps);
            hyper_rps.push(h_rps);
            rps_ratio.push(o_rps / h_rps);
            cpu_ratio.push(o_cpu / h_cpu);
        }
        let each: Vec<String> = rps_ratio.iter().map(|r| format!("{r:.3}")).collect();
        println!(
            "BENCH name={name} ours_rps={:.0} hyper_rps={:.0} rps_ratio={:.3} cpu_ratio={:.3} rounds={TLS_ROUNDS} round_ratios={}",
            median(&mut ours_rps),
            median(&mut hyper_rps),
            median(&mut rps_ratio),
            median(&mut cpu_ratio),
            each.join(",")
        );
    }
    let conns = 2_000;
    if !only.is_empty() {
        return;
    }
    println!(
        "BENCH name=https_idle_conn_bytes conns={conns} ours={:.0} hyper={:.0}",
        idle_tls_bytes("ours", conns, &tls, &ca),
        idle_tls_bytes("hyper", conns, &tls, &ca)
    );
    if let Some(dir) = ca.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A 1 MiB body as the wire of one request: 1-byte chunks, or with
/// `Content-Length`.
fn upload_request(chunked: bool) -> Vec<u8> {
    let body: Vec<u8> = (0..1024 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    let mut wire = Vec::with_capacity(body.len() * 6 + 100);
    if chunked {
        wire.extend_from_slice(
            b"POST /upload HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        for &b in &body {
            wire.extend_from_slice(b"1\r\n");
            wire.push(b);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
    } else {
        wire.extend_from_slice(
            format!(
                "POST /upload HTTP/1.1\r\nHost: b\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        wire.extend_from_slice(&body);
    }
    wire
}

/// Uploads `wire` on one keep-alive connection, back to back, until `stop`
/// (or for `secs` seconds): how many.
fn upload_loop(addr: &str, wire: &[u8], secs: f64, stop: &std::sync::atomic::AtomicBool) -> usize {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    let began = std::time::Instant::now();
    let mut n = 0;
    let mut reply = [0u8; 4096];
    while began.elapsed().as_secs_f64() < secs && !stop.load(std::sync::atomic::Ordering::Relaxed) {
        c.write_all(wire).unwrap();
        let mut got = Vec::new();
        while !got.ends_with(b"1048576") {
            let k = c.read(&mut reply).unwrap();
            assert!(
                k > 0,
                "the server closed the upload: {}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&reply[..k]);
        }
        n += 1;
    }
    n
}

/// The upload scenario: (chunked CPU ms per body, length CPU ms per body,
/// /plain p99 idle, /plain p99 during chunked uploads).
fn upload_scenario() -> (f64, f64, f64, f64) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (mut child, addr) = start("ours");
    let never = AtomicBool::new(false);
    let cpu_per_body = |chunked: bool| {
        let wire = upload_request(chunked);
        upload_loop(&addr, &wire, 0.5, &never); // warm-up
        let before = cpu_s(child.id());
        let n = taskset_here(|| upload_loop(&addr, &wire, 3.0, &never));
        (cpu_s(child.id()) - before) * 1000.0 / n as f64
    };
    let chunked_ms = cpu_per_body(true);
    let length_ms = cpu_per_body(false);
    let latency = |addr: &str| {
        let out = Command::new("taskset")
            .args(["-c", "1", "wrk", "-t1", "-c100", "-d5s", "--latency"])
            .arg(format!("http://{addr}/plain"))
            .output()
            .expect("wrk runs");
        wrk_p99(&String::from_utf8_lossy(&out.stdout))
    };
    latency(&addr); // warm-up
    let idle = latency(&addr);
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let uploader = {
        let (addr, stop) = (addr.clone(), stop.clone());
        std::thread::spawn(move || {
            let wire = upload_request(true);
            upload_loop(&addr, &wire, 60.0, &stop)
        })
    };
    let during = latency(&addr);
    stop.store(true, Ordering::Relaxed);
    assert!(
        uploader.join().unwrap() > 0,
        "no upload finished during the run"
    );
    drop(child.stdin.take());
    let _ = child.wait();
    (chunked_ms, length_ms, idle, during)
}

/// Runs `f` on this thread pinned to core 1 (the client's), then unpins.
fn taskset_here<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: sched_{get,set}affinity(2) on this thread (pid 0), with a
    // cpu_set_t owned by this frame; CPU_ZERO/CPU_SET write only into it.
    unsafe {
        let mut old: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut old);
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(1, &mut one);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one);
        let out = f();
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &old);
        out
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--server") {
        raise_fd_limit();
        let tls = args
            .iter()
            .position(|a| a == "--tls")
            .map(|t| (args[t + 1].clone(), args[t + 2].clone()));
        match args[at + 1].as_str() {
            "ours" => ours("127.0.0.1:0", tls),
            "hyper" => hyper("127.0.0.1:0", tls),
            other => panic!("unknown server {other}"),
        }
        return;
    }
    if args.iter().any(|a| a == "--bench") || args.len() == 1 {
        for tool in ["wrk", "taskset"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success());
            assert!(
                found,
                "the http bench needs `{tool}` (apt-get install -y wrk util-linux)"
            );
        }
    }
    raise_fd_limit();
    let memory_only = args.iter().any(|a| a == "memory");
    let upload_only = args.iter().any(|a| a == "upload");
    let tls_only = args.iter().any(|a| a == "tls");
    if tls_only {
        let rows: Vec<&str> = args
            .iter()
            .skip(1)
            .map(String::as_str)
            .filter(|a| a.starts_with("https_"))
            .collect();
        tls_scenarios(args.iter().any(|a| a == "idle"), &rows);
        return;
    }
    let only: Vec<usize> = args.iter().skip(1).filter_map(|a| a.parse().ok()).collect();
    for conns in CONNECTIONS {
        if memory_only || upload_only || (!only.is_empty() && !only.contains(&conns)) {
            continue;
        }
        // Rounds alternate which server goes first; medians over rounds.
        let (mut ours_rps, mut hyper_rps) = (Vec::new(), Vec::new());
        let (mut rps_ratio, mut cpu_ratio) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let ((o_rps, o_cpu), (h_rps, h_cpu)) = if round % 2 == 0 {
                let o = measure("ours", conns);
                (o, measure("hyper", conns))
            } else {
                let h = measure("hyper", conns);
                (measure("ours", conns), h)
            };
            ours_rps.push(o_rps);
            hyper_rps.push(h_rps);
            rps_ratio.push(o_rps / h_rps);
            cpu_ratio.push(o_cpu / h_cpu);
        }
        let each: Vec<String> = rps_ratio.iter().map(|r| format!("{r:.3}")).collect();
        println!(
            "BENCH name=http_plain_c{conns} ours_rps={:.0} hyper_rps={:.0} rps_ratio={:.3} cpu_ratio={:.3} rounds={ROUNDS} round_ratios={}",
            median(&mut ours_rps),
            median(&mut hyper_rps),
            median(&mut rps_ratio),
            median(&mut cpu_ratio),
            each.join(",")
        );
    }
    if only.is_empty() && !memory_only {
        let (chunked, length, idle, during) = upload_scenario();
        println!(
            "BENCH name=http_chunked_upload chunked_cpu_ms={chunked:.2} length_cpu_ms={length:.2} cpu_ratio={:.2} plain_p99_idle_ms={idle:.2} plain_p99_upload_ms={during:.2} p99_ratio={:.2}",
            chunked / length,
            during / idle
        );
    }
    if only.is_empty() && !memory_only && !upload_only {
        tls_scenarios(false, &[]);
    }
    if only.is_empty() && !upload_only {
        for conns in [5_000, 10_000] {
            println!(
                "BENCH name=http_idle_conn_bytes conns={conns} ours={:.0} hyper={:.0}",
                idle_bytes("ours", conns),
                idle_bytes("hyper", conns)
            );
        }
    }
}
