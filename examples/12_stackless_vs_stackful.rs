//! 12 — The same programs, stackful and stackless, side by side.
//!
//! yieldfrom's tasks each own a stack: a pause is one stack switch, however
//! deep the call chain. Rust's `async fn` (and Python's coroutines) are
//! state machines: a pause returns `Pending` through every `.await` frame,
//! and a resume polls the chain again from the top. Here the tutorial's
//! programs run both ways — on yieldfrom and on `yieldfrom::stackless`, a
//! small `std::future::Future` executor — and a chain of nested awaits shows
//! what each design pays per pause as the chain gets deeper.
//!
//! Expected output (the nanoseconds vary with the machine; each is the
//! median of five runs after one to warm up):
//! ```text
//! program                        stackful                 stackless
//! greet                          Hello, World             Hello, World
//! two tasks of 0.2 s and 0.1 s   concurrent: yes          concurrent: yes
//! echo over TCP                  echoed 'ping'            echoed 'ping'
//! colouring                      sleep() from a plain fn  .await needs async all the way up
//! pause+resume at depth 1        N ns                     N ns
//! pause+resume at depth 10       N ns                     N ns
//! pause+resume at depth 100      N ns                     N ns
//! pause+resume at depth 1000     N ns                     N ns
//! ```

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use yieldfrom::net::{TcpListener, TcpStream};
use yieldfrom::{Coro, combinators::gather, run, sleep, spawn, stackless, yield_from, yield_now};

// ----- greet ---------------------------------------------------------------

fn greet_stackful() -> String {
    run(Coro::new("greet", || {
        let hello = "Hello";
        sleep(Duration::from_millis(10));
        format!("{hello}, World")
    }))
}

fn greet_stackless() -> String {
    stackless::run(async {
        let hello = "Hello";
        stackless::sleep(Duration::from_millis(10)).await;
        format!("{hello}, World")
    })
}

// ----- two tasks -----------------------------------------------------------
//
// A (0.2 s) starts before B (0.1 s). Run one after the other they would
// finish A, B; run concurrently they finish B, A — whatever the machine's load.

fn two_tasks_stackful() -> bool {
    let done = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let d = done.clone();
    run(Coro::new("main", move || {
        gather([("A", 200), ("B", 100)].map(|(name, ms)| {
            let d = d.clone();
            Coro::new("task", move || {
                sleep(Duration::from_millis(ms));
                d.borrow_mut().push(name);
            })
        }));
    }));
    *done.borrow() == ["B", "A"]
}

fn two_tasks_stackless() -> bool {
    let done = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let (da, db) = (done.clone(), done.clone());
    stackless::run(async move {
        let a = stackless::spawn(async move {
            stackless::sleep(Duration::from_millis(200)).await;
            da.borrow_mut().push("A");
        });
        let b = stackless::spawn(async move {
            stackless::sleep(Duration::from_millis(100)).await;
            db.borrow_mut().push("B");
        });
        a.await;
        b.await;
    });
    *done.borrow() == ["B", "A"]
}

// ----- echo ----------------------------------------------------------------

fn echo_stackful() -> String {
    run(Coro::new("main", || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn(Coro::new("server", move || {
            let (s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4];
            let n = s.read(&mut buf).unwrap();
            s.write_all(&buf[..n]).unwrap();
        }));
        let c = TcpStream::connect(addr).unwrap();
        c.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        std::io::Read::read_exact(&mut &c, &mut buf).unwrap();
        yield_from(server);
        String::from_utf8_lossy(&buf).into_owned()
    }))
}

fn echo_stackless() -> String {
    stackless::run(async {
        let listener = stackless::TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = stackless::spawn(async move {
            let s = listener.accept().await.unwrap();
            let mut buf = [0u8; 4];
            let n = s.read(&mut buf).await.unwrap();
            s.write_all(&buf[..n]).await.unwrap();
        });
        let c = stackless::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            got += c.read(&mut buf[got..]).await.unwrap();
        }
        server.await;
        String::from_utf8_lossy(&buf).into_owned()
    })
}

// ----- a deep chain of awaits ------------------------------------------------

/// Stackful: plain recursion; the pause at the bottom is one switch.
fn chain(depth: u32, pauses: u32) {
    if depth == 0 {
        for _ in 0..pauses {
            yield_now();
        }
    } else {
        chain(depth - 1, pauses);
    }
}

/// Stackless: every level is a future that polls the next one.
fn chain_async(depth: u32, pauses: u32) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        if depth == 0 {
            for _ in 0..pauses {
                stackless::yield_now().await;
            }
        } else {
            chain_async(depth - 1, pauses).await;
        }
    })
}

const PAUSES: u32 = 10_000;

// Both sides are timed the same way: from inside the program, so building
// and closing the loop are outside the timed region, and on a loop with no
// instrument (the tour traces every other loop; a trace costs each step far
// more than the switch it would measure).

fn depth_stackful(depth: u32) -> f64 {
    let lp = yieldfrom::EventLoop::builder()
        .stack_size(1 << 20)
        .ignore_env_instruments()
        .build();
    let took = lp.run(Coro::new("chain", move || {
        let t0 = Instant::now();
        chain(depth, PAUSES);
        t0.elapsed()
    }));
    took.as_nanos() as f64 / PAUSES as f64
}

fn depth_stackless(depth: u32) -> f64 {
    let took = stackless::run(async move {
        let t0 = Instant::now();
        chain_async(depth, PAUSES).await;
        t0.elapsed()
    });
    took.as_nanos() as f64 / PAUSES as f64
}

/// The median of five runs of `measure`, after one run that is thrown away
/// (it pays for cold caches and the first touch of the stack's pages).
fn median_of_five(measure: impl Fn() -> f64) -> f64 {
    measure();
    let mut runs: Vec<f64> = (0..5).map(|_| measure()).collect();
    runs.sort_by(f64::total_cmp);
    runs[2]
}

/// One row of the comparison table.
fn row(what: &str, stackful: &str, stackless: &str) {
    println!("{what:30} {stackful:24} {stackless}");
}

pub fn main() {
    let yes = |b: bool| {
        if b {
            "concurrent: yes"
        } else {
            "concurrent: no"
        }
    };
    row("program", "stackful", "stackless");
    row("greet", &greet_stackful(), &greet_stackless());
    row(
        "two tasks of 0.2 s and 0.1 s",
        yes(two_tasks_stackful()),
        yes(two_tasks_stackless()),
    );
    row(
        "echo over TCP",
        &format!("echoed '{}'", echo_stackful()),
        &format!("echoed '{}'", echo_stackless()),
    );
    row(
        "colouring",
        "sleep() from a plain fn",
        ".await needs async all the way up",
    );
    for depth in [1, 10, 100, 1000] {
        let ful = median_of_five(|| depth_stackful(depth));
        let less = median_of_five(|| depth_stackless(depth));
        row(
            &format!("pause+resume at depth {depth}"),
            &format!("{ful:.0} ns"),
            &format!("{less:.0} ns"),
        );
    }
}
