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
use std::error::Error;
use std::fmt;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::rc::Rc;

use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::stack::{PooledStack, StackError};

/// What a resumed generator did: paused with a value, or finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeneratorState<Y, R> {
    /// The body called `co.yield_(value)` and is paused there.
    Yielded(Y),
    /// The body returned this value (Python: `StopIteration(value)`).
    Complete(R),
}

/// An error delivered into or raised out of a generator (Python's exceptions).
#[non_exhaustive]
pub enum GenError {
    /// Python's `GeneratorExit`: what [`Generator::close`] delivers at the paused
    /// yield. Let it propagate (`?`) to finish quietly.
    Exit,
    /// The generator was resumed while it was running (Python's
    /// `ValueError: generator already executing`).
    AlreadyRunning,
    /// The generator had already finished (Python's bare `StopIteration`).
    Finished,
    /// The body yielded while it was being closed (Python's
    /// `RuntimeError: generator ignored GeneratorExit`).
    IgnoredExit,
    /// The body ended with [`Finished`](GenError::Finished): a `send` or a
    /// `yield_from` inside it reached a generator that had already finished,
    /// and the body let that propagate (Python, PEP 479: `RuntimeError:
    /// generator raised StopIteration`). Never mistaken for the body
    /// returning: `Finished` out of `send` always means this generator itself
    /// is done.
    RaisedFinished,
    /// Any other error, raised by a body or thrown in by the caller.
    Raised(Raised),
}

/// The payload of [`GenError::Raised`]: any error, behind one thin pointer.
///
/// It derefs to the error (`dyn Error + Send + Sync`). It is boxed twice, so
/// that `Result<S, GenError>` for a word-sized `S` is two words and comes
/// back from `send` in registers; and its destructor is out of line, so that
/// dropping a `send` result is one inlined test and the result never needs
/// an address (see the book's performance chapter).
pub struct Raised(ManuallyDrop<Box<Box<dyn Error + Send + Sync + 'static>>>);

impl Raised {
    fn new(error: Box<dyn Error + Send + Sync + 'static>) -> Raised {
        Raised(ManuallyDrop::new(Box::new(error)))
    }
}

impl Drop for Raised {
    #[inline(never)]
    fn drop(&mut self) {
        // SAFETY: `drop` runs once, and nothing touches the box after it.
        unsafe { ManuallyDrop::drop(&mut self.0) }
    }
}

impl std::ops::Deref for Raised {
    type Target = dyn Error + Send + Sync + 'static;

    fn deref(&self) -> &Self::Target {
        &***self.0
    }
}

impl fmt::Display for Raised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl fmt::Debug for Raised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl GenError {
    /// Wraps any error (Python: `raise e`).
    ///
    /// ```
    /// use yieldfrom::GenError;
    /// let e = GenError::raise(std::io::Error::other("disk on fire"));
    /// assert_eq!(e.to_string(), "disk on fire");
    /// ```
    pub fn raise<E: Into<Box<dyn Error + Send + Sync + 'static>>>(e: E) -> GenError {
        GenError::Raised(Raised::new(e.into()))
    }

    /// An error with just a message.
    pub fn msg(message: impl Into<String>) -> GenError {
        GenError::Raised(Raised::new(message.into().into()))
    }

    /// The raised error as a `T`, if it is one (Python: `except T`).
    ///
    /// ```
    /// use yieldfrom::GenError;
    /// let e = GenError::raise(std::fmt::Error);
    /// assert!(e.downcast_ref::<std::fmt::Error>().is_some());
    /// assert!(e.downcast_ref::<std::io::Error>().is_none());
    /// ```
    pub fn downcast_ref<T: Error + 'static>(&self) -> Option<&T> {
        match self {
            GenError::Raised(e) => (**e).downcast_ref(),
            _ => None,
        }
    }

    /// Whether this is [`GenError::Exit`].
    pub fn is_exit(&self) -> bool {
        matches!(self, GenError::Exit)
    }
}

impl fmt::Display for GenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenError::Exit => f.write_str("GeneratorExit"),
            GenError::AlreadyRunning => f.write_str("generator already executing"),
            GenError::Finished => f.write_str("generator already finished"),
            GenError::IgnoredExit => f.write_str("generator ignored GeneratorExit"),
            GenError::RaisedFinished => f.write_str(
                "generator raised StopIteration: a send or yield_from in its body reached a \
                 generator that had already finished",
            ),
            GenError::Raised(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl fmt::Debug for GenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenError::Raised(e) => write!(f, "Raised({e:?})"),
            other => write!(f, "{other}"),
        }
    }
}

