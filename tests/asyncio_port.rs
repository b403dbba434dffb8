//! Behaviours of CPython 3.11's test_asyncio, ported: ordering, cancellation,
//! timeouts, locks, queues and task groups. Each test is named after the
//! original it ports (file in the section comment), and runs on the virtual
//! clock: as CPython's `test_utils.TestLoop` does, time advances to the next
//! deadline whenever nothing is ready, so `sleep(10 s)` costs nothing and
//! the times asserted below are exact.
//!
//! Tests append to a log and compare the whole interleaving at once.

#![allow(non_snake_case)] // test names are CPython's

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use yieldfrom::combinators::{ReturnWhen, as_completed, gather, outcomes, task_group, wait};
use yieldfrom::sync::{
    BoundedSemaphore, Condition, Event, Lock, Queue, QueueEmpty, QueueFull, Semaphore,
};
use yieldfrom::{
    Cancelled, Coro, Elapsed, EventLoop, Future, Outcome, catch_cancelled, sleep, spawn, timeout,
    wait_for, warnings, yield_from, yield_now,
};

/// A shared log of events.
#[derive(Clone, Default)]
struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    fn push(&self, s: impl Into<String>) {
        self.0.borrow_mut().push(s.into());
    }
    fn take(&self) -> Vec<String> {
        self.0.take()
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Runs `f` as the main task of a virtual-clock loop (the TestLoop harness).
fn vrun<T: 'static>(f: impl FnOnce() -> T + 'static) -> T {
    EventLoop::builder()
        .virtual_clock(true)
        .build()
        .run(Coro::new("main", f))
}

/// The running loop's virtual time in seconds.
fn t() -> f64 {
    (EventLoop::current().time() * 1000.0).round() / 1000.0
}

fn coro<T: 'static>(name: &'static str, f: impl FnOnce() -> T + 'static) -> Coro<T> {
    Coro::new(name, f)
}

// ---------------------------------------------------------------- test_tasks.py

#[test]
fn test_task_basics_spawned_task_does_not_start_before_loop_runs_it() {
    let log = Log::default();
    let l = log.clone();
    vrun(move || {
        let l2 = l.clone();
        let task = spawn(coro("child", move || l2.push("child runs")));
        l.push("spawned");
        yield_from(task);
        l.push("joined");
    });
    assert_eq!(log.take(), ["spawned", "child runs", "joined"]);
}

#[test]
fn test_create_task_defers_while_awaiting_a_coroutine_runs_it_inline() {
    let log = Log::default();
    let l = log.clone();
    vrun(move || {
        let (a, b) = (l.clone(), l.clone());
        let task = spawn(coro("spawned", move || a.push("spawned body")));
        yield_from(coro("awaited", move || b.push("awaited body")));
        l.push("after await");
        yield_from(task);
    });
    assert_eq!(log.take(), ["awaited body", "after await", "spawned body"]);
}

#[test]
fn test_current_task_with_interleaving_tasks() {
    let log = Log::default();
    let l = log.clone();
    vrun(move || {
        let worker = |name: &'static str, l: Log| {
            coro(name, move || {
                for i in 0..2 {
                    l.push(format!("{name}{i}"));
                    yield_now();
                }
            })
        };
        gather([worker("A", l.clone()), worker("B", l.clone())]);
    });
    assert_eq!(log.take(), ["A0", "B0", "A1", "B1"]);
}

#[test]
fn test_cancel() {
    let (cancelled, at) = vrun(|| {
        let task = spawn(coro("sleeper", || sleep(secs(10.0))));
        sleep(secs(1.0));
        assert!(task.cancel());
        let outcome = task.join_outcome();
        (matches!(outcome, Outcome::Cancelled), t())
    });
    assert!(cancelled);
    assert_eq!(at, 1.0, "the cancelled sleep ended at once");
}

#[test]
fn test_cancel_with_message_before_starting_task() {
    let log = Log::default();
    let l = log.clone();
    let cancelled = vrun(move || {
        let task = spawn(coro("never", move || l.push("started")));
        task.cancel();
        let task_cancelled = matches!(task.join_outcome(), Outcome::Cancelled);
        task_cancelled
    });
    assert!(cancelled);
    assert!(
        log.take().is_empty(),
        "a task cancelled before its first step never runs"
    );
}

#[test]
fn test_cancel_yield() {
    let log = Log::default();
    let l = log.clone();
    vrun(move || {
        let l2 = l.clone();
        let task = spawn(coro("yielder", move || {
            l2.push("before yield");
            yield_now();
            l2.push("after yield (never)");
        }));
        yield_now(); // let it run to its yield
        task.cancel();
        assert!(matches!(task.join_outcome(), Outcome::Cancelled));
        l.push("cancelled");
    });
    assert_eq!(log.take(), ["before yield", "cancelled"]);
}

#[test]
fn test_cancel_inner_future() {
    let result = vrun(|| {
        let fut: Future<i32> = Future::new();
        let f = fut.clone();
        let task = spawn(coro("waiter", move || yield_from(&f)));
        yield_now();
        fut.cancel();
        let outcome = task.join_outcome();
        matches!(outcome, Outcome::Cancelled)
    });
    assert!(result);
}

#[test]
fn test_cancel_both_task_and_inner_future() {
    let (fut_cancelled, task_cancelled) = vrun(|| {
        let fut: Future<i32> = Future::new();
        let f = fut.clone();
        let task = spawn(coro("waiter", move || yield_from(&f)));
        yield_now();
        fut.cancel();
        task.cancel();
        let fut_cancelled = fut.cancelled();
        (
            fut_cancelled,
            matches!(task.join_outcome(), Outcome::Cancelled),
        )
    });
    assert!(fut_cancelled && task_cancelled);
}

#[test]
fn test_cancel_task_catching() {
    let value = vrun(|| {
        let task = spawn(coro("catcher", || {
            match catch_cancelled(|| sleep(secs(10.0))) {
                Ok(()) => 0,
                Err(Cancelled) => 42,
            }
        }));
        sleep(secs(1.0));
        task.cancel();
        yield_from(task)
    });
    assert_eq!(
        value, 42,
        "a task that catches Cancelled and returns is not cancelled"
    );
}

#[test]
fn test_cancel_task_ignoring() {
    let log = Log::default();
    let l = log.clone();
    let value = vrun(move || {
        let l2 = l.clone();
        let task = spawn(coro("ignorer", move || {
            let _ = catch_cancelled(|| sleep(secs(10.0)));
            l2.push(format!("ignored cancel at {}", t()));
            sleep(secs(2.0)); // goes on awaiting after the cancellation
            l2.push(format!("done at {}", t()));
            42
        }));
        sleep(secs(1.0));
        task.cancel();
        yield_from(task)
    });
    assert_eq!(value, 42);
    assert_eq!(log.take(), ["ignored cancel at 1", "done at 3"]);
}

#[test]
fn test_cancel_current_task() {
    let log = Log::default();
    let l = log.clone();
    vrun(move || {
        let l2 = l.clone();
        let task = spawn(coro("self-canceller", move || {
            let me = EventLoop::current();
            let _ = me;
            l2.push("cancel myself");
            // Cancel through the handle published in a cell (Python: current_task().cancel()).
            SELF.with(|s| s.borrow().as_ref().map(|c| c()));
            l2.push("still running until the next await");
            sleep(secs(1.0));
            l2.push("never");
        }));
        let handle = Rc::new(task);
        let h = handle.clone();
        SELF.with(|s| {
            *s.borrow_mut() = Some(Box::new(move || {
                h.cancel();
            }))
        });
        yield_now();
        yield_now();
        assert!(handle.cancelled());
        SELF.with(|s| s.borrow_mut().take());
    });
    assert_eq!(
        log.take(),
        ["cancel myself", "still running until the next await"]
    );
}

thread_local! {
    static SELF: RefCell<Option<Box<dyn Fn()>>> = RefCell::new(None);
}

#[test]
fn test_cancel_at_end() {
    let cancelled = vrun(|| {
        let task = spawn(coro("ends", || {
            SELF.with(|s| s.borrow().as_ref().map(|c| c()));
            12
        }));
        let handle = Rc::new(task);
        let h = handle.clone();
        SELF.with(|s| {
            *s.borrow_mut() = Some(Box::new(move || {
                h.cancel();
            }))
        });
        yield_now();
        SELF.with(|s| s.borrow_mut().take());
        handle.cancelled()
    });
    assert!(
        cancelled,
        "cancelled right before returning: the task ends cancelled"
    );
}

#[test]
fn test_cancel_awaited_task() {
    let log = Log::default();
    let l = log.clone();
    vrun(move || {
        let inner = spawn(coro("inner", || sleep(secs(10.0))));
        let l2 = l.clone();
        let outer = spawn(coro("outer", move || {
            if catch_cancelled(|| yield_from(inner)).is_err() {
                l2.push(format!("outer saw the cancel at {}", t()));
            }
        }));
        sleep(secs(1.0));
        outer.cancel(); // cancels the inner task too, as asyncio does
        yield_from(outer);
    });
    assert_eq!(log.take(), ["outer saw the cancel at 1"]);
}

#[test]
fn test_sleep() {
    let times = vrun(|| {
        let t0 = t();
        sleep(secs(0.1));
        let t1 = t();
        sleep(secs(2.0));
        (t0, t1, t())
    });
    assert_eq!(times, (0.0, 0.1, 2.1));
}

