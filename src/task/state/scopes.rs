//! The deadline scopes a task runs under (`timeout()`): entered and left
//! by the task, read at each park for the instant the loop files, and
//! asked, when that instant comes, whose deadline it was.

use std::rc::Rc;
use std::time::Instant;

use super::{CANCEL, State};
use crate::task::deadline::{Reached, Scope};

impl State {
    /// The task starts running under a new innermost scope with deadline
    /// `when`; the caller [`leave_scope`](Self::leave_scope)s it, innermost
    /// first.
    pub(crate) fn enter_scope(&self, when: Option<Instant>) -> Rc<Scope> {
        let scope = self.rare(|r| r.deadlines.enter(when));
        self.scoped.set(true);
        scope
    }

    /// Keeps `scope`, which the task has left, for its next one (see
    /// [`Deadlines::recycle`]).
    pub(crate) fn recycle_scope(&self, scope: Rc<Scope>) {
        self.rare(|r| r.deadlines.recycle(scope));
    }

    /// The task leaves `scope`, its innermost.
    pub(crate) fn leave_scope(&self, scope: &Rc<Scope>) {
        let still = self.rare(|r| r.deadlines.leave(scope));
        self.scoped.set(still);
    }

    /// Scopes fired: each is a cancellation request (withdrawn by its
    /// timeout as it ends).
    fn count_fired(&self, fired: u8) {
        self.cancels.set(self.cancels.get().saturating_add(fired));
    }

    /// The task parks in a wait whose own deadline is `own`: the instant the
    /// loop must file for it, the earlier of `own` and the deadlines of the
    /// scopes it runs under; or `None` if a scope's deadline has passed (read
    /// from `now`, only under a scope): the scope fired, and the task parks
    /// to be resumed with `Cancel` at once.
    #[inline(always)]
    pub(crate) fn wait_deadline(
        &self,
        own: Option<Instant>,
        now: impl FnOnce() -> Option<Instant>,
    ) -> Option<Option<Instant>> {
        // Without scopes (most waits) the wait's own deadline is all.
        if !self.scoped.get() {
            return Some(own);
        }
        self.scoped_wait_deadline(own, now)
    }

    /// [`wait_deadline`](Self::wait_deadline) under a scope.
    #[inline(never)]
    fn scoped_wait_deadline(
        &self,
        own: Option<Instant>,
        now: impl FnOnce() -> Option<Instant>,
    ) -> Option<Option<Instant>> {
        match self.rare(|r| r.deadlines.on_park(own, now)) {
            Ok(deadline) => Some(deadline),
            Err(fired) => {
                self.count_fired(fired);
                self.put(CANCEL, CANCEL);
                None
            }
        }
    }

    /// The instant the loop filed for the task's current wait has come
    /// (`now`): what it was (see [`Reached`]).
    #[inline]
    pub(crate) fn deadline_reached(&self, now: Instant) -> Reached {
        if !self.scoped.get() {
            return Reached::Own;
        }
        let (reached, fired) = self.rare(|r| r.deadlines.reached(now));
        self.count_fired(fired);
        reached
    }
}
