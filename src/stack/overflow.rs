//! The `SIGSEGV` handler that turns a guard-page fault into a readable message.
//!
//! Everything the handler does is async-signal-safe: it reads a thread-local
//! that has no destructor (so touching it never registers one, never
//! allocates: it is a plain TLS slot), looks the faulting address up in the
//! thread's arenas without allocating, writes the message with `write(2)` and
//! calls `abort`. A fault that is not a guard page of ours goes to whoever
//! had the signal before.

use std::cell::Cell;
use std::sync::Once;

/// How the handler asks a thread's pool who owns a faulting address: given
/// the published pool and the address, the coroutine's name and stack size.
pub(super) type Lookup = fn(*const (), usize) -> Option<(&'static str, usize)>;

static INSTALL: Once = Once::new();
static mut OLD_SEGV: Option<libc::sigaction> = None;
static mut OLD_BUS: Option<libc::sigaction> = None;

thread_local! {
    /// This thread's pool, published once it has arenas (null before, and
    /// again once the pool is dropped at thread exit). `const` and free of
    /// drop glue, so the handler's read is a plain TLS load.
    static PUBLISHED: Cell<(*const (), Option<Lookup>)> =
        const { Cell::new((std::ptr::null(), None)) };
    static ALTSTACK_CHECKED: Cell<bool> = const { Cell::new(false) };
}

/// Installs the handler (once per process) and an alternate signal stack
/// (once per thread, unless the thread has one: Rust's main and spawned
/// threads do).
pub(super) fn install() {
    INSTALL.call_once(|| {
        for (sig, slot) in [
            (libc::SIGSEGV, &raw mut OLD_SEGV),
            (libc::SIGBUS, &raw mut OLD_BUS),
        ] {
            // SAFETY: `sigaction` is a plain C struct, for which all-zero
            // bytes are a valid (empty) value.
            let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
            new.sa_sigaction = on_fault as *const () as usize;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            // SAFETY: `sa_mask` is a valid, writable signal set.
            unsafe { libc::sigemptyset(&mut new.sa_mask) };
            // SAFETY: as above.
            let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: both pointers are to live structs; the handler is an
            // `extern "C"` fn of the SA_SIGINFO shape.
            if unsafe { libc::sigaction(sig, &new, &mut old) } == 0 {
                // SAFETY: only this `Once` writes the statics, and it writes
                // the previous action before any signal can reach ours (the
                // handler reads it only after it was installed).
                unsafe { *slot = Some(old) };
            }
        }
    });
    ensure_altstack();
}

/// Lets the handler find this thread's pool: `pool`, which `lookup` knows
/// how to read. It must stay valid until [`unpublish`].
pub(super) fn publish(pool: *const (), lookup: Lookup) {
    PUBLISHED.with(|p| p.set((pool, Some(lookup))));
}

/// The pool is going away (thread exit): the handler must not look at it.
pub(super) fn unpublish() {
    let _ = PUBLISHED.try_with(|p| p.set((std::ptr::null(), None)));
}

fn ensure_altstack() {
    if ALTSTACK_CHECKED.with(|c| c.replace(true)) {
        return;
    }
    // SAFETY: `stack_t` is a plain C struct; all-zero bytes are a valid value.
    let mut cur: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: querying with a null new-stack only reads the current setting
    // into `cur`, a live struct.
    unsafe { libc::sigaltstack(std::ptr::null(), &mut cur) };
    if cur.ss_flags & libc::SS_DISABLE == 0 {
        return;
    }
    let size = 64 * 1024;
    // SAFETY: a fresh anonymous private mapping; no existing memory is touched.
    let mem = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
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
    // SAFETY: `st` describes the mapping above, readable and writable, which
    // is never unmapped.
    unsafe { libc::sigaltstack(&st, std::ptr::null_mut()) };
}

/// The coroutine whose guard page holds `addr`, and its stack size (signal-safe).
fn owner_of(addr: usize) -> Option<(&'static str, usize)> {
    let (pool, lookup) = PUBLISHED.with(|p| p.get());
    lookup.filter(|_| !pool.is_null())?(pool, addr)
}

extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let info_ref = unsafe { &*info };
    // SAFETY: si_addr is the faulting address for SIGSEGV and SIGBUS.
    let addr = unsafe { info_ref.si_addr() } as usize;
    if let Some((name, size)) = owner_of(addr) {
        report(name, size, "it ran into its guard page");
    }
    // Not ours: hand the signal to whoever had it before.
    let slot = if sig == libc::SIGBUS {
        &raw const OLD_BUS
    } else {
        &raw const OLD_SEGV
    };
    // SAFETY: written once, before this handler was installed.
    let old = unsafe { std::ptr::read(slot) };
    // Restoring or calling the previous disposition is what the process
    // would have done without us; a default action re-faults and terminates
    // as usual when this handler returns.
    match old {
        Some(old) if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN => {
            if old.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: with SA_SIGINFO, `sa_sigaction` is a handler of
                // this three-argument shape (it was installed as one).
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(old.sa_sigaction) };
                f(sig, info, ctx);
            } else {
                // SAFETY: without SA_SIGINFO, `sa_sigaction` is a plain
                // one-argument handler.
                let f: extern "C" fn(libc::c_int) =
                    unsafe { std::mem::transmute(old.sa_sigaction) };
                f(sig);
            }
        }
        _ => {
            // SAFETY: all-zero bytes are a valid `sigaction`.
            let mut dfl: libc::sigaction = unsafe { std::mem::zeroed() };
            dfl.sa_sigaction = libc::SIG_DFL;
            // SAFETY: `dfl` is a live struct; the old action is not wanted.
            unsafe { libc::sigaction(sig, &dfl, std::ptr::null_mut()) };
        }
    }
}

/// Prints the overflow message with `write(2)` only (signal-safe) and aborts.
fn report(name: &str, size: usize, how: &str) -> ! {
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
