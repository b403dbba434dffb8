//! Scoped tasks (`yieldfrom::scope`): they may borrow from the task that
//! starts them, and the scope does not end — by returning, panicking or
//! being cancelled, or when the loop closes — before every one of them has.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use yieldfrom::stack::StackMode;
use yieldfrom::{Coro, EventLoop, catch_cancelled, scope, sleep, spawn, yield_from, yield_now};

/// A loop on the virtual clock whose every task's stack is of `mode`.
fn loop_with(mode: StackMode) -> EventLoop {
    EventLoop::builder()
        .virtual_clock(true)
        .stack_mode(mode)
        .ignore_env_instruments()
        .build()
}

fn dedicated() -> EventLoop {
    loop_with(StackMode::Dedicated)
}

/// A loop whose every task runs on a shared stack (copy-stack mode).
fn shared() -> EventLoop {
    loop_with(StackMode::Shared)
}

/// `n` tasks that keep running (each run evicts the frames resident on its
/// shared stack) until the flag is set; await them after setting it.
fn busy_tasks(n: u64) -> (Rc<Cell<bool>>, Vec<yieldfrom::Task<()>>) {
    let stop = Rc::new(Cell::new(false));
    let busy = (0..n)
        .map(|i| {
            let stop = stop.clone();
            spawn(Coro::new("busy", move || {
                let mut mine = [i; 32]; // frames worth overwriting
                while !stop.get() {
                    mine[(i % 32) as usize] += 1;
                    std::hint::black_box(&mine);
                    yield_now();
                }
            }))
        })
        .collect();
    (stop, busy)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn scoped_tasks_borrow_across_pauses_and_spawn_more() {
    let (total, counts, at) = dedicated().run(Coro::new("main", || {
        let words = ["alpha", "beta", "gamma", "delta"];
        let mut counts = vec![0usize; words.len()];
        let total = Cell::new(0);
        scope(|s| {
            let total = &total;
            for (word, count) in words.iter().zip(counts.iter_mut()) {
                s.spawn(format!("count {word}"), move || {
                    sleep(secs(1));
                    *count = word.len();
                    // A scoped task may start more in the same scope.
                    s.spawn("add", move || total.set(total.get() + word.len()));
                });
            }
        });
        (total.get(), counts, EventLoop::current().time())
    }));
    assert_eq!(total, 5 + 4 + 5 + 5);
    assert_eq!(counts, [5, 4, 5, 5]);
    assert_eq!(at, 1.0, "the four tasks overlapped");
}

#[test]
fn a_forgotten_handle_does_not_skip_the_wait() {
    let finished_first = dedicated().run(Coro::new("main", || {
        let done = Cell::new(false);
        scope(|s| {
            let done = &done;
            std::mem::forget(s.spawn("slow", move || {
                sleep(secs(5));
                done.set(true);
            }));
        });
        done.get()
    }));
    assert!(finished_first, "scope returned before its task finished");
}

/// The parent is cancelled while its scoped tasks run: they are cancelled,
/// their cleanup (which awaits, and uses the borrowed data) runs to its end,
/// and only then does the parent end, cancelled.
#[test]
fn cancelling_the_parent_waits_out_the_childrens_cleanup() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    dedicated().run(Coro::new("main", move || {
        let l2 = l.clone();
        let parent = spawn(Coro::new("parent", move || {
            let borrowed = RefCell::new(Vec::new());
            let r = catch_cancelled(|| {
                scope(|s| {
                    for i in 0..3 {
                        let borrowed = &borrowed;
                        s.spawn("child", move || {
                            if catch_cancelled(|| sleep(secs(60))).is_err() {
                                sleep(secs(1)); // cleanup that awaits
                                borrowed.borrow_mut().push(i);
                            }
                        });
                    }
                })
            });
            l2.borrow_mut().push(format!(
                "parent: {:?}, children cleaned up {:?}",
                r.is_err(),
                borrowed.borrow()
            ));
        }));
        sleep(secs(2));
        parent.cancel();
        let _ = parent.join_outcome();
        l.borrow_mut()
            .push(format!("main at {}", EventLoop::current().time()));
    }));
    assert_eq!(
        *log.borrow(),
        ["parent: true, children cleaned up [0, 1, 2]", "main at 3"]
    );
}

