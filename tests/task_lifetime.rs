//! Who owns what in a task, and for how long.
//!
//! A task lives in one allocation: its record, its body (until it starts)
//! and its result slot. The loop holds it while it runs; a `Task` handle and
//! any clone of its `Future` hold it after. These tests pin down the
//! lifetimes that layout has to keep: a result outlives the loop, a body or a
//! result is dropped exactly once, and at the right moment.

use std::cell::Cell;
use std::rc::Rc;

use yieldfrom::{Coro, EventLoop, Outcome, spawn, warnings};

/// Counts its drops into a shared cell.
struct Counted {
    drops: Rc<Cell<u32>>,
    value: u32,
}

impl Counted {
    fn new(drops: &Rc<Cell<u32>>, value: u32) -> Counted {
        Counted {
            drops: drops.clone(),
            value,
        }
    }
}

impl Counted {
    /// Takes the whole value (a closure that read only `captured.value`
    /// would capture just that `u32`, not the `Counted`).
    fn into_value(self) -> u32 {
        self.value
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

#[test]
fn a_task_handle_outlives_its_loop_and_still_gives_its_result() {
    let lp = EventLoop::new();
    let task = lp.spawn(Coro::new("worker", || String::from("made before close")));
    lp.run_until_complete(Coro::new("main", yieldfrom::yield_now));
    drop(lp); // the last loop handle closes it
    assert!(task.done());
    assert_eq!(task.join(), "made before close");
}

#[test]
fn a_future_clone_outlives_both_its_task_handle_and_the_loop() {
    let lp = EventLoop::new();
    let fut = lp.run_until_complete(Coro::new("main", || {
        let task = spawn(Coro::new("worker", || 6 * 7));
        let fut = task.future().clone();
        assert_eq!(task.join(), 42);
        fut
    }));
    drop(lp);
    assert!(fut.done());
    // join moved the value out; the clone sees it was taken, not a stale copy.
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.result()));
    let message = read.unwrap_err();
    let message = message
        .downcast_ref::<String>()
        .expect("a formatted message");
    assert_eq!(message, "the result of 'worker' was moved out");

    // Read through the clone, never joined: the value is still there.
    let lp = EventLoop::new();
    let fut = lp.run_until_complete(Coro::new("main", || {
        let task = spawn(Coro::new("worker", || vec![1, 2, 3]));
        let fut = task.future().clone();
        drop(task);
        yieldfrom::yield_now();
        fut
    }));
    drop(lp);
    assert_eq!(fut.result(), Some(vec![1, 2, 3]));
}

#[test]
fn a_body_that_never_started_is_dropped_once_when_the_loop_closes() {
    let drops = Rc::new(Cell::new(0));
    let captured = Counted::new(&drops, 7);
    let lp = EventLoop::new();
    let task = lp.spawn(Coro::new("never run", move || {
        Counted::into_value(captured)
    }));
    assert_eq!(drops.get(), 0, "spawning keeps the body");
    lp.close();
    assert_eq!(drops.get(), 1, "closing drops the unstarted body");
    assert!(task.done());
    assert!(matches!(task.join_outcome(), Outcome::Cancelled));
    assert_eq!(drops.get(), 1, "and never again");
}

