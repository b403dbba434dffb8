//! CPython's Lib/test/test_yield_from.py (the PEP 380 suite, 33 cases), ported.
//!
//! Each test keeps the original's name and asserts the same trace of events.
//! How Python maps here: `yield x` is `co.yield_(x)?`, `yield from g` is
//! `co.yield_from(g)?`, `raise E` is `return Err(..)`, `except E` is a `match`
//! on the `Err`, `finally` is a [`Finally`] guard (a destructor), and
//! `StopIteration(v)` is `GeneratorState::Complete(v)`.
//!
//! Ported in full: 29. Ported in part: 3 (the part that cannot be expressed is
//! named in the test). Skipped: 1.
//!
//! - `test_value_attribute_of_StopIteration_exception` — skipped: it tests the
//!   attributes of Python's StopIteration object. Here a return value is not an
//!   exception object but `GeneratorState::Complete(value)`, which has nothing
//!   left to test.
//! - `test_handing_exception_while_delegating_close`,
//!   `test_throwing_GeneratorExit_into_subgen_that_raises` — ported except the
//!   check of `e.__context__` (Rust errors have no implicit exception chaining).
//! - `test_broken_getattr_handling` — the `send` and `throw` parts are ported;
//!   the `close` part tests Python's "unraisable exception" hook for a failing
//!   attribute lookup. There is no attribute lookup here; a subgenerator whose
//!   `close` fails raises its error out of `close()`, as PEP 380's expansion
//!   says, and the port asserts that instead.
//! - `test_close_with_cleared_frame` — the original guards against a crash when
//!   the garbage collector clears frames of a cycle of generators in an
//!   unlucky order. Rust has no collector and an owned delegation chain cannot
//!   form that cycle; the port drops a suspended three-level delegation chain
//!   and checks that every level's cleanup ran, innermost first.

#![allow(non_snake_case)] // the test names are CPython's

use std::cell::{OnceCell, RefCell};
use std::error::Error;
use std::fmt;
use std::rc::Rc;

use GeneratorState::{Complete, Yielded};
use yieldfrom::{
    Co, GenError, Generator, GeneratorState, Resume, Subgenerator, from_iter, warnings,
};

/// The list every test appends to, as the originals' `trace = []`.
#[derive(Clone, Default)]
struct Trace(Rc<RefCell<Vec<String>>>);

impl Trace {
    fn push(&self, s: impl Into<String>) {
        self.0.borrow_mut().push(s.into());
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.borrow_mut())
    }
    /// A guard that appends `s` when dropped: Python's `finally:`.
    fn finally(&self, s: &'static str) -> Finally {
        Finally(self.clone(), s)
    }
}

struct Finally(Trace, &'static str);

impl Drop for Finally {
    fn drop(&mut self) {
        self.0.push(self.1);
    }
}

macro_rules! python_error {
    ($($name:ident),*) => {$(
        #[derive(Debug)]
        struct $name(String);
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl Error for $name {}
        impl $name {
            fn err(msg: &str) -> GenError {
                GenError::raise($name(msg.to_string()))
            }
        }
    )*};
}
python_error!(ValueError, ZeroDivisionError, LunchError, MyErr);

fn message_of<E: Error + 'static>(e: &GenError) -> String {
    e.downcast_ref::<E>()
        .unwrap_or_else(|| panic!("expected {}, got {e:?}", std::any::type_name::<E>()))
        .to_string()
}

/// `for x in g: trace.append("Yielded %s" % x)`, returning the error that ended it.
fn drive<Y: fmt::Display, R>(g: &Generator<Y, (), R>, trace: &Trace) -> Result<(), GenError> {
    loop {
        match g.send(())? {
            Yielded(x) => trace.push(format!("Yielded {x}")),
            Complete(_) => return Ok(()),
        }
    }
}

#[test]
fn test_delegation_of_initial_next_to_subgenerator() {
    let trace = Trace::default();
    let t = trace.clone();
    let g2 = move |t: Trace| {
        Generator::new(move |co: &Co<i32, ()>| {
            t.push("Starting g2");
            co.yield_(42)?;
            t.push("Finishing g2");
            Ok(())
        })
    };
    let g1 = Generator::new(move |co| {
        t.push("Starting g1");
        co.yield_from(g2(t.clone()))?;
        t.push("Finishing g1");
        Ok(())
    });
    drive(&g1, &trace).unwrap();
    assert_eq!(
        trace.take(),
        [
            "Starting g1",
            "Starting g2",
            "Yielded 42",
            "Finishing g2",
            "Finishing g1"
        ]
    );
}

