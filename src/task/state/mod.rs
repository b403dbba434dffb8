//! A task's state, and every change of it.
//!
//! [`State`] is the one owner of the cells that say where a task is in its
//! life: its phase, the number of its current wait, how it resumes, the
//! cancellations asked of it, what it waits on, what is unwinding through
//! it. Its cells are private; each change is a method here, named after the
//! event (a step begins, the task parks, a waker fires, someone cancels),
//! returning what the loop must do about it. The scheduler, the wakers and
//! the task's own frames only call these.
//!
//! # The invariant
//!
//! A task is in exactly one phase:
//!
//! - **Ready**: it is on its loop's ready queue exactly once, and
//!   `WAKE_CANCEL` says how it resumes (a pending cancellation, `CANCEL`,
//!   is delivered instead when it runs).
//! - **Running**: it is on the CPU, between [`State::begin_step`] and
//!   [`State::park`] or [`State::finish`]. A wake that comes now is kept
//!   (`EARLY`) and a cancellation is noted (`CANCEL`); both are acted on as
//!   it parks, the cancellation first (it spends the wake).
//! - **Waiting**: it is parked on no ready queue, `waiting_on` says on what,
//!   and its wait has the number `seq`. Every waker holds the number of the
//!   wait it was made for; the first to fire with the current number
//!   schedules the task ([`State::make_ready`] moves `seq` on), so every
//!   other waker of that wait (a timer, a socket, a future) finds itself
//!   stale and does nothing: a task is scheduled at most once per wait.
//! - **Done**: its body returned or unwound; nothing schedules it again.
//!
//! As asyncio's `Task` says of itself: either the task waits on something
//! and no step of it is scheduled, or a step is scheduled and it waits on
//! nothing.
//!
//! # Deadlines
//!
//! The state also keeps the deadlines the task runs under
//! ([`Deadlines`]); a scope that fires counts as one cancellation, and the
//! wait it ends is resumed with `Cancel`.

use std::cell::Cell;

use super::deadline::Deadlines;
use crate::reason::{Suspend, Wake};
use crate::task_id::TaskEnd;

mod scopes;

/// Where a task is in its life (see the module's invariant).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskState {
    Ready,
    Running,
    Waiting,
    Done,
}

/// What is unwinding through a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unwind {
    /// Nothing.
    None,
    /// A cancellation raised at an await point, not yet caught by
    /// [`catch_cancelled`](crate::catch_cancelled) or the task's root.
    Cancelling,
    /// The loop is dropped without closing and drops the task's stack.
    Forced,
}

/// What the loop must do with a task that has just parked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Parked {
    /// Nothing now: it waits, with this wait number, for a waker (and for
    /// its deadline, if its trap carries one).
    Waits(u32),
    /// Schedule it again at once, resumed with this: it was cancelled, or
    /// woken, during its own step. The reason is what it had waited on.
    Again(Wake, Option<Suspend>),
    /// Schedule it again at once, cancelled: a deadline of a scope it runs
    /// under had passed when it parked.
    TimedOut(Option<Suspend>),
}

/// What few tasks have, kept out of the record behind one pointer.
#[derive(Default)]
struct Rare {
    /// How the task ended, when not by returning (for traces).
    end: Option<TaskEnd>,
    /// The deadline scopes it runs under (a `timeout()`).
    deadlines: Deadlines,
}

/// What a cancellation request asks of the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CancelAction {
    /// The task waits: schedule it now, resumed with `Cancel`.
    Schedule,
    /// The task is ready or running: it gets the cancellation at its next
    /// step, or as it parks (noted); or it is done (nothing to do).
    Noted,
}

