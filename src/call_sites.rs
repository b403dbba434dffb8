//! Where a task waits: the call sites of its current suspension, its await
//! chain, as the explorer shows it (Python's `Task.get_stack()`).
//!
//! A stackful task's await chain *is* its stack, so there is nothing to
//! keep while it runs: when the loop records for the explorer, the switch
//! captures a backtrace of the task's stack as it parks (the cost of a
//! backtrace per wait, paid only then), keeps the frames of the program's
//! own code, outermost first, and files them here under the task's id. The
//! frames' files and lines come from the build's debug information: a
//! build without it (`--release` by default) shows function names only,
//! and functions the compiler inlined are not there at all.

use std::backtrace::Backtrace;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::task_id::TaskId;

/// A task's stack as captured at the switch, resolved into call sites the
/// first time they are asked for.
enum Sites {
    Captured(Backtrace),
    Resolved(Rc<[String]>),
}

thread_local! {
    /// The latest call sites of each task of this thread's loop that
    /// records them, by id.
    static SITES: RefCell<HashMap<u64, Sites>> = RefCell::default();
}

/// Captures the running task's stack as it parks and files it under `id`
/// (on the task's own stack, before the switch). Only the walk happens
/// here: turning addresses into names and lines (the debug information's
/// lookups, with frames of their own) waits for [`of`], on the loop's
/// stack, and is done once per wait however often the chain is shown.
#[cold]
#[inline(never)]
pub(crate) fn capture(id: TaskId) {
    let trace = Backtrace::force_capture();
    SITES.with(|s| s.borrow_mut().insert(id.0, Sites::Captured(trace)));
}

/// The call sites filed for task `id`, outermost first (resolved on first
/// asking: call it off the task's stack, as the loop's snapshot does).
pub(crate) fn of(id: TaskId) -> Option<Rc<[String]>> {
    SITES.with(|s| {
        let mut sites = s.borrow_mut();
        let entry = sites.get_mut(&id.0)?;
        Some(match entry {
            Sites::Resolved(resolved) => resolved.clone(),
            Sites::Captured(trace) => {
                let resolved: Rc<[String]> = call_sites(&trace.to_string()).into();
                *entry = Sites::Resolved(resolved.clone());
                resolved
            }
        })
    })
}

/// Reads the program's debug information once, before the loop runs: the
/// first backtrace of a process resolves slowly (a tenth of a second for a
/// debug build), and inside a step it would look like a blocking call.
pub(crate) fn warm_up() {
    let _ = Backtrace::force_capture().to_string();
}

/// Forgets every task's call sites (a loop that recorded them closed).
pub(crate) fn clear() {
    SITES.with(|s| s.borrow_mut().clear());
}

/// Whether a frame's function is the runtime's, the standard library's or
/// the switch's, not the program's.
fn is_machinery(function: &str) -> bool {
    const MACHINERY: [&str; 7] = [
        "yieldfrom::",
        "std::",
        "core::",
        "alloc::",
        "corosensei::",
        "__rust",
        "rust_",
    ];
    let of = |path: &str| MACHINERY.iter().any(|p| path.starts_with(p));
    // `<Type as Trait>::method` (or `<&Type as ...>`): the type says whose
    // code it is, unless it is a bare parameter (`<F as FnOnce>`), when the
    // trait does.
    if let Some(inner) = function.strip_prefix('<') {
        let inner = inner.trim_start_matches('&').trim_start_matches("mut ");
        let (ty, rest) = inner.split_once(" as ").unwrap_or((inner, ""));
        return match ty.contains("::") {
            true => of(ty),
            false => of(rest) || rest.is_empty(),
        };
    }
    of(function)
}

/// A function of the program as a reader names it: without the crate's
/// name in front (`chef::boil_water` is `boil_water`) and without the
/// `::{{closure}}`s that say it is the body of a closure written there.
fn short(function: &str) -> &str {
    let mut f = function;
    while let Some(outer) = f.strip_suffix("::{{closure}}") {
        f = outer;
    }
    if f.starts_with('<') {
        return f;
    }
    f.split_once("::").map_or(f, |(_, rest)| rest)
}

