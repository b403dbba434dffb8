//! Tasks: a future in a slot of the loop's slab, the ready queue of slot
//! keys, and the `Waker` that puts a key on it (the twin of `task/`).
//!
//! A stackful task owns a stack and a record; a stackless task owns one
//! boxed state machine, `Pin<Box<dyn Future<Output = ()>>>`. Where the
//! stackful record carries a wait number so that stale wake-ups are ignored,
//! a slot carries a generation: a [`TaskKey`] names a slot *and* the
//! generation of the task in it, and a waker whose task is gone (its slot
//! reused) wakes nothing.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

/// A task's state machine, its result already routed to its [`JoinHandle`].
pub(super) type BoxFuture = Pin<Box<dyn Future<Output = ()>>>;

/// A task's name in its slab: the slot and the generation of its occupant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct TaskKey {
    /// The slot in the slab.
    index: u32,
    /// The occupant's generation: a key of a finished task finds none.
    generation: u32,
}

/// Bits of a waker's data word that hold the slot index (the rest, the
/// generation); half a word, so that it works on 32-bit targets too.
const INDEX_BITS: u32 = usize::BITS / 2;

impl TaskKey {
    /// The key as one word, for a waker's data pointer (no memory behind it).
    fn pack(self) -> usize {
        (self.index as usize) | ((self.generation as usize) << INDEX_BITS)
    }

    fn unpack(word: usize) -> TaskKey {
        TaskKey {
            index: (word & ((1usize << INDEX_BITS) - 1)) as u32,
            generation: (word >> INDEX_BITS) as u32,
        }
    }

    /// A waker that schedules this task on the loop running on this thread.
    pub(super) fn waker(self) -> Waker {
        // SAFETY: the data is a plain number, never dereferenced; every
        // function of the vtable only reads that number, so a waker can be
        // cloned, woken and dropped any number of times, on any thread.
        unsafe { Waker::from_raw(RawWaker::new(self.pack() as *const (), &VTABLE)) }
    }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop_waker);

/// # Safety
/// None beyond `RawWakerVTable`'s: `data` is a packed [`TaskKey`].
unsafe fn clone(data: *const ()) -> RawWaker {
    RawWaker::new(data, &VTABLE)
}

/// Puts the task on this thread's ready queue, if it is still in its slot.
/// A waker used on another thread, or after the loop is gone, finds no queue
/// there and does nothing: the twin runs on one thread and has nothing that
/// wakes from another (the stackful side's `to_thread` does that).
///
/// # Safety
/// None beyond `RawWakerVTable`'s: `data` is a packed [`TaskKey`].
unsafe fn wake(data: *const ()) {
    let key = TaskKey::unpack(data as usize);
    let _ = RUNNING.try_with(|r| {
        if let Some(tasks) = r.borrow().as_ref() {
            tasks.schedule(key);
        }
    });
}

/// # Safety
/// None: there is nothing to free.
unsafe fn drop_waker(_: *const ()) {}

/// One slot of the slab.
struct Slot {
    /// The state machine, while the task lives and is not being polled.
    fut: Option<BoxFuture>,
    /// Bumped when the slot is reused.
    generation: u32,
    /// Whether its key is on the ready queue already (never twice).
    queued: bool,
    /// Whether a task holds the slot.
    live: bool,
}

/// The loop's tasks: the slab, its free slots and the ready queue.
#[derive(Default)]
pub(super) struct Tasks {
    /// The tasks, by slot.
    slots: RefCell<Vec<Slot>>,
    /// Slots free for the next task.
    free: RefCell<Vec<u32>>,
    /// Tasks to poll, in order.
    ready: RefCell<VecDeque<TaskKey>>,
    /// How many tasks are alive.
    live: Cell<usize>,
}

thread_local! {
    /// The tasks of the loop running on this thread (what wakers reach).
    static RUNNING: RefCell<Option<Rc<Tasks>>> = const { RefCell::new(None) };
    /// Generations are numbered per thread, across loops, so that a waker
    /// from an earlier loop never matches a task of a later one.
    static GENERATION: Cell<u32> = const { Cell::new(0) };
}

/// Makes `tasks` the running tasks until the guard drops.
pub(super) fn enter(tasks: &Rc<Tasks>) -> Entered {
    Entered(RUNNING.with(|r| r.replace(Some(tasks.clone()))))
}

/// Restores the previously running tasks when dropped.
pub(super) struct Entered(Option<Rc<Tasks>>);

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.0.take();
        let _ = RUNNING.try_with(|r| r.replace(previous));
    }
}

