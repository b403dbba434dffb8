//! Shared timing helpers for the benches (no external harness: each bench
//! prints `BENCH name=... key=value` lines that scripts can parse).

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
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
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
