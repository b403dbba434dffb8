use std::cell::{Cell, RefCell};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;

use super::event::Event;
use super::wait::WaitQueue;
use crate::task::suspend::{self, Wake};

/// `put_nowait` on a full queue: the item comes back.
#[derive(Debug, PartialEq, Eq)]
pub struct QueueFull<T>(pub T);

/// `get_nowait` on an empty queue.
#[derive(Debug, PartialEq, Eq)]
pub struct QueueEmpty;

impl<T> fmt::Display for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is full")
    }
}

impl fmt::Display for QueueEmpty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is empty")
    }
}

impl<T: fmt::Debug> std::error::Error for QueueFull<T> {}

impl std::error::Error for QueueEmpty {}

/// An item of a priority queue, ordered by the queue's comparison (smallest first).
struct Prio<T> {
    /// The item.
    item: T,
    /// How items compare (the heap keeps the smallest on top).
    cmp: fn(&T, &T) -> Ordering,
}

impl<T> PartialEq for Prio<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.cmp)(&self.item, &other.item) == Ordering::Equal
    }
}
impl<T> Eq for Prio<T> {}
impl<T> PartialOrd for Prio<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Prio<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.cmp)(&other.item, &self.item) // reversed: BinaryHeap pops the max
    }
}

enum Store<T> {
    Fifo(VecDeque<T>),
    Lifo(Vec<T>),
    Priority(BinaryHeap<Prio<T>>, fn(&T, &T) -> Ordering),
}

impl<T> Store<T> {
    fn len(&self) -> usize {
        match self {
            Store::Fifo(q) => q.len(),
            Store::Lifo(q) => q.len(),
            Store::Priority(q, _) => q.len(),
        }
    }
    fn push(&mut self, item: T) {
        match self {
            Store::Fifo(q) => q.push_back(item),
            Store::Lifo(q) => q.push(item),
            Store::Priority(q, cmp) => q.push(Prio { item, cmp: *cmp }),
        }
    }
    fn pop(&mut self) -> Option<T> {
        match self {
            Store::Fifo(q) => q.pop_front(),
            Store::Lifo(q) => q.pop(),
            Store::Priority(q, _) => q.pop().map(|p| p.item),
        }
    }
}

/// A queue between tasks (Python: `asyncio.Queue`, `LifoQueue`, `PriorityQueue`).
///
/// `put` waits while the queue is full (a `maxsize` of 0 means unbounded),
/// `get` waits while it is empty; waiters are served in arrival order.
/// `task_done` and `join` count the items still being worked on.
///
/// ```
/// use yieldfrom::{run, spawn, yield_from, Coro, sync::Queue};
/// use std::rc::Rc;
/// let got = run(Coro::new("main", || {
///     let q = Rc::new(Queue::new(1));
///     let p = q.clone();
///     spawn(Coro::new("producer", move || for i in 0..3 { p.put(i) }));
///     (0..3).map(|_| q.get()).collect::<Vec<_>>()
/// }));
/// assert_eq!(got, [0, 1, 2]);
/// ```
pub struct Queue<T> {
    /// The items, in the queue's order (FIFO, LIFO or priority).
    items: RefCell<Store<T>>,
    /// The most items (0: unbounded).
    maxsize: usize,
    /// Tasks waiting for an item.
    getters: WaitQueue,
    /// Tasks waiting for room.
    putters: WaitQueue,
    /// Items put and not yet marked done (`task_done`).
    unfinished: Cell<usize>,
    /// Set when every item put is done: what `join` waits on.
    finished: Event,
}

impl<T> Queue<T> {
    fn with_store(maxsize: usize, store: Store<T>) -> Queue<T> {
        let finished = Event::new();
        finished.set();
        Queue {
            items: RefCell::new(store),
            maxsize,
            getters: WaitQueue::default(),
            putters: WaitQueue::default(),
            unfinished: Cell::new(0),
            finished,
        }
    }

