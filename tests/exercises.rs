//! Reference solutions to the book's exercises (docs/src/course/), checked.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use yieldfrom::combinators::{as_completed, gather};
use yieldfrom::debug::explore;
use yieldfrom::sync::Semaphore;
use yieldfrom::{
    Co, Coro, EventLoop, Future, Generator, GeneratorState, run, sleep, spawn, to_thread, warnings,
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

// ----- the second exercise of each chapter ----------------------------------

#[test]
fn exercise_01_unawaited_coroutine_warns() {
    let make = || Coro::new("fetch_data", || "Data");
    // Created and dropped: the body never ran, and the runtime says so.
    let ((), warned) = warnings::catch(|| drop(make()));
    assert_eq!(warned, ["coroutine 'fetch_data' was never awaited"]);
    // Awaited: no warning.
    let (data, warned) = warnings::catch(|| virtual_loop().run(make()));
    assert_eq!((data, warned.len()), ("Data", 0));
}

#[test]
fn exercise_02_sleep_from_a_plain_function() {
    // No colouring: a plain helper may sleep; the task that calls it pauses.
    fn pause_twice() -> u32 {
        sleep(secs(1));
        sleep(secs(1));
        2
    }
    let lp = virtual_loop();
    let clock = lp.clone();
    let (pauses, at) = lp.run(Coro::new("main", move || (pause_twice(), clock.time())));
    assert_eq!((pauses, at), (2, 2.0));
}

#[test]
fn exercise_03_stop_the_loop_from_a_callback() {
    let lp = virtual_loop();
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    lp.spawn(Coro::new("ticker", move || {
        loop {
            sleep(secs(1));
            t.set(t.get() + 1);
        }
    }));
    let stopper = lp.clone();
    lp.call_later(Duration::from_millis(3500), move || stopper.stop());
    lp.run_forever();
    assert_eq!((ticks.get(), lp.time()), (3, 3.5));
}

#[test]
fn exercise_04_first_completed_cancels_the_rest() {
    use yieldfrom::combinators::{ReturnWhen, wait};
    let lp = virtual_loop();
    let clock = lp.clone();
    let (winner, cancelled, at) = lp.run(Coro::new("main", move || {
        let tasks: Vec<_> = [3u64, 1, 2]
            .map(|s| {
                spawn(Coro::new("nap", move || {
                    sleep(secs(s));
                    s
                }))
            })
            .into();
        let (done, pending) = wait(tasks, ReturnWhen::FirstCompleted, None);
        let winner = done.into_iter().next().unwrap().join();
        let mut cancelled = 0;
        for t in pending {
            t.cancel();
            if matches!(t.join_outcome(), yieldfrom::Outcome::Cancelled) {
                cancelled += 1;
            }
        }
        (winner, cancelled, clock.time())
    }));
    assert_eq!((winner, cancelled, at), (1, 2, 1.0));
}

#[test]
fn exercise_05_join_two_kinds_of_result() {
    use yieldfrom::combinators::join;
    let lp = virtual_loop();
    let clock = lp.clone();
    let (celsius, cut, at) = lp.run(Coro::new("chef", move || {
        let (celsius, cut) = join((
            Coro::new("boil_water", || {
                sleep(secs(3));
                100u32
            }),
            Coro::new("cut_vegetables", || {
                sleep(secs(2));
                vec!["carrot", "leek"]
            }),
        ));
        (celsius, cut, clock.time())
    }));
    assert_eq!((celsius, cut.len(), at), (100, 2, 3.0));
}

#[test]
fn exercise_06_forgotten_await() {
    let fetch = || Coro::new("fetch_data", || "Data");
    // The mistake: the coroutine object is made and dropped.
    let (mistake, warned) = warnings::catch(|| {
        virtual_loop().run(Coro::new("main", move || {
            let data = fetch();
            format!("{data:?}")
        }))
    });
    assert_eq!(mistake, "<coroutine object fetch_data>");
    assert_eq!(warned, ["coroutine 'fetch_data' was never awaited"]);
    // The fix: await it.
    let (fixed, warned) =
        warnings::catch(|| virtual_loop().run(Coro::new("main", move || yield_from(fetch()))));
    assert_eq!((fixed, warned.len()), ("Data", 0));
}

#[test]
fn exercise_07_running_average_with_send() {
    let averager = Generator::new(|co: &Co<f64, f64>| {
        let (mut total, mut count) = (0.0, 0.0);
        // The first send only starts the body (Python: `send(None)`).
        let mut value = co.yield_(f64::NAN)?;
        loop {
            total += value;
            count += 1.0;
            value = co.yield_(total / count)?;
        }
    });
    let _: &Generator<f64, f64, ()> = &averager;
    assert!(matches!(averager.send(0.0).unwrap(), GeneratorState::Yielded(v) if v.is_nan()));
    let averages: Vec<f64> = [10.0, 20.0, 60.0]
        .into_iter()
        .map(|v| match averager.send(v).unwrap() {
            GeneratorState::Yielded(avg) => avg,
            GeneratorState::Complete(()) => unreachable!(),
        })
        .collect();
    assert_eq!(averages, [10.0, 15.0, 30.0]);
}

#[test]
fn exercise_08_future_with_timeout() {
    use yieldfrom::timeout;
    let lp = virtual_loop();
    let results = lp.run(Coro::new("main", || {
        let attempt = |limit: u64| {
            let fut: Future<&str> = Future::new();
            let f = fut.clone();
            EventLoop::current().call_later(secs(2), move || f.set_result("late"));
            timeout(secs(limit), || yield_from(&fut)).ok()
        };
        (attempt(1), attempt(3))
    }));
    assert_eq!(results, (None, Some("late")));
}

#[test]
fn exercise_09_cancel_a_thread_wait() {
    // The waiting task is cancelled at once; the thread finishes on its own.
    let (finished_tx, finished_rx) = std::sync::mpsc::channel();
    let outcome = EventLoop::new().run(Coro::new("main", move || {
        let waiter = spawn(Coro::new("waiter", move || {
            to_thread(move || {
                std::thread::sleep(Duration::from_millis(200));
                finished_tx.send(()).unwrap();
            })
        }));
        yield_now();
        waiter.cancel();
        matches!(waiter.join_outcome(), yieldfrom::Outcome::Cancelled)
    }));
    assert!(outcome, "the waiter was cancelled");
    finished_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the worker still ran its job to the end");
}

#[test]
fn exercise_10_queue_with_two_agents() {
    use yieldfrom::sync::Queue;
    let lp = virtual_loop();
    let clock = lp.clone();
    let (handled, at) = lp.run(Coro::new("center", move || {
        let calls = Rc::new(Queue::new(0));
        let handled = Rc::new(RefCell::new(Vec::new()));
        for caller in 0..5 {
            calls.put(caller);
        }
        let agents: Vec<_> = (0..2)
            .map(|agent| {
                let (calls, handled) = (calls.clone(), handled.clone());
                spawn(Coro::new("agent", move || {
                    loop {
                        let caller = calls.get();
                        sleep(secs(2));
                        handled.borrow_mut().push((agent, caller));
                        calls.task_done();
                    }
                }))
            })
            .collect();
        calls.join(); // every call answered
        for a in agents {
            a.cancel();
        }
        let handled = handled.borrow().clone();
        (handled, clock.time())
    }));
    assert_eq!(handled.len(), 5);
    assert_eq!(at, 6.0, "two agents: 2 s, 4 s, 6 s");
    let mut callers: Vec<i32> = handled.iter().map(|(_, c)| *c).collect();
    callers.sort();
    assert_eq!(callers, [0, 1, 2, 3, 4]);
}

#[test]
fn exercise_11_path_parameter_and_404() {
    use yieldfrom::http::{Request, Response, Router};
    let router = Router::new().get("/users/{id}", |req| {
        match req.param("id").and_then(|id| id.parse::<u32>().ok()) {
            Some(1) => Response::text("ada"),
            Some(_) => Response::text("no such user").with_status(404),
            None => Response::text("the id is not a number").with_status(422),
        }
    });
    let statuses = virtual_loop().run(Coro::new("main", move || {
        ["/users/1", "/users/2", "/users/x", "/nowhere"]
            .map(|path| router.handle(Request::new("GET", path)).status())
    }));
    assert_eq!(statuses, [200, 404, 422, 404]);
}

#[test]
fn exercise_12_stackless_tasks_overlap() {
    use yieldfrom::stackless;
    let order = stackless::run(async {
        let done = Rc::new(RefCell::new(Vec::new()));
        let (da, db) = (done.clone(), done.clone());
        // A starts first but sleeps longer: run in turn, A would finish
        // first; overlapped, B does.
        let a = stackless::spawn(async move {
            stackless::sleep(Duration::from_millis(60)).await;
            da.borrow_mut().push("A");
        });
        let b = stackless::spawn(async move {
            stackless::sleep(Duration::from_millis(20)).await;
            db.borrow_mut().push("B");
        });
        a.await;
        b.await;
        done.borrow().clone()
    });
    assert_eq!(order, ["B", "A"]);
}

#[test]
fn exercise_13_explore_finds_the_overdraft() {
    // Check-then-act across an await: two withdrawals of 80 from 100.
    let program = || {
        Coro::new("bank", || {
            let balance = Rc::new(Cell::new(100i32));
            gather((0..2).map(|_| {
                let balance = balance.clone();
                Coro::new("withdraw", move || {
                    if balance.get() >= 80 {
                        yield_now(); // e.g. a call to the fraud service
                        balance.set(balance.get() - 80);
                    }
                })
            }));
            assert!(balance.get() >= 0, "overdrawn: {}", balance.get());
        })
    };
    let failure = explore(0..50, program).unwrap_err();
    assert!(
        failure.message.contains("overdrawn: -60"),
        "{}",
        failure.message
    );
}

#[test]
fn exercise_14_write_then_read_back() {
    use yieldfrom::fs;
    let dir = std::env::temp_dir().join(format!("yieldfrom-ex14a-{}", std::process::id()));
    let d = dir.clone();
    let texts =
        EventLoop::new().run(Coro::new("main", move || {
            fs::create_dir_all(&d).unwrap();
            let paths: Vec<_> = (0..3).map(|i| d.join(format!("{i}.txt"))).collect();
            gather(paths.iter().cloned().enumerate().map(|(i, p)| {
                Coro::new("write", move || fs::write(p, format!("file {i}")).unwrap())
            }));
            gather(
                paths
                    .into_iter()
                    .map(|p| Coro::new("read", move || fs::read_to_string(p).unwrap())),
            )
        }));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(texts, ["file 0", "file 1", "file 2"]);
}

#[test]
fn exercise_14_copy_a_directory() {
    use yieldfrom::fs;
    let base = std::env::temp_dir().join(format!("yieldfrom-ex14b-{}", std::process::id()));
    let (from, to) = (base.join("from"), base.join("to"));
    std::fs::create_dir_all(&from).unwrap();
    for i in 0..5 {
        std::fs::write(from.join(format!("f{i}")), vec![i as u8; 1000 * (i + 1)]).unwrap();
    }
    let (f, t) = (from.clone(), to.clone());
    let copied = EventLoop::new().run(Coro::new("main", move || {
        fs::create_dir_all(&t).unwrap();
        let entries = fs::read_dir(&f).unwrap();
        gather(entries.into_iter().map(|e| {
            let target = t.join(&e.file_name);
            Coro::new("copy", move || {
                let bytes = fs::read(&e.path).unwrap();
                fs::write(target, &bytes).unwrap();
                bytes.len()
            })
        }))
    }));
    for i in 0..5 {
        assert_eq!(
            std::fs::read(to.join(format!("f{i}"))).unwrap(),
            vec![i as u8; 1000 * (i + 1)]
        );
    }
    let _ = std::fs::remove_dir_all(&base);
    assert_eq!(copied, [1000, 2000, 3000, 4000, 5000]);
}

/// Exercise 15's crawler, with the number of workers and the slow pages as
/// parameters: (pages crawled, most fetches at once, pages timed out).
fn crawl_site(
    workers: usize,
    slow: &'static [u32],
    deadline: Duration,
) -> (usize, usize, Vec<u32>) {
    use std::io::Read;
    use yieldfrom::http::{self, Response, Router};
    use yieldfrom::net::TcpStream;
    use yieldfrom::sync::Queue;
    let site = Router::new().get("/page/{n}", move |req| {
        let n: u32 = req.param("n").unwrap().parse().unwrap();
        if slow.contains(&n) {
            sleep(secs(3));
        }
        let links: String = [2 * n, 2 * n + 1]
            .into_iter()
            .filter(|c| *c <= 15)
            .map(|c| format!("href=\"{c}\" "))
            .collect();
        Response::text(links)
    });
    virtual_loop().run(Coro::new("main", move || {
        let server = http::serve("127.0.0.1:0", site).unwrap();
        let addr = server.local_addr();
        let queue = Rc::new(Queue::new(0));
        let state = Rc::new((
            RefCell::new(vec![1u32]),
            Cell::new(0usize),
            Cell::new(0usize),
        ));
        let timed_out = Rc::new(RefCell::new(Vec::new()));
        queue.put(1u32);
        let tasks: Vec<_> = (0..workers)
            .map(|_| {
                let (queue, state, timed_out) = (queue.clone(), state.clone(), timed_out.clone());
                spawn(Coro::new("worker", move || {
                    loop {
                        let n = queue.get();
                        let (seen, now, most) = &*state;
                        now.set(now.get() + 1);
                        most.set(most.get().max(now.get()));
                        let got = yieldfrom::timeout(deadline, || {
                            let s = TcpStream::connect(addr).unwrap();
                            s.write_all(
                                format!(
                                    "GET /page/{n} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                                )
                                .as_bytes(),
                            )
                            .unwrap();
                            let mut reply = String::new();
                            (&s).read_to_string(&mut reply).unwrap();
                            reply
                        });
                        now.set(now.get() - 1);
                        match got {
                            Ok(reply) => {
                                for link in reply.split("href=\"").skip(1) {
                                    let c: u32 = link.split('"').next().unwrap().parse().unwrap();
                                    if !seen.borrow().contains(&c) {
                                        seen.borrow_mut().push(c);
                                        queue.put(c);
                                    }
                                }
                            }
                            Err(_) => timed_out.borrow_mut().push(n),
                        }
                        queue.task_done();
                    }
                }))
            })
            .collect();
        queue.join();
        for t in tasks {
            t.cancel();
        }
        server.shutdown(Duration::ZERO);
        let mut late = timed_out.borrow().clone();
        late.sort();
        (state.0.borrow().len(), state.2.get(), late)
    }))
}

#[test]
fn exercise_15_workers_bound_the_fetches() {
    let deadline = Duration::from_millis(500);
    assert_eq!(crawl_site(1, &[5, 6], deadline), (11, 1, vec![5, 6]));
    let (pages, most, late) = crawl_site(5, &[5, 6], deadline);
    assert_eq!((pages, late), (11, vec![5, 6]));
    assert!((2..=5).contains(&most), "five workers, {most} at once");
}

#[test]
fn exercise_15_a_deadline_for_the_whole_crawl() {
    use yieldfrom::timeout;
    // Every page is slow: the crawl as a whole is given up on at 0.5 s.
    let lp = virtual_loop();
    let clock = lp.clone();
    let (gave_up, at) = lp.run(Coro::new("main", move || {
        let r = timeout(Duration::from_millis(500), || {
            // The crawl itself: one worker on the first (slow) page.
            let slow = spawn(Coro::new("crawl", crawl_page_slowly));
            yield_from(slow)
        });
        (r.is_err(), clock.time())
    }));
    assert!(gave_up);
    assert!((0.5..1.0).contains(&at), "given up at {at} s");
}

/// A crawl of a site whose only page takes 3 s.
fn crawl_page_slowly() -> usize {
    use std::io::Read;
    use yieldfrom::http::{self, Response, Router};
    let server = http::serve(
        "127.0.0.1:0",
        Router::new().get("/", |_| {
            sleep(secs(3));
            Response::text("late")
        }),
    )
    .unwrap();
    let s = yieldfrom::net::TcpStream::connect(server.local_addr()).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    (&s).read_to_string(&mut reply).unwrap();
    reply.len()
}

/// Exercise 16.1: `get_with_retries`, trying again after a 503 or a
/// timeout, with a backoff that doubles.
fn get_with_retries(
    client: &yieldfrom::http::client::Client,
    url: &str,
    attempts: u32,
) -> Result<(u32, String), yieldfrom::http::client::Error> {
    let mut wait = Duration::from_millis(50);
    let mut tried = 0;
    loop {
        tried += 1;
        let outcome = client
            .get(url)?
            .timeout(Duration::from_secs(1))
            .send()
            .and_then(|r| r.error_for_status());
        match outcome {
            Ok(response) => return Ok((tried, response.text()?)),
            Err(e) if tried < attempts && (e.status() == Some(503) || e.is_timeout()) => {
                sleep(wait);
                wait *= 2;
            }
            Err(e) => return Err(e),
        }
    }
}

#[test]
fn exercise_16_retry_with_backoff() {
    use yieldfrom::http::client::Client;
    use yieldfrom::http::{self, Response, Router};
    yieldfrom::run(Coro::new("main", || {
        let calls = Rc::new(Cell::new(0));
        let c = calls.clone();
        let router = Router::new().get("/flaky", move |_| {
            c.set(c.get() + 1);
            if c.get() % 3 != 0 {
                Response::text("busy").with_status(503)
            } else {
                Response::text("ok")
            }
        });
        let server = http::serve("127.0.0.1:0", router).unwrap();
        let url = format!("http://{}/flaky", server.local_addr());
        let client = Client::new();
        assert_eq!(
            get_with_retries(&client, &url, 3).unwrap(),
            (3, "ok".into())
        );
        let e = get_with_retries(&client, &url, 2).unwrap_err();
        assert_eq!(e.status(), Some(503), "{e}");
        assert_eq!(calls.get(), 5);
        server.shutdown(Duration::from_secs(1));
    }));
}

#[test]
fn exercise_16_the_first_answer_wins() {
    use yieldfrom::combinators::{ReturnWhen, wait};
    use yieldfrom::http::client::Client;
    use yieldfrom::http::{self, Response, Router};
    yieldfrom::run(Coro::new("main", || {
        let mirror = |delay: u64, name: &'static str| {
            let router = Router::new().get("/price", move |_| {
                sleep(Duration::from_millis(delay));
                Response::text(name)
            });
            http::serve("127.0.0.1:0", router).unwrap()
        };
        let (slow, fast) = (mirror(2000, "slow mirror"), mirror(10, "fast mirror"));
        let client = Client::new();
        let ask = |server: &http::HttpServer| {
            let (client, url) = (
                client.clone(),
                format!("http://{}/price", server.local_addr()),
            );
            spawn(Coro::new("ask", move || {
                client.get(&url).unwrap().send().unwrap().text().unwrap()
            }))
        };
        let (done, pending) = wait(
            vec![ask(&slow), ask(&fast)],
            ReturnWhen::FirstCompleted,
            None,
        );
        let answer = done.into_iter().next().unwrap().join();
        for t in pending {
            t.cancel();
            let _ = t.join_outcome();
        }
        assert_eq!(answer, "fast mirror");
        // The cancelled call's connection was closed, not kept; the fast
        // one's waits, idle, for the next call.
        let stats = client.pool_stats();
        assert_eq!((stats.open, stats.idle), (1, 1), "{stats:?}");
        slow.shutdown(Duration::ZERO);
        fast.shutdown(Duration::from_secs(1));
    }));
}

#[test]
fn exercise_03_run_cancels_what_is_left() {
    let woke = Rc::new(Cell::new(false));
    let w = woke.clone();
    let (answer, sleeper, lp) = run(Coro::new("main", move || {
        let sleeper = spawn(Coro::new("sleeper", move || {
            sleep(secs(10));
            w.set(true);
        }));
        (42, sleeper, EventLoop::current())
    }));
    assert_eq!(answer, 42, "run() returns what main returned");
    assert!(
        sleeper.cancelled(),
        "the task main left behind was cancelled"
    );
    assert!(!woke.get(), "so its sleep never ended");
    assert!(lp.is_closed(), "and the loop was closed");
}

#[test]
fn exercise_06_a_blocking_poll_starves_the_setter() {
    // Polls `flag` up to five times, napping 50 ms with `nap` between looks:
    // whether it saw the flag, and when (the loop's clock).
    fn poll(nap: fn()) -> (bool, f64) {
        EventLoop::builder()
            .virtual_clock(true)
            .slow_task_threshold(Duration::from_millis(100))
            .build()
            .run(Coro::new("main", move || {
                let flag = Rc::new(Cell::new(false));
                let f = flag.clone();
                spawn(Coro::new("setter", move || {
                    sleep(Duration::from_millis(100));
                    f.set(true);
                }));
                for _ in 0..5 {
                    nap();
                    if flag.get() {
                        return (true, EventLoop::current().time());
                    }
                }
                (false, EventLoop::current().time())
            }))
    }
    let ((seen, _), warned) =
        warnings::catch(|| poll(|| std::thread::sleep(Duration::from_millis(50))));
    assert!(
        !seen,
        "a blocking nap never lets the setter run: the flag is never set"
    );
    assert!(
        warned.iter().any(|w| w.contains("blocked the event loop")),
        "and the loop says so: {warned:?}"
    );
    let (seen, at) = poll(|| sleep(Duration::from_millis(50)));
    assert!(seen, "with sleep() the setter runs during the naps");
    assert!((at - 0.1).abs() < 1e-9, "seen at {at} s, not 0.1 s");
}

#[test]
fn exercise_08_inline_coroutine_or_task() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    virtual_loop().run(Coro::new("parent", move || {
        let child = |l: Rc<RefCell<Vec<&'static str>>>| {
            Coro::new("child", move || l.borrow_mut().push("child runs"))
        };
        l.borrow_mut().push("before the await");
        yield_from(child(l.clone())); // inline: it runs now, on our stack
        l.borrow_mut().push("after the await");
        let task = spawn(child(l.clone())); // a task: it runs when we pause
        l.borrow_mut().push("after the spawn");
        yield_from(task);
        l.borrow_mut().push("after the task");
    }));
    assert_eq!(
        *log.borrow(),
        [
            "before the await",
            "child runs",
            "after the await",
            "after the spawn",
            "child runs",
            "after the task"
        ]
    );
}