#[test]
fn a_body_that_never_started_is_dropped_once_when_its_handle_goes_after_close() {
    // The handle outlives the loop; the body must not be dropped a second
    // time when the record itself is freed.
    let drops = Rc::new(Cell::new(0));
    let captured = Counted::new(&drops, 1);
    let task = {
        let lp = EventLoop::new();
        lp.spawn(Coro::new("never run", move || {
            Counted::into_value(captured)
        }))
    };
    assert_eq!(drops.get(), 1);
    drop(task);
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_body_that_ran_is_dropped_once_when_it_returns() {
    let drops = Rc::new(Cell::new(0));
    let captured = Counted::new(&drops, 5);
    let d = drops.clone();
    let lp = EventLoop::new();
    let v = lp.run_until_complete(Coro::new("main", move || {
        let task = spawn(Coro::new("consumes", move || Counted::into_value(captured)));
        let v = task.join();
        assert_eq!(d.get(), 1, "the body's captures go when the body returns");
        v
    }));
    assert_eq!(v, 5);
    drop(lp);
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_result_is_dropped_once_when_the_last_handle_goes() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let lp = EventLoop::new();
    let (task, fut) = lp.run_until_complete(Coro::new("main", move || {
        let task = spawn(Coro::new("maker", move || Counted::new(&d, 9)));
        let fut = task.future().clone();
        yieldfrom::yield_now();
        assert!(task.done());
        (task, fut)
    }));
    drop(lp);
    assert_eq!(drops.get(), 0, "the result lives while a handle does");
    drop(task);
    assert_eq!(drops.get(), 0, "a future clone still holds it");
    drop(fut);
    assert_eq!(drops.get(), 1, "the last handle drops it");
}

#[test]
fn a_result_nobody_kept_is_dropped_when_the_task_finishes() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let lp = EventLoop::new();
    lp.run_until_complete(Coro::new("main", move || {
        drop(spawn(Coro::new("fire and forget", move || {
            Counted::new(&d, 3)
        })));
        yieldfrom::yield_now();
        yieldfrom::yield_now();
    }));
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_joined_result_is_moved_out_not_copied_or_dropped() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let out = yieldfrom::run(Coro::new("main", move || {
        spawn(Coro::new("maker", move || Counted::new(&d, 11))).join()
    }));
    assert_eq!(drops.get(), 0);
    assert_eq!(out.value, 11);
    drop(out);
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_failure_never_looked_at_warns_once_even_if_the_handle_outlives_the_loop() {
    let (task, early) = warnings::catch(|| {
        let lp = EventLoop::new();
        let task = lp.spawn(Coro::new("doomed", || -> u32 { panic!("late") }));
        lp.run_until_complete(Coro::new("main", yieldfrom::yield_now));
        task
    });
    assert!(early.is_empty(), "a handle still exists: {early:?}");
    let ((), warned) = warnings::catch(move || drop(task));
    assert_eq!(
        warned,
        ["yieldfrom: task exception was never retrieved: task 'doomed' panicked: late"]
    );
}

#[test]
fn many_generations_of_tasks_reuse_records_without_mixing_them_up() {
    // Records are recycled through a per-thread free list; a recycled record
    // must start clean: its own id, name, body and result.
    let lp = EventLoop::new();
    let sum = lp.run_until_complete(Coro::new("main", || {
        let mut sum = 0u64;
        for round in 0..20u64 {
            let tasks: Vec<_> = (0..50u64)
                .map(|i| spawn(Coro::new("gen", move || round * 1000 + i)))
                .collect();
            for (i, t) in tasks.into_iter().enumerate() {
                assert_eq!(t.name(), "gen");
                let v = t.join();
                assert_eq!(v, round * 1000 + i as u64);
                sum += v;
            }
        }
        sum
    }));
    let expected: u64 = (0..20u64)
        .flat_map(|r| (0..50u64).map(move |i| r * 1000 + i))
        .sum();
    assert_eq!(sum, expected);
}

#[test]
fn a_suspended_task_is_unwound_and_ends_cancelled_when_the_loop_closes() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let lp = EventLoop::builder().virtual_clock(true).build();
    let task = lp.spawn(Coro::new("sleeper", move || {
        let _guard = Counted::new(&d, 0);
        yieldfrom::sleep(std::time::Duration::from_secs(3600));
        "woke"
    }));
    lp.run_until_complete(Coro::new("main", yieldfrom::yield_now));
    assert!(!task.done());
    assert_eq!(drops.get(), 0, "the sleeper holds its guard");
    lp.close();
    assert_eq!(drops.get(), 1, "unwinding ran the guard's destructor");
    assert!(task.done() && task.cancelled());
    let fut = task.future().clone();
    assert!(fut.cancelled());
    assert!(matches!(task.join_outcome(), Outcome::Cancelled));
    // The handle took the outcome; a clone still says how it ended.
    assert!(fut.done() && fut.cancelled());
    assert_eq!(format!("{fut:?}"), "<Future sleeper cancelled>");
}

#[test]
fn only_the_task_ends_its_result_and_nothing_dangles_after_a_refused_set() {
    use yieldfrom::sync::Lock;
    let lp = EventLoop::new();
    let out = lp.run_until_complete(Coro::new("main", || {
        let task = spawn(Coro::new("worker", || {
            yieldfrom::yield_now();
            "its own"
        }));
        for attempt in [0, 1] {
            let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if attempt == 0 {
                    task.future().set_result("forged")
                } else {
                    task.future().set_exception("forged")
                }
            }));
            let message = refused.unwrap_err();
            let message = message
                .downcast_ref::<String>()
                .expect("a formatted message");
            assert!(
                message.contains("'worker' is a task's result") && message.contains("Task::cancel"),
                "{message}"
            );
        }
        assert!(!task.done());
        task.join()
    }));
    assert_eq!(out, "its own");
    drop(lp);
    assert!(
        !yieldfrom::suspend::in_task(),
        "no running task outside a loop"
    );
    // A contended lock parks a task through the running-task pointer: it
    // must be the new task's, not a freed one's.
    let order = yieldfrom::run(Coro::new("main", || {
        let lock = Rc::new(Lock::new());
        let held = lock.acquire();
        let l = lock.clone();
        let waiter = spawn(Coro::new("waiter", move || {
            let _g = l.acquire();
            "acquired"
        }));
        yieldfrom::yield_now();
        drop(held);
        waiter.join()
    }));
    assert_eq!(order, "acquired");
}

#[test]
fn cancelling_a_tasks_future_cancels_the_task_which_still_cleans_up() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let (cancelled, done_before) = yieldfrom::run(Coro::new("main", move || {
        let task = spawn(Coro::new("sleeper", move || {
            let _guard = Counted::new(&d, 0);
            yieldfrom::sleep(std::time::Duration::from_secs(3600));
        }));
        yieldfrom::yield_now();
        let fut = task.future().clone();
        assert!(fut.cancel(), "a pending task's future can be cancelled");
        let done_before = fut.done();
        let outcome = task.join_outcome();
        (matches!(outcome, Outcome::Cancelled), done_before)
    }));
    assert!(cancelled);
    assert!(
        !done_before,
        "the task ends its own result, at its await point"
    );
    assert_eq!(drops.get(), 1, "its cleanup ran");
}
