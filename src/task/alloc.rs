//! Task records of finished tasks, kept for the next spawns.
//!
//! A task's record is one block of a few hundred bytes. Handed back to glibc
//! in a burst (100,000 tasks joined), the blocks coalesce, the heap's top is
//! given back to the kernel, and the next burst of spawns page-faults it all
//! in again: spawn + join then costs twice as much (tokio pays exactly that
//! in the spawn + join benchmark). So the blocks of finished tasks stay on
//! this thread, by size class, as Go keeps its dead goroutines' `g` records
//! for the next `go` statement. By default every one is kept: the list
//! never holds more records than were alive at once at the peak, so it costs
//! no more memory than the program already used (10,000 connections: about
//! 3 MB). [`set_record_limit`](super::set_record_limit) bounds it, for a program whose one burst of a
//! million tasks should not keep 250 MB afterwards.
//!
//! Blocks are handed out oldest first (FIFO): the next batch of tasks then
//! gets its records in the address order they were first given out in,
//! which the hardware prefetcher follows (a LIFO list reverses it every
//! other batch; see the book's decision log).

use std::alloc::Layout;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::ptr::NonNull;

/// Classes are multiples of this many bytes, aligned to it.
const GRAIN: usize = 64;
const CLASSES: usize = 16;

/// This thread's free blocks, by class, and how many of each it keeps.
struct Free {
    /// Free blocks of each size class, the most recently freed last (reused first: still in the cache).
    lists: [VecDeque<NonNull<u8>>; CLASSES],
    /// The most blocks kept per class (`tuning::set_record_limit`).
    limit: usize,
}

impl Free {
    /// Gives blocks of `class` back to the allocator until at most
    /// `keep` are left.
    fn trim(&mut self, class: usize, keep: usize) {
        while self.lists[class].len() > keep {
            let block = self.lists[class].pop_back().expect("longer than `keep`");
            // SAFETY: every block on the list was allocated by `alloc`
            // with the layout of its class, and is not in use.
            unsafe { std::alloc::dealloc(block.as_ptr(), class_layout(class)) };
        }
    }
}

impl Drop for Free {
    fn drop(&mut self) {
        for class in 0..CLASSES {
            self.trim(class, 0);
        }
    }
}

thread_local! {
    static FREE: RefCell<Free> = const {
        RefCell::new(Free { lists: [const { VecDeque::new() }; CLASSES], limit: usize::MAX })
    };
}

pub(super) fn limit() -> usize {
    FREE.with(|free| free.borrow().limit)
}

/// Sets the limit and gives back the blocks beyond it now.
pub(super) fn set_limit(records: usize) {
    FREE.with(|free| {
        let mut free = free.borrow_mut();
        free.limit = records;
        for class in 0..CLASSES {
            free.trim(class, records);
        }
    });
}

fn class_of(layout: Layout) -> Option<usize> {
    let class = layout.size().div_ceil(GRAIN).checked_sub(1)?;
    (class < CLASSES && layout.align() <= GRAIN).then_some(class)
}

fn class_layout(class: usize) -> Layout {
    Layout::from_size_align((class + 1) * GRAIN, GRAIN).expect("a valid class layout")
}

/// How many blocks of `layout`'s class wait on this thread's list.
#[cfg(test)]
pub(super) fn waiting(layout: Layout) -> usize {
    class_of(layout).map_or(0, |c| FREE.with(|free| free.borrow().lists[c].len()))
}

/// A block for `layout` (not zero-sized).
pub(super) fn alloc(layout: Layout) -> NonNull<u8> {
    let class = class_of(layout);
    let reused = class.and_then(|c| {
        FREE.try_with(|free| free.borrow_mut().lists[c].pop_front())
            .ok()
            .flatten()
    });
    if let Some(block) = reused {
        return block;
    }
    let layout = class.map_or(layout, class_layout);
    // SAFETY: task records are never zero-sized (the core is not).
    let block = unsafe { std::alloc::alloc(layout) };
    NonNull::new(block).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
}

/// Hands back a block `alloc` gave for `layout`.
///
/// # Safety
/// `block` came from `alloc(layout)`, its contents are dropped, and it is
/// not used again.
pub(super) unsafe fn free(block: NonNull<u8>, layout: Layout) {
    let Some(class) = class_of(layout) else {
        // SAFETY: `alloc` allocated it with this very layout.
        unsafe { std::alloc::dealloc(block.as_ptr(), layout) };
        return;
    };
    let kept = FREE
        .try_with(|free| {
            let mut free = free.borrow_mut();
            let keep = free.lists[class].len() < free.limit;
            if keep {
                free.lists[class].push_back(block);
            }
            keep
        })
        .unwrap_or(false);
    if !kept {
        // SAFETY: `alloc` allocated it with its class's layout.
        unsafe { std::alloc::dealloc(block.as_ptr(), class_layout(class)) };
    }
}
