//! A generator's exceptions: [`GenError`], what is thrown into a body or
//! raised out of it, and [`Raised`], the thin box an arbitrary error
//! travels in.

use std::error::Error;
use std::fmt;
use std::mem::ManuallyDrop;

/// An error delivered into or raised out of a generator (Python's exceptions).
#[non_exhaustive]
pub enum GenError {
    /// Python's `GeneratorExit`: what [`Generator::close`](super::Generator::close) delivers at the paused
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
    ///
    /// ```
    /// use yieldfrom::GenError;
    /// let e = GenError::msg(format!("bad row {}", 7));
    /// assert_eq!(e.to_string(), "bad row 7");
    /// ```
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
    ///
    /// ```
    /// use yieldfrom::GenError;
    /// assert!(GenError::Exit.is_exit());
    /// assert!(!GenError::msg("other").is_exit());
    /// ```
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
