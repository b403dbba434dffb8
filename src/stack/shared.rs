//! Shared stacks (copy-stack mode): many parked tasks, a few guarded stacks.
//!
//! A task in this mode does not own a stack. It runs on one of a few guarded
//! stacks of its size that the thread keeps (up to [`PER_SIZE`] of each
//! size), and the frames of whichever task ran there last stay in place until
//! another task needs the stack:
//!
//! ```text
//!  switch_in(B) on a stack where A's frames are:
//!
//!   shared stack (guarded)          heap
//!   +----------------------+        +--------------+
//!   | A's frames [lo, top) |──copy──▶ A's image    |   1. save A
//!   +----------------------+        +--------------+
//!   | B's frames           ◀──copy──| B's image    |   2. restore B
//!   +----------------------+        +--------------+
//!                                                       3. resume B
//! ```
//!
//! Why it is sound:
//! - the frames go back to the very addresses they were copied from, before
//!   the task runs again, so every pointer a frame holds into its own stack
//!   is right again;
//! - nothing outside a parked task points into its stack: wait nodes,
//!   results and wakers live on the heap, a task body is `'static`, and a
//!   generator (which may borrow from the task) runs on a stack of its own and
//!   only while the task runs;
//! - a task's coroutine is resumed, created and dropped only while its frames
//!   are resident (`switch_in` first; corosensei writes a new coroutine's
//!   first frame into the stack when it is created, so that also waits until
//!   the previous occupant is saved);
//! - the saved part is exact: it starts at the stack pointer of the switch
//!   itself, found once per process by [`crate::suspend`]'s calibration.
//!
//! What it costs: a switch that finds another task's frames on the stack
//! copies both ways (typically a few hundred bytes each); a switch to the task
//! already resident copies nothing. A parked task keeps only its saved bytes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::rc::Rc;

use corosensei::stack::{Stack, StackPointer};

use super::arena::Arena;
use super::error::{Kind, StackError};
use super::pool::PooledStack;
use super::sizes::{PoolStats, StackMode};

/// How many shared stacks of one size a thread keeps (tasks are spread over
/// them in turn, so tasks that take turns with each other copy less often).
pub const PER_SIZE: usize = 8;

/// The stack a task runs on: its own, or a handle to a shared one.
pub(crate) enum TaskStack {
    /// A stack of its own from the pool.
    Dedicated(PooledStack),
    /// A place on a shared stack.
    Shared(SharedHandle),
}

/// What corosensei holds of a shared stack: its bounds, and the arena that
/// keeps the mapping alive.
pub(crate) struct SharedHandle {
    /// The top of the shared stack.
    base: StackPointer,
    /// Keeps the mapping alive while corosensei holds the stack.
    arena: Rc<Arena>,
}

// SAFETY: a dedicated stack is the pool's guarded stack (see its impl). A
// shared handle's base and limit bound a guarded slot of an arena the handle
// keeps alive, page-aligned, with at least MIN_STACK_SIZE usable bytes. Its
// memory holds the frames of exactly one coroutine whenever corosensei uses
// it: the task record calls `switch_in` before it creates, resumes or drops
// its coroutine, and that copies any other task's frames out first.
unsafe impl Stack for TaskStack {
    #[inline]
    fn base(&self) -> StackPointer {
        match self {
            TaskStack::Dedicated(s) => s.base(),
            TaskStack::Shared(h) => h.base,
        }
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        match self {
            TaskStack::Dedicated(s) => s.limit(),
            // SAFETY: the slot lies above its arena's own first page, so the
            // difference is never zero.
            TaskStack::Shared(h) => unsafe {
                StackPointer::new_unchecked(h.base.get() - h.arena.slot)
            },
        }
    }
}

impl TaskStack {
    /// The highest address and the usable bytes below it.
    pub(crate) fn bounds(&self) -> (usize, usize) {
        let (base, limit) = (self.base().get(), self.limit().get());
        (base, base - limit - super::budget::page_size())
    }
}

/// A parked task's saved frames: the bytes of `[top - len, top)`.
type Image = Box<[MaybeUninit<u8>]>;

/// One shared stack and the tasks that run on it.
struct SharedStack {
    /// The stack itself, from the pool.
    stack: PooledStack,
    /// The task whose frames are on the stack now (its record's address), or 0.
    resident: usize,
    /// Where the resident task's frames begin (its stack pointer when it last
    /// parked); its frames are `[resident_lo, top)`.
    resident_lo: usize,
    /// The frames of the other parked tasks assigned here, by task.
    images: HashMap<usize, Image>,
    /// Tasks assigned here and not finished.
    tasks: usize,
}

