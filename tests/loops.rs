//! Tasks and futures used across loops on one thread, or outside any loop:
//! every use either works on the right loop or is refused with a clear
//! message; no loop steps another loop's task.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use yieldfrom::{Coro, EventLoop, Future, Outcome, sleep, spawn, yield_from, yield_now};

/// Runs the `#[ignore]`d helper test `name` in a child process (this test
/// binary again); returns whether it succeeded, and its stderr.
fn run_helper(name: &str) -> (bool, String) {
    run_helper_env(name, &[])
}

/// [`run_helper`] with more environment variables.
fn run_helper_env(name: &str, env: &[(&str, &str)]) -> (bool, String) {
    let (stderr, status) = common::run_helper(name, "YIELDFROM_LOOPS_CHILD", env);
    (status.success(), stderr)
}

fn message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn cancelling_one_loops_task_from_another_loop_cancels_it_on_its_own_loop() {
    let a = EventLoop::builder().virtual_clock(true).build();
    let sleeper = a.spawn(Coro::new("a_sleeper", || sleep(Duration::from_secs(60))));
    a.run_once(); // the sleeper parks on A's timer
    assert!(!sleeper.done());

    let b = EventLoop::builder().virtual_clock(true).build();
    let b_task = Rc::new(RefCell::new(None));
    let slot = b_task.clone();
    let sleeper = Rc::new(sleeper);
    let s = sleeper.clone();
    b.clone().run(Coro::new("b_main", move || {
        // One of B's own tasks, alive while A's task is cancelled.
        let mine = spawn(Coro::new("b_worker", || {
            yield_now();
            "b's result"
        }));
        assert!(s.cancel());
        yield_now();
        yield_now();
        *slot.borrow_mut() = Some(yield_from(mine));
    }));
    assert_eq!(
        b_task.borrow().as_deref(),
        Some("b's result"),
        "B's task was not evicted"
    );
    assert_eq!(b.live_tasks(), 0);
    assert!(!sleeper.done(), "B never stepped A's task");
    a.run_once();
    assert!(
        sleeper.done() && sleeper.cancelled(),
        "A delivered the cancellation"
    );
    assert!(
        a.time() < 60.0,
        "at A's next iteration, not when the sleep ends"
    );
    assert_eq!(a.live_tasks(), 0);
}

#[test]
fn awaiting_another_loops_task_is_refused_with_asyncios_message() {
    let a = EventLoop::new();
    let foreign = a.spawn(Coro::new("a_task", || sleep(Duration::from_secs(60))));
    a.run_once();
    let b = EventLoop::new();
    let refused = b.clone().run(Coro::new("b_main", move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| yield_from(foreign)))
            .map_err(message)
    }));
    let err = refused.expect_err("awaiting it across loops panics");
    assert!(
        err.contains("'a_task' belongs to a different event loop")
            && err.contains("Task got Future attached to a different loop"),
        "{err}"
    );
    assert_eq!(b.live_tasks(), 0);
}

#[test]
fn a_future_bound_to_one_loop_cannot_be_awaited_from_another() {
    let fut: Future<u32> = Future::new();
    let a = EventLoop::new();
    let f = fut.clone();
    let waiter = a.spawn(Coro::new("a_waiter", move || yield_from(&f)));
    a.run_once(); // binds the future to A
    let b = EventLoop::new();
    let f = fut.clone();
    let refused = b.clone().run(Coro::new("b_main", move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| yield_from(&f))).map_err(message)
    }));
    assert!(
        refused
            .unwrap_err()
            .contains("belongs to a different event loop")
    );
    // A still works with it.
    fut.set_result(7);
    a.run_until_complete(Coro::new("main", yield_now));
    assert!(matches!(waiter.join_outcome(), Outcome::Value(7)));
    // Once its loop is gone a pending future can be awaited elsewhere.
    drop(a);
    let late: Future<u32> = Future::new();
    let l = late.clone();
    let first = EventLoop::new();
    // A callback added while `first` runs binds the future to it.
    first.run_until_complete(Coro::new("binder", move || l.add_done_callback(|| ())));
    drop(first);
    assert!(!late.done());
    let l = late.clone();
    let got = yieldfrom::run(Coro::new("main", move || {
        let setter = l.clone();
        spawn(Coro::new("setter", move || setter.set_result(9)));
        yield_from(&l)
    }));
    assert_eq!(got, 9);
}

