//! Tasks: a coroutine driven by the loop on a stack of its own.
//!
//! [`spawn`](crate::spawn) (Python: `asyncio.create_task`) takes a
//! [`Coro`], gives it a pooled stack and puts its first step on
//! the ready queue. It does not run it: the task starts when the loop gets to
//! it. From then on the task runs until it suspends (see
//! [`suspend`]), and the loop resumes it when what it waited
//! for is done.
//!
//! ```text
//!   spawn ──▶ Ready ──step──▶ Running ──suspend──▶ Waiting
//!               ▲                │  │                 │
//!               └────── wake ────┼──┼─────────────────┘
//!                                │  └─return/panic/Cancelled──▶ Done
//! ```
//!
//! Invariant (as asyncio's `Task` states it): a task is either on the ready
//! queue (Ready), on the loop's stack being stepped (Running), parked with a
//! waiter registered somewhere that will wake it (Waiting), or Done — never
//! two of these. Every wake carries the *wait sequence number* the task had
//! when it parked; a wake with an older number (a timer that lost the race
//! with a cancellation, say) is ignored.
//!
//! The task's outcome lives in a [`Future`]: a panic in the body is caught at
//! the root of the task's stack and stored there, and re-raised wherever the
//! task is awaited; nobody awaiting it means the warning "task exception was
//! never retrieved" when the last handle goes.

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::{Rc, Weak};

use corosensei::{Coroutine, CoroutineResult};

use crate::coro::{BodyBox, Coro};
use crate::future::{Future, Outcome};
use crate::stack::{Canary, PooledStack};
use crate::suspend::{self, Suspend, TaskYielder, Trap, Wake};

/// A task's number, unique within its loop, in order of creation (so a
/// replayed program numbers its tasks the same way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskState {
    Ready,
    Running,
    Waiting,
    Done,
}

type TaskCoroutine = Coroutine<Wake, Trap, (), PooledStack>;

/// What makes a task's coroutine on its first step: the coroutine object's
/// own box ([`BodyBox`]), now holding the task's result slot too.
pub(crate) type Launch = Box<dyn Launcher>;

/// See [`Launch`].
pub(crate) trait Launcher {
    /// Makes the coroutine, given the stack size, the first wake and the
    /// task's name; `None` if the task finished without running (cancelled
    /// before it started, or no stack could be mapped: the task then fails
    /// with that error).
    fn launch(
        self: Box<Self>,
        stack_size: usize,
        first: Wake,
        name: &'static str,
    ) -> Option<TaskCoroutine>;
}

impl<T: 'static, F: FnOnce() -> T + 'static> Launcher for BodyBox<F, T> {
    fn launch(
        self: Box<Self>,
        stack_size: usize,
        first: Wake,
        name: &'static str,
    ) -> Option<TaskCoroutine> {
        let BodyBox { f: body, out } = *self;
        let out = out.expect("a launched body has its task's result slot");
        if first == Wake::Cancel {
            // Cancelled before it ever ran: the body never starts, no stack is taken.
            suspend::with_current(|t| t.end_note.replace(Some("cancelled".into())));
            drop(body);
            out.finish(Outcome::Cancelled);
            return None;
        }
        let stack = match PooledStack::take(stack_size, name) {
            Ok(stack) => stack,
            Err(e) => {
                out.finish(Outcome::Panic(Box::new(e.to_string())));
                return None;
            }
        };
        suspend::with_current(|t| {
            t.canary.set(stack.canary());
            t.stack_lo.set(stack.usable_lo());
            t.stack_hi.set(stack.base_addr());
        });
        Some(Coroutine::with_stack(
            stack,
            move |yielder: &TaskYielder, _first: Wake| {
                suspend::with_current(|t| t.yielder.set(yielder));
                let outcome = match catch_unwind(AssertUnwindSafe(body)) {
                    // Cancelled right before it returned: it ends cancelled (asyncio does the same).
                    Ok(_) if suspend::with_current(|t| t.cancel_requested.replace(false)) => {
                        Outcome::Cancelled
                    }
                    Ok(v) => Outcome::Value(v),
                    Err(p) if suspend::is_forced_unwind() => std::panic::resume_unwind(p),
                    Err(p) if suspend::is_cancelled(p.as_ref()) => Outcome::Cancelled,
                    Err(p) => Outcome::Panic(p),
                };
                let note = match &outcome {
                    Outcome::Value(_) => None,
                    Outcome::Cancelled => Some("cancelled".to_string()),
                    Outcome::Panic(p) => Some(format!(
                        "panicked: {}",
                        crate::future::panic_message(p.as_ref())
                    )),
                };
                suspend::with_current(|t| t.end_note.replace(note));
                out.finish(outcome);
            },
        ))
    }
}

