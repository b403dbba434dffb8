//! `cargo bench --bench generator`: the cost of a generator against raw corosensei.
//!
//! - `send_round_trip`: one `send` into a generator that yields straight back,
//!   against one `resume` + `suspend` of a bare corosensei coroutine (target: ≤ 1.3×);
//!   a second row against the same coroutine once its address has escaped
//!   (its stack pointer in memory, as any generator object's is).
//! - `next_vs_raw_in_memory`: `Iterator::next` on a generator that takes no
//!   sent values (a `for` loop over it), against resuming the raw coroutine
//!   with `()`.
//! - `create_finish`: create a generator, run it to completion, drop it, with
//!   the stack pool, against the same with a fresh corosensei `DefaultStack`
//!   (an mmap, an mprotect and a munmap each time).

use std::hint::black_box;

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult};
use yieldfrom::{Co, Generator, GeneratorState};

#[path = "common.rs"]
#[allow(dead_code)]
mod common;
use common::{median_ns, report};

/// `n` resume + suspend round trips of a bare corosensei coroutine. The
/// plain loop keeps the coroutine's stack pointer in a register; with
/// `escaped`, the coroutine's address is taken first, as a generator's is
/// (it lives in a struct, and `start` borrows it out of line), so its stack
/// pointer lives in memory and is reloaded for every resume.
#[inline(always)]
fn raw_round_trips(n: u64, escaped: bool) {
    let mut co = Coroutine::new(|y, mut v: u64| {
        loop {
            v = y.suspend(v + 1);
        }
    });
    if escaped {
        black_box(&mut co);
    }
    for i in 0..n {
        match co.resume(black_box(i)) {
            CoroutineResult::Yield(v) => {
                black_box(v);
            }
            CoroutineResult::Return(()) => unreachable!(),
        }
    }
    co.force_unwind();
}

fn main() {
    const N: u64 = 2_000_000;

    let raw = median_ns(15, N, |n| raw_round_trips(n, false));
    let ours = median_ns(15, N, |n| {
        let g: Generator<u64, u64, ()> = Generator::new(|co: &Co<u64, u64>| {
            let mut v = 0;
            loop {
                v = co.yield_(v + 1)?;
            }
        });
        let _ = g.start();
        for i in 0..n {
            // Consume the yielded value exactly as the raw loop does.
            match g.send(black_box(i)) {
                Ok(GeneratorState::Yielded(v)) => {
                    black_box(v);
                }
                _ => unreachable!(),
            }
        }
    });
    // The same raw coroutine, its address taken before the loop as a
    // generator's is (see `raw_round_trips`).
    let raw_in_memory = median_ns(15, N, |n| raw_round_trips(n, true));
    report("send_round_trip", ours, "base_ns", raw);
    report(
        "send_round_trip_vs_raw_in_memory",
        ours,
        "base_ns",
        raw_in_memory,
    );

    // Iteration: `next` on a generator that takes no sent values, against
    // the raw coroutine resumed with `()` (its address taken, as above).
    let raw_next = median_ns(15, N, |n| {
        let mut v = 0u64;
        let mut co = Coroutine::new(move |y, ()| {
            loop {
                y.suspend(v);
                v += 1;
            }
        });
        black_box(&mut co);
        for _ in 0..n {
            match co.resume(()) {
                CoroutineResult::Yield(v) => {
                    black_box(v);
                }
                CoroutineResult::Return(()) => unreachable!(),
            }
        }
        co.force_unwind();
    });
    let ours_next = median_ns(15, N, |n| {
        let g: Generator<u64> = Generator::new(|co| {
            let mut v = 0;
            loop {
                co.yield_(v)?;
                v += 1;
            }
        });
        for v in (&g).take(n as usize) {
            black_box(v);
        }
    });
    report("next_vs_raw_in_memory", ours_next, "base_ns", raw_next);

    const M: u64 = 20_000;
    let fresh = median_ns(11, M, |n| {
        for i in 0..n {
            let stack = DefaultStack::new(256 * 1024).unwrap();
            let mut co =
                Coroutine::with_stack(stack, move |_y: &corosensei::Yielder<(), ()>, ()| {
                    black_box(i)
                });
            black_box(co.resume(()));
        }
    });
    let pooled = median_ns(11, M, |n| {
        for i in 0..n {
            let g = Generator::new(move |_co: &Co<(), ()>| Ok(black_box(i)));
            black_box(g.start().ok());
        }
    });
    report("create_finish", pooled, "base_ns", fresh);
}