#[test]
fn test_raising_exception_in_initial_next_call() {
    let trace = Trace::default();
    let t = trace.clone();
    let g1 = Generator::new(move |co: &Co<i32, ()>| {
        let _finally = t.finally("Finishing g1");
        t.push("Starting g1");
        let t2 = t.clone();
        co.yield_from(Generator::new(move |_co: &Co<i32, ()>| {
            let _finally = t2.finally("Finishing g2");
            t2.push("Starting g2");
            Err::<(), _>(ValueError::err("spanish inquisition occurred"))
        }))
    });
    let err = drive(&g1, &trace).expect_err("subgenerator failed to raise ValueError");
    assert_eq!(
        message_of::<ValueError>(&err),
        "spanish inquisition occurred"
    );
    assert_eq!(
        trace.take(),
        ["Starting g1", "Starting g2", "Finishing g2", "Finishing g1"]
    );
}

#[test]
fn test_delegation_of_next_call_to_subgenerator() {
    let trace = Trace::default();
    let t = trace.clone();
    let g1 = Generator::new(move |co| {
        t.push("Starting g1");
        co.yield_("g1 ham")?;
        let t2 = t.clone();
        co.yield_from(Generator::new(move |co| {
            t2.push("Starting g2");
            co.yield_("g2 spam")?;
            co.yield_("g2 more spam")?;
            t2.push("Finishing g2");
            Ok(())
        }))?;
        co.yield_("g1 eggs")?;
        t.push("Finishing g1");
        Ok(())
    });
    drive(&g1, &trace).unwrap();
    assert_eq!(
        trace.take(),
        [
            "Starting g1",
            "Yielded g1 ham",
            "Starting g2",
            "Yielded g2 spam",
            "Yielded g2 more spam",
            "Finishing g2",
            "Yielded g1 eggs",
            "Finishing g1"
        ]
    );
}

#[test]
fn test_raising_exception_in_delegated_next_call() {
    let trace = Trace::default();
    let t = trace.clone();
    let g1 = Generator::new(move |co| {
        let _finally = t.finally("Finishing g1");
        t.push("Starting g1");
        co.yield_("g1 ham")?;
        let t2 = t.clone();
        co.yield_from(Generator::new(move |co| {
            let _finally = t2.finally("Finishing g2");
            t2.push("Starting g2");
            co.yield_("g2 spam")?;
            Err::<(), _>(ValueError::err("hovercraft is full of eels"))
        }))?;
        co.yield_("g1 eggs")?;
        Ok(())
    });
    let err = drive(&g1, &trace).expect_err("subgenerator failed to raise ValueError");
    assert_eq!(message_of::<ValueError>(&err), "hovercraft is full of eels");
    assert_eq!(
        trace.take(),
        [
            "Starting g1",
            "Yielded g1 ham",
            "Starting g2",
            "Yielded g2 spam",
            "Finishing g2",
            "Finishing g1"
        ]
    );
}

fn send_counting(g: &Generator<&'static str, i32, ()>, trace: &Trace) -> Result<(), GenError> {
    g.start()?;
    let mut x = 1;
    loop {
        match g.send(x)? {
            Yielded(y) => trace.push(format!("Yielded {y}")),
            Complete(()) => return Ok(()),
        }
        x += 1;
    }
}

#[test]
fn test_delegation_of_send() {
    let trace = Trace::default();
    let t = trace.clone();
    let g1 = Generator::new(move |co: &Co<&'static str, i32>| {
        t.push("Starting g1");
        let x = co.yield_("g1 ham")?;
        t.push(format!("g1 received {x}"));
        let t2 = t.clone();
        co.yield_from(Generator::new(move |co: &Co<&'static str, i32>| {
            t2.push("Starting g2");
            let x = co.yield_("g2 spam")?;
            t2.push(format!("g2 received {x}"));
            let x = co.yield_("g2 more spam")?;
            t2.push(format!("g2 received {x}"));
            t2.push("Finishing g2");
            Ok(())
        }))?;
        let x = co.yield_("g1 eggs")?;
        t.push(format!("g1 received {x}"));
        t.push("Finishing g1");
        Ok(())
    });
    send_counting(&g1, &trace).unwrap();
    assert_eq!(
        trace.take(),
        [
            "Starting g1",
            "g1 received 1",
            "Starting g2",
            "Yielded g2 spam",
            "g2 received 2",
            "Yielded g2 more spam",
            "g2 received 3",
            "Finishing g2",
            "Yielded g1 eggs",
            "g1 received 4",
            "Finishing g1"
        ]
    );
}

