//! 16 — Calling APIs: the tutorial's first use of async, for real. Fifty
//! HTTPS calls one after another, then the same fifty at once (`gather`,
//! with a `Semaphore` of 10), each with its own time limit; one call is too
//! slow and is reported while the other 49 keep their answers. Then a
//! streamed answer, read token by token as an LLM API sends it
//! (server-sent events).
//!
//! Python (httpx):
//! ```python
//! async with httpx.AsyncClient(verify="ca.pem") as client:
//!     for i in range(50):                                  # one after another
//!         await client.get(f"{base}/quote/{i}", timeout=0.5)
//!     sem = asyncio.Semaphore(10)
//!     async def one(i):
//!         async with sem:
//!             return await client.get(f"{base}/quote/{i}", timeout=0.5)
//!     results = await asyncio.gather(*(one(i) for i in range(50)),
//!                                    return_exceptions=True)
//!     async with client.stream("POST", f"{llm}/v1/chat", json=prompt) as r:
//!         async for line in r.aiter_lines(): ...           # tokens as they come
//! ```
//!
//! What to notice: the API is served by this same program over HTTPS, with
//! a certificate from a CA it made a moment ago, which the client trusts
//! (and nothing else). A call is a series of waits: the connect, the TLS
//! handshake, then the answer; the timeline records them and the first
//! lines below show them. The fifty calls share the client's keep-alive
//! connections. At once, they finish in a fraction of the time (the times
//! are real, and vary from run to run; one after another, the fifty 20 ms
//! lookups and the slow call's 0.5 s add up). Quote 13 takes 2 s to answer
//! and every call allows 0.5 s: that call fails, says which phase ran out,
//! and the others are unaffected. Each token of the streamed answer is
//! printed while the server is still writing the next.
//!
//! Expected output:
//! ```text
//! serving a quotes API and an LLM API over HTTPS on 127.0.0.1 (a throwaway CA)
//! one call, its waits: connect → TLS handshake → the answer
//! 50 calls one after another: 49 answered, at most 1 in flight
//!   quote 13 failed: timed out waiting for the response head (the request's total limit ran out)
//! 50 calls at once (gather, Semaphore(10)): 49 answered, at most 10 in flight
//!   quote 13 failed: timed out waiting for the response head (the request's total limit ran out)
//! time, one after another: 1.55 s; at once: 0.59 s
//! a streamed answer, token by token:
//!   "Async" (the server had sent 1 of 6 tokens)
//!   " is" (the server had sent 2 of 6 tokens)
//!   " waiting" (the server had sent 3 of 6 tokens)
//!   " without" (the server had sent 4 of 6 tokens)
//!   " blocking" (the server had sent 5 of 6 tokens)
//!   "." (the server had sent 6 of 6 tokens)
//! the answer: "Async is waiting without blocking."
//! ```

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use yieldfrom::http::client::{Client, ClientConfig, Error, Phase};
use yieldfrom::http::{self, Response, Router};
use yieldfrom::net::TcpListener;
use yieldfrom::suspend::{IoPurpose, Suspend};
use yieldfrom::sync::Semaphore;
use yieldfrom::tls::{self, TlsStream};
use yieldfrom::trace::{EventKind, Recorder, StepEnd};
use yieldfrom::{Coro, EventLoop, combinators::gather, sleep, spawn};

const CALLS: u32 = 50;
const SLOW_QUOTE: u32 = 13;
const LIMIT: Duration = Duration::from_millis(500);
const TOKENS: [&str; 6] = ["Async", " is", " waiting", " without", " blocking", "."];

/// A CA made now, and a certificate for 127.0.0.1 it signs: (the server's
/// configuration, the client's, which trusts that CA only).
fn certificates() -> (Arc<tls::ServerConfig>, Arc<tls::ClientConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let server = tls::server_config(
        vec![cert.der().clone()],
        tls::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        &[b"http/1.1"],
    )
    .unwrap();
    let mut roots = tls::RootCertStore::empty();
    roots.add(ca_cert.der().clone()).unwrap();
    (server, tls::client_config_with_roots(roots))
}

/// The quotes API: each quote takes 20 ms to look up; one takes 2 s.
fn quotes() -> Router {
    Router::new().get("/quote/{n}", |req| {
        let n: u32 = req.param("n").and_then(|n| n.parse().ok()).unwrap_or(0);
        sleep(Duration::from_millis(if n == SLOW_QUOTE {
            2000
        } else {
            20
        }));
        Response::json(&serde_json::json!({"quote": n, "price": 100 + n}))
    })
}

/// An LLM API's streaming endpoint, as the wire shows it: one connection,
/// a `text/event-stream` answer, a token every 30 ms. `sent` counts the
/// tokens written so far.
fn llm_api(
    listener: TcpListener,
    config: Arc<tls::ServerConfig>,
    sent: Rc<Cell<usize>>,
) -> Coro<()> {
    Coro::new("llm api", move || {
        let (tcp, _) = listener.accept().unwrap();
        // Each token leaves at once: without TCP_NODELAY, Nagle's rule
        // holds a small write back until the last one is acknowledged.
        tcp.set_nodelay(true).unwrap();
        let stream = TlsStream::accept(tcp, config).unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            request.extend_from_slice(&buf[..n]);
        }
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap();
        for token in TOKENS {
            let event = format!("data: {}\n\n", serde_json::json!({ "token": token }));
            stream
                .write_all(format!("{:x}\r\n{event}\r\n", event.len()).as_bytes())
                .unwrap();
            sent.set(sent.get() + 1);
            sleep(Duration::from_millis(30));
        }
        stream.write_all(b"0\r\n\r\n").unwrap();
        let _ = stream.shutdown();
    })
}

