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
            // SAFETY: a zeroed sigaction is a valid value to fill in; the
            // handler is an `extern "C"` fn of the SA_SIGINFO shape; the
            // previous action is stored before any signal can reach ours,
            // and only this Once writes the statics.
            unsafe {
                let mut new: libc::sigaction = std::mem::zeroed();
                new.sa_sigaction = on_fault as *const () as usize;
                new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut new.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &new, &mut old) == 0 {
                    *slot = Some(old);
                }
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
    // SAFETY: querying with a null new-stack only reads the current setting.
    unsafe {
        let mut cur: libc::stack_t = std::mem::zeroed();
        libc::sigaltstack(std::ptr::null(), &mut cur);
        if cur.ss_flags & libc::SS_DISABLE == 0 {
            return;
        }
        let size = 64 * 1024;
        let mem = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
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
        libc::sigaltstack(&st, std::ptr::null_mut());
    }
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
    let old = if sig == libc::SIGBUS {
        // SAFETY: written once, before this handler was installed.
        unsafe { std::ptr::read(&raw const OLD_BUS) }
    } else {
        // SAFETY: as above.
        unsafe { std::ptr::read(&raw const OLD_SEGV) }
    };
    // SAFETY: restoring or calling the previous disposition is what the
    // process would have done without us; a default action re-faults and
    // terminates as usual when this handler returns.
    unsafe {
        match old {
            Some(old) if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN => {
                if old.sa_flags & libc::SA_SIGINFO != 0 {
                    let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                        std::mem::transmute(old.sa_sigaction);
                    f(sig, info, ctx);
                } else {
                    let f: extern "C" fn(libc::c_int) = std::mem::transmute(old.sa_sigaction);
                    f(sig);
                }
            }
            _ => {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
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