#[test]
fn a_future_resolved_outside_any_loop_wakes_every_waiter() {
    // Never met a loop: its callbacks run as it is resolved, all of them.
    let fut: Future<u8> = Future::new();
    let ran = Rc::new(Cell::new(0));
    for _ in 0..3 {
        let ran = ran.clone();
        fut.add_done_callback(move || ran.set(ran.get() + 1));
    }
    fut.set_result(1);
    assert_eq!(ran.get(), 3);

    // One of them panicking costs the others nothing; it is reported.
    let fut: Future<u8> = Future::new();
    let ran = Rc::new(Cell::new(0));
    let r = ran.clone();
    fut.add_done_callback(|| panic!("first went wrong"));
    fut.add_done_callback(move || r.set(r.get() + 1));
    let (_, warned) = yieldfrom::warnings::catch(|| fut.set_result(1));
    assert_eq!(ran.get(), 1);
    assert!(
        warned.len() == 1 && warned[0].contains("first went wrong"),
        "{warned:?}"
    );

    // Bound to a loop that is not running: the callbacks wait for that loop.
    let lp = EventLoop::new();
    let fut: Future<u8> = Future::new();
    let ran = Rc::new(Cell::new(0));
    let (f, r) = (fut.clone(), ran.clone());
    lp.run_until_complete(Coro::new("main", move || {
        for _ in 0..2 {
            let r = r.clone();
            f.add_done_callback(move || r.set(r.get() + 1));
        }
    }));
    fut.set_result(2); // no loop runs now: nothing panics, nothing is lost
    assert_eq!(ran.get(), 0);
    lp.run_until_complete(Coro::new("main", yield_now));
    assert_eq!(ran.get(), 2);
}

