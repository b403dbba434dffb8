//! An HTTP server on one loop: the tutorial's "while waiting, the server
//! handles other users", with `yieldfrom::http`.
//!
//! - `GET /plain` answers `{"message":"hello"}`;
//! - `POST /echo` answers the request's body;
//! - `GET /sleep?ms=N` answers after an awaited `sleep` of N ms, so that
//!   many slow requests can be watched being served at once.
//!
//! Run it with `cargo run --release --example http_hello -- --addr
//! 127.0.0.1:8080`, then `curl http://127.0.0.1:8080/plain`. It stops
//! gracefully on Ctrl-C (SIGINT) or SIGTERM: requests in flight finish.
//!
//! Expected output:
//! ```text
//! listening on http://127.0.0.1:8080
//! ```
//! and, after Ctrl-C, `stopped (0 connections cancelled)`.

use std::time::Duration;

use yieldfrom::http::{self, Response, Router};
use yieldfrom::net::Signals;
use yieldfrom::{Coro, run, sleep};

fn router() -> Router {
    Router::new()
        .get("/plain", |_| {
            Response::json(&serde_json::json!({"message": "hello"}))
        })
        .post("/echo", |req| {
            Response::new(200)
                .with_header("Content-Type", "application/octet-stream")
                .with_body(req.body().to_vec())
        })
        .get("/sleep", |req| {
            let ms: u64 = req
                .query_param("ms")
                .and_then(|ms| ms.parse().ok())
                .unwrap_or(100);
            sleep(Duration::from_millis(ms.min(60_000)));
            Response::json(&serde_json::json!({"slept_ms": ms}))
        })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .iter()
        .position(|a| a == "--addr")
        .and_then(|at| args.get(at + 1))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    run(Coro::new("main", move || {
        let signals = Signals::new(&[libc::SIGINT, libc::SIGTERM]).expect("signal handlers");
        let server = match http::serve(addr.as_str(), router()) {
            Ok(server) => server,
            Err(e) => {
                eprintln!("cannot listen on {addr}: {e}");
                std::process::exit(1);
            }
        };
        println!("listening on http://{}", server.local_addr());
        let _ = signals.recv();
        let cancelled = server.shutdown(Duration::from_secs(5));
        println!("stopped ({cancelled} connections cancelled)");
    }));
}