/// The state of a task (see the module's invariant).
///
/// The small parts share one byte (`bits`, as async-task's header keeps its
/// state in one word), so that the record stays within four cache lines.
pub(crate) struct State {
    /// Its phase ([`PHASE`]), how it resumes when the loop next steps it
    /// ([`WAKE_CANCEL`]: set as it is scheduled, since the ready queue holds
    /// only the task), a wake that came while it ran ([`EARLY`],
    /// [`EARLY_CANCEL`]), a cancellation not yet delivered ([`CANCEL`]: it
    /// came while the task was ready or running), and what is unwinding
    /// through it ([`UNWIND`]).
    bits: Cell<u8>,
    /// Cancellations requested and not withdrawn (asyncio's
    /// `Task.cancelling()`): a timeout or a task group that cancelled the
    /// task to stop its own work withdraws its request ([`uncancel`]), so
    /// that a cancellation from anyone else can be told apart and wins.
    /// Saturates at 255 (one byte: the record is kept to 256 bytes).
    ///
    /// [`uncancel`]: State::uncancel
    cancels: Cell<u8>,
    /// The number of its current wait: a waker made for another number is
    /// stale.
    seq: Cell<u32>,
    /// What it waits on now (for the stepper and deadlock messages).
    waiting_on: Cell<Option<Suspend>>,
    /// Whether it runs under a deadline scope (so that a wait without one
    /// never looks into `rare`; a byte of what would be padding).
    scoped: Cell<bool>,
    /// How it ended, and the deadline scopes it runs under: what most
    /// tasks never have (one word in the record).
    rare: Cell<Option<Box<Rare>>>,
}

/// `bits`: the phase, two bits.
const PHASE: u8 = 0b11;
/// `bits`: it resumes with `Cancel` (else `Run`).
const WAKE_CANCEL: u8 = 1 << 2;
/// `bits`: a wake came while it ran.
const EARLY: u8 = 1 << 3;
/// `bits`: that early wake is `Cancel`.
const EARLY_CANCEL: u8 = 1 << 4;
/// `bits`: a cancellation waits to be delivered.
const CANCEL: u8 = 1 << 5;
/// `bits`: what is unwinding, two bits.
const UNWIND: u8 = 0b11 << 6;

const fn phase_bits(phase: TaskState) -> u8 {
    match phase {
        TaskState::Ready => 0,
        TaskState::Running => 1,
        TaskState::Waiting => 2,
        TaskState::Done => 3,
    }
}

const fn unwind_bits(unwind: Unwind) -> u8 {
    match unwind {
        Unwind::None => 0,
        Unwind::Cancelling => 1 << 6,
        Unwind::Forced => 2 << 6,
    }
}

impl State {
    /// A task that is about to be scheduled for its first step.
    pub(crate) fn new() -> State {
        State {
            bits: Cell::new(phase_bits(TaskState::Ready)),
            cancels: Cell::new(0),
            seq: Cell::new(0),
            waiting_on: Cell::new(None),
            scoped: Cell::new(false),
            rare: Cell::new(None),
        }
    }

    /// Calls `f` with the rare part, made if the task had none.
    fn rare<R>(&self, f: impl FnOnce(&mut Rare) -> R) -> R {
        let mut rare = self.rare.take().unwrap_or_default();
        let r = f(&mut rare);
        self.rare.set(Some(rare));
        r
    }

    /// Calls `f` with the rare part, if the task has one.
    #[inline(always)]
    fn peek_rare<R>(&self, f: impl FnOnce(Option<&mut Rare>) -> R) -> R {
        let mut rare = self.rare.take();
        let r = f(rare.as_deref_mut());
        self.rare.set(rare);
        r
    }

    #[inline(always)]
    fn has(&self, bit: u8) -> bool {
        self.bits.get() & bit != 0
    }

    #[inline(always)]
    fn put(&self, mask: u8, value: u8) {
        self.bits.set(self.bits.get() & !mask | value);
    }

    #[inline(always)]
    fn set_phase(&self, phase: TaskState) {
        self.put(PHASE, phase_bits(phase));
    }

    /// Clears [`CANCEL`]; whether it was set.
    #[inline(always)]
    fn take_cancel(&self) -> bool {
        let was = self.has(CANCEL);
        self.put(CANCEL, 0);
        was
    }

    /// Clears the early wake; what it was.
    #[inline(always)]
    fn take_early(&self) -> Option<Wake> {
        let bits = self.bits.get();
        self.put(EARLY | EARLY_CANCEL, 0);
        (bits & EARLY != 0).then_some(wake_of(bits & EARLY_CANCEL != 0))
    }

    // ----- reading -------------------------------------------------------

