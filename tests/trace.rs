//! The trace recorder, its renderers, deterministic schedules and the stepper.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use yieldfrom::debug::{Stepper, explore};
use yieldfrom::trace::{EventKind, Instrument, Recorder, StepEnd, TaskInfo};
use yieldfrom::{CancelCause, TaskEnd};
use yieldfrom::{Coro, EventLoop, combinators::gather, sleep, spawn, yield_from, yield_now};

/// Task A sleeps 2 s, task B 1 s, concurrently (the tutorial's picture).
fn two_tasks() -> Coro<()> {
    Coro::new("main", || {
        let a = spawn(Coro::new("A", || sleep(Duration::from_secs(2))));
        let b = spawn(Coro::new("B", || sleep(Duration::from_secs(1))));
        yield_from(a);
        yield_from(b);
    })
}

/// A timeline with its wrapped sentences on one line each.
fn unwrapped(timeline: &str) -> String {
    timeline.replace(&format!("\n{}", yieldfrom::trace::SENTENCE_GOES_ON), " → ")
}

fn recorded(program: Coro<()>, seed: Option<u64>) -> Recorder {
    let rec = Recorder::new();
    let mut b = EventLoop::builder()
        .virtual_clock(true)
        .instrument(rec.clone());
    if let Some(s) = seed {
        b = b.seed(s);
    }
    b.build().run(program);
    rec
}

#[test]
fn the_timeline_tells_the_tutorials_story() {
    let timeline = recorded(two_tasks(), None).timeline(60);
    let lines: Vec<&str> = timeline.lines().collect();
    // Sentences wider than the timeline go on in the next line.
    let sentences = lines.iter().skip_while(|l| !l.is_empty());
    assert!(
        sentences.clone().all(|l| l.chars().count() <= 60),
        "{timeline}"
    );
    assert_eq!(sentences.filter(|l| l.starts_with("    → ")).count(), 4);
    let timeline = unwrapped(&timeline);
    assert!(lines[0].starts_with("Time →"), "{timeline}");
    assert!(lines[0].ends_with("2.00 s"), "{timeline}");
    // One bar per task, paused between start and resume; a bar ends where
    // its task did (the tasks running to the end fill the width asked for).
    for (name, width) in [("main", 60), ("A", 60), ("B", 34)] {
        let bar = lines
            .iter()
            .find(|l| l.starts_with(&format!("{name:4} │")))
            .unwrap();
        assert_eq!(bar.chars().count(), width, "{bar}");
        assert!(bar.contains('─') && bar.ends_with('█'), "{bar}");
    }
    assert!(
        timeline.contains(
            "A: Start (0.00 s) → Pause (0.00 s, sleep) → Resume (2.00 s, its sleep ended) → Done (2.00 s)"
        )
    );
    assert!(
        timeline.contains(
            "B: Start (0.00 s) → Pause (0.00 s, sleep) → Resume (1.00 s, its sleep ended) → Done (1.00 s)"
        )
    );
    assert!(
        timeline.contains("main: Start (0.00 s) → Pause (0.00 s, task 'A' (#2))"),
        "{timeline}"
    );
}

#[test]
fn chrome_trace_json_parses_and_has_the_events() {
    let json = recorded(two_tasks(), None).chrome_json();
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let events = v["traceEvents"].as_array().unwrap();
    let names: Vec<String> = events
        .iter()
        .filter(|e| e["ph"] == "M")
        .map(|e| e["args"]["name"].as_str().unwrap().to_string())
        .collect();
    // The process (the loop), its own thread, then one thread per task.
    assert_eq!(names, ["event loop", "loop", "main #1", "A #2", "B #3"]);
    // Task A: a step at 0 that pauses on sleep, a step at 2 s that finishes.
    let a_steps: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["ph"] == "X" && e["tid"] == 2)
        .collect();
    assert_eq!(a_steps.len(), 2);
    assert_eq!(a_steps[0]["ts"].as_f64(), Some(0.0));
    assert_eq!(a_steps[0]["args"]["end"], "paused on sleep");
    assert_eq!(a_steps[1]["ts"].as_f64(), Some(2_000_000.0));
    assert_eq!(a_steps[1]["args"]["end"], "done: returned");
    assert!(
        events
            .iter()
            .any(|e| e["name"] == "pause: sleep" && e["tid"] == 3)
    );
}

