//! `cargo bench --bench runtime`: the event loop against tokio's current_thread runtime.
//!
//! One line per figure:
//! `BENCH name=<name> ours_ns=<median> peer_ns=<median> ratio=<ours/peer>`
//! (`ours_bytes`/`peer_bytes` for memory). Memory figures and spawn + join
//! are measured in child processes (this binary re-run with `--child <what>`), so that one
//! measurement's heap does not inflate the next.
//!
//! - `switch_yield_now`: two tasks ping-ponging with `yield_now`, per switch;
//!   peers: tokio `yield_now` and a tokio `Notify` handoff (target ≤ 0.2×).
//! - `spawn_join_100k`: spawn 100,000 trivial tasks and join them, per task
//!   (target ≤ 0.5×), default settings on both sides. Each side runs in child
//!   processes of its own, alternating; a second peer row runs tokio with
//!   glibc's heap trimming off (see `spawn_join`).
//! - `sleep_100k_rss`: resident memory per task with 100,000 tasks asleep (≤ 5 KiB).
//! - `sleep_1m`: 1,000,000 tasks asleep at once; wall time and memory.
//! - `timers_1m`: 1,000,000 timers with random deadlines within 1 s: time to
//!   schedule them (target ≤ 1.0× tokio, which needs a task per timer) and
//!   time until all fired.
//! - `timeouts_100k`: 100,000 `timeout(60 s, ..)` calls whose work finishes
//!   at once, per call, and the timer entries left (cancelled ones are swept
//!   as the heap grows, so it stays bounded).
//! - `stack_modes`: for each [`StackMode`](yieldfrom::stack::StackMode), the
//!   resident bytes per parked task (10,000 tasks dedicated, 100,000 and
//!   1,000,000 shared; target ≤ 5 KiB dedicated, ≤ 1.5 KiB shared) and the
//!   cost of a switch in a ring of 2 and of 64 tasks (in the ring of 64 every
//!   switch on a shared stack copies frames out and in; in the ring of 2 the
//!   two tasks sit on two different shared stacks and nothing is copied).

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use yieldfrom::stack::StackMode;
use yieldfrom::{Coro, EventLoop, spawn, yield_from, yield_now};

#[path = "common.rs"]
#[allow(dead_code)]
mod common;
use common::{median, median_ns, rss_bytes, run_child, run_child_env, run_sections, tokio_rt};

fn line(name: &str, ours: f64, peer: f64, unit: &str) {
    println!(
        "BENCH name={name} ours_{unit}={ours:.1} peer_{unit}={peer:.1} ratio={:.3}",
        ours / peer
    );
}

fn switch() {
    const N: u64 = 500_000;
    // One loop for every batch, as tokio's runtime is built once below.
    let lp = EventLoop::new();
    let ours = median_ns(9, N, |n| {
        lp.run_until_complete(Coro::new("main", move || {
            let a = spawn(Coro::new("a", move || {
                for _ in 0..n / 2 {
                    yield_now();
                }
            }));
            let b = spawn(Coro::new("b", move || {
                for _ in 0..n / 2 {
                    yield_now();
                }
            }));
            yield_from(a);
            yield_from(b);
        }));
    });
    let rt = tokio_rt();
    let peer = median_ns(9, N, |n| {
        rt.block_on(async move {
            let a = tokio::spawn(async move {
                for _ in 0..n / 2 {
                    tokio::task::yield_now().await;
                }
            });
            let b = tokio::spawn(async move {
                for _ in 0..n / 2 {
                    tokio::task::yield_now().await;
                }
            });
            a.await.unwrap();
            b.await.unwrap();
        })
    });
    let notify = median_ns(9, N, |n| {
        rt.block_on(async move {
            let (ping, pong) = (
                std::sync::Arc::new(tokio::sync::Notify::new()),
                std::sync::Arc::new(tokio::sync::Notify::new()),
            );
            let (p2, q2) = (ping.clone(), pong.clone());
            let b = tokio::spawn(async move {
                for _ in 0..n / 2 {
                    p2.notified().await;
                    q2.notify_one();
                }
            });
            for _ in 0..n / 2 {
                ping.notify_one();
                pong.notified().await;
            }
            b.await.unwrap();
        })
    });
    line("switch_yield_now", ours, peer, "ns");
    line("switch_vs_tokio_notify", ours, notify, "ns");
    let beaten = match (ours / peer <= 0.2, ours / notify <= 0.2) {
        (true, true) => "both peers",
        (true, false) => "tokio yield_now only",
        (false, true) => "tokio Notify only",
        (false, false) => "neither peer",
    };
    println!("# switch: the 0.2x target is met against {beaten}");
}