    /// Its phase.
    #[inline(always)]
    pub(crate) fn get(&self) -> TaskState {
        match self.bits.get() & PHASE {
            0 => TaskState::Ready,
            1 => TaskState::Running,
            2 => TaskState::Waiting,
            _ => TaskState::Done,
        }
    }

    /// Whether it has finished.
    #[inline(always)]
    pub(crate) fn is_done(&self) -> bool {
        self.get() == TaskState::Done
    }

    /// The number of its current (or, while it runs, next) wait.
    #[inline(always)]
    pub(crate) fn wait_seq(&self) -> u32 {
        self.seq.get()
    }

    /// Whether it is parked in the wait numbered `seq`.
    #[inline(always)]
    pub(crate) fn waits_in(&self, seq: u32) -> bool {
        self.seq.get() == seq && self.get() == TaskState::Waiting
    }

    /// What it waits on (the last wait, once it runs again).
    pub(crate) fn waiting_on(&self) -> Option<Suspend> {
        self.waiting_on.get()
    }

    /// How many cancellations are requested and not withdrawn.
    pub(crate) fn cancelling(&self) -> u8 {
        self.cancels.get()
    }

    /// What is unwinding through it.
    #[inline(always)]
    pub(crate) fn unwind(&self) -> Unwind {
        match self.bits.get() & UNWIND {
            0 => Unwind::None,
            0x40 => Unwind::Cancelling,
            _ => Unwind::Forced,
        }
    }

    /// Whether the task swallowed a cancellation and is about to get it
    /// again (a closing loop counts these).
    pub(crate) fn swallowed_cancel(&self) -> bool {
        self.unwind() == Unwind::Cancelling
            && self.get() == TaskState::Ready
            && self.has(WAKE_CANCEL)
    }

    // ----- the loop's side -----------------------------------------------

    /// Puts it on the ready queue's side of the invariant, to resume with
    /// `how` (the caller queues it): the wait is over, so every other waker
    /// of it is stale.
    #[inline(always)]
    pub(crate) fn make_ready(&self, how: Wake) {
        self.seq.set(self.seq.get().wrapping_add(1));
        let wake = if how == Wake::Cancel { WAKE_CANCEL } else { 0 };
        self.put(PHASE | WAKE_CANCEL, phase_bits(TaskState::Ready) | wake);
    }

    /// A step begins: how to resume it (a pending cancellation wins), or
    /// `None` for a task that has finished meanwhile (a stale queue entry).
    #[inline(always)]
    pub(crate) fn begin_step(&self) -> Option<Wake> {
        if self.get() == TaskState::Done {
            return None;
        }
        let wake = if self.take_cancel() {
            Wake::Cancel
        } else {
            wake_of(self.has(WAKE_CANCEL))
        };
        self.set_phase(TaskState::Running);
        Some(wake)
    }

    /// The step ended with the task parked: whether it waits, or must be
    /// scheduled again at once (a cancellation or a wake came during the
    /// step; the cancellation wins).
    #[inline(always)]
    pub(crate) fn park(&self) -> Parked {
        self.set_phase(TaskState::Waiting);
        let early = self.take_early();
        if self.take_cancel() {
            // (The cancellation ends the wait; a wake that came too is spent.)
            let timed_out = self.peek_rare(|r| r.is_some_and(|r| r.deadlines.take_timed_out()));
            if timed_out {
                Parked::TimedOut(self.waiting_on.get())
            } else {
                Parked::Again(Wake::Cancel, self.waiting_on.get())
            }
        } else if let Some(how) = early {
            Parked::Again(how, None)
        } else {
            Parked::Waits(self.seq.get())
        }
    }

    /// The body returned or unwound, or was dropped: nothing schedules the
    /// task again.
    pub(crate) fn finish(&self) {
        self.set_phase(TaskState::Done);
        self.waiting_on.set(None);
    }

    // ----- the task's side -----------------------------------------------

    /// The task is about to park on `reason` (kept for the stepper and for
    /// deadlock messages).
    #[inline(always)]
    pub(crate) fn waits_on(&self, reason: Suspend) {
        self.waiting_on.set(Some(reason));
    }

