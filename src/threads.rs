//! `to_thread`: blocking or CPU-bound work on worker threads
//! (Python: `asyncio.to_thread`, `loop.run_in_executor`).
//!
//! The event loop runs on one thread, so a closure that computes for two
//! seconds stops every task for two seconds. `to_thread(f)` sends `f` to a
//! small pool of worker threads and suspends the calling task; the worker
//! pushes the result onto a completion list and wakes the loop through its
//! `mio::Waker`; the loop hands the result to the waiting task. Other tasks
//! run in the meantime.
//!
//! ```text
//!  task ──to_thread(f)──▶ job queue ──▶ worker: r = f()
//!   │ suspend(Thread)                      │ completions.push(r); waker.wake()
//!   ▼                                      ▼
//!  loop: poll() returns WAKER ──▶ deliver(): future.set_result(r) ──▶ task resumes
//! ```

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};

use crate::event_loop::{ThreadResult, with_loop};
use crate::future::{Future, Outcome};
use crate::suspend::Suspend;

type Job = Box<dyn FnOnce() + Send>;
type Setter = Box<dyn FnOnce(ThreadResult)>;

/// The loop's side of the worker pool.
pub(crate) struct Threads {
    waker: Arc<mio::Waker>,
    done: Arc<Mutex<Vec<(u64, ThreadResult)>>>,
    setters: RefCell<HashMap<u64, Setter>>,
    jobs: RefCell<Option<Sender<Job>>>,
    receiver: Arc<Mutex<std::sync::mpsc::Receiver<Job>>>,
    workers: Cell<usize>,
    next: Cell<u64>,
    /// Jobs sent and not yet delivered (read on every loop iteration).
    pending: Cell<usize>,
}

impl Threads {
    pub(crate) fn new(waker: Arc<mio::Waker>) -> Threads {
        let (tx, rx) = channel::<Job>();
        Threads {
            waker,
            done: Arc::default(),
            setters: RefCell::default(),
            jobs: RefCell::new(Some(tx)),
            receiver: Arc::new(Mutex::new(rx)),
            workers: Cell::new(0),
            next: Cell::new(0),
            pending: Cell::new(0),
        }
    }

    /// Jobs sent and not yet delivered back.
    #[inline]
    pub(crate) fn pending(&self) -> usize {
        self.pending.get()
    }

    fn max_workers() -> usize {
        // Python's default executor: min(32, cpu_count + 4).
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cpus + 4).min(32)
    }

    fn submit(&self, f: Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>, setter: Setter) {
        let id = self.next.get();
        self.next.set(id + 1);
        self.setters.borrow_mut().insert(id, setter);
        self.pending.set(self.pending.get() + 1);
        let (done, waker) = (self.done.clone(), self.waker.clone());
        let job: Job = Box::new(move || {
            let result = catch_unwind(AssertUnwindSafe(f));
            done.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((id, result));
            // If the loop is gone, nobody waits for the result: nothing to do.
            let _ = waker.wake();
        });
        if self.workers.get() < Self::max_workers().min(self.pending()) {
            self.start_worker();
        }
        let jobs = self.jobs.borrow();
        let sender = jobs.as_ref().expect("to_thread() on a closed event loop");
        sender
            .send(job)
            .expect("worker threads are alive while the loop is open");
    }

    fn start_worker(&self) {
        let rx = self.receiver.clone();
        let n = self.workers.get();
        std::thread::Builder::new()
            .name(format!("yieldfrom-worker-{n}"))
            .spawn(move || {
                loop {
                    let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return, // the loop closed
                    }
                }
            })
            .expect("spawning a worker thread");
        self.workers.set(n + 1);
    }

    /// Hands finished results to their futures (the loop calls this on a waker event).
    pub(crate) fn deliver(&self) {
        let done = std::mem::take(&mut *self.done.lock().unwrap_or_else(|e| e.into_inner()));
        for (id, result) in done {
            let setter = self.setters.borrow_mut().remove(&id);
            if let Some(setter) = setter {
                self.pending.set(self.pending.get() - 1);
                setter(result);
            }
        }
    }

    /// Lets the workers finish their current job and exit.
    pub(crate) fn shutdown(&self) {
        self.jobs.borrow_mut().take();
        self.setters.borrow_mut().clear();
        self.pending.set(0);
    }
}

/// Runs `f` on a worker thread and suspends the task until it returns
/// (Python: `await asyncio.to_thread(f)`).
///
/// Other tasks run meanwhile. A panic in `f` is raised here. Cancelling the
/// waiting task raises `Cancelled` in it at once; the thread itself cannot be
/// stopped and its result is dropped.
///
/// ```
/// use yieldfrom::{run, to_thread, Coro};
/// let sum = run(Coro::new("main", || to_thread(|| (1..=1000u64).sum::<u64>())));
/// assert_eq!(sum, 500500);
/// ```
pub fn to_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let fut: Future<Box<dyn Any + Send>> = Future::named("to_thread");
    let out = fut.clone();
    with_loop("to_thread()", |core| {
        core.threads.submit(
            Box::new(move || Box::new(f()) as Box<dyn Any + Send>),
            Box::new(move |result| {
                if !out.done() {
                    out.finish(match result {
                        Ok(v) => Outcome::Value(v),
                        Err(p) => Outcome::Panic(p),
                    });
                }
            }),
        )
    });
    fut.wait(
        || Suspend::Thread,
        || {
            fut.cancel();
        },
    );
    let value = fut.take_outcome().expect("done").unwrap();
    *value
        .downcast::<T>()
        .expect("the worker returns the closure's type")
}
