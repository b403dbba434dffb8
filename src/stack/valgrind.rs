//! Telling Valgrind's memcheck what the stack copies do, so that a run under
//! it reports real errors only. Each request is a special no-op instruction
//! sequence: outside Valgrind it costs a few register rotations.
//!
//! memcheck tracks which bytes of a stack are addressable by watching the
//! stack pointer. Copying a parked task's frames back into a shared stack, or
//! painting below the stack pointer to calibrate the park, touches bytes it
//! believes dead; these requests mark them addressable first (their
//! definedness then comes from what is copied or written there). And a
//! switch from a coroutine back to the thread's own stack reads as a switch
//! only if that stack is registered too ([`thread_stack`]); otherwise a
//! nearby thread stack makes the switch look like the coroutine popping all
//! its frames.

use crate::arch::valgrind_request as request;

/// Marks `[addr, addr + len)` addressable, its contents undefined
/// (memcheck's `VALGRIND_MAKE_MEM_UNDEFINED`).
#[inline]
pub(crate) fn make_addressable(addr: usize, len: usize) {
    // memcheck's tool base is ('M' << 24 | 'C' << 16); MAKE_MEM_UNDEFINED is +1.
    const MAKE_MEM_UNDEFINED: u64 = 0x4d43_0001;
    request([MAKE_MEM_UNDEFINED, addr as u64, len as u64, 0, 0, 0]);
}

/// The calling thread's stack, `(lowest address, bytes)`, if it can be found.
pub(crate) fn thread_stack() -> Option<(usize, usize)> {
    // SAFETY: `pthread_attr_t` is a plain C struct; zeroes are a valid
    // placeholder until pthread_getattr_np fills it in.
    let mut attr: libc::pthread_attr_t = unsafe { std::mem::zeroed() };
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() };
    // SAFETY: `attr` is a live struct for the call to initialise.
    if unsafe { libc::pthread_getattr_np(me, &mut attr) } != 0 {
        return None;
    }
    let (mut lo, mut len) = (std::ptr::null_mut(), 0usize);
    // SAFETY: `attr` was initialised above; the out-pointers are locals.
    let got = unsafe { libc::pthread_attr_getstack(&attr, &mut lo, &mut len) };
    // SAFETY: `attr` was initialised above and is destroyed once.
    unsafe { libc::pthread_attr_destroy(&mut attr) };
    (got == 0 && !lo.is_null()).then_some((lo as usize, len))
}

/// Marks `[addr, addr + len)` addressable and defined (memcheck's
/// `VALGRIND_MAKE_MEM_DEFINED`): for live bytes memcheck no longer tracks.
#[inline]
pub(crate) fn make_defined(addr: usize, len: usize) {
    const MAKE_MEM_DEFINED: u64 = 0x4d43_0002;
    request([MAKE_MEM_DEFINED, addr as u64, len as u64, 0, 0, 0]);
}
