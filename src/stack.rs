//! Coroutine stacks: a per-thread pool carved out of large arenas.
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
//!  | guard | G | stack 0 ........  | C | stack 1 ........  | ...
//!  +-------+-----------------------+-----------------------+----
//!            ^ guard page (PROT_NONE)  ^ canary page (readable, all zero)
//!                                      stacks grow down, towards the guard/canary
//! ```
//!
//! Why arenas: the kernel allows a process `vm.max_map_count` mappings (65530
//! by default), and a stack with its own guard page costs two. One mmap per
//! stack therefore stops near 32,000 stacks. An arena holds up to a thousand
//! stacks in one mapping; each guard page still splits it (two mappings per
//! guarded stack), so guard pages are given out from a process-wide budget
//! (a quarter of `vm.max_map_count` by default, see [`set_guard_budget`]) and
//! the stacks beyond it get a *canary page* instead: it stays all zero unless
//! the stack below it overflows, and it is checked every time the coroutine
//! switches back to its caller.
//!
//! What an overflow looks like: on a guarded stack the guard page faults, and a
//! `SIGSEGV` handler (running on the thread's alternate signal stack) prints
//! which coroutine overflowed and how to raise the size, then aborts. On a
//! canary stack the next switch notices the dirty canary and does the same.
//! The canary is best effort: the overflow has already written into the stack
//! below when it is noticed, which is why guard pages come first.
//!
//! Touched pages: a stack handed back while more than [`warm_limit`] stacks of
//! its size are already free gives its pages back to the kernel
//! (`madvise(MADV_DONTNEED)`), so a burst of deep coroutines does not keep its
//! memory forever.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::mem::ManuallyDrop;
use std::rc::Rc;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

use corosensei::stack::{Stack, StackPointer};

/// The stack size new coroutines get unless told otherwise: 256 KiB of
/// address space, of which only the touched pages take memory.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// The smallest stack size accepted (requests below it are rounded up).
pub const MIN_STACK_SIZE: usize = 16 * 1024;

const UNSET: usize = usize::MAX;

/// Guard pages left to hand out, process-wide (`UNSET` until first used).
static GUARDS_LEFT: AtomicUsize = AtomicUsize::new(UNSET);

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool::new()) };
}

fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE.get_or_init(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize })
}

/// Reads `vm.max_map_count`, the kernel's limit on mappings per process.
pub fn max_map_count() -> usize {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65530)
}

/// Sets how many stacks (process-wide, from now on) may still get a guard page.
///
/// Each guard page costs two kernel mappings. The default is a quarter of
/// `vm.max_map_count`, which leaves half of the mappings to the rest of the
/// program. Stacks beyond the budget are protected by a canary page instead.
///
/// ```
/// yieldfrom::stack::set_guard_budget(1000);
/// assert_eq!(yieldfrom::stack::guard_budget(), 1000);
/// ```
pub fn set_guard_budget(stacks: usize) {
    GUARDS_LEFT.store(stacks, Ordering::Relaxed);
}

/// How many stacks may still get a guard page (see [`set_guard_budget`]).
pub fn guard_budget() -> usize {
    let left = GUARDS_LEFT.load(Ordering::Relaxed);
    if left != UNSET {
        return left;
    }
    let initial = max_map_count() / 4;
    match GUARDS_LEFT.compare_exchange(UNSET, initial, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => initial,
        Err(now) => now,
    }
}

fn take_guard() -> bool {
    guard_budget();
    GUARDS_LEFT
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok()
}

/// Sets the stack size for coroutines created from now on by this thread.
///
/// The size is rounded up to whole pages and to at least [`MIN_STACK_SIZE`].
/// The environment variable `YIELDFROM_STACK_SIZE` (bytes) sets the starting
/// value for every thread.
///
/// ```
/// yieldfrom::stack::set_default_size(64 * 1024);
/// assert_eq!(yieldfrom::stack::default_size(), 64 * 1024);
/// ```
pub fn set_default_size(bytes: usize) {
    POOL.with(|p| p.borrow_mut().default_size = round_size(bytes));
}

