//! The stack pool: many live stacks on a stock kernel, pages given back,
//! clear messages on overflow and on mapping failure.
//!
//! The overflow and mapping-failure cases must kill or cripple a process, so
//! they run in a child: the test re-runs this test binary with `--exact
//! <helper> --ignored` and an environment variable, and checks the child's
//! stderr and exit status. The helpers are `#[ignore]`d so that a normal run
//! does not execute them on their own.

mod common;

use yieldfrom::stack::StackMode;
use yieldfrom::{Co, Coro, EventLoop, Generator, spawn, stack, yield_from};

fn run_helper(name: &str, env: &[(&str, &str)]) -> (String, std::process::ExitStatus) {
    common::run_helper(name, "YIELDFROM_STACK_CHILD", env)
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
#[ignore = "helper: run by overflow_on_a_shared_stack_is_reported_by_name"]
fn helper_overflow_shared() {
    if !in_child() {
        return;
    }
    stack::set_default_size(64 * 1024);
    let lp = EventLoop::builder().stack_mode(StackMode::Shared).build();
    lp.run(Coro::new("main", || {
        // Another task's frames occupy the shared stack first, so the
        // overflowing one runs on a stack that was switched over.
        let other = spawn(Coro::new("bystander", yieldfrom::yield_now));
        let deep = spawn(Coro::new("deep_task", || recurse(1_000_000)));
        yield_from(other);
        yield_from(deep)
    }));
    eprintln!("not detected");
}

#[test]
fn overflow_on_a_shared_stack_is_reported_by_name() {
    let (stderr, status) = run_helper("helper_overflow_shared", &[]);
    assert!(
        stderr.contains("stack overflow in coroutine 'deep_task'")
            && stderr.contains("it ran into its guard page")
            && stderr.contains("the stack holds 64 KiB"),
        "{stderr}"
    );
    assert!(!stderr.contains("not detected"));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGABRT), "{status:?}");
}

#[test]
#[ignore = "helper: run by generators_past_the_guard_budget_get_an_error_naming_the_limit"]
fn helper_budget_spent() {
    if !in_child() {
        return;
    }
    stack::set_guard_budget(40);
    let mut alive = Vec::new();
    loop {
        match Generator::try_new(|co: &Co<(), ()>| co.yield_(())) {
            Ok(g) => {
                g.start().unwrap();
                alive.push(g);
            }
            Err(e) => {
                eprintln!("after {}: {e}", alive.len());
                break;
            }
        }
    }
    // Tasks go on past it, on shared stacks, every one guarded.
    let lp = EventLoop::new();
    let n = lp.run(Coro::new("main", || {
        let tasks: Vec<_> = (0..1000u64)
            .map(|i| {
                spawn(Coro::new("t", move || {
                    yieldfrom::yield_now();
                    i
                }))
            })
            .collect();
        tasks.into_iter().map(yield_from).sum::<u64>()
    }));
    eprintln!("tasks summed {n}");
    eprintln!("budget left {}", stack::guard_budget());
}

#[test]
fn generators_past_the_guard_budget_get_an_error_naming_the_limit() {
    let (stderr, status) = run_helper("helper_budget_spent", &[]);
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("after 40: yieldfrom: the guard-page budget is spent")
            && stderr.contains("vm.max_map_count = ")
            && stderr.contains("set_guard_budget")
            && stderr.contains("StackMode"),
        "{stderr}"
    );
    assert!(stderr.contains("tasks summed 499500"), "{stderr}");
    assert!(stderr.contains("budget left 0"), "{stderr}");
}

#[test]
fn stack_sizes_that_would_wrap_are_clear_errors() {
    for bytes in [
        1usize << 63,
        usize::MAX - 4095,
        usize::MAX,
        stack::MAX_STACK_SIZE + 1,
    ] {
        let err = Generator::<(), (), ()>::try_with_stack_size(bytes, |_: &Co<(), ()>| Ok(()))
            .expect_err("an error, not a stack");
        assert!(
            err.to_string().contains(&format!(
                "a coroutine stack of {bytes} bytes is larger than the 1 GiB"
            )),
            "{err}"
        );
        let set = std::panic::catch_unwind(|| stack::set_default_size(bytes));
        assert!(set.is_err(), "set_default_size({bytes}) refused");
        let built = EventLoop::builder().stack_size(bytes).try_build();
        let err = built.expect_err("the builder refuses it");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("larger than the 1 GiB"), "{err}");
    }
    // The largest accepted size maps (address space only: MAP_NORESERVE).
    let g = Generator::<(), (), ()>::try_with_stack_size(
        stack::MAX_STACK_SIZE,
        |_: &Co<(), ()>| Ok(()),
    );
    assert!(g.is_ok(), "{:?}", g.err());
}

#[test]
#[ignore = "helper: run by a_stack_size_from_the_environment_that_is_too_large_is_reported"]
fn helper_env_size() {
    if !in_child() {
        return;
    }
    eprintln!("default {}", stack::default_size());
}

#[test]
fn a_stack_size_from_the_environment_that_is_too_large_is_reported() {
    let (stderr, status) = run_helper(
        "helper_env_size",
        &[("YIELDFROM_STACK_SIZE", "18446744073709547520")],
    );
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("YIELDFROM_STACK_SIZE=\"18446744073709547520\" is not a stack size"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("default {}", stack::DEFAULT_STACK_SIZE)),
        "{stderr}"
    );
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

