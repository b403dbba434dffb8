//! Await points built from the public low-level API (`yieldfrom::suspend`):
//! a waker wakes exactly the wait it was made for, from inside or outside
//! the loop, and a wait nobody ends is reported, not hung.

use std::cell::RefCell;
use std::rc::Rc;

use yieldfrom::suspend::{Suspend, Wake, Waker, suspend, suspend_or_cancel};
use yieldfrom::{Coro, EventLoop, catch_cancelled, run, spawn, yield_from, yield_now};

/// Where a parked task leaves its waker for the test to use.
type Slot = Rc<RefCell<Vec<Waker>>>;

#[test]
fn a_waker_wakes_only_the_wait_it_was_made_for() {
    let lp = EventLoop::builder().virtual_clock(true).build();
    let wakers: Slot = Rc::default();
    let log = Rc::new(RefCell::new(Vec::new()));
    let (w, l) = (wakers.clone(), log.clone());
    let task = lp.spawn(Coro::new("parker", move || {
        for wait in 0..2 {
            w.borrow_mut().push(Waker::current());
            let how = suspend(Suspend::Sync("test.park"));
            l.borrow_mut().push((wait, how));
        }
    }));
    lp.run_once(); // parks with waker 0
    assert_eq!(wakers.borrow().len(), 1);
    let first = wakers.borrow_mut().remove(0);
    first.wake_by_ref(); // from outside the loop: scheduled for its next iteration
    lp.run_once(); // resumes, parks again with waker 1
    assert_eq!(*log.borrow(), [(0, Wake::Run)]);
    first.wake(); // stale: that wait is over
    lp.run_once();
    lp.run_once();
    assert_eq!(log.borrow().len(), 1, "a stale waker resumed the task");
    assert!(!task.done());
    let second = wakers.borrow_mut().remove(0);
    second.wake();
    lp.run_once();
    assert_eq!(*log.borrow(), [(0, Wake::Run), (1, Wake::Run)]);
    assert!(task.done());
    lp.close();
}

#[test]
fn a_task_woken_before_it_parks_is_not_lost() {
    let ran = run(Coro::new("main", || {
        // The waker fires while the task still runs: the park returns at
        // the next iteration instead of waiting for ever.
        Waker::current().wake();
        suspend_or_cancel(Suspend::Sync("test.early"));
        "resumed"
    }));
    assert_eq!(ran, "resumed");
}

#[test]
fn cancelling_a_parked_task_raises_cancelled_at_the_await_point() {
    let seen = run(Coro::new("main", || {
        let parked = spawn(Coro::new("parked", || {
            catch_cancelled(|| suspend_or_cancel(Suspend::Sync("test.forever"))).is_err()
        }));
        yield_now();
        parked.cancel();
        yield_from(parked)
    }));
    assert!(seen, "the cancellation was raised where the task waited");
}

#[test]
fn a_wait_nobody_ends_is_reported_as_a_deadlock_naming_its_reason() {
    let failed = std::panic::catch_unwind(|| {
        run(Coro::new("main", || {
            suspend_or_cancel(Suspend::Sync("Gate.wait"));
        }))
    });
    let payload = failed.expect_err("the loop cannot finish");
    let message = yieldfrom::warnings::panic_message(payload.as_ref());
    assert!(
        message.contains("deadlock") && message.contains("Gate.wait"),
        "{message}"
    );
}

#[test]
#[should_panic(expected = "needs a running task")]
fn a_waker_outside_a_task_is_refused() {
    let _ = Waker::current();
}