#[test]
fn test_sleep_cancel() {
    let (cancelled, at) = vrun(|| {
        let task = spawn(coro("sleeper", || sleep(secs(10.0))));
        yield_now();
        task.cancel();
        let c = matches!(task.join_outcome(), Outcome::Cancelled);
        (c, t())
    });
    assert!(cancelled);
    assert_eq!(at, 0.0);
}

#[test]
fn test_task_cancel_sleeping_task() {
    let log = Log::default();
    let l = log.clone();
    vrun(move || {
        let l2 = l.clone();
        let sleeper = spawn(coro("sleeper", move || {
            l2.push("sleeping");
            if catch_cancelled(|| sleep(secs(5000.0))).is_err() {
                l2.push(format!("woken by cancel at {}", t()));
            }
            "done"
        }));
        sleep(secs(0.1));
        sleeper.cancel();
        l.push(yield_from(sleeper));
    });
    assert_eq!(log.take(), ["sleeping", "woken by cancel at 0.1", "done"]);
}

#[test]
fn test_task_cancel_waiter_future() {
    let (fut_cancelled, task_cancelled) = vrun(|| {
        let fut: Future<()> = Future::new();
        let f = fut.clone();
        let task = spawn(coro("waiter", move || yield_from(&f)));
        yield_now();
        task.cancel();
        let c = matches!(task.join_outcome(), Outcome::Cancelled);
        (fut.cancelled(), c)
    });
    assert!(task_cancelled);
    assert!(
        fut_cancelled,
        "cancelling a task cancels the future it awaits"
    );
}

#[test]
fn test_yield_future_passes_cancel() {
    let log = Log::default();
    let l = log.clone();
    vrun(move || {
        let l2 = l.clone();
        let task = spawn(coro("outer", move || {
            let inner: Future<()> = Future::new();
            match catch_cancelled(|| yield_from(&inner)) {
                Ok(()) => l2.push("not cancelled"),
                Err(Cancelled) => l2.push(format!(
                    "cancel passed through; inner cancelled={}",
                    inner.cancelled()
                )),
            }
        }));
        yield_now();
        task.cancel();
        yield_from(task);
    });
    assert_eq!(log.take(), ["cancel passed through; inner cancelled=true"]);
}

#[test]
fn test_wait() {
    let (done, pending, at) = vrun(|| {
        let tasks = vec![
            spawn(coro("a", || sleep(secs(0.1)))),
            spawn(coro("b", || sleep(secs(0.15)))),
        ];
        let (done, pending) = wait(tasks, ReturnWhen::AllCompleted, None);
        (done.len(), pending.len(), t())
    });
    assert_eq!((done, pending, at), (2, 0, 0.15));
}

#[test]
fn test_wait_first_completed() {
    let (done, pending, at) = vrun(|| {
        let tasks = vec![
            spawn(coro("slow", || sleep(secs(10.0)))),
            spawn(coro("fast", || sleep(secs(0.1)))),
        ];
        let (done, pending) = wait(tasks, ReturnWhen::FirstCompleted, None);
        let names: Vec<_> = done.iter().map(|t| t.name()).collect();
        for p in &pending {
            p.cancel();
        }
        (names, pending.len(), t())
    });
    assert_eq!(done, ["fast"]);
    assert_eq!((pending, at), (1, 0.1));
}

#[test]
fn test_wait_with_timeout() {
    let (done, pending, at) = vrun(|| {
        let tasks = vec![
            spawn(coro("a", || sleep(secs(0.1)))),
            spawn(coro("b", || sleep(secs(0.15)))),
        ];
        let (done, pending) = wait(tasks, ReturnWhen::AllCompleted, Some(secs(0.11)));
        let r = (done.len(), pending.len(), t());
        for p in pending {
            yield_from(p);
        }
        r
    });
    assert_eq!((done, pending, at), (1, 1, 0.11));
}

#[test]
fn test_as_completed() {
    let order = vrun(|| {
        let tasks = [0.1, 0.05, 0.0].map(|s| {
            spawn(coro("napper", move || {
                sleep(secs(s));
                (s * 100.0) as i32
            }))
        });
        as_completed(tasks.into()).collect::<Vec<_>>()
    });
    assert_eq!(order, [0, 5, 10]);
}

#[test]
fn test_gather_results_in_argument_order() {
    let (results, at) = vrun(|| {
        let r = gather([3.0, 1.0, 2.0].map(|s| {
            coro("napper", move || {
                sleep(secs(s));
                s as i32
            })
        }));
        (r, t())
    });
    assert_eq!(results, [3, 1, 2]);
    assert_eq!(at, 3.0, "concurrent: the total is the longest, not the sum");
}

#[test]
fn test_one_exception() {
    let log = Log::default();
    let l = log.clone();
    let raised = vrun(move || {
        let l2 = l.clone();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            gather([
                coro("fails", || {
                    sleep(secs(1.0));
                    panic!("boom")
                }),
                coro("slow", move || {
                    sleep(secs(5.0));
                    l2.push(format!("slow finished at {}", t()));
                }),
            ])
        }));
        l.push(format!("gather raised at {}", t()));
        sleep(secs(10.0)); // the other child was not cancelled
        r.is_err()
    });
    assert!(raised);
    assert_eq!(log.take(), ["gather raised at 1", "slow finished at 5"]);
}

#[test]
fn test_return_exceptions() {
    let kinds = vrun(|| {
        gather(outcomes([
            coro("ok", || 1),
            coro("panics", || panic!("bad")),
            coro("ok2", || 3),
        ]))
        .into_iter()
        .map(|o| match o {
            Outcome::Value(v) => format!("value {v}"),
            Outcome::Panic(p) => {
                format!("panic {}", yieldfrom::warnings::panic_message(p.as_ref()))
            }
            Outcome::Cancelled => "cancelled".into(),
        })
        .collect::<Vec<_>>()
    });
    assert_eq!(kinds, ["value 1", "panic bad", "value 3"]);
}

#[test]
fn test_cancel_gather_1() {
    let log = Log::default();
    let l = log.clone();
    vrun(move || {
        let l2 = l.clone();
        let gatherer = spawn(coro("gatherer", move || {
            let l3 = l2.clone();
            gather([coro("child", move || {
                if catch_cancelled(|| sleep(secs(10.0))).is_err() {
                    l3.push(format!("child cancelled at {}", t()));
                    yieldfrom::suspend::raise_cancelled();
                }
            })]);
        }));
        sleep(secs(1.0));
        gatherer.cancel();
        assert!(matches!(gatherer.join_outcome(), Outcome::Cancelled));
        sleep(secs(0.5));
    });
    assert_eq!(log.take(), ["child cancelled at 1"]);
}

#[test]
fn test_task_exception_never_retrieved() {
    let ((), warned) = warnings::catch(|| {
        vrun(|| {
            let task = spawn(coro("doomed", || -> i32 { panic!("nobody looks") }));
            sleep(secs(1.0));
            drop(task);
        })
    });
    assert_eq!(
        warned,
        ["yieldfrom: task exception was never retrieved: task 'doomed' panicked: nobody looks"]
    );
}

#[test]
fn test_panic_is_raised_where_the_task_is_awaited_and_the_loop_goes_on() {
    let log = Log::default();
    let l = log.clone();
    vrun(move || {
        let l2 = l.clone();
        let bystander = spawn(coro("bystander", move || {
            sleep(secs(2.0));
            l2.push("bystander done");
        }));
        let failing = spawn(coro("failing", || -> i32 { panic!("task failed") }));
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| yield_from(failing)));
        let message = yieldfrom::warnings::panic_message(caught.unwrap_err().as_ref());
        l.push(format!("awaiter caught: {message}"));
        yield_from(bystander);
    });
    assert_eq!(
        log.take(),
        ["awaiter caught: task failed", "bystander done"]
    );
}

// ---------------------------------------------------------- test_base_events.py

#[test]
fn test_call_soon() {
    let log = Log::default();
    let lp = EventLoop::new();
    for i in 0..5 {
        let l = log.clone();
        lp.call_soon(move || l.push(format!("cb{i}")));
    }
    lp.run_once();
    assert_eq!(log.take(), ["cb0", "cb1", "cb2", "cb3", "cb4"]);
}

#[test]
fn test__add_callback_cancelled_handle() {
    let log = Log::default();
    let lp = EventLoop::new();
    let l = log.clone();
    let h = lp.call_soon(move || l.push("cancelled one ran"));
    let l = log.clone();
    lp.call_soon(move || l.push("other ran"));
    h.cancel();
    lp.run_once();
    assert_eq!(log.take(), ["other ran"]);
}

#[test]
fn test__run_once_schedule_handle() {
    // What a callback schedules runs on the next iteration, not this one.
    let log = Log::default();
    let lp = EventLoop::new();
    let (l, lp2) = (log.clone(), lp.clone());
    lp.call_soon(move || {
        l.push("first");
        let l2 = l.clone();
        lp2.call_soon(move || l2.push("scheduled by first"));
    });
    lp.run_once();
    assert_eq!(log.take(), ["first"]);
    lp.run_once();
    assert_eq!(log.take(), ["scheduled by first"]);
}