impl Error for GenError {}

/// What the driver passes into a suspended body.
pub enum Resume<S> {
    /// Start an unstarted body (Python: the first `next()`).
    Start,
    /// Resume with a value (Python: `send(v)`; `next()` when `S = ()`).
    Send(S),
    /// Raise an error at the paused yield (Python: `throw(e)`).
    Throw(GenError),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Created,
    Suspended,
    Running,
    Finished,
}

type Body<Y, S, R> = Coroutine<Input<S>, Y, Result<R, GenError>, PooledStack>;

/// How `send` and `throw` reach the body.
///
/// A sent value crosses the stack switch itself, as corosensei's `Input`: a
/// value of up to 8 bytes travels in a register, a larger one by pointer. A
/// thrown error goes through this slot, which the driver fills before it
/// switches in with no value, and which the body checks once after every
/// switch back into it: one load and a compare that is almost always "empty".
/// (Not the whole `Resume<S>`: a value assembled from narrow stores and read
/// back with a wide load stalls the switch; see the book's decision log.)
///
/// `S` is `MaybeUninit` on the way in: a start or a throw carries no value.
/// The slot says which: empty means a `Send` unless the body is starting.
type Input<S> = MaybeUninit<S>;

#[derive(Clone)]
struct Inbox(Rc<Cell<Option<GenError>>>);

impl Inbox {
    fn new() -> Self {
        Inbox(Rc::new(Cell::new(None)))
    }

