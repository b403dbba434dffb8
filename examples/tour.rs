//! The tour: every numbered example, in the tutorial's order, in one run.
//!
//! `cargo run --release --example tour` — each example gets a heading and
//! runs on the virtual clock (sleeps take no real time, and it says so at the
//! top), and every event loop prints its timeline when it closes; the whole
//! tour finishes in a few seconds. Two sections run on the real clock,
//! because real time is their lesson: 06's blocking call and 09's
//! computation. The output is the same on every run except where real work
//! is measured: example 09's heartbeat count and times, example 12's
//! nanoseconds, and the blocked time example 06's warning measures. `-- --step` runs it under the stepper (Enter steps, `c` runs
//! on, `q` quits). Run one example alone for real time:
//! `cargo run --example 04_tasks_timeline`.
//!
//! Expected output: the examples' own outputs (see each file's header), one
//! after the other, under headings like
//! ```text
//! ━━━ 01 · a coroutine object is lazy ━━━
//! ```

#[path = "echo_server.rs"]
mod echo_server;
#[path = "01_coroutine_is_lazy.rs"]
mod ex01;
#[path = "02_await_pauses.rs"]
mod ex02;
#[path = "03_event_loop.rs"]
mod ex03;
#[path = "04_tasks_timeline.rs"]
mod ex04;
#[path = "05_chef.rs"]
mod ex05;
#[path = "06_blocking_mistakes.rs"]
mod ex06;
#[path = "07_generators_and_yield_from.rs"]
mod ex07;
#[path = "08_awaitables.rs"]
mod ex08;
#[path = "09_cpu_bound.rs"]
mod ex09;
#[path = "10_call_center.rs"]
mod ex10;
#[path = "11_users_api.rs"]
mod ex11;
#[path = "12_stackless_vs_stackful.rs"]
mod ex12;
#[path = "13_race_explorer.rs"]
mod ex13;
#[path = "14_files.rs"]
mod ex14;
#[path = "15_crawler.rs"]
mod ex15;
#[path = "16_api_calls.rs"]
mod ex16;

fn main() {
    let step = std::env::args().any(|a| a == "--step");
    // SAFETY: set before any other thread exists; nothing reads the
    // environment concurrently.
    unsafe {
        std::env::set_var("YIELDFROM_VIRTUAL_CLOCK", "1");
        // Each loop prints its timeline (on stderr) when it closes.
        if std::env::var_os("YIELDFROM_TRACE").is_none() {
            std::env::set_var("YIELDFROM_TRACE", "timeline");
        }
        if step {
            std::env::set_var("YIELDFROM_STEP", "1");
        }
    }
    println!(
        "Every section runs on the virtual clock (a sleep takes no real time, \
         and the times shown are exact), except where real time is the \
         lesson: 06's blocking call and 09's computation run on the real clock."
    );
    let started = std::time::Instant::now();
    let chapters: [(&str, &str, fn()); 17] = [
        ("01", "a coroutine object is lazy", ex01::main),
        ("02", "await pauses the task", ex02::main),
        ("03", "the event loop, step by step", ex03::main),
        ("04", "tasks run concurrently", ex04::main),
        ("05", "the chef", ex05::main),
        ("06", "blocking mistakes", ex06::main),
        ("07", "await is yield from: generators", || {
            ex07::main().expect("the generator example runs")
        }),
        (
            "08",
            "coroutines, tasks and futures are awaitable",
            ex08::main,
        ),
        ("09", "CPU-bound work belongs in to_thread", ex09::main),
        ("10", "the call centre", ex10::main),
        ("11", "the users API: HTTP over PostgreSQL", ex11::demo),
        ("12", "stackless vs stackful, side by side", ex12::main),
        ("13", "a race, found by exploring schedules", ex13::main),
        ("14", "files, on worker threads", ex14::main),
        (
            "15",
            "a crawler: a queue, three workers, timeouts",
            ex15::main,
        ),
        (
            "16",
            "calling APIs: HTTPS, fifty at once, a streamed answer",
            ex16::main,
        ),
        (
            "io",
            "an echo server: one task per connection",
            echo_server::demo,
        ),
    ];
    for (number, title, run) in chapters {
        println!("\n━━━ {number} · {title} ━━━");
        run();
    }
    println!(
        "\ntour finished: {} examples in {:.2} s of real time",
        chapters.len(),
        started.elapsed().as_secs_f64()
    );
}