#[test]
fn test_call_later() {
    let log = Log::default();
    let lp = EventLoop::builder().virtual_clock(true).build();
    for (delay, name) in [(0.3, "c"), (0.1, "a"), (0.2, "b"), (0.1, "a2")] {
        let (l, lp2) = (log.clone(), lp.clone());
        lp.call_later(secs(delay), move || {
            l.push(format!("{name}@{:.1}", lp2.time()))
        });
    }
    lp.run_until_idle();
    assert_eq!(log.take(), ["a@0.1", "a2@0.1", "b@0.2", "c@0.3"]);
}

#[test]
fn test_time_and_call_at() {
    let lp = EventLoop::builder().virtual_clock(true).build();
    let fired = Rc::new(Cell::new(0.0));
    let (f, lp2) = (fired.clone(), lp.clone());
    let when = lp.now() + secs(2.5);
    lp.call_at(when, move || f.set(lp2.time()));
    lp.run_until_idle();
    assert_eq!(fired.get(), 2.5);
}

#[test]
fn test_run_forever_pre_stopped() {
    let log = Log::default();
    let lp = EventLoop::new();
    let l = log.clone();
    lp.call_soon(move || l.push("ran"));
    lp.stop();
    lp.run_forever();
    assert_eq!(
        log.take(),
        ["ran"],
        "a stopped loop still completes one iteration"
    );
}

#[test]
fn test_close() {
    let lp = EventLoop::new();
    assert!(!lp.is_closed());
    lp.close();
    assert!(lp.is_closed());
    lp.close(); // closing twice is fine
}

#[test]
fn test_log_slow_callbacks() {
    let (_, warned) = warnings::catch(|| {
        EventLoop::builder()
            .slow_task_threshold(Duration::from_millis(20))
            .build()
            .run(coro("sleepy", || {
                std::thread::sleep(Duration::from_millis(60))
            }))
    });
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].starts_with("yieldfrom: task 'sleepy' blocked the event loop for 0.0"),
        "{warned:?}"
    );
    assert!(warned[0].ends_with("belongs in sleep() or to_thread()"));
}

/// A handler that keeps every report of the loop it is set on.
fn recording_handler(lp: &EventLoop) -> Rc<RefCell<Vec<warnings::Report>>> {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    lp.set_exception_handler(Some(Rc::new(move |r: &warnings::Report| {
        s.borrow_mut().push(r.clone())
    })));
    seen
}

/// test_base_events.py `test_set_exc_handler_custom` and
/// `test_default_exc_handler_callback`: one handler gets every kind of
/// report of its loop, with what it is about; nothing reaches stderr (the
/// default handler, which `catch` records, sees none).
#[test]
fn test_set_exc_handler_custom() {
    let lp = EventLoop::builder()
        .virtual_clock(true)
        .slow_task_threshold(Duration::from_millis(20))
        .build();
    let seen = recording_handler(&lp);
    let ((), printed) = warnings::catch(|| {
        lp.run_until_complete(coro("main", || {
            EventLoop::current().call_soon(|| panic!("in a callback"));
            let task = spawn(coro("doomed", || -> i32 { panic!("nobody looks") }));
            spawn(coro("sleepy", || {
                std::thread::sleep(Duration::from_millis(60))
            }));
            drop(coro("lazy", || ()));
            sleep(secs(1.0));
            drop(task);
        }))
    });
    assert!(printed.is_empty(), "{printed:?}");
    let kinds: Vec<_> = seen
        .borrow()
        .iter()
        .map(|r| (r.kind, r.source.clone(), r.exception.clone()))
        .collect();
    use warnings::ReportKind::*;
    assert_eq!(
        kinds,
        [
            (NeverAwaited, Some("lazy".into()), None),
            (
                CallbackPanicked,
                Some("asyncio_port::test_set_exc_handler_custom".into()),
                Some("in a callback".into())
            ),
            (BlockedLoop, Some("sleepy".into()), None),
            (
                ExceptionNeverRetrieved,
                Some("doomed".into()),
                Some("nobody looks".into())
            ),
        ]
    );
    // A callback is named by the function it was written in and where it
    // was scheduled (asyncio: "Exception in callback f() at file:line").
    let message = &seen.borrow()[1].message;
    assert!(
        message.starts_with(
            "yieldfrom: exception in callback asyncio_port::test_set_exc_handler_custom \
             (scheduled at tests/asyncio_port.rs:"
        ),
        "{message}"
    );
    // The handler is the loop's: set to None, reports print again.
    lp.set_exception_handler(None);
    assert!(lp.exception_handler().is_none());
}

/// `call_exception_handler` reaches the loop's handler; a handler that
/// panics is reported by the default one, with what it was given.
#[test]
fn test_call_exception_handler_and_a_handler_that_panics() {
    let lp = EventLoop::new();
    let seen = recording_handler(&lp);
    lp.call_exception_handler(warnings::Report::new(warnings::ReportKind::Other, "hello"));
    assert_eq!(seen.borrow()[0].message, "hello");
    lp.set_exception_handler(Some(Rc::new(|_: &warnings::Report| panic!("handler bug"))));
    let ((), printed) = warnings::catch(|| {
        lp.call_soon(|| panic!("oops"));
        lp.run_until_idle();
    });
    assert_eq!(printed.len(), 1, "{printed:?}");
    assert!(
        printed[0].starts_with("yieldfrom: the exception handler panicked: handler bug"),
        "{printed:?}"
    );
}

#[test]
fn test_running_loop_within_a_loop() {
    let message = vrun(|| {
        let r = std::panic::catch_unwind(|| EventLoop::new().run(coro("inner", || ())));
        yieldfrom::warnings::panic_message(r.unwrap_err().as_ref())
    });
    assert!(
        message.contains("run() cannot be called from a running task"),
        "{message}"
    );
}

#[test]
fn test_await_outside_a_task_says_how_to_start_one() {
    let r = std::panic::catch_unwind(|| yield_from(coro("x", || 1)));
    let message = yieldfrom::warnings::panic_message(r.unwrap_err().as_ref());
    assert_eq!(
        message,
        "yield_from() needs a running task: start one with run() or spawn()"
    );
}

#[test]
fn test_deadlock_is_reported() {
    let r = std::panic::catch_unwind(|| {
        vrun(|| {
            let fut: Future<i32> = Future::new();
            yield_from(&fut)
        })
    });
    let message = yieldfrom::warnings::panic_message(r.unwrap_err().as_ref());
    assert!(
        message.contains("deadlock") && message.contains("a future"),
        "{message}"
    );
}

// ----------------------------------------------------------------- test_locks.py

#[test]
fn test_lock() {
    vrun(|| {
        let lock = Lock::new();
        let g = lock.acquire();
        assert!(lock.locked());
        drop(g);
        assert!(!lock.locked());
    });
}

#[test]
fn test_acquire() {
    let log = Log::default();
    let l = log.clone();
    vrun(move || {
        let lock = Rc::new(Lock::new());
        let held = lock.acquire();
        let tasks: Vec<_> = (1..=3)
            .map(|i| {
                let (lock, l) = (lock.clone(), l.clone());
                spawn(coro("c", move || {
                    let _g = lock.acquire();
                    l.push(format!("c{i}"));
                }))
            })
            .collect();
        yield_now();
        drop(held);
        for t in tasks {
            yield_from(t);
        }
    });
    assert_eq!(log.take(), ["c1", "c2", "c3"]);
}

#[test]
fn test_acquire_cancel() {
    vrun(|| {
        let lock = Rc::new(Lock::new());
        let held = lock.acquire();
        let l = lock.clone();
        let task = spawn(coro("waiter", move || drop(l.acquire())));
        yield_now();
        task.cancel();
        assert!(matches!(task.join_outcome(), Outcome::Cancelled));
        drop(held);
        assert!(!lock.locked(), "the cancelled waiter did not take the lock");
    });
}

#[test]
fn test_cancel_race() {
    // The lock is handed to a waiter that is then cancelled before it runs:
    // it must pass the lock on to the next waiter.
    let log = Log::default();
    let l = log.clone();
    vrun(move || {
        let lock = Rc::new(Lock::new());
        let held = lock.acquire();
        let (la, lb) = (lock.clone(), lock.clone());
        let (l1, l2) = (l.clone(), l.clone());
        let a = spawn(coro("a", move || {
            let _g = la.acquire();
            l1.push("a got it");
        }));
        let b = spawn(coro("b", move || {
            let _g = lb.acquire();
            l2.push("b got it");
        }));
        yield_now();
        drop(held); // hands the lock to a
        a.cancel(); // before a runs
        assert!(matches!(a.join_outcome(), Outcome::Cancelled));
        yield_from(b);
        assert!(!lock.locked());
    });
    assert_eq!(log.take(), ["b got it"]);
}

#[test]
fn test_event_wait() {
    let log = Log::default();
    let l = log.clone();
    vrun(move || {
        let ev = Rc::new(Event::new());
        let tasks: Vec<_> = (1..=3)
            .map(|i| {
                let (ev, l) = (ev.clone(), l.clone());
                spawn(coro("w", move || {
                    ev.wait();
                    l.push(format!("w{i}"));
                }))
            })
            .collect();
        yield_now();
        assert!(log_is_empty(&l));
        ev.set();
        for t in tasks {
            yield_from(t);
        }
        ev.wait(); // set: returns at once
    });
    assert_eq!(log.take(), ["w1", "w2", "w3"]);
}

fn log_is_empty(l: &Log) -> bool {
    l.0.borrow().is_empty()
}