/// `n` tasks asleep at once on the virtual clock, each holding a local
/// array with its own number: every one wakes with it intact.
fn sleepers(lp: EventLoop, n: usize) -> (stack::PoolStats, u64) {
    let (during, sum) = lp.run(Coro::new("main", move || {
        let tasks: Vec<_> = (0..n as u64)
            .map(|i| {
                spawn(Coro::new("sleeper", move || {
                    let mine = std::hint::black_box([i; 8]);
                    yieldfrom::sleep(std::time::Duration::from_secs(1));
                    assert!(
                        mine.iter().all(|&x| x == i),
                        "task {i}'s frame came back intact"
                    );
                    i
                }))
            })
            .collect();
        yieldfrom::sleep(std::time::Duration::from_millis(500)); // all asleep now
        let during = stack::stats();
        (during, tasks.into_iter().map(yield_from).sum::<u64>())
    }));
    (during, sum)
}

#[test]
fn a_hundred_thousand_sleeping_tasks_on_shared_guarded_stacks() {
    stack::set_default_size(32 * 1024);
    let lp = EventLoop::builder()
        .virtual_clock(true)
        .stack_mode(StackMode::Shared)
        .build();
    let (during, sum) = sleepers(lp, 100_000);
    assert_eq!(sum, (0..100_000u64).sum::<u64>());
    assert!(
        during.shared_stacks <= stack::SHARED_STACKS_PER_SIZE * 2,
        "{during:?}"
    );
    assert!(during.shared_tasks >= 100_000, "{during:?}");
    // All but the resident ones are saved; what a parked task keeps is its
    // saved frames, well under a page.
    assert!(
        during.saved_images >= 100_000 - during.shared_stacks,
        "{during:?}"
    );
    let per_task = during.saved_bytes / during.saved_images;
    eprintln!("{per_task} bytes saved per parked task");
    assert!(
        per_task < 4096,
        "{per_task} bytes saved per parked task: less than the page a dedicated stack keeps"
    );
    let after = stack::stats();
    assert_eq!(after.shared_tasks, 0, "{after:?}");
    assert_eq!(after.saved_images, 0, "{after:?}");
}

#[test]
#[ignore = "helper: run by a_million_sleeping_tasks_on_a_stock_kernel_every_stack_guarded"]
fn helper_million() {
    if !in_child() {
        return;
    }
    stack::set_default_size(32 * 1024);
    let lp = EventLoop::builder().virtual_clock(true).build();
    let (during, sum) = sleepers(lp, 1_000_000);
    eprintln!(
        "sum {sum} dedicated {} shared {} saved {}",
        during.in_use, during.shared_tasks, during.saved_images
    );
}

#[test]
fn a_million_sleeping_tasks_on_a_stock_kernel_every_stack_guarded() {
    // Dedicated stacks while the guard budget (a quarter of vm.max_map_count)
    // lasts, shared ones after it; no stack without a guard page exists.
    let (stderr, status) = run_helper("helper_million", &[]);
    assert!(status.success(), "{stderr}");
    let sum: u64 = (0..1_000_000u64).sum();
    assert!(stderr.contains(&format!("sum {sum} ")), "{stderr}");
    let field = |name: &str| -> usize {
        let at = stderr.find(&format!("{name} ")).unwrap() + name.len() + 1;
        stderr[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (dedicated, shared) = (field("dedicated"), field("shared"));
    assert_eq!(
        dedicated + shared,
        1_000_000 + 1,
        "every task plus main: {stderr}"
    );
    assert!(dedicated <= stack::max_map_count() / 4 + 1, "{stderr}");
    assert!(shared > 900_000, "{stderr}");
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

#[test]
#[ignore = "helper: run by a_failed_mprotect_gives_its_guards_back"]
fn helper_mprotect_failure() {
    if !in_child() {
        return;
    }
    // Use up the process's mappings (alternate protections so that the
    // kernel cannot merge neighbours), leaving a handful: an arena then maps,
    // but guarding its slots fails after a few.
    let page = 4096;
    let limit = stack::max_map_count();
    let mut fillers = Vec::new();
    for i in 0.. {
        let prot = if i % 2 == 0 {
            libc::PROT_READ
        } else {
            libc::PROT_NONE
        };
        // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                page,
                prot,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            break;
        }
        fillers.push(p);
        if fillers.len() > limit {
            break;
        }
    }
    // Give a few back: room for the arena and three of its guards.
    for p in fillers.drain(fillers.len() - 8..) {
        // SAFETY: unmapping a page mapped above, used by nothing.
        unsafe { libc::munmap(p, page) };
    }
    stack::set_guard_budget(1000);
    let before = stack::guard_budget();
    let mut gens = Vec::new();
    while let Ok(g) = Generator::try_new(|co: &Co<(), ()>| co.yield_(())) {
        g.start().unwrap();
        gens.push(g);
        if gens.len() > 100 {
            break;
        }
    }
    let got = gens.len();
    let left = stack::guard_budget();
    eprintln!("guarded {got} budget before {before} left {left}");
    // Mappings back: the budget left still serves.
    for p in fillers.drain(..) {
        // SAFETY: as above.
        unsafe { libc::munmap(p, page) };
    }
    let more = Generator::try_new(|co: &Co<(), ()>| co.yield_(())).is_ok();
    eprintln!("after the mappings came back: {more}");
}

#[test]
fn a_failed_mprotect_gives_its_guards_back() {
    let (stderr, status) = run_helper("helper_mprotect_failure", &[]);
    assert!(status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("guarded "))
        .expect(&stderr);
    let n: Vec<usize> = line.split(' ').filter_map(|w| w.parse().ok()).collect();
    let (got, before, left) = (n[0], n[1], n[2]);
    assert!(
        got > 0 && got < 100,
        "some slots were guarded, then mprotect failed: {line}"
    );
    assert_eq!(
        left,
        before - got,
        "only the guards in use left the budget: {line}"
    );
    assert!(
        stderr.contains("after the mappings came back: true"),
        "{stderr}"
    );
}