#[test]
fn cancel_called_outside_the_running_loop_takes_effect_at_the_next_iteration() {
    let lp = EventLoop::builder().virtual_clock(true).build();
    let cleaned = Rc::new(Cell::new(false));
    let c = cleaned.clone();
    let task = lp.spawn(Coro::new("sleeper", move || {
        struct Flag(Rc<Cell<bool>>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let _flag = Flag(c);
        sleep(Duration::from_secs(5));
    }));
    lp.run_once();
    assert!(task.cancel(), "outside any running loop");
    lp.run_once();
    assert!(task.done() && task.cancelled());
    assert!(cleaned.get(), "its cleanup ran");
    assert_eq!(lp.time(), 0.0, "the 5 s sleep did not have to end first");
}

#[test]
fn a_socket_belongs_to_its_loop_whichever_loop_uses_or_drops_it() {
    use yieldfrom::net::TcpListener;
    let a = EventLoop::new();
    let listener = a.run_until_complete(Coro::new("make", || {
        TcpListener::bind("127.0.0.1:0").expect("bind on loopback")
    }));
    let b = EventLoop::new();
    let (err, listener) = b.run_until_complete(Coro::new("b_user", move || {
        let err = listener.accept().err().map(|e| e.to_string());
        (err, listener)
    }));
    let err = err.expect("accept from another loop's task is an error");
    assert!(err.contains("belongs to a different event loop"), "{err}");
    // Dropped while B runs, it is deregistered from A, its own loop: A has
    // nothing left to wait for, so it runs until idle instead of hanging.
    b.run_until_complete(Coro::new("b_drop", move || drop(listener)));
    a.run_until_idle();
    assert_eq!(a.live_tasks(), 0);
}

#[test]
fn huge_delays_mean_never_instead_of_an_overflow() {
    let lp = EventLoop::builder().virtual_clock(true).build();
    let out = lp.clone().run(Coro::new("main", || {
        let sleeper = spawn(Coro::new("forever", || sleep(Duration::MAX)));
        let quick = yieldfrom::timeout(Duration::MAX, || {
            sleep(Duration::from_secs(1));
            "in time"
        });
        let handle = EventLoop::current().call_later(Duration::MAX, || panic!("never runs"));
        yield_now();
        assert!(!sleeper.done());
        sleeper.cancel();
        let outcome = sleeper.join_outcome();
        handle.cancel();
        (quick, matches!(outcome, Outcome::Cancelled))
    }));
    assert_eq!(out, (Ok("in time"), true));
}

#[test]
fn finished_timeouts_leave_no_timers_behind() {
    let lp = EventLoop::builder().virtual_clock(true).build();
    let l = lp.clone();
    lp.run_until_complete(Coro::new("main", move || {
        for _ in 0..100_000 {
            let r = yieldfrom::timeout(Duration::from_secs(60), || 1);
            assert_eq!(r, Ok(1));
        }
        // Swept as they went: at most about twice what is alive.
        let timers = format!("{l:?}");
        let n: usize = timers
            .split("timers=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(n <= 2048, "{timers}");
    }));
    // Only dead timers are left: the loop is idle, and does not wait 60 s.
    lp.run_until_idle();
    assert_eq!(lp.time(), 0.0, "the clock did not move to a dead deadline");
}

#[test]
fn a_panicking_callback_is_reported_by_name_and_the_loop_goes_on() {
    let (out, warned) = yieldfrom::warnings::catch(|| {
        let lp = EventLoop::builder().virtual_clock(true).build();
        let l = lp.clone();
        lp.run(Coro::new("main", move || {
            let ran = Rc::new(Cell::new(0));
            l.call_soon(|| panic!("soon went wrong"));
            l.call_later(Duration::from_secs(1), || panic!("later went wrong"));
            let fut: Future<u8> = Future::new();
            fut.add_done_callback(|| panic!("done went wrong"));
            let r = ran.clone();
            fut.add_done_callback(move || r.set(r.get() + 1));
            let worker = spawn(Coro::new("worker", || {
                sleep(Duration::from_secs(2));
                "worker finished"
            }));
            fut.set_result(1);
            let out = yield_from(worker);
            (out, ran.get())
        }))
    });
    assert_eq!(
        out,
        ("worker finished", 1),
        "every task and the other callback went on"
    );
    assert_eq!(warned.len(), 3, "{warned:?}");
    for (w, what) in warned.iter().zip(["soon", "done", "later"]) {
        assert!(
            w.starts_with("yieldfrom: exception in callback loops::a_panicking_callback")
                && w.contains(&format!("{what} went wrong")),
            "{warned:?}"
        );
    }
}

#[test]
fn a_callback_that_blocks_is_reported_as_a_task_is() {
    let (_, warned) = yieldfrom::warnings::catch(|| {
        let lp = EventLoop::builder()
            .slow_task_threshold(Duration::from_millis(20))
            .build();
        let l = lp.clone();
        lp.run(Coro::new("main", move || {
            l.call_soon(|| std::thread::sleep(Duration::from_millis(60)));
            yield_now();
            yield_now();
        }))
    });
    // Only the callback's warning counts (a slow machine, valgrind say, may
    // also see the main task's short steps cross the 20 ms threshold).
    let callbacks: Vec<_> = warned.iter().filter(|w| w.contains("callback")).collect();
    assert_eq!(callbacks.len(), 1, "{warned:?}");
    assert!(
        callbacks[0].starts_with("yieldfrom: callback loops::a_callback_that_blocks")
            && callbacks[0].contains("blocked the event loop for "),
        "{warned:?}"
    );
}

#[test]
#[ignore = "helper: run by a_panic_hook_that_takes_long_is_not_blocking"]
fn helper_slow_panic_hook() {
    if std::env::var("YIELDFROM_LOOPS_CHILD").is_err() {
        return;
    }
    // A hook as slow as printing a long backtrace.
    std::panic::set_hook(Box::new(|_| std::thread::sleep(Duration::from_millis(80))));
    let (_, warned) = yieldfrom::warnings::catch(|| {
        let lp = EventLoop::builder()
            .slow_task_threshold(Duration::from_millis(20))
            .build();
        lp.run(Coro::new("main", || {
            let t = spawn(Coro::new("panicker", || panic!("just a panic")));
            let _ = t.join_outcome();
        }))
    });
    for w in &warned {
        eprintln!("warned: {w}");
    }
    eprintln!("done with {} warnings", warned.len());
}

#[test]
fn a_panic_hook_that_takes_long_is_not_blocking() {
    let (success, stderr) = run_helper("helper_slow_panic_hook");
    assert!(success, "{stderr}");
    assert!(stderr.contains("done with 0 warnings"), "{stderr}");
}

#[test]
fn awaiting_a_cancelled_task_names_it_and_main_is_not_called_cancelled() {
    let got = std::panic::catch_unwind(|| {
        yieldfrom::run(Coro::new("main", || {
            let consumer = spawn(Coro::new("consumer", || sleep(Duration::from_secs(60))));
            yield_now();
            consumer.cancel();
            yield_from(consumer) // raises the cancellation here, uncaught
        }))
    });
    let err = message(got.unwrap_err());
    assert_eq!(
        err,
        "the main coroutine 'main' was cancelled: it awaited task 'consumer', which was cancelled"
    );
    // Main itself cancelled: said plainly.
    let lp = EventLoop::new();
    let l = lp.clone();
    let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        l.run(Coro::new("main", || {
            let me = Rc::new(RefCell::new(None::<yieldfrom::Task<()>>));
            let _ = me;
            yieldfrom::catch_cancelled(|| ()).ok();
            EventLoop::current().call_soon(|| ());
            let t = spawn(Coro::new("helper", || ()));
            yield_from(t);
            std::panic::resume_unwind(Box::new(yieldfrom::Cancelled))
        }))
    }));
    assert_eq!(
        message(got.unwrap_err()),
        "the main coroutine 'main' was cancelled"
    );
    drop(lp);
}