#[test]
fn test_event_wait_cancel() {
    vrun(|| {
        let ev = Rc::new(Event::new());
        let e = ev.clone();
        let task = spawn(coro("w", move || e.wait()));
        yield_now();
        task.cancel();
        assert!(matches!(task.join_outcome(), Outcome::Cancelled));
    });
}

#[test]
fn test_event_clear() {
    vrun(|| {
        let ev = Event::new();
        ev.set();
        assert!(ev.is_set());
        ev.clear();
        assert!(!ev.is_set());
    });
}

/// test_locks.py `test_clear_with_waiters`: a waiter at the moment of
/// `set()` is woken and returns even when `clear()` comes before it runs
/// (a pulse); one that starts waiting after the `clear()` waits on.
#[test]
fn test_clear_with_waiters() {
    let log = Log::default();
    let l = log.clone();
    vrun(move || {
        let ev = Rc::new(Event::new());
        let early: Vec<_> = (1..=3)
            .map(|i| {
                let (ev, l) = (ev.clone(), l.clone());
                spawn(coro("early", move || {
                    ev.wait();
                    l.push(format!("early {i} at {}", t()));
                }))
            })
            .collect();
        yield_now();
        ev.set();
        ev.clear();
        assert!(!ev.is_set());
        let (e, l2) = (ev.clone(), l.clone());
        let late = spawn(coro("late", move || {
            e.wait();
            l2.push(format!("late at {}", t()));
        }));
        for t in early {
            yield_from(t);
        }
        sleep(secs(1.0));
        assert!(!late.done(), "a waiter after the clear waits on");
        ev.set();
        yield_from(late);
    });
    assert_eq!(
        log.take(),
        ["early 1 at 0", "early 2 at 0", "early 3 at 0", "late at 1"]
    );
}

#[test]
fn test_condition_wait_and_notify() {
    let log = Log::default();
    let l = log.clone();
    vrun(move || {
        let cond = Rc::new(Condition::new());
        let tasks: Vec<_> = (1..=3)
            .map(|i| {
                let (c, l) = (cond.clone(), l.clone());
                spawn(coro("c", move || {
                    let g = c.lock();
                    let _g = c.wait(g);
                    l.push(format!("c{i}"));
                }))
            })
            .collect();
        yield_now();
        cond.notify(1);
        yield_now();
        yield_now();
        l.push("after notify(1)");
        cond.notify(2);
        for t in tasks {
            yield_from(t);
        }
    });
    assert_eq!(log.take(), ["c1", "after notify(1)", "c2", "c3"]);
}

#[test]
fn test_condition_wait_for() {
    let got = vrun(|| {
        let (cond, n) = (Rc::new(Condition::new()), Rc::new(Cell::new(0)));
        let (c, n2) = (cond.clone(), n.clone());
        let task = spawn(coro("waiter", move || {
            let g = c.lock();
            let _g = c.wait_for(g, || n2.get() >= 3);
            n2.get()
        }));
        for _ in 0..3 {
            yield_now();
            let _g = cond.lock();
            n.set(n.get() + 1);
            cond.notify_all();
        }
        yield_from(task)
    });
    assert_eq!(got, 3);
}

#[test]
fn test_semaphore() {
    let log = Log::default();
    let l = log.clone();
    vrun(move || {
        let sem = Rc::new(Semaphore::new(2));
        gather((0..4).map(|i| {
            let (sem, l) = (sem.clone(), l.clone());
            coro("worker", move || {
                let _p = sem.acquire();
                l.push(format!("{i} in at {}", t()));
                sleep(secs(1.0));
            })
        }));
    });
    assert_eq!(
        log.take(),
        ["0 in at 0", "1 in at 0", "2 in at 1", "3 in at 1"]
    );
}

#[test]
fn test_acquire_fifo_order() {
    let log = Log::default();
    let l = log.clone();
    vrun(move || {
        let sem = Rc::new(Semaphore::new(1));
        gather((0..3).map(|i| {
            let (sem, l) = (sem.clone(), l.clone());
            coro("worker", move || {
                let _p = sem.acquire();
                l.push(format!("{i} acquired"));
                yield_now();
                l.push(format!("{i} released"));
            })
        }));
    });
    assert_eq!(
        log.take(),
        [
            "0 acquired",
            "0 released",
            "1 acquired",
            "1 released",
            "2 acquired",
            "2 released"
        ]
    );
}

#[test]
fn test_acquire_cancel_before_awoken() {
    vrun(|| {
        let sem = Rc::new(Semaphore::new(0));
        let (s1, s2) = (sem.clone(), sem.clone());
        let t1 = spawn(coro("t1", move || Semaphore::forget(s1.acquire())));
        let t2 = spawn(coro("t2", move || Semaphore::forget(s2.acquire())));
        yield_now();
        sem.release(); // handed to t1 ...
        t1.cancel(); // ... which is cancelled before it runs: t2 gets it
        assert!(matches!(t1.join_outcome(), Outcome::Cancelled));
        yield_from(t2);
        assert_eq!(sem.available(), 0);
    });
}

#[test]
fn test_release_not_acquired() {
    let r = std::panic::catch_unwind(|| vrun(|| BoundedSemaphore::new(1).release()));
    let message = yieldfrom::warnings::panic_message(r.unwrap_err().as_ref());
    assert_eq!(message, "BoundedSemaphore released too many times");
}

// ---------------------------------------------------------------- test_queues.py

#[test]
fn test_queue_order() {
    vrun(|| {
        let q = Queue::new(0);
        for i in [1, 3, 2] {
            q.put_nowait(i).unwrap();
        }
        assert_eq!(
            (0..3).map(|_| q.get_nowait().unwrap()).collect::<Vec<_>>(),
            [1, 3, 2]
        );
        let q = Queue::lifo(0);
        for i in [1, 3, 2] {
            q.put_nowait(i).unwrap();
        }
        assert_eq!(
            (0..3).map(|_| q.get_nowait().unwrap()).collect::<Vec<_>>(),
            [2, 3, 1]
        );
        let q = Queue::priority(0);
        for i in [1, 3, 2] {
            q.put_nowait(i).unwrap();
        }
        assert_eq!(
            (0..3).map(|_| q.get_nowait().unwrap()).collect::<Vec<_>>(),
            [1, 2, 3]
        );
    });
}

#[test]
fn test_maxsize() {
    let (log, at) = vrun(|| {
        let q = Rc::new(Queue::new(2));
        let log = Log::default();
        let (q2, l) = (q.clone(), log.clone());
        let putter = spawn(coro("putter", move || {
            for i in 0..3 {
                q2.put(i);
                l.push(format!("put {i} at {}", t()));
            }
        }));
        sleep(secs(1.0));
        assert!(q.full());
        q.get();
        yield_from(putter);
        (log.take(), t())
    });
    assert_eq!(log, ["put 0 at 0", "put 1 at 0", "put 2 at 1"]);
    assert_eq!(at, 1.0);
}

#[test]
fn test_blocking_get() {
    let (item, at) = vrun(|| {
        let q = Rc::new(Queue::new(0));
        let q2 = q.clone();
        spawn(coro("producer", move || {
            sleep(secs(0.5));
            q2.put("item");
        }));
        let item = q.get();
        (item, t())
    });
    assert_eq!((item, at), ("item", 0.5));
}

#[test]
fn test_nonblocking_get_exception() {
    vrun(|| {
        let q: Queue<i32> = Queue::new(0);
        assert_eq!(q.get_nowait(), Err(QueueEmpty));
    });
}

#[test]
fn test_nonblocking_put_exception() {
    vrun(|| {
        let q = Queue::new(1);
        q.put_nowait(1).unwrap();
        assert_eq!(q.put_nowait(2), Err(QueueFull(2)));
    });
}

#[test]
fn test_get_cancelled_race() {
    // Two getters wait; the first is handed an item and cancelled before it
    // runs: the item goes to the second, none is lost.
    let got = vrun(|| {
        let q = Rc::new(Queue::new(0));
        let (q1, q2) = (q.clone(), q.clone());
        let t1 = spawn(coro("g1", move || q1.get()));
        let t2 = spawn(coro("g2", move || q2.get()));
        yield_now();
        q.put_nowait("a").unwrap();
        t1.cancel();
        assert!(matches!(t1.join_outcome(), Outcome::Cancelled));
        yield_from(t2)
    });
    assert_eq!(got, "a");
}

#[test]
fn test_put_cancelled() {
    vrun(|| {
        let q = Rc::new(Queue::new(1));
        q.put_nowait(1).unwrap();
        let q2 = q.clone();
        let putter = spawn(coro("putter", move || q2.put(2)));
        yield_now();
        putter.cancel();
        assert!(matches!(putter.join_outcome(), Outcome::Cancelled));
        assert_eq!(q.get_nowait(), Ok(1));
        assert_eq!(
            q.get_nowait(),
            Err(QueueEmpty),
            "the cancelled put left nothing behind"
        );
    });
}

#[test]
fn test_task_done_underflow() {
    let r = std::panic::catch_unwind(|| vrun(|| Queue::<i32>::new(0).task_done()));
    let message = yieldfrom::warnings::panic_message(r.unwrap_err().as_ref());
    assert_eq!(message, "task_done() called too many times");
}

