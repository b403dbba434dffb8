use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

use super::wait::WaitQueue;
use crate::task::suspend::{self, Wake};

/// The other side is gone: the value comes back.
#[derive(Debug, PartialEq, Eq)]
pub struct SendError<T>(pub T);

/// The sender went away without sending.
#[derive(Debug, PartialEq, Eq)]
pub struct RecvError;

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the receiver was dropped")
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the sender was dropped without sending")
    }
}

impl<T: fmt::Debug> std::error::Error for SendError<T> {}

impl std::error::Error for RecvError {}

struct Chan<T> {
    /// Values sent and not received.
    items: RefCell<VecDeque<T>>,
    /// The most values held before `send` waits.
    capacity: usize,
    /// Live senders: none left and nothing held ends the receiver.
    senders: Cell<usize>,
    /// Whether the receiver is alive (sends fail once it is gone).
    receiver: Cell<bool>,
    /// The receiver, waiting for a value.
    recv_waiters: WaitQueue,
    /// Senders waiting for room.
    send_waiters: WaitQueue,
}

/// Sends into a [`channel`]; clone it for more producers.
pub struct Sender<T>(Rc<Chan<T>>);

/// Receives from a [`channel`].
pub struct Receiver<T>(Rc<Chan<T>>);

/// A bounded multi-producer, single-consumer channel between tasks.
///
/// `send` waits while `capacity` items are queued; `recv` waits for an item
/// and returns `None` once every sender is gone and the queue is drained.
///
/// ```
/// use yieldfrom::{run, spawn, Coro, sync::channel};
/// let got = run(Coro::new("main", || {
///     let (tx, mut rx) = channel(2);
///     spawn(Coro::new("producer", move || for i in 0..5 { tx.send(i).unwrap() }));
///     let mut got = vec![];
///     while let Some(i) = rx.recv() { got.push(i) }
///     got
/// }));
/// assert_eq!(got, [0, 1, 2, 3, 4]);
/// ```
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Rc::new(Chan {
        items: RefCell::default(),
        capacity: capacity.max(1),
        senders: Cell::new(1),
        receiver: Cell::new(true),
        recv_waiters: WaitQueue::default(),
        send_waiters: WaitQueue::default(),
    });
    (Sender(chan.clone()), Receiver(chan))
}