/// A panic in the scope's body cancels the tasks, waits for them, then goes
/// on; a task's panic is raised by its join, or at the end if not joined.
#[test]
fn panics_come_out_after_every_task_has_finished() {
    let (body_panic, cleaned, unjoined, joined) = dedicated().run(Coro::new("main", || {
        let cleaned = Cell::new(0);
        let body_panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            scope(|s| {
                let cleaned = &cleaned;
                s.spawn("sleeper", move || {
                    let _ = catch_cancelled(|| sleep(secs(60)));
                    cleaned.set(cleaned.get() + 1);
                });
                yield_now();
                panic!("the body fails");
            })
        }))
        .unwrap_err();
        let unjoined = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            scope(|s| {
                s.spawn("fails", || -> () { panic!("a task fails") });
            })
        }))
        .unwrap_err();
        let joined = scope(|s| {
            let t = s.spawn("fails", || -> u8 { panic!("joined") });
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.join())).is_err()
        });
        let msg = |p: Box<dyn std::any::Any + Send>| yieldfrom::warnings::panic_message(p.as_ref());
        (msg(body_panic), cleaned.get(), msg(unjoined), joined)
    }));
    assert_eq!(body_panic, "the body fails");
    assert_eq!(cleaned, 1, "the task was cancelled and finished first");
    assert_eq!(unjoined, "a task fails");
    assert!(
        joined,
        "a joined task's panic is raised by join, not again by the scope"
    );
}

/// A loop that closes while a scope is open cancels everyone and runs the
/// children's cleanup before the parent's scope ends.
#[test]
fn a_closing_loop_finishes_the_children_before_the_parent() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let lp = dedicated();
    let l = log.clone();
    lp.spawn(Coro::new("parent", move || {
        let seen = RefCell::new(Vec::new());
        let _ = catch_cancelled(|| {
            scope(|s| {
                let seen = &seen;
                s.spawn("child", move || {
                    let _ = catch_cancelled(|| sleep(secs(60)));
                    seen.borrow_mut().push("child cleaned up");
                });
            })
        });
        l.borrow_mut()
            .push(format!("parent after its scope: {:?}", seen.borrow()));
    }));
    lp.run_until_complete(Coro::new("briefly", || sleep(secs(1))));
    lp.close();
    assert_eq!(
        *log.borrow(),
        [r#"parent after its scope: ["child cleaned up"]"#]
    );
}

/// On shared stacks the parent's frames are copied away whenever another
/// task of its stack runs; the scoped tasks must still find them in place.
/// 64 busy tasks share the stacks with a parent whose twelve scoped tasks
/// read and write the parent's locals between pauses, hundreds of times.
#[test]
fn scoped_tasks_find_their_parents_frames_on_shared_stacks() {
    let lp = shared();
    let (sums, total) = lp.run(Coro::new("main", || {
        let (stop, busy) = busy_tasks(64);
        let parent = spawn(Coro::new("parent", || {
            // The parent's own locals, on its (shared) stack.
            let table: [u64; 64] = std::array::from_fn(|i| i as u64 * 3);
            let total = Cell::new(0u64);
            let sums = scope(|s| {
                let (table, total) = (&table, &total);
                // More readers than shared stacks (8 per size): without care
                // some would land on the parent's own stack.
                let tasks: Vec<_> = (0..12)
                    .map(|k| {
                        s.spawn(format!("reader {k}"), move || {
                            let mut seen = Vec::new();
                            for _ in 0..200 {
                                seen.push(table.iter().sum::<u64>());
                                total.set(total.get() + 1);
                                yield_now();
                            }
                            seen
                        })
                    })
                    .collect();
                tasks.into_iter().map(|t| t.join()).collect::<Vec<_>>()
            });
            (sums, total.get())
        }));
        let out = yield_from(parent);
        stop.set(true);
        for b in busy {
            yield_from(b);
        }
        out
    }));
    let expected: u64 = (0..64u64).map(|i| i * 3).sum();
    for seen in &sums {
        assert!(
            seen.iter().all(|&s| s == expected),
            "a scoped task read another task's frames"
        );
    }
    assert_eq!(sums.len(), 12);
    assert_eq!(total, 12 * 200, "every write through the borrow landed");
}

#[test]
fn a_generator_body_cannot_open_a_scope() {
    use yieldfrom::{Co, Generator};
    let message = dedicated().run(Coro::new("main", || {
        let g: Generator<(), (), ()> = Generator::new(|_co: &Co<(), ()>| {
            scope(|s| {
                s.spawn("t", || ());
            });
            Ok(())
        });
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.send(())));
        yieldfrom::warnings::panic_message(r.unwrap_err().as_ref())
    }));
    assert!(message.contains("inside a Generator body"), "{message}");
}