#[test]
fn test_task_done() {
    let (processed, at) = vrun(|| {
        let q = Rc::new(Queue::new(0));
        let total = Rc::new(Cell::new(0));
        for i in 1..=10 {
            q.put_nowait(i).unwrap();
        }
        for _ in 0..2 {
            let (q, total) = (q.clone(), total.clone());
            spawn(coro("worker", move || {
                loop {
                    let item = q.get();
                    sleep(secs(0.1));
                    total.set(total.get() + item);
                    q.task_done();
                }
            }));
        }
        q.join();
        (total.get(), t())
    });
    assert_eq!(processed, 55);
    assert_eq!(at, 0.5, "two workers, ten items of 0.1 s each");
}

#[test]
fn test_join_empty_queue() {
    vrun(|| Queue::<i32>::new(0).join());
}

// --------------------------------------------------------------- test_waitfor.py

#[test]
fn test_wait_for() {
    let (r, at) = vrun(|| {
        let r = wait_for(coro("slow", || sleep(secs(10.0))), secs(0.1));
        (r, t())
    });
    assert_eq!((r, at), (Err(Elapsed), 0.1));
}

#[test]
fn test_wait_for_blocking() {
    let r = vrun(|| {
        wait_for(
            coro("quick", || {
                sleep(secs(0.05));
                "done"
            }),
            secs(1.0),
        )
    });
    assert_eq!(r, Ok("done"));
}

#[test]
fn test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started() {
    let log = Log::default();
    let l = log.clone();
    let (r, warned) = warnings::catch(|| {
        vrun(move || wait_for(coro("never", move || l.push("started")), Duration::ZERO))
    });
    assert_eq!(r, Err(Elapsed));
    assert!(
        log.take().is_empty(),
        "with a zero timeout the coroutine never starts"
    );
    assert!(
        warned.is_empty(),
        "and it does not count as never awaited: {warned:?}"
    );
}

#[test]
fn test_wait_for_waits_for_task_cancellation() {
    let log = Log::default();
    let l = log.clone();
    let r = vrun(move || {
        let l2 = l.clone();
        let r = timeout(secs(0.1), move || {
            if catch_cancelled(|| sleep(secs(10.0))).is_err() {
                sleep(secs(0.2)); // cleanup that awaits
                l2.push(format!("cleanup done at {}", t()));
                yieldfrom::suspend::raise_cancelled();
            }
        });
        l.push(format!("timeout returned at {}", t()));
        r
    });
    assert_eq!(r, Err(Elapsed));
    assert_eq!(
        log.take(),
        ["cleanup done at 0.3", "timeout returned at 0.3"]
    );
}

#[test]
fn test_cancel_wait_for() {
    vrun(|| {
        let task = spawn(coro("waits", || {
            wait_for(coro("slow", || sleep(secs(10.0))), secs(5.0))
        }));
        sleep(secs(1.0));
        task.cancel();
        assert!(
            matches!(task.join_outcome(), Outcome::Cancelled),
            "a cancellation from outside is not a timeout"
        );
    });
}

// ------------------------------------------------------------ test_timeouts.py

#[test]
fn test_timeout_basic() {
    let (r, expired) = vrun(|| {
        let mut cm = None;
        let r = yieldfrom::timeout_with(Some(yieldfrom::now() + secs(0.01)), |c| {
            cm = Some(c.clone());
            sleep(secs(10.0));
        });
        (r, cm.unwrap().expired())
    });
    assert_eq!(r, Err(Elapsed));
    assert!(expired);
}

#[test]
fn test_timeout_at_basic() {
    vrun(|| {
        let deadline = yieldfrom::now() + secs(0.01);
        let mut cm = None;
        let r = yieldfrom::timeout_with(Some(deadline), |c| {
            cm = Some(c.clone());
            sleep(secs(10.0));
        });
        let cm = cm.unwrap();
        assert_eq!(r, Err(Elapsed));
        assert!(cm.expired());
        assert_eq!(cm.when(), Some(deadline));
    });
}

/// Two timeouts with one deadline: only the outer one turns the
/// cancellation into `Elapsed`; the inner one lets it through.
#[test]
fn test_nested_timeouts() {
    let (r, cancelled) = vrun(|| {
        let deadline = yieldfrom::now() + secs(0.01);
        let mut cancelled = false;
        let r = timeout_at_both(deadline, &mut cancelled);
        (r, cancelled)
    });
    assert_eq!(r, Err(Elapsed));
    assert!(cancelled);
}

fn timeout_at_both(deadline: std::time::Instant, cancelled: &mut bool) -> Result<(), Elapsed> {
    yieldfrom::timeout_at(deadline, || {
        let inner = catch_cancelled(|| {
            let _ = yieldfrom::timeout_at(deadline, || sleep(secs(10.0)));
            unreachable!("the inner timeout does not return Elapsed");
        });
        assert!(inner.is_err());
        *cancelled = true;
        yieldfrom::suspend::raise_cancelled();
    })
}

#[test]
fn test_timeout_not_called_and_disabled() {
    vrun(|| {
        let mut cm = None;
        yieldfrom::timeout_with(Some(yieldfrom::now() + secs(10.0)), |c| {
            cm = Some(c.clone());
            sleep(secs(0.01));
        })
        .unwrap();
        let cm = cm.unwrap();
        assert!(!cm.expired());
        assert!(cm.when().unwrap() > yieldfrom::now());
        let mut off = None;
        yieldfrom::timeout_with(None, |c| {
            off = Some(c.clone());
            sleep(secs(0.01));
        })
        .unwrap();
        let off = off.unwrap();
        assert!(!off.expired());
        assert_eq!(off.when(), None);
    });
}

#[test]
fn test_timeout_zero() {
    vrun(|| {
        let t0 = t();
        assert_eq!(timeout(secs(0.0), || sleep(secs(10.0))), Err(Elapsed));
        assert_eq!(t(), t0);
        assert_eq!(timeout(secs(0.0), || sleep(secs(0.0))), Err(Elapsed));
    });
}

/// A cancellation from another task inside a timeout that has not expired
/// stays a cancellation.
#[test]
fn test_foreign_cancel_doesnt_timeout_if_not_expired() {
    vrun(|| {
        let cm = Rc::new(RefCell::new(None));
        let c = cm.clone();
        let worker = spawn(coro("worker", move || {
            yieldfrom::timeout_with(Some(yieldfrom::now() + secs(10.0)), |t| {
                *c.borrow_mut() = Some(t.clone());
                sleep(secs(10.0));
            })
        }));
        sleep(secs(0.1));
        worker.cancel();
        assert!(matches!(worker.join_outcome(), Outcome::Cancelled));
        assert!(!cm.borrow().as_ref().unwrap().expired());
    });
}

/// A timeout's deadline met at the same moment as a cancellation from
/// someone else: the other cancellation wins (asyncio: CancelledError, not
/// TimeoutError).
#[test]
fn test_foreign_cancel_at_the_deadline_stays_a_cancellation() {
    vrun(|| {
        let worker = spawn(coro("worker", || timeout(secs(1.0), || sleep(secs(10.0)))));
        sleep(secs(1.0)); // the worker's deadline fires in this same step
        worker.cancel();
        assert!(matches!(worker.join_outcome(), Outcome::Cancelled));
    });
}

#[test]
fn test_outer_task_is_not_cancelled() {
    vrun(|| {
        let task = spawn(coro("outer", || timeout(secs(0.001), || sleep(secs(10.0)))));
        let watch = task.future().clone();
        assert_eq!(yield_from(task), Err(Elapsed));
        assert!(!watch.cancelled() && watch.done());
        assert_eq!(yieldfrom::cancelling(), 0);
    });
}

/// `test_reschedule`: another task moves the deadline, later, then away.
#[test]
fn test_reschedule() {
    vrun(|| {
        let deadline1 = yieldfrom::now() + secs(10.0);
        let deadline2 = deadline1 + secs(20.0);
        let fut: Future<yieldfrom::Timeout> = Future::new();
        let f = fut.clone();
        let task = spawn(coro("f", move || {
            yieldfrom::timeout_with(Some(deadline1), |cm| {
                f.set_result(cm.clone());
                sleep(secs(50.0));
            })
        }));
        let cm = yield_from(&fut);
        assert_eq!(cm.when(), Some(deadline1));
        cm.reschedule(Some(deadline2));
        assert_eq!(cm.when(), Some(deadline2));
        cm.reschedule(None);
        assert_eq!(cm.when(), None);
        sleep(secs(40.0)); // past both deadlines: nothing fires
        assert!(!task.done());
        task.cancel();
        assert!(matches!(task.join_outcome(), Outcome::Cancelled));
        assert!(!cm.expired());
    });
}

/// A `Timeout` kept past its work cannot be moved (it would cancel the
/// task in whatever it does later); the task goes on undisturbed.
#[test]
fn test_reschedule_after_the_work_ended_is_refused() {
    vrun(|| {
        let mut kept = None;
        yieldfrom::timeout_with(Some(yieldfrom::now() + secs(10.0)), |cm| {
            kept = Some(cm.clone());
        })
        .unwrap();
        let cm = kept.unwrap();
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cm.reschedule(Some(yieldfrom::now()))
        }));
        assert!(refused.is_err());
        sleep(secs(1.0)); // not cancelled
        assert_eq!(yieldfrom::cancelling(), 0);
    });
}