    /// A swallowed cancellation, delivered again: the task parks as for
    /// `yield_now`, and the loop resumes it with `Cancel`.
    #[cold]
    pub(crate) fn redeliver_cancel(&self) -> Suspend {
        self.put(CANCEL, CANCEL);
        Suspend::YieldNow
    }

    /// The body ended normally: whether a cancellation came in its last
    /// step, after its last await (it then ends cancelled, as in asyncio).
    pub(crate) fn cancelled_at_return(&self) -> bool {
        self.take_cancel()
    }

    /// A cancellation starts unwinding through the task (unless one is
    /// already, or the unwind is forced).
    pub(crate) fn cancellation_raised(&self) {
        if self.unwind() == Unwind::None {
            self.put(UNWIND, unwind_bits(Unwind::Cancelling));
        }
    }

    /// The cancellation unwinding through the task was caught.
    pub(crate) fn cancellation_caught(&self) {
        if self.unwind() == Unwind::Cancelling {
            self.put(UNWIND, unwind_bits(Unwind::None));
        }
    }

    /// The loop is dropped without closing: the task's stack unwinds to
    /// its root, and nothing may stop it.
    pub(crate) fn force_unwind(&self) {
        self.put(UNWIND, unwind_bits(Unwind::Forced));
    }

    /// Records how the task ended, when not by returning.
    pub(crate) fn note_end(&self, end: TaskEnd) {
        self.rare(|r| r.end = Some(end));
    }

    /// Records that it ended cancelled, unless a more telling end is noted.
    pub(crate) fn note_cancelled(&self, end: TaskEnd) {
        self.rare(|r| {
            r.end.get_or_insert(end);
        });
    }

    /// How the task ended.
    pub(crate) fn end(&self) -> TaskEnd {
        self.peek_rare(|r| r.and_then(|r| r.end.clone()))
            .unwrap_or(TaskEnd::Returned)
    }

    // ----- wakers ---------------------------------------------------------

    /// A waker made for wait `seq` fires: whether the loop must schedule the
    /// task now (it waits in that wait). A task still running that wait's
    /// step keeps the wake for when it parks.
    #[inline(always)]
    pub(crate) fn woken(&self, seq: u32, how: Wake) -> bool {
        if self.seq.get() != seq {
            return false;
        }
        match self.get() {
            TaskState::Waiting => true,
            TaskState::Running => {
                // Woken before it parked: it is rescheduled as soon as it
                // does, and no other waker of this wait counts.
                self.seq.set(seq.wrapping_add(1));
                let cancel = if how == Wake::Cancel { EARLY_CANCEL } else { 0 };
                self.put(EARLY | EARLY_CANCEL, EARLY | cancel);
                false
            }
            TaskState::Ready | TaskState::Done => false,
        }
    }

    /// Someone asks the task to stop (asyncio's `Task.cancel()`).
    pub(crate) fn cancel(&self) -> CancelAction {
        match self.get() {
            TaskState::Done => return CancelAction::Noted,
            _ => self.cancels.set(self.cancels.get().saturating_add(1)),
        }
        match self.get() {
            TaskState::Waiting => CancelAction::Schedule,
            _ => {
                self.put(CANCEL, CANCEL);
                CancelAction::Noted
            }
        }
    }

    /// A waiting task's cancellation has nowhere to be scheduled (its loop
    /// is gone): it waits for a step that never comes.
    pub(crate) fn cancel_unscheduled(&self) {
        self.put(CANCEL, CANCEL);
    }

    /// Withdraws one cancellation request (asyncio's `Task.uncancel()`): how
    /// many are left. When none is, a request not yet delivered to the task
    /// (it was ready or running when it came) is dropped too; one already
    /// delivered has been raised, and stays so.
    pub(crate) fn uncancel(&self) -> u8 {
        let left = self.cancels.get().saturating_sub(1);
        self.cancels.set(left);
        if left == 0 {
            self.put(CANCEL, 0);
        }
        left
    }
}

/// The wake a `WAKE_CANCEL` / `EARLY_CANCEL` bit stands for.
#[inline(always)]
fn wake_of(cancel: bool) -> Wake {
    if cancel { Wake::Cancel } else { Wake::Run }
}

#[cfg(test)]
mod tests;