#[test]
fn test_handling_exception_while_delegating_send() {
    let trace = Trace::default();
    let t = trace.clone();
    let g1 = Generator::new(move |co: &Co<&'static str, i32>| {
        t.push("Starting g1");
        let x = co.yield_("g1 ham")?;
        t.push(format!("g1 received {x}"));
        let t2 = t.clone();
        co.yield_from(Generator::new(move |co: &Co<&'static str, i32>| {
            t2.push("Starting g2");
            let x = co.yield_("g2 spam")?;
            t2.push(format!("g2 received {x}"));
            Err::<(), _>(ValueError::err("hovercraft is full of eels"))
        }))?;
        let x = co.yield_("g1 eggs")?;
        t.push(format!("g1 received {x}"));
        t.push("Finishing g1");
        Ok(())
    });
    let err = send_counting(&g1, &trace).expect_err("ValueError");
    assert!(err.downcast_ref::<ValueError>().is_some());
    assert_eq!(
        trace.take(),
        [
            "Starting g1",
            "g1 received 1",
            "Starting g2",
            "Yielded g2 spam",
            "g2 received 2"
        ]
    );
}

/// g1 and g2 of the close/throw tests: both print "Finishing" from a `finally`.
fn ham_and_spam(t: &Trace) -> Generator<&'static str> {
    let t = t.clone();
    Generator::new(move |co| {
        let _finally = t.finally("Finishing g1");
        t.push("Starting g1");
        co.yield_("g1 ham")?;
        let t2 = t.clone();
        co.yield_from(Generator::new(move |co| {
            let _finally = t2.finally("Finishing g2");
            t2.push("Starting g2");
            co.yield_("g2 spam")?;
            co.yield_("g2 more spam")?;
            Ok(())
        }))?;
        co.yield_("g1 eggs")?;
        Ok(())
    })
}

fn next_twice(g: &Generator<&'static str>, trace: &Trace) {
    for _ in 0..2 {
        match g.send(()).unwrap() {
            Yielded(x) => trace.push(format!("Yielded {x}")),
            Complete(()) => panic!("finished early"),
        }
    }
}

#[test]
fn test_delegating_close() {
    let trace = Trace::default();
    let g = ham_and_spam(&trace);
    next_twice(&g, &trace);
    g.close().unwrap();
    assert!(g.is_finished());
    assert_eq!(
        trace.take(),
        [
            "Starting g1",
            "Yielded g1 ham",
            "Starting g2",
            "Yielded g2 spam",
            "Finishing g2",
            "Finishing g1"
        ]
    );
}

#[test]
fn test_handing_exception_while_delegating_close() {
    let trace = Trace::default();
    let t = trace.clone();
    let g = Generator::new(move |co| {
        let _finally = t.finally("Finishing g1");
        t.push("Starting g1");
        co.yield_("g1 ham")?;
        let t2 = t.clone();
        co.yield_from(Generator::new(move |co| {
            t2.push("Starting g2");
            // try: yield; yield  finally: trace; raise ValueError
            let body = (|| {
                co.yield_("g2 spam")?;
                co.yield_("g2 more spam")
            })();
            t2.push("Finishing g2");
            let _ = body;
            Err::<(), _>(ValueError::err("nybbles have exploded with delight"))
        }))?;
        co.yield_("g1 eggs")?;
        Ok(())
    });
    next_twice(&g, &trace);
    let err = g
        .close()
        .expect_err("subgenerator failed to raise ValueError");
    assert_eq!(
        message_of::<ValueError>(&err),
        "nybbles have exploded with delight"
    );
    assert_eq!(
        trace.take(),
        [
            "Starting g1",
            "Yielded g1 ham",
            "Starting g2",
            "Yielded g2 spam",
            "Finishing g2",
            "Finishing g1"
        ]
    );
}

#[test]
fn test_delegating_throw() {
    let trace = Trace::default();
    let g = ham_and_spam(&trace);
    next_twice(&g, &trace);
    let err = g.throw(ValueError::err("tomato ejected")).unwrap_err();
    assert_eq!(message_of::<ValueError>(&err), "tomato ejected");
    assert_eq!(
        trace.take(),
        [
            "Starting g1",
            "Yielded g1 ham",
            "Starting g2",
            "Yielded g2 spam",
            "Finishing g2",
            "Finishing g1"
        ]
    );
}

#[test]
fn test_exception_value_crash() {
    let g1 = Generator::new(|co| {
        co.yield_from(Generator::new(|co| {
            co.yield_("g2")?;
            Ok(vec![42])
        }))?;
        Ok(())
    });
    assert_eq!(g1.collect::<Vec<_>>(), ["g2"]);
}