/// The untyped part of a task, owned by the loop.
pub(crate) struct TaskCore {
    pub(crate) id: TaskId,
    pub(crate) name: &'static str,
    co: UnsafeCell<Option<TaskCoroutine>>,
    pub(crate) state: Cell<TaskState>,
    seq: Cell<u32>,
    pub(crate) cancel_requested: Cell<bool>,
    /// A wake that arrived while the task was still running (before it parked).
    pub(crate) early_wake: Cell<Option<Wake>>,
    /// How the task is woken when the loop next steps it (set as it is
    /// scheduled: the ready queue holds only the task).
    pub(crate) wake: Cell<Wake>,
    yielder: Cell<*const TaskYielder>,
    /// Builds the coroutine at the first step (the stack is taken then, so a
    /// spawned task that has not started holds no stack).
    launch: Cell<Option<Launch>>,
    stack_lo: Cell<usize>,
    stack_hi: Cell<usize>,
    /// About where the stack pointer was when the task last parked (0 before
    /// its first step): the loop prefetches that part of the stack when it
    /// schedules the task.
    parked_sp: Cell<usize>,
    canary: Cell<Option<Canary>>,
    /// Its index in the loop's task table.
    pub(crate) slot: Cell<usize>,
    pub(crate) warned_blocking: Cell<bool>,
    /// Set while the loop force-unwinds the task's stack (closing the loop):
    /// that unwind must reach the stack's root untouched.
    pub(crate) unwinding: Cell<bool>,
    /// What it waits on now (for the stepper and deadlock messages).
    pub(crate) waiting_on: std::cell::RefCell<Option<Suspend>>,
    /// How it ended, when not by returning (for traces).
    end_note: std::cell::RefCell<Option<String>>,
    /// The deadline of a `Trap::Sleep`.
    pub(crate) sleep_until: Cell<Option<std::time::Instant>>,
    this: Weak<TaskCore>,
}

impl TaskCore {
    pub(crate) fn rc(&self) -> Rc<TaskCore> {
        self.this.upgrade().expect("a running task is alive")
    }

    /// Its id and name, for instruments.
    pub(crate) fn info(&self) -> crate::trace::TaskInfo {
        crate::trace::TaskInfo {
            id: self.id,
            name: self.name,
        }
    }

    /// How the task ended ("returned", "panicked: ...", "cancelled").
    pub(crate) fn end_note(&self) -> String {
        self.end_note
            .borrow()
            .clone()
            .unwrap_or_else(|| "returned".into())
    }

    pub(crate) fn wait_seq(&self) -> u32 {
        self.seq.get()
    }

    /// Moves to the next wait: older wakes no longer match.
    pub(crate) fn bump_seq(&self) {
        self.seq.set(self.seq.get().wrapping_add(1));
    }

    /// Asks the CPU to bring the top of the parked task's stack into the
    /// cache: called when the task is scheduled, so that by the time the loop
    /// switches to it (after the rest of the events of this poll), returning
    /// through its frames does not stall on memory. With 10,000 connections
    /// the stacks do not fit in the cache, and those misses were most of the
    /// loop's user time per round trip.
    #[inline]
    pub(crate) fn prefetch_stack(&self) {
        // Where the stack was is itself in the record, which is cold too: the
        // loop prefetched it one task earlier (`prefetch_record`).
        let sp = self.parked_sp.get();
        if sp == 0 {
            return;
        }
        // The frames the task returns through lie above `sp`; what it calls
        // next (a read, a write) lies just below.
        let lo = (sp.saturating_sub(128) & !63).max(self.stack_lo.get());
        let hi = (sp + 384).min(self.stack_hi.get());
        let mut line = lo;
        while line < hi {
            prefetch(line as *const u8);
            line += 64;
        }
    }

    /// Prefetches the part of the record that `prefetch_stack` reads, without
    /// reading it.
    #[inline]
    pub(crate) fn prefetch_record(&self) {
        prefetch(self.parked_sp.as_ptr() as *const u8);
    }

    /// Called on the task's own stack: the switch to the loop.
    #[inline(always)]
    pub(crate) fn suspend(&self, reason: Suspend) -> Wake {
        let sp = suspend::check_on_task_stack(self.stack_lo.get(), self.stack_hi.get());
        self.parked_sp.set(sp);
        let trap = match reason {
            Suspend::YieldNow => Trap::YieldNow,
            Suspend::Sleep { until } => {
                self.sleep_until.set(Some(until));
                *self.waiting_on.borrow_mut() = Some(reason);
                Trap::Sleep
            }
            reason => {
                *self.waiting_on.borrow_mut() = Some(reason);
                Trap::Wait
            }
        };
        // SAFETY: `yielder` was set by the task's body at its start, on this
        // stack, and stays valid until the body returns; we are on this stack
        // (checked above), so the body has not returned.
        let yielder = unsafe { &*self.yielder.get() };
        yielder.suspend(trap)
    }