#[derive(Default)]
struct Shared {
    /// The shared stacks of this thread.
    stacks: Vec<SharedStack>,
    /// The next stack of each size to hand out (round robin), by size.
    turn: Vec<(usize, usize)>,
}

thread_local! {
    static SHARED: RefCell<Shared> = RefCell::new(Shared::default());
}

/// The stack a task of `size` bytes gets in `mode` (0: the thread's default),
/// and the index of its shared stack if it got one. `park_depth` tells
/// whether shared stacks work in this build (see
/// [`park_depth`](crate::suspend::park_depth)); it is asked only when one is needed.
///
/// `avoid`: shared stacks it must not get (a scoped task's ancestors'); when
/// every shared stack of its size is among them, it gets a dedicated stack.
pub(crate) fn task_stack(
    size: usize,
    owner: &'static str,
    mode: StackMode,
    park_depth: fn() -> Option<usize>,
    avoid: &[u8],
) -> Result<(TaskStack, Option<u8>), StackError> {
    if mode != StackMode::Shared {
        match PooledStack::take(size, owner) {
            Ok(stack) => return Ok((TaskStack::Dedicated(stack), None)),
            Err(e) if e.is_budget() && mode == StackMode::Auto => {}
            Err(e) => return Err(e),
        }
    }
    if park_depth().is_none() {
        return Err(StackError::new(Kind::SharedUnsupported));
    }
    let size = if size == 0 {
        super::pool::default_size()
    } else {
        super::sizes::round_size(size)?
    };
    match SHARED.with(|s| s.borrow_mut().assign(size, avoid))? {
        Some(assigned) => Ok(assigned),
        None => PooledStack::take(size, owner).map(|stack| (TaskStack::Dedicated(stack), None)),
    }
}

impl Shared {
    /// A shared stack of `size` not in `avoid` (`None`: every one there is).
    fn assign(
        &mut self,
        size: usize,
        avoid: &[u8],
    ) -> Result<Option<(TaskStack, Option<u8>)>, StackError> {
        let of_size = self
            .stacks
            .iter()
            .filter(|s| s.stack.size() == size)
            .count();
        let avoided = |i: usize| u8::try_from(i).is_ok_and(|i| avoid.contains(&i));
        let free_of_size = self
            .stacks
            .iter()
            .enumerate()
            .filter(|(i, s)| s.stack.size() == size && !avoided(*i))
            .count();
        let at = if of_size < PER_SIZE && self.stacks.len() < usize::from(u8::MAX) {
            // A shared stack is guarded like any other, outside the budget
            // (a few per size; it is what serves tasks once the budget is spent).
            let stack = PooledStack::take_outside_budget(size)?;
            self.stacks.push(SharedStack {
                stack,
                resident: 0,
                resident_lo: 0,
                images: HashMap::new(),
                tasks: 0,
            });
            self.stacks.len() - 1
        } else if of_size == 0 {
            // 255 shared stacks of other sizes already: a task size too many.
            return Err(StackError::new(Kind::SharedFull));
        } else if free_of_size == 0 {
            return Ok(None);
        } else {
            let turn = match self.turn.iter_mut().find(|(s, _)| *s == size) {
                Some((_, t)) => t,
                None => {
                    self.turn.push((size, 0));
                    &mut self.turn.last_mut().expect("pushed").1
                }
            };
            *turn = (*turn + 1) % free_of_size;
            let nth = *turn;
            self.stacks
                .iter()
                .enumerate()
                .filter(|(i, s)| s.stack.size() == size && !avoided(*i))
                .nth(nth)
                .map(|(i, _)| i)
                .expect("free_of_size stacks of this size")
        };
        let shared = &mut self.stacks[at];
        shared.tasks += 1;
        let handle = SharedHandle {
            base: shared.stack.base,
            arena: shared.stack.slot.arena.clone(),
        };
        let index = u8::try_from(at).expect("fewer than 256 shared stacks");
        Ok(Some((TaskStack::Shared(handle), Some(index))))
    }
}