/// Rescheduling sooner: the work is cut off at the new deadline.
#[test]
fn test_reschedule_sooner() {
    let at = vrun(|| {
        let r = yieldfrom::timeout_with(Some(yieldfrom::now() + secs(10.0)), |cm| {
            cm.reschedule(Some(yieldfrom::now() + secs(2.0)));
            sleep(secs(5.0));
        });
        assert_eq!(r, Err(Elapsed));
        t()
    });
    assert_eq!(at, 2.0);
}

/// A task waits 50 s under a timeout of 10 s; another task, 1 s in, moves
/// the deadline to `moved_to` seconds from then. Returns the timeout's
/// result, when it came, and whether it expired.
fn reschedule_while_the_task_waits(moved_to: f64) -> (Result<(), Elapsed>, f64, bool) {
    vrun(move || {
        let fut: Future<yieldfrom::Timeout> = Future::new();
        let f = fut.clone();
        let task = spawn(coro("f", move || {
            let r = yieldfrom::timeout_with(Some(yieldfrom::now() + secs(10.0)), |cm| {
                f.set_result(cm.clone());
                sleep(secs(50.0));
            });
            (r, t())
        }));
        let cm = yield_from(&fut);
        sleep(secs(1.0));
        cm.reschedule(Some(yieldfrom::now() + secs(moved_to)));
        let (r, at) = yield_from(task);
        (r, at, cm.expired())
    })
}

/// Another task moves the deadline of a waiting task later: the wait goes
/// on past the old deadline and is cut off at the new one.
#[test]
fn test_reschedule_later_while_the_task_waits() {
    let (r, at, _) = reschedule_while_the_task_waits(19.0);
    assert_eq!((r, at), (Err(Elapsed), 20.0));
}

/// Another task moves the deadline of a waiting task sooner: the wait is
/// cut off at the new deadline.
#[test]
fn test_reschedule_sooner_while_the_task_waits() {
    let (r, at, expired) = reschedule_while_the_task_waits(2.0);
    assert_eq!((r, at, expired), (Err(Elapsed), 3.0, true));
}

/// A deadline that passes while the task runs cuts it off at its next
/// await, even one that would be over at once (a yield), so that a task
/// whose waits all end at once still times out.
#[test]
fn test_a_deadline_passed_while_running_stops_the_next_await() {
    let (r, after) = vrun(|| {
        let after = Rc::new(Cell::new(false));
        let a = after.clone();
        let r = yieldfrom::timeout_with(Some(yieldfrom::now() + secs(10.0)), |cm| {
            cm.reschedule(Some(yieldfrom::now()));
            yield_now();
            a.set(true);
        });
        (r, after.get())
    });
    assert_eq!((r, after), (Err(Elapsed), false));
}

/// A wait whose own deadline comes first ends normally inside a timeout,
/// and the timeout, once left, cancels nothing later.
#[test]
fn test_a_sleep_shorter_than_its_timeout_ends_normally() {
    let (r, at) = vrun(|| {
        let r = yieldfrom::timeout(secs(10.0), || {
            sleep(secs(1.0));
            t()
        });
        sleep(secs(20.0)); // past the old deadline: not cancelled
        (r, t())
    });
    assert_eq!((r, at), (Ok(1.0), 21.0));
}

// ------------------------------------------- test_tasks.py: shield, wait_for

/// `test_shield_effect`: cancelling the outer task does not reach the inner.
#[test]
fn test_shield_effect() {
    let proof = Rc::new(Cell::new(0));
    let p = proof.clone();
    vrun(move || {
        let waiter: Future<()> = Future::new();
        let (w, p1, p2) = (waiter.clone(), p.clone(), p.clone());
        let outer = spawn(coro("outer", move || {
            let inner = spawn(coro("inner", move || {
                yield_from(&w);
                p1.set(p1.get() + 1);
            }));
            yieldfrom::shield(inner);
            p2.set(p2.get() + 100);
        }));
        yield_now();
        outer.cancel();
        assert!(matches!(outer.join_outcome(), Outcome::Cancelled));
        waiter.set_result(());
        yield_now();
        yield_now();
    });
    assert_eq!(proof.get(), 1);
}

/// `test_shield_result` / `test_shield_cancel_inner`: the inner's result,
/// or its cancellation, reaches the waiter.
#[test]
fn test_shield_result_and_cancel_inner() {
    vrun(|| {
        let inner = spawn(coro("inner", || {
            sleep(secs(1.0));
            42
        }));
        assert_eq!(yieldfrom::shield(inner), 42);
        let inner = spawn(coro("inner", || sleep(secs(10.0))));
        inner.cancel();
        let r = catch_cancelled(|| yieldfrom::shield(inner));
        assert_eq!(r, Err(Cancelled));
    });
}

/// `wait_for(task, t)`: the task is cancelled when time is up, and waited
/// for (its cleanup runs before wait_for returns).
#[test]
fn test_wait_for_a_task_cancels_it() {
    let log = Log::default();
    let l = log.clone();
    vrun(move || {
        let l2 = l.clone();
        let task = spawn(coro("slow", move || {
            if catch_cancelled(|| sleep(secs(10.0))).is_err() {
                sleep(secs(0.5)); // cleanup that awaits
                l2.push(format!("cleaned up at {}", t()));
                yieldfrom::suspend::raise_cancelled();
            }
        }));
        let watch = task.future().clone();
        assert_eq!(wait_for(task, secs(1.0)), Err(Elapsed));
        assert!(watch.cancelled());
        l.push(format!("wait_for returned at {}", t()));
        // Done already: its result, even with a zero limit.
        let quick = spawn(coro("quick", || 7));
        yield_now();
        assert_eq!(wait_for(quick, secs(0.0)), Ok(7));
        // A future, pending, with a zero limit: cancelled.
        let fut: Future<i32> = Future::new();
        assert_eq!(wait_for(&fut, secs(0.0)), Err(Elapsed));
        assert!(fut.cancelled());
    });
    assert_eq!(
        log.take(),
        ["cleaned up at 1.5", "wait_for returned at 1.5"]
    );
}

// ------------------------------------------------------------ test_taskgroups.py

#[test]
fn test_taskgroup_01() {
    let (a, b, at) = vrun(|| {
        let (ta, tb) = task_group(|tg| {
            let a = tg.spawn(coro("foo1", || {
                sleep(secs(0.1));
                42
            }));
            let b = tg.spawn(coro("foo2", || {
                sleep(secs(0.2));
                11
            }));
            (a, b)
        });
        assert!(ta.done() && tb.done(), "children cannot outlive the group");
        (yield_from(ta), yield_from(tb), t())
    });
    assert_eq!((a, b, at), (42, 11, 0.2));
}

#[test]
fn test_cancel_children_on_child_error() {
    let log = Log::default();
    let l = log.clone();
    let message = vrun(move || {
        let (l1, l2) = (l.clone(), l.clone());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            task_group(|tg| {
                tg.spawn(coro("sibling", move || {
                    if catch_cancelled(|| sleep(secs(10.0))).is_err() {
                        l1.push(format!("sibling cancelled at {}", t()));
                        yieldfrom::suspend::raise_cancelled();
                    }
                }));
                tg.spawn(coro("failing", || {
                    sleep(secs(0.1));
                    panic!("zero division")
                }));
                if catch_cancelled(|| sleep(secs(10.0))).is_err() {
                    l2.push(format!("body cancelled at {}", t()));
                }
            })
        }));
        yieldfrom::warnings::panic_message(r.unwrap_err().as_ref())
    });
    assert_eq!(
        message,
        "TaskGroup: 1 child task(s) failed; task 'failing' panicked: zero division"
    );
    assert_eq!(
        log.take(),
        ["sibling cancelled at 0.1", "body cancelled at 0.1"]
    );
}

#[test]
fn test_cancellation() {
    let log = Log::default();
    let l = log.clone();
    vrun(move || {
        let l2 = l.clone();
        let runner = spawn(coro("runner", move || {
            task_group(|tg| {
                for i in 0..3 {
                    let l3 = l2.clone();
                    tg.spawn(coro("child", move || {
                        if catch_cancelled(|| sleep(secs(10.0))).is_err() {
                            l3.push(format!("child {i} cancelled"));
                            yieldfrom::suspend::raise_cancelled();
                        }
                    }));
                }
            })
        }));
        sleep(secs(0.1));
        runner.cancel();
        assert!(matches!(runner.join_outcome(), Outcome::Cancelled));
    });
    assert_eq!(
        log.take(),
        [
            "child 0 cancelled",
            "child 1 cancelled",
            "child 2 cancelled"
        ]
    );
}

/// The panic message of `f`, which must panic.
fn panic_of(f: impl FnOnce()) -> String {
    let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
    yieldfrom::warnings::panic_message(p.as_ref())
}

/// The group's own cancellation of its parent is withdrawn (asyncio's
/// `uncancel`): the task that caught the group's error goes on awaiting,
/// and the error names the failed child only, not the body's cancellation.
/// As `main`, the loop returns its value (it was "cancelled" before).
#[test]
fn test_parent_is_not_left_cancelled_after_a_child_error() {
    let (message, left, at) = vrun(|| {
        let message = panic_of(|| {
            task_group(|tg| {
                tg.spawn(coro("crash", || {
                    sleep(secs(0.1));
                    panic!("boom")
                }));
                sleep(secs(10.0)); // the usual: the body is suspended
            })
        });
        let left = yieldfrom::cancelling();
        sleep(secs(1.0)); // not Cancelled
        (message, left, t())
    });
    assert_eq!(
        message,
        "TaskGroup: 1 child task(s) failed; task 'crash' panicked: boom"
    );
    assert_eq!((left, at), (0, 1.1));
}

