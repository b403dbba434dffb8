//! What the ready queue holds: a task's next step, or a callback
//! (asyncio's `events.py`: `Handle`, the ready deque's entries).

use std::cell::RefCell;
use std::fmt;
use std::ptr::NonNull;
use std::rc::Rc;

use crate::names::CallbackName;
use crate::task::raw::{TaskCore, TaskRef};

/// A scheduled callback (Python's `Handle`); `None` once run or cancelled.
pub(crate) struct Callback {
    /// The function, until it runs or is cancelled (then `None`).
    pub(super) f: RefCell<Option<Box<dyn FnOnce()>>>,
    /// What reports name it by: where it was written (or its given name)
    /// and where it was scheduled.
    pub(super) name: CallbackName,
}

impl Callback {
    /// A callback that runs `f`, scheduled at `at`, named after the
    /// function `f` was written in.
    pub(crate) fn new<F: FnOnce() + 'static>(
        f: F,
        at: &'static std::panic::Location<'static>,
    ) -> Rc<Callback> {
        Rc::new(Callback {
            f: RefCell::new(Some(Box::new(f))),
            name: CallbackName::of::<F>(at),
        })
    }

    /// A callback that runs a boxed `f` named `name`.
    pub(crate) fn boxed(f: Box<dyn FnOnce()>, name: impl Into<CallbackName>) -> Rc<Callback> {
        Rc::new(Callback {
            f: RefCell::new(Some(f)),
            name: name.into(),
        })
    }

    /// What the stepper and the explorer call it ("a callback in f").
    pub(crate) fn describe(&self) -> String {
        crate::trace::callback_name(self.name.what)
    }

    /// Whether it was cancelled or has run.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.f.borrow().is_none()
    }
}

/// A callback scheduled with `call_soon`, `call_later` or `call_at`; cancel it to skip it.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use yieldfrom::{EventLoop, Coro, yield_now};
/// let lp = EventLoop::new();
/// let ran = Rc::new(Cell::new(false));
/// let r = ran.clone();
/// let handle = lp.call_soon(move || r.set(true));
/// handle.cancel();
/// lp.run_until_complete(Coro::new("main", yield_now));
/// assert!(!ran.get() && handle.cancelled());
/// ```
#[derive(Clone)]
pub struct Handle(pub(super) Rc<Callback>);

impl Handle {
    /// Cancels the callback if it has not run yet (Python: `Handle.cancel()`).
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    /// use yieldfrom::EventLoop;
    /// let lp = EventLoop::builder().virtual_clock(true).build();
    /// let rang = Rc::new(Cell::new(false));
    /// let r = rang.clone();
    /// let alarm = lp.call_later(Duration::from_secs(60), move || r.set(true));
    /// alarm.cancel();
    /// lp.run_until_idle();
    /// assert!(!rang.get());
    /// ```
    pub fn cancel(&self) {
        self.0.f.borrow_mut().take();
    }

    /// Whether the callback was cancelled or has run.
    ///
    /// ```
    /// use yieldfrom::EventLoop;
    /// let lp = EventLoop::new();
    /// let handle = lp.call_soon(|| {});
    /// assert!(!handle.cancelled());
    /// lp.run_until_idle();
    /// assert!(handle.cancelled()); // it has run: it can no longer be cancelled
    /// ```
    pub fn cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

/// One ready-queue entry, in one machine word: a task to step (how it is
/// woken waits in the task's `wake` cell) or a callback to call, told apart by
/// the pointer's low bit.
///
/// One word rather than a two-word enum, so that a switch never copies an
/// entry assembled from narrow stores (see "What made it fast" in the
/// book's performance chapter).
pub(crate) struct Ready(NonNull<()>);

/// What a [`Ready`] holds, once taken out of the queue.
pub(crate) enum Entry {
    Step(TaskRef),
    Call(Rc<Callback>),
}

impl Ready {
    const CALL: usize = 1;

    pub(crate) fn step(task: TaskRef) -> Ready {
        // SAFETY: `TaskRef::into_raw` never returns null.
        Ready(unsafe { NonNull::new_unchecked(TaskRef::into_raw(task) as *mut ()) })
    }

    pub(crate) fn call(cb: Rc<Callback>) -> Ready {
        let ptr = Rc::into_raw(cb) as *mut ();
        // `Rc`'s allocation is aligned to at least its counters' 8 bytes, so
        // the low bit of the pointer is free for the tag.
        debug_assert_eq!(ptr.addr() & Self::CALL, 0);
        // SAFETY: a non-null pointer with a bit set is still non-null.
        Ready(unsafe { NonNull::new_unchecked(ptr.map_addr(|a| a | Self::CALL)) })
    }

    pub(crate) fn is_call(&self) -> bool {
        self.0.as_ptr().addr() & Self::CALL != 0
    }

    pub(crate) fn into_entry(self) -> Entry {
        let this = std::mem::ManuallyDrop::new(self);
        let ptr = this.0.as_ptr();
        if this.is_call() {
            // SAFETY: made by `Ready::call` from `Rc::into_raw` (tag removed),
            // and `this` is not dropped, so the count is taken over exactly once.
            Entry::Call(unsafe {
                Rc::from_raw(ptr.map_addr(|a| a & !Self::CALL) as *const Callback)
            })
        } else {
            // SAFETY: made by `Ready::step` from `TaskRef::into_raw`; as above.
            Entry::Step(unsafe { TaskRef::from_raw(ptr as *const TaskCore) })
        }
    }

    /// The task this entry steps, if it is one.
    pub(crate) fn task(&self) -> Option<&TaskCore> {
        // SAFETY: a step entry owns one count of a live `TaskRef`, so
        // the pointee is alive while `self` is borrowed.
        (!self.is_call()).then(|| unsafe { &*(self.0.as_ptr() as *const TaskCore) })
    }

    /// The callback this entry calls, if it is one.
    fn callback(&self) -> Option<&Callback> {
        // SAFETY: a call entry owns one count of a live `Rc<Callback>`
        // (made by `Ready::call`, tag bit removed here), so the pointee is
        // alive while `self` is borrowed.
        self.is_call().then(|| unsafe {
            &*(self.0.as_ptr().map_addr(|a| a & !Self::CALL) as *const Callback)
        })
    }

    /// Prefetches the stack of the task this entry steps.
    pub(crate) fn prefetch(&self) {
        if let Some(task) = self.task() {
            task.prefetch_stack();
        }
    }

    /// Prefetches the record of the task this entry steps.
    pub(crate) fn prefetch_record(&self) {
        if let Some(task) = self.task() {
            task.prefetch_record();
        }
    }

    /// What the stepper shows for this entry.
    pub(crate) fn describe(&self) -> String {
        if let Some(call) = self.callback() {
            call.describe()
        } else {
            let t = self.task().expect("a step entry");
            format!("task '{}' (#{})", t.name, t.id.0)
        }
    }
}

impl Drop for Ready {
    fn drop(&mut self) {
        // SAFETY: `self` is never used again; `into_entry` takes the `Rc`
        // count it owns, and dropping the entry releases it.
        drop(unsafe { std::ptr::read(self) }.into_entry());
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("callback", &self.0.name)
            .field("cancelled", &self.cancelled())
            .finish()
    }
}