/// Spawn + join of 100,000 tasks: each side in child processes of its own,
/// three of each, alternating, so that neither inherits the other's heap
/// (glibc's trimmed or fragmented heap changes what the next side pays).
///
/// Two peer rows. `spawn_join_100k` is tokio as shipped. Joining 100,000
/// tasks frees their records in a burst, glibc gives the top of the heap back
/// to the kernel, and the next batch page-faults it in again; ours keeps
/// finished tasks' records (`yieldfrom::tuning::set_record_limit`) and does not
/// pay that. `spawn_join_100k_tokio_no_trim` runs tokio with glibc's trimming
/// switched off (`GLIBC_TUNABLES=glibc.malloc.trim_threshold=...`), which is
/// what tokio costs without that effect: the stricter comparison.
fn spawn_join() {
    let (mut ours, mut peer, mut no_trim) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        ours.push(run_child(&["--child", "spawn", "ours", "100000"])[0]);
        peer.push(run_child(&["--child", "spawn", "tokio", "100000"])[0]);
        no_trim.push(run_child_env(&["--child", "spawn", "tokio", "100000"], &[NO_TRIM])[0]);
    }
    let ours = median(&mut ours);
    line("spawn_join_100k", ours, median(&mut peer), "ns");
    line(
        "spawn_join_100k_tokio_no_trim",
        ours,
        median(&mut no_trim),
        "ns",
    );
}

/// glibc's heap trimming off (a threshold of 1 GB).
const NO_TRIM: (&str, &str) = ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1000000000");

/// Child: median ns per task of spawning `n` trivial tasks and joining them.
/// Default settings: one task runs at a time here, so one pooled stack serves
/// them all, and finished tasks' records are kept for the next batch by
/// default (see yieldfrom::tuning::set_record_limit).
fn child_spawn(which: &str, n: u64) {
    let ns = if which == "ours" {
        common::spawn_join_ours(n)
    } else {
        common::spawn_join_tokio(n)
    };
    println!("{ns}");
}

/// Child: `n` tasks asleep; prints bytes per task (and wall time, for 1M).
fn child_sleepers(which: &str, n: usize) {
    let before = rss_bytes();
    let started = Instant::now();
    let mode = match which {
        "ours-dedicated" => Some(StackMode::Dedicated),
        "ours-shared" => Some(StackMode::Shared),
        "ours" => Some(StackMode::Auto),
        _ => None,
    };
    match mode {
        Some(mode) => {
            yieldfrom::stack::set_default_size(32 * 1024);
            EventLoop::builder()
                .stack_mode(mode)
                .build()
                .run(Coro::new("main", move || {
                    // The deadline is set once every task is spawned, so that
                    // none wakes before the measurement however long spawning takes.
                    let until = Rc::new(Cell::new(None));
                    let tasks: Vec<_> = (0..n)
                        .map(|_| {
                            let until = until.clone();
                            spawn(Coro::new("sleeper", move || {
                                yieldfrom::sleep_until(until.get().expect("set before tasks run"))
                            }))
                        })
                        .collect();
                    until.set(Some(yieldfrom::now() + Duration::from_millis(1500)));
                    yieldfrom::sleep(Duration::from_millis(500)); // every task is asleep now
                    let measured = rss_bytes();
                    for t in tasks {
                        yield_from(t);
                    }
                    println!(
                        "{} {:.3}",
                        (measured - before) / n,
                        started.elapsed().as_secs_f64()
                    );
                }));
        }
        None => {
            tokio_rt().block_on(async move {
                let until = std::sync::Arc::new(std::sync::OnceLock::new());
                let tasks: Vec<_> = (0..n)
                    .map(|_| {
                        let until = until.clone();
                        tokio::spawn(async move {
                            let at: tokio::time::Instant =
                                *until.get().expect("set before tasks run");
                            tokio::time::sleep_until(at).await
                        })
                    })
                    .collect();
                until
                    .set(tokio::time::Instant::now() + Duration::from_millis(1500))
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(500)).await;
                let measured = rss_bytes();
                for t in tasks {
                    t.await.unwrap();
                }
                println!(
                    "{} {:.3}",
                    (measured - before) / n,
                    started.elapsed().as_secs_f64()
                );
            });
        }
    }
}

fn sleepers() {
    let ours = run_child(&["--child", "sleep", "ours", "100000"]);
    let peer = run_child(&["--child", "sleep", "tokio", "100000"]);
    line("sleep_100k_rss", ours[0], peer[0], "bytes");
    let ours = run_child(&["--child", "sleep", "ours", "1000000"]);
    let peer = run_child(&["--child", "sleep", "tokio", "1000000"]);
    println!(
        "BENCH name=sleep_1m ours_bytes={:.0} peer_bytes={:.0} ours_s={:.2} peer_s={:.2} needed=\"stock kernel (vm.max_map_count={}), 32 KiB stacks\"",
        ours[0],
        peer[0],
        ours[1],
        peer[1],
        yieldfrom::stack::max_map_count()
    );
}

