//! A future's state: the outcome's slot, who waits for it, and who owns
//! it — a task, in whose record the slot lives under the task's count, or
//! nobody, when the future was made alone and boxes its own count, name
//! and loop. The one-word owner tag and the box's handling are here; the
//! handle, [`Future`](super::future::Future), is built on them.

use std::cell::{Cell, RefCell};
use std::ptr::NonNull;

use super::outcome::Outcome;
use super::raw::{HomeRef, TaskCore, TaskRef};
use super::waiters::Waiter;
use crate::warnings::panic_message;

/// Where a future's outcome is.
pub(crate) enum Slot<T> {
    Pending,
    Done(Outcome<T>),
    /// The outcome was moved out by whoever awaited it; whether it was a
    /// cancellation is remembered (`cancelled()` stays true, as in asyncio).
    Taken {
        cancelled: bool,
    },
}

/// A future's state. Alone, it is boxed and counts its handles itself; a
/// task's result slot lives in the task's record and shares its count.
pub(crate) struct Inner<T> {
    /// Who owns the slot: a task (which alone ends it) or nobody (a future made alone).
    owner: Owner,
    /// The outcome, once there is one (and whether it was taken).
    pub(super) slot: RefCell<Slot<T>>,
    /// Who to tell when it is done (taken out, never borrowed across a call).
    pub(super) waiters: Cell<Vec<Waiter>>,
    /// Whether anyone looked at a failure (for "exception was never retrieved").
    pub(super) retrieved: Cell<bool>,
}

/// Who keeps a future's state alive, in one word: the low bit tells a task
/// record from an alone header (both are aligned to at least 8). In a task's
/// record every word counts: the record stays four cache lines.
#[derive(Clone, Copy)]
struct Owner(NonNull<()>);

/// An [`Owner`], told apart.
#[derive(Clone, Copy)]
enum OwnerRef {
    /// The task whose record holds it: the task's count is the one used, and
    /// the task's name and loop are the future's.
    Task(NonNull<TaskCore>),
    /// Nobody: the future is boxed alone (an [`Alone`]), whose header counts
    /// its handles, names it and remembers its loop.
    Alone(NonNull<AloneHeader>),
}

impl Owner {
    const ALONE: usize = 1;

    fn task(core: NonNull<TaskCore>) -> Owner {
        Owner(core.cast())
    }

    fn alone(header: NonNull<AloneHeader>) -> Owner {
        let tagged = header.as_ptr().cast::<()>().map_addr(|a| a | Self::ALONE);
        // SAFETY: a non-null pointer with a bit set is still non-null.
        Owner(unsafe { NonNull::new_unchecked(tagged) })
    }

    #[inline]
    fn get(self) -> OwnerRef {
        let ptr = self.0.as_ptr();
        if ptr.addr() & Self::ALONE == 0 {
            OwnerRef::Task(self.0.cast())
        } else {
            // SAFETY: made by `alone` from a non-null pointer (tag removed);
            // `map_addr` keeps the box's provenance.
            OwnerRef::Alone(unsafe {
                NonNull::new_unchecked(ptr.map_addr(|a| a & !Self::ALONE).cast())
            })
        }
    }
}

/// What a future made alone keeps beside its state.
struct AloneHeader {
    /// Handles to the box: it is freed when the last goes.
    refs: Cell<usize>,
    /// Its name in reports ("future" unless made otherwise).
    name: &'static str,
    /// The loop it belongs to: the one of the first task that awaited it or
    /// the loop that was running when a callback was added (asyncio binds a
    /// future to a loop when it is made; this one binds on first use, so it
    /// can be made outside a loop).
    home: Cell<Option<HomeRef>>,
}

/// A future made alone: one box, the header first.
#[repr(C)]
struct Alone<T> {
    /// The count, name and loop.
    header: AloneHeader,
    /// The state, as a task's result slot has it.
    inner: Inner<T>,
}

impl<T> Inner<T> {
    fn with_owner(owner: Owner) -> Inner<T> {
        Inner {
            owner,
            slot: RefCell::new(Slot::Pending),
            waiters: Cell::new(Vec::new()),
            retrieved: Cell::new(false),
        }
    }

