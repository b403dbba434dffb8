//! The stackless twin behaves as the stackful loop does where they share a
//! contract: timers keep the waker they were given, dead timers and closed
//! sockets leave nothing behind, stale wakers wake nobody, and a main task
//! that nothing can wake is reported as a deadlock.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use yieldfrom::stackless::{self, EventLoop};

/// Runs `f` and returns its panic message.
fn panic_of(f: impl FnOnce()) -> String {
    let payload =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("expected a panic");
    yieldfrom::warnings::panic_message(payload.as_ref())
}

/// A waker of the test's own that counts its wakes and passes them on.
struct Counting {
    wakes: AtomicUsize,
    inner: std::sync::Mutex<Option<Waker>>,
}

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        if let Some(w) = self.inner.lock().unwrap().as_ref() {
            w.wake_by_ref();
        }
    }
}

#[test]
fn a_sleep_wakes_the_waker_it_was_polled_with() {
    // A combinator that polls its inner future with a waker of its own, as
    // `futures::join!` and friends do: the timer must wake that waker.
    let lp = EventLoop::with_virtual_clock();
    let counting = Arc::new(Counting {
        wakes: AtomicUsize::new(0),
        inner: std::sync::Mutex::new(None),
    });
    let c = counting.clone();
    lp.run(async move {
        let mut sleep = Box::pin(stackless::sleep(Duration::from_secs(1)));
        let own = Waker::from(c.clone());
        poll_fn(|cx| {
            *c.inner.lock().unwrap() = Some(cx.waker().clone());
            sleep.as_mut().poll(&mut Context::from_waker(&own))
        })
        .await;
    });
    assert_eq!(counting.wakes.load(Ordering::SeqCst), 1);
    assert_eq!(lp.time(), 1.0);
}

#[test]
fn a_dropped_sleep_leaves_no_timer_to_wait_for() {
    let lp = EventLoop::with_virtual_clock();
    let message = panic_of(|| {
        lp.run(async {
            let quick = stackless::timeout(Duration::from_secs(60), async { 1 }).await;
            assert_eq!(quick, Ok(1));
            // The 60 s timer is dead; nothing else can wake the main task.
            stackless::Future::<u8>::new().await;
        });
    });
    assert!(message.contains("deadlock"), "{message}");
    assert_eq!(lp.time(), 0.0, "the loop waited for a dead timer");
}

#[test]
fn a_closed_socket_leaves_no_slot_behind() {
    let message = panic_of(|| {
        stackless::run(async {
            let listener = stackless::TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = listener.local_addr().unwrap();
            let client = stackless::TcpStream::connect(addr).await.unwrap();
            let server = listener.accept().await.unwrap();
            drop((listener, client, server));
            // No socket is left, so nothing can wake this: a deadlock, not a hang.
            stackless::Future::<u8>::new().await;
        });
    });
    assert!(
        message.contains("deadlock") && message.contains("nothing left to run"),
        "{message}"
    );
}

#[test]
fn a_stale_waker_wakes_nobody() {
    let old: Rc<RefCell<Option<Waker>>> = Rc::default();
    let polls = Rc::new(Cell::new(0));
    let (o, p) = (old.clone(), polls.clone());
    stackless::run(async move {
        // A task that keeps its waker and finishes: its slot is freed.
        let o2 = o.clone();
        stackless::spawn(poll_fn(move |cx| {
            *o2.borrow_mut() = Some(cx.waker().clone());
            Poll::Ready(())
        }))
        .await;
        // The next task takes the same slot; it counts its polls and parks
        // until the main task sets `go`.
        let go = stackless::Future::<()>::new();
        let g = go.clone();
        let p2 = p.clone();
        let parked = stackless::spawn(async move {
            let mut g = Box::pin(g);
            poll_fn(|cx| {
                p2.set(p2.get() + 1);
                g.as_mut().poll(cx)
            })
            .await
        });
        stackless::yield_now().await; // `parked` runs once and parks
        assert_eq!(p.get(), 1);
        o.borrow_mut().take().expect("the old waker").wake();
        stackless::yield_now().await;
        stackless::yield_now().await;
        assert_eq!(p.get(), 1, "the old task's waker polled the new task");
        go.set_result(());
        parked.await;
    });
    assert_eq!(polls.get(), 2);
}

#[test]
fn the_twins_agree_on_a_concurrent_program() {
    // The same program on both sides: the order of finishing and the time taken.
    let stackful = {
        let lp = yieldfrom::EventLoop::builder().virtual_clock(true).build();
        let clock = lp.clone();
        let order = Rc::new(RefCell::new(Vec::new()));
        let o = order.clone();
        lp.run(yieldfrom::Coro::new("main", move || {
            yieldfrom::combinators::gather([("A", 3), ("B", 1), ("C", 2)].map(|(name, s)| {
                let o = o.clone();
                yieldfrom::Coro::new("t", move || {
                    yieldfrom::sleep(Duration::from_secs(s));
                    o.borrow_mut().push(name);
                })
            }));
        }));
        let finished = order.borrow().clone();
        (finished, clock.time())
    };
    let stackless = {
        let lp = EventLoop::with_virtual_clock();
        let order = Rc::new(RefCell::new(Vec::new()));
        let o = order.clone();
        lp.run(stackless::gather([("A", 3), ("B", 1), ("C", 2)].map(
            |(name, s)| {
                let o = o.clone();
                async move {
                    stackless::sleep(Duration::from_secs(s)).await;
                    o.borrow_mut().push(name);
                }
            },
        )));
        let finished = order.borrow().clone();
        (finished, lp.time())
    };
    assert_eq!(stackful, (vec!["B", "C", "A"], 3.0));
    assert_eq!(stackless, stackful);
}

#[test]
fn a_lock_survives_a_cancelled_waiter() {
    // A waiter dropped while it waits (a stackless cancellation) must not
    // strand the waiters behind it.
    let lp = EventLoop::with_virtual_clock();
    let got = lp.run(async {
        let lock = Rc::new(stackless::Lock::new());
        let guard = lock.acquire().await;
        let l = lock.clone();
        let cancelled = stackless::timeout(Duration::from_millis(1), async move {
            let _g = l.acquire().await;
        });
        let l = lock.clone();
        let patient = stackless::spawn(async move {
            let _g = l.acquire().await;
            "got it"
        });
        assert!(cancelled.await.is_err());
        drop(guard);
        patient.await
    });
    assert_eq!(got, "got it");
}

#[test]
#[should_panic(expected = "needs a running stackless loop")]
fn spawning_outside_a_loop_is_refused() {
    drop(stackless::spawn(async {}));
}
