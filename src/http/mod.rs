//! `yieldfrom::http`: an HTTP/1.1 server on the runtime's own TCP (what
//! uvicorn is to FastAPI, with FastAPI's router beside it).
//!
//! One task per connection; a handler is a plain function of the
//! [`Request`] that returns a [`Response`], and may await anything inside
//! (`sleep`, a task, a query) without being marked `async`: the connection's
//! task has a stack of its own, so while one handler waits the loop serves
//! the other connections.
//!
//! ```
//! use yieldfrom::http::{self, Response, Router};
//! use yieldfrom::{Coro, run};
//! use std::io::{Read, Write};
//!
//! let reply = run(Coro::new("main", || {
//!     let router = Router::new().get("/plain", |_| {
//!         Response::json(&serde_json::json!({"message": "hello"}))
//!     });
//!     let server = http::serve("127.0.0.1:0", router).unwrap();
//!     let addr = server.local_addr();
//!     let client = yieldfrom::to_thread(move || {
//!         let mut conn = std::net::TcpStream::connect(addr).unwrap();
//!         conn.write_all(b"GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
//!         let mut reply = String::new();
//!         conn.read_to_string(&mut reply).unwrap();
//!         reply
//!     });
//!     server.shutdown(std::time::Duration::from_secs(1));
//!     client
//! }));
//! assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(reply.ends_with("\r\n\r\n{\"message\":\"hello\"}"));
//! ```
//!
//! **FastAPI and uvicorn, piece by piece.** `@app.get("/users/{id}")` is
//! [`Router::get`]; Starlette's `Request` and `JSONResponse` are [`Request`]
//! and [`Response::json`]; uvicorn's worker is [`serve`], one loop; its
//! `--limit-concurrency`, `--timeout-keep-alive` and h11's size limits are
//! [`Config`].
//!
//! **Framing** follows RFC 9112; the rules, and the status each violation
//! gets, are listed in `src/http/framing.rs`. Any request refused for its
//! framing is answered and the connection closed, so that nothing after it
//! is read as another request. Requests that arrive together (pipelining)
//! are answered in order, their responses written with one `write`.
//!
//! **Limits and timeouts** (defaults; [`Config`] changes them): a head of
//! 16 KiB and 100 fields (431), a target of 8 KiB (414), a body of 1 MiB
//! (413); a head must arrive within 5 s of its first byte (408), an idle
//! keep-alive connection closes after 5 s, a body or a write that makes no
//! progress for 5 s closes the connection; past 16,384 connections new ones
//! get 503, and past 16,384 requests in flight (handlers running, waiting
//! included) new requests get 503 with `Retry-After: 1`. A handler that
//! panics gets its request a 500; the connection and the server go on. At
//! shutdown, idle connections close at once and the others after their
//! request in flight.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::Duration;

mod body;
mod chunked;
pub mod client;
mod config;
mod conn;
mod date;
mod framing;
mod request;
mod response;
mod router;
mod transport;

pub use self::body::BodyError;
pub use self::config::Config;
use self::config::{Count, Shared};
pub use self::request::{JsonError, Request};
pub use self::response::Response;
pub use self::router::Router;
use crate::coro::Coro;
use crate::net::{Server, TcpListener, start_server_on};

/// A running HTTP server (uvicorn's `Server`).
pub struct HttpServer {
    /// The TCP server accepting the connections.
    server: Server,
    /// What the connections share (router, settings, counts).
    shared: Rc<Shared>,
}

/// Serves `router` on `addr` with the default [`Config`], in tasks of the
/// running loop; returns at once.
pub fn serve(addr: impl ToSocketAddrs, router: Router) -> io::Result<HttpServer> {
    serve_with(addr, router, Config::default())
}

/// Serves `router` on `addr` with `config`.
pub fn serve_with(
    addr: impl ToSocketAddrs,
    router: Router,
    config: Config,
) -> io::Result<HttpServer> {
    let listener = if config.reuse_port {
        TcpListener::bind_reuseport(addr)?
    } else {
        TcpListener::bind(addr)?
    };
    let shared = Rc::new(Shared::new(router, config));
    let sh = shared.clone();
    let server = start_server_on(listener, move |stream| {
        let sh = sh.clone();
        Coro::new("http connection", move || {
            let Some(stream) = transport(stream, &sh.config) else {
                return;
            };
            if sh.active.get() >= sh.config.max_connections {
                let mut out = Vec::new();
                Response::text("503 Service Unavailable: too many connections\n")
                    .with_status(503)
                    .write_to(&mut out, &date::now(), true, false, false);
                let _ = crate::timeout(Duration::from_secs(1), || stream.write_all(&out));
                conn::linger(&stream);
                return;
            }
            let _active = Count::new(&sh.active);
            conn::serve(stream, &sh);
        })
    })?;
    Ok(HttpServer { server, shared })
}

