//! echo_client — many concurrent connections from one thread.
//!
//! `cargo run --release --example echo_client -- 127.0.0.1:7878 [connections] [messages]`
//! opens the connections concurrently (one task each), sends the messages on
//! each, checks every echo, and reports. Start `echo_server` first.
//!
//! Expected output (for 3 connections of 2 messages; the time varies):
//! ```text
//! 3 connection(s) x 2 message(s): 6 echoes checked in 0.01 s
//! ```

use std::io::{BufRead, BufReader};
use std::time::Instant;
use yieldfrom::net::TcpStream;
use yieldfrom::{Coro, combinators::gather, run};

pub fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7878".into());
    let conns: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let messages: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let started = Instant::now();
    let checked: usize = run(Coro::new("main", move || {
        gather((0..conns).map(|c| {
            let addr = addr.clone();
            Coro::new("client", move || {
                let stream = TcpStream::connect(addr.as_str()).unwrap_or_else(|e| {
                    eprintln!("cannot connect to {addr}: {e}");
                    std::process::exit(1);
                });
                let mut reader = BufReader::new(&stream);
                let mut ok = 0;
                for m in 0..messages {
                    let line = format!("connection {c} message {m}\n");
                    stream.write_all(line.as_bytes()).unwrap();
                    let mut echo = String::new();
                    reader.read_line(&mut echo).unwrap();
                    ok += (echo == line) as usize;
                }
                ok
            })
        }))
        .into_iter()
        .sum()
    }));
    println!(
        "{conns} connection(s) x {messages} message(s): {checked} echoes checked in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    if checked != conns * messages {
        std::process::exit(1);
    }
}
