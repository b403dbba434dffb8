//! 05 — The chef: what the tutorial's own code does, and what "serves
//! another customer" means.
//!
//! The tutorial writes `await boil_water()` then `cut_vegetables()` and says
//! the chef serves another customer while the water boils. Both halves are
//! true, and the first surprises most beginners: *one* dinner cooked that way
//! takes 3 s + 2 s, because `await` waits; nothing in it overlaps. The
//! overlap comes from a *second* task: a second customer (the loop runs
//! Bob's order while Ann's water boils), or the boil made a task of its own.
//!
//! The stove does its work alone (an I/O wait: `sleep`); the chef's hands are
//! one pair (a `Lock`: two customers' vegetables are cut one after the
//! other). Three dinners, each on a loop of its own. Run alone it waits in
//! real time (15 s in all); the tests and the tour run it on the virtual
//! clock (`YIELDFROM_VIRTUAL_CLOCK=1`), where the times below are exact.
//!
//! Python (the same program; the whole of it is in the book's chapter 05):
//! ```python
//! async def cook(who):                       # the tutorial's code
//!     await boil_water(who)                  # waits here for the boil...
//!     await cut_vegetables(who)              # ...then cuts: 5 s in all
//! await serve(cook("Ann"))                   # 5 s
//! await serve(cook("Ann"), cook("Bob"))      # 7 s, not 10
//! await serve(cook_while_it_boils("Ann"))    # 3 s
//! ```
//!
//! Expected output:
//! ```text
//! the tutorial's chef, one customer:
//!   [0.00 s] Ann: water on
//!   [3.00 s] Ann: water boiled
//!   [3.00 s] Ann: cutting
//!   [5.00 s] Ann: vegetables cut
//!   dinner after 5.00 s
//! the same chef, two customers:
//!   [0.00 s] Ann: water on
//!   [0.00 s] Bob: water on
//!   [3.00 s] Ann: water boiled
//!   [3.00 s] Ann: cutting
//!   [3.00 s] Bob: water boiled
//!   [5.00 s] Ann: vegetables cut
//!   [5.00 s] Bob: cutting
//!   [7.00 s] Bob: vegetables cut
//!   dinner after 7.00 s
//! a chef who cuts while the water boils:
//!   [0.00 s] Ann: cutting
//!   [0.00 s] Ann: water on
//!   [2.00 s] Ann: vegetables cut
//!   [3.00 s] Ann: water boiled
//!   dinner after 3.00 s
//! ```

use std::rc::Rc;
use std::time::Duration;
use yieldfrom::{Coro, EventLoop, combinators::gather, run, sleep, spawn, sync::Lock, yield_from};

fn at() -> String {
    format!("[{:.2} s]", EventLoop::current().time())
}

/// The stove does the work: an I/O wait, during which the chef is free.
fn boil_water(who: &'static str) -> Coro<()> {
    Coro::new("boil_water", move || {
        println!("  {} {who}: water on", at());
        sleep(Duration::from_secs(3));
        println!("  {} {who}: water boiled", at());
    })
}

/// The chef's own hands: one pair, so one customer's vegetables at a time.
fn cut_vegetables(who: &'static str, hands: Rc<Lock>) -> Coro<()> {
    Coro::new("cut_vegetables", move || {
        let held = hands.acquire();
        println!("  {} {who}: cutting", at());
        sleep(Duration::from_secs(2));
        drop(held);
        println!("  {} {who}: vegetables cut", at());
    })
}

/// The tutorial's code: boil, then cut. The `await`s run one after the other.
fn cook(name: &'static str, who: &'static str, hands: Rc<Lock>) -> Coro<()> {
    Coro::new(name, move || {
        yield_from(boil_water(who));
        yield_from(cut_vegetables(who, hands));
    })
}

/// The boil as a task of its own: the chef cuts while the water boils.
fn cook_while_it_boils(who: &'static str, hands: Rc<Lock>) -> Coro<()> {
    Coro::new("cook_while_it_boils", move || {
        let water = spawn(boil_water(who));
        yield_from(cut_vegetables(who, hands));
        yield_from(water);
    })
}

/// One loop: the chef takes `orders` (as tasks, all at once) and reports
/// when the last dinner is ready.
fn serve(orders: impl FnOnce(Rc<Lock>) -> Vec<Coro<()>> + 'static) {
    run(Coro::new("chef", move || {
        gather(orders(Rc::new(Lock::new())));
        println!("  dinner after {:.2} s", EventLoop::current().time());
    }));
}

pub fn main() {
    println!("the tutorial's chef, one customer:");
    serve(|hands| vec![cook("cook_for_ann", "Ann", hands)]);
    println!("the same chef, two customers:");
    serve(|hands| {
        vec![
            cook("cook_for_ann", "Ann", hands.clone()),
            cook("cook_for_bob", "Bob", hands),
        ]
    });
    println!("a chef who cuts while the water boils:");
    serve(|hands| vec![cook_while_it_boils("Ann", hands)]);
}