#[test]
#[ignore = "helper: run by await_points_outside_a_task_name_themselves_at_the_callers_line"]
fn helper_outside_a_task() {
    if std::env::var("YIELDFROM_LOOPS_CHILD").is_err() {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().unwrap();
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        eprintln!("PANIC {}:{} {msg}", at.file(), at.line());
    }));
    let lock = Rc::new(yieldfrom::sync::Lock::new());
    let held = lock.clone();
    let _held = held.try_acquire().expect("free");
    let queue = yieldfrom::sync::Queue::<u8>::new(1);
    let cases: Vec<Box<dyn Fn()>> = vec![
        Box::new(|| sleep(Duration::from_secs(1))),
        #[allow(clippy::redundant_closure)]
        Box::new(|| yield_now()),
        Box::new(move || drop(lock.acquire())),
        Box::new(move || {
            let _ = queue.get();
        }),
        Box::new(|| {
            let _ = yieldfrom::timeout(Duration::from_secs(1), || ());
        }),
    ];
    for case in cases {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(case));
    }
}

#[test]
fn await_points_outside_a_task_name_themselves_at_the_callers_line() {
    let (_, stderr) = run_helper("helper_outside_a_task");
    let panics: Vec<&str> = stderr.lines().filter(|l| l.starts_with("PANIC ")).collect();
    assert_eq!(panics.len(), 5, "{stderr}");
    for (line, what) in panics.iter().zip([
        "sleep()",
        "yield_now()",
        "Lock.acquire",
        "Queue.get",
        "timeout()",
    ]) {
        assert!(
            line.contains("tests/loops.rs:"),
            "the location is the caller's: {line}"
        );
        assert!(
            line.ends_with(&format!(
                "{what} needs a running task: start one with run() or spawn()"
            )),
            "{line}"
        );
    }
}

