//! The deadlines a task runs under (the inside of `timeout()`), and what a
//! wait's deadline turns out to be when it comes.
//!
//! A wait may have a deadline of its own (a sleep, a socket read with a
//! timeout), and the task may run under [`Scope`]s, each with a deadline
//! that can move. Neither files a timer: as the task parks, its wait's
//! deadline becomes the earlier of its own and the scopes' that have not
//! fired ([`Deadlines::on_park`]), the loop files that one instant with the
//! wait's number, and when it comes [`Deadlines::reached`] says what it
//! was: the wait's own (it ends), a scope's (the scope fires and the task
//! is cancelled), or neither any more (a scope moved later: the loop files
//! the new instant). A task that parks after a scope's deadline has passed
//! is cancelled there and then, so a wait that is always over at once (a
//! busy socket) cannot outrun its timeout. The task's state
//! ([`State`](super::state::State)) holds these and counts each fired
//! scope as a cancellation.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

/// What the instant the loop filed for a wait turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reached {
    /// The wait's own deadline: the wait ends (resumed with `Run`).
    Own,
    /// A scope's: it fired, and the task is to be resumed with `Cancel`.
    Scope,
    /// Neither, any more (a scope's deadline moved later or away): the
    /// wait goes on, until this instant if any (the loop files it).
    Early(Option<Instant>),
}

/// A deadline a task runs under, one of a chain, innermost first. The
/// task's deadlines hold the innermost; the timeout holds its own, to move
/// its deadline and to see whether it fired.
pub(crate) struct Scope {
    /// The deadline (`None`: none for now).
    when: Cell<Option<Instant>>,
    /// The deadline passed and the task was cancelled for it.
    fired: Cell<bool>,
    /// The task has left the scope: its deadline no longer applies, and
    /// cannot be moved (the task runs other code by then).
    ended: Cell<bool>,
    /// The scope this one is inside.
    outer: Option<Rc<Scope>>,
}

impl Scope {
    /// The deadline.
    pub(crate) fn when(&self) -> Option<Instant> {
        self.when.get()
    }

    /// Moves the deadline (the caller files the new instant for a task that
    /// waits: [`Deadlines::on_park`] only runs as a task parks).
    pub(crate) fn set_when(&self, when: Option<Instant>) {
        self.when.set(when);
    }

    /// Whether the deadline passed and the task was cancelled for it.
    pub(crate) fn fired(&self) -> bool {
        self.fired.get()
    }

    /// Whether the task has left the scope.
    pub(crate) fn ended(&self) -> bool {
        self.ended.get()
    }

    /// The scopes from this one outwards.
    fn chain(&self) -> impl Iterator<Item = &Scope> {
        std::iter::successors(Some(self), |s| s.outer.as_deref())
    }
}

/// The deadline scopes of one task, and what its current wait needs of them.
#[derive(Default)]
pub(crate) struct Deadlines {
    /// The innermost scope the task runs under.
    scope: Option<Rc<Scope>>,
    /// A scope the task has left and nothing else holds, kept for its next
    /// (a timeout per request, in a loop, then allocates nothing).
    spare: Option<Rc<Scope>>,
    /// The current wait's own deadline (to tell it from a scope's when the
    /// filed instant comes).
    own: Option<Instant>,
    /// A scope fired as the task parked (the cancellation it gets is a
    /// timeout's).
    timed_out: bool,
}

impl Deadlines {
    /// The task starts running under a new innermost scope with deadline
    /// `when`; it [`leave`](Self::leave)s it, innermost first.
    pub(crate) fn enter(&mut self, when: Option<Instant>) -> Rc<Scope> {
        let fresh = Scope {
            when: Cell::new(when),
            fired: Cell::new(false),
            ended: Cell::new(false),
            outer: self.scope.take(),
        };
        let scope = match self.spare.take() {
            Some(mut spare) => {
                let slot = Rc::get_mut(&mut spare).expect("a spare scope is held once");
                *slot = fresh;
                spare
            }
            None => Rc::new(fresh),
        };
        self.scope = Some(scope.clone());
        scope
    }

    /// The task leaves `scope`, its innermost: whether it still runs under
    /// one.
    pub(crate) fn leave(&mut self, scope: &Rc<Scope>) -> bool {
        debug_assert!(self.scope.as_ref().is_some_and(|s| Rc::ptr_eq(s, scope)));
        self.scope = scope.outer.clone();
        scope.ended.set(true);
        self.scope.is_some()
    }

    /// Keeps `scope`, which the task has left, for its next one, if
    /// nothing else holds it (a `Timeout` clone kept past its work does).
    pub(crate) fn recycle(&mut self, mut scope: Rc<Scope>) {
        if let Some(slot) = Rc::get_mut(&mut scope) {
            slot.outer = None;
            self.spare = Some(scope);
        }
    }

