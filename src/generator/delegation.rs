//! PEP 380's `yield from`: [`Co::yield_from`] and what it can delegate to
//! ([`Subgenerator`]: generators owned, borrowed or shared).

use std::rc::Rc;

use super::{Co, GenError, Generator, GeneratorState, Resume};

impl<Y, S> Co<Y, S> {
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