#[test]
fn scope_outside_a_task_says_so() {
    let r = std::panic::catch_unwind(|| scope(|_| ()));
    let message = yieldfrom::warnings::panic_message(r.unwrap_err().as_ref());
    assert!(message.contains("scope()"), "{message}");
}

/// Scopes inside scoped tasks, on shared stacks: a grandchild borrows from
/// its parent and its grandparent at once, and both stay in place for it.
#[test]
fn nested_scopes_keep_every_ancestor_in_place_on_shared_stacks() {
    let lp = shared();
    let got = lp.run(Coro::new("main", || {
        let (stop, busy) = busy_tasks(16);
        let outer: [u64; 16] = [7; 16];
        let got = scope(|s| {
            let outer = &outer;
            let children: Vec<_> = (0..3u64)
                .map(|c| {
                    s.spawn("child", move || {
                        let inner: [u64; 16] = [c; 16];
                        scope(|s2| {
                            let inner = &inner;
                            let grandchildren: Vec<_> = (0..3)
                                .map(|_| {
                                    s2.spawn("grandchild", move || {
                                        let mut ok = true;
                                        for _ in 0..100 {
                                            ok &= outer.iter().sum::<u64>() == 7 * 16;
                                            ok &= inner.iter().sum::<u64>() == c * 16;
                                            yield_now();
                                        }
                                        ok
                                    })
                                })
                                .collect();
                            grandchildren.into_iter().all(|g| g.join())
                        })
                    })
                })
                .collect();
            children.into_iter().map(|c| c.join()).collect::<Vec<_>>()
        });
        stop.set(true);
        for b in busy {
            yield_from(b);
        }
        got
    }));
    assert_eq!(got, [true, true, true]);
}

/// A closing loop gives up on a parent that swallows every cancellation
/// (its stack is leaked) while its scoped task, which handled its own, still
/// runs: on shared stacks the parent's frames must stay where the scoped
/// task reads them, though other tasks keep running on that stack.
#[test]
fn a_given_up_parent_keeps_its_frames_for_its_scoped_tasks() {
    let lp = shared();
    let ok = Rc::new(Cell::new(None));
    for i in 0..16u64 {
        // Cancelled at close, they handle it and go on for a while: each
        // run evicts whatever is resident on their stack.
        lp.spawn(Coro::new("busy", move || {
            let _ = catch_cancelled(|| {
                loop {
                    yield_now();
                }
            });
            let mut mine = [i; 32];
            for _ in 0..3000 {
                mine[0] += 1;
                std::hint::black_box(&mine);
                yield_now();
            }
        }));
    }
    let seen = ok.clone();
    lp.spawn(Coro::new("parent", move || {
        let table: [u64; 32] = std::array::from_fn(|i| i as u64 + 1);
        scope(|s| {
            let table = &table;
            let seen = seen.clone();
            s.spawn("reader", move || {
                let _ = catch_cancelled(|| {
                    loop {
                        yield_now();
                    }
                });
                let mut all = true;
                for _ in 0..2500 {
                    all &= table.iter().sum::<u64>() == 32 * 33 / 2;
                    yield_now();
                }
                seen.set(Some(all));
            });
            // Swallows every cancellation (a bare catch_unwind): the closing
            // loop gives up on it after 1000, while the reader goes on.
            loop {
                let _ = std::panic::catch_unwind(yield_now);
            }
        });
    }));
    lp.run_until_complete(Coro::new("briefly", yield_now));
    let ((), warned) = yieldfrom::warnings::catch(|| lp.close());
    assert!(
        warned
            .iter()
            .any(|w| w.contains("task 'parent' was destroyed")),
        "{warned:?}"
    );
    assert_eq!(
        ok.get(),
        Some(true),
        "the reader saw its parent's frames intact"
    );
}

/// A scoped task may spawn into its own scope and finish first; the task it
/// spawned still finds the scope owner's frames, on shared stacks.
#[test]
fn a_task_spawned_by_a_finished_sibling_still_reads_the_owners_frames() {
    let lp = shared();
    let ok = lp.run(Coro::new("main", || {
        let (stop, busy) = busy_tasks(24);
        let table: [u64; 16] = [5; 16];
        let ok = Cell::new(true);
        scope(|s| {
            let (table, ok) = (&table, &ok);
            for _ in 0..10 {
                s.spawn("starter", move || {
                    s.spawn("late reader", move || {
                        for _ in 0..50 {
                            ok.set(ok.get() && table.iter().sum::<u64>() == 80);
                            yield_now();
                        }
                    });
                });
            }
        });
        stop.set(true);
        for b in busy {
            yield_from(b);
        }
        ok.get()
    }));
    assert!(ok);
}
