//! Shared timing helpers for the benches (no external harness: each bench
//! prints `BENCH name=... key=value` lines that scripts can parse).

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

/// Runs `f(iters)` `batches` times and returns the median time per iteration in ns.
pub fn median_ns(batches: usize, iters: u64, mut f: impl FnMut(u64)) -> f64 {
    f(iters / 10 + 1); // warm up
    let mut samples: Vec<f64> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            f(iters);
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    median(&mut samples)
}

/// Prints one comparison line.
pub fn report(name: &str, ours: f64, other_key: &str, other: f64) {
    println!(
        "BENCH name={name} ours_ns={ours:.2} {other_key}={other:.2} ratio={:.3}",
        ours / other
    );
}

/// Resident memory of this process (VmRSS), in bytes.
pub fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: usize = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

/// Runs the sections whose name contains the first plain argument (all of
/// them without one): `cargo bench --bench runtime -- spawn`.
pub fn run_sections(args: &[String], sections: &[(&str, fn())]) {
    let only = args.iter().skip(1).find(|a| !a.starts_with('-'));
    for (name, run) in sections {
        if only.is_none_or(|o| name.contains(o.as_str())) {
            run();
        }
    }
}

/// tokio's current_thread runtime, the peer of every comparison.
pub fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The median of a few figures.
pub fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    if xs.len().is_multiple_of(2) {
        (xs[mid - 1] + xs[mid]) / 2.0
    } else {
        xs[mid]
    }
}

/// Runs this bench binary again with `args` and returns the numbers it prints.
pub fn run_child(args: &[&str]) -> Vec<f64> {
    run_child_env(args, &[])
}

/// The same, with extra environment variables.
pub fn run_child_env(args: &[&str], env: &[(&str, &str)]) -> Vec<f64> {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(|w| w.parse().unwrap())
        .collect()
}

/// Median ns per task of spawning `n` trivial tasks and joining them on
/// yieldfrom, default settings, one loop for every batch.
pub fn spawn_join_ours(n: u64) -> f64 {
    use yieldfrom::{Coro, EventLoop, spawn, yield_from};
    let lp = EventLoop::new();
    median_ns(7, n, |n| {
        lp.run_until_complete(Coro::new("main", move || {
            let tasks: Vec<_> = (0..n)
                .map(|i| spawn(Coro::new("t", move || black_box(i))))
                .collect();
            for t in tasks {
                black_box(yield_from(t));
            }
        }));
    })
}

/// The same on tokio's current_thread runtime (built once, as ours is).
pub fn spawn_join_tokio(n: u64) -> f64 {
    let rt = tokio_rt();
    median_ns(7, n, |n| {
        rt.block_on(async move {
            let tasks: Vec<_> = (0..n)
                .map(|i| tokio::spawn(async move { black_box(i) }))
                .collect();
            for t in tasks {
                black_box(t.await.unwrap());
            }
        })
    })
}

/// Raises this process's soft limit on open files to its hard limit (the
/// benches open thousands of sockets).
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct it is given; setrlimit reads it;
    // only this process's soft limit changes.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

/// User + system CPU time of `pid`, in seconds.
pub fn cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let mut fields = after_name.split(' ');
    let utime: f64 = fields.nth(11).unwrap().parse().unwrap();
    let stime: f64 = fields.next().unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (utime + stime) / ticks
}

/// The requests and seconds of a wrk report, from its line
/// `  1234567 requests in 10.00s, 123.45MB read`.
pub fn wrk_totals(text: &str) -> (f64, f64) {
    let line = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .unwrap_or_else(|| panic!("no request count in wrk's output:\n{text}"));
    let mut words = line.split_whitespace();
    let requests: f64 = words.next().unwrap().parse().unwrap();
    let secs: f64 = words
        .nth(2)
        .unwrap()
        .trim_end_matches(',')
        .trim_end_matches('s')
        .parse()
        .unwrap();
    (requests, secs)
}

/// A latency in wrk's units (`1.23ms`, `850.00us`, `1.02s`), in ms.
pub fn wrk_ms(text: &str) -> f64 {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (text, 1.0)
    };
    number.parse::<f64>().unwrap() * scale
}

/// The 99th percentile of a `wrk --latency` report, in ms.
pub fn wrk_p99(text: &str) -> f64 {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| wrk_ms(v.trim()))
        .unwrap_or(f64::NAN)
}

/// `n` keep-alive connections to `addr`, each sent `request` and read until
/// its reply ends with `reply_end` (the body's last byte), then left idle.
#[allow(dead_code)] // each bench compiles this module; not all use it
pub fn hold_idle(
    addr: &str,
    n: usize,
    request: &[u8],
    reply_end: &[u8],
) -> Vec<std::net::TcpStream> {
    use std::io::{Read, Write};
    (0..n)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            c.write_all(request).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got.ends_with(reply_end) {
                let n = c.read(&mut buf).unwrap();
                assert!(n > 0, "the server closed a connection before answering");
                got.extend_from_slice(&buf[..n]);
            }
            c
        })
        .collect()
}

/// A throwaway CA and a certificate for `localhost`/127.0.0.1 it signs,
/// as PEM files in the temp directory: (certificate, key, CA).
pub fn bench_certificates() -> (String, String, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let dir = std::env::temp_dir().join(format!("yieldfrom-bench-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Names of their own: a leaf whose subject is its issuer's reads to
    // OpenSSL (Python's ssl) as self-issued, and fails to verify.
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "yieldfrom bench CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let leaf = leaf.signed_by(&key, &issuer).unwrap();
    let (cert_path, key_path, ca_path) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("ca.pem"),
    );
    std::fs::write(&cert_path, leaf.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    std::fs::write(&ca_path, ca.pem()).unwrap();
    (
        cert_path.to_string_lossy().into_owned(),
        key_path.to_string_lossy().into_owned(),
        ca_path,
    )
}
