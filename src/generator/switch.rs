//! Switching into a generator's body, and closing it when dropped: the
//! one place its coroutine is resumed and its state changes with it.

use std::cell::Cell;
use std::mem::MaybeUninit;

use corosensei::CoroutineResult;

use super::{GenError, Generator, GeneratorState, Resume, State};

/// Sets the generator to `Finished` if a resume unwinds (a panic in the body).
struct FinishOnUnwind<'a>(&'a Cell<State>);

impl Drop for FinishOnUnwind<'_> {
    fn drop(&mut self) {
        self.0.set(State::Finished);
    }
}

impl<Y, S, R> Drop for Generator<Y, S, R> {
    /// Dropping a paused generator closes it, as Python's generator
    /// finaliser does: [`GenError::Exit`] is delivered at the paused yield
    /// and every destructor on its stack runs as the body finishes.
    ///
    /// What `close` would return is reported, never raised (Python's
    /// "Exception ignored in: <generator ...>"): an error the body ended with
    /// is printed as a warning; a body that yields again while it is closed
    /// (a cleanup guard that awaits, say) is reported as "generator ignored
    /// GeneratorExit" and its stack is leaked, since unwinding it would run
    /// that cleanup again inside an unwind, which aborts the process.
    fn drop(&mut self) {
        match self.state.get() {
            // Only reachable by leaking a running generator's owner into its own
            // body; the stack cannot be unwound from inside itself.
            State::Running => std::mem::forget(self.body.get_mut().take()),
            State::Suspended => self.close_on_drop(),
            State::Created | State::Finished => {}
        }
    }
}

impl<Y, S, R> Generator<Y, S, R> {
    /// The switch into the body; the caller has checked that it may run.
    #[inline(always)]
    pub(super) fn switch(&self, how: Resume<S>) -> Result<GeneratorState<Y, R>, GenError> {
        self.state.set(State::Running);
        let guard = FinishOnUnwind(&self.state);
        // SAFETY: the state was not Running, and is Running now until this call
        // returns, so no other `&self` call can reach the body while we hold
        // this unique reference (re-entrant calls return AlreadyRunning above).
        let body = unsafe { &mut *self.body.get() };
        // SAFETY: callers only switch into a generator that is Created or
        // Suspended, and the body is `None` only once it is Finished.
        let co = unsafe { body.as_mut().unwrap_unchecked() };
        let input = match how {
            Resume::Send(value) => MaybeUninit::new(value),
            Resume::Start => MaybeUninit::uninit(),
            Resume::Throw(error) => {
                self.inbox.0.set(Some(error));
                MaybeUninit::uninit()
            }
        };
        let result = co.resume(input);
        std::mem::forget(guard);
        match result {
            CoroutineResult::Yield(y) => {
                self.state.set(State::Suspended);
                Ok(GeneratorState::Yielded(y))
            }
            CoroutineResult::Return(r) => {
                self.state.set(State::Finished);
                // Hand the stack back to the pool now rather than at drop.
                *body = None;
                match r {
                    Ok(r) => Ok(GeneratorState::Complete(r)),
                    // PEP 479: "finished" escaping the body is not the body
                    // finishing; say so, or the caller would stop early.
                    Err(GenError::Finished) => Err(GenError::RaisedFinished),
                    Err(e) => Err(e),
                }
            }
        }
    }

    pub(super) fn finish_unstarted(&self) {
        self.state.set(State::Finished);
        // SAFETY: the state is not Running (callers check), so nothing else
        // holds a reference to the body.
        unsafe { *self.body.get() = None };
    }

    #[cold]
    fn close_on_drop(&mut self) {
        // `close` of a suspended body, which needs no `S: 'static`.
        let close = || match self.switch(Resume::Throw(GenError::Exit)) {
            Ok(GeneratorState::Yielded(_)) => Err(GenError::IgnoredExit),
            Ok(GeneratorState::Complete(_)) | Err(GenError::Exit) => Ok(()),
            Err(e) => Err(e),
        };
        let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(close)) {
            Ok(result) => result,
            Err(payload) => {
                // A panic in the body while it closed: its stack unwound as
                // the panic left it; report it instead of panicking in drop.
                crate::warnings::warn(format!(
                    "yieldfrom: exception ignored while dropping generator '{}': it panicked: {}",
                    self.name,
                    crate::warnings::panic_message(payload.as_ref())
                ));
                return;
            }
        };
        match result {
            Ok(()) => {}
            Err(GenError::IgnoredExit) => {
                crate::warnings::warn(format!(
                    "yieldfrom: exception ignored while dropping generator '{}': generator \
                     ignored GeneratorExit (it yielded while being closed); its stack is leaked",
                    self.name
                ));
                std::mem::forget(self.body.get_mut().take());
            }
            Err(e) => crate::warnings::warn(format!(
                "yieldfrom: exception ignored while dropping generator '{}': {e}",
                self.name
            )),
        }
    }
}