/// The connection's transport: the TCP stream as it is, or, for HTTPS,
/// after a TLS handshake within the handshake timeout.
fn transport(stream: crate::net::TcpStream, config: &Config) -> Option<transport::Transport> {
    #[cfg(feature = "tls")]
    if let Some(tls) = &config.tls {
        return tls_transport(stream, tls.clone(), config.handshake_timeout);
    }
    let _ = config;
    Some(transport::Transport::Plain(stream))
}

/// The TLS handshake of an HTTPS connection. A handshake that fails
/// (garbage instead of a ClientHello, a certificate the client refused, a
/// stall) closes the connection quietly: any client can cause one, so
/// reporting each would be a log storm.
///
/// Never inlined: its frame holds rustls's state (over a kilobyte) by value
/// while the handshake runs; inlined into the connection's task, that room
/// would stay in the task's frame for the connection's whole life, and
/// every connection, plain ones too, would touch two more pages of stack.
#[cfg(feature = "tls")]
#[inline(never)]
fn tls_transport(
    stream: crate::net::TcpStream,
    tls: std::sync::Arc<crate::tls::ServerConfig>,
    limit: Duration,
) -> Option<transport::Transport> {
    let until = crate::event_loop::timer::deadline(crate::time::now(), limit);
    crate::tls::TlsStream::accept_boxed(stream, tls, Some(until))
        .ok()
        .map(transport::Transport::Tls)
}

impl HttpServer {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Connections being served now.
    pub fn connections(&self) -> usize {
        self.shared.active.get()
    }

    /// Stops accepting, closes idle keep-alive connections at once, lets
    /// requests in flight finish (each answered with `Connection: close`),
    /// and after `grace` cancels the connections still open; returns how
    /// many were cancelled (uvicorn's graceful shutdown).
    pub fn shutdown(&self, grace: Duration) -> usize {
        self.shared.stopping.set(true);
        let idle = self.shared.idle.borrow_mut().take_all();
        for waker in idle {
            waker.wake();
        }
        self.server.wait_closed(Some(grace))
    }

    /// Requests whose handlers are running now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.get()
    }
}

/// For the fuzz target (`fuzz/fuzz_targets/http_framing.rs`): frames every
/// request in `data` as a connection would, checking the framing's own
/// invariants (a refusal is a 4xx or 5xx; a request never takes more bytes
/// than there are; a cut before the end of a request is "not complete
/// yet", never another answer). Panics if one breaks.
#[doc(hidden)]
pub fn check_framing(data: &[u8]) {
    let limits = Config::default().max_body_bytes(64 * 1024).limits;
    let mut at = 0;
    while at < data.len() {
        let rest = &data[at..];
        let head = match framing::parse_head(rest, &limits) {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(r) => {
                assert!((400..600).contains(&r.status), "refused with {}", r.status);
                return;
            }
        };
        assert!(head.len <= rest.len());
        let body = &rest[head.len..];
        let framing = head.framing;
        // What a handler sees: the target, and every field, name non-empty.
        let req = Request::parsed(head.method, head.fields, head.minor, Vec::new());
        assert!(req.target().len() <= limits.max_target);
        assert!(req.headers().count() <= limits.max_headers);
        assert!(req.headers().all(|(name, _)| !name.is_empty()));
        let used = match framing {
            framing::Framing::None => 0,
            framing::Framing::Length(n) if n <= body.len() => n,
            framing::Framing::Length(_) => return,
            framing::Framing::Chunked => match chunked::decode(body, &limits) {
                Ok(Some((decoded, used))) => {
                    assert!(used <= body.len() && decoded.len() <= used);
                    // Every cut before the end is "not complete yet".
                    for cut in [0, used / 2, used.saturating_sub(1)] {
                        if cut < used {
                            assert_eq!(
                                chunked::decode(&body[..cut], &limits).map(|r| r.is_none()),
                                Ok(true),
                                "a cut at {cut} of {used} gave an answer"
                            );
                        }
                    }
                    // Fed in reads cut anywhere (sizes taken from the
                    // bytes themselves): the same body, the same end.
                    let sizes: Vec<usize> =
                        data.iter().take(8).map(|&b| 1 + b as usize % 13).collect();
                    let (in_reads, handed) = body::chunked_in_reads(&body[..used], &sizes, &limits);
                    assert_eq!(
                        in_reads,
                        Ok(Some((decoded, used))),
                        "fed in reads of {sizes:?}"
                    );
                    assert!(handed <= 2 * used + 64, "{handed} bytes handed for {used}");
                    used
                }
                Ok(None) => return,
                Err(r) => {
                    assert!((400..600).contains(&r.status));
                    return;
                }
            },
        };
        at += head.len + used;
    }
}

opaque_debug!(HttpServer);