#[test]
fn the_log_has_one_line_per_event() {
    let log = recorded(two_tasks(), None).log();
    let expected = [
        "[  0.000000 s] task #1 'main' spawned",
        "[  0.000000 s] task #1 'main' runs",
        "[  0.000000 s] task #2 'A' spawned",
        "[  0.000000 s] task #3 'B' spawned",
        "[  0.000000 s] task #1 'main' paused on task 'A' (#2)",
        "[  0.000000 s] task #2 'A' runs",
        "[  0.000000 s] task #2 'A' paused on sleep",
        "[  0.000000 s] task #3 'B' runs",
        "[  0.000000 s] task #3 'B' paused on sleep",
        "[  1.000000 s] task #3 'B' woken: its sleep ended",
        "[  1.000000 s] task #3 'B' runs",
        "[  1.000000 s] task #3 'B' done: returned",
        "[  2.000000 s] task #2 'A' woken: its sleep ended",
        "[  2.000000 s] task #2 'A' runs",
        "[  2.000000 s] task #1 'main' woken: task 'A' (#2) finished",
        "[  2.000000 s] task #2 'A' done: returned",
        "[  2.000000 s] task #1 'main' runs",
        "[  2.000000 s] task #1 'main' done: returned",
    ];
    assert_eq!(log.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn the_timeline_shows_a_yield_as_a_pause() {
    // Chapter 13's race lives in a yield_now: the sentence must show it.
    let timeline = recorded(
        Coro::new("main", || {
            yield_now();
            sleep(Duration::from_secs(1));
        }),
        None,
    )
    .timeline(60);
    let timeline = unwrapped(&timeline);
    assert!(
        timeline.contains(
            "main: Start (0.00 s) → Pause (0.00 s, yield_now) → Resume (0.00 s, its turn came round) → Pause (0.00 s, sleep) → Resume (1.00 s, its sleep ended) → Done (1.00 s)"
        ),
        "{timeline}"
    );
}

/// Every cause a task can be woken for, recorded as the log prints it.
/// A task reads one byte from a Unix socket that the caller then writes:
/// the reader is woken by the socket. Returns how many bytes it read.
fn a_socket_wakes_a_reader() -> usize {
    let (a, b) = yieldfrom::net::UnixStream::pair().unwrap();
    let reader = spawn(Coro::new("reader", move || {
        let mut buf = [0u8; 1];
        a.read(&mut buf).unwrap()
    }));
    yield_now();
    b.write_all(b"x").unwrap();
    yield_from(reader)
}

fn woken_causes(program: Coro<()>) -> Vec<String> {
    let rec = Recorder::new();
    EventLoop::builder()
        .virtual_clock(true)
        .instrument(rec.clone())
        .build()
        .run(program);
    rec.log()
        .lines()
        .filter(|l| l.contains(" woken: "))
        .map(|l| l.split_once("] ").unwrap().1.to_string())
        .collect()
}

#[test]
fn every_wake_says_why() {
    use yieldfrom::sync::Lock;
    use yieldfrom::{Future, timeout, to_thread};
    let causes = woken_causes(Coro::new("main", || {
        // A future set by another task.
        let fut: Future<u8> = Future::new();
        let f = fut.clone();
        spawn(Coro::new("setter", move || f.set_result(1)));
        yield_from(&fut);
        // A lock handed over by the task that held it.
        let lock = Rc::new(Lock::new());
        let guard = lock.acquire();
        let l = lock.clone();
        let waiter = spawn(Coro::new("waiter", move || drop(l.acquire())));
        yield_now();
        drop(guard);
        yield_from(waiter);
        // A timeout.
        let r = timeout(Duration::from_secs(1), || sleep(Duration::from_secs(5)));
        assert!(r.is_err());
        // A cancellation by a task.
        let sleeper = spawn(Coro::new("sleeper", || sleep(Duration::from_secs(60))));
        yield_now();
        sleeper.cancel();
        let _ = sleeper.join_outcome();
        // A socket, and a worker thread.
        assert_eq!(a_socket_wakes_a_reader(), 1);
        to_thread(|| ());
    }));
    let expect = [
        "task #1 'main' woken: the future was set by task 'setter' (#2)",
        "task #3 'waiter' woken: Lock.acquire: woken by task 'main' (#1)",
        "task #1 'main' woken: its turn came round",
        "task #1 'main' woken: task 'waiter' (#3) finished",
        "task #1 'main' woken: timed out: its deadline passed",
        "task #4 'sleeper' woken: cancelled by task 'main' (#1)",
        "task #1 'main' woken: task 'sleeper' (#4) finished",
        "woken: socket",
        "task #1 'main' woken: its worker thread finished",
    ];
    for want in expect {
        assert!(
            causes.iter().any(|c| c.contains(want)),
            "no wake-up says {want:?}; the causes were:\n{}",
            causes.join("\n")
        );
    }
    assert!(
        causes
            .iter()
            .any(|c| c.starts_with("task #5 'reader' woken: socket ")
                && c.ends_with(" became readable")),
        "{causes:#?}"
    );
}

#[test]
fn the_stepper_says_why_each_step_ran() {
    let out = Shared::default();
    let stepper = Stepper::new(Box::new(|| b'\n'), Box::new(out.clone()));
    EventLoop::builder()
        .virtual_clock(true)
        .instrument(stepper)
        .build()
        .run(Coro::new("greet", || sleep(Duration::from_secs(2))));
    let text = String::from_utf8(out.0.borrow().clone()).unwrap();
    assert!(text.contains("woken    spawned (its first step)"), "{text}");
    assert!(text.contains("woken    its sleep ended"), "{text}");
}

/// Ten tasks that yield and sleep in a pattern: many possible orders.
fn busy() -> Coro<()> {
    Coro::new("main", || {
        gather((0..10u64).map(|i| {
            Coro::new("worker", move || {
                for step in 0..3 {
                    if (i + step) % 2 == 0 {
                        yield_now();
                    } else {
                        sleep(Duration::from_millis((i * 7 + step) % 5));
                    }
                }
            })
        }));
    })
}

#[test]
fn the_same_seed_gives_the_same_trace_byte_for_byte() {
    let first = recorded(busy(), Some(42)).log();
    for _ in 0..3 {
        assert_eq!(recorded(busy(), Some(42)).log(), first);
    }
    let others: Vec<String> = (0..5).map(|s| recorded(busy(), Some(s)).log()).collect();
    assert!(
        others.iter().any(|o| *o != first),
        "other seeds give other orders"
    );
    assert_eq!(
        recorded(busy(), None).log(),
        recorded(busy(), None).log(),
        "FIFO is deterministic too"
    );
}

#[test]
fn explore_reports_the_first_failing_seed_and_it_replays() {
    let racy = || {
        Coro::new("main", || {
            let n = Rc::new(std::cell::Cell::new(0));
            gather((0..2).map(|i| {
                let n = n.clone();
                Coro::new("inc", move || {
                    if i == 1 {
                        yield_now();
                    }
                    let v = n.get();
                    yield_now();
                    n.set(v + 1);
                })
            }));
            assert_eq!(n.get(), 2, "lost update");
        })
    };
    let f = explore(0..50, racy).unwrap_err();
    assert!(f.message.contains("lost update"), "{}", f.message);
    assert!(f.trace.contains("task #2 'inc' runs"));
    // Replaying the seed fails the same way, with the same trace.
    let again = explore([f.seed], racy).unwrap_err();
    assert_eq!(again.trace, f.trace);
    assert_eq!(
        explore(0..f.seed, racy).unwrap(),
        f.seed as usize,
        "the seeds before it passed"
    );
}

/// A custom instrument: counts steps per task.
#[derive(Clone, Default)]
struct StepCounter(Rc<RefCell<Vec<(String, usize)>>>);

impl Instrument for StepCounter {
    fn before_step(&mut self, _at: Duration, task: TaskInfo) {
        let mut v = self.0.borrow_mut();
        match v.iter_mut().find(|(n, _)| n == task.name) {
            Some((_, c)) => *c += 1,
            None => v.push((task.name.to_string(), 1)),
        }
    }
}

#[test]
fn users_can_write_their_own_instruments() {
    let counter = StepCounter::default();
    EventLoop::builder()
        .virtual_clock(true)
        .instrument(counter.clone())
        .build()
        .run(two_tasks());
    assert_eq!(
        *counter.0.borrow(),
        [
            ("main".to_string(), 2),
            ("A".to_string(), 2),
            ("B".to_string(), 2)
        ]
    );
}

/// A `Write` that appends to a shared buffer.
#[derive(Clone, Default)]
struct Shared(Rc<RefCell<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_stepper_shows_each_step_and_obeys_keys() {
    let out = Shared::default();
    let keys = Rc::new(RefCell::new(b"\n\nc".to_vec()));
    let k = keys.clone();
    let stepper = Stepper::new(
        Box::new(move || {
            let mut k = k.borrow_mut();
            if k.is_empty() { b'c' } else { k.remove(0) }
        }),
        Box::new(out.clone()),
    );
    EventLoop::builder()
        .virtual_clock(true)
        .instrument(stepper)
        .build()
        .run(two_tasks());
    let text = String::from_utf8(out.0.borrow().clone()).unwrap();
    let steps = text.matches("── step ").count();
    assert_eq!(
        steps, 3,
        "two Enters and a 'c': three pauses, then it runs on\n{text}"
    );
    assert!(
        text.contains("ran      task 'main' (#1) → paused on task 'A' (#2)"),
        "{text}"
    );
    assert!(
        text.contains("ready    task 'A' (#2)\n         task 'B' (#3)"),
        "{text}"
    );
    assert!(
        text.contains("ran      task 'B' (#3) → paused on sleep"),
        "{text}"
    );
    assert!(
        text.contains("timers   1.000 s: wake task 'B' (#3)\n         2.000 s: wake task 'A' (#2)"),
        "{text}"
    );
    assert!(
        text.contains("waiting  task 'main' (#1) on task 'A' (#2)"),
        "{text}"
    );
    assert!(keys.borrow().is_empty());
}

#[test]
fn step_ends_name_panics_and_cancellations() {
    let rec = recorded(
        Coro::new("main", || {
            let p = spawn(Coro::new("panics", || panic!("boom")));
            let c = spawn(Coro::new("cancelled", || sleep(Duration::from_secs(5))));
            yield_now();
            c.cancel();
            let _ = p.join_outcome();
            let _ = c.join_outcome();
        }),
        None,
    );
    let ends: Vec<StepEnd> = rec
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            yieldfrom::trace::EventKind::End(end @ StepEnd::Done(_)) => Some(end),
            _ => None,
        })
        .collect();
    assert!(
        ends.contains(&StepEnd::Done(TaskEnd::Panicked("boom".into()))),
        "{ends:?}"
    );
    assert!(
        ends.contains(&StepEnd::Done(TaskEnd::Cancelled(CancelCause::Requested))),
        "{ends:?}"
    );
}

/// The time a stepper waits for a key is not the program's: on the real
/// clock, with a learner who takes 40 ms per key, task B (sleeps 10 ms) still
/// finishes before task A (sleeps 20 ms), and the loop's clock has been held
/// for at least every key's wait.
#[test]
fn the_stepper_holds_the_real_clock_while_it_waits_for_a_key() {
    let out = Shared::default();
    let keys_wait = Rc::new(Cell::new(Duration::ZERO));
    let waited = keys_wait.clone();
    let slow_learner = move || {
        let t = std::time::Instant::now();
        std::thread::sleep(Duration::from_millis(40));
        waited.set(waited.get() + t.elapsed());
        b'\n'
    };
    let rec = Recorder::new();
    // The wall clock starts before the loop's and is read after it.
    let wall = std::time::Instant::now();
    let lp = EventLoop::builder()
        .instrument(Stepper::new(Box::new(slow_learner), Box::new(out.clone())))
        .instrument(rec.clone())
        .ignore_env_instruments()
        .build();
    let loop_time = lp.run(Coro::new("main", || {
        let a = spawn(Coro::new("A", || sleep(Duration::from_millis(20))));
        let b = spawn(Coro::new("B", || sleep(Duration::from_millis(10))));
        yield_from(a);
        yield_from(b);
        Duration::from_secs_f64(EventLoop::current().time())
    }));
    let wall = wall.elapsed();
    assert!(
        wall.saturating_sub(loop_time) >= keys_wait.get(),
        "the loop's clock ran while the stepper waited: wall {wall:?}, loop {loop_time:?}, keys {:?}",
        keys_wait.get()
    );
    let done: Vec<&str> = rec
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::End(StepEnd::Done(_))))
        .map(|e| e.task.unwrap().name)
        .collect();
    assert_eq!(done, ["B", "A", "main"], "{}", rec.log());
}

