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
//! With `--tls-cert FILE --tls-key FILE` (PEM) it serves HTTPS instead
//! (`curl --cacert ca.pem https://localhost:8080/plain`), and says
//! `listening on https://...`.
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
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|at| args.get(at + 1))
            .cloned()
    };
    let addr = flag("--addr").unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let (config, scheme) = match (flag("--tls-cert"), flag("--tls-key")) {
        (None, None) => (http::Config::default(), "http"),
        (Some(cert), Some(key)) => match http::Config::default().tls_pem(&cert, &key) {
            Ok(config) => (config, "https"),
            Err(e) => {
                eprintln!("cannot use {cert} and {key}: {e}");
                std::process::exit(2);
            }
        },
        _ => {
            eprintln!("--tls-cert and --tls-key go together");
            std::process::exit(2);
        }
    };
    run(Coro::new("main", move || {
        let signals = Signals::new(&[libc::SIGINT, libc::SIGTERM]).expect("signal handlers");
        let server = match http::serve_with(addr.as_str(), router(), config) {
            Ok(server) => server,
            Err(e) => {
                eprintln!("cannot listen on {addr}: {e}");
                std::process::exit(1);
            }
        };
        println!("listening on {scheme}://{}", server.local_addr());
        let _ = signals.recv();
        let cancelled = server.shutdown(Duration::from_secs(5));
        println!("stopped ({cancelled} connections cancelled)");
    }));
}
