//! The per-thread pool of guarded stacks, carved out of large arenas, and
//! the process-wide budget of guard pages (see the [module docs](super)).

use std::cell::RefCell;
use std::io;
use std::mem::ManuallyDrop;
use std::rc::Rc;

use corosensei::stack::valgrind::ValgrindStackRegistration;
use corosensei::stack::{Stack, StackPointer};

use super::arena::{Arena, Slot, resident_pages};
use super::budget::{page_size, return_guards, take_guards};
use super::error::{Kind, StackError};
use super::sizes::{DEFAULT_STACK_SIZE, MAX_STACK_SIZE, PoolStats, round_size};
use super::{overflow, valgrind};

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool::new()) };
}

/// Sets the stack size for coroutines created from now on by this thread.
///
/// The size is rounded up to whole pages and to at least
/// [`MIN_STACK_SIZE`](super::MIN_STACK_SIZE).
/// The environment variable `YIELDFROM_STACK_SIZE` (bytes) sets the starting
/// value for every thread.
///
/// # Panics
///
/// If `bytes` is larger than [`MAX_STACK_SIZE`] (nothing is changed).
///
/// ```
/// yieldfrom::stack::set_default_size(64 * 1024);
/// assert_eq!(yieldfrom::stack::default_size(), 64 * 1024);
/// ```
pub fn set_default_size(bytes: usize) {
    let size = round_size(bytes).unwrap_or_else(|e| panic!("{e}"));
    POOL.with(|p| p.borrow_mut().default_size = size);
}

/// The stack size this thread gives new coroutines (see [`set_default_size`]).
///
/// ```
/// assert!(yieldfrom::stack::default_size() >= yieldfrom::stack::MIN_STACK_SIZE);
/// ```
pub fn default_size() -> usize {
    POOL.with(|p| p.borrow_mut().default_size())
}

/// Sets how many free stacks of one size keep their touched pages.
///
/// A stack handed back while this many used stacks already wait in the pool
/// is `madvise`d (its pages go back to the kernel). Default: 256.
///
/// ```
/// yieldfrom::stack::set_warm_limit(16);
/// assert_eq!(yieldfrom::stack::warm_limit(), 16);
/// ```
pub fn set_warm_limit(stacks: usize) {
    POOL.with(|p| p.borrow_mut().warm = stacks);
}

/// How many free stacks of one size keep their touched pages (see [`set_warm_limit`]).
///
/// ```
/// let _kept = yieldfrom::stack::warm_limit();
/// ```
pub fn warm_limit() -> usize {
    POOL.with(|p| p.borrow().warm)
}

/// Counts this thread's pooled stacks (the shared-stack counts stay zero).
pub(super) fn pool_stats() -> PoolStats {
    POOL.with(|p| p.borrow().stats())
}

/// Free stacks of one size.
struct SizeClass {
    /// The usable bytes of each stack of the class.
    size: usize,
    /// Stacks of this size free for the next task.
    free: Vec<Slot>,
    /// Free slots that are dirty (at most the warm limit).
    dirty_free: usize,
    /// Which arena the next new stack is cut from.
    next_arena: usize,
}

/// An arena never spans more than this much address space (so a huge stack
/// size maps a few stacks at a time, not a thousand).
const MAX_ARENA_BYTES: usize = 1 << 32;

struct Pool {
    /// 0 until first read (then `YIELDFROM_STACK_SIZE` or the default).
    default_size: usize,
    /// How many freed stacks are kept with their pages resident.
    warm: usize,
    /// The size classes seen so far.
    classes: Vec<SizeClass>,
    /// Every arena mapped (a stack keeps its own arena alive too).
    arenas: Vec<Rc<Arena>>,
    /// Bytes of address space mapped for stacks.
    mapped: usize,
    /// Stacks handed out and not yet returned.
    in_use: usize,
    /// This thread's own stack, told to Valgrind (see [`valgrind`]): a switch
    /// back to it from a coroutine then reads as a stack switch, not as the
    /// coroutine's frames being popped.
    thread_stack: Option<ValgrindStackRegistration>,
}

impl Pool {
    const fn new() -> Pool {
        Pool {
            default_size: 0,
            warm: 256,
            classes: Vec::new(),
            arenas: Vec::new(),
            mapped: 0,
            in_use: 0,
            thread_stack: None,
        }
    }

    /// Registers this thread's stack with Valgrind, once (a no-op outside it).
    fn register_thread_stack(&mut self) {
        if self.thread_stack.is_none() {
            self.thread_stack = valgrind::thread_stack()
                .map(|(lo, len)| ValgrindStackRegistration::new(lo as *mut u8, len));
        }
    }

    fn default_size(&mut self) -> usize {
        if self.default_size == 0 {
            self.default_size = crate::env::stack_size(MAX_STACK_SIZE, DEFAULT_STACK_SIZE)
                .and_then(|bytes| round_size(bytes).ok())
                .unwrap_or(DEFAULT_STACK_SIZE);
        }
        self.default_size
    }