/// A timer whose time has passed while the loop was busy shows as overdue.
#[test]
fn the_stepper_shows_an_overdue_timer_as_overdue() {
    let out = Shared::default();
    let stepper = Stepper::new(Box::new(|| b'\n'), Box::new(out.clone()));
    EventLoop::builder()
        .instrument(stepper)
        .ignore_env_instruments()
        .build()
        .run(Coro::new("main", || {
            let napper = spawn(Coro::new("napper", || sleep(Duration::from_millis(1))));
            // Blocks the loop past the napper's deadline (the mistake of
            // chapter 06), then yields: the next snapshot shows it late.
            yield_now();
            std::thread::sleep(Duration::from_millis(5));
            yield_now();
            yield_from(napper);
        }));
    let text = String::from_utf8(out.0.borrow().clone()).unwrap();
    assert!(text.contains("(overdue by "), "{text}");
    assert!(text.contains(": wake task 'napper'"), "{text}");
}

/// asyncio's `gather` wakes its caller once, when every child is done; so
/// does ours (a failure, which it raises, wakes it at once).
#[test]
fn gather_wakes_its_caller_once() {
    let rec = recorded(
        Coro::new("main", || {
            gather([3u64, 1, 2].map(|s| Coro::new("nap", move || sleep(Duration::from_secs(s)))));
        }),
        None,
    );
    let main_woken: Vec<Duration> = rec
        .events()
        .iter()
        .filter(|e| e.task.unwrap().name == "main" && matches!(e.kind, EventKind::Woken(_)))
        .map(|e| e.at)
        .collect();
    assert_eq!(main_woken, [Duration::from_secs(3)], "{}", rec.log());

    let rec = Recorder::new();
    let lp = EventLoop::builder()
        .virtual_clock(true)
        .instrument(rec.clone())
        .build();
    let raised_at = lp.run(Coro::new("main", || {
        let r = std::panic::catch_unwind(|| {
            gather([
                Coro::new("slow", || sleep(Duration::from_secs(10))),
                Coro::new("fails", || {
                    sleep(Duration::from_secs(1));
                    panic!("boom")
                }),
            ])
        });
        assert!(r.is_err());
        EventLoop::current().time()
    }));
    assert_eq!(raised_at, 1.0, "{}", rec.log());
}