impl<T> Sender<T> {
    /// Sends `value`, suspending while the channel is full.
    ///
    /// ```
    /// use yieldfrom::{run, Coro, sync::{channel, SendError}};
    /// run(Coro::new("main", || {
    ///     let (tx, rx) = channel(4);
    ///     assert_eq!(tx.send("hello"), Ok(()));
    ///     drop(rx);
    ///     assert_eq!(tx.send("anyone?"), Err(SendError("anyone?"))); // handed back
    /// }));
    /// ```
    #[track_caller]
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        loop {
            if !self.0.receiver.get() {
                return Err(SendError(value));
            }
            if self.0.items.borrow().len() < self.0.capacity {
                self.0.items.borrow_mut().push_back(value);
                self.0.recv_waiters.wake_one();
                return Ok(());
            }
            if self.0.send_waiters.wait("Sender.send").wake == Wake::Cancel {
                suspend::raise_cancelled();
            }
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.0.senders.set(self.0.senders.get() + 1);
        Sender(self.0.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.0.senders.set(self.0.senders.get() - 1);
        if self.0.senders.get() == 0 {
            self.0.recv_waiters.wake_all();
        }
    }
}

impl<T> Receiver<T> {
    /// The next value; `None` once all senders are dropped and nothing is left.
    ///
    /// ```
    /// use yieldfrom::{run, spawn, Coro, sync::channel};
    /// let got = run(Coro::new("main", || {
    ///     let (tx, mut rx) = channel(1);
    ///     spawn(Coro::new("producer", move || for i in 0..3 { tx.send(i).unwrap() }));
    ///     let mut got = vec![];
    ///     while let Some(v) = rx.recv() { got.push(v); } // None once tx is dropped
    ///     got
    /// }));
    /// assert_eq!(got, [0, 1, 2]);
    /// ```
    #[track_caller]
    pub fn recv(&mut self) -> Option<T> {
        loop {
            let item = self.0.items.borrow_mut().pop_front();
            if let Some(item) = item {
                self.0.send_waiters.wake_one();
                return Some(item);
            }
            if self.0.senders.get() == 0 {
                return None;
            }
            if self.0.recv_waiters.wait("Receiver.recv").wake == Wake::Cancel {
                suspend::raise_cancelled();
            }
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.0.receiver.set(false);
        self.0.send_waiters.wake_all();
    }
}

/// Sends the one value of a [`oneshot`] channel.
pub struct OneshotSender<T>(Rc<(RefCell<Option<T>>, Cell<bool>, WaitQueue)>);

/// Receives the one value of a [`oneshot`] channel.
pub struct OneshotReceiver<T>(Rc<(RefCell<Option<T>>, Cell<bool>, WaitQueue)>);

/// A channel for exactly one value.
///
/// ```
/// use yieldfrom::{run, spawn, Coro, sync::oneshot};
/// let got = run(Coro::new("main", || {
///     let (tx, rx) = oneshot();
///     spawn(Coro::new("answer", move || { let _ = tx.send(42); }));
///     rx.recv()
/// }));
/// assert_eq!(got, Ok(42));
/// ```
pub fn oneshot<T>() -> (OneshotSender<T>, OneshotReceiver<T>) {
    let shared = Rc::new((RefCell::new(None), Cell::new(false), WaitQueue::default()));
    (OneshotSender(shared.clone()), OneshotReceiver(shared))
}

impl<T> OneshotSender<T> {
    /// Sends the value; gives it back if the receiver is gone.
    ///
    /// ```
    /// use yieldfrom::sync::{oneshot, SendError};
    /// let (tx, rx) = oneshot();
    /// drop(rx);
    /// assert_eq!(tx.send(1), Err(SendError(1)));
    /// ```
    pub fn send(self, value: T) -> Result<(), SendError<T>> {
        if self.is_closed() {
            return Err(SendError(value));
        }
        *self.0.0.borrow_mut() = Some(value);
        Ok(())
        // Drop marks the channel closed and wakes the receiver.
    }
}

impl<T> OneshotSender<T> {
    /// Whether the receiver is gone (dropped, or cancelled while it
    /// waited), so that a value sent now would be given back: a producer
    /// can stop gathering it early (tokio's `Sender::is_closed`).
    ///
    /// ```
    /// use yieldfrom::sync::oneshot;
    /// let (tx, rx) = oneshot::<u8>();
    /// assert!(!tx.is_closed());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        Rc::strong_count(&self.0) == 1
    }
}

impl<T> Drop for OneshotSender<T> {
    fn drop(&mut self) {
        self.0.1.set(true);
        self.0.2.wake_all();
    }
}

impl<T> OneshotReceiver<T> {
    /// Suspends until the value arrives, or the sender is dropped without sending.
    ///
    /// ```
    /// use yieldfrom::{run, spawn, Coro, sync::{oneshot, RecvError}};
    /// let got = run(Coro::new("main", || {
    ///     let (tx, rx) = oneshot::<u32>();
    ///     spawn(Coro::new("gives up", move || drop(tx)));
    ///     rx.recv()
    /// }));
    /// assert_eq!(got, Err(RecvError));
    /// ```
    #[track_caller]
    pub fn recv(self) -> Result<T, RecvError> {
        self.recv_as("oneshot.recv")
    }

    /// [`recv`](Self::recv), its wait shown in timelines as `what` (the
    /// crate's own waits say what they wait for: "PostgreSQL query").
    #[track_caller]
    pub(crate) fn recv_as(self, what: &'static str) -> Result<T, RecvError> {
        while !self.0.1.get() {
            if self.0.2.wait(what).wake == Wake::Cancel {
                suspend::raise_cancelled();
            }
        }
        self.0.0.borrow_mut().take().ok_or(RecvError)
    }
}

opaque_debug!(Sender<T>, Receiver<T>, OneshotSender<T>, OneshotReceiver<T>);
