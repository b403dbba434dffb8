//! The process-wide budget of guard pages: each dedicated stack's guard
//! costs the kernel two mappings of `vm.max_map_count`, so the stacks that
//! may be mapped are counted out of one shared budget.

use std::sync::atomic::{AtomicUsize, Ordering};

pub(crate) fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE.get_or_init(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize })
}

/// Guard pages left to hand out, process-wide (`UNSET` until first used).
static GUARDS_LEFT: AtomicUsize = AtomicUsize::new(UNSET);
const UNSET: usize = usize::MAX;

/// Reads `vm.max_map_count`, the kernel's limit on mappings per process.
///
/// ```
/// assert!(yieldfrom::stack::max_map_count() > 0);
/// ```
pub fn max_map_count() -> usize {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65530)
}

/// Sets how many more stacks (process-wide, from now on) may be mapped, each
/// with its guard page.
///
/// Each guard page costs two kernel mappings. The default is a quarter of
/// `vm.max_map_count`, which leaves half of the mappings to the rest of the
/// program. Tasks beyond the budget run on shared stacks ([`StackMode`](super::StackMode));
/// generators beyond it fail to be created, with a [`StackError`](super::StackError).
///
/// ```
/// yieldfrom::stack::set_guard_budget(1000);
/// assert_eq!(yieldfrom::stack::guard_budget(), 1000);
/// ```
pub fn set_guard_budget(stacks: usize) {
    GUARDS_LEFT.store(stacks.min(UNSET - 1), Ordering::Relaxed);
}

/// How many more stacks may be mapped (see [`set_guard_budget`]).
///
/// ```
/// let left = yieldfrom::stack::guard_budget();
/// assert!(left <= yieldfrom::stack::max_map_count());
/// ```
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

/// Takes up to `wanted` guards from the budget; returns how many it got.
pub(super) fn take_guards(wanted: usize) -> usize {
    guard_budget();
    let mut got = 0;
    let _ = GUARDS_LEFT.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
        got = n.min(wanted);
        Some(n - got)
    });
    got
}

/// Gives back guards that were taken but not used (an `mprotect` failed).
pub(super) fn return_guards(n: usize) {
    let _ = GUARDS_LEFT.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
        Some(left.saturating_add(n).min(UNSET - 1))
    });
}