    #[inline]
    fn class(&mut self, size: usize) -> &mut SizeClass {
        let at = match self.classes.iter().position(|c| c.size == size) {
            Some(at) => at,
            None => {
                self.classes.push(SizeClass {
                    size,
                    free: Vec::new(),
                    dirty_free: 0,
                    next_arena: 16,
                });
                self.classes.len() - 1
            }
        };
        &mut self.classes[at]
    }

    #[inline]
    fn take(&mut self, size: usize) -> Result<Slot, StackError> {
        let class = self.class(size);
        if let Some(slot) = class.free.pop() {
            class.dirty_free -= slot.dirty as usize;
            self.in_use += 1;
            return Ok(slot);
        }
        self.grow(size)?;
        self.in_use += 1;
        Ok(self.class(size).free.pop().expect("grow() added stacks"))
    }

    /// Maps a new arena for `size`, twice as large as the last one (up to
    /// 1024 stacks), each slot guarded; as many slots as the budget allows.
    #[cold]
    fn grow(&mut self, size: usize) -> Result<(), StackError> {
        overflow::install();
        self.register_thread_stack();
        let page = page_size();
        let slot = size + page; // size <= MAX_STACK_SIZE: no overflow
        let wanted = self
            .class(size)
            .next_arena
            .min(MAX_ARENA_BYTES / slot)
            .max(1);
        let count = take_guards(wanted);
        if count == 0 {
            return Err(StackError::new(Kind::NoGuards { live: self.in_use }));
        }
        let arena = Arena::map(slot, count).map_err(|source| {
            return_guards(count);
            StackError::new(Kind::Map {
                stacks: count,
                size,
                live: self.in_use,
                source,
            })
        })?;
        // Guard each slot; a failed mprotect (no mapping left) ends the
        // arena there, and the guards not used go back to the budget.
        let mut usable = 0;
        let mut failure = None;
        for index in 0..count {
            match arena.protect(arena.slot_lo(index)) {
                Ok(()) => usable += 1,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        return_guards(count - usable);
        if usable == 0 {
            return Err(StackError::new(Kind::Map {
                stacks: count,
                size,
                live: self.in_use,
                source: failure.unwrap_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory)),
            }));
        }
        let arena = Rc::new(arena);
        publish();
        let slots: Vec<Slot> = (0..usable)
            .map(|index| Slot {
                arena: arena.clone(),
                index: u32::try_from(index).expect("an arena holds at most 1024 stacks"),
                dirty: false,
            })
            .collect();
        self.mapped += usable;
        self.arenas.push(arena);
        let class = self.class(size);
        // Pop order: lowest address first.
        class.free.extend(slots.into_iter().rev());
        class.next_arena = (count * 2).min(1024);
        Ok(())
    }

    /// Maps an arena of one guarded slot, outside the budget.
    #[cold]
    fn map_one(&mut self, size: usize) -> Result<Slot, StackError> {
        overflow::install();
        self.register_thread_stack();
        let fail = |source, live| {
            StackError::new(Kind::Map {
                stacks: 1,
                size,
                live,
                source,
            })
        };
        let arena = Arena::map(size + page_size(), 1).map_err(|e| fail(e, self.in_use))?;
        arena
            .protect(arena.slot_lo(0))
            .map_err(|e| fail(e, self.in_use))?;
        let arena = Rc::new(arena);
        publish();
        self.mapped += 1;
        self.arenas.push(arena.clone());
        Ok(Slot {
            arena,
            index: 0,
            dirty: false,
        })
    }

    fn put(&mut self, mut slot: Slot) {
        self.in_use -= 1;
        let warm = self.warm;
        let size = slot.arena.slot - page_size();
        let class = self.class(size);
        if class.dirty_free >= warm {
            let lo = slot.arena.slot_lo(slot.index as usize) + page_size();
            // SAFETY: the slot's usable pages belong to no coroutine now (it was
            // handed back); dropping their contents is what we want.
            unsafe { libc::madvise(lo as *mut libc::c_void, size, libc::MADV_DONTNEED) };
            slot.dirty = false;
        } else {
            slot.dirty = true;
            class.dirty_free += 1;
        }
        class.free.push(slot);
    }

    fn stats(&self) -> PoolStats {
        let page = page_size();
        let mut resident = 0;
        for class in &self.classes {
            for slot in &class.free {
                resident +=
                    resident_pages(slot.arena.slot_lo(slot.index as usize) + page, class.size)
                        * page;
            }
        }
        PoolStats {
            mapped: self.mapped,
            in_use: self.in_use,
            free: self.classes.iter().map(|c| c.free.len()).sum(),
            arenas: self.arenas.len(),
            free_resident_bytes: resident,
            ..PoolStats::default()
        }
    }

    /// The owner of the stack whose guard page holds `addr` (signal-safe: no
    /// allocation, no lock).
    fn owner_of_fault(&self, addr: usize) -> Option<(&'static str, usize)> {
        self.arenas.iter().find_map(|a| {
            let index = a.overflowed_slot(addr)?;
            Some((a.owners[index].get(), a.slot - page_size()))
        })
    }
}

