//! The body's side of a generator: [`Co`], the handle it pauses through,
//! and what crosses the switch on the way back in ([`Resume`], and the
//! inbox a thrown error waits in).

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::rc::Rc;

use corosensei::Yielder;

use super::error::GenError;

/// What the driver passes into a suspended body.
pub enum Resume<S> {
    /// Start an unstarted body (Python: the first `next()`).
    Start,
    /// Resume with a value (Python: `send(v)`; `next()` when `S = ()`).
    Send(S),
    /// Raise an error at the paused yield (Python: `throw(e)`).
    Throw(GenError),
}

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
pub(super) type Input<S> = MaybeUninit<S>;

#[derive(Clone)]
pub(super) struct Inbox(pub(super) Rc<Cell<Option<GenError>>>);

impl Inbox {
    pub(super) fn new() -> Self {
        Inbox(Rc::new(Cell::new(None)))
    }

    /// Turns what a switch into the body brought into what resumed it.
    #[inline(always)]
    pub(super) fn receive<S>(&self, input: Input<S>) -> Resume<S> {
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

/// The handle a generator body uses to pause: `co.yield_(v)`, `co.yield_from(g)`.
///
/// Only ever lent to the body, by reference, for the duration of its run.
pub struct Co<Y, S> {
    /// The body's yielder; it lives on the generator's stack, below the body's
    /// frame, for as long as the body runs — and a `&Co` cannot outlive that.
    pub(super) yielder: *const Yielder<Input<S>, Y>,
    /// Where a thrown error waits for the body (see `Inbox`).
    pub(super) inbox: Inbox,
}

impl<Y, S> Co<Y, S> {
    /// Switches out with `value` and returns what resumed it: the value sent
    /// across the switch, or the error the driver left in the inbox.
    #[inline(always)]
    pub(super) fn switch(&self, value: Y) -> Resume<S> {
        // SAFETY: see the `yielder` field: the yielder outlives every `&Co`.
        let input = unsafe { &*self.yielder }.suspend(value);
        self.inbox.receive(input)
    }

    /// Pauses with `value` (Python: `x = yield value`).
    ///
    /// Returns `Ok(s)` when resumed by `send(s)` and `Err(e)` when resumed by
    /// `throw(e)` or `close()` (`Err(GenError::Exit)`).
    ///
    /// ```
    /// use yieldfrom::{Generator, GeneratorState::*};
    /// // Python: def doubler(): x = yield; while True: x = yield x * 2
    /// let doubler: Generator<i32, i32, ()> = Generator::new(|co| {
    ///     let mut x = co.yield_(0)?;
    ///     loop {
    ///         x = co.yield_(x * 2)?;
    ///     }
    /// });
    /// doubler.start().unwrap();
    /// assert_eq!(doubler.send(5).unwrap(), Yielded(10));
    /// assert_eq!(doubler.send(7).unwrap(), Yielded(14));
    /// ```
    #[inline]
    pub fn yield_(&self, value: Y) -> Result<S, GenError> {
        match self.switch(value) {
            Resume::Send(s) => Ok(s),
            Resume::Throw(e) => Err(e),
            Resume::Start => unreachable!("Start is only delivered to an unstarted body"),
        }
    }
}