    /// A FIFO queue holding at most `maxsize` items (0: unbounded).
    ///
    /// ```
    /// use yieldfrom::sync::Queue;
    /// let q = Queue::new(2);
    /// q.put_nowait("a").unwrap();
    /// q.put_nowait("b").unwrap();
    /// assert!(q.put_nowait("c").is_err()); // full
    /// assert_eq!(q.get_nowait(), Ok("a")); // first in, first out
    /// ```
    pub fn new(maxsize: usize) -> Queue<T> {
        Queue::with_store(maxsize, Store::Fifo(VecDeque::new()))
    }

    /// A LIFO queue (Python: `asyncio.LifoQueue`): the last item put is got first.
    ///
    /// ```
    /// use yieldfrom::sync::Queue;
    /// let q = Queue::lifo(0);
    /// for i in 1..=3 { q.put_nowait(i).unwrap(); }
    /// assert_eq!(q.get_nowait(), Ok(3));
    /// ```
    pub fn lifo(maxsize: usize) -> Queue<T> {
        Queue::with_store(maxsize, Store::Lifo(Vec::new()))
    }

    /// Items in the queue.
    ///
    /// ```
    /// use yieldfrom::sync::Queue;
    /// let q = Queue::new(0);
    /// q.put_nowait(1).unwrap();
    /// q.put_nowait(2).unwrap();
    /// assert_eq!(q.qsize(), 2);
    /// ```
    pub fn qsize(&self) -> usize {
        self.items.borrow().len()
    }

    /// The bound given at creation (0: unbounded).
    ///
    /// ```
    /// use yieldfrom::sync::Queue;
    /// assert_eq!(Queue::<u8>::new(10).maxsize(), 10);
    /// assert_eq!(Queue::<u8>::new(0).maxsize(), 0); // unbounded
    /// ```
    pub fn maxsize(&self) -> usize {
        self.maxsize
    }

    /// Whether the queue holds no item.
    ///
    /// ```
    /// use yieldfrom::sync::Queue;
    /// let q = Queue::new(0);
    /// assert!(q.empty());
    /// q.put_nowait(()).unwrap();
    /// assert!(!q.empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether `put` would wait.
    ///
    /// ```
    /// use yieldfrom::sync::Queue;
    /// let q = Queue::new(1);
    /// q.put_nowait(7).unwrap();
    /// assert!(q.full());
    /// assert!(!Queue::<u8>::new(0).full()); // an unbounded queue never is
    /// ```
    pub fn full(&self) -> bool {
        self.maxsize > 0 && self.qsize() >= self.maxsize
    }

    /// Puts `item` without waiting, or gives it back if the queue is full.
    ///
    /// ```
    /// use yieldfrom::sync::{Queue, QueueFull};
    /// let q = Queue::new(1);
    /// assert_eq!(q.put_nowait("first"), Ok(()));
    /// assert_eq!(q.put_nowait("second"), Err(QueueFull("second"))); // handed back
    /// ```
    pub fn put_nowait(&self, item: T) -> Result<(), QueueFull<T>> {
        if self.full() {
            return Err(QueueFull(item));
        }
        self.items.borrow_mut().push(item);
        self.unfinished.set(self.unfinished.get() + 1);
        self.finished.clear();
        self.getters.wake_one();
        Ok(())
    }

    /// Takes an item without waiting.
    ///
    /// ```
    /// use yieldfrom::sync::{Queue, QueueEmpty};
    /// let q: Queue<u8> = Queue::new(0);
    /// assert_eq!(q.get_nowait(), Err(QueueEmpty));
    /// ```
    pub fn get_nowait(&self) -> Result<T, QueueEmpty> {
        let item = self.items.borrow_mut().pop().ok_or(QueueEmpty)?;
        self.putters.wake_one();
        Ok(item)
    }