/// Lets the overflow handler find this thread's pool (called with arenas
/// to look at; the pool is borrowed mutably by the caller, so the cell
/// around it is published).
fn publish() {
    POOL.with(|cell| overflow::publish(std::ptr::from_ref(cell).cast(), owner_of_fault));
}

/// The handler's lookup: the coroutine whose guard page holds `addr`, and
/// its stack size. Signal-safe: it does not allocate, and `try_borrow`
/// refuses while the interrupted code holds the pool mutably (then the
/// owner cannot be named).
fn owner_of_fault(pool: *const (), addr: usize) -> Option<(&'static str, usize)> {
    // SAFETY: `publish` gives the handler this thread's `POOL` cell, which
    // is alive until the pool's drop unpublishes it; the handler runs on
    // this thread.
    let pool = unsafe { &*pool.cast::<RefCell<Pool>>() };
    pool.try_borrow().ok()?.owner_of_fault(addr)
}

impl Drop for Pool {
    fn drop(&mut self) {
        overflow::unpublish();
    }
}

/// A guarded stack from this thread's pool; dropping it hands it back.
pub(crate) struct PooledStack {
    /// The top of the stack (it grows down from here).
    pub(super) base: StackPointer,
    /// The slot, handed back to the pool on drop.
    pub(super) slot: ManuallyDrop<Slot>,
}

impl PooledStack {
    /// Takes a stack of `size` bytes (0: this thread's default) for `owner`.
    #[inline]
    pub(crate) fn take(size: usize, owner: &'static str) -> Result<PooledStack, StackError> {
        POOL.with(|p| {
            let mut pool = p.borrow_mut();
            let size = if size == 0 {
                pool.default_size()
            } else {
                round_size(size)?
            };
            let slot = pool.take(size)?;
            slot.arena.owners[slot.index as usize].set(owner);
            let lo = slot.arena.slot_lo(slot.index as usize);
            Ok(PooledStack {
                base: StackPointer::new(lo + slot.arena.slot).expect("non-null"),
                slot: ManuallyDrop::new(slot),
            })
        })
    }

    /// Takes a guarded stack of `size` bytes (already rounded) that the guard
    /// budget does not count: for the few shared stacks, which serve tasks
    /// once the budget is spent.
    pub(crate) fn take_outside_budget(size: usize) -> Result<PooledStack, StackError> {
        POOL.with(|p| {
            let mut pool = p.borrow_mut();
            let slot = match pool.class(size).free.pop() {
                Some(slot) => {
                    let class = pool.class(size);
                    class.dirty_free -= slot.dirty as usize;
                    slot
                }
                None => pool.map_one(size)?,
            };
            pool.in_use += 1;
            let lo = slot.arena.slot_lo(slot.index as usize);
            Ok(PooledStack {
                base: StackPointer::new(lo + slot.arena.slot).expect("non-null"),
                slot: ManuallyDrop::new(slot),
            })
        })
    }

    /// The lowest address of the slot: its guard page (a pooled stack is one
    /// slot of its arena, so it is computed, not stored).
    #[inline]
    fn limit_ptr(&self) -> StackPointer {
        let lo = self.base.get() - self.slot.arena.slot;
        // SAFETY: a slot lies above its arena's own first page, so `lo` is
        // never zero.
        unsafe { StackPointer::new_unchecked(lo) }
    }

    /// Lowest usable address (above the guard page).
    pub(crate) fn usable_lo(&self) -> usize {
        self.limit_ptr().get() + page_size()
    }

    /// Highest address (where the stack starts, growing down).
    pub(crate) fn base_addr(&self) -> usize {
        self.base.get()
    }

    /// Usable bytes.
    pub(crate) fn size(&self) -> usize {
        self.base.get() - self.usable_lo()
    }

    /// Names the coroutine that runs on it now (for the overflow message).
    pub(crate) fn set_owner(&self, owner: &'static str) {
        self.slot.arena.owners[self.slot.index as usize].set(owner);
    }
}

impl Drop for PooledStack {
    fn drop(&mut self) {
        // SAFETY: `slot` is taken exactly once, here, and never used again.
        let slot = unsafe { ManuallyDrop::take(&mut self.slot) };
        slot.arena.owners[slot.index as usize].set("");
        // When the thread's pool is gone already, the slot (and maybe its arena) just drops.
        let _ = POOL.try_with(|p| p.borrow_mut().put(slot));
    }
}

// SAFETY: base and limit bound a mapping we own for the stack's whole life
// (the slot holds an `Rc` of its arena), aligned to pages (so to
// STACK_ALIGNMENT), with at least MIN_STACK_SIZE usable bytes above a
// PROT_NONE guard page: `grow` hands out no slot whose mprotect failed.
unsafe impl Stack for PooledStack {
    #[inline]
    fn base(&self) -> StackPointer {
        self.base
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        self.limit_ptr()
    }
}