/// A guard whose destructor awaits (the translation of `finally: await ...`).
struct AwaitsInDrop(Rc<RefCell<Vec<&'static str>>>);

impl Drop for AwaitsInDrop {
    fn drop(&mut self) {
        self.0.borrow_mut().push("cleanup starts");
        sleep(Duration::from_secs(1));
        self.0.borrow_mut().push("cleanup awaited and ended");
    }
}

#[test]
fn closing_or_dropping_a_loop_runs_cleanup_that_awaits() {
    for close_explicitly in [true, false] {
        let log = Rc::new(RefCell::new(Vec::new()));
        let l = log.clone();
        let lp = EventLoop::builder().virtual_clock(true).build();
        let other = lp.spawn(Coro::new("other", || sleep(Duration::from_secs(30))));
        let task = lp.spawn(Coro::new("sleeper", move || {
            let _guard = AwaitsInDrop(l);
            sleep(Duration::from_secs(3600));
        }));
        lp.run_once();
        if close_explicitly {
            lp.close(); // used to abort: an await inside a forced unwind
        } else {
            drop(lp);
        }
        assert_eq!(
            *log.borrow(),
            ["cleanup starts", "cleanup awaited and ended"]
        );
        assert!(task.cancelled() && other.cancelled());
    }
}

#[test]
fn a_swallowed_cancellation_comes_back_at_the_next_await() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let lp = EventLoop::builder().virtual_clock(true).build();
    let outcome = lp.run(Coro::new("main", move || {
        let l2 = l.clone();
        let task = spawn(Coro::new("swallower", move || {
            let swallowed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                sleep(Duration::from_secs(60))
            }));
            l2.borrow_mut().push(if swallowed.is_err() {
                "swallowed"
            } else {
                "slept"
            });
            sleep(Duration::from_secs(1)); // the cancellation is raised again here
            l2.borrow_mut().push("went on");
        }));
        yield_now();
        task.cancel();
        let outcome = task.join_outcome();
        l.borrow_mut().push("joined");
        matches!(outcome, Outcome::Cancelled)
    }));
    assert!(outcome, "the task ended cancelled");
    assert_eq!(*log.borrow(), ["swallowed", "joined"]);

    // catch_cancelled handles it: no redelivery, the task goes on.
    let done = yieldfrom::run(Coro::new("main", || {
        let task = spawn(Coro::new("handler", || {
            let _ = yieldfrom::catch_cancelled(|| sleep(Duration::from_secs(60)));
            sleep(Duration::from_millis(1));
            "handled and went on"
        }));
        yield_now();
        task.cancel();
        yield_from(task)
    }));
    assert_eq!(done, "handled and went on");
}

#[test]
fn close_finishes_even_a_task_that_swallows_every_cancellation() {
    let (_, warned) = yieldfrom::warnings::catch(|| {
        let lp = EventLoop::builder().virtual_clock(true).build();
        let other_done = Rc::new(Cell::new(false));
        let o = other_done.clone();
        let stubborn = lp.spawn(Coro::new("stubborn", || {
            loop {
                let _ = std::panic::catch_unwind(|| sleep(Duration::from_secs(1)));
            }
        }));
        let polite = lp.spawn(Coro::new("polite", move || {
            let _guard = AwaitsInDrop(Rc::new(RefCell::new(Vec::new())));
            sleep(Duration::from_secs(3600));
            o.set(true);
        }));
        lp.run_once();
        lp.close();
        assert!(stubborn.done() && stubborn.cancelled());
        assert!(polite.cancelled() && !other_done.get());
        assert_eq!(lp.live_tasks(), 0);
    });
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("task 'stubborn' was destroyed but it is pending")
            && warned[0].contains("swallowed the cancellation"),
        "{warned:?}"
    );
}

#[test]
#[ignore = "helper: run by environment_variables_that_mean_nothing_are_reported_once"]
fn helper_bad_env() {
    if std::env::var("YIELDFROM_LOOPS_CHILD").is_err() {
        return;
    }
    let (_, warned) = yieldfrom::warnings::catch(|| {
        for _ in 0..3 {
            yieldfrom::run(Coro::new("main", || 1));
        }
    });
    for w in warned {
        eprintln!("warned: {w}");
    }
}