    /// Runs one step of the task on its stack; `Some(trap)` if it paused.
    pub(crate) fn step(&self, wake: Wake, stack_size: usize) -> Option<Trap> {
        // SAFETY: steps are driven only by the loop, one at a time, and a task
        // never steps itself (suspend() runs on the task stack, step() on the
        // loop's), so this is the only reference to the coroutine now.
        let co = unsafe { &mut *self.co.get() };
        let previous = suspend::enter(self);
        if co.is_none() {
            let launched = self
                .launch
                .take()
                .and_then(|launch| launch.launch(stack_size, wake, self.name));
            if launched.is_none() {
                suspend::leave(previous);
                return None;
            }
            *co = launched;
        }
        let result = co.as_mut().map(|co| co.resume(wake));
        suspend::leave(previous);
        if let Some(canary) = self.canary.get() {
            canary.check(self.name, self.stack_hi.get() - self.stack_lo.get());
        }
        match result {
            Some(CoroutineResult::Yield(trap)) => Some(trap),
            Some(CoroutineResult::Return(())) | None => {
                // Give the stack back to the pool now.
                *co = None;
                None
            }
        }
    }

    /// Unwinds a suspended task's stack (every destructor runs): used when a
    /// loop is closed or dropped with tasks still waiting.
    pub(crate) fn unwind(&self) {
        // SAFETY: called by the loop on its own stack, never while the task runs.
        let co = unsafe { &mut *self.co.get() };
        let previous = suspend::enter(self);
        self.unwinding.set(true);
        drop(self.launch.take());
        drop(co.take());
        suspend::leave(previous);
        self.state.set(TaskState::Done);
    }
}

#[inline(always)]
fn prefetch(_addr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(_addr as *const i8)
    };
}

/// A handle to a running coroutine (Python's `asyncio.Task`); await it with
/// [`yield_from`](crate::yield_from) for its result.
///
/// Dropping the handle does not stop the task.
pub struct Task<T> {
    pub(crate) core: Rc<TaskCore>,
    pub(crate) fut: Future<T>,
}

impl<T: 'static> Task<T> {
    /// Builds the task (not yet scheduled) for `coro`.
    pub(crate) fn new(coro: Coro<T>, id: TaskId) -> Task<T> {
        let name = coro.name();
        let fut: Future<T> = Future::named(name);
        let out = fut.clone();
        let launch = coro.into_body().into_launch(out);
        let core = Rc::new_cyclic(|this| TaskCore {
            id,
            name,
            co: UnsafeCell::new(None),
            launch: Cell::new(Some(launch)),
            state: Cell::new(TaskState::Ready),
            seq: Cell::new(0),
            cancel_requested: Cell::new(false),
            early_wake: Cell::new(None),
            wake: Cell::new(Wake::Run),
            yielder: Cell::new(std::ptr::null()),
            stack_lo: Cell::new(0),
            stack_hi: Cell::new(0),
            parked_sp: Cell::new(0),
            canary: Cell::new(None),
            slot: Cell::new(usize::MAX),
            warned_blocking: Cell::new(false),
            unwinding: Cell::new(false),
            waiting_on: std::cell::RefCell::new(None),
            sleep_until: Cell::new(None),
            end_note: std::cell::RefCell::new(None),
            this: this.clone(),
        });
        Task { core, fut }
    }
}

impl<T> Task<T> {
    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.core.id
    }

    /// The coroutine's name (Python: `get_name()`).
    pub fn name(&self) -> &'static str {
        self.core.name
    }

    /// Whether the task has finished (value, panic or cancelled).
    pub fn done(&self) -> bool {
        self.fut.done()
    }

    /// Whether the task ended cancelled.
    pub fn cancelled(&self) -> bool {
        self.fut.cancelled()
    }

    /// Asks the task to stop (Python: `Task.cancel()`).
    ///
    /// [`Cancelled`](crate::Cancelled) is raised at the await point where the
    /// task is suspended (or at its next one, or before its first step if it
    /// has not started). The task may catch it and go on. Returns false, and
    /// does nothing, if the task is already done.
    pub fn cancel(&self) -> bool {
        if self.done() {
            return false;
        }
        crate::event_loop::cancel_task(&self.core);
        true
    }

    /// Calls `f` on a later loop iteration once the task is done.
    pub fn add_done_callback(&self, f: impl FnOnce() + 'static) {
        self.fut.add_done_callback(f);
    }

    /// The task's result future (shared with the task).
    pub fn future(&self) -> &Future<T> {
        &self.fut
    }

    /// The panic message if the task failed (marks the failure as retrieved).
    pub fn exception(&self) -> Option<String> {
        self.fut.exception()
    }

    /// Waits for the task and returns its outcome without re-raising it.
    pub fn join_outcome(self) -> Outcome<T> {
        let (core, fut) = (self.core.clone(), self.fut.clone());
        fut.wait(
            || Suspend::Task {
                id: core.id,
                name: core.name,
            },
            // Python: cancelling a task that awaits another cancels that one too;
            // the awaiter then gets whatever the awaited task ends with.
            || {
                self.cancel();
            },
        );
        fut.take_outcome()
            .expect("the outcome of an awaited task is taken once")
    }

    /// Waits for the task and returns its result; a panic or a cancellation
    /// of the task is raised here. This is what `yield_from(task)` does.
    pub fn join(self) -> T {
        self.join_outcome().unwrap()
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<Task #{} {} {:?}>",
            self.core.id.0, self.core.name, self.fut
        )
    }
}