    /// Fires every scope whose deadline is `now` or past: how many fired
    /// (each counts as a cancellation, which its timeout withdraws as it
    /// ends).
    fn expire(&self, now: Instant) -> u8 {
        let mut fired = 0u8;
        for scope in self.scope.iter().flat_map(|s| s.chain()) {
            if !scope.fired.get() && scope.when.get().is_some_and(|w| w <= now) {
                scope.fired.set(true);
                fired = fired.saturating_add(1);
            }
        }
        fired
    }

    /// The earliest deadline of the scopes that have not fired.
    fn earliest(&self) -> Option<Instant> {
        let scope = self.scope.as_deref()?;
        scope
            .chain()
            .filter(|s| !s.fired.get())
            .filter_map(|s| s.when.get())
            .min()
    }

    /// The task parks in a wait whose own deadline is `own`: `Ok` with the
    /// instant the loop must file for it (the earlier of `own` and the
    /// scopes'), or `Err` with how many scopes fired if one's deadline had
    /// passed (`now` is read only if a scope has a deadline): the task is
    /// to be resumed with `Cancel` at once.
    pub(crate) fn on_park(
        &mut self,
        own: Option<Instant>,
        now: impl FnOnce() -> Option<Instant>,
    ) -> Result<Option<Instant>, u8> {
        self.own = own;
        let scopes = self.earliest();
        if let Some(deadline) = scopes
            && let Some(now) = now()
            && deadline <= now
        {
            let fired = self.expire(now);
            if fired > 0 {
                self.timed_out = true;
                return Err(fired);
            }
        }
        Ok(earlier(own, scopes))
    }

    /// The instant the loop filed for the task's current wait has come
    /// (`now`): what it was, and how many scopes fired.
    pub(crate) fn reached(&self, now: Instant) -> (Reached, u8) {
        if self.scope.is_none() {
            return (Reached::Own, 0);
        }
        let fired = self.expire(now);
        let reached = if fired > 0 {
            Reached::Scope
        } else if self.own.is_some_and(|own| own <= now) {
            Reached::Own
        } else {
            Reached::Early(earlier(self.own, self.earliest()))
        };
        (reached, fired)
    }

    /// Whether a scope fired as the task parked (once).
    pub(crate) fn take_timed_out(&mut self) -> bool {
        std::mem::take(&mut self.timed_out)
    }
}

/// The earlier of two deadlines, either of which may be none.
fn earlier(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(s: u64) -> Instant {
        crate::reason::epoch() + Duration::from_secs(s)
    }

    #[test]
    fn a_wait_parks_until_the_earlier_of_its_own_and_its_scopes() {
        let mut d = Deadlines::default();
        let outer = d.enter(Some(at(10)));
        let inner = d.enter(Some(at(20)));
        assert_eq!(d.on_park(Some(at(5)), || None), Ok(Some(at(5))));
        assert_eq!(d.on_park(None, || None), Ok(Some(at(10))));
        assert_eq!(d.reached(at(5)), (Reached::Early(Some(at(10))), 0));
        assert!(d.leave(&inner));
        assert!(!d.leave(&outer));
        assert!(outer.ended());
    }

    #[test]
    fn each_scope_past_its_deadline_fires_once() {
        let mut d = Deadlines::default();
        let outer = d.enter(Some(at(10)));
        let inner = d.enter(Some(at(10)));
        d.on_park(None, || None).unwrap();
        assert_eq!(d.reached(at(10)), (Reached::Scope, 2));
        assert!(outer.fired() && inner.fired());
        // Fired scopes no longer count: the cleanup's waits are its own.
        assert_eq!(d.on_park(Some(at(12)), || Some(at(11))), Ok(Some(at(12))));
        assert_eq!(d.reached(at(12)), (Reached::Own, 0));
    }

    #[test]
    fn a_deadline_moved_later_is_found_early_and_filed_again() {
        let mut d = Deadlines::default();
        let scope = d.enter(Some(at(10)));
        assert_eq!(d.on_park(Some(at(30)), || None), Ok(Some(at(10))));
        scope.set_when(Some(at(20)));
        assert_eq!(d.reached(at(10)), (Reached::Early(Some(at(20))), 0));
        scope.set_when(None);
        assert_eq!(d.reached(at(20)), (Reached::Early(Some(at(30))), 0));
    }

    #[test]
    fn a_deadline_passed_before_the_park_cancels_there() {
        let mut d = Deadlines::default();
        let _scope = d.enter(Some(at(10)));
        assert_eq!(d.on_park(None, || Some(at(11))), Err(1));
        assert!(d.take_timed_out());
        assert!(!d.take_timed_out(), "told once");
    }

    #[test]
    fn a_left_scope_is_reused_unless_someone_keeps_it() {
        let mut d = Deadlines::default();
        let first = d.enter(Some(at(1)));
        let address = Rc::as_ptr(&first);
        d.leave(&first);
        d.recycle(first);
        let second = d.enter(None);
        assert_eq!(Rc::as_ptr(&second), address);
        assert!(!second.ended() && second.when().is_none());
        d.leave(&second);
        let kept = second.clone();
        d.recycle(second);
        let third = d.enter(None);
        assert_ne!(Rc::as_ptr(&third), Rc::as_ptr(&kept));
    }
}
