//! Making a generator: its body on a stack from the pool, nothing run yet.

use std::cell::{Cell, UnsafeCell};

use corosensei::{Coroutine, Yielder};

use super::co::{Co, Inbox, Input};
use super::{GenError, Generator, State, name_of};
use crate::stack::{PooledStack, StackError};

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
