//! The executor: a slab of tasks, a FIFO of ready task indices, a `Waker`
//! that pushes an index, timers, and a `mio::Poll` (the twin of
//! `event_loop.rs` + `task.rs`).
//!
//! One iteration: poll every ready task once (each `poll` runs its future's
//! state machine until it returns `Pending` or `Ready`); then, if nothing is
//! ready, wait in `mio::Poll` until the nearest timer; wake the tasks whose
//! timers are due or whose sockets are ready.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::{Duration, Instant};

use mio::{Events, Token};

type BoxFuture = Pin<Box<dyn Future<Output = ()>>>;

/// The executor's state; one per thread while `run` runs.
pub(crate) struct Executor {
    tasks: RefCell<Vec<Option<BoxFuture>>>,
    free: RefCell<Vec<usize>>,
    ready: RefCell<VecDeque<usize>>,
    /// Whether a task index is already in `ready` (no duplicates).
    queued: RefCell<Vec<bool>>,
    timers: RefCell<BinaryHeap<Reverse<(Instant, u64, usize)>>>,
    timer_seq: Cell<u64>,
    pub(crate) poll: RefCell<mio::Poll>,
    /// Per registered source: the tasks waiting to read and to write.
    pub(crate) io: RefCell<Vec<(Option<Waker>, Option<Waker>)>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Executor>>> = const { RefCell::new(None) };
}

pub(crate) fn with<R>(f: impl FnOnce(&Executor) -> R) -> R {
    CURRENT.with(|c| {
        f(c.borrow()
            .as_ref()
            .expect("stackless: needs stackless::run()"))
    })
}

// The Waker: its data is the task's index. Waking pushes the index onto the
// ready queue of this thread's executor (a stackless task never leaves its
// thread, so the thread-local is the right one).
static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop_waker);

fn raw(index: usize) -> RawWaker {
    RawWaker::new(index as *const (), &VTABLE)
}

unsafe fn clone(data: *const ()) -> RawWaker {
    raw(data as usize)
}

unsafe fn wake(data: *const ()) {
    let index = data as usize;
    let _ = CURRENT.try_with(|c| {
        if let Some(exec) = c.borrow().as_ref() {
            exec.schedule(index);
        }
    });
}

unsafe fn drop_waker(_: *const ()) {}

fn waker(index: usize) -> Waker {
    // SAFETY: the vtable's functions only read the index stored in the data
    // pointer (no memory behind it), so every contract of RawWaker holds.
    unsafe { Waker::from_raw(raw(index)) }
}

impl Executor {
    fn schedule(&self, index: usize) {
        let mut queued = self.queued.borrow_mut();
        if index < queued.len() && !queued[index] {
            queued[index] = true;
            self.ready.borrow_mut().push_back(index);
        }
    }

    fn insert(&self, fut: BoxFuture) -> usize {
        let index = match self.free.borrow_mut().pop() {
            Some(i) => {
                self.tasks.borrow_mut()[i] = Some(fut);
                i
            }
            None => {
                self.tasks.borrow_mut().push(Some(fut));
                self.queued.borrow_mut().push(false);
                self.tasks.borrow().len() - 1
            }
        };
        self.schedule(index);
        index
    }

    pub(crate) fn add_timer(&self, at: Instant, task: Waker) {
        let seq = self.timer_seq.get();
        self.timer_seq.set(seq + 1);
        // The waker's data is the task index (our own wakers only).
        let index = task.data() as usize;
        self.timers.borrow_mut().push(Reverse((at, seq, index)));
    }

    fn run_ready(&self) {
        let n = self.ready.borrow().len();
        for _ in 0..n {
            let Some(index) = self.ready.borrow_mut().pop_front() else {
                break;
            };
            self.queued.borrow_mut()[index] = false;
            // Take the future out while polling it: a task that wakes itself
            // during its own poll only re-queues its index.
            let fut = self.tasks.borrow_mut()[index].take();
            let Some(mut fut) = fut else { continue };
            let w = waker(index);
            match fut.as_mut().poll(&mut Context::from_waker(&w)) {
                Poll::Ready(()) => self.free.borrow_mut().push(index),
                Poll::Pending => self.tasks.borrow_mut()[index] = Some(fut),
            }
        }
    }