/// The stack size this thread gives new coroutines (see [`set_default_size`]).
pub fn default_size() -> usize {
    POOL.with(|p| p.borrow_mut().default_size())
}

/// Sets how many free stacks of one size keep their touched pages.
///
/// A stack handed back while this many used stacks already wait in the pool
/// is `madvise`d (its pages go back to the kernel). Default: 256.
pub fn set_warm_limit(stacks: usize) {
    POOL.with(|p| p.borrow_mut().warm = stacks);
}

/// How many free stacks of one size keep their touched pages (see [`set_warm_limit`]).
pub fn warm_limit() -> usize {
    POOL.with(|p| p.borrow().warm)
}

fn round_size(bytes: usize) -> usize {
    let page = page_size();
    bytes.max(MIN_STACK_SIZE).div_ceil(page) * page
}

/// Counters of this thread's stack pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Stacks mapped so far (in use or free).
    pub mapped: usize,
    /// Stacks in use by a coroutine right now.
    pub in_use: usize,
    /// Stacks waiting in the pool for the next coroutine.
    pub free: usize,
    /// Mapped stacks that have a guard page (the others have a canary page).
    pub guarded: usize,
    /// Arenas (one mmap each).
    pub arenas: usize,
    /// Bytes of the free stacks that are resident in memory (from `mincore`).
    pub free_resident_bytes: usize,
}

/// Counts this thread's stacks; see [`PoolStats`].
///
/// ```
/// let before = yieldfrom::stack::stats();
/// assert!(before.in_use <= before.mapped);
/// ```
pub fn stats() -> PoolStats {
    POOL.with(|p| p.borrow().stats())
}

/// Why a stack could not be had.
#[derive(Debug)]
pub struct StackError {
    stacks: usize,
    size: usize,
    live: usize,
    source: io::Error,
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "yieldfrom: cannot map {} more coroutine stacks of {} KiB ({} are in use): {}. \
             The kernel caps mappings per process (vm.max_map_count = {}) and address space \
             (ulimit -v); raise the first with `sysctl -w vm.max_map_count=1048576` as root, \
             or use smaller stacks (yieldfrom::stack::set_default_size) or fewer guard pages \
             (yieldfrom::stack::set_guard_budget)",
            self.stacks,
            self.size / 1024,
            self.live,
            self.source,
            max_map_count()
        )
    }
}

impl std::error::Error for StackError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// One mmap holding `count` stack slots of `slot` bytes, after a guard page.
struct Arena {
    /// Lowest address of the mapping (the arena's own guard page).
    lo: usize,
    /// Bytes mapped.
    len: usize,
    /// Bytes per slot: one guard or canary page plus the usable stack.
    slot: usize,
    /// Who runs on each slot now, for the overflow message.
    owners: Box<[Cell<&'static str>]>,
}

impl Arena {
    fn map(slot: usize, count: usize) -> io::Result<Arena> {
        let page = page_size();
        let len = page + slot * count;
        // SAFETY: an anonymous private mapping at an address of the kernel's
        // choosing aliases nothing; the result is checked before use.
        let lo = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if lo == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let arena = Arena {
            lo: lo as usize,
            len,
            slot,
            owners: (0..count).map(|_| Cell::new("")).collect(),
        };
        // The arena's own guard page, below slot 0 (the Drop unmaps on error).
        arena.protect(arena.lo)?;
        Ok(arena)
    }