/// A `wait_for` that runs out of time reads as a timeout in the timeline.
#[test]
fn a_timeout_reads_as_a_timeout_in_the_timeline() {
    let timeline = recorded(
        Coro::new("main", || {
            let slow = Coro::new("slow", || sleep(Duration::from_secs(5)));
            assert!(yieldfrom::wait_for(slow, Duration::from_secs(1)).is_err());
        }),
        None,
    )
    .timeline(60);
    assert!(
        timeline.contains("Resume (1.00 s, timed out: its deadline passed)"),
        "{timeline}"
    );
}

/// The loop's own events are in the Chrome trace too, on a `loop` thread:
/// its waits for I/O, the sockets that became ready, the callbacks it ran.
#[test]
fn chrome_traces_show_callbacks_and_io_readiness() {
    let rec = Recorder::new();
    EventLoop::builder()
        .instrument(rec.clone())
        .ignore_env_instruments()
        .build()
        .run(Coro::new("main", || {
            EventLoop::current().call_soon(|| ());
            assert_eq!(a_socket_wakes_a_reader(), 1);
        }));
    let v: serde_json::Value = serde_json::from_str(&rec.chrome_json()).unwrap();
    let events = v["traceEvents"].as_array().unwrap();
    let on_loop = |name: &str| {
        events
            .iter()
            .any(|e| e["tid"] == 0 && e["name"].as_str().unwrap().starts_with(name))
    };
    assert!(
        on_loop("runs a callback in trace::chrome_traces_show"),
        "{v:#}"
    );
    assert!(on_loop("waits for I/O"), "{v:#}");
    assert!(on_loop("socket "), "{v:#}");
    assert!(
        events
            .iter()
            .any(|e| e["ph"] == "M" && e["name"] == "process_name"),
        "{v:#}"
    );
}

