//! x86-64: the stack pointer, painting below it, prefetch, and Valgrind's
//! client-request preamble.

/// The stack pointer where this is inlined.
#[inline(always)]
pub(crate) fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: copies the stack pointer register; touches no memory.
    unsafe {
        std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    sp
}

/// Fills the `BYTES` below the stack pointer with `pattern`, a word at a
/// time; returns the stack pointer it painted below.
///
/// # Safety
///
/// The `BYTES` below the stack pointer must be mapped, writable stack of
/// the running code (a coroutine's stack with room to spare). No live value
/// is there: the block is not `nostack`, so the compiler keeps nothing in
/// the red zone across it, as across a call. `BYTES` is a multiple of 8.
#[inline(always)]
pub(crate) unsafe fn paint_below_stack_pointer<const BYTES: usize>(pattern: u64) -> usize {
    let sp: usize;
    // SAFETY: the caller's promise above; `rep stosq` writes RCX words from
    // RDI upwards (the ABI clears the direction flag).
    unsafe {
        std::arch::asm!(
            "mov {sp}, rsp",
            "lea rdi, [rsp - {paint}]",
            "rep stosq",
            sp = out(reg) sp,
            paint = const BYTES,
            in("rax") pattern,
            inout("rcx") BYTES / 8 => _,
            out("rdi") _,
        )
    };
    sp
}

/// Asks the cache for the line at `addr` (a hint: it never faults).
#[inline(always)]
pub(crate) fn prefetch(addr: *const u8) {
    // SAFETY: a prefetch is only a hint: it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(addr as *const i8)
    };
}

/// Valgrind's client request with `args` (a no-op outside Valgrind).
#[inline]
pub(crate) fn valgrind_request(args: [u64; 6]) {
    // SAFETY: Valgrind's client-request preamble: rotations of RDI that add
    // up to 128 bits (so RDI is unchanged) and `xchg rbx, rbx`, a no-op on
    // real hardware. Under Valgrind it reads the six words at RAX; it writes
    // only RDX (the result), which is declared.
    unsafe {
        std::arch::asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            inout("rdx") 0u64 => _,
            in("rax") args.as_ptr(),
            options(nostack),
        )
    };
}