#[test]
fn environment_variables_that_mean_nothing_are_reported_once() {
    let (success, stderr) = run_helper_env(
        "helper_bad_env",
        &[
            ("YIELDFROM_TRACE", "timelines"),
            ("YIELDFROM_STEP", "yes"),
            ("YIELDFROM_STACK_MODE", "copy"),
        ],
    );
    assert!(success, "{stderr}");
    let warned: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warned: "))
        .collect();
    assert_eq!(
        warned.len(),
        3,
        "each once, though three loops were built: {stderr}"
    );
    assert!(warned.iter().any(|w| {
        w.contains(
            "YIELDFROM_TRACE=\"timelines\" is not timeline, chrome, svg, html, explore or log",
        )
    }));
    assert!(
        warned
            .iter()
            .any(|w| w.contains("YIELDFROM_STEP=\"yes\" is not 0 or 1"))
    );
    assert!(
        warned
            .iter()
            .any(|w| w.contains("YIELDFROM_STACK_MODE=\"copy\""))
    );
}

#[test]
fn public_handles_print_something_useful_with_debug() {
    let lock = yieldfrom::sync::Lock::new();
    assert_eq!(format!("{lock:?}"), "Lock { locked: false }");
    let q = yieldfrom::sync::Queue::<u8>::new(3);
    assert_eq!(format!("{q:?}"), "Queue { qsize: 0, maxsize: 3 }");
    let g: yieldfrom::Generator<u8> = yieldfrom::Generator::named("g", |_| Ok(()));
    assert_eq!(
        format!("{g:?}"),
        "Generator { name: \"g\", state: Created }"
    );
    let command = yieldfrom::net::Command::new("true");
    assert_eq!(format!("{command:?}"), "Command { .. }");
}

#[test]
fn every_error_type_is_a_std_error() {
    fn is_error<E: std::error::Error>(_: &E) {}
    is_error(&yieldfrom::Elapsed);
    is_error(&yieldfrom::Cancelled);
    is_error(&yieldfrom::GenError::Finished);
    is_error(&yieldfrom::sync::QueueEmpty);
    is_error(&yieldfrom::sync::QueueFull(1u8));
    is_error(&yieldfrom::sync::RecvError);
    is_error(&yieldfrom::sync::SendError(1u8));
    let err = yieldfrom::Generator::<(), (), ()>::try_with_stack_size(usize::MAX, |_| Ok(()))
        .expect_err("too large");
    is_error(&err);
    let boxed: Box<dyn std::error::Error> = Box::new(yieldfrom::sync::QueueEmpty);
    assert_eq!(boxed.to_string(), "the queue is empty");
}

/// asyncio's `run_forever` waits for `stop()`; when nothing is left that
/// could ever call it, ours returns and says why (`run_until_idle` does not).
#[test]
fn run_forever_without_stop_returns_when_idle_and_says_so() {
    let lp = EventLoop::builder().virtual_clock(true).build();
    lp.call_later(Duration::from_secs(1), || ());
    let ((), warned) = yieldfrom::warnings::catch(|| lp.run_forever());
    assert_eq!(lp.time(), 1.0);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("stop() was not called"), "{warned:?}");
    lp.call_later(Duration::from_secs(1), || ());
    let ((), warned) = yieldfrom::warnings::catch(|| lp.run_until_idle());
    assert_eq!((lp.time(), warned.len()), (2.0, 0));
    // Stopped by a callback: no warning, and the loop stops there.
    let lp2 = lp.clone();
    lp.call_later(Duration::from_secs(1), move || lp2.stop());
    lp.call_later(Duration::from_secs(5), || ());
    let ((), warned) = yieldfrom::warnings::catch(|| lp.run_forever());
    assert_eq!((lp.time(), warned.len()), (3.0, 0));
}
