//! Coroutine stacks: every one guarded, pooled per thread, carved out of
//! large arenas; past the kernel's mapping budget, tasks share a few guarded
//! stacks and their frames are copied out while they are parked.
//!
//! Every generator and every task runs on a stack of its own. Mapping a fresh
//! stack costs about 8 µs (an `mmap`, an `mprotect` for the guard page, and the
//! `munmap` when it is freed), while switching to it costs about 2 ns, so stacks
//! are pooled: a finished coroutine hands its stack back, and the next one
//! takes it without a system call.
//!
//! ```text
//!  one arena = one mmap (MAP_NORESERVE: untouched pages cost nothing)
//!  low addresses                                              high addresses
//!  +-------+-----------------------+-----------------------+----
//!  | guard | G | stack 0 ........  | G | stack 1 ........  | ...
//!  +-------+-----------------------+-----------------------+----
//!            ^ guard page (PROT_NONE)
//!                                      stacks grow down, towards the guard
//! ```
//!
//! **Every stack has a guard page.** A stack that overflows faults on it, and
//! a `SIGSEGV` handler (on the thread's alternate signal stack, using only
//! async-signal-safe calls) prints which coroutine overflowed and how to raise
//! the size, then aborts. corosensei's `Stack` contract requires the guard:
//! without it an overflow writes into the neighbouring stack before anything
//! can notice.
//!
//! **The mapping budget.** The kernel allows a process `vm.max_map_count`
//! mappings (65530 by default), and each guard page splits its arena into two,
//! so guarded stacks are given out from a process-wide budget, a quarter of
//! `vm.max_map_count` by default ([`set_guard_budget`]): about 16,000 stacks.
//! Two stack modes ([`StackMode`]) go past it:
//!
//! - *dedicated*: a task owns a guarded stack from this pool for its whole
//!   life. A switch is a register swap (~2 ns); a parked task keeps the pages
//!   it touched (at least one, 4 KiB). Generators always run this way.
//! - *shared* (copy-stack, as libco's): a task runs on one of a few guarded
//!   stacks that many tasks share (`stack/shared.rs`). When a task is switched
//!   in and another one's frames occupy the stack, those frames (typically a
//!   few hundred bytes) are copied out to the heap, and the task's own copied
//!   back. A parked task then costs its saved bytes, not a page; a switch that
//!   has to copy costs about a hundred nanoseconds more.
//!
//! By default ([`StackMode::Auto`]) a task gets a dedicated stack while the
//! budget lasts and a shared one after it, so the first 16,000 tasks switch
//! at full speed and a million sleeping tasks still fit on a stock kernel.
//!
//! Touched pages: a stack handed back while more than [`warm_limit`] stacks of
//! its size are already free gives its pages back to the kernel
//! (`madvise(MADV_DONTNEED)`), so a burst of deep coroutines does not keep its
//! memory forever.

mod arena;
mod budget;
mod error;
mod overflow;
mod pool;
pub(crate) mod shared;
mod sizes;
pub(crate) mod valgrind;

pub use self::budget::{guard_budget, max_map_count, set_guard_budget};
pub use self::error::StackError;
pub(crate) use self::pool::PooledStack;
pub use self::pool::{default_size, set_default_size, set_warm_limit, warm_limit};
pub use self::shared::PER_SIZE as SHARED_STACKS_PER_SIZE;
pub(crate) use self::sizes::round_size;
pub use self::sizes::{DEFAULT_STACK_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE, PoolStats, StackMode};

/// Counts this thread's stacks; see [`PoolStats`].
///
/// ```
/// let before = yieldfrom::stack::stats();
/// assert!(before.in_use <= before.mapped);
/// ```
pub fn stats() -> PoolStats {
    let mut stats = pool::pool_stats();
    shared::add_stats(&mut stats);
    stats
}
