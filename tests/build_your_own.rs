//! The "Build your own" chapter's steps (exercises/build_your_own/): the
//! same checks run on the reference solutions, which must pass them, and on
//! the starter files, which must not yet (each stops at a `todo!()`).
//!
//! A learner who fills in the starters runs
//! `YIELDFROM_LEARNER=1 cargo test --test build_your_own`: then the checks
//! run on the starters and must pass.

#[path = "../exercises/build_your_own/solution/mod.rs"]
mod solution;
#[path = "../exercises/build_your_own/starter/mod.rs"]
mod starter;

use std::cell::RefCell;
use std::rc::Rc;

/// The checks of each step, written once, for either set of files.
macro_rules! checks {
    ($checks:ident, $m:ident) => {
        pub mod $checks {
            use super::*;
            use crate::$m::*;
            use yieldfrom::{Co, Generator};

            /// Callbacks run in turn, timers by deadline, the clock jumps; a
            /// callback may schedule another with `call_soon` (which a `run`
            /// that holds the ready queue while it calls would refuse).
            pub fn step1() {
                use step1_callbacks::Loop;
                let log = Rc::new(RefCell::new(Vec::new()));
                let lp = Loop::new();
                for (delay, name) in [(3.0, "c"), (1.0, "a"), (2.0, "b")] {
                    let log = log.clone();
                    lp.call_later(delay, move |lp| {
                        log.borrow_mut().push(format!("{name}@{}", lp.time()))
                    });
                }
                let l = log.clone();
                // Callback style: "when this is done, call that" nests.
                lp.call_soon(move |lp| {
                    l.borrow_mut().push("soon@0".into());
                    let again = l.clone();
                    lp.call_soon(move |lp| again.borrow_mut().push(format!("again@{}", lp.time())));
                    let l = l.clone();
                    lp.call_later(0.5, move |lp| {
                        let l2 = l.clone();
                        l.borrow_mut().push(format!("then@{}", lp.time()));
                        lp.call_later(2.0, move |lp| {
                            l2.borrow_mut().push(format!("finally@{}", lp.time()))
                        });
                    });
                });
                lp.run();
                assert_eq!(
                    *log.borrow(),
                    [
                        "soon@0",
                        "again@0",
                        "then@0.5",
                        "a@1",
                        "b@2",
                        "finally@2.5",
                        "c@3"
                    ]
                );
            }

            /// The round-robin scheduler interleaves generator tasks.
            pub fn step2() {
                use step2_generators::{Task, run_all};
                let log = Rc::new(RefCell::new(Vec::new()));
                let task = |name: &'static str, steps: usize| -> Task {
                    let log = log.clone();
                    Generator::new(move |co: &Co<(), ()>| {
                        for i in 0..steps {
                            log.borrow_mut().push(format!("{name}{i}"));
                            co.yield_(())?;
                        }
                        Ok(())
                    })
                };
                let resumes = run_all(vec![task("A", 3), task("B", 2), task("C", 1)]);
                assert_eq!(*log.borrow(), ["A0", "B0", "C0", "A1", "B1", "A2"]);
                assert_eq!(
                    resumes, 9,
                    "each task is resumed once per yield, and once to finish"
                );
            }

            /// A sub-generator that pauses, run by the trampoline.
            pub fn step3() {
                use step3_trampoline::{Gen, Op, run_all};
                let log = Rc::new(RefCell::new(Vec::new()));
                let fetch = |log: Rc<RefCell<Vec<String>>>, name: &'static str| -> Gen {
                    Generator::new(move |co: &Co<Op, u64>| {
                        log.borrow_mut().push(format!("{name} fetch starts"));
                        co.yield_(Op::Pause)?;
                        log.borrow_mut().push(format!("{name} fetch resumes"));
                        co.yield_(Op::Pause)?;
                        Ok(42)
                    })
                };
                let main = |name: &'static str| -> Gen {
                    let log = log.clone();
                    Generator::new(move |co: &Co<Op, u64>| {
                        let got = co.yield_(Op::Call(fetch(log.clone(), name)))?;
                        log.borrow_mut().push(format!("{name} got {got}"));
                        Ok(got + 1)
                    })
                };
                assert_eq!(run_all(vec![main("A"), main("B")]), [43, 43]);
                assert_eq!(
                    *log.borrow(),
                    [
                        "A fetch starts",
                        "B fetch starts",
                        "A fetch resumes",
                        "B fetch resumes",
                        "A got 42",
                        "B got 42",
                    ]
                );
            }

            /// Homemade sleep: two sleeps overlap on the callback loop.
            pub fn step4() {
                use step1_callbacks::Loop;
                use step4_sleep::{Future, Task, sleep, spawn};
                let lp = Rc::new(Loop::new());
                let log = Rc::new(RefCell::new(Vec::new()));
                for (name, secs) in [("A", 2.0), ("B", 1.0)] {
                    let (log, lp2) = (log.clone(), lp.clone());
                    let task: Task = Generator::new(move |co: &Co<Rc<Future>, ()>| {
                        log.borrow_mut()
                            .push(format!("{name} sleeps@{}", lp2.time()));
                        co.yield_(sleep(&lp2, secs))?;
                        log.borrow_mut()
                            .push(format!("{name} wakes@{}", lp2.time()));
                        Ok(())
                    });
                    spawn(&lp, task);
                }
                lp.run();
                assert_eq!(
                    *log.borrow(),
                    ["A sleeps@0", "B sleeps@0", "B wakes@1", "A wakes@2"]
                );
                assert_eq!(lp.time(), 2.0, "the sleeps overlapped: 2 s, not 3");
            }

            /// A plain function pauses the generator: no trampoline.
            pub fn step5() {
                use step5_stackful::{Task, fetch, run_all};
                let log = Rc::new(RefCell::new(Vec::new()));
                let main = |name: &'static str| -> Task {
                    let log = log.clone();
                    Generator::new(move |co: &Co<(), ()>| {
                        log.borrow_mut().push(format!("{name} calls fetch"));
                        let got = fetch(co)?; // a plain call, at any depth
                        log.borrow_mut().push(format!("{name} got {got}"));
                        Ok(got + 1)
                    })
                };
                assert_eq!(run_all(vec![main("A"), main("B")]), [43, 43]);
                assert_eq!(
                    *log.borrow(),
                    ["A calls fetch", "B calls fetch", "A got 42", "B got 42"]
                );
            }
        }
    };
}

