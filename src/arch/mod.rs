//! What is written in the machine's own instructions, one file per
//! architecture (corosensei's `src/arch/` is the model): reading the stack
//! pointer, painting the stack below it, a prefetch hint, and Valgrind's
//! client requests. The switch itself is corosensei's. On an architecture
//! without a file here, the stack pointer is read through a local's
//! address, nothing is prefetched, Valgrind is not told, and shared stacks
//! (which need the painting to measure the switch's depth) are not offered.

#[cfg(not(target_arch = "x86_64"))]
mod other;
#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(not(target_arch = "x86_64"))]
pub(crate) use self::other::*;
#[cfg(target_arch = "x86_64")]
pub(crate) use self::x86_64::*;