    fn wait(&self, events: &mut Events) {
        let timeout = if !self.ready.borrow().is_empty() {
            Some(Duration::ZERO)
        } else {
            self.timers
                .borrow()
                .peek()
                .map(|Reverse((at, _, _))| at.saturating_duration_since(Instant::now()))
        };
        let sources = self.io.borrow().len();
        if sources == 0 {
            if let Some(t) = timeout {
                std::thread::sleep(t);
            }
        } else {
            while let Err(e) = self.poll.borrow_mut().poll(events, timeout) {
                assert_eq!(
                    e.kind(),
                    std::io::ErrorKind::Interrupted,
                    "poll failed: {e}"
                );
            }
            for event in events.iter() {
                let Token(i) = event.token();
                let (r, w) = {
                    let mut io = self.io.borrow_mut();
                    let slot = &mut io[i];
                    (
                        (event.is_readable() || event.is_read_closed() || event.is_error())
                            .then(|| slot.0.take())
                            .flatten(),
                        (event.is_writable() || event.is_write_closed() || event.is_error())
                            .then(|| slot.1.take())
                            .flatten(),
                    )
                };
                r.into_iter().chain(w).for_each(Waker::wake);
            }
        }
        let now = Instant::now();
        loop {
            let due = {
                let mut timers = self.timers.borrow_mut();
                match timers.peek() {
                    Some(Reverse((at, _, _))) if *at <= now => {
                        timers.pop().map(|Reverse((_, _, i))| i)
                    }
                    _ => None,
                }
            };
            match due {
                Some(index) => self.schedule(index),
                None => break,
            }
        }
    }

    fn idle(&self) -> bool {
        self.ready.borrow().is_empty()
            && self.timers.borrow().is_empty()
            && self.io.borrow().is_empty()
    }
}

/// The result of a spawned task; `.await` it (tokio's `JoinHandle`).
pub struct JoinHandle<T> {
    slot: Rc<RefCell<(Option<T>, Option<Waker>)>>,
}

impl<T> Future for JoinHandle<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = self.slot.borrow_mut();
        match slot.0.take() {
            Some(v) => Poll::Ready(v),
            None => {
                slot.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Starts `fut` as a task (polled when the executor gets to it).
pub fn spawn<T: 'static>(fut: impl Future<Output = T> + 'static) -> JoinHandle<T> {
    let slot = Rc::new(RefCell::new((None::<T>, None::<Waker>)));
    let out = slot.clone();
    with(|exec| {
        exec.insert(Box::pin(async move {
            let v = fut.await;
            let waiter = {
                let mut s = out.borrow_mut();
                s.0 = Some(v);
                s.1.take()
            };
            if let Some(w) = waiter {
                w.wake();
            }
        }))
    });
    JoinHandle { slot }
}

/// Runs `fut` to completion on a new executor (the twin of `yieldfrom::run`).
pub fn run<T: 'static>(fut: impl Future<Output = T> + 'static) -> T {
    let exec = Rc::new(Executor {
        tasks: RefCell::default(),
        free: RefCell::default(),
        ready: RefCell::default(),
        queued: RefCell::default(),
        timers: RefCell::default(),
        timer_seq: Cell::new(0),
        poll: RefCell::new(mio::Poll::new().expect("creating a poller")),
        io: RefCell::default(),
    });
    let previous = CURRENT.with(|c| c.replace(Some(exec.clone())));
    let handle = spawn(fut);
    let mut events = Events::with_capacity(1024);
    loop {
        exec.run_ready();
        if let Some(v) = handle.slot.borrow_mut().0.take() {
            CURRENT.with(|c| c.replace(previous));
            return v;
        }
        assert!(
            !exec.idle(),
            "stackless: deadlock: the main future waits on nothing"
        );
        exec.wait(&mut events);
    }
}

opaque_debug!(JoinHandle<T>);
