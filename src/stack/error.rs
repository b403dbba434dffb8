//! [`StackError`]: why a stack could not be had, and what to do about it.

use std::fmt;
use std::io;

use super::budget::max_map_count;

/// Why a stack could not be had.
///
/// ```
/// use yieldfrom::{Generator, Co};
///
/// let made = Generator::<(), (), ()>::try_with_stack_size(usize::MAX, |_co: &Co<(), ()>| Ok(()));
/// let err = made.err().expect("no stack of usize::MAX bytes");
/// assert!(err.to_string().contains("larger than the 1 GiB"));
/// ```
#[derive(Debug)]
pub struct StackError {
    /// What went wrong.
    kind: Kind,
}

#[derive(Debug)]
pub(crate) enum Kind {
    /// The kernel refused the mapping (or its guard page).
    Map {
        stacks: usize,
        size: usize,
        live: usize,
        source: io::Error,
    },
    /// A size above [`MAX_STACK_SIZE`](super::MAX_STACK_SIZE).
    TooLarge { requested: usize },
    /// The guard budget is spent (a dedicated stack was required).
    NoGuards { live: usize },
    /// Shared stacks are not available on this target.
    SharedUnsupported,
    /// 255 shared stacks exist, none of the size asked for.
    SharedFull,
}

impl StackError {
    pub(crate) fn new(kind: Kind) -> StackError {
        StackError { kind }
    }

    /// Whether the error is the spent guard budget (a shared stack can still serve).
    pub(crate) fn is_budget(&self) -> bool {
        matches!(self.kind, Kind::NoGuards { .. })
    }
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Map {
                stacks,
                size,
                live,
                source,
            } => write!(
                f,
                "yieldfrom: cannot map {stacks} more coroutine stacks of {} KiB ({live} are in \
                 use): {source}. The kernel caps mappings per process (vm.max_map_count = {}) \
                 and address space (ulimit -v); raise the first with \
                 `sysctl -w vm.max_map_count=1048576` as root, or use smaller stacks \
                 (yieldfrom::stack::set_default_size) or shared stacks for tasks \
                 (yieldfrom::stack::StackMode::Shared)",
                size / 1024,
                max_map_count()
            ),
            Kind::TooLarge { requested } => write!(
                f,
                "yieldfrom: a coroutine stack of {requested} bytes is larger than the 1 GiB \
                 yieldfrom allows (yieldfrom::stack::MAX_STACK_SIZE)"
            ),
            Kind::NoGuards { live } => write!(
                f,
                "yieldfrom: the guard-page budget is spent ({live} dedicated stacks are in use; \
                 each guard page costs two of the kernel's vm.max_map_count = {} mappings). \
                 Raise it with yieldfrom::stack::set_guard_budget after raising \
                 vm.max_map_count (`sysctl -w vm.max_map_count=1048576` as root), free some \
                 generators, or run tasks on shared stacks (yieldfrom::stack::StackMode)",
                max_map_count()
            ),
            Kind::SharedFull => f.write_str(
                "yieldfrom: 255 shared stacks of other sizes exist on this thread, none of the \
                 size asked for: use fewer distinct task stack sizes",
            ),
            Kind::SharedUnsupported => f.write_str(
                "yieldfrom: shared stacks (copy-stack mode) are implemented for x86_64 only; \
                 use StackMode::Dedicated here",
            ),
        }
    }
}

impl std::error::Error for StackError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Map { source, .. } => Some(source),
            _ => None,
        }
    }
}