    /// Turns what a switch into the body brought into what resumed it.
    #[inline(always)]
    fn receive<S>(&self, input: Input<S>) -> Resume<S> {
        // SAFETY: the slot is only touched by the driver before it switches
        // in and here, on one thread, and no reference to its contents is
        // ever held; peeking first saves writing `None` back after every send.
        let thrown = unsafe { (*self.0.as_ptr()).is_some() };
        match if thrown { self.0.take() } else { None } {
            Some(error) => Resume::Throw(error),
            // SAFETY: `Generator::switch` switches in with an initialised
            // value for every `Resume::Send`, and with an uninitialised one
            // only for `Start` (which the body never receives here: it only
            // comes first, and `build` drops it) and `Throw` (which fills
            // the slot, handled above).
            None => Resume::Send(unsafe { input.assume_init() }),
        }
    }
}

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
    body: UnsafeCell<Option<Body<Y, S, R>>>,
    inbox: Inbox,
    state: Cell<State>,
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
    pub fn new<F>(body: F) -> Self
    where
        F: FnOnce(&Co<Y, S>) -> Result<R, GenError> + 'static,
    {
        Self::build(name_of::<F>(), 0, body).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Creates a generator with a name (Python's `__name__`).
    pub fn named<F>(name: &'static str, body: F) -> Self
    where
        F: FnOnce(&Co<Y, S>) -> Result<R, GenError> + 'static,
    {
        Self::build(name, 0, body).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Creates a generator whose stack holds `bytes` (rounded up to pages).
    pub fn with_stack_size<F>(bytes: usize, body: F) -> Self
    where
        F: FnOnce(&Co<Y, S>) -> Result<R, GenError> + 'static,
    {
        Self::build(name_of::<F>(), bytes, body).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`with_stack_size`](Self::with_stack_size), but a size that is too
    /// large or a stack that cannot be mapped is an error.
    pub fn try_with_stack_size<F>(bytes: usize, body: F) -> Result<Self, StackError>
    where
        F: FnOnce(&Co<Y, S>) -> Result<R, GenError> + 'static,
    {
        Self::build(name_of::<F>(), bytes, body)
    }

    /// Like [`new`](Self::new), but a stack that cannot be mapped is an error.
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
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether the body is executing right now (Python: `gi_running`).
    pub fn is_running(&self) -> bool {
        self.state.get() == State::Running
    }

    /// Whether the body has not started yet.
    pub fn is_created(&self) -> bool {
        self.state.get() == State::Created
    }

    /// Whether the body is paused at a yield.
    pub fn is_suspended(&self) -> bool {
        self.state.get() == State::Suspended
    }

    /// Whether the body has finished (returned, raised, panicked or was closed).
    pub fn is_finished(&self) -> bool {
        self.state.get() == State::Finished
    }

    /// Resumes the body with `how`: the one place a generator is switched into.
    ///
    /// `Start` on an unstarted body starts it; `Send` on an unstarted body
    /// starts it and drops the value (Python allows only `None` there, which
    /// has no counterpart in every `S`); `Throw` on an unstarted body finishes
    /// it without running it and returns the error, as Python does.
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

    /// Starts the body (Python: the first `next(gen)`), running it to its first yield.
    pub fn start(&self) -> Result<GeneratorState<Y, R>, GenError> {
        self.resume(Resume::Start)
    }

    /// Python's `next(gen)`, which is `gen.send(None)`, for a send type with
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

    /// Resumes the body with `value` (Python: `gen.send(value)`).
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

    /// Raises `error` at the paused yield (Python: `gen.throw(error)`).
    ///
    /// The body may handle it and yield again (`Ok(Yielded)`), return
    /// (`Ok(Complete)`), or let it propagate (`Err`).
    pub fn throw(&self, error: GenError) -> Result<GeneratorState<Y, R>, GenError> {
        self.resume(Resume::Throw(error))
    }

    /// Finishes a paused body (Python: `gen.close()`).
    ///
    /// Delivers [`GenError::Exit`] at the paused yield. The body finishing with
    /// `Exit` (the usual `?`) or with a return value is a clean close; another
    /// error is returned (a body that hit a finished generator meanwhile
    /// returns [`GenError::RaisedFinished`]); yielding again is
    /// [`GenError::IgnoredExit`] and leaves the body paused. An unstarted or
    /// finished generator just becomes finished. Destructors on the body's
    /// stack run as it finishes.
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

impl<Y, R> Iterator for Generator<Y, (), R> {
    type Item = Y;

    /// Python's `next(gen)`: the next yielded value, or `None` once the body
    /// has returned. An error raised by the body panics here, since an
    /// `Iterator` has no error channel; use [`send`](Generator::send) to see it.
    fn next(&mut self) -> Option<Y> {
        (&*self).next()
    }
}

impl<Y, R> Iterator for &Generator<Y, (), R> {
    type Item = Y;

    #[inline]
    fn next(&mut self) -> Option<Y> {
        // `send(())` is Python's `next()`: it starts an unstarted body and
        // resumes a paused one with `None`, on `send`'s fast path.
        match self.send(()) {
            Ok(GeneratorState::Yielded(y)) => Some(y),
            Ok(GeneratorState::Complete(_)) | Err(GenError::Finished) => None,
            Err(e) => panic!("generator '{}' raised: {e}", self.name),
        }
    }
}

/// The handle a generator body uses to pause: `co.yield_(v)`, `co.yield_from(g)`.
///
/// Only ever lent to the body, by reference, for the duration of its run.
pub struct Co<Y, S> {
    /// The body's yielder; it lives on the generator's stack, below the body's
    /// frame, for as long as the body runs — and a `&Co` cannot outlive that.
    yielder: *const Yielder<Input<S>, Y>,
    inbox: Inbox,
}

impl<Y, S> Co<Y, S> {
    /// Switches out with `value` and returns what resumed it: the value sent
    /// across the switch, or the error the driver left in the inbox.
    #[inline(always)]
    fn switch(&self, value: Y) -> Resume<S> {
        // SAFETY: see the `yielder` field: the yielder outlives every `&Co`.
        let input = unsafe { &*self.yielder }.suspend(value);
        self.inbox.receive(input)
    }

    /// Pauses with `value` (Python: `x = yield value`).
    ///
    /// Returns `Ok(s)` when resumed by `send(s)` and `Err(e)` when resumed by
    /// `throw(e)` or `close()` (`Err(GenError::Exit)`).
    #[inline]
    pub fn yield_(&self, value: Y) -> Result<S, GenError> {
        match self.switch(value) {
            Resume::Send(s) => Ok(s),
            Resume::Throw(e) => Err(e),
            Resume::Start => unreachable!("Start is only delivered to an unstarted body"),
        }
    }

    /// Delegates to `sub` until it finishes (Python: `r = yield from sub`).
    ///
    /// Implements PEP 380's expansion: `sub`'s yields go out to our driver,
    /// sends and throws go in to `sub`, `close()` closes `sub` first and then
    /// raises `Exit` here, and `sub`'s return value is returned. An error `sub`
    /// raises comes back as `Err`.
    ///
    /// ```
    /// use yieldfrom::Generator;
    /// let inner = Generator::new(|co| { co.yield_(1)?; co.yield_(2)?; Ok("inner done") });
    /// let outer = Generator::new(move |co| {
    ///     let said = co.yield_from(inner)?;
    ///     co.yield_(3)?;
    ///     Ok(said)
    /// });
    /// assert_eq!((&outer).collect::<Vec<_>>(), [1, 2, 3]);
    /// ```
    pub fn yield_from<G: Subgenerator<Y, S>>(&self, mut sub: G) -> Result<G::Return, GenError> {
        let mut step = sub.resume(Resume::Start);
        loop {
            let y = match step? {
                GeneratorState::Yielded(y) => y,
                GeneratorState::Complete(r) => return Ok(r),
            };
            step = match self.switch(y) {
                Resume::Throw(GenError::Exit) => {
                    sub.close()?;
                    return Err(GenError::Exit);
                }
                how => sub.resume(how),
            };
        }
    }
}

/// Anything a generator can delegate to with `yield_from` (PEP 380's subiterator).
///
/// The first call is `resume(Resume::Start)`; `close` is called when the
/// delegating generator is closed. Implement it to delegate to a custom
/// object, as Python lets you `yield from` any object with `send`/`throw`.
pub trait Subgenerator<Y, S> {
    /// What the delegation returns when the subgenerator finishes.
    type Return;
    /// Passes a start, a sent value or a thrown error in.
    fn resume(&mut self, how: Resume<S>) -> Result<GeneratorState<Y, Self::Return>, GenError>;
    /// Finishes the subgenerator; the default has nothing to close.
    fn close(&mut self) -> Result<(), GenError> {
        Ok(())
    }
}

impl<Y, S: 'static, R> Subgenerator<Y, S> for &Generator<Y, S, R> {
    type Return = R;
    fn resume(&mut self, how: Resume<S>) -> Result<GeneratorState<Y, R>, GenError> {
        Generator::resume(self, how)
    }
    fn close(&mut self) -> Result<(), GenError> {
        Generator::close(self)
    }
}

impl<Y, S: 'static, R> Subgenerator<Y, S> for Generator<Y, S, R> {
    type Return = R;
    fn resume(&mut self, how: Resume<S>) -> Result<GeneratorState<Y, R>, GenError> {
        Generator::resume(self, how)
    }
    fn close(&mut self) -> Result<(), GenError> {
        Generator::close(self)
    }
}

impl<Y, S: 'static, R> Subgenerator<Y, S> for Rc<Generator<Y, S, R>> {
    type Return = R;
    fn resume(&mut self, how: Resume<S>) -> Result<GeneratorState<Y, R>, GenError> {
        Generator::resume(self, how)
    }
    fn close(&mut self) -> Result<(), GenError> {
        Generator::close(self)
    }
}

/// Delegation to a plain iterator (Python: `yield from range(3)`); see [`from_iter`].
pub struct FromIter<I>(I);

/// Wraps an iterator so a generator can `yield_from` it.
///
/// As in Python, an iterator has no `send` or `throw`: sending `()` (Python's
/// `None`) means `next()`, sending any other value is an error, and a thrown
/// error is raised again in the delegating generator.
///
/// ```
/// use yieldfrom::{Generator, from_iter};
/// let g = Generator::new(|co| co.yield_from(from_iter(0..3)));
/// assert_eq!(g.collect::<Vec<_>>(), [0, 1, 2]);
/// ```
pub fn from_iter<I: IntoIterator>(iter: I) -> FromIter<I::IntoIter> {
    FromIter(iter.into_iter())
}

impl<I: Iterator, S: 'static> Subgenerator<I::Item, S> for FromIter<I> {
    type Return = ();
    fn resume(&mut self, how: Resume<S>) -> Result<GeneratorState<I::Item, ()>, GenError> {
        match how {
            Resume::Start => {}
            Resume::Send(s) if is_unit(&s) => {}
            Resume::Send(_) => {
                return Err(GenError::msg(format!(
                    "'{}' object has no attribute 'send'",
                    std::any::type_name::<I>()
                )));
            }
            Resume::Throw(e) => return Err(e),
        }
        Ok(match self.0.next() {
            Some(y) => GeneratorState::Yielded(y),
            None => GeneratorState::Complete(()),
        })
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

opaque_debug!(Resume<S>, Co<Y, S>, FromIter<I>);

impl<Y, S, R> fmt::Debug for Generator<Y, S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generator")
            .field("name", &self.name)
            .field("state", &self.state.get())
            .finish()
    }
}