    fn protect(&self, addr: usize) -> io::Result<()> {
        // SAFETY: `addr` is a page inside this arena's mapping, which nothing
        // uses yet; making it inaccessible cannot invalidate a live reference.
        if unsafe { libc::mprotect(addr as *mut libc::c_void, page_size(), libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn slot_lo(&self, index: usize) -> usize {
        self.lo + page_size() + index * self.slot
    }

    /// The slot whose guard or canary page holds `addr`, if any.
    fn overflowed_slot(&self, addr: usize) -> Option<usize> {
        if addr < self.lo || addr >= self.lo + self.len {
            return None;
        }
        let page = page_size();
        let off = addr - self.lo;
        if off < page {
            return Some(0);
        }
        let (index, within) = ((off - page) / self.slot, (off - page) % self.slot);
        (within < page).then_some(index)
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: the arena owns this mapping, and it is dropped only when no
        // stack of it is left (every stack holds an `Rc` of its arena).
        unsafe { libc::munmap(self.lo as *mut libc::c_void, self.len) };
    }
}

/// A free stack slot: plain data, returned to the pool by [`PooledStack`].
struct Slot {
    arena: Rc<Arena>,
    /// Its place in the arena (an arena holds at most a thousand).
    index: u32,
    guarded: bool,
    /// Whether its pages may be resident (used since mapped or last madvised).
    dirty: bool,
}

/// Free stacks of one size.
struct SizeClass {
    size: usize,
    free: Vec<Slot>,
    /// Free slots that are dirty (at most the warm limit).
    dirty_free: usize,
    next_arena: usize,
}

struct Pool {
    default_size: usize,
    warm: usize,
    classes: Vec<SizeClass>,
    arenas: Vec<Rc<Arena>>,
    mapped: usize,
    in_use: usize,
    guarded: usize,
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
            guarded: 0,
        }
    }

    fn default_size(&mut self) -> usize {
        if self.default_size == 0 {
            let env = std::env::var("YIELDFROM_STACK_SIZE").ok();
            self.default_size = round_size(
                env.and_then(|s| s.parse().ok())
                    .unwrap_or(DEFAULT_STACK_SIZE),
            );
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

    /// Maps a new arena for `size`, twice as large as the last one (up to 1024 stacks).
    #[cold]
    fn grow(&mut self, size: usize) -> Result<(), StackError> {
        overflow::install();
        let page = page_size();
        let count = self.class(size).next_arena;
        let arena = Arena::map(size + page, count).map_err(|source| StackError {
            stacks: count,
            size,
            live: self.in_use,
            source,
        })?;
        let arena = Rc::new(arena);
        let mut slots = Vec::with_capacity(count);
        for index in 0..count {
            let guarded = take_guard() && arena.protect(arena.slot_lo(index)).is_ok();
            if !guarded {
                // No budget or no mapping left: the rest of this arena uses canaries.
                GUARDS_LEFT.store(0, Ordering::Relaxed);
            }
            self.guarded += guarded as usize;
            let index = u32::try_from(index).expect("an arena holds at most a thousand stacks");
            slots.push(Slot {
                arena: arena.clone(),
                index,
                guarded,
                dirty: false,
            });
        }
        self.mapped += count;
        self.arenas.push(arena);
        let class = self.class(size);
        // Pop order: lowest address first.
        class.free.extend(slots.into_iter().rev());
        class.next_arena = (count * 2).min(1024);
        Ok(())
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
            guarded: self.guarded,
            arenas: self.arenas.len(),
            free_resident_bytes: resident,
        }
    }

    /// The owner of the stack whose guard page holds `addr` (signal-safe: no allocation).
    fn owner_of_fault(&self, addr: usize) -> Option<(&'static str, usize)> {
        self.arenas.iter().find_map(|a| {
            let index = a.overflowed_slot(addr)?;
            Some((a.owners[index].get(), a.slot - page_size()))
        })
    }
}

fn resident_pages(lo: usize, len: usize) -> usize {
    let pages = len / page_size();
    let mut vec = vec![0u8; pages];
    // SAFETY: [lo, lo+len) is inside a live mapping of ours, `vec` has one byte per page.
    let rc = unsafe { libc::mincore(lo as *mut libc::c_void, len, vec.as_mut_ptr()) };
    if rc != 0 {
        return 0;
    }
    vec.iter().filter(|b| *b & 1 == 1).count()
}

/// A stack from this thread's pool; dropping it hands it back.
pub(crate) struct PooledStack {
    base: StackPointer,
    slot: ManuallyDrop<Slot>,
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
                round_size(size)
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

    /// What a switch must check: `None` for a guarded stack, else its canary page.
    pub(crate) fn canary(&self) -> Option<Canary> {
        (!self.slot.guarded).then_some(Canary {
            lo: self.limit_ptr(),
        })
    }

    /// The lowest address of the slot: its guard or canary page (a pooled
    /// stack is one slot of its arena, so it is computed, not stored).
    #[inline]
    fn limit_ptr(&self) -> StackPointer {
        let lo = self.base.get() - self.slot.arena.slot;
        // SAFETY: a slot lies above its arena's own first page, so `lo` is
        // never zero.
        unsafe { StackPointer::new_unchecked(lo) }
    }

    /// Lowest usable address (above the guard or canary page).
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

// SAFETY: base and limit bound a mapping we own for the stack's whole life,
// aligned to pages (so to STACK_ALIGNMENT), with at least MIN_STACK_SIZE usable
// bytes. The trait asks for a guard page: guarded stacks have one; canary stacks
// (beyond the guard budget) trade it for a check at every switch, which catches
// the overflow after the fact and aborts the process before the corrupted
// stack below can run again. That trade-off is documented at the top of this
// module and chosen by the user through `set_guard_budget`.
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

/// The canary page of an unguarded stack: all zero while the stack is healthy.
#[derive(Clone, Copy)]
pub(crate) struct Canary {
    lo: StackPointer,
}

impl Canary {
    /// The canary page of the stack whose lowest usable address is `usable_lo`.
    #[inline]
    pub(crate) fn below(usable_lo: usize) -> Canary {
        Canary {
            lo: StackPointer::new(usable_lo - page_size()).expect("a stack above page zero"),
        }
    }

    /// Aborts with a clear message when the canary page has been written.
    #[inline]
    pub(crate) fn check(self, owner: &str, size: usize) {
        const PROBES: usize = 8;
        let step = page_size() / PROBES;
        let dirty = (0..PROBES).any(|i| {
            // SAFETY: the canary page is mapped readable for the stack's whole
            // life; a volatile read because only an overflow writes it.
            unsafe { std::ptr::read_volatile((self.lo.get() + i * step) as *const usize) != 0 }
        });
        if dirty {
            overflow::report(owner, size, "its canary page was overwritten");
        }
    }
}

/// The `SIGSEGV` handler that turns a guard-page fault into a readable message.
mod overflow {
    use super::*;

    static INSTALL: Once = Once::new();
    static mut OLD_SEGV: Option<libc::sigaction> = None;
    static mut OLD_BUS: Option<libc::sigaction> = None;

    /// Installs the handler (once per process) and an alternate signal stack
    /// (once per thread, unless the thread has one: Rust's main and spawned
    /// threads do).
    pub(super) fn install() {
        INSTALL.call_once(|| {
            for (sig, slot) in [
                (libc::SIGSEGV, &raw mut OLD_SEGV),
                (libc::SIGBUS, &raw mut OLD_BUS),
            ] {
                // SAFETY: a zeroed sigaction is a valid value to fill in; the
                // handler is an `extern "C"` fn of the SA_SIGINFO shape; the
                // previous action is stored before any signal can reach ours,
                // and only this Once writes the statics.
                unsafe {
                    let mut new: libc::sigaction = std::mem::zeroed();
                    new.sa_sigaction = on_fault as *const () as usize;
                    new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                    libc::sigemptyset(&mut new.sa_mask);
                    let mut old: libc::sigaction = std::mem::zeroed();
                    if libc::sigaction(sig, &new, &mut old) == 0 {
                        *slot = Some(old);
                    }
                }
            }
        });
        ensure_altstack();
    }

    thread_local! {
        static ALTSTACK_CHECKED: Cell<bool> = const { Cell::new(false) };
    }

    fn ensure_altstack() {
        if ALTSTACK_CHECKED.with(|c| c.replace(true)) {
            return;
        }
        // SAFETY: querying with a null new-stack only reads the current setting.
        unsafe {
            let mut cur: libc::stack_t = std::mem::zeroed();
            libc::sigaltstack(std::ptr::null(), &mut cur);
            if cur.ss_flags & libc::SS_DISABLE == 0 {
                return;
            }
            let size = 64 * 1024;
            let mem = libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if mem == libc::MAP_FAILED {
                return;
            }
            // The mapping lives as long as the thread may take a signal: it is
            // never freed (64 KiB per thread that runs coroutines).
            let st = libc::stack_t {
                ss_sp: mem,
                ss_flags: 0,
                ss_size: size,
            };
            libc::sigaltstack(&st, std::ptr::null_mut());
        }
    }

    extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
        let addr = unsafe { (*info).si_addr() } as usize;
        let owner = POOL
            .try_with(|p| p.try_borrow().ok().and_then(|p| p.owner_of_fault(addr)))
            .ok()
            .flatten();
        if let Some((name, size)) = owner {
            report(name, size, "it ran into its guard page");
        }
        // Not ours: hand the signal to whoever had it before.
        // SAFETY: the statics were written once, before this handler was installed.
        let old = unsafe {
            if sig == libc::SIGBUS {
                std::ptr::read(&raw const OLD_BUS)
            } else {
                std::ptr::read(&raw const OLD_SEGV)
            }
        };
        // SAFETY: restoring or calling the previous disposition is what the
        // process would have done without us; a default action re-faults and
        // terminates as usual when this handler returns.
        unsafe {
            match old {
                Some(old)
                    if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN =>
                {
                    if old.sa_flags & libc::SA_SIGINFO != 0 {
                        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                            std::mem::transmute(old.sa_sigaction);
                        f(sig, info, ctx);
                    } else {
                        let f: extern "C" fn(libc::c_int) = std::mem::transmute(old.sa_sigaction);
                        f(sig);
                    }
                }
                _ => {
                    let mut dfl: libc::sigaction = std::mem::zeroed();
                    dfl.sa_sigaction = libc::SIG_DFL;
                    libc::sigaction(sig, &dfl, std::ptr::null_mut());
                }
            }
        }
    }

    /// Prints the overflow message with `write(2)` only (signal-safe) and aborts.
    pub(super) fn report(name: &str, size: usize, how: &str) -> ! {
        let name = if name.is_empty() { "?" } else { name };
        let mut kib = [0u8; 20];
        let kib = itoa(size / 1024, &mut kib);
        for part in [
            "\nyieldfrom: stack overflow in coroutine '",
            name,
            "' (",
            how,
            "; the stack holds ",
            kib,
            " KiB).\nGive it a larger stack: yieldfrom::stack::set_default_size(bytes), \
             a with_stack_size(bytes, ..) constructor, or YIELDFROM_STACK_SIZE=<bytes> \
             in the environment.\n",
        ] {
            // SAFETY: writing a valid buffer to stderr; write(2) is async-signal-safe.
            unsafe { libc::write(2, part.as_ptr().cast(), part.len()) };
        }
        // SAFETY: abort is async-signal-safe and never returns.
        unsafe { libc::abort() }
    }

    fn itoa(mut n: usize, buf: &mut [u8; 20]) -> &str {
        let mut at = buf.len();
        loop {
            at -= 1;
            buf[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        std::str::from_utf8(&buf[at..]).unwrap_or("?")
    }
}
