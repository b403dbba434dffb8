//! Reference solutions to the book's exercises (docs/src/course/), checked.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use yieldfrom::combinators::{as_completed, gather};
use yieldfrom::debug::explore;
use yieldfrom::sync::Semaphore;
use yieldfrom::{
    Co, Coro, EventLoop, Future, Generator, GeneratorState, sleep, spawn, to_thread, warnings,
    yield_from, yield_now,
};

fn virtual_loop() -> EventLoop {
    EventLoop::builder().virtual_clock(true).build()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn exercise_01_nothing_runs_until_awaited() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let make = |i: i32, log: Rc<RefCell<Vec<String>>>| {
        Coro::new("double", move || {
            log.borrow_mut().push(format!("body {i} runs"));
            i * 2
        })
    };
    let coros: Vec<_> = (1..=3).map(|i| make(i, log.clone())).collect();
    assert!(
        log.borrow().is_empty(),
        "creating coroutine objects runs nothing"
    );
    let doubled = virtual_loop().run(Coro::new("main", move || gather(coros)));
    assert_eq!(doubled, [2, 4, 6]);
    assert_eq!(*log.borrow(), ["body 1 runs", "body 2 runs", "body 3 runs"]);
}

#[test]
fn exercise_02_two_greetings_take_two_seconds() {
    let lp = virtual_loop();
    let clock = lp.clone();
    let worlds = lp.run(Coro::new("main", move || {
        gather(["Ann", "Bob"].map(|who| {
            let clock = clock.clone();
            Coro::new("greet", move || {
                sleep(secs(2));
                format!("World, {who}, at {:.1} s", clock.time())
            })
        }))
    }));
    assert_eq!(worlds, ["World, Ann, at 2.0 s", "World, Bob, at 2.0 s"]);
}

#[test]
fn exercise_03_callbacks_in_deadline_order() {
    let lp = virtual_loop();
    let log = Rc::new(RefCell::new(Vec::new()));
    for (delay, name) in [(3, "3 s"), (1, "1 s"), (2, "2 s")] {
        let l = log.clone();
        lp.call_later(secs(delay), move || l.borrow_mut().push(name));
    }
    let l = log.clone();
    lp.call_soon(move || l.borrow_mut().push("soon"));
    lp.run_forever();
    assert_eq!(*log.borrow(), ["soon", "1 s", "2 s", "3 s"]);
}

#[test]
fn exercise_04_as_completed_order() {
    let lp = virtual_loop();
    let clock = lp.clone();
    let (order, at) = lp.run(Coro::new("main", move || {
        let tasks = [3u64, 1, 2].map(|s| {
            spawn(Coro::new("sleeper", move || {
                sleep(secs(s));
                s
            }))
        });
        let order: Vec<u64> = as_completed(tasks.into()).collect();
        (order, clock.time())
    }));
    assert_eq!(order, [1, 2, 3]);
    assert_eq!(at, 3.0);
}

#[test]
fn exercise_05_dishes_fit_in_the_boil() {
    let lp = virtual_loop();
    let clock = lp.clone();
    let dinner = lp.run(Coro::new("chef", move || {
        let water = spawn(Coro::new("boil_water", || sleep(secs(3))));
        yield_from(Coro::new("cut_vegetables", || sleep(secs(2))));
        yield_from(Coro::new("wash_dishes", || sleep(secs(1))));
        yield_from(water);
        clock.time()
    }));
    assert_eq!(dinner, 3.0, "cutting and washing fit inside the 3 s boil");
}

#[test]
fn exercise_06_fix_the_blocking_handler() {
    let (ticks, warned) = warnings::catch(|| {
        EventLoop::builder()
            .virtual_clock(true)
            .slow_task_threshold(Duration::from_millis(100))
            .build()
            .run(Coro::new("main", || {
                let ticks = Rc::new(Cell::new(0));
                let t = ticks.clone();
                let ticker = spawn(Coro::new("ticker", move || {
                    loop {
                        sleep(Duration::from_millis(100));
                        t.set(t.get() + 1);
                    }
                }));
                // The fix: sleep() instead of std::thread::sleep().
                yield_from(spawn(Coro::new("handler", || {
                    sleep(Duration::from_millis(350))
                })));
                ticker.cancel();
                ticks.get()
            }))
    });
    assert!(
        ticks >= 3,
        "the ticker ticked while the handler waited: {ticks}"
    );
    assert!(warned.is_empty(), "{warned:?}");
}