    /// Puts `item`, suspending while the queue is full.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use yieldfrom::{run, spawn, yield_now, Coro, sync::Queue};
    /// run(Coro::new("main", || {
    ///     let q = Rc::new(Queue::new(1));
    ///     let p = q.clone();
    ///     let producer = spawn(Coro::new("producer", move || for i in 0..3 { p.put(i) }));
    ///     yield_now(); // it put one item and waits for room
    ///     assert!(!producer.done());
    ///     let got: Vec<i32> = (0..3).map(|_| q.get()).collect();
    ///     assert_eq!(got, [0, 1, 2]);
    /// }));
    /// ```
    #[track_caller]
    pub fn put(&self, mut item: T) {
        loop {
            match self.put_nowait(item) {
                Ok(()) => return,
                Err(QueueFull(back)) => item = back,
            }
            let waited = self.putters.wait("Queue.put");
            if waited.wake == Wake::Cancel {
                if waited.granted && !self.full() {
                    self.putters.wake_one(); // pass the free slot on
                }
                suspend::raise_cancelled();
            }
        }
    }

    /// Takes the next item, suspending while the queue is empty.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use yieldfrom::{run, spawn, Coro, sync::Queue};
    /// let got = run(Coro::new("main", || {
    ///     let q = Rc::new(Queue::new(0));
    ///     let p = q.clone();
    ///     spawn(Coro::new("producer", move || p.put("job")));
    ///     q.get() // waits until the producer runs
    /// }));
    /// assert_eq!(got, "job");
    /// ```
    #[track_caller]
    pub fn get(&self) -> T {
        loop {
            if let Ok(item) = self.get_nowait() {
                return item;
            }
            let waited = self.getters.wait("Queue.get");
            if waited.wake == Wake::Cancel {
                if waited.granted && !self.empty() {
                    self.getters.wake_one(); // pass the item on
                }
                suspend::raise_cancelled();
            }
        }
    }

    /// Marks one item got earlier as processed (Python: `task_done`).
    ///
    /// Panics if called more often than items were put.
    ///
    /// ```
    /// use yieldfrom::{run, Coro, sync::Queue};
    /// run(Coro::new("main", || {
    ///     let q = Queue::new(0);
    ///     q.put_nowait("job").unwrap();
    ///     let _job = q.get();
    ///     q.task_done(); // every item put is processed now
    ///     q.join(); // returns at once
    /// }));
    /// ```
    pub fn task_done(&self) {
        let n = self.unfinished.get();
        assert!(n > 0, "task_done() called too many times");
        self.unfinished.set(n - 1);
        if n == 1 {
            self.finished.set();
        }
    }

    /// Suspends until every item put has been marked done (Python: `join`).
    ///
    /// ```
    /// use std::rc::Rc;
    /// use yieldfrom::{run, spawn, Coro, sync::Queue};
    /// run(Coro::new("main", || {
    ///     let q = Rc::new(Queue::new(0));
    ///     for job in 0..3 { q.put_nowait(job).unwrap(); }
    ///     let w = q.clone();
    ///     spawn(Coro::new("worker", move || loop {
    ///         let _job = w.get();
    ///         w.task_done();
    ///     }));
    ///     q.join(); // until the worker has done all three
    ///     assert!(q.empty());
    /// }));
    /// ```
    #[track_caller]
    pub fn join(&self) {
        if self.unfinished.get() > 0 {
            self.finished.wait();
        }
    }
}

impl<T: Ord> Queue<T> {
    /// A priority queue (Python: `asyncio.PriorityQueue`): the smallest item is got first.
    ///
    /// ```
    /// use yieldfrom::sync::Queue;
    /// let q = Queue::priority(0);
    /// for job in [(3, "low"), (1, "urgent"), (2, "soon")] { q.put_nowait(job).unwrap(); }
    /// assert_eq!(q.get_nowait(), Ok((1, "urgent")));
    /// ```
    pub fn priority(maxsize: usize) -> Queue<T> {
        Queue::with_store(maxsize, Store::Priority(BinaryHeap::new(), T::cmp))
    }
}

impl<T> std::fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("qsize", &self.qsize())
            .field("maxsize", &self.maxsize())
            .finish()
    }
}
