//! Each transition of a task's state, alone.

use super::*;

/// A task through one wait: scheduled, run, parked, woken.
fn parked() -> State {
    let s = State::new();
    s.make_ready(Wake::Run);
    assert_eq!(s.begin_step(), Some(Wake::Run));
    s.waits_on(Suspend::YieldNow);
    let seq = s.wait_seq();
    assert_eq!(s.park(), Parked::Waits(seq));
    s
}

#[test]
fn a_wait_is_ended_once() {
    let s = parked();
    let seq = s.wait_seq();
    assert!(s.woken(seq, Wake::Run));
    s.make_ready(Wake::Run);
    // The wait's other wakers (a timer, a socket) are stale now.
    assert!(!s.woken(seq, Wake::Run));
    assert_eq!(s.get(), TaskState::Ready);
}

#[test]
fn a_wake_during_the_step_is_kept_for_the_park() {
    let s = State::new();
    s.make_ready(Wake::Run);
    s.begin_step();
    let seq = s.wait_seq();
    assert!(!s.woken(seq, Wake::Run), "not scheduled while it runs");
    assert!(
        !s.woken(seq, Wake::Run),
        "a second waker of the wait is stale"
    );
    assert_eq!(s.park(), Parked::Again(Wake::Run, None));
}

#[test]
fn a_cancellation_beats_a_wake_and_is_delivered_once() {
    let s = State::new();
    s.make_ready(Wake::Run);
    s.begin_step();
    let seq = s.wait_seq();
    s.woken(seq, Wake::Run);
    assert_eq!(s.cancel(), CancelAction::Noted);
    s.waits_on(Suspend::YieldNow);
    assert_eq!(
        s.park(),
        Parked::Again(Wake::Cancel, Some(Suspend::YieldNow))
    );
    s.make_ready(Wake::Cancel);
    assert_eq!(s.begin_step(), Some(Wake::Cancel));
    assert_eq!(s.park(), Parked::Waits(s.wait_seq()));
    assert_eq!(s.cancelling(), 1);
}

#[test]
fn a_waiting_task_is_cancelled_by_scheduling_it() {
    let s = parked();
    assert_eq!(s.cancel(), CancelAction::Schedule);
    s.make_ready(Wake::Cancel);
    assert_eq!(s.begin_step(), Some(Wake::Cancel));
}

#[test]
fn uncancel_withdraws_an_undelivered_request() {
    let s = State::new();
    s.make_ready(Wake::Run);
    s.cancel();
    s.cancel();
    assert_eq!(s.uncancel(), 1);
    assert_eq!(s.begin_step(), Some(Wake::Cancel), "one request is left");
    s.park();
    s.make_ready(Wake::Run);
    s.cancel();
    assert_eq!(s.cancelling(), 2);
    s.uncancel();
    s.uncancel();
    assert_eq!(s.begin_step(), Some(Wake::Run), "all withdrawn");
}

#[test]
fn a_swallowed_cancellation_is_delivered_again() {
    let s = State::new();
    s.make_ready(Wake::Run);
    s.begin_step();
    s.cancellation_raised();
    assert_eq!(s.unwind(), Unwind::Cancelling);
    // The task caught it with a bare catch_unwind and awaits again.
    assert_eq!(s.redeliver_cancel(), Suspend::YieldNow);
    assert_eq!(s.park(), Parked::Again(Wake::Cancel, None));
    s.make_ready(Wake::Cancel);
    assert!(s.swallowed_cancel());
    assert_eq!(s.begin_step(), Some(Wake::Cancel));
    s.cancellation_caught();
    assert_eq!(s.unwind(), Unwind::None);
    s.force_unwind();
    s.cancellation_raised();
    assert_eq!(s.unwind(), Unwind::Forced, "nothing stops a forced unwind");
    assert_eq!(s.get(), TaskState::Running, "the phase is kept apart");
}

#[test]
fn a_finished_task_is_not_stepped_or_cancelled() {
    let s = State::new();
    s.finish();
    assert_eq!(s.begin_step(), None);
    assert_eq!(s.cancel(), CancelAction::Noted);
    assert_eq!(s.cancelling(), 0);
    assert!(!s.woken(s.wait_seq(), Wake::Run));
}
