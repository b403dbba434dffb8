//! Generators: Python's `yield`, `send`, `throw`, `close` and PEP 380's
//! `yield from`, on a stack of their own.
//!
//! A [`Generator`] is a body that can pause. Creating one runs nothing; each
//! [`send`](Generator::send) runs the body until its next
//! [`co.yield_(v)`](Co::yield_), which hands `v` out and waits for the next
//! send. The body runs on its own stack (from the [pool](crate::stack)), so it
//! can pause from inside any plain function it calls: the pause is a stack
//! switch, not a return.
//!
//! ```text
//!             send(x)                 send(y)
//!   Created ----------> Running -----------------> ... --> Finished
//!      |        (body starts;  |  ^                          ^
//!      |         x is dropped) |  | send / throw             | return, error,
//!      |                yield_ |  |                          | panic, close
//!      |                       v  |                          |
//!      +-- close/throw ---> Suspended -----------------------+
//! ```
//!
//! # Exceptions are `Result`s
//!
//! Python delivers `gen.throw(e)` as an exception raised at the paused `yield`.
//! Here `co.yield_(v)` returns `Result<S, GenError>`: `Ok(s)` for a sent value,
//! `Err(e)` for a thrown one. The body is a closure returning
//! `Result<R, GenError>`, so `?` propagates a thrown error out of the body and
//! out of the `throw` call, exactly as an unhandled exception would; a `match`
//! handles it like `except`. Cleanup that Python writes in `finally` is a
//! destructor (a guard value) here, and runs on every way out: return, error,
//! panic, [`close`](Generator::close) and drop. `docs/src/generators.md` says
//! why this beats unwinding with a panic payload.
//!
//! # Delegation (PEP 380)
//!
//! [`co.yield_from(sub)`](Co::yield_from) runs a subgenerator to completion:
//! its yields go straight out to whoever drives the outer generator, every
//! `send` and `throw` goes straight in to it, a `close` closes it first, and
//! its return value becomes the value of `yield_from`. Anything implementing
//! [`Subgenerator`] can be delegated to: generators (owned, borrowed or in an
//! `Rc`) and plain iterators through [`from_iter`].

use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::fmt;

use corosensei::Coroutine;

use crate::stack::PooledStack;

pub(crate) mod adapters;
mod build;
mod co;
pub(crate) mod delegation;
mod error;
mod switch;

pub use self::co::{Co, Resume};
use self::co::{Inbox, Input};
pub use self::error::GenError;

/// What a resumed generator did: paused with a value, or finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeneratorState<Y, R> {
    /// The body called `co.yield_(value)` and is paused there.
    Yielded(Y),
    /// The body returned this value (Python: `StopIteration(value)`).
    Complete(R),
}

/// Where the body is (Python's `gi_running`, `gi_suspended`, ...).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Created,
    Suspended,
    Running,
    Finished,
}

type Body<Y, S, R> = Coroutine<Input<S>, Y, Result<R, GenError>, PooledStack>;

/// A pausable body on its own stack: Python's generator object.
///
/// `Y` is what it yields, `S` what [`send`](Self::send) passes in (the value of
/// `co.yield_`), `R` what it returns. Every method takes `&self`, as Python's
/// generators are shared objects; resuming a generator that is running is the
/// error [`GenError::AlreadyRunning`], never undefined behaviour.
///
/// ```
/// use yieldfrom::{Generator, GenError};
///
/// let countdown = Generator::new(|co| {
///     for n in (1..=3).rev() {
///         co.yield_(n)?;
///     }
///     Ok(())
/// });
/// assert_eq!(countdown.collect::<Vec<i32>>(), [3, 2, 1]);
/// ```
pub struct Generator<Y, S = (), R = ()> {
    /// The body's coroutine on its own stack (`None` once it has finished).
    body: UnsafeCell<Option<Body<Y, S, R>>>,
    /// Where `throw` leaves its error for the body to take.
    inbox: Inbox,
    /// Created, suspended, running or finished (Python's `gi_running`, ...).
    state: Cell<State>,
    /// Its name in messages (Python's `__name__`).
    name: &'static str,
}