/// Puts the frames of task `key` on shared stack `index`, saving the frames
/// of the task there now; names `owner` for the overflow message.
///
/// Called by the loop (never from the stack being switched) before the task's
/// coroutine is created, resumed or dropped.
#[inline]
pub(crate) fn switch_in(index: u8, key: usize, owner: &'static str) {
    SHARED.with(|s| {
        let mut s = s.borrow_mut();
        let shared = &mut s.stacks[index as usize];
        if shared.resident == key {
            return;
        }
        shared.evict_and_restore(key);
        shared.stack.set_owner(owner);
    })
}

impl SharedStack {
    #[cold]
    fn evict_and_restore(&mut self, key: usize) {
        let top = self.stack.base_addr();
        let here = std::hint::black_box(&top) as *const usize as usize;
        if (self.stack.usable_lo()..top).contains(&here) {
            // The stack is in use by the code running now: copying over it
            // would corrupt it. No loop does this; refuse loudly.
            eprintln!("yieldfrom: a shared stack was switched from its own frames; aborting");
            std::process::abort();
        }
        if self.resident != 0 {
            let lo = self.resident_lo;
            debug_assert!(
                lo >= self.stack.usable_lo() && lo <= top,
                "a saved part inside the stack"
            );
            let len = top - lo;
            // Under Valgrind, memcheck has lost track of a parked task's
            // frames by now (it follows a stack pointer, not a stack copied
            // aside): they are live, say so.
            super::valgrind::make_defined(lo, len);
            let mut image: Image = Box::new_uninit_slice(len);
            // SAFETY: [lo, top) lies inside this stack's mapping (the stack
            // pointer of a task parked on it, found by `parked`), no Rust
            // reference points there while its task is parked, and `image`
            // is a fresh buffer of `len` bytes; bytes are copied as they are
            // (uninitialised ones stay so: `MaybeUninit`).
            unsafe {
                std::ptr::copy_nonoverlapping(lo as *const MaybeUninit<u8>, image.as_mut_ptr(), len)
            };
            self.images.insert(self.resident, image);
        }
        // Under Valgrind: the whole stack is addressable again for the task
        // coming in (its frames' definedness comes with the copy below).
        super::valgrind::make_addressable(self.stack.usable_lo(), top - self.stack.usable_lo());
        let mut frames_lo = top;
        if let Some(image) = self.images.remove(&key) {
            let lo = top - image.len();
            frames_lo = lo;
            // SAFETY: the image was copied from [lo, top) of this very stack
            // when its task parked, and goes back there before the task runs;
            // the bytes overwritten belong to no one now (the previous
            // occupant's were saved just above, and no code runs on them).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    image.as_ptr(),
                    lo as *mut MaybeUninit<u8>,
                    image.len(),
                )
            };
        }
        self.resident = key;
        // Its frames, exactly: a task whose frames are put back without
        // running (a scoped task's ancestor) must be saved whole if it is
        // evicted again before it parks anew.
        self.resident_lo = frames_lo;
    }
}

/// Task `key`, resident on shared stack `index`, parked with its frames at
/// `[lo, top)`.
#[inline]
pub(crate) fn parked(index: u8, key: usize, lo: usize) {
    SHARED.with(|s| {
        let mut s = s.borrow_mut();
        let shared = &mut s.stacks[index as usize];
        debug_assert_eq!(shared.resident, key, "a task parks on the stack it runs on");
        shared.resident_lo = lo;
    })
}

/// Task `key` is gone from shared stack `index` (its coroutine returned or
/// was dropped): its frames are dead, and so is its image if any.
pub(crate) fn release(index: u8, key: usize) {
    let _ = SHARED.try_with(|s| {
        let mut s = s.borrow_mut();
        let shared = &mut s.stacks[index as usize];
        if shared.resident == key {
            shared.resident = 0;
        }
        shared.images.remove(&key);
        shared.tasks -= 1;
    });
}

/// Adds this thread's shared-stack counters to `stats`.
pub(super) fn add_stats(stats: &mut PoolStats) {
    let _ = SHARED.try_with(|s| {
        let s = s.borrow();
        stats.shared_stacks = s.stacks.len();
        stats.shared_tasks = s.stacks.iter().map(|st| st.tasks).sum();
        stats.saved_images = s.stacks.iter().map(|st| st.images.len()).sum();
        stats.saved_bytes = s
            .stacks
            .iter()
            .flat_map(|st| st.images.values())
            .map(|i| i.len())
            .sum();
        // Shared stacks are pooled stacks outside the task counts.
        stats.in_use -= s.stacks.len().min(stats.in_use);
    });
}
