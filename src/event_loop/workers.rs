//! The loop's side of the worker pool behind [`to_thread`](crate::to_thread).
//!
//! A job goes to a small pool of threads; a worker pushes the result onto a
//! completion list and wakes the loop through its `mio::Waker`; the loop,
//! seeing the [`WAKER`] token, hands each result to its setter.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};

use mio::Token;

/// The token of the loop's `mio::Waker` (worker threads use it).
pub(crate) const WAKER: Token = Token(usize::MAX);

/// Type-erased value passed back from a worker thread.
pub(crate) type ThreadResult = std::thread::Result<Box<dyn Any + Send>>;

type Job = Box<dyn FnOnce() + Send>;
pub(crate) type Setter = Box<dyn FnOnce(ThreadResult)>;

/// The loop's side of the worker pool.
pub(crate) struct Threads {
    /// Wakes the loop's poll when a worker finishes a job.
    waker: Arc<mio::Waker>,
    /// Finished jobs' results by job number, for the loop to deliver.
    done: Arc<Mutex<Vec<(u64, ThreadResult)>>>,
    /// Where each job's result goes (its future), by job number.
    setters: RefCell<HashMap<u64, Setter>>,
    /// The queue the workers take jobs from (dropped at close: they finish).
    jobs: RefCell<Option<Sender<Job>>>,
    /// The workers' end of that queue, shared among them.
    receiver: Arc<Mutex<std::sync::mpsc::Receiver<Job>>>,
    /// Workers started so far (they start as jobs come, up to the most).
    workers: Cell<usize>,
    /// The most workers started.
    max_workers: usize,
    /// The next job's number.
    next: Cell<u64>,
    /// Jobs sent and not yet delivered (read on every loop iteration).
    pending: Cell<usize>,
}

impl Threads {
    pub(crate) fn new(waker: Arc<mio::Waker>, max_workers: Option<usize>) -> Threads {
        let (tx, rx) = channel::<Job>();
        let max_workers = max_workers.unwrap_or_else(Self::default_max_workers);
        Threads {
            waker,
            done: Arc::default(),
            setters: RefCell::default(),
            jobs: RefCell::new(Some(tx)),
            receiver: Arc::new(Mutex::new(rx)),
            workers: Cell::new(0),
            max_workers,
            next: Cell::new(0),
            pending: Cell::new(0),
        }
    }

    /// Jobs sent and not yet delivered back.
    #[inline]
    pub(crate) fn pending(&self) -> usize {
        self.pending.get()
    }

    fn default_max_workers() -> usize {
        // Python's default executor: min(32, cpu_count + 4).
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cpus + 4).min(32)
    }

    pub(crate) fn submit(
        &self,
        f: Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>,
        setter: Setter,
    ) {
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
        if self.workers.get() < self.max_workers.min(self.pending()) {
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
