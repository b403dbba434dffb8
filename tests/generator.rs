//! Generator behaviours beyond PEP 380's suite: laziness, panics, close and
//! drop running destructors, re-entrancy, and the stackful signature (a
//! yield from inside plain nested functions).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use yieldfrom::{Co, GenError, Generator, GeneratorState, GeneratorState::*};

/// Counts drops, to prove cleanup ran.
struct DropCounter(Rc<Cell<usize>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// A generator that yields 1, and a flag its body sets when it runs.
fn flagging_generator() -> (Generator<i32>, Rc<Cell<bool>>) {
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let g = Generator::new(move |co: &Co<i32, ()>| {
        r.set(true);
        co.yield_(1)?;
        Ok(())
    });
    (g, ran)
}

#[test]
fn creating_a_generator_runs_nothing() {
    let (g, ran) = flagging_generator();
    assert!(!ran.get());
    assert!(g.is_created());
    assert_eq!(g.start().unwrap(), Yielded(1));
    assert!(ran.get());
}

#[test]
fn the_first_send_starts_the_body_and_its_value_is_dropped() {
    let g = Generator::new(|co: &Co<String, String>| {
        let got = co.yield_("started".into())?;
        Ok(got)
    });
    assert_eq!(g.send("dropped".into()).unwrap(), Yielded("started".into()));
    assert_eq!(g.send("kept".into()).unwrap(), Complete("kept".into()));
}

/// Plain functions, not generators, several calls deep: they pause the generator.
fn level3(co: &Co<u32, ()>, n: u32) -> Result<(), GenError> {
    co.yield_(n * 100)
}
fn level2(co: &Co<u32, ()>, n: u32) -> Result<(), GenError> {
    level3(co, n + 1)?;
    level3(co, n + 2)
}

#[test]
fn a_yield_deep_inside_plain_functions_pauses_the_whole_stack() {
    let g = Generator::new(|co: &Co<u32, ()>| {
        level2(co, 0)?;
        level2(co, 10)
    });
    assert_eq!(g.collect::<Vec<_>>(), [100, 200, 1100, 1200]);
}

#[test]
fn a_panic_propagates_out_of_send_and_finishes_the_generator() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let g = Generator::new(move |co: &Co<i32, ()>| {
        let _guard = DropCounter(d);
        co.yield_(1)?;
        panic!("body exploded");
        #[allow(unreachable_code)]
        Ok(())
    });
    assert_eq!(g.start().unwrap(), Yielded(1));
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.send(()))).unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"body exploded"));
    assert_eq!(
        drops.get(),
        1,
        "the body's destructors ran during the unwind"
    );
    assert!(g.is_finished());
    assert!(matches!(g.send(()), Err(GenError::Finished)));
}

#[test]
fn close_runs_destructors_of_a_suspended_body() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let g = Generator::new(move |co: &Co<i32, ()>| {
        let _a = DropCounter(d.clone());
        let _b = DropCounter(d.clone());
        loop {
            co.yield_(0)?;
        }
        #[allow(unreachable_code)]
        Ok(())
    });
    g.start().unwrap();
    g.close().unwrap();
    assert_eq!(drops.get(), 2);
    assert!(g.is_finished());
    g.close().unwrap(); // closing again does nothing
}

#[test]
fn close_of_a_body_that_yields_again_is_an_error() {
    let g = Generator::new(|co: &Co<i32, ()>| {
        loop {
            let _ = co.yield_(0); // swallows Exit
        }
        #[allow(unreachable_code)]
        Ok(())
    });
    g.start().unwrap();
    let err = g.close().unwrap_err();
    assert!(matches!(err, GenError::IgnoredExit));
    assert_eq!(err.to_string(), "generator ignored GeneratorExit");
    assert!(g.is_suspended(), "as in Python, the generator stays paused");
}

#[test]
fn dropping_a_suspended_generator_closes_it_and_runs_its_destructors() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let seen_exit = Rc::new(Cell::new(false));
    let s = seen_exit.clone();
    let g = Generator::new(move |co: &Co<i32, ()>| {
        let _guard = DropCounter(d);
        if let Err(e) = co.yield_(1) {
            s.set(e.is_exit());
        }
        Ok(())
    });
    g.start().unwrap();
    drop(g);
    assert_eq!(drops.get(), 1);
    assert!(
        seen_exit.get(),
        "drop closes it, as Python's finaliser does: the body sees Exit"
    );
}

