//! The stack pool: many live stacks on a stock kernel, pages given back,
//! clear messages on overflow and on mapping failure.
//!
//! The overflow and mapping-failure cases must kill or cripple a process, so
//! they run in a child: the test re-runs this test binary with `--exact
//! <helper> --ignored` and an environment variable, and checks the child's
//! stderr and exit status. The helpers are `#[ignore]`d so that a normal run
//! does not execute them on their own.

use std::process::Command;

use yieldfrom::{Co, Generator, GeneratorState, stack};

fn run_helper(name: &str, env: &[(&str, &str)]) -> (String, std::process::ExitStatus) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        name,
        "--ignored",
        "--nocapture",
        "--test-threads",
        "1",
    ]);
    cmd.env("YIELDFROM_STACK_CHILD", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status,
    )
}

fn in_child() -> bool {
    std::env::var("YIELDFROM_STACK_CHILD").is_ok()
}

#[inline(never)]
fn recurse(depth: usize) -> usize {
    let mut buf = [0u8; 512];
    buf[depth % 512] = depth as u8;
    let below = if depth == 0 { 0 } else { recurse(depth - 1) };
    std::hint::black_box(&buf);
    below + buf[depth % 512] as usize
}

#[test]
#[ignore = "helper: run by overflow_is_reported_by_name"]
fn helper_overflow_guarded() {
    if !in_child() {
        return;
    }
    let g = Generator::named("deep_recursion", |co: &Co<usize, ()>| {
        let n = recurse(1_000_000);
        co.yield_(n)?;
        Ok(())
    });
    let _ = g.start();
}

#[test]
fn overflow_is_reported_by_name() {
    let (stderr, status) = run_helper("helper_overflow_guarded", &[]);
    assert!(
        stderr.contains("yieldfrom: stack overflow in coroutine 'deep_recursion'")
            && stderr.contains("it ran into its guard page")
            && stderr.contains("the stack holds 256 KiB")
            && stderr.contains("YIELDFROM_STACK_SIZE"),
        "{stderr}"
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGABRT), "{status:?}");
}

#[test]
#[ignore = "helper: run by overflow_without_guard_page_is_caught_by_the_canary"]
fn helper_overflow_canary() {
    if !in_child() {
        return;
    }
    stack::set_guard_budget(0);
    stack::set_default_size(64 * 1024);
    // Slot 0 stays idle, so slot 1 overflows into it (not into the arena's guard page).
    let idle = Generator::new(|co: &Co<usize, ()>| co.yield_(0));
    idle.start().unwrap();
    let g = Generator::named("canary_victim", |co: &Co<usize, ()>| {
        // About 80 KiB of frames on a 64 KiB stack, then a switch.
        let n = recurse(140);
        co.yield_(n)?;
        Ok(())
    });
    let _ = g.start();
    eprintln!("not detected");
}

#[test]
fn overflow_without_guard_page_is_caught_by_the_canary() {
    let (stderr, status) = run_helper("helper_overflow_canary", &[]);
    assert!(
        stderr.contains("stack overflow in coroutine 'canary_victim'")
            && stderr.contains("its canary page was overwritten")
            && stderr.contains("the stack holds 64 KiB"),
        "{stderr}"
    );
    assert!(!stderr.contains("not detected"));
    assert!(!status.success());
}

#[test]
#[ignore = "helper: run by mapping_failure_names_the_limit"]
fn helper_mapping_failure() {
    if !in_child() {
        return;
    }
    // Leave almost no address space, then ask for a stack.
    let limit = libc::rlimit {
        rlim_cur: 64 << 20,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit with a valid struct only lowers this child's limit.
    unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
    stack::set_default_size(16 << 20);
    match Generator::try_new(|co: &Co<(), ()>| co.yield_(())) {
        Ok(_) => eprintln!("mapped anyway"),
        Err(e) => eprintln!("{e}"),
    }
}

#[test]
fn mapping_failure_names_the_limit() {
    let (stderr, _) = run_helper("helper_mapping_failure", &[]);
    assert!(
        stderr.contains("yieldfrom: cannot map 16 more coroutine stacks of 16384 KiB")
            && stderr.contains("vm.max_map_count = ")
            && stderr.contains("sysctl -w vm.max_map_count="),
        "{stderr}"
    );
}

#[test]
fn a_hundred_thousand_live_stacks_on_a_stock_kernel() {
    // Each suspended generator holds its own stack. With one mmap per stack
    // and a guard page each, the kernel's 65530 mappings stop near 32,750.
    stack::set_default_size(32 * 1024);
    let gens: Vec<_> = (0..100_000usize)
        .map(|i| {
            let g = Generator::new(move |co: &Co<usize, ()>| co.yield_(i));
            assert_eq!(g.start().unwrap(), GeneratorState::Yielded(i));
            g
        })
        .collect();
    let s = stack::stats();
    assert!(s.in_use >= 100_000, "{s:?}");
    assert!(s.arenas < 500, "arenas hold many stacks each: {s:?}");
    drop(gens);
    let s = stack::stats();
    assert_eq!(s.in_use, 0, "{s:?}");
}

#[test]
fn stacks_beyond_the_warm_limit_give_their_pages_back() {
    stack::set_default_size(128 * 1024);
    stack::set_warm_limit(4);
    // Twenty generators that each touch ~40 KiB of their stack, alive at once.
    let gens: Vec<_> = (0..20)
        .map(|_| {
            let g = Generator::new(|co: &Co<usize, ()>| {
                let buf = std::hint::black_box([7u8; 40 * 1024]);
                co.yield_(buf[100] as usize)?;
                Ok(())
            });
            g.start().unwrap();
            g
        })
        .collect();
    drop(gens);
    let s = stack::stats();
    assert_eq!(s.free, 20.max(s.free));
    // Four warm stacks keep what they touched (at least 40 KiB each, at most
    // their 128 KiB); the other sixteen were madvised. Without that, the
    // twenty would keep at least 800 KiB.
    assert!(
        s.free_resident_bytes <= 4 * 128 * 1024,
        "resident bytes of free stacks: {}",
        s.free_resident_bytes
    );
    assert!(s.free_resident_bytes >= 4 * 40 * 1024, "{s:?}");
}