impl Tasks {
    /// Puts `fut` in a slot and on the ready queue.
    pub(super) fn insert(&self, fut: BoxFuture) -> TaskKey {
        let generation = GENERATION.with(|g| {
            let n = g.get().wrapping_add(1);
            g.set(n);
            // What fits beside the index in a waker's word.
            (n as usize & (usize::MAX >> INDEX_BITS)) as u32
        });
        let index = self.free.borrow_mut().pop().unwrap_or_else(|| {
            let mut slots = self.slots.borrow_mut();
            slots.push(Slot {
                fut: None,
                generation: 0,
                queued: false,
                live: false,
            });
            u32::try_from(slots.len() - 1).expect("fewer than 2^32 live tasks")
        });
        assert!(
            (index as usize) < (1usize << INDEX_BITS) - 1,
            "stackless: too many live tasks"
        );
        {
            let mut slots = self.slots.borrow_mut();
            let slot = &mut slots[index as usize];
            slot.fut = Some(fut);
            slot.generation = generation;
            slot.live = true;
            slot.queued = false;
        }
        self.live.set(self.live.get() + 1);
        let key = TaskKey { index, generation };
        self.schedule(key);
        key
    }

    /// Queues the task `key` names, unless it is gone or queued already.
    pub(super) fn schedule(&self, key: TaskKey) {
        let mut slots = self.slots.borrow_mut();
        if let Some(slot) = slots.get_mut(key.index as usize)
            && slot.live
            && slot.generation == key.generation
            && !slot.queued
        {
            slot.queued = true;
            self.ready.borrow_mut().push_back(key);
        }
    }

    /// Tasks on the ready queue now.
    pub(super) fn ready_len(&self) -> usize {
        self.ready.borrow().len()
    }

    /// Live tasks.
    pub(super) fn live(&self) -> usize {
        self.live.get()
    }

    /// Polls the task at the front of the ready queue once; false if the
    /// queue was empty. The future is taken out of its slot while it is
    /// polled, so a task that wakes itself only queues its key again.
    pub(super) fn poll_next(&self) -> bool {
        let Some(key) = self.ready.borrow_mut().pop_front() else {
            return false;
        };
        let fut = {
            let mut slots = self.slots.borrow_mut();
            let slot = &mut slots[key.index as usize];
            slot.queued = false;
            slot.fut.take()
        };
        let Some(mut fut) = fut else { return true };
        let waker = key.waker();
        match fut.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(()) => {
                {
                    let mut slots = self.slots.borrow_mut();
                    let slot = &mut slots[key.index as usize];
                    slot.live = false;
                    slot.queued = false;
                }
                self.free.borrow_mut().push(key.index);
                self.live.set(self.live.get() - 1);
                drop(fut);
            }
            Poll::Pending => self.slots.borrow_mut()[key.index as usize].fut = Some(fut),
        }
        true
    }

    /// Drops every task's future (a dropped future is a cancelled task).
    pub(super) fn clear(&self) {
        let futures: Vec<BoxFuture> = self
            .slots
            .borrow_mut()
            .iter_mut()
            .filter_map(|s| {
                s.live = false;
                s.fut.take()
            })
            .collect();
        self.ready.borrow_mut().clear();
        self.live.set(0);
        drop(futures);
    }
}

/// Where a task's result waits for its [`JoinHandle`].
struct JoinSlot<T> {
    /// The result, once the task returns.
    value: Option<T>,
    /// The task awaiting it.
    waiter: Option<Waker>,
}

/// The result of a spawned task; `.await` it (tokio's `JoinHandle`, the twin
/// of [`Task`](crate::Task)). Dropping it does not stop the task.
pub struct JoinHandle<T> {
    /// Where the result arrives.
    slot: Rc<RefCell<JoinSlot<T>>>,
}

impl<T> JoinHandle<T> {
    /// Whether the task has finished.
    pub fn is_finished(&self) -> bool {
        self.slot.borrow().value.is_some()
    }

    /// The result, if the task has finished and nobody took it.
    pub(super) fn take(&self) -> Option<T> {
        self.slot.borrow_mut().value.take()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = self.slot.borrow_mut();
        match slot.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                slot.waiter = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Wraps `fut` so that its result goes to a [`JoinHandle`]: the boxed task
/// and the handle.
pub(super) fn task<T: 'static>(
    fut: impl Future<Output = T> + 'static,
) -> (BoxFuture, JoinHandle<T>) {
    let slot = Rc::new(RefCell::new(JoinSlot {
        value: None,
        waiter: None,
    }));
    let out = slot.clone();
    let boxed: BoxFuture = Box::pin(async move {
        let v = fut.await;
        let waiter = {
            let mut s = out.borrow_mut();
            s.value = Some(v);
            s.waiter.take()
        };
        if let Some(w) = waiter {
            w.wake();
        }
    });
    (boxed, JoinHandle { slot })
}

opaque_debug!(JoinHandle<T>);