#[test]
fn exercise_07_delegation_sums_returns() {
    let sub = |n: i32| {
        Generator::new(move |co: &Co<i32, ()>| {
            for i in 0..n {
                co.yield_(i)?;
            }
            Ok(n * 10)
        })
    };
    let outer = Generator::new(move |co: &Co<i32, ()>| {
        let a = co.yield_from(sub(2))?;
        let b = co.yield_from(sub(3))?;
        Ok(a + b)
    });
    let mut yielded = vec![];
    let total = loop {
        match outer.send(()).unwrap() {
            GeneratorState::Yielded(v) => yielded.push(v),
            GeneratorState::Complete(r) => break r,
        }
    };
    assert_eq!(yielded, [0, 1, 0, 1, 2]);
    assert_eq!(total, 50);
}

#[test]
fn exercise_08_one_future_two_waiters() {
    let got = virtual_loop().run(Coro::new("main", || {
        let fut: Future<&str> = Future::new();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let f = fut.clone();
                spawn(Coro::new("waiter", move || yield_from(&f)))
            })
            .collect();
        let setter = fut.clone();
        spawn(Coro::new("setter", move || {
            sleep(secs(1));
            setter.set_result("ready");
        }));
        waiters.into_iter().map(yield_from).collect::<Vec<_>>()
    }));
    assert_eq!(got, ["ready", "ready"]);
}

#[test]
fn exercise_09_three_jobs_on_threads() {
    let sums = EventLoop::new().run(Coro::new("main", || {
        gather((1..=3u64).map(|k| {
            Coro::new("job", move || {
                to_thread(move || (1..=k * 1000).sum::<u64>())
            })
        }))
    }));
    assert_eq!(sums, [500_500, 2_001_000, 4_501_500]);
}

#[test]
fn exercise_10_two_lines_five_callers() {
    let lp = virtual_loop();
    let clock = lp.clone();
    let last = lp.run(Coro::new("center", move || {
        let lines = Rc::new(Semaphore::new(2));
        gather((0..5).map(|_| {
            let (lines, clock) = (lines.clone(), clock.clone());
            Coro::new("call", move || {
                let _line = lines.acquire();
                sleep(secs(2));
                clock.time()
            })
        }))
        .into_iter()
        .fold(0.0, f64::max)
    }));
    assert_eq!(last, 6.0, "two at a time: 2 s, 4 s, 6 s");
}

#[test]
fn exercise_13_semaphore_fixes_the_race() {
    let program = || {
        Coro::new("main", || {
            let (n, sem) = (Rc::new(Cell::new(0)), Rc::new(Semaphore::new(1)));
            gather((0..2).map(|i| {
                let (n, sem) = (n.clone(), sem.clone());
                Coro::new("adder", move || {
                    if i == 1 {
                        yield_now();
                    }
                    let _permit = sem.acquire();
                    let v = n.get();
                    yield_now();
                    n.set(v + 1);
                })
            }));
            assert_eq!(n.get(), 2, "lost update");
        })
    };
    assert_eq!(explore(0..100, program).unwrap(), 100);
}

#[test]
fn exercise_12_boxed_async_recursion() {
    use std::future::Future;
    use std::pin::Pin;
    use yieldfrom::stackless;
    fn down(depth: u32, max: u32) -> Pin<Box<dyn Future<Output = u32>>> {
        Box::pin(async move {
            if depth == max {
                stackless::sleep(Duration::from_millis(1)).await;
                depth
            } else {
                down(depth + 1, max).await
            }
        })
    }
    assert_eq!(stackless::run(down(0, 5)), 5);
}

#[test]
fn exercise_11_three_slow_requests_overlap() {
    use yieldfrom::http::{Request, Response, Router};
    let lp = virtual_loop();
    let clock = lp.clone();
    let (statuses, took) = lp.run(Coro::new("main", move || {
        let router = Rc::new(Router::new().get("/slow", |_| {
            sleep(secs(2));
            Response::text("done")
        }));
        let statuses = gather((0..3).map(|_| {
            let router = router.clone();
            Coro::new("request", move || {
                router.handle(Request::new("GET", "/slow")).status()
            })
        }));
        (statuses, clock.time())
    }));
    assert_eq!(statuses, [200, 200, 200]);
    assert_eq!(
        took, 2.0,
        "each handler awaits in its own task: they overlap"
    );
}
