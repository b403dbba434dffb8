//! Synchronisation between tasks (Python: `asyncio.locks`, `asyncio.queues`).
//!
//! Everything here is single-threaded and built on one piece, `WaitQueue`:
//! a FIFO of parked tasks. Waiters are served first come, first served: a
//! release *hands* the resource (a lock, a permit, a wake-up) to the oldest
//! waiter that still waits, skipping any that were cancelled meanwhile. A
//! waiter cancelled after it was handed the resource passes it on before it
//! raises `Cancelled`, so nothing is lost (asyncio's locks do the same).

mod channel;
mod condition;
mod event;
mod lock;
mod queue;
mod semaphore;
mod wait;

pub use channel::{
    OneshotReceiver, OneshotSender, Receiver, RecvError, SendError, Sender, channel, oneshot,
};
pub use condition::Condition;
pub use event::Event;
pub use lock::{Lock, LockGuard};
pub use queue::{Queue, QueueEmpty, QueueFull};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphorePermit};