/// test_taskgroups.py `test_taskgroup_07`: the parent cancelled from outside;
/// the children and the body see it, and the parent ends cancelled.
#[test]
fn test_taskgroup_07() {
    let num = Rc::new(Cell::new(0));
    let n = num.clone();
    vrun(move || {
        let n2 = n.clone();
        let runner = spawn(coro("runner", move || {
            task_group(|g| {
                for _ in 0..5 {
                    let n3 = n2.clone();
                    g.spawn(coro("foo", move || {
                        if catch_cancelled(|| sleep(secs(5.0))).is_err() {
                            n3.set(n3.get() + 1);
                            yieldfrom::suspend::raise_cancelled();
                        }
                    }));
                }
                if catch_cancelled(|| sleep(secs(10.0))).is_err() {
                    n2.set(n2.get() + 10);
                    yieldfrom::suspend::raise_cancelled();
                }
            })
        }));
        sleep(secs(0.1));
        assert!(!runner.done());
        runner.cancel();
        assert!(matches!(runner.join_outcome(), Outcome::Cancelled));
    });
    assert_eq!(num.get(), 15);
}

/// `test_taskgroup_08`: cancelled from outside, the children fail in their
/// cleanup: their errors have priority over the cancellation.
#[test]
fn test_taskgroup_08() {
    let message = vrun(|| {
        let runner = spawn(coro("runner", || {
            task_group(|g| {
                for _ in 0..5 {
                    g.spawn(coro("foo", || {
                        let _ = catch_cancelled(|| sleep(secs(10.0)));
                        panic!("zero division")
                    }));
                }
                sleep(secs(10.0));
            })
        }));
        sleep(secs(0.1));
        runner.cancel();
        match runner.join_outcome() {
            Outcome::Panic(p) => yieldfrom::warnings::panic_message(p.as_ref()),
            _ => "not a panic".into(),
        }
    });
    assert!(
        message
            .starts_with("TaskGroup: 5 child task(s) failed; task 'foo' panicked: zero division"),
        "{message}"
    );
}

/// `test_taskgroup_13`: nested groups; the outer group's child fails first,
/// the inner group is cancelled through the parent, the outer error wins.
#[test]
fn test_taskgroup_13() {
    let (message, left) = vrun(|| {
        let message = panic_of(|| {
            task_group(|g1| {
                g1.spawn(coro("crash_after_0.1", || {
                    sleep(secs(0.1));
                    panic!("0.1")
                }));
                task_group(|g2| {
                    g2.spawn(coro("crash_after_10", || {
                        sleep(secs(10.0));
                        panic!("10")
                    }));
                });
            })
        });
        (message, yieldfrom::cancelling())
    });
    assert_eq!(
        message,
        "TaskGroup: 1 child task(s) failed; task 'crash_after_0.1' panicked: 0.1"
    );
    assert_eq!(left, 0);
}

/// `test_taskgroup_14`: nested groups; the inner group's child fails: the
/// inner group's error ends the outer body, whose children are cancelled.
/// (asyncio nests the inner ExceptionGroup in the outer one; here the
/// inner group's panic goes on as the body's, being the only error.)
#[test]
fn test_taskgroup_14() {
    let (message, outer_child_cancelled) = vrun(|| {
        let slow = Rc::new(RefCell::new(None));
        let s = slow.clone();
        let message = panic_of(move || {
            task_group(|g1| {
                *s.borrow_mut() = Some(g1.spawn(coro("crash_after_10", || {
                    sleep(secs(10.0));
                    panic!("10")
                })));
                task_group(|g2| {
                    g2.spawn(coro("crash_after_0.1", || {
                        sleep(secs(0.1));
                        panic!("0.1")
                    }));
                });
            })
        });
        let cancelled = slow.borrow().as_ref().unwrap().cancelled();
        (message, cancelled)
    });
    assert_eq!(
        message,
        "TaskGroup: 1 child task(s) failed; task 'crash_after_0.1' panicked: 0.1"
    );
    assert!(outer_child_cancelled);
}

/// `test_taskgroup_15`: cancelled from outside, the body catches it and
/// sleeps; a child fails meanwhile: its error is raised, and the outside
/// cancellation is still counted (asyncio: `cancelling()` stays 1).
#[test]
fn test_taskgroup_15() {
    let (message, left) = vrun(|| {
        let runner = spawn(coro("runner", || {
            let message = panic_of(|| {
                task_group(|g1| {
                    g1.spawn(coro("crash_soon", || {
                        sleep(secs(0.3));
                        panic!("zero division")
                    }));
                    if catch_cancelled(|| sleep(secs(10.0))).is_err() {
                        sleep(secs(0.5));
                        yieldfrom::suspend::raise_cancelled();
                    }
                })
            });
            (message, yieldfrom::cancelling())
        }));
        sleep(secs(0.1));
        runner.cancel();
        yield_from(runner)
    });
    assert_eq!(
        message,
        "TaskGroup: 1 child task(s) failed; task 'crash_soon' panicked: zero division"
    );
    assert_eq!(left, 1, "the outside cancellation is not withdrawn");
}

/// `test_taskgroup_17`: no children; the body cancelled from outside
/// re-raises, and the parent ends cancelled.
#[test]
fn test_taskgroup_17() {
    let num = Rc::new(Cell::new(0));
    let n = num.clone();
    vrun(move || {
        let runner = spawn(coro("runner", move || {
            task_group(|_| {
                if catch_cancelled(|| sleep(secs(10.0))).is_err() {
                    n.set(n.get() + 10);
                    yieldfrom::suspend::raise_cancelled();
                }
            })
        }));
        sleep(secs(0.1));
        runner.cancel();
        assert!(matches!(runner.join_outcome(), Outcome::Cancelled));
    });
    assert_eq!(num.get(), 10);
}

/// `test_taskgroup_18`: the body turns the outside cancellation into an
/// error: the error goes on (asyncio wraps it in an ExceptionGroup).
#[test]
fn test_taskgroup_18() {
    let message = vrun(|| {
        let runner = spawn(coro("runner", || {
            task_group(|_| {
                if catch_cancelled(|| sleep(secs(10.0))).is_err() {
                    panic!("MyExc");
                }
            })
        }));
        sleep(secs(0.1));
        runner.cancel();
        match runner.join_outcome() {
            Outcome::Panic(p) => yieldfrom::warnings::panic_message(p.as_ref()),
            _ => "not a panic".into(),
        }
    });
    assert_eq!(message, "MyExc");
}

/// `test_taskgroup_22`: cancelled from outside while the group waits for
/// its children at the end: the children are cancelled, the parent too.
#[test]
fn test_taskgroup_22() {
    vrun(|| {
        let runner = spawn(coro("runner", || {
            task_group(|g| {
                g.spawn(coro("foo1", || {
                    sleep(secs(1.0));
                    42
                }));
                g.spawn(coro("foo2", || {
                    sleep(secs(2.0));
                    11
                }));
            })
        }));
        sleep(secs(0.05));
        runner.cancel();
        assert!(matches!(runner.join_outcome(), Outcome::Cancelled));
        assert_eq!(t(), 0.05);
    });
}

/// A body that catches the group's cancellation and returns: the group's
/// error is raised, and the parent is not left cancelled.
#[test]
fn test_body_catching_the_groups_cancellation() {
    let (message, left, at) = vrun(|| {
        let message = panic_of(|| {
            task_group(|g| {
                g.spawn(coro("crash", || {
                    sleep(secs(0.1));
                    panic!("boom")
                }));
                assert!(catch_cancelled(|| sleep(secs(10.0))).is_err());
                sleep(secs(0.2)); // its cleanup may await
            })
        });
        let left = yieldfrom::cancelling();
        sleep(secs(1.0));
        (message, left, t())
    });
    assert_eq!(
        message,
        "TaskGroup: 1 child task(s) failed; task 'crash' panicked: boom"
    );
    assert_eq!((left, at), (0, 1.3));
}

// --------------------------------------------- curio's starvation cases

#[test]
fn test_yield_now_loop_does_not_starve_a_third_task() {
    // The spinner only stops once the third task has run several steps.
    let spins = vrun(|| {
        let third_done = Rc::new(Cell::new(false));
        let spins = Rc::new(Cell::new(0u64));
        let (done, n) = (third_done.clone(), spins.clone());
        let spinner = spawn(coro("spinner", move || {
            while !done.get() {
                n.set(n.get() + 1);
                yield_now();
            }
        }));
        let done = third_done.clone();
        let third = spawn(coro("third", move || {
            for _ in 0..3 {
                yield_now();
            }
            done.set(true);
        }));
        yield_from(third);
        yield_from(spinner);
        spins.get()
    });
    assert_eq!(
        spins, 4,
        "the spinner and the third task alternate, step for step"
    );
}

