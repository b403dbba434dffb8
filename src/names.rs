//! Task names: a literal, or a string made at run time (interned).

/// A coroutine's or task's name: a string literal, or a string made at run
/// time (`format!("fetch {url}")`, Python's `create_task(..., name=...)`).
///
/// Names are `&'static str` inside the runtime (every trace, reason and
/// report copies them freely), so a `String` is *interned*: kept once per
/// distinct text for the rest of the thread's life, and shared by every
/// task named the same. Use names for kinds of work and for the things a
/// person will want to find in a trace, not a fresh one per request of a
/// long-running server: past 4 MiB of distinct names on a thread, new ones
/// are replaced by `"(too many task names)"`, with a warning once.
///
/// ```
/// use yieldfrom::{Coro, run, spawn, yield_from};
/// let names = run(Coro::new("main", || {
///     let fetches: Vec<_> = ["a.example", "b.example"]
///         .iter()
///         .map(|host| spawn(Coro::new(format!("fetch {host}"), || ())))
///         .collect();
///     let names: Vec<&str> = fetches.iter().map(|t| t.name()).collect();
///     fetches.into_iter().for_each(yield_from);
///     names
/// }));
/// assert_eq!(names, ["fetch a.example", "fetch b.example"]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TaskName(&'static str);

impl TaskName {
    /// The name's text.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl From<&'static str> for TaskName {
    fn from(name: &'static str) -> TaskName {
        TaskName(name)
    }
}

impl From<String> for TaskName {
    fn from(name: String) -> TaskName {
        TaskName(intern(name))
    }
}

impl From<&String> for TaskName {
    fn from(name: &String) -> TaskName {
        TaskName(intern(name.clone()))
    }
}

/// Bytes of distinct interned names a thread keeps at most.
const INTERNED_MAX: usize = 4 << 20;

/// The thread's interned names: one leaked copy per distinct text.
fn intern(name: String) -> &'static str {
    thread_local! {
        static NAMES: std::cell::RefCell<(std::collections::HashSet<&'static str>, usize, bool)> =
            std::cell::RefCell::default();
    }
    NAMES.with(|names| {
        let mut names = names.borrow_mut();
        if let Some(&known) = names.0.get(name.as_str()) {
            return known;
        }
        if names.1 + name.len() > INTERNED_MAX {
            if !names.2 {
                names.2 = true;
                crate::warnings::warn(format!(
                    "yieldfrom: more than {} MiB of distinct task names on this thread; \
                     new ones (such as {name:?}) are called \"(too many task names)\": \
                     name tasks by kind, not per request",
                    INTERNED_MAX >> 20
                ));
            }
            return "(too many task names)";
        }
        names.1 += name.len();
        // Leaked on purpose: names are `&'static str` throughout the
        // runtime; the cap above bounds what this can keep.
        let kept: &'static str = Box::leak(name.into_boxed_str());
        names.0.insert(kept);
        kept
    })
}

/// What reports and traces call a callback: the function it was written
/// in (a closure's type path without its `{{closure}}` parts, or a named
/// function's path), or a name given to it, and where it was scheduled
/// (asyncio's "callback foo() at file.py:10").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CallbackName {
    /// The given name, or the callback's type name (a closure's is the
    /// path of the function it was written in plus `::{{closure}}`s, which
    /// traces read to say "a callback in f").
    pub(crate) what: &'static str,
    /// Where `call_soon`, `call_later`, `call_at` or `add_done_callback`
    /// was called, when known.
    pub(crate) at: Option<&'static std::panic::Location<'static>>,
}

impl CallbackName {
    /// The name of a callback of type `F` scheduled at `at`.
    pub(crate) fn of<F>(at: &'static std::panic::Location<'static>) -> CallbackName {
        CallbackName {
            what: std::any::type_name::<F>(),
            at: Some(at),
        }
    }

    /// The function it was written in (its type name without the
    /// `::{{closure}}`s), or its given name.
    pub(crate) fn function(&self) -> &'static str {
        let mut what = self.what;
        while let Some(outer) = what.strip_suffix("::{{closure}}") {
            what = outer;
        }
        what
    }
}

impl CallbackName {
    /// Reports that this callback panicked with `payload` (asyncio's
    /// "Exception in callback ..."), `tail` added to the message.
    pub(crate) fn report_panic(&self, payload: &(dyn std::any::Any + Send), tail: &str) {
        use crate::warnings::{Report, ReportKind, panic_message, report};
        let exception = panic_message(payload);
        report(
            Report::new(
                ReportKind::CallbackPanicked,
                format!("yieldfrom: exception in callback {self}: {exception}{tail}"),
            )
            .source(self.function())
            .exception(exception),
        );
    }
}

impl From<&'static str> for CallbackName {
    fn from(what: &'static str) -> CallbackName {
        CallbackName { what, at: None }
    }
}

impl std::fmt::Display for CallbackName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.at {
            Some(at) => write!(
                f,
                "{} (scheduled at {}:{})",
                self.function(),
                at.file(),
                at.line()
            ),
            None => f.write_str(self.function()),
        }
    }
}