/// One call: the quote, or the error.
fn call(client: &Client, base: &str, n: u32) -> Result<serde_json::Value, Error> {
    client
        .get(&format!("{base}/quote/{n}"))?
        .timeout(LIMIT)
        .send()?
        .json()
}

/// The failure, in words that do not change from run to run.
fn failure(n: u32, e: &Error) -> String {
    let what = match (e.is_timeout(), e.phase()) {
        (true, Some(Phase::Head)) => "timed out waiting for the response head".to_string(),
        _ => e.to_string(),
    };
    let total = if e.to_string().contains("total limit") {
        " (the request's total limit ran out)"
    } else {
        ""
    };
    format!("  quote {n} failed: {what}{total}")
}

/// The waits of the task named `name`, in order, each phase once.
fn waits_of(rec: &Recorder, name: &str) -> Vec<&'static str> {
    let mut phases: Vec<&'static str> = Vec::new();
    for event in rec.events() {
        if event.task.is_none_or(|t| t.name != name) {
            continue;
        }
        let phase = match event.kind {
            EventKind::End(StepEnd::Suspended(Suspend::Io { purpose, .. })) => match purpose {
                IoPurpose::Connect => "connect",
                IoPurpose::TlsHandshake => "TLS handshake",
                IoPurpose::Data => "the answer",
            },
            EventKind::End(StepEnd::Suspended(Suspend::Thread)) => "resolve",
            _ => continue,
        };
        if phases.last() != Some(&phase) {
            phases.push(phase);
        }
    }
    phases
}

pub fn main() {
    let (server_tls, client_tls) = certificates();
    let rec = Recorder::new();
    let lp = EventLoop::builder().instrument(rec.clone()).build();
    let rec_main = rec.clone();
    lp.run(Coro::new("main", move || {
        let config = http::Config::default().tls(server_tls.clone());
        let server = http::serve_with("127.0.0.1:0", quotes(), config).unwrap();
        let base = format!("https://127.0.0.1:{}", server.local_addr().port());
        let llm = TcpListener::bind("127.0.0.1:0").unwrap();
        let llm_url = format!("https://127.0.0.1:{}/v1/chat", llm.local_addr().unwrap().port());
        let sent = Rc::new(Cell::new(0));
        let llm_task = spawn(llm_api(llm, server_tls, sent.clone()));
        println!("serving a quotes API and an LLM API over HTTPS on 127.0.0.1 (a throwaway CA)");

        let client = Client::with_config(ClientConfig::default().tls(client_tls));
        // One call in a task of its own, so that its waits can be picked out.
        let (c, b) = (client.clone(), base.clone());
        spawn(Coro::new("first call", move || call(&c, &b, 0).map(drop)))
            .join()
            .unwrap();
        println!("one call, its waits: {}", waits_of(&rec_main, "first call").join(" → "));

        // Fifty, one after another.
        let began = Instant::now();
        let mut failures = Vec::new();
        let mut answered = 0;
        for n in 0..CALLS {
            match call(&client, &base, n) {
                Ok(_) => answered += 1,
                Err(e) => failures.push(failure(n, &e)),
            }
        }
        let sequential = began.elapsed();
        println!("{CALLS} calls one after another: {answered} answered, at most 1 in flight");
        for f in failures {
            println!("{f}");
        }

        // Fifty at once, at most ten in flight.
        let began = Instant::now();
        let limit = Rc::new(Semaphore::new(10));
        let (in_flight, most) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let calls = (0..CALLS).map(|n| {
            let (client, base, limit) = (client.clone(), base.clone(), limit.clone());
            let (in_flight, most) = (in_flight.clone(), most.clone());
            Coro::new("call", move || {
                let _permit = limit.acquire();
                in_flight.set(in_flight.get() + 1);
                most.set(most.get().max(in_flight.get()));
                let result = call(&client, &base, n);
                in_flight.set(in_flight.get() - 1);
                (n, result)
            })
        });
        let results = gather(calls);
        let concurrent = began.elapsed();
        let answered = results.iter().filter(|(_, r)| r.is_ok()).count();
        println!(
            "{CALLS} calls at once (gather, Semaphore(10)): {answered} answered, at most {} in flight",
            most.get()
        );
        for (n, result) in &results {
            if let Err(e) = result {
                println!("{}", failure(*n, e));
            }
        }
        println!(
            "time, one after another: {:.2} s; at once: {:.2} s",
            sequential.as_secs_f64(),
            concurrent.as_secs_f64()
        );

        // A streamed answer.
        println!("a streamed answer, token by token:");
        let events = client
            .post(&llm_url)
            .unwrap()
            .json(&serde_json::json!({"prompt": "What is async?"}))
            .send()
            .unwrap()
            .events();
        let mut answer = String::new();
        for event in events {
            let event = event.unwrap();
            let data: serde_json::Value = serde_json::from_str(&event.data).unwrap();
            let token = data["token"].as_str().unwrap_or("");
            println!(
                "  {:?} (the server had sent {} of {} tokens)",
                token,
                sent.get(),
                TOKENS.len()
            );
            answer.push_str(token);
        }
        println!("the answer: {answer:?}");
        llm_task.join();
        // The slow quote's handler is still asleep: no grace.
        server.shutdown(Duration::ZERO);
    }));
}