#[test]
fn test_generator_return_value() {
    let trace = Trace::default();
    let t = trace.clone();
    // Python's g2(v) returns v when v is truthy, else None; the reprs stand for the values.
    let g2 = |t: Trace, v: Option<&'static str>| {
        Generator::new(move |co| {
            t.push("Starting g2");
            co.yield_("g2 spam")?;
            co.yield_("g2 more spam")?;
            t.push("Finishing g2");
            Ok(v)
        })
    };
    let g1 = Generator::new(move |co| {
        t.push("Starting g1");
        co.yield_("g1 ham")?;
        let ret = co.yield_from(g2(t.clone(), None))?;
        t.push(format!("g2 returned {}", ret.unwrap_or("None")));
        for v in ["1", "(2,)", "StopIteration(3)"] {
            let ret = co.yield_from(g2(t.clone(), Some(v)))?;
            t.push(format!("g2 returned {}", ret.unwrap_or("None")));
        }
        co.yield_("g1 eggs")?;
        t.push("Finishing g1");
        Ok(())
    });
    drive(&g1, &trace).unwrap();
    let mut expected = vec!["Starting g1", "Yielded g1 ham"];
    for ret in [
        "g2 returned None",
        "g2 returned 1",
        "g2 returned (2,)",
        "g2 returned StopIteration(3)",
    ] {
        expected.extend([
            "Starting g2",
            "Yielded g2 spam",
            "Yielded g2 more spam",
            "Finishing g2",
            ret,
        ]);
    }
    expected.extend(["Yielded g1 eggs", "Finishing g1"]);
    assert_eq!(trace.take(), expected);
}

#[test]
fn test_delegation_of_next_to_non_generator() {
    let trace = Trace::default();
    let g = Generator::new(|co| co.yield_from(from_iter(0..3)));
    drive(&g, &trace).unwrap();
    assert_eq!(trace.take(), ["Yielded 0", "Yielded 1", "Yielded 2"]);
}

#[test]
fn test_conversion_of_sendNone_to_next() {
    let g = Generator::new(|co| co.yield_from(from_iter(0..3)));
    let got: Vec<String> = (0..3)
        .map(|_| match g.send(()).unwrap() {
            Yielded(y) => format!("Yielded: {y}"),
            Complete(()) => "done".into(),
        })
        .collect();
    assert_eq!(got, ["Yielded: 0", "Yielded: 1", "Yielded: 2"]);
}

#[test]
fn test_delegation_of_close_to_non_generator() {
    let trace = Trace::default();
    let t = trace.clone();
    let g = Generator::new(move |co: &Co<i32, ()>| {
        let _finally = t.finally("finishing g");
        t.push("starting g");
        co.yield_from(from_iter(0..3))?;
        t.push("g should not be here");
        Ok(())
    });
    g.start().unwrap();
    let (closed, warned) = warnings::catch(|| g.close());
    closed.unwrap();
    assert!(warned.is_empty(), "close printed {warned:?}");
    assert_eq!(trace.take(), ["starting g", "finishing g"]);
}

#[test]
fn test_delegating_throw_to_non_generator() {
    let trace = Trace::default();
    let t = trace.clone();
    let g = Generator::new(move |co| {
        let _finally = t.finally("Finishing g");
        t.push("Starting g");
        co.yield_from(from_iter(0..10))
    });
    for _ in 0..5 {
        if let Yielded(x) = g.send(()).unwrap() {
            trace.push(format!("Yielded {x}"));
        }
    }
    let err = g.throw(ValueError::err("tomato ejected")).unwrap_err();
    assert_eq!(message_of::<ValueError>(&err), "tomato ejected");
    let mut expected = vec!["Starting g".to_string()];
    expected.extend((0..5).map(|i| format!("Yielded {i}")));
    expected.push("Finishing g".into());
    assert_eq!(trace.take(), expected);
}

#[test]
fn test_attempting_to_send_to_non_generator() {
    let trace = Trace::default();
    let t = trace.clone();
    let g = Generator::new(move |co: &Co<i32, i32>| {
        let _finally = t.finally("finishing g");
        t.push("starting g");
        co.yield_from(from_iter(0..3))?;
        t.push("g should not be here");
        Ok(())
    });
    g.start().unwrap();
    let err = (0..3)
        .find_map(|_| match g.send(42) {
            Ok(y) => {
                trace.push(format!("Should not have yielded: {y:?}"));
                None
            }
            Err(e) => Some(e),
        })
        .expect("was able to send into non-generator");
    assert!(err.to_string().contains("send"), "{err}");
    assert_eq!(trace.take(), ["starting g", "finishing g"]);
}

/// Python's `Broken`: `__next__` returns 1, every other attribute raises ZeroDivisionError.
struct Broken;

