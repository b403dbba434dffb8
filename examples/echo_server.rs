//! echo_server — one task per connection, one thread for all of them.
//!
//! `cargo run --release --example echo_server -- 127.0.0.1:7878` serves until
//! SIGINT (Ctrl-C) or SIGTERM; then it stops accepting, gives live
//! connections up to 5 s to finish, and exits 0. Try it with
//! `cargo run --release --example echo_client -- 127.0.0.1:7878`.
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
use yieldfrom::net::{Signals, TcpStream, start_server};
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
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7878".into());
    run(Coro::new("main", move || {
        let signals = Signals::new(&[libc::SIGINT, libc::SIGTERM]).expect("signal handlers");
        let server = start_server(addr.as_str(), echo).unwrap_or_else(|e| {
            eprintln!("cannot listen on {addr}: {e}");
            std::process::exit(1);
        });
        println!(
            "echo server listening on {} (Ctrl-C to stop)",
            server.local_addr()
        );
        let sig = signals.recv().expect("reading the signal pipe");
        println!(
            "signal {sig}: no longer accepting; waiting for {} live connection(s)",
            server.connections()
        );
        let cancelled = server.wait_closed(Some(Duration::from_secs(5)));
        if cancelled > 0 {
            println!("{cancelled} connection(s) did not finish in 5 s and were closed");
        }
        println!("served {} connection(s); bye", server.accepted());
    }));
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