/// Task names made at run time (`format!`) show in traces; one longer than
/// the timeline's column is cut there with `…` and given whole in its
/// sentence.
#[test]
fn owned_task_names_show_whole_in_the_sentence_and_cut_in_the_bar() {
    let long = "fetch https://example.com/a/very/long/path".to_string();
    let rec = recorded(
        Coro::new("main", move || {
            let a = spawn(Coro::new(format!("fetch {}", 1), || {
                sleep(Duration::from_secs(1))
            }));
            let b = spawn(Coro::new(long, || sleep(Duration::from_secs(2))));
            yield_from(a);
            yield_from(b);
        }),
        None,
    );
    let timeline = unwrapped(&rec.timeline(80));
    assert!(timeline.contains("\nfetch 1 "), "{timeline}");
    assert!(
        timeline.contains("fetch https://example.c… │"),
        "{timeline}"
    );
    assert!(
        timeline.contains("fetch https://example.com/a/very/long/path: Start (0.00 s)"),
        "{timeline}"
    );
}

/// A name made twice is kept once; past the thread's cap, new names are
/// replaced (with one warning) instead of growing without bound.
#[test]
fn owned_task_names_are_interned_and_bounded() {
    std::thread::spawn(|| {
        let a = yieldfrom::TaskName::from(format!("worker {}", 7)).as_str();
        let b = yieldfrom::TaskName::from("worker 7".to_string()).as_str();
        assert!(std::ptr::eq(a, b), "the same text is kept once");
        let ((), warned) = yieldfrom::warnings::catch(|| {
            let mut last = "";
            for i in 0..300_000 {
                last = yieldfrom::TaskName::from(format!("request number {i:>12}")).as_str();
            }
            assert_eq!(last, "(too many task names)");
        });
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(warned[0].contains("name tasks by kind"), "{warned:?}");
    })
    .join()
    .unwrap();
}