impl<Y, S: 'static, R> Generator<Y, S, R> {
    /// The generator's name (Python: `__name__`).
    ///
    /// ```
    /// use yieldfrom::Generator;
    /// fn numbers() -> Generator<u8> {
    ///     Generator::named("numbers", |co| { co.yield_(1)?; Ok(()) })
    /// }
    /// assert_eq!(numbers().name(), "numbers");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether the body is executing right now (Python: `gi_running`).
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use yieldfrom::Generator;
    /// // Inside its own body, a generator is running (Python: `gi_running`).
    /// let me: Rc<RefCell<Option<Rc<Generator<bool>>>>> = Rc::default();
    /// let m = me.clone();
    /// let g = Rc::new(Generator::new(move |co| {
    ///     let running = m.borrow().as_ref().unwrap().is_running();
    ///     co.yield_(running)?;
    ///     Ok(())
    /// }));
    /// *me.borrow_mut() = Some(g.clone());
    /// assert_eq!(g.start().unwrap(), yieldfrom::GeneratorState::Yielded(true));
    /// assert!(!g.is_running());
    /// # me.borrow_mut().take();
    /// ```
    pub fn is_running(&self) -> bool {
        self.state.get() == State::Running
    }

    /// Whether the body has not started yet.
    ///
    /// ```
    /// use yieldfrom::Generator;
    /// let g: Generator<u8> = Generator::new(|co| { co.yield_(1)?; Ok(()) });
    /// assert!(g.is_created()); // nothing has run yet
    /// g.start().unwrap();
    /// assert!(!g.is_created());
    /// ```
    pub fn is_created(&self) -> bool {
        self.state.get() == State::Created
    }

    /// Whether the body is paused at a yield.
    ///
    /// ```
    /// use yieldfrom::Generator;
    /// let g: Generator<u8> = Generator::new(|co| { co.yield_(1)?; Ok(()) });
    /// g.start().unwrap();
    /// assert!(g.is_suspended()); // paused at its yield
    /// ```
    pub fn is_suspended(&self) -> bool {
        self.state.get() == State::Suspended
    }

    /// Whether the body has finished (returned, raised, panicked or was closed).
    ///
    /// ```
    /// use yieldfrom::Generator;
    /// let g: Generator<u8> = Generator::new(|co| { co.yield_(1)?; Ok(()) });
    /// let all: Vec<u8> = (&g).collect();
    /// assert_eq!(all, [1]);
    /// assert!(g.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.state.get() == State::Finished
    }

    /// Resumes the body with `how`: the one place a generator is switched into.
    ///
    /// `Start` on an unstarted body starts it; `Send` on an unstarted body
    /// starts it and drops the value (Python allows only `None` there, which
    /// has no counterpart in every `S`); `Throw` on an unstarted body finishes
    /// it without running it and returns the error, as Python does.
    ///
    /// ```
    /// use yieldfrom::{Generator, GenError, GeneratorState::*, Resume};
    /// let g: Generator<u8, u8, u8> = Generator::new(|co| {
    ///     let got = co.yield_(1)?;
    ///     Ok(got * 2)
    /// });
    /// assert_eq!(g.resume(Resume::Start).unwrap(), Yielded(1));
    /// assert_eq!(g.resume(Resume::Send(21)).unwrap(), Complete(42));
    /// assert!(matches!(g.resume(Resume::Throw(GenError::msg("late"))), Err(_)));
    /// ```
    #[inline]
    pub fn resume(&self, how: Resume<S>) -> Result<GeneratorState<Y, R>, GenError> {
        let how = match (self.state.get(), how) {
            (State::Running, _) => return Err(GenError::AlreadyRunning),
            (State::Finished, Resume::Throw(e)) => return Err(e),
            (State::Finished, _) => return Err(GenError::Finished),
            (State::Created, Resume::Throw(e)) => {
                self.finish_unstarted();
                return Err(e);
            }
            (State::Created, _) => Resume::Start,
            (State::Suspended, Resume::Start) => match unit::<S>() {
                // Python's next() on a paused generator sends None; `()` is our None.
                Some(unit) => Resume::Send(unit),
                None => {
                    return Err(GenError::msg(format!(
                        "generator '{}' is paused at a yield that expects a value: send() one",
                        self.name
                    )));
                }
            },
            (State::Suspended, how) => how,
        };
        self.switch(how)
    }

    /// Starts the body (Python: the first `next(g)`), running it to its first yield.
    ///
    /// ```
    /// use yieldfrom::{Generator, GeneratorState::*};
    /// let g: Generator<&str> = Generator::new(|co| { co.yield_("first")?; Ok(()) });
    /// assert_eq!(g.start().unwrap(), Yielded("first"));
    /// ```
    pub fn start(&self) -> Result<GeneratorState<Y, R>, GenError> {
        self.resume(Resume::Start)
    }

    /// Python's `next(g)`, which is `g.send(None)`, for a send type with
    /// a default value to play `None`'s part: starts the body, or sends
    /// `S::default()` to the paused yield. With `S = Option<T>` that is
    /// `None`, so one generator takes both `next` and `send(Some(v))`, as a
    /// Python generator takes both `next(g)` and `g.send(v)`. ([`start`]
    /// and iteration send only `()`, since not every `S` has a `None`.)
    ///
    /// ```
    /// use yieldfrom::{Generator, GeneratorState::*};
    /// // Python: def running_total(): total = 0
    /// //             while True: got = yield total; total += got or 0
    /// let total = Generator::new(|co| {
    ///     let mut total = 0;
    ///     loop {
    ///         let got: Option<i32> = co.yield_(total)?;
    ///         total += got.unwrap_or(0);
    ///     }
    /// });
    /// assert_eq!(total.next_default().unwrap(), Yielded(0)); // next(g)
    /// assert_eq!(total.send(Some(5)).unwrap(), Yielded(5)); // g.send(5)
    /// assert_eq!(total.next_default().unwrap(), Yielded(5)); // next(g): None
    /// # let _: &Generator<i32, Option<i32>, ()> = &total;
    /// ```
    ///
    /// [`start`]: Self::start
    pub fn next_default(&self) -> Result<GeneratorState<Y, R>, GenError>
    where
        S: Default,
    {
        self.send(S::default())
    }

    /// Resumes the body with `value` (Python: `g.send(value)`).
    ///
    /// The first send starts the body (the value is dropped: Python allows only
    /// `None` there). Returns what the body did next; an error it raised comes
    /// back as `Err`, a panic unwinds out of this call and finishes the generator.
    ///
    /// ```
    /// use yieldfrom::{Generator, GeneratorState::*};
    /// let echo = Generator::new(|co| {
    ///     let mut got = co.yield_("ready")?;
    ///     loop { got = co.yield_(got)?; }
    /// });
    /// assert_eq!(echo.send("ignored").unwrap(), Yielded("ready"));
    /// assert_eq!(echo.send("hi").unwrap(), Yielded("hi"));
    /// # let _: &yieldfrom::Generator<&str, &str, ()> = &echo;
    /// ```
    // Always inlined: an out-of-line `send` returns its 24-byte result
    // through memory (see the book's decision log).
    #[inline(always)]
    pub fn send(&self, value: S) -> Result<GeneratorState<Y, R>, GenError> {
        let how = if self.state.get() == State::Suspended {
            Resume::Send(value)
        } else {
            // Out of line, and small enough to come back in registers. A
            // slow path returning the whole result would write it through a
            // pointer, and the fast path's result would then go through
            // memory too: the switch below is the one place it is built.
            self.send_not_suspended()?;
            drop(value);
            Resume::Start
        };
        self.switch(how)
    }

    /// `send` into a generator that is not paused at a yield: `Ok` if it has
    /// not started yet (the send starts it), the error to return otherwise.
    #[cold]
    #[inline(never)]
    fn send_not_suspended(&self) -> Result<(), GenError> {
        match self.state.get() {
            State::Created => Ok(()),
            State::Running => Err(GenError::AlreadyRunning),
            State::Finished => Err(GenError::Finished),
            State::Suspended => unreachable!("send resumes a suspended generator inline"),
        }
    }

    /// Raises `error` at the paused yield (Python: `g.throw(error)`).
    ///
    /// The body may handle it and yield again (`Ok(Yielded)`), return
    /// (`Ok(Complete)`), or let it propagate (`Err`).
    ///
    /// ```
    /// use yieldfrom::{Generator, GenError, GeneratorState::*};
    /// let careful: Generator<&str> = Generator::new(|co| {
    ///     match co.yield_("waiting") {
    ///         Err(e) if e.to_string() == "stop" => co.yield_("cleaned up").map(drop),
    ///         other => other,
    ///     }
    /// });
    /// careful.start().unwrap();
    /// assert_eq!(careful.throw(GenError::msg("stop")).unwrap(), Yielded("cleaned up"));
    /// ```
    pub fn throw(&self, error: GenError) -> Result<GeneratorState<Y, R>, GenError> {
        self.resume(Resume::Throw(error))
    }

    /// Finishes a paused body (Python: `g.close()`).
    ///
    /// Delivers [`GenError::Exit`] at the paused yield. The body finishing with
    /// `Exit` (the usual `?`) or with a return value is a clean close; another
    /// error is returned (a body that hit a finished generator meanwhile
    /// returns [`GenError::RaisedFinished`]); yielding again is
    /// [`GenError::IgnoredExit`] and leaves the body paused. An unstarted or
    /// finished generator just becomes finished. Destructors on the body's
    /// stack run as it finishes.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use yieldfrom::Generator;
    /// let closed = Rc::new(Cell::new(false));
    /// let c = closed.clone();
    /// let g: Generator<u8> = Generator::new(move |co| {
    ///     let r = co.yield_(1); // Err(GenError::Exit) when closed
    ///     c.set(r.as_ref().is_err_and(|e| e.is_exit()));
    ///     r
    /// });
    /// g.start().unwrap();
    /// g.close().unwrap();
    /// assert!(closed.get() && g.is_finished());
    /// ```
    pub fn close(&self) -> Result<(), GenError> {
        match self.state.get() {
            State::Finished => Ok(()),
            State::Running => Err(GenError::AlreadyRunning),
            State::Created => {
                self.finish_unstarted();
                Ok(())
            }
            State::Suspended => match self.resume(Resume::Throw(GenError::Exit)) {
                Ok(GeneratorState::Yielded(_)) => Err(GenError::IgnoredExit),
                Ok(GeneratorState::Complete(_)) | Err(GenError::Exit) => Ok(()),
                Err(e) => Err(e),
            },
        }
    }
}

/// `()` as an `S`, when `S` is `()`: the counterpart of Python's `None`.
fn unit<S: 'static>() -> Option<S> {
    let unit: Box<dyn Any> = Box::new(());
    unit.downcast::<S>().ok().map(|b| *b)
}

fn is_unit<S: 'static>(s: &S) -> bool {
    (s as &dyn Any).is::<()>()
}

/// `crate::module::function` from a closure's type name.
pub(crate) fn name_of<F>() -> &'static str {
    let full = std::any::type_name::<F>();
    let full = full.trim_end_matches("::{{closure}}");
    full.rsplit("::").next().unwrap_or(full)
}

opaque_debug!(Resume<S>, Co<Y, S>);

impl<Y, S, R> fmt::Debug for Generator<Y, S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generator")
            .field("name", &self.name)
            .field("state", &self.state.get())
            .finish()
    }
}
