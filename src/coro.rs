//! Coroutine objects: what calling an `async def` function gives you.
//!
//! In Python, `fetch_data()` does not run `fetch_data`'s body: it returns a
//! *coroutine object*, a paused plan that runs only when it is awaited or
//! wrapped in a task. [`Coro<T>`] is that object. It holds the body as a
//! closure; [`yield_from`](crate::yield_from) runs it inline on the current
//! task's stack, [`spawn`](crate::spawn) gives it a stack and a task of its own,
//! and [`run`](crate::run) starts an event loop for it.
//!
//! A `Coro` that is dropped without ever being started prints, once,
//! `coroutine 'name' was never awaited` — the same warning Python's
//! `RuntimeWarning` gives for the tutorial's classic mistake
//! `data = fetch_data()  # WRONG`.

use std::fmt;

/// A coroutine object: a body that has not run yet (Python's coroutine).
///
/// ```
/// use yieldfrom::Coro;
/// let plan = Coro::new("fetch_data", || "Data");
/// assert_eq!(plan.name(), "fetch_data");
/// assert_eq!(yieldfrom::run(plan), "Data");
/// ```
#[must_use = "a coroutine does nothing until it is awaited with yield_from(), spawned, or run()"]
pub struct Coro<T> {
    /// Its name in reports and traces.
    name: &'static str,
    /// The body, until it is run (taken then: a coroutine runs once).
    body: Option<Box<dyn Body<T>>>,
}

/// A coroutine's body, boxed (the closure's type is erased here; spawning
/// moves it, with its type known again, into the task's one allocation).
pub(crate) struct BodyBox<F>(F);

/// What a boxed body can do (see [`BodyBox`]).
pub(crate) trait Body<T> {
    /// Runs the body here.
    fn call(self: Box<Self>) -> T;
    /// Moves the body into a new task (not yet scheduled).
    fn into_task(
        self: Box<Self>,
        id: crate::task::TaskId,
        name: &'static str,
        lp: crate::task::raw::HomeRef,
    ) -> crate::Task<T>;
}

impl<T: 'static, F: FnOnce() -> T + 'static> Body<T> for BodyBox<F> {
    fn call(self: Box<Self>) -> T {
        (self.0)()
    }

    fn into_task(
        self: Box<Self>,
        id: crate::task::TaskId,
        name: &'static str,
        lp: crate::task::raw::HomeRef,
    ) -> crate::Task<T> {
        crate::Task::new(self.0, id, name, lp)
    }
}

impl<T: 'static> Coro<T> {
    /// Wraps `body` as a coroutine object named `name`; nothing runs yet.
    ///
    /// `name` is a string literal or a `String` made at run time
    /// (`format!("fetch {url}")`); see [`TaskName`](crate::TaskName).
    ///
    /// ```
    /// use yieldfrom::{run, yield_from, Coro};
    /// let greet = Coro::new("greet", || "hello"); // nothing has run yet
    /// assert_eq!(run(Coro::new("main", move || yield_from(greet))), "hello");
    /// ```
    pub fn new(name: impl Into<crate::TaskName>, body: impl FnOnce() -> T + 'static) -> Coro<T> {
        Coro {
            name: name.into().as_str(),
            body: Some(Box::new(BodyBox(body))),
        }
    }
}

impl<T> Coro<T> {
    /// The coroutine's name (Python: `__qualname__`), used in warnings and traces.
    ///
    /// ```
    /// use yieldfrom::Coro;
    /// let url = "https://example.com";
    /// let fetch = Coro::new(format!("fetch {url}"), || ());
    /// assert_eq!(fetch.name(), "fetch https://example.com");
    /// # drop(yieldfrom::warnings::catch(|| drop(fetch)));
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Takes the body out to run it; the coroutine counts as awaited from now on.
    pub(crate) fn into_body(mut self) -> Box<dyn Body<T>> {
        self.body.take().expect("a Coro's body is taken only once")
    }