impl Subgenerator<i32, i32> for Broken {
    type Return = ();
    fn resume(&mut self, how: Resume<i32>) -> Result<GeneratorState<i32, ()>, GenError> {
        match how {
            Resume::Start => Ok(Yielded(1)),
            _ => Err(ZeroDivisionError::err("division by zero")),
        }
    }
    fn close(&mut self) -> Result<(), GenError> {
        Err(ZeroDivisionError::err("division by zero"))
    }
}

#[test]
fn test_broken_getattr_handling() {
    let g = || Generator::new(|co: &Co<i32, i32>| co.yield_from(Broken));
    let gi = g();
    assert_eq!(gi.start().unwrap(), Yielded(1));
    assert!(
        gi.send(1)
            .unwrap_err()
            .downcast_ref::<ZeroDivisionError>()
            .is_some()
    );

    let gi = g();
    assert_eq!(gi.start().unwrap(), Yielded(1));
    let err = gi.throw(GenError::msg("AttributeError")).unwrap_err();
    assert!(err.downcast_ref::<ZeroDivisionError>().is_some());

    // The close part: the failing close propagates (see the top of the file).
    let gi = g();
    assert_eq!(gi.start().unwrap(), Yielded(1));
    let err = gi.close().unwrap_err();
    assert!(err.downcast_ref::<ZeroDivisionError>().is_some());
    assert!(gi.is_finished());
}

#[test]
fn test_exception_in_initial_next_call() {
    let trace = Trace::default();
    let t = trace.clone();
    let g1 = Generator::new(move |co: &Co<i32, ()>| {
        t.push("g1 about to yield from g2");
        co.yield_from(Generator::new(|co: &Co<i32, ()>| {
            // yield 1/0: the error comes before the yield.
            let value = 1i32
                .checked_div(0)
                .ok_or(ZeroDivisionError::err("division by zero"))?;
            co.yield_(value)?;
            Ok(())
        }))?;
        t.push("g1 should not be here");
        Ok(())
    });
    let err = g1.start().unwrap_err();
    assert!(err.downcast_ref::<ZeroDivisionError>().is_some());
    assert_eq!(trace.take(), ["g1 about to yield from g2"]);
}

type Shared<G> = Rc<OnceCell<G>>;

