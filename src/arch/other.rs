//! Any other architecture: the stack pointer through a local's address,
//! no prefetch, no Valgrind requests, no painting (so no shared stacks).

/// About the stack pointer where this is inlined: a local's address.
#[inline(always)]
pub(crate) fn stack_pointer() -> usize {
    let probe = 0u8;
    std::hint::black_box(&probe) as *const u8 as usize
}

/// No prefetch here.
#[inline(always)]
pub(crate) fn prefetch(_addr: *const u8) {}

/// No Valgrind requests here.
#[inline]
pub(crate) fn valgrind_request(_args: [u64; 6]) {}