checks!(solution_checks, solution);
checks!(starter_checks, starter);

fn learner() -> bool {
    std::env::var_os("YIELDFROM_LEARNER").is_some()
}

/// Runs a starter's check: must pass for a learner, and otherwise must stop
/// at the step's `todo!()` (the starter is still a starter).
fn starter_check(step: fn()) {
    if learner() {
        step();
        return;
    }
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(step);
    std::panic::set_hook(hook);
    let payload = result.expect_err("a starter passes its check: it is not a starter any more");
    let message = yieldfrom::warnings::panic_message(payload.as_ref());
    assert!(
        message.starts_with("not yet implemented: step "),
        "a starter fails at its todo!(), not elsewhere: {message}"
    );
}

macro_rules! steps {
    ($($step:ident: $solution:ident, $starter:ident;)*) => {$(
        #[test]
        fn $solution() {
            solution_checks::$step();
        }
        #[test]
        fn $starter() {
            starter_check(starter_checks::$step);
        }
    )*};
}

// Each step's two tests: `solution_stepN_...` checks the reference
// solution; `stepN_...` checks the starter, and is the learner's test: with
// `YIELDFROM_LEARNER=1` it must pass, without it the starter must still stop
// at its `todo!()`. One step alone: `YIELDFROM_LEARNER=1 cargo test --test
// build_your_own step1_`.
steps! {
    step1: solution_step1_loop_runs_callbacks, step1_loop_runs_callbacks;
    step2: solution_step2_generators_take_turns, step2_generators_take_turns;
    step3: solution_step3_trampoline_runs_sub_generators, step3_trampoline_runs_sub_generators;
    step4: solution_step4_sleeps_overlap, step4_sleeps_overlap;
    step5: solution_step5_plain_function_pauses, step5_plain_function_pauses;
}
