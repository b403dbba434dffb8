//! The sizes a stack may have, the ways a loop's tasks get theirs, and the
//! counters of a thread's stacks: what the pool and the shared stacks
//! both read.

use super::budget::page_size;
use super::error::{Kind, StackError};

/// The stack size new coroutines get unless told otherwise: 256 KiB of
/// address space, of which only the touched pages take memory.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// The smallest stack size accepted (requests below it are rounded up).
pub const MIN_STACK_SIZE: usize = 16 * 1024;

/// The largest stack size accepted: 1 GiB. A larger request is an error, not
/// a wrapped size (the sizes are added to addresses and multiplied by arena
/// counts, so every step of that arithmetic is checked against this).
pub const MAX_STACK_SIZE: usize = 1 << 30;

/// How a loop's tasks get their stacks ([`Builder::stack_mode`](crate::Builder::stack_mode)).
///
/// Every mode gives every task a guard page; they differ in what a parked
/// task costs and what a switch costs (the module docs compare them).
///
/// ```
/// use yieldfrom::{EventLoop, Coro, spawn, yield_from, stack::StackMode};
///
/// let lp = EventLoop::builder().stack_mode(StackMode::Shared).build();
/// let sum = lp.run(Coro::new("main", || {
///     let tasks: Vec<_> = (0..100u64)
///         .map(|i| spawn(Coro::new("worker", move || { yieldfrom::yield_now(); i })))
///         .collect();
///     tasks.into_iter().map(yield_from).sum::<u64>()
/// }));
/// assert_eq!(sum, 4950);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StackMode {
    /// A dedicated stack while the guard budget lasts, a shared one after it.
    #[default]
    Auto,
    /// Always a dedicated stack; past the budget the task fails with a
    /// [`StackError`] that names the limit.
    Dedicated,
    /// Always a shared stack (copy-stack mode): the least memory per parked task.
    Shared,
}

/// `bytes` rounded up to pages and to [`MIN_STACK_SIZE`]; an error above
/// [`MAX_STACK_SIZE`].
pub(crate) fn round_size(bytes: usize) -> Result<usize, StackError> {
    if bytes > MAX_STACK_SIZE {
        return Err(StackError::new(Kind::TooLarge { requested: bytes }));
    }
    let page = page_size();
    Ok(bytes.max(MIN_STACK_SIZE).div_ceil(page) * page)
}

/// Counters of this thread's stacks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Dedicated stacks mapped so far (in use or free), each with a guard page.
    pub mapped: usize,
    /// Dedicated stacks in use by a coroutine right now.
    pub in_use: usize,
    /// Dedicated stacks waiting in the pool for the next coroutine.
    pub free: usize,
    /// Arenas (one mmap each).
    pub arenas: usize,
    /// Bytes of the free stacks that are resident in memory (from `mincore`).
    pub free_resident_bytes: usize,
    /// Shared stacks (copy-stack mode) mapped on this thread.
    pub shared_stacks: usize,
    /// Tasks assigned to a shared stack right now.
    pub shared_tasks: usize,
    /// Parked tasks whose frames are saved on the heap, not on a stack.
    pub saved_images: usize,
    /// The bytes of those saved frames.
    pub saved_bytes: usize,
}