#[test]
fn dropping_an_unstarted_generator_drops_its_captures() {
    let drops = Rc::new(Cell::new(0));
    let guard = DropCounter(drops.clone());
    let g = Generator::new(move |co: &Co<i32, ()>| {
        let _g = &guard;
        co.yield_(1)?;
        Ok(())
    });
    drop(g);
    assert_eq!(drops.get(), 1);
}

#[test]
fn throw_into_an_unstarted_generator_finishes_it_without_running() {
    let (g, ran) = flagging_generator();
    let err = g.throw(GenError::msg("early")).unwrap_err();
    assert_eq!(err.to_string(), "early");
    assert!(!ran.get());
    assert!(g.is_finished());
}

#[test]
fn a_thrown_error_can_be_handled_and_the_body_goes_on() {
    let g = Generator::new(|co: &Co<&str, ()>| {
        match co.yield_("first") {
            Err(e) if e.to_string() == "handled" => co.yield_("recovered")?,
            other => other?,
        }
        Ok("returned")
    });
    g.start().unwrap();
    assert_eq!(
        g.throw(GenError::msg("handled")).unwrap(),
        Yielded("recovered")
    );
    assert_eq!(g.send(()).unwrap(), Complete("returned"));
}

#[test]
fn resuming_itself_from_inside_is_a_clear_error() {
    let slot: Rc<RefCell<Option<Rc<Generator<i32>>>>> = Rc::default();
    let s = slot.clone();
    let g = Rc::new(Generator::new(move |co| {
        let me = s.borrow().clone().expect("set");
        let err = me.send(()).unwrap_err();
        assert!(matches!(err, GenError::AlreadyRunning));
        assert!(me.is_running());
        co.yield_(7)?;
        Ok(())
    }));
    *slot.borrow_mut() = Some(g.clone());
    assert_eq!(g.start().unwrap(), Yielded(7));
    slot.borrow_mut().take();
}

#[test]
fn generators_reuse_pooled_stacks() {
    // Warm the pool, then create and finish many generators: no new mappings.
    for _ in 0..4 {
        Generator::new(|co: &Co<i32, ()>| co.yield_(1)).count();
    }
    let before = yieldfrom::stack::stats();
    for i in 0..10_000 {
        let g = Generator::new(move |co: &Co<i32, ()>| co.yield_(i));
        assert_eq!(g.count(), 1);
    }
    let after = yieldfrom::stack::stats();
    assert_eq!(before.mapped, after.mapped, "{before:?} -> {after:?}");
    assert_eq!(after.in_use, before.in_use);
}

#[test]
fn the_name_is_the_enclosing_function() {
    let g = Generator::new(|co: &Co<i32, ()>| co.yield_(1));
    assert_eq!(g.name(), "the_name_is_the_enclosing_function");
    let named = Generator::named("custom", |co: &Co<i32, ()>| co.yield_(1));
    assert_eq!(named.name(), "custom");
}

/// An error that counts its drops (it must be `Send + Sync` to be raised).
#[derive(Debug)]
struct CountedError(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl std::fmt::Display for CountedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("counted")
    }
}

impl std::error::Error for CountedError {}

impl Drop for CountedError {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_raised_error_reads_as_itself_and_is_dropped_exactly_once() {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let drops = std::sync::Arc::new(AtomicUsize::new(0));

    // Thrown in, unhandled: it comes back out of `throw` as the same error.
    let g = Generator::new(|co: &Co<i32, ()>| {
        co.yield_(1)?;
        Ok(())
    });
    g.start().unwrap();
    let err = g
        .throw(GenError::raise(CountedError(drops.clone())))
        .unwrap_err();
    assert_eq!(err.to_string(), "counted");
    assert!(format!("{err:?}").contains("CountedError"));
    let GenError::Raised(raised) = &err else {
        panic!("expected Raised, got {err:?}");
    };
    // `Raised` derefs to the error itself.
    assert!(raised.downcast_ref::<CountedError>().is_some());
    assert!(err.downcast_ref::<CountedError>().is_some());
    assert_eq!(drops.load(SeqCst), 0);
    drop(err);
    assert_eq!(drops.load(SeqCst), 1);

    // Thrown in and handled: the body drops it, once.
    let g = Generator::new(|co: &Co<i32, ()>| {
        if co.yield_(1).is_err() {
            co.yield_(2)?;
        }
        Ok(())
    });
    g.start().unwrap();
    let next = g.throw(GenError::raise(CountedError(drops.clone())));
    assert_eq!(next.unwrap(), Yielded(2));
    assert_eq!(drops.load(SeqCst), 2);

