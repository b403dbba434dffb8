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
use std::mem::MaybeUninit;

use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::stack::{PooledStack, StackError};

pub(crate) mod adapters;
mod co;
pub(crate) mod delegation;
mod error;

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

/// Sets the generator to `Finished` if a resume unwinds (a panic in the body).
struct FinishOnUnwind<'a>(&'a Cell<State>);

impl Drop for FinishOnUnwind<'_> {
    fn drop(&mut self) {
        self.0.set(State::Finished);
    }
}

impl<Y: 'static, S: 'static, R: 'static> Generator<Y, S, R> {
    /// Creates a generator from its body; nothing runs until the first send.
    ///
    /// The name in messages (stack overflow) is the enclosing function's;
    /// see [`named`](Self::named). Panics with a [`StackError`] message when no
    /// stack can be mapped; [`try_new`](Self::try_new) returns it instead.
    ///
    /// ```
    /// use yieldfrom::{Generator, GeneratorState::*};
    /// let squares = Generator::new(|co| {
    ///     for n in 1..=3 {
    ///         co.yield_(n * n)?;
    ///     }
    ///     Ok("done")
    /// });
    /// assert_eq!(squares.start().unwrap(), Yielded(1));
    /// assert_eq!(squares.send(()).unwrap(), Yielded(4));
    /// assert_eq!(squares.send(()).unwrap(), Yielded(9));
    /// assert_eq!(squares.send(()).unwrap(), Complete("done"));
    /// ```
    pub fn new<F>(body: F) -> Self
    where
        F: FnOnce(&Co<Y, S>) -> Result<R, GenError> + 'static,
    {
        Self::build(name_of::<F>(), 0, body).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Creates a generator with a name (Python's `__name__`).
    ///
    /// ```
    /// use yieldfrom::Generator;
    /// let ticks: Generator<u32> = Generator::named("ticks", |co| { co.yield_(1)?; Ok(()) });
    /// assert_eq!(ticks.name(), "ticks");
    /// ```
    pub fn named<F>(name: &'static str, body: F) -> Self
    where
        F: FnOnce(&Co<Y, S>) -> Result<R, GenError> + 'static,
    {
        Self::build(name, 0, body).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Creates a generator whose stack holds `bytes` (rounded up to pages).
    ///
    /// ```
    /// use yieldfrom::Generator;
    /// // A body with a large frame gets a larger stack.
    /// let big: Generator<usize> = Generator::with_stack_size(1 << 20, |co| {
    ///     let buffer = [7u8; 200_000];
    ///     co.yield_(buffer.iter().filter(|&&b| b == 7).count())?;
    ///     Ok(())
    /// });
    /// assert_eq!(big.collect::<Vec<_>>(), [200_000]);
    /// ```
    pub fn with_stack_size<F>(bytes: usize, body: F) -> Self
    where
        F: FnOnce(&Co<Y, S>) -> Result<R, GenError> + 'static,
    {
        Self::build(name_of::<F>(), bytes, body).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`with_stack_size`](Self::with_stack_size), but a size that is too
    /// large or a stack that cannot be mapped is an error.
    ///
    /// ```
    /// use yieldfrom::Generator;
    /// let refused = Generator::<u8>::try_with_stack_size(usize::MAX / 2, |_co| Ok(()));
    /// assert!(refused.is_err()); // no stack that large: an error, not a panic
    /// ```
    pub fn try_with_stack_size<F>(bytes: usize, body: F) -> Result<Self, StackError>
    where
        F: FnOnce(&Co<Y, S>) -> Result<R, GenError> + 'static,
    {
        Self::build(name_of::<F>(), bytes, body)
    }

    /// Like [`new`](Self::new), but a stack that cannot be mapped is an error.
    ///
    /// ```
    /// use yieldfrom::Generator;
    /// let g = Generator::<u8>::try_new(|co| { co.yield_(1)?; Ok(()) }).expect("a stack");
    /// assert_eq!(g.collect::<Vec<_>>(), [1]);
    /// ```
    pub fn try_new<F>(body: F) -> Result<Self, StackError>
    where
        F: FnOnce(&Co<Y, S>) -> Result<R, GenError> + 'static,
    {
        Self::build(name_of::<F>(), 0, body)
    }

    fn build<F>(name: &'static str, size: usize, body: F) -> Result<Self, StackError>
    where
        F: FnOnce(&Co<Y, S>) -> Result<R, GenError> + 'static,
    {
        let stack = PooledStack::take(size, name)?;
        let inbox = Inbox::new();
        let theirs = inbox.clone();
        // The first switch in always carries `Start`: no value, nothing thrown.
        let co = Coroutine::with_stack(stack, move |yielder: &Yielder<Input<S>, Y>, _start| {
            body(&Co {
                yielder,
                inbox: theirs,
            })
        });
        Ok(Generator {
            body: UnsafeCell::new(Some(co)),
            inbox,
            state: Cell::new(State::Created),
            name,
        })
    }
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

impl<Y, S, R> Drop for Generator<Y, S, R> {
    /// Dropping a paused generator closes it, as Python's generator
    /// finaliser does: [`GenError::Exit`] is delivered at the paused yield
    /// and every destructor on its stack runs as the body finishes.
    ///
    /// What `close` would return is reported, never raised (Python's
    /// "Exception ignored in: <generator ...>"): an error the body ended with
    /// is printed as a warning; a body that yields again while it is closed
    /// (a cleanup guard that awaits, say) is reported as "generator ignored
    /// GeneratorExit" and its stack is leaked, since unwinding it would run
    /// that cleanup again inside an unwind, which aborts the process.
    fn drop(&mut self) {
        match self.state.get() {
            // Only reachable by leaking a running generator's owner into its own
            // body; the stack cannot be unwound from inside itself.
            State::Running => std::mem::forget(self.body.get_mut().take()),
            State::Suspended => self.close_on_drop(),
            State::Created | State::Finished => {}
        }
    }
}

impl<Y, S, R> Generator<Y, S, R> {
    /// The switch into the body; the caller has checked that it may run.
    #[inline(always)]
    fn switch(&self, how: Resume<S>) -> Result<GeneratorState<Y, R>, GenError> {
        self.state.set(State::Running);
        let guard = FinishOnUnwind(&self.state);
        // SAFETY: the state was not Running, and is Running now until this call
        // returns, so no other `&self` call can reach the body while we hold
        // this unique reference (re-entrant calls return AlreadyRunning above).
        let body = unsafe { &mut *self.body.get() };
        // SAFETY: callers only switch into a generator that is Created or
        // Suspended, and the body is `None` only once it is Finished.
        let co = unsafe { body.as_mut().unwrap_unchecked() };
        let input = match how {
            Resume::Send(value) => MaybeUninit::new(value),
            Resume::Start => MaybeUninit::uninit(),
            Resume::Throw(error) => {
                self.inbox.0.set(Some(error));
                MaybeUninit::uninit()
            }
        };
        let result = co.resume(input);
        std::mem::forget(guard);
        match result {
            CoroutineResult::Yield(y) => {
                self.state.set(State::Suspended);
                Ok(GeneratorState::Yielded(y))
            }
            CoroutineResult::Return(r) => {
                self.state.set(State::Finished);
                // Hand the stack back to the pool now rather than at drop.
                *body = None;
                match r {
                    Ok(r) => Ok(GeneratorState::Complete(r)),
                    // PEP 479: "finished" escaping the body is not the body
                    // finishing; say so, or the caller would stop early.
                    Err(GenError::Finished) => Err(GenError::RaisedFinished),
                    Err(e) => Err(e),
                }
            }
        }
    }

    fn finish_unstarted(&self) {
        self.state.set(State::Finished);
        // SAFETY: the state is not Running (callers check), so nothing else
        // holds a reference to the body.
        unsafe { *self.body.get() = None };
    }

    #[cold]
    fn close_on_drop(&mut self) {
        // `close` of a suspended body, which needs no `S: 'static`.
        let close = || match self.switch(Resume::Throw(GenError::Exit)) {
            Ok(GeneratorState::Yielded(_)) => Err(GenError::IgnoredExit),
            Ok(GeneratorState::Complete(_)) | Err(GenError::Exit) => Ok(()),
            Err(e) => Err(e),
        };
        let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(close)) {
            Ok(result) => result,
            Err(payload) => {
                // A panic in the body while it closed: its stack unwound as
                // the panic left it; report it instead of panicking in drop.
                crate::warnings::warn(format!(
                    "yieldfrom: exception ignored while dropping generator '{}': it panicked: {}",
                    self.name,
                    crate::warnings::panic_message(payload.as_ref())
                ));
                return;
            }
        };
        match result {
            Ok(()) => {}
            Err(GenError::IgnoredExit) => {
                crate::warnings::warn(format!(
                    "yieldfrom: exception ignored while dropping generator '{}': generator \
                     ignored GeneratorExit (it yielded while being closed); its stack is leaked",
                    self.name
                ));
                std::mem::forget(self.body.get_mut().take());
            }
            Err(e) => crate::warnings::warn(format!(
                "yieldfrom: exception ignored while dropping generator '{}': {e}",
                self.name
            )),
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
