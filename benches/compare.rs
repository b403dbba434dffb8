//! `cargo bench --bench compare`: stackful (yieldfrom) against stackless (the
//! twin in `yieldfrom::stackless`, and tokio), side by side.
//!
//! - `depth_<d>`: one pause + resume at the bottom of a chain of `d` nested
//!   calls (stackful: plain functions; stackless: boxed `async fn`s).
//!   Target: yieldfrom flat (d=1000 within 1.2× of d=1) and ≥ 20× faster
//!   than tokio at d=1000.
//! - `switch`, `spawn_join`: the basic costs, for the three runtimes
//!   (spawn + join: each runtime in child processes of its own).
//! - `idle_task_bytes`: resident memory per parked task (child processes),
//!   and the `size_of` of the stackless futures.
//! - `loc_*`: lines of code (not blank, not comments) of each runtime core.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::process::Command;
use std::time::Duration;

use yieldfrom::{Coro, EventLoop, spawn, stackless, yield_from, yield_now};

#[path = "common.rs"]
#[allow(dead_code)]
mod common;
use common::{median_ns, rss_bytes, run_sections, tokio_rt};

/// Stackful: `depth` plain calls, then `pauses` yields at the bottom.
fn chain(depth: u32, pauses: u64) {
    if depth == 0 {
        for _ in 0..pauses {
            yield_now();
        }
    } else {
        chain(depth - 1, pauses);
        black_box(depth);
    }
}

fn chain_twin(depth: u32, pauses: u64) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        if depth == 0 {
            for _ in 0..pauses {
                stackless::yield_now().await;
            }
        } else {
            chain_twin(depth - 1, pauses).await;
        }
    })
}

fn chain_tokio(depth: u32, pauses: u64) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        if depth == 0 {
            for _ in 0..pauses {
                tokio::task::yield_now().await;
            }
        } else {
            chain_tokio(depth - 1, pauses).await;
        }
    })
}

fn depths() {
    let rt = tokio_rt();
    let lp = EventLoop::builder().stack_size(2 << 20).build();
    let mut first = 0.0;
    for d in [1u32, 10, 100, 1000] {
        const N: u64 = 50_000;
        let ours = median_ns(7, N, |n| {
            lp.run_until_complete(Coro::new("chain", move || chain(d, n)));
        });
        let twin = median_ns(7, N, |n| stackless::run(chain_twin(d, n)));
        let tok = median_ns(7, N, |n| rt.block_on(chain_tokio(d, n)));
        if d == 1 {
            first = ours;
        }
        println!("BENCH name=depth_{d} ours_ns={ours:.1} stackless_ns={twin:.1} tokio_ns={tok:.1}");
        if d == 1000 {
            println!(
                "# depth 1000: ours/ours@1 = {:.2} (target <= 1.2), tokio/ours = {:.1} (target >= 20)",
                ours / first,
                tok / ours
            );
        }
    }
}

fn basics() {
    const N: u64 = 200_000;
    let rt = tokio_rt();
    let lp = EventLoop::new();
    let ours = median_ns(7, N, |n| {
        lp.run_until_complete(Coro::new("main", move || {
            let a = spawn(Coro::new("a", move || (0..n / 2).for_each(|_| yield_now())));
            let b = spawn(Coro::new("b", move || (0..n / 2).for_each(|_| yield_now())));
            yield_from(a);
            yield_from(b);
        }))
    });
    let twin = median_ns(7, N, |n| {
        stackless::run(async move {
            let a = stackless::spawn(async move {
                for _ in 0..n / 2 {
                    stackless::yield_now().await
                }
            });
            let b = stackless::spawn(async move {
                for _ in 0..n / 2 {
                    stackless::yield_now().await
                }
            });
            a.await;
            b.await;
        })
    });
    let tok = median_ns(7, N, |n| {
        rt.block_on(async move {
            let a = tokio::spawn(async move {
                for _ in 0..n / 2 {
                    tokio::task::yield_now().await
                }
            });
            let b = tokio::spawn(async move {
                for _ in 0..n / 2 {
                    tokio::task::yield_now().await
                }
            });
            a.await.unwrap();
            b.await.unwrap();
        })
    });
    println!("BENCH name=switch ours_ns={ours:.1} stackless_ns={twin:.1} tokio_ns={tok:.1}");

    // Spawn + join: each runtime in child processes of its own, three of
    // each, alternating. In one process the runtime measured second inherits
    // the heap the first left (records kept on our free list, or freed and
    // trimmed by glibc), which moved the twin's figure threefold.
    let (mut ours, mut twin, mut tok) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        ours.push(spawn_child("ours"));
        twin.push(spawn_child("stackless"));
        tok.push(spawn_child("tokio"));
    }
    let (ours, twin, tok) = (
        common::median(&mut ours),
        common::median(&mut twin),
        common::median(&mut tok),
    );
    println!("BENCH name=spawn_join ours_ns={ours:.1} stackless_ns={twin:.1} tokio_ns={tok:.1}");
}

