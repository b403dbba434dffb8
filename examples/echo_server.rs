//! echo_server — one task per connection, one thread for all of them.
//!
//! `cargo run --release --example echo_server -- 127.0.0.1:7878` serves until
//! SIGINT (Ctrl-C) or SIGTERM; then it stops accepting, gives live
//! connections up to 5 s to finish, and exits 0. Try it with
//! `cargo run --release --example echo_client -- 127.0.0.1:7878`. With
//! `--loops N` it runs a loop per thread, each with its own listener on the
//! port (`SO_REUSEPORT`).
//!
//! What to notice: the handler is ordinary blocking-looking code (`read`,
//! `write_all`); each call that would block suspends only its own task. The
//! signal arrives through a self-pipe the loop reads like any socket.
//!
//! Expected output (the address is whatever you passed; the count depends on the clients):
//! ```text
//! echo server listening on 127.0.0.1:7878 (Ctrl-C to stop)
//! signal 2: no longer accepting; waiting for 0 live connection(s)
//! served 3 connection(s); bye
//! ```

use std::time::Duration;
use yieldfrom::net::{Signals, TcpListener, TcpStream, start_server, start_server_on};
use yieldfrom::{Coro, run};

/// Echoes everything until the peer closes.
pub fn echo(stream: TcpStream) -> Coro<()> {
    Coro::new("echo", move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 || stream.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    })
}

#[allow(dead_code)] // the tour includes this file for `demo` only
pub fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let loops: usize = match args.iter().position(|a| a == "--loops") {
        None => 1,
        Some(at) => match args.get(at + 1).and_then(|n| n.parse().ok()) {
            Some(n) if n >= 1 => n,
            _ => {
                eprintln!("--loops takes a number of loops, 1 or more");
                std::process::exit(2);
            }
        },
    };
    let addr = args
        .iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--loops"))
        .map(|(_, a)| a.clone())
        .unwrap_or_else(|| "127.0.0.1:7878".into());
    // One port, a listener per loop on it (SO_REUSEPORT).
    let port = yieldfrom::net::reserve_port(addr.as_str()).unwrap_or_else(|e| {
        eprintln!("cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    let addr = port.addr();
    let bound = std::sync::Arc::new(std::sync::Barrier::new(loops));
    let served = yieldfrom::run_loops(loops, move |_| {
        let bound = bound.clone();
        Coro::new("main", move || {
            let signals = Signals::new(&[libc::SIGINT, libc::SIGTERM]).expect("signal handlers");
            let listener = TcpListener::bind_reuseport(addr).unwrap_or_else(|e| {
                eprintln!("cannot listen on {addr}: {e}");
                std::process::exit(1);
            });
            let server = start_server_on(listener, echo).expect("serving");
            let leader = bound.wait().is_leader();
            if leader {
                let more = if loops > 1 {
                    format!(" on {loops} loops")
                } else {
                    String::new()
                };
                println!(
                    "echo server listening on {}{more} (Ctrl-C to stop)",
                    server.local_addr()
                );
            }
            let sig = signals.recv().expect("reading the signal pipe");
            if loops == 1 {
                println!(
                    "signal {sig}: no longer accepting; waiting for {} live connection(s)",
                    server.connections()
                );
            } else if leader {
                println!(
                    "signal {sig}: no longer accepting; waiting for live connections on {loops} loops"
                );
            }
            let cancelled = server.wait_closed(Some(Duration::from_secs(5)));
            if cancelled > 0 {
                println!("{cancelled} connection(s) did not finish in 5 s and were closed");
            }
            server.accepted()
        })
    });
    drop(port);
    println!("served {} connection(s); bye", served.iter().sum::<u64>());
}

/// The tour's short form: a server on a free port, three clients, then stop.
#[allow(dead_code)]
pub fn demo() {
    run(Coro::new("main", || {
        let server = start_server("127.0.0.1:0", echo).unwrap();
        println!("echo server listening on a free port");
        let replies = yieldfrom::combinators::gather((1..=3).map(|i| {
            let addr = server.local_addr();
            Coro::new("client", move || {
                let stream = TcpStream::connect(addr).unwrap();
                let message = format!("hello from client {i}");
                stream.write_all(message.as_bytes()).unwrap();
                let mut buf = vec![0u8; message.len()];
                std::io::Read::read_exact(&mut &stream, &mut buf).unwrap();
                String::from_utf8(buf).unwrap()
            })
        }));
        for reply in replies {
            println!("  echoed: {reply}");
        }
        let cancelled = server.wait_closed(Some(Duration::from_secs(1)));
        println!(
            "served {} connection(s), {cancelled} cut short; bye",
            server.accepted()
        );
    }));
}