/// The program's own frames of a backtrace as `Display` writes it (frames
/// innermost first, each `N: function` then `at file:line:column`), up to
/// the coroutine's root (frames past it are the loop's, not the task's);
/// outermost first, as "function (file:line)". With no frame of the
/// program's own (a task the runtime runs, such as a server's connection
/// task), the runtime's two outermost frames, marked as such.
fn call_sites(trace: &str) -> Vec<String> {
    let mut frames: Vec<(String, Option<String>)> = Vec::new();
    for line in trace.lines() {
        let line = line.trim();
        if let Some(at) = line.strip_prefix("at ") {
            if let Some(last) = frames.last_mut() {
                let at = at.strip_prefix("./").unwrap_or(at);
                // Drop the column: the line is what a reader looks for.
                let at = match at.rsplit_once(':') {
                    Some((file_line, col)) if col.chars().all(|c| c.is_ascii_digit()) => file_line,
                    _ => at,
                };
                last.1 = Some(at.to_string());
            }
        } else if let Some((n, function)) = line.split_once(": ")
            && n.chars().all(|c| c.is_ascii_digit())
        {
            if function.starts_with("corosensei::") {
                break;
            }
            frames.push((function.to_string(), None));
        }
    }
    let shown = |(function, at): &(String, Option<String>)| match at {
        Some(at) => format!("{function} ({at})"),
        None => function.clone(),
    };
    let own: Vec<String> = frames
        .iter()
        .rev()
        .filter(|(f, _)| !is_machinery(f))
        .map(|(f, at)| shown(&(short(f).to_string(), at.clone())))
        .collect();
    if !own.is_empty() {
        return own;
    }
    // The runtime's own frames, past the task's launch and the capture.
    frames
        .iter()
        .rev()
        .filter(|(f, _)| f.starts_with("yieldfrom::") && !f.starts_with("yieldfrom::task::"))
        .filter(|(f, _)| !f.starts_with("yieldfrom::suspend::"))
        .take(2)
        .map(|(f, at)| {
            let f = f.strip_prefix("yieldfrom::").unwrap_or(f);
            format!("(runtime) {}", shown(&(f.to_string(), at.clone())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "   0: std::backtrace::Backtrace::force_capture
             at /rustc/abc/library/std/src/backtrace.rs:312:13
   1: yieldfrom::task::sites::capture
             at ./src/task/sites.rs:30:17
   2: chef::boil_water
             at ./examples/05_chef.rs:31:5
   3: chef::main::{{closure}}
             at ./examples/05_chef.rs:52:9
   4: <core::panic::unwind_safe::AssertUnwindSafe<F> as core::ops::function::FnOnce<()>>::call_once
             at /rustc/abc/library/core/src/panic/unwind_safe.rs:274:9
   5: __rust_try
   6: yieldfrom::task::TaskCell<F,T>::launch::{{closure}}
             at ./src/task/mod.rs:177:30
   7: corosensei::coroutine::Coroutine<Input,Yield,Return,Stack>::with_stack_unchecked::coroutine_func
             at /root/.cargo/registry/src/corosensei-0.3.4/src/coroutine.rs:243:30
   8: chef::main
             at ./examples/05_chef.rs:80:5
";

    #[test]
    fn the_programs_frames_are_kept_outermost_first_up_to_the_coroutines_root() {
        assert_eq!(
            call_sites(TRACE),
            [
                "main (examples/05_chef.rs:52)",
                "boil_water (examples/05_chef.rs:31)",
            ]
        );
    }

    #[test]
    fn a_task_with_no_frame_of_the_programs_shows_the_runtimes() {
        let trace = "   0: yieldfrom::suspend::suspend
             at ./src/suspend.rs:441:5
   1: yieldfrom::http::conn::serve
             at ./src/http/conn.rs:100:9
   2: yieldfrom::task::TaskCell<F,T>::launch::{{closure}}
   3: corosensei::coroutine::x
";
        assert_eq!(
            call_sites(trace),
            ["(runtime) http::conn::serve (src/http/conn.rs:100)"]
        );
    }

    #[test]
    fn trait_methods_belong_to_their_type_or_else_their_trait() {
        assert!(is_machinery(
            "<&yieldfrom::task::future::Future<T> as yieldfrom::awaitable::Awaitable>::await_in_task"
        ));
        assert!(is_machinery(
            "<F as core::ops::function::FnOnce<()>>::call_once"
        ));
        assert!(!is_machinery("<app::Pool as core::ops::drop::Drop>::drop"));
        assert!(!is_machinery("<T as app::Fetch>::fetch"));
        assert!(!is_machinery("app::fetch"));
    }

    #[test]
    fn a_build_without_lines_shows_the_functions() {
        let trace = "   0: yieldfrom::suspend::suspend\n   1: app::fetch\n   2: corosensei::x\n";
        assert_eq!(call_sites(trace), ["fetch"]);
    }
}