/// A step's header is written when the step begins, so that what the
/// program prints during the step (on a terminal, its output and the
/// stepper's interleave) comes under its own header; what ran, and the
/// queues, follow when it ends.
#[test]
fn the_stepper_writes_a_steps_header_before_the_step_runs() {
    let out = Shared::default();
    let seen = out.clone();
    let stepper = Stepper::new(Box::new(|| b'\n'), Box::new(out.clone()));
    let during = EventLoop::builder()
        .virtual_clock(true)
        .instrument(stepper)
        .ignore_env_instruments()
        .build()
        .run(Coro::new("printer", move || {
            let first = String::from_utf8(seen.0.borrow().clone()).unwrap();
            sleep(Duration::from_secs(1));
            let second = String::from_utf8(seen.0.borrow().clone()).unwrap();
            (first, second)
        }));
    let (first, second) = during;
    assert!(first.starts_with("── step 1 · 0.000 s"), "{first:?}");
    assert!(
        !first.contains("ran "),
        "nothing about the step yet: {first:?}"
    );
    assert!(
        second.contains("idle     1.000 s: the next timer is due at 1.000 s\n── step 2 · 1.000 s"),
        "the wait, then step 2's header, before step 2's body goes on: {second:?}"
    );
    assert!(!second.contains("done: returned"), "{second:?}");
}