    /// Runs the body right here, on the current stack (what awaiting a coroutine is).
    pub(crate) fn run_inline(self) -> T {
        self.into_body().call()
    }
}

impl<T> Drop for Coro<T> {
    fn drop(&mut self) {
        if self.body.is_some() {
            use crate::warnings::{Report, ReportKind, report};
            report(
                Report::new(
                    ReportKind::NeverAwaited,
                    format!("coroutine '{}' was never awaited", self.name),
                )
                .source(self.name),
            );
        }
    }
}

impl<T> fmt::Debug for Coro<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<coroutine object {}>", self.name)
    }
}

/// Defines a coroutine function: Python's `async def`.
///
/// The function returns a [`Coro`] of its declared type; its arguments are
/// moved into the coroutine, and its body runs only when the coroutine is
/// awaited, spawned or run.
///
/// ```
/// use yieldfrom::{async_def, run, sleep, yield_from};
/// use std::time::Duration;
///
/// async_def! {
///     /// Waits, then says hello.
///     fn greet(who: &'static str) -> String {
///         sleep(Duration::from_millis(1));
///         format!("hello, {who}")
///     }
/// }
///
/// let coro = greet("world"); // nothing printed, nothing slept
/// assert_eq!(coro.name(), "greet");
/// assert_eq!(run(coro), "hello, world");
/// ```
///
/// Arguments may be patterns (`mut total: u32`, `(a, b): (u8, u8)`) and
/// `impl Trait + 'static`; type parameters may have bounds (traits named by
/// a plain name, such as `Display` or `Into<String>`), and each is made
/// `'static` for you. Why `'static`: the coroutine owns its arguments and
/// may run after the caller's frame is gone (a task outlives the function
/// that spawned it), so it cannot hold a borrow of that frame.
///
/// ```
/// use std::fmt::Display;
/// use yieldfrom::{async_def, run, yield_now};
///
/// async_def! {
///     fn count_down(mut n: u32, (label, sep): (&'static str, char)) -> String {
///         let mut out = String::from(label);
///         while n > 0 {
///             out.push(sep);
///             out += &n.to_string();
///             n -= 1;
///             yield_now();
///         }
///         out
///     }
/// }
/// async_def! {
///     fn describe<T: Display + Clone>(item: T, suffix: impl Display + 'static) -> String {
///         format!("{item}{suffix}")
///     }
/// }
/// assert_eq!(run(count_down(3, ("go", ' '))), "go 3 2 1");
/// assert_eq!(run(describe(4.5, " s")), "4.5 s");
/// ```
#[macro_export]
macro_rules! async_def {
    (
        $(#[$meta:meta])* $vis:vis fn $name:ident
        $(< $($gen:ident $(: $first:ident $(< $($farg:ty),+ >)? $(+ $bound:ident $(< $($barg:ty),+ >)?)*)?),+ $(,)? >)?
        ($($arg:tt $($binding:ident)? : $ty:ty),* $(,)?) -> $ret:ty $body:block
    ) => {
        $(#[$meta])*
        $vis fn $name $(< $($gen: 'static $(+ $first $(< $($farg),+ >)? $(+ $bound $(< $($barg),+ >)?)*)?),+ >)? ($($arg $($binding)?: $ty),*) -> $crate::Coro<$ret> {
            $crate::Coro::new(stringify!($name), move || -> $ret { $body })
        }
    };
    (
        $(#[$meta:meta])* $vis:vis fn $name:ident
        $(< $($gen:ident $(: $first:ident $(< $($farg:ty),+ >)? $(+ $bound:ident $(< $($barg:ty),+ >)?)*)?),+ $(,)? >)?
        ($($arg:tt $($binding:ident)? : $ty:ty),* $(,)?) $body:block
    ) => {
        $crate::async_def! {
            $(#[$meta])* $vis fn $name $(< $($gen $(: $first $(< $($farg),+ >)? $(+ $bound $(< $($barg),+ >)?)*)?),+ >)? ($($arg $($binding)?: $ty),*) -> () $body
        }
    };
}
