//! Property tests: the timer queue against sorting, the task queue against a
//! model, and the determinism of the virtual clock.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use proptest::prelude::*;
use yieldfrom::sync::Queue;
use yieldfrom::{Coro, EventLoop, sleep, spawn, yield_from};

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Timers fire in deadline order; equal deadlines fire in scheduling order.
    #[test]
    fn timers_fire_in_deadline_then_scheduling_order(delays in prop::collection::vec(0u64..50, 0..200)) {
        let lp = EventLoop::builder().virtual_clock(true).build();
        let fired = Rc::new(RefCell::new(Vec::new()));
        for (i, d) in delays.iter().enumerate() {
            let (f, lp2) = (fired.clone(), lp.clone());
            lp.call_later(Duration::from_millis(*d), move || {
                f.borrow_mut().push((i, (lp2.time() * 1000.0).round() as u64));
            });
        }
        lp.run_until_idle();
        let mut expected: Vec<(usize, u64)> = delays.iter().copied().enumerate().collect();
        expected.sort_by_key(|&(i, d)| (d, i));
        prop_assert_eq!(&*fired.borrow(), &expected);
    }

    /// Sleeping tasks wake in deadline order, at their deadline.
    #[test]
    fn sleeping_tasks_wake_in_order(delays in prop::collection::vec(1u64..1000, 1..100)) {
        let woke = EventLoop::builder().virtual_clock(true).build().run(Coro::new("main", move || {
            let log = Rc::new(RefCell::new(Vec::new()));
            let tasks: Vec<_> = delays.iter().copied().enumerate().map(|(i, d)| {
                let log = log.clone();
                spawn(Coro::new("sleeper", move || {
                    sleep(Duration::from_millis(d));
                    log.borrow_mut().push((d, i));
                }))
            }).collect();
            for t in tasks { yield_from(t); }
            let mut expected: Vec<(u64, usize)> = delays.iter().copied().enumerate().map(|(i, d)| (d, i)).collect();
            expected.sort();
            (log.take(), expected)
        }));
        prop_assert_eq!(woke.0, woke.1);
    }

    /// put_nowait/get_nowait on FIFO, LIFO and priority queues behave as a model.
    #[test]
    fn queue_matches_model(ops in prop::collection::vec((any::<bool>(), 0i32..100), 0..300), maxsize in 0usize..8, kind in 0u8..3) {
        EventLoop::new().run(Coro::new("main", move || {
            let q = match kind { 0 => Queue::new(maxsize), 1 => Queue::lifo(maxsize), _ => Queue::priority(maxsize) };
            let mut model: VecDeque<i32> = VecDeque::new();
            for (put, v) in ops {
                if put {
                    let full = maxsize > 0 && model.len() >= maxsize;
                    assert_eq!(q.put_nowait(v).is_err(), full);
                    if !full { model.push_back(v); }
                } else {
                    let expected = match kind {
                        0 => model.pop_front(),
                        1 => model.pop_back(),
                        _ => {
                            let min = model.iter().copied().min();
                            if let Some(m) = min {
                                let at = model.iter().position(|x| *x == m).unwrap();
                                model.remove(at);
                            }
                            min
                        }
                    };
                    assert_eq!(q.get_nowait().ok(), expected);
                }
                assert_eq!(q.qsize(), model.len());
                assert_eq!(q.full(), maxsize > 0 && model.len() >= maxsize);
            }
        }));
    }
}

/// The same program on the virtual clock gives the same interleaving every time.
#[test]
fn virtual_clock_runs_are_identical() {
    let program = || {
        EventLoop::builder()
            .virtual_clock(true)
            .build()
            .run(Coro::new("main", || {
                let log = Rc::new(RefCell::new(Vec::new()));
                let tasks: Vec<_> = (0..20u64)
                    .map(|i| {
                        let log = log.clone();
                        spawn(Coro::new("worker", move || {
                            for step in 0..3 {
                                sleep(Duration::from_millis((i * 7 + step * 13) % 50));
                                log.borrow_mut()
                                    .push(format!("{i}.{step}@{:.3}", EventLoop::current().time()));
                            }
                        }))
                    })
                    .collect();
                for t in tasks {
                    yield_from(t);
                }
                log.take()
            }))
    };
    let first = program();
    assert_eq!(first.len(), 60);
    for _ in 0..5 {
        assert_eq!(program(), first);
    }
}
