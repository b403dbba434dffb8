//! Generators and iterators, each as the other: a generator of `()` sends
//! is an [`Iterator`] (Python's `next(gen)`), and an iterator can be
//! delegated to ([`from_iter`]: Python's `yield from range(3)`).

use super::delegation::Subgenerator;
use super::{GenError, Generator, GeneratorState, Resume, is_unit};

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

opaque_debug!(FromIter<I>);
