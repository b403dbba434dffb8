//! How a future or task ended ([`Outcome`]), and the failure it may hold
//! ([`Exception`]).

use std::any::Any;
use std::fmt;
use std::panic::resume_unwind;

use super::cancel::raise_cancelled;
use crate::warnings::panic_message;

/// How a future or task ended.
///
/// ```
/// use yieldfrom::{run, spawn, Coro, Outcome};
/// let outcome = run(Coro::new("main", || {
///     spawn(Coro::new("fails", || -> u8 { panic!("boom") })).join_outcome()
/// }));
/// match outcome {
///     Outcome::Panic(p) => assert_eq!(yieldfrom::warnings::panic_message(p.as_ref()), "boom"),
///     other => panic!("expected a panic, got {other:?}"),
/// }
/// ```
pub enum Outcome<T> {
    /// With a value.
    Value(T),
    /// With a panic (Python: an exception); the payload is re-raised where it is awaited.
    Panic(Box<dyn Any + Send>),
    /// Cancelled.
    Cancelled,
}

impl<T> Outcome<T> {
    /// The value, re-raising a panic or a cancellation here.
    ///
    /// ```
    /// use yieldfrom::{run, spawn, Coro, Outcome};
    /// let outcome = run(Coro::new("main", || spawn(Coro::new("w", || 5)).join_outcome()));
    /// assert!(matches!(outcome, Outcome::Value(5)));
    /// assert_eq!(outcome.unwrap(), 5);
    /// ```
    pub fn unwrap(self) -> T {
        match self {
            Outcome::Value(v) => v,
            Outcome::Panic(p) => resume_unwind(p),
            Outcome::Cancelled => raise_cancelled(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Outcome<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Value(v) => write!(f, "Value({v:?})"),
            Outcome::Panic(p) => write!(f, "Panic({:?})", panic_message(p.as_ref())),
            Outcome::Cancelled => f.write_str("Cancelled"),
        }
    }
}

/// The failure a future or task holds (Python: what `Future.exception()`
/// returns): the panic that ended it, by its message (the panic's payload
/// itself is raised again by awaiting it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exception {
    /// The panic's message (`"<non-string panic payload>"` for a payload
    /// that is not a string).
    message: String,
}

impl Exception {
    /// The failure of a panic whose message is `message`.
    pub(crate) fn new(message: String) -> Exception {
        Exception { message }
    }

    /// The panic's message.
    ///
    /// ```
    /// use yieldfrom::Future;
    /// let fut: Future<()> = Future::new();
    /// fut.set_exception(format!("{} rows missing", 3));
    /// assert_eq!(fut.exception().unwrap().message(), "3 rows missing");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for Exception {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exception {}