    // Thrown into a finished generator: returned as is, not dropped on the way.
    assert!(matches!(g.send(()), Ok(Complete(()))));
    let err = g
        .throw(GenError::raise(CountedError(drops.clone())))
        .unwrap_err();
    assert_eq!(drops.load(SeqCst), 2);
    assert!(err.downcast_ref::<CountedError>().is_some());
    drop(err);
    assert_eq!(drops.load(SeqCst), 3);
}

#[test]
fn send_reports_every_state_it_cannot_resume() {
    // Unstarted: the send starts the body and its value is dropped.
    let dropped = Rc::new(Cell::new(0));
    let g = Generator::new(|co: &Co<i32, DropCounter>| {
        let kept = co.yield_(1)?;
        drop(kept);
        Ok(())
    });
    assert_eq!(g.send(DropCounter(dropped.clone())).unwrap(), Yielded(1));
    assert_eq!(dropped.get(), 1, "the starting send's value is dropped");
    assert_eq!(g.send(DropCounter(dropped.clone())).unwrap(), Complete(()));
    assert_eq!(dropped.get(), 2);
    // Finished: an error, and the value is dropped, not kept.
    assert!(matches!(
        g.send(DropCounter(dropped.clone())),
        Err(GenError::Finished)
    ));
    assert_eq!(dropped.get(), 3);
}

#[test]
fn yield_from_an_exhausted_generator_is_never_a_silent_end() {
    // CPython evaluates `yield from exhausted` to None; here yield_from
    // returns Err(Finished), which the body may handle ...
    let done: Generator<i32, (), ()> = Generator::new(|_| Ok(()));
    assert_eq!(done.send(()).unwrap(), GeneratorState::Complete(()));
    let outer = Generator::new(move |co: &Co<i32, ()>| {
        co.yield_(1)?;
        match co.yield_from(&done) {
            Err(GenError::Finished) => co.yield_(2)?,
            other => panic!("expected Finished, got {other:?}"),
        }
        co.yield_(3)?;
        Ok(())
    });
    assert_eq!(
        (&outer).collect::<Vec<_>>(),
        [1, 2, 3],
        "handled: it goes on, as CPython does"
    );

    // ... and propagated with `?` it ends the outer generator with the PEP 479
    // error, not as if the outer body had returned.
    let done: Generator<i32, (), ()> = Generator::new(|_| Ok(()));
    done.send(()).unwrap();
    let outer = Generator::new(move |co: &Co<i32, ()>| {
        co.yield_(1)?;
        co.yield_from(&done)?;
        co.yield_(2)?;
        Ok(())
    });
    assert_eq!(outer.send(()).unwrap(), GeneratorState::Yielded(1));
    let err = outer.send(()).unwrap_err();
    assert!(matches!(err, GenError::RaisedFinished), "{err:?}");
    assert!(err.to_string().contains("generator raised StopIteration"));
    // Iterating it panics (an Iterator has no error channel) instead of stopping early.
    let done: Generator<i32, (), ()> = Generator::new(|_| Ok(()));
    done.send(()).unwrap();
    let outer = Generator::new(move |co: &Co<i32, ()>| {
        co.yield_(1)?;
        co.yield_from(&done)?;
        Ok(())
    });
    let collected = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        (&outer).collect::<Vec<_>>()
    }));
    assert!(collected.is_err(), "no silent truncation to [1]");
}

#[test]
fn a_subgenerator_closed_by_its_other_owner_mid_delegation_is_reported() {
    let inner = Rc::new(Generator::new(|co: &Co<i32, ()>| {
        co.yield_(1)?;
        co.yield_(2)?;
        Ok(())
    }));
    let shared = inner.clone();
    let outer = Generator::new(move |co: &Co<i32, ()>| {
        co.yield_from(shared)?;
        co.yield_(99)?;
        Ok(())
    });
    assert_eq!(outer.send(()).unwrap(), GeneratorState::Yielded(1));
    inner.close().unwrap(); // the other owner closes it
    let err = outer.send(()).unwrap_err();
    assert!(matches!(err, GenError::RaisedFinished), "{err:?}");
}

