//! Runtime warnings and reports (Python's `warnings` module, reduced to
//! what asyncio uses, and asyncio's exception handler).
//!
//! yieldfrom reports mistakes that do not stop a program but are almost
//! always bugs: a coroutine that was created and never awaited, a task that
//! blocked the event loop, a task whose panic nobody retrieved, a callback
//! or a handler that panicked. Every report goes to one place: the running
//! loop's exception handler ([`EventLoop::set_exception_handler`], asyncio's
//! `loop.set_exception_handler`) if it has one, else
//! [`default_exception_handler`], which prints it on stderr. [`catch`]
//! collects what the default handler would print, as Python's
//! `warnings.catch_warnings(record=True)` does; the tests and the examples'
//! output checks use it.
//!
//! [`EventLoop::set_exception_handler`]: crate::EventLoop::set_exception_handler

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

/// What a [`Report`] is about (the keys of asyncio's context dict, as a type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportKind {
    /// A coroutine object dropped without being awaited or spawned.
    NeverAwaited,
    /// A task or future ended with a panic that nobody retrieved.
    ExceptionNeverRetrieved,
    /// A callback (`call_soon`, `call_later`, a done-callback) panicked.
    CallbackPanicked,
    /// A task or callback held the loop too long (a blocking call).
    BlockedLoop,
    /// A connection handler or an HTTP handler panicked; the server goes on.
    HandlerPanicked,
    /// A pending task was destroyed by a closing loop.
    TaskDestroyed,
    /// Anything else (an accept back-off, a setting that means nothing, ...).
    Other,
}

/// One report (asyncio's exception-handler context).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// What it is about.
    pub kind: ReportKind,
    /// The whole message, as the default handler prints it.
    pub message: String,
    /// The task, callback or coroutine it is about, by name, if any.
    pub source: Option<String>,
    /// The panic's message, when a panic is reported (asyncio's `exception`).
    pub exception: Option<String>,
}

impl Report {
    /// A report of `kind` with `message` and nothing else.
    ///
    /// ```
    /// use yieldfrom::warnings::{Report, ReportKind};
    /// let r = Report::new(ReportKind::Other, "the cache was cold");
    /// assert_eq!((r.kind, r.message.as_str(), r.source.as_deref()), (ReportKind::Other, "the cache was cold", None));
    /// ```
    pub fn new(kind: ReportKind, message: impl Into<String>) -> Report {
        Report {
            kind,
            message: message.into(),
            source: None,
            exception: None,
        }
    }

    /// The same report, about `source`.
    ///
    /// ```
    /// use yieldfrom::warnings::{Report, ReportKind};
    /// let r = Report::new(ReportKind::Other, "slow").source("fetch users");
    /// assert_eq!(r.source.as_deref(), Some("fetch users"));
    /// ```
    pub fn source(mut self, source: impl Into<String>) -> Report {
        self.source = Some(source.into());
        self
    }

    /// The same report, with the panic message `exception`.
    ///
    /// ```
    /// use yieldfrom::warnings::{Report, ReportKind};
    /// let r = Report::new(ReportKind::CallbackPanicked, "callback failed").exception("index out of range");
    /// assert_eq!(r.exception.as_deref(), Some("index out of range"));
    /// ```
    pub fn exception(mut self, exception: impl Into<String>) -> Report {
        self.exception = Some(exception.into());
        self
    }
}

/// A loop's exception handler (see `EventLoop::set_exception_handler`).
pub type ExceptionHandler = Rc<dyn Fn(&Report)>;

thread_local! {
    /// Open `catch` scopes on this thread, innermost last.
    static CAUGHT: RefCell<Vec<Vec<String>>> = const { RefCell::new(Vec::new()) };
    /// The exception handler of the loop running on this thread, if it set one.
    static HANDLER: RefCell<Option<ExceptionHandler>> = const { RefCell::new(None) };
}

/// Makes `handler` the one reports go to on this thread (the running loop
/// does this while it runs); returns the one before.
pub(crate) fn install_handler(handler: Option<ExceptionHandler>) -> Option<ExceptionHandler> {
    HANDLER
        .try_with(|h| std::mem::replace(&mut *h.borrow_mut(), handler))
        .unwrap_or(None)
}

/// Sends `report` to the running loop's exception handler, or to
/// [`default_exception_handler`] (Python: `loop.call_exception_handler`).
/// A handler that panics is reported by the default handler, with the
/// report it was given.
///
/// ```
/// use yieldfrom::warnings::{self, Report, ReportKind};
/// let ((), said) = warnings::catch(|| warnings::report(Report::new(ReportKind::Other, "disk 91% full")));
/// assert_eq!(said, ["disk 91% full"]);
/// ```
pub fn report(report: Report) {
    let handler = HANDLER.try_with(|h| h.borrow().clone()).ok().flatten();
    let Some(handler) = handler else {
        return default_exception_handler(&report);
    };
    if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&report))) {
        default_exception_handler(&Report::new(
            ReportKind::CallbackPanicked,
            format!(
                "yieldfrom: the exception handler panicked: {} (while reporting: {})",
                panic_message(p.as_ref()),
                report.message
            ),
        ));
    }
}

/// What happens to a report when no handler is set (Python:
/// `loop.default_exception_handler`): its message is printed on stderr,
/// or recorded by the innermost [`catch`].
///
/// ```
/// use std::rc::Rc;
/// use yieldfrom::{EventLoop, warnings::{self, Report}};
/// let lp = EventLoop::new();
/// // A handler that counts, then prints as the default would.
/// lp.set_exception_handler(Some(Rc::new(|r: &Report| warnings::default_exception_handler(r))));
/// lp.call_soon(|| panic!("oops"));
/// let ((), said) = warnings::catch(|| lp.run_until_idle());
/// assert!(said[0].contains("oops"));
/// ```
pub fn default_exception_handler(report: &Report) {
    let message = report.message.clone();
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

/// Emits a warning: a [`Report`] of kind [`ReportKind::Other`].
///
/// ```
/// use yieldfrom::warnings;
/// let ((), said) = warnings::catch(|| warnings::warn(format!("{} retries left", 2)));
/// assert_eq!(said, ["2 retries left"]);
/// ```
pub fn warn(message: impl Into<String>) {
    report(Report::new(ReportKind::Other, message));
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
