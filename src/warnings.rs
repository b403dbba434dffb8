//! Runtime warnings (Python's `warnings` module, reduced to what asyncio uses).
//!
//! yieldfrom warns, on stderr, about mistakes that do not stop a program but
//! are almost always bugs: a coroutine that was created and never awaited, a
//! task that blocked the event loop, a task whose panic nobody retrieved.
//! [`catch`] collects the warnings of a closure instead of printing them, as
//! Python's `warnings.catch_warnings(record=True)` does; the tests and the
//! examples' output checks use it.

use std::any::Any;
use std::cell::RefCell;

thread_local! {
    /// Open `catch` scopes on this thread, innermost last.
    static CAUGHT: RefCell<Vec<Vec<String>>> = const { RefCell::new(Vec::new()) };
}

/// Emits a warning: printed to stderr, or recorded by the innermost [`catch`].
pub fn warn(message: impl Into<String>) {
    let message = message.into();
    let unrecorded = CAUGHT
        .try_with(|c| match c.borrow_mut().last_mut() {
            Some(scope) => {
                scope.push(message.clone());
                false
            }
            None => true,
        })
        .unwrap_or(true);
    if unrecorded {
        eprintln!("{message}");
    }
}

/// Runs `f` and returns its result with the warnings it emitted on this thread.
///
/// ```
/// use yieldfrom::warnings;
/// let ((), caught) = warnings::catch(|| warnings::warn("careful"));
/// assert_eq!(caught, ["careful"]);
/// ```
pub fn catch<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    CAUGHT.with(|c| c.borrow_mut().push(Vec::new()));
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            let _ = CAUGHT.try_with(|c| c.borrow_mut().pop());
        }
    }
    let pop = Pop;
    let value = f();
    std::mem::forget(pop);
    let caught = CAUGHT.with(|c| c.borrow_mut().pop()).unwrap_or_default();
    (value, caught)
}

/// The text of a panic payload (`&str` or `String`), or a placeholder: what
/// every report of a panic prints.
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
/// assert_eq!(yieldfrom::warnings::panic_message(payload.as_ref()), "boom 1");
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if payload.is::<crate::reason::Cancelled>() {
        "Cancelled".to_string()
    } else {
        "<non-string panic payload>".to_string()
    }
}