#[test]
fn a_send_on_an_exhausted_generator_inside_a_body_is_not_the_body_returning() {
    let spent: Rc<Generator<i32, (), ()>> = Rc::new(Generator::new(|_| Ok(())));
    spent.send(()).unwrap();
    let s = spent.clone();
    let outer = Generator::new(move |co: &Co<i32, ()>| {
        // Closing: the body's cleanup sends to a spent generator and
        // propagates what it got.
        if let Err(GenError::Exit) = co.yield_(1) {
            s.send(())?;
        }
        Ok(())
    });
    assert_eq!(outer.send(()).unwrap(), GeneratorState::Yielded(1));
    let closed = outer.close();
    assert!(
        matches!(closed, Err(GenError::RaisedFinished)),
        "close does not report success: {closed:?}"
    );
    // After that, Finished out of send is this generator's own end.
    assert!(matches!(outer.send(()), Err(GenError::Finished)));
}

#[test]
fn dropping_a_generator_whose_cleanup_yields_reports_and_goes_on() {
    struct YieldsInDrop<'a>(&'a Co<i32, ()>);
    impl Drop for YieldsInDrop<'_> {
        fn drop(&mut self) {
            // The translation of `finally: yield 99`.
            let _ = self.0.yield_(99);
        }
    }
    let cleaned = Rc::new(std::cell::Cell::new(false));
    let c = cleaned.clone();
    let (_, warned) = yieldfrom::warnings::catch(|| {
        let g = Generator::named("stubborn", move |co: &Co<i32, ()>| {
            let _guard = YieldsInDrop(co);
            let _flag = scopeguard(c);
            co.yield_(1)?;
            Ok(())
        });
        assert_eq!(g.send(()).unwrap(), GeneratorState::Yielded(1));
        drop(g); // used to abort: "panic in a destructor during cleanup"
    });
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("dropping generator 'stubborn'")
            && warned[0].contains("ignored GeneratorExit"),
        "{warned:?}"
    );
    assert!(cleaned.get(), "the cleanup before the yielding one ran");

    // close() on the same body is CPython's: IgnoredExit, body still paused.
    let g = Generator::new(|co: &Co<i32, ()>| {
        let _guard = YieldsInDrop(co);
        co.yield_(1)?;
        Ok(())
    });
    g.send(()).unwrap();
    assert!(matches!(g.close(), Err(GenError::IgnoredExit)));
    // Dropped now, it is closed once more (as Python's finaliser does after a
    // failed close): the yield in the cleanup gets Exit, the cleanup ends,
    // the body finishes, and there is nothing to report.
    let (_, warned) = yieldfrom::warnings::catch(|| drop(g));
    assert!(warned.is_empty(), "{warned:?}");
}

#[test]
fn dropping_a_suspended_generator_delivers_exit_as_python_does() {
    let saw_exit = Rc::new(std::cell::Cell::new(false));
    let s = saw_exit.clone();
    let g = Generator::new(move |co: &Co<i32, ()>| {
        if let Err(e) = co.yield_(1) {
            s.set(e.is_exit());
            return Err(e);
        }
        Ok(())
    });
    g.send(()).unwrap();
    let (_, warned) = yieldfrom::warnings::catch(|| drop(g));
    assert!(saw_exit.get(), "the body saw GeneratorExit");
    assert!(warned.is_empty(), "{warned:?}");
}

/// Sets the flag when dropped.
fn scopeguard(flag: Rc<std::cell::Cell<bool>>) -> impl Drop {
    struct Set(Rc<std::cell::Cell<bool>>);
    impl Drop for Set {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    Set(flag)
}

/// Python mixes `next(g)` (which is `g.send(None)`) and `g.send(v)` on one
/// generator; with `S = Option<T>`, `next_default` is `next`. `start` (and
/// iteration) on a paused generator of another send type say what to do.
#[test]
fn next_default_sends_none_and_start_on_a_valued_yield_says_send_one() {
    use yieldfrom::{Generator, GeneratorState::*};
    let log = Generator::new(|co| {
        let mut seen = Vec::new();
        for _ in 0..3 {
            let got: Option<&str> = co.yield_(seen.len())?;
            seen.push(got);
        }
        Ok(seen)
    });
    assert_eq!(log.next_default().unwrap(), Yielded(0));
    assert_eq!(log.send(Some("a")).unwrap(), Yielded(1));
    assert_eq!(log.next_default().unwrap(), Yielded(2));
    assert_eq!(
        log.send(Some("b")).unwrap(),
        Complete(vec![Some("a"), None, Some("b")])
    );
    let valued = Generator::new(|co| {
        let n: i32 = co.yield_(())?;
        Ok(n)
    });
    valued.start().unwrap();
    let e = valued.start().unwrap_err();
    assert!(e.to_string().contains("expects a value: send() one"), "{e}");
    assert_eq!(valued.send(4).unwrap(), Complete(4));
}