    /// A pending slot for the task record whose core is at `core` (the slot
    /// lives in that record, under its count).
    pub(crate) fn in_task(core: NonNull<TaskCore>) -> Inner<T> {
        Inner::with_owner(Owner::task(core))
    }

    /// The future's name: its task's, or the one it was made with.
    pub(super) fn name(&self) -> &'static str {
        match self.owner.get() {
            // SAFETY: the owner holds this slot, so it is alive while the slot is.
            OwnerRef::Task(core) => unsafe { core.as_ref().name },
            // SAFETY: the header is in the same box as this state, which
            // lives while any handle does.
            OwnerRef::Alone(header) => unsafe { header.as_ref().name },
        }
    }

    /// Calls `f` with the loop it belongs to (a dead or unbound one reads as
    /// `Weak::new()`), without touching its counts.
    #[inline]
    pub(super) fn with_home<R>(&self, f: impl FnOnce(Option<&HomeRef>) -> R) -> R {
        match self.owner.get() {
            // SAFETY: as in `name`.
            OwnerRef::Task(core) => f(Some(&unsafe { core.as_ref() }.lp)),
            OwnerRef::Alone(header) => {
                // SAFETY: as in `name`.
                let home = unsafe { &header.as_ref().home };
                let bound = home.take();
                let r = f(bound.as_ref());
                home.set(bound);
                r
            }
        }
    }

    /// Checks that a task of loop `lp` may wait on this future, binding an
    /// alone future that has no live loop yet to `lp`.
    ///
    /// Panics when the future belongs to another live loop (asyncio: "Task
    /// got Future attached to a different loop"): its wake-ups would arrive
    /// on a loop that is not running the waiter.
    #[inline]
    pub(super) fn attach(&self, lp: &HomeRef) {
        let (same, live) = self
            .with_home(|home| home.map_or((false, false), |home| (home.same(lp), home.is_live())));
        if same {
            return;
        }
        self.attach_slow(lp, live);
    }

    #[cold]
    fn attach_slow(&self, lp: &HomeRef, live: bool) {
        if live {
            panic!(
                "yieldfrom: '{}' belongs to a different event loop than the task awaiting it \
                 (asyncio: \"Task got Future attached to a different loop\"); await it from a \
                 task of its own loop",
                self.name()
            );
        }
        if let OwnerRef::Alone(header) = self.owner.get() {
            // SAFETY: as in `name`.
            unsafe { header.as_ref() }.home.set(Some(lp.clone()));
        }
    }

    /// Whether an outcome has been set (or already taken).
    pub(crate) fn is_done(&self) -> bool {
        !matches!(*self.slot.borrow(), Slot::Pending)
    }

    /// Whether the outcome is a panic or a cancellation (`false` while
    /// pending, and for a taken value).
    pub(crate) fn failed(&self) -> bool {
        match &*self.slot.borrow() {
            Slot::Pending => false,
            Slot::Done(outcome) => !matches!(outcome, Outcome::Value(_)),
            Slot::Taken { cancelled } => *cancelled,
        }
    }

    /// Sets the outcome and schedules everyone waiting.
    pub(crate) fn finish(&self, outcome: Outcome<T>) {
        {
            let mut slot = self.slot.borrow_mut();
            if !matches!(*slot, Slot::Pending) {
                panic!(
                    "invalid state: the future '{}' is already done",
                    self.name()
                );
            }
            *slot = Slot::Done(outcome);
        }
        let failed = self.failed();
        let waiters = self.waiters.take();
        if !waiters.is_empty() {
            // A copy of an alone future's link: a callback run right here may
            // add another to this future, which reads the cell.
            let home = match self.owner.get() {
                OwnerRef::Task(_) => None,
                OwnerRef::Alone(_) => Some(self.with_home(|home| home.cloned())),
            };
            let wake_all = |home: Option<&HomeRef>| {
                for waiter in waiters {
                    waiter.wake(home, failed);
                }
            };
            match home {
                Some(home) => wake_all(home.as_ref()),
                None => self.with_home(wake_all),
            }
        }
    }

    /// The task whose result this is, if it is one: alive as long as the
    /// slot, which lives in its record.
    pub(super) fn task(&self) -> Option<&TaskCore> {
        match self.owner.get() {
            // SAFETY: as in `name`; the reference lives no longer than `self`.
            OwnerRef::Task(core) => Some(unsafe { core.as_ref() }),
            OwnerRef::Alone(_) => None,
        }
    }

    /// Binds a future made alone to `lp` if it has no live loop yet (a
    /// callback added outside any task); a task's result has its task's.
    pub(super) fn bind_if_unbound(&self, lp: impl FnOnce() -> Option<HomeRef>) {
        if let OwnerRef::Alone(header) = self.owner.get()
            && self.with_home(|home| !home.is_some_and(HomeRef::is_live))
            && let Some(lp) = lp()
        {
            // SAFETY: as in `name`.
            unsafe { header.as_ref() }.home.set(Some(lp));
        }
    }

    /// Counts one more handle: on the task record around the slot, or on
    /// the box of a future made alone.
    pub(super) fn add_handle(&self) {
        match self.owner.get() {
            // SAFETY: the slot lives in the owner's record, so the record is
            // alive while `self` is.
            OwnerRef::Task(owner) => unsafe { TaskRef::acquire(owner) },
            OwnerRef::Alone(header) => {
                // SAFETY: as in `name`.
                let refs = unsafe { &header.as_ref().refs };
                refs.set(refs.get() + 1);
            }
        }
    }

    /// Gives up one handle's count, freeing a future made alone with its
    /// last handle.
    ///
    /// # Safety
    /// The caller owns one count of the slot at `inner` (taken by
    /// [`add_handle`](Self::add_handle) or [`alone`](Self::alone)) and
    /// does not use `inner` after this call through that count.
    pub(super) unsafe fn release_handle(inner: NonNull<Inner<T>>) {
        // SAFETY: the caller's count keeps the slot alive until here.
        match unsafe { inner.as_ref() }.owner.get() {
            // SAFETY: the caller's count of the owner is given up here.
            OwnerRef::Task(owner) => unsafe { TaskRef::release(owner) },
            OwnerRef::Alone(header) => {
                // SAFETY: the caller's count keeps the box alive.
                let refs = unsafe { &header.as_ref().refs };
                let left = refs.get() - 1;
                refs.set(left);
                if left == 0 {
                    // SAFETY: the last count of a future alone: the header
                    // pointer is the `Alone<T>` box `alone` leaked (it
                    // carries the whole box's provenance).
                    drop(unsafe { Box::from_raw(header.cast::<Alone<T>>().as_ptr()) });
                }
            }
        }
    }

    /// A pending future made alone, in a box of its own with one count,
    /// named `name`.
    pub(super) fn alone(name: &'static str) -> NonNull<Inner<T>> {
        let alone = Box::into_raw(Box::<Alone<T>>::new_uninit()).cast::<Alone<T>>();
        // `alone` is a fresh allocation for an `Alone<T>`, written whole
        // before any handle exists. Both field pointers are derived from it
        // without references, so each keeps the whole box's provenance (the
        // last handle frees the box through the header pointer).
        // SAFETY: a field of the allocation, no reference made.
        let header = unsafe { &raw mut (*alone).header };
        // SAFETY: as above.
        let inner = unsafe { &raw mut (*alone).inner };
        // SAFETY: a field of a non-null allocation is not null.
        let header = unsafe { NonNull::new_unchecked(header) };
        // SAFETY: as above.
        let inner = unsafe { NonNull::new_unchecked(inner) };
        let value = Alone {
            header: AloneHeader {
                refs: Cell::new(1),
                name,
                home: Cell::new(None),
            },
            inner: Inner::with_owner(Owner::alone(header)),
        };
        // SAFETY: the allocation has the layout of an `Alone<T>` and holds
        // nothing yet.
        unsafe { alone.write(value) };
        inner
    }
}

impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        if let Slot::Done(Outcome::Panic(p)) = &*self.slot.borrow()
            && !self.retrieved.get()
        {
            use crate::warnings::{Report, ReportKind, report};
            let exception = panic_message(p.as_ref());
            report(
                Report::new(
                    ReportKind::ExceptionNeverRetrieved,
                    format!(
                        "yieldfrom: task exception was never retrieved: task '{}' panicked: \
                         {exception}",
                        self.name()
                    ),
                )
                .source(self.name())
                .exception(exception),
            );
        }
    }
}