/// Runs `--child-spawn which` and returns its figure.
fn spawn_child(which: &str) -> f64 {
    common::run_child(&["--child-spawn", which])[0]
}

/// Child: median ns per task of spawning 50,000 trivial tasks and joining
/// them, on one runtime, default settings.
fn child_spawn(which: &str) {
    const M: u64 = 50_000;
    let ns = match which {
        "ours" => common::spawn_join_ours(M),
        "stackless" => median_ns(7, M, |n| {
            stackless::run(async move {
                let t: Vec<_> = (0..n)
                    .map(|i| stackless::spawn(async move { black_box(i) }))
                    .collect();
                for t in t {
                    black_box(t.await);
                }
            })
        }),
        _ => common::spawn_join_tokio(M),
    };
    println!("{ns}");
}

/// Child: 100,000 tasks parked on a never-set event; prints bytes per task.
fn child_idle(which: &str) {
    const N: usize = 100_000;
    let before = rss_bytes();
    match which {
        "ours" => {
            yieldfrom::stack::set_default_size(32 * 1024);
            EventLoop::new().run(Coro::new("main", move || {
                let ev = std::rc::Rc::new(yieldfrom::sync::Event::new());
                let tasks: Vec<_> = (0..N)
                    .map(|_| {
                        let ev = ev.clone();
                        spawn(Coro::new("idle", move || ev.wait()))
                    })
                    .collect();
                yield_now();
                println!("{}", (rss_bytes() - before) / N);
                ev.set();
                tasks.into_iter().for_each(yield_from);
            }))
        }
        "stackless" => stackless::run(async move {
            let handles: Vec<_> = (0..N)
                .map(|_| stackless::spawn(stackless::sleep(Duration::from_millis(300))))
                .collect();
            stackless::yield_now().await;
            println!("{}", (rss_bytes() - before) / N);
            for h in handles {
                h.await;
            }
        }),
        _ => tokio_rt().block_on(async move {
            let handles: Vec<_> = (0..N)
                .map(|_| tokio::spawn(tokio::time::sleep(Duration::from_millis(300))))
                .collect();
            tokio::task::yield_now().await;
            println!("{}", (rss_bytes() - before) / N);
            for h in handles {
                h.await.unwrap();
            }
        }),
    }
}

fn idle_memory() {
    let measure = |which: &str| -> String {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--child", which])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    println!(
        "BENCH name=idle_task_bytes ours_bytes={} stackless_bytes={} tokio_bytes={} stackless_future_size={} tokio_future_size={}",
        measure("ours"),
        measure("stackless"),
        measure("tokio"),
        std::mem::size_of_val(&stackless::sleep(Duration::ZERO)),
        std::mem::size_of_val(&async {
            tokio::time::sleep(Duration::ZERO).await;
        })
    );
}

/// Lines that are neither blank nor comments.
fn loc(paths: &[&str]) -> usize {
    paths
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|text| {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("//"))
                .count()
        })
        .sum()
}

fn lines_of_code() {
    let root = env!("CARGO_MANIFEST_DIR");
    // The runtime itself on each side: the stackful files the twin mirrors,
    // plus what only a stackful runtime needs (its stacks); the whole twin.
    let files_in = |dir: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(format!("{root}/src/{dir}"))
            .expect("a source folder")
            .map(|e| e.expect("an entry").path().to_string_lossy().into_owned())
            .filter(|p| p.ends_with(".rs"))
            .collect();
        v.sort();
        v
    };
    let mut ours: Vec<String> = [
        "reason.rs",
        "context.rs",
        "suspend.rs",
        "future.rs",
        "timer.rs",
        "reactor.rs",
        "time.rs",
    ]
    .iter()
    .map(|f| format!("{root}/src/{f}"))
    .collect();
    for dir in ["task", "event_loop", "stack"] {
        ours.extend(files_in(dir));
    }
    let twin = files_in("stackless");
    let as_str = |v: &[String]| loc(&v.iter().map(String::as_str).collect::<Vec<_>>());
    println!(
        "BENCH name=loc ours_lines={} stackless_lines={} note=\"ours: reason, context, suspend, future, timer, reactor, time, task/, event_loop/, stack/; stackless: every file of src/stackless\"",
        as_str(&ours),
        as_str(&twin)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--child") {
        child_idle(&args[at + 1]);
        return;
    }
    if let Some(at) = args.iter().position(|a| a == "--child-spawn") {
        child_spawn(&args[at + 1]);
        return;
    }
    // `cargo bench --bench compare -- depth` runs one section.
    run_sections(
        &args,
        &[
            ("depth", depths),
            ("basics", basics),
            ("idle", idle_memory),
            ("loc", lines_of_code),
        ],
    );
}