#[test]
fn test_ping_pong_through_queues_does_not_starve_a_third_task() {
    let third_ran = vrun(|| {
        let (ping, pong) = (Rc::new(Queue::new(1)), Rc::new(Queue::new(1)));
        let stop = Rc::new(Cell::new(false));
        let (a_in, a_out, s) = (ping.clone(), pong.clone(), stop.clone());
        let a = spawn(coro("ping", move || {
            while !s.get() {
                let v: i32 = a_in.get();
                a_out.put(v + 1);
            }
        }));
        let (b_in, b_out, s) = (pong.clone(), ping.clone(), stop.clone());
        let b = spawn(coro("pong", move || {
            b_out.put(0);
            while !s.get() {
                let v = b_in.get();
                b_out.put(v + 1);
            }
        }));
        let third = Rc::new(Cell::new(false));
        let th = third.clone();
        let c = spawn(coro("third", move || th.set(true)));
        yield_from(c);
        stop.set(true);
        a.cancel();
        b.cancel();
        third.get()
    });
    assert!(third_ran);
}

// ------------------------------------------- unwinding on close and drop

/// Counts drops, to prove cleanup ran and nothing leaked.
struct DropCounter(Rc<Cell<usize>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Three tasks suspended three ways (sleeping, awaiting a future, on a lock),
/// each holding a guard; returns the loop with them still suspended.
fn loop_with_suspended_tasks(drops: &Rc<Cell<usize>>) -> EventLoop {
    let lp = EventLoop::builder().virtual_clock(true).build();
    let lock = Rc::new(Lock::new());
    let held = Rc::new(RefCell::new(None));
    let fut: Future<()> = Future::new();
    for kind in 0..3 {
        let (d, lock, held, fut) = (drops.clone(), lock.clone(), held.clone(), fut.clone());
        lp.spawn(coro("suspended", move || {
            let _guard = DropCounter(d);
            match kind {
                0 => sleep(secs(3600.0)),
                1 => yield_from(&fut),
                _ => {
                    *held.borrow_mut() = Some(());
                    let _g = lock.acquire();
                    let _g2 = lock.acquire(); // waits forever on itself
                }
            }
        }));
    }
    // One iteration runs each task to its wait (a second one would jump the
    // virtual clock to the sleeper's deadline).
    lp.run_once();
    assert_eq!(lp.live_tasks(), 3);
    lp
}

/// Coroutines holding a stack now: a dedicated one or a place on a shared one.
fn tasks_on_stacks() -> usize {
    let s = yieldfrom::stack::stats();
    s.in_use + s.shared_tasks
}

#[test]
fn closing_a_loop_unwinds_suspended_tasks() {
    let drops = Rc::new(Cell::new(0));
    let in_use = tasks_on_stacks();
    let lp = loop_with_suspended_tasks(&drops);
    assert_eq!(drops.get(), 0);
    assert_eq!(
        tasks_on_stacks(),
        in_use + 3,
        "each suspended task holds a stack (its own, or a place on a shared one)"
    );
    lp.close();
    assert_eq!(drops.get(), 3, "every suspended task's destructors ran");
    assert_eq!(lp.live_tasks(), 0);
    assert_eq!(
        tasks_on_stacks(),
        in_use,
        "their stacks went back to the pool"
    );
}

#[test]
fn dropping_a_loop_unwinds_suspended_tasks() {
    let drops = Rc::new(Cell::new(0));
    let in_use = tasks_on_stacks();
    let lp = loop_with_suspended_tasks(&drops);
    drop(lp);
    assert_eq!(drops.get(), 3);
    assert_eq!(tasks_on_stacks(), in_use);
}

#[test]
fn cancelled_tasks_run_their_destructors_once() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    vrun(move || {
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let d = d.clone();
                spawn(coro("victim", move || {
                    let _guard = DropCounter(d);
                    sleep(secs(100.0));
                }))
            })
            .collect();
        yield_now();
        for t in &tasks {
            t.cancel();
        }
        for t in tasks {
            assert!(matches!(t.join_outcome(), Outcome::Cancelled));
        }
    });
    assert_eq!(drops.get(), 10);
}

// ------------------------------------------------------ misuse and threads

#[test]
fn awaiting_inside_a_generator_body_in_a_task_is_a_clear_error() {
    let message = vrun(|| {
        let g = yieldfrom::Generator::new(|co: &yieldfrom::Co<i32, ()>| {
            sleep(secs(1.0)); // would pause the task from the generator's stack
            co.yield_(1)?;
            Ok(())
        });
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.start()));
        yieldfrom::warnings::panic_message(r.unwrap_err().as_ref())
    });
    assert!(
        message.contains("inside a Generator body running in a task"),
        "{message}"
    );
}

#[test]
fn a_panic_in_to_thread_is_raised_in_the_awaiting_task() {
    let message = EventLoop::new().run(coro("main", || {
        let r = std::panic::catch_unwind(|| {
            yieldfrom::to_thread(|| -> u32 { panic!("worker failed") })
        });
        yieldfrom::warnings::panic_message(r.unwrap_err().as_ref())
    }));
    assert_eq!(message, "worker failed");
}

#[test]
fn cancelling_a_task_waiting_on_to_thread_raises_at_once() {
    let (cancelled, loop_went_on) = EventLoop::new().run(coro("main", || {
        let waiter = spawn(coro("waiter", || {
            yieldfrom::to_thread(|| std::thread::sleep(Duration::from_millis(200)))
        }));
        sleep(Duration::from_millis(20));
        waiter.cancel();
        let cancelled = matches!(waiter.join_outcome(), Outcome::Cancelled);
        (cancelled, true)
    }));
    assert!(cancelled && loop_went_on);
}

#[test]
fn setting_a_future_twice_is_an_invalid_state() {
    let fut: Future<i32> = Future::new();
    fut.set_result(1);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.set_result(2)));
    let message = yieldfrom::warnings::panic_message(r.unwrap_err().as_ref());
    assert!(message.contains("already done"), "{message}");
    assert!(!fut.cancel(), "cancelling a done future does nothing");
    assert_eq!(fut.result(), Some(1));
}

// ----------------------------------------------------------------- channels

#[test]
fn mpsc_send_waits_when_full_and_recv_ends_when_senders_are_gone() {
    let (log, got) = vrun(|| {
        let (tx, mut rx) = yieldfrom::sync::channel(2);
        let log = Log::default();
        let l = log.clone();
        let tx2 = tx.clone();
        spawn(coro("producer", move || {
            for i in 0..4 {
                tx2.send(i).unwrap();
                l.push(format!("sent {i} at {}", t()));
            }
        }));
        drop(tx);
        sleep(secs(1.0));
        let mut got = vec![];
        while let Some(v) = rx.recv() {
            got.push(v);
        }
        (log.take(), got)
    });
    assert_eq!(got, [0, 1, 2, 3]);
    assert_eq!(
        log,
        ["sent 0 at 0", "sent 1 at 0", "sent 2 at 1", "sent 3 at 1"]
    );
}

#[test]
fn sending_to_a_dropped_receiver_gives_the_value_back() {
    vrun(|| {
        let (tx, rx) = yieldfrom::sync::channel::<&str>(1);
        drop(rx);
        assert_eq!(tx.send("lost?"), Err(yieldfrom::sync::SendError("lost?")));
        let (otx, orx) = yieldfrom::sync::oneshot::<u8>();
        drop(orx);
        assert!(otx.send(1).is_err());
        let (otx, orx) = yieldfrom::sync::oneshot::<u8>();
        drop(otx);
        assert_eq!(orx.recv(), Err(yieldfrom::sync::RecvError));
    });
}

// ----- join: gather for a tuple (tokio::join!) ------------------------------

#[test]
fn test_join_returns_each_type_in_order_after_the_longest() {
    let (a, b, c, at) = vrun(|| {
        let (a, b, c) = yieldfrom::combinators::join((
            coro("int", || {
                sleep(secs(0.3));
                7u8
            }),
            coro("text", || {
                sleep(secs(0.1));
                "seven".to_string()
            }),
            coro("unit", || sleep(secs(0.2))),
        ));
        (a, b, c, t())
    });
    assert_eq!((a, b.as_str(), c, at), (7, "seven", (), 0.3));
}

#[test]
fn test_join_raises_the_first_failure_at_once_and_the_others_run_on() {
    let (message, at, slow_finished) = vrun(|| {
        let finished = Rc::new(Cell::new(false));
        let f = finished.clone();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            yieldfrom::combinators::join((
                coro("slow", move || {
                    sleep(secs(5.0));
                    f.set(true);
                }),
                coro("fails", || -> u8 {
                    sleep(secs(1.0));
                    panic!("boom")
                }),
            ))
        }));
        let message = yieldfrom::warnings::panic_message(r.unwrap_err().as_ref());
        let at = t();
        sleep(secs(10.0));
        (message, at, finished.get())
    });
    assert_eq!((message.as_str(), at, slow_finished), ("boom", 1.0, true));
}

#[test]
fn test_join_cancelled_cancels_every_task() {
    let cancelled = vrun(|| {
        let count = Rc::new(Cell::new(0));
        let c2 = count.clone();
        let joiner = spawn(coro("joiner", move || {
            let mk = |name| {
                let c = c2.clone();
                coro(name, move || {
                    if yieldfrom::catch_cancelled(|| sleep(secs(60.0))).is_err() {
                        c.set(c.get() + 1);
                    }
                })
            };
            yieldfrom::combinators::join((mk("x"), mk("y")));
        }));
        sleep(secs(1.0));
        joiner.cancel();
        let _ = joiner.join_outcome();
        sleep(secs(0.1));
        count.get()
    });
    assert_eq!(cancelled, 2);
}
