//! An arena: one mapping carved into stack slots, each above a guard page;
//! and a free slot, as the pool keeps it.

use std::cell::Cell;
use std::io;
use std::rc::Rc;

use corosensei::stack::valgrind::ValgrindStackRegistration;

use super::budget::page_size;

/// One mmap holding `count` stack slots of `slot` bytes, after a guard page.
pub(crate) struct Arena {
    /// Lowest address of the mapping (the arena's own guard page).
    pub(super) lo: usize,
    /// Bytes mapped.
    pub(super) len: usize,
    /// Bytes per slot: one guard page plus the usable stack.
    pub(super) slot: usize,
    /// Who runs on each slot now, for the overflow message.
    pub(super) owners: Box<[Cell<&'static str>]>,
    /// Each slot told to Valgrind as a stack of its own (a no-op outside
    /// Valgrind), so that a switch between slots reads as a stack switch.
    _valgrind: Vec<ValgrindStackRegistration>,
}

impl Arena {
    /// Maps an arena of `count` slots of `slot` bytes (sizes already checked).
    pub(super) fn map(slot: usize, count: usize) -> io::Result<Arena> {
        let page = page_size();
        let len = slot
            .checked_mul(count)
            .and_then(|n| n.checked_add(page))
            .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
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
        let mut arena = Arena {
            lo: lo as usize,
            len,
            slot,
            owners: (0..count).map(|_| Cell::new("")).collect(),
            _valgrind: Vec::new(),
        };
        arena._valgrind = (0..count)
            .map(|i| {
                let usable = arena.slot_lo(i) + page;
                ValgrindStackRegistration::new(usable as *mut u8, slot - page)
            })
            .collect();
        // The arena's own guard page, below slot 0 (the Drop unmaps on error).
        arena.protect(arena.lo)?;
        Ok(arena)
    }

    pub(super) fn protect(&self, addr: usize) -> io::Result<()> {
        // SAFETY: `addr` is a page inside this arena's mapping, which nothing
        // uses yet; making it inaccessible cannot invalidate a live reference.
        if unsafe { libc::mprotect(addr as *mut libc::c_void, page_size(), libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub(super) fn slot_lo(&self, index: usize) -> usize {
        self.lo + page_size() + index * self.slot
    }

    /// The slot whose guard page holds `addr`, if any (signal-safe).
    pub(super) fn overflowed_slot(&self, addr: usize) -> Option<usize> {
        if addr < self.lo || addr >= self.lo + self.len {
            return None;
        }
        let page = page_size();
        let off = addr - self.lo;
        if off < page {
            return Some(0);
        }
        let (index, within) = ((off - page) / self.slot, (off - page) % self.slot);
        (within < page && index < self.owners.len()).then_some(index)
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
pub(super) struct Slot {
    /// The arena the slot is in (kept alive by it).
    pub(super) arena: Rc<Arena>,
    /// Its place in the arena (an arena holds at most a thousand).
    pub(super) index: u32,
    /// Whether its pages may be resident (used since mapped or last madvised).
    pub(super) dirty: bool,
}

pub(super) fn resident_pages(lo: usize, len: usize) -> usize {
    let pages = len / page_size();
    let mut vec = vec![0u8; pages];
    // SAFETY: [lo, lo+len) is inside a live mapping of ours, `vec` has one byte per page.
    let rc = unsafe { libc::mincore(lo as *mut libc::c_void, len, vec.as_mut_ptr()) };
    if rc != 0 {
        return 0;
    }
    vec.iter().filter(|b| *b & 1 == 1).count()
}