#[test]
fn test_attempted_yield_from_loop() {
    let trace = Trace::default();
    let gi: Shared<Generator<&'static str>> = Rc::default();
    let (t, gi2) = (trace.clone(), gi.clone());
    let g2 = move || {
        Generator::new(move |co| {
            t.push("g2: starting");
            co.yield_("y2")?;
            t.push("g2: about to yield from g1");
            co.yield_from(gi2.get().expect("gi is set"))?;
            t.push("g2 should not be here");
            Ok(())
        })
    };
    let t = trace.clone();
    let g1 = Generator::new(move |co| {
        t.push("g1: starting");
        co.yield_("y1")?;
        t.push("g1: about to yield from g2");
        co.yield_from(g2())?;
        t.push("g1 should not be here");
        Ok(())
    });
    assert!(gi.set(g1).is_ok());
    let g1 = gi.get().unwrap();
    let err = loop {
        match g1.send(()) {
            Ok(Yielded(y)) => trace.push(format!("Yielded: {y}")),
            Ok(Complete(())) => panic!("subgenerator didn't raise ValueError"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.to_string(), "generator already executing");
    assert!(matches!(err, GenError::AlreadyRunning));
    assert_eq!(
        trace.take(),
        [
            "g1: starting",
            "Yielded: y1",
            "g1: about to yield from g2",
            "g2: starting",
            "Yielded: y2",
            "g2: about to yield from g1"
        ]
    );
}

#[test]
fn test_returning_value_from_delegated_throw() {
    let trace = Trace::default();
    let t = trace.clone();
    let g = Generator::new(move |co| {
        let _finally = t.finally("Finishing g1");
        t.push("Starting g1");
        co.yield_("g1 ham")?;
        let t2 = t.clone();
        co.yield_from(Generator::new(move |co| {
            t2.push("Starting g2");
            let attempt = co
                .yield_("g2 spam")
                .and_then(|()| co.yield_("g2 more spam"));
            match attempt {
                Err(e) if e.downcast_ref::<LunchError>().is_some() => {
                    t2.push("Caught LunchError in g2");
                    co.yield_("g2 lunch saved")?;
                    co.yield_("g2 yet more spam")?;
                    Ok(())
                }
                other => other,
            }
        }))?;
        co.yield_("g1 eggs")?;
        Ok(())
    });
    next_twice(&g, &trace);
    // The value yielded by the throw ("g2 lunch saved") is not traced, as in the original.
    assert_eq!(
        g.throw(LunchError::err("tomato ejected")).unwrap(),
        Yielded("g2 lunch saved")
    );
    drive(&g, &trace).unwrap();
    assert_eq!(
        trace.take(),
        [
            "Starting g1",
            "Yielded g1 ham",
            "Starting g2",
            "Yielded g2 spam",
            "Caught LunchError in g2",
            "Yielded g2 yet more spam",
            "Yielded g1 eggs",
            "Finishing g1"
        ]
    );
}

const RETURN_VALUES: [Option<&str>; 4] = [None, Some("1"), Some("(2,)"), Some("StopIteration(3)")];

fn stop_iteration(r: Option<&str>) -> String {
    format!("StopIteration({})", r.unwrap_or(""))
}

#[test]
fn test_next_and_return_with_value() {
    let trace = Trace::default();
    for r in RETURN_VALUES {
        let t = trace.clone();
        let gi = Generator::new(move |co| {
            t.push("g starting");
            co.yield_(())?;
            t.push(format!("g returning {}", r.unwrap_or("None")));
            Ok(r)
        });
        gi.start().unwrap();
        trace.push("f resuming g");
        match gi.send(()).unwrap() {
            Complete(v) => trace.push(format!("f caught {}", stop_iteration(v))),
            Yielded(()) => trace.push("f SHOULD NOT BE HERE"),
        }
    }
    let mut expected = vec![];
    for r in RETURN_VALUES {
        expected.extend([
            "g starting".to_string(),
            "f resuming g".into(),
            format!("g returning {}", r.unwrap_or("None")),
            format!("f caught {}", stop_iteration(r)),
        ]);
    }
    assert_eq!(trace.take(), expected);
}

#[test]
fn test_send_and_return_with_value() {
    let trace = Trace::default();
    for r in RETURN_VALUES {
        let t = trace.clone();
        let gi = Generator::new(move |co: &Co<(), &'static str>| {
            t.push("g starting");
            let x = co.yield_(())?;
            t.push(format!("g received '{x}'"));
            t.push(format!("g returning {}", r.unwrap_or("None")));
            Ok(r)
        });
        gi.start().unwrap();
        trace.push("f sending spam to g");
        match gi.send("spam").unwrap() {
            Complete(v) => trace.push(format!("f caught {}", stop_iteration(v))),
            Yielded(()) => trace.push("f SHOULD NOT BE HERE"),
        }
    }
    let mut expected = vec![];
    for r in RETURN_VALUES {
        expected.extend([
            "g starting".to_string(),
            "f sending spam to g".into(),
            "g received 'spam'".into(),
            format!("g returning {}", r.unwrap_or("None")),
            format!("f caught {}", stop_iteration(r)),
        ]);
    }
    assert_eq!(trace.take(), expected);
}

#[test]
fn test_catching_exception_from_subgen_and_returning() {
    for value in ["2", "(2,)", "StopIteration(2)"] {
        let trace = Trace::default();
        let t = trace.clone();
        let g = Generator::new(move |co| {
            let t2 = t.clone();
            let v = co.yield_from(Generator::new(move |co| {
                if let Err(e) = co.yield_("1".to_string()) {
                    assert!(e.downcast_ref::<ValueError>().is_some());
                    t2.push("inner caught ValueError");
                }
                Ok(value)
            }))?;
            t.push(format!("inner returned {v} to outer"));
            co.yield_(v.to_string())?;
            Ok(())
        });
        let first = g.send(()).unwrap();
        trace.push(format!("{first:?}"));
        let thrown = g.throw(ValueError::err("")).unwrap();
        trace.push(format!("{thrown:?}"));
        assert_eq!(
            trace.take(),
            [
                "Yielded(\"1\")".to_string(),
                "inner caught ValueError".into(),
                format!("inner returned {value} to outer"),
                format!("Yielded({value:?})"),
            ]
        );
    }
}

/// f() of the three GeneratorExit tests: `on_exit` says what f does when it catches it.
fn exit_catcher(trace: &Trace, on_exit: fn(&Co<(), ()>) -> Result<(), GenError>) -> Generator<()> {
    let (t, t2) = (trace.clone(), trace.clone());
    let f = Generator::new(move |co: &Co<(), ()>| {
        t2.push("Enter f");
        match co.yield_(()) {
            Ok(()) => {
                t2.push("Exit f");
                Ok(())
            }
            Err(GenError::Exit) => on_exit(co),
            Err(e) => Err(e),
        }
    });
    let g = Generator::new(move |co| {
        t.push("Enter g");
        co.yield_from(f)?;
        t.push("Exit g");
        Ok(())
    });
    g.start().unwrap();
    g
}

#[test]
fn test_throwing_GeneratorExit_into_subgen_that_returns() {
    let trace = Trace::default();
    let g = exit_catcher(&trace, |_| Ok(()));
    let err = g
        .throw(GenError::Exit)
        .expect_err("subgenerator failed to raise GeneratorExit");
    assert!(err.is_exit(), "{err:?}");
    assert_eq!(trace.take(), ["Enter g", "Enter f"]);
}

#[test]
fn test_throwing_GeneratorExit_into_subgenerator_that_yields() {
    let trace = Trace::default();
    let g = exit_catcher(&trace, |co| co.yield_(()));
    let err = g
        .throw(GenError::Exit)
        .expect_err("subgenerator failed to raise GeneratorExit");
    assert_eq!(err.to_string(), "generator ignored GeneratorExit");
    assert_eq!(trace.take(), ["Enter g", "Enter f"]);
}

#[test]
fn test_throwing_GeneratorExit_into_subgen_that_raises() {
    let trace = Trace::default();
    let g = exit_catcher(&trace, |_| Err(ValueError::err("Vorpal bunny encountered")));
    let err = g
        .throw(GenError::Exit)
        .expect_err("subgenerator failed to raise ValueError");
    assert_eq!(message_of::<ValueError>(&err), "Vorpal bunny encountered");
    assert_eq!(trace.take(), ["Enter g", "Enter f"]);
}

#[test]
fn test_yield_from_empty() {
    let g = Generator::new(|co: &Co<i32, ()>| co.yield_from(from_iter(std::iter::empty())));
    assert_eq!(g.start().unwrap(), Complete(()));
    assert!(matches!(g.send(()), Err(GenError::Finished)));
}

#[test]
fn test_delegating_generators_claim_to_be_running() {
    // Check with basic iteration, then with send: two() tries to yield from
    // the running g1, gets "already executing", and goes on.
    fn one_two(g1: Shared<Generator<i32>>) -> Generator<i32> {
        Generator::new(move |co| {
            co.yield_(0)?;
            let g1 = g1.clone();
            co.yield_from(Generator::new(move |co| {
                co.yield_(1)?;
                match co.yield_from(g1.get().unwrap()) {
                    Err(GenError::AlreadyRunning) => {}
                    other => panic!("expected ValueError, got {other:?}"),
                }
                co.yield_(2)
            }))?;
            co.yield_(3)
        })
    }
    let cell: Shared<Generator<i32>> = Rc::default();
    assert!(cell.set(one_two(cell.clone())).is_ok());
    assert_eq!(cell.get().unwrap().collect::<Vec<_>>(), [0, 1, 2, 3]);

    let cell: Shared<Generator<i32>> = Rc::default();
    assert!(cell.set(one_two(cell.clone())).is_ok());
    let g1 = cell.get().unwrap();
    let mut res = vec![];
    while let Yielded(y) = g1.send(()).unwrap() {
        res.push(y);
    }
    assert_eq!(res, [0, 1, 2, 3]);

    // Check with throw.
    fn swallow(r: Result<(), GenError>) -> Result<(), GenError> {
        match r {
            Err(e) if e.downcast_ref::<MyErr>().is_some() => Ok(()),
            other => other,
        }
    }
    let cell: Shared<Generator<i32>> = Rc::default();
    let g1c = cell.clone();
    let one = Generator::new(move |co| {
        swallow(co.yield_(0))?;
        let g1c = g1c.clone();
        co.yield_from(Generator::new(move |co| {
            swallow(co.yield_(1))?;
            match co.yield_from(g1c.get().unwrap()) {
                Err(GenError::AlreadyRunning) => {}
                other => panic!("expected ValueError, got {other:?}"),
            }
            swallow(co.yield_(2))
        }))?;
        swallow(co.yield_(3))
    });
    assert!(cell.set(one).is_ok());
    let g1 = cell.get().unwrap();
    let Yielded(first) = g1.start().unwrap() else {
        panic!()
    };
    let mut res = vec![first];
    while let Yielded(y) = g1.throw(MyErr::err("")).unwrap() {
        res.push(y);
    }
    assert_eq!(res, [0, 1, 2, 3]);

    // Check with close: MyIt's close sees g1 running and cannot resume it.
    struct MyIt(Shared<Generator<i32>>, Trace);
    impl Subgenerator<i32, ()> for MyIt {
        type Return = ();
        fn resume(&mut self, _: Resume<()>) -> Result<GeneratorState<i32, ()>, GenError> {
            Ok(Yielded(42))
        }
        fn close(&mut self) -> Result<(), GenError> {
            let g1 = self.0.get().unwrap();
            assert!(g1.is_running());
            assert!(matches!(g1.send(()), Err(GenError::AlreadyRunning)));
            self.1.push("MyIt closed");
            Ok(())
        }
    }
    let trace = Trace::default();
    let cell: Shared<Generator<i32>> = Rc::default();
    let it = MyIt(cell.clone(), trace.clone());
    assert!(
        cell.set(Generator::new(move |co| co.yield_from(it)))
            .is_ok()
    );
    let g1 = cell.get().unwrap();
    g1.start().unwrap();
    g1.close().unwrap();
    assert_eq!(trace.take(), ["MyIt closed"]);
}

/// The names of the functions on the current call stack (Python's inspect.stack()).
fn call_stack() -> String {
    std::backtrace::Backtrace::force_capture().to_string()
}

fn spam(g: Generator<String>) -> Generator<String> {
    Generator::new(move |co| co.yield_from(g))
}

fn eggs(g: Generator<String>) -> Generator<String> {
    Generator::new(move |co| co.yield_from(g))
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "an optimised build inlines the delegating closures and has no debug info to name inlined frames"
)]
fn test_delegator_is_visible_to_debugger() {
    let gen_ = || {
        Generator::new(|co| {
            for _ in 0..3 {
                co.yield_(call_stack())?;
            }
            Ok(())
        })
    };
    // Each generator has its own stack, but a backtrace walks from the
    // innermost stack into the ones that resumed it.
    for stack in spam(gen_()) {
        assert!(stack.contains("pep380::spam"), "{stack}");
    }
    for stack in spam(eggs(gen_())) {
        assert!(
            stack.contains("pep380::spam") && stack.contains("pep380::eggs"),
            "{stack}"
        );
    }
}