/// 1M timers with random deadlines within 1 s: (schedule seconds, all fired seconds).
fn timers() {
    const N: usize = 1_000_000;
    let mut rng = fastrand::Rng::with_seed(7);
    let delays: Vec<Duration> = (0..N)
        .map(|_| Duration::from_micros(rng.u64(0..1_000_000)))
        .collect();

    let lp = EventLoop::new();
    let fired = Rc::new(Cell::new(0usize));
    let in_order = Rc::new(Cell::new(true));
    let last = Rc::new(Cell::new(lp.now()));
    let t0 = Instant::now();
    let base = lp.now();
    for d in &delays {
        let (fired, in_order, last) = (fired.clone(), in_order.clone(), last.clone());
        let when = base + *d;
        lp.call_at(when, move || {
            fired.set(fired.get() + 1);
            if when < last.get() {
                in_order.set(false);
            }
            last.set(when);
        });
    }
    let ours_schedule = t0.elapsed().as_secs_f64();
    lp.run_until_idle();
    let ours_all = t0.elapsed().as_secs_f64();
    assert_eq!(fired.get(), N);
    assert!(in_order.get(), "timers fired out of deadline order");

    let rt = tokio_rt();
    let (peer_schedule, peer_all) = rt.block_on(async {
        let t0 = Instant::now();
        let base = tokio::time::Instant::now();
        let tasks: Vec<_> = delays
            .iter()
            .map(|d| tokio::spawn(tokio::time::sleep_until(base + *d)))
            .collect();
        let schedule = t0.elapsed().as_secs_f64();
        for t in tasks {
            t.await.unwrap();
        }
        (schedule, t0.elapsed().as_secs_f64())
    });
    println!(
        "BENCH name=timers_1m_schedule ours_s={ours_schedule:.3} peer_s={peer_schedule:.3} ratio={:.3}",
        ours_schedule / peer_schedule
    );
    println!(
        "BENCH name=timers_1m_all_fired ours_s={ours_all:.3} peer_s={peer_all:.3} ratio={:.3}",
        ours_all / peer_all
    );
}

/// ns per switch in a ring of `tasks` tasks taking turns with `yield_now`.
fn ring(mode: StackMode, tasks: u64) -> f64 {
    const N: u64 = 400_000;
    let lp = EventLoop::builder().stack_mode(mode).build();
    median_ns(9, N, |n| {
        lp.run_until_complete(Coro::new("main", move || {
            let ring: Vec<_> = (0..tasks)
                .map(|_| {
                    spawn(Coro::new("ring", move || {
                        for _ in 0..n / tasks {
                            yield_now();
                        }
                    }))
                })
                .collect();
            ring.into_iter().for_each(yield_from);
        }));
    })
}

fn stack_modes() {
    let dedicated = run_child(&["--child", "sleep", "ours-dedicated", "10000"]);
    let shared = run_child(&["--child", "sleep", "ours-shared", "100000"]);
    let shared_1m = run_child(&["--child", "sleep", "ours-shared", "1000000"]);
    println!(
        "BENCH name=stack_mode_rss dedicated_10k_bytes={:.0} shared_100k_bytes={:.0} shared_1m_bytes={:.0}",
        dedicated[0], shared[0], shared_1m[0]
    );
    for tasks in [2, 64] {
        let d = ring(StackMode::Dedicated, tasks);
        let sh = ring(StackMode::Shared, tasks);
        println!(
            "BENCH name=stack_mode_switch_ring{tasks} dedicated_ns={d:.1} shared_ns={sh:.1} ratio={:.3}",
            sh / d
        );
    }
}

/// 100,000 `timeout(60 s, ..)` calls whose work finishes at once: ns per
/// call, and how many timer entries are left in our heap (swept as it grows)
/// at the end; tokio's `timeout` is the peer.
fn timeouts() {
    const N: u64 = 100_000;
    let lp = EventLoop::new();
    let l = lp.clone();
    let (ours, left) = lp.run_until_complete(Coro::new("main", move || {
        let t0 = Instant::now();
        for i in 0..N {
            let r = yieldfrom::timeout(Duration::from_secs(60), || i);
            assert_eq!(r, Ok(i));
        }
        let ns = t0.elapsed().as_nanos() as f64 / N as f64;
        let debug = format!("{l:?}");
        let left: usize = debug
            .split("timers=")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(usize::MAX);
        (ns, left)
    }));
    let peer = tokio_rt().block_on(async {
        let t0 = Instant::now();
        for i in 0..N {
            let r = tokio::time::timeout(Duration::from_secs(60), async move { i }).await;
            assert_eq!(r.unwrap(), i);
        }
        t0.elapsed().as_nanos() as f64 / N as f64
    });
    println!(
        "BENCH name=timeouts_100k ours_ns={ours:.1} peer_ns={peer:.1} ratio={:.3} timers_left={left}",
        ours / peer
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--child") {
        let (what, which, n) = (&args[at + 1], &args[at + 2], &args[at + 3]);
        match what.as_str() {
            "sleep" => child_sleepers(which, n.parse().unwrap()),
            "spawn" => child_spawn(which, n.parse().unwrap()),
            _ => panic!("unknown child {what}"),
        }
        return;
    }
    run_sections(
        &args,
        &[
            ("switch", switch),
            ("spawn", spawn_join),
            ("sleep", sleepers),
            ("timers", timers),
            ("timeouts", timeouts),
            ("stack_modes", stack_modes),
        ],
    );
}