#[test]
fn test_custom_iterator_return() {
    struct MyIter;
    impl Subgenerator<(), ()> for MyIter {
        type Return = i32;
        fn resume(&mut self, _: Resume<()>) -> Result<GeneratorState<(), i32>, GenError> {
            Ok(Complete(42))
        }
    }
    let ret = Rc::new(OnceCell::new());
    let r = ret.clone();
    let g = Generator::new(move |co| {
        r.set(co.yield_from(MyIter)?).unwrap();
        Ok(())
    });
    assert_eq!(g.count(), 0);
    assert_eq!(ret.get(), Some(&42));
}

/// What is sent into the chain: `outer` receives the generator to delegate to.
struct Msg(Option<Generator<(), Msg>>);

#[test]
fn test_close_with_cleared_frame() {
    let trace = Trace::default();
    let t = trace.clone();
    let innermost = Generator::new(move |co: &Co<(), Msg>| {
        let _finally = t.finally("innermost cleaned up");
        co.yield_(())?;
        Ok(())
    });
    let t = trace.clone();
    let inner_gen = Generator::new(move |co: &Co<(), Msg>| {
        let _finally = t.finally("inner cleaned up");
        let _outer = co.yield_(())?;
        co.yield_from(innermost)
    });
    let t = trace.clone();
    let outer_gen = Generator::new(move |co: &Co<(), Msg>| {
        let _finally = t.finally("outer cleaned up");
        match co.yield_(())? {
            Msg(Some(inner)) => co.yield_from(inner),
            Msg(None) => Ok(()),
        }
    });
    outer_gen.start().unwrap();
    outer_gen.send(Msg(Some(inner_gen))).unwrap();
    outer_gen.send(Msg(None)).unwrap();
    drop(outer_gen);
    assert_eq!(
        trace.take(),
        [
            "innermost cleaned up",
            "inner cleaned up",
            "outer cleaned up"
        ]
    );
}

#[test]
fn test_send_tuple_with_custom_generator() {
    type Tuple = (i32, i32, i32, i32);
    struct MyGen(Rc<OnceCell<Tuple>>);
    impl Subgenerator<i32, Tuple> for MyGen {
        type Return = ();
        fn resume(&mut self, how: Resume<Tuple>) -> Result<GeneratorState<i32, ()>, GenError> {
            match how {
                Resume::Start => Ok(Yielded(42)),
                Resume::Send(what) => {
                    self.0.set(what).unwrap();
                    Ok(Yielded(0))
                }
                Resume::Throw(e) => Err(e),
            }
        }
    }
    let v = Rc::new(OnceCell::new());
    let it = MyGen(v.clone());
    let g = Generator::new(move |co: &Co<i32, Tuple>| co.yield_from(it));
    g.start().unwrap();
    g.send((1, 2, 3, 4)).unwrap();
    assert_eq!(v.get(), Some(&(1, 2, 3, 4)));
}
