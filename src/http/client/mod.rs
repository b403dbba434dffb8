//! `yieldfrom::http::client`: an HTTP/1.1 client on the runtime's own
//! sockets (what aiohttp's `ClientSession` and httpx's `AsyncClient` are to
//! asyncio), with a keep-alive pool, a timeout on every phase of a request,
//! redirects, gzip, and server-sent events.
//!
//! ```no_run
//! use std::time::Duration;
//! use yieldfrom::http::client::Client;
//! use yieldfrom::{Coro, run};
//!
//! let names = run(Coro::new("main", || -> Result<Vec<String>, yieldfrom::http::client::Error> {
//!     let client = Client::new();
//!     let users = client
//!         .get("https://api.example.com/users")?
//!         .query(&[("page", "1")])
//!         .header("Accept", "application/json")?
//!         .timeout(Duration::from_secs(5))
//!         .send()?
//!         .error_for_status()?
//!         .json()?;
//!     Ok(users.as_array().into_iter().flatten().map(|u| u["name"].to_string()).collect())
//! }));
//! # let _ = names;
//! ```
//!
//! **A request, phase by phase.** Each phase waits in the running task
//! (the loop serves other tasks meanwhile) and has its own limit
//! ([`ClientConfig`]), all inside a total one; an error says which phase
//! ran out ([`Phase`]):
//!
//! | phase | what waits | default |
//! |---|---|---|
//! | pool | a free connection, when the caps are reached | 10 s |
//! | resolve | the name, on a worker thread (`getaddrinfo`) | 5 s |
//! | connect | TCP, Happy Eyeballs over the addresses | 10 s |
//! | TLS handshake | the handshake, for `https` | 10 s |
//! | send | the request written (a slow reader) | 30 s |
//! | head | the response's status line and headers | 30 s |
//! | body | each read of the body (idle between bytes) | 30 s |
//! | total | all of it, the body read whole included | 60 s |
//!
//! Server-sent events ([`Response::events`]) have no total: a stream may
//! last hours, and only the idle limit between bytes applies.
//!
//! **The pool.** Connections are kept per (scheme, host, port) after their
//! answer was read whole, for 4 s idle (below the usual server keep-alive
//! of 5 s, so the client lets go first); at most 10 per host and 100 in
//! all, with one FIFO line when both are reached. An idle connection is
//! checked before it is used; a request that fails on a reused one before
//! a byte of its answer came is sent again on a new one, once, if its
//! method is idempotent and its body can be sent again.
//!
//! **aiohttp and httpx, piece by piece.** `aiohttp.ClientSession()` /
//! `httpx.AsyncClient()` is [`Client::new`]; `session.get(url, params=...,
//! headers=..., timeout=...)` is `client.get(url)?.query(..).header(..)?
//! .timeout(..).send()`; `resp.status`, `await resp.read()`, `.text()`,
//! `.json()` are [`Response::status`], [`bytes`](Response::bytes),
//! [`text`](Response::text), [`json`](Response::json); `async for chunk in
//! resp.content.iter_any()` is [`Response::chunk`] in a loop;
//! `raise_for_status()` is [`Response::error_for_status`];
//! `aiohttp.TCPConnector(limit=100, limit_per_host=10)` is
//! [`ClientConfig::max_connections`] and [`ClientConfig::max_per_host`].

mod body;
mod config;
mod error;
mod exchange;
mod pool;
mod request;
mod response;
mod shared;
mod sse;
mod url;
mod wire;

use std::fmt;
use std::rc::Rc;

pub use self::config::{ClientConfig, Timeouts};
pub use self::error::{Error, ErrorKind, Phase};
pub use self::pool::PoolStats;
pub use self::request::RequestBuilder;
pub use self::response::{Events, Response};
use self::shared::Shared;
pub use self::sse::Event;
pub use self::url::{Url, UrlError};
use self::wire::BodyFraming;
use super::chunked::Decoder;
use super::framing::Limits;

/// An HTTP client: a pool of keep-alive connections and the settings its
/// requests share. Clones share the pool; make one per program (or per
/// loop) and clone it, as aiohttp asks of a `ClientSession`.
#[derive(Clone)]
pub struct Client {
    /// The settings, the pool and the TLS configuration its clones share.
    inner: Rc<Shared>,
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

impl Client {
    /// A client with the default [`ClientConfig`].
    pub fn new() -> Client {
        Client::with_config(ClientConfig::default())
    }

    /// A client with `config`.
    pub fn with_config(config: ClientConfig) -> Client {
        Client {
            inner: Rc::new(Shared::new(config)),
        }
    }

    /// A `GET` of `url`.
    pub fn get(&self, url: &str) -> Result<RequestBuilder, Error> {
        self.request("GET", url)
    }

    /// A `POST` to `url`.
    pub fn post(&self, url: &str) -> Result<RequestBuilder, Error> {
        self.request("POST", url)
    }

    /// A `PUT` to `url`.
    pub fn put(&self, url: &str) -> Result<RequestBuilder, Error> {
        self.request("PUT", url)
    }

    /// A `DELETE` of `url`.
    pub fn delete(&self, url: &str) -> Result<RequestBuilder, Error> {
        self.request("DELETE", url)
    }

    /// A `HEAD` of `url`.
    pub fn head(&self, url: &str) -> Result<RequestBuilder, Error> {
        self.request("HEAD", url)
    }

    /// A request with any method (an RFC 9110 token).
    pub fn request(&self, method: &str, url: &str) -> Result<RequestBuilder, Error> {
        let parsed: Url = url.parse().map_err(|e: UrlError| Error {
            kind: ErrorKind::Url(e),
            url: None,
        })?;
        if !wire::is_header_name(method) {
            return Err(Error::new(
                ErrorKind::Request(format!("the method {method:?} is not a token")),
                &parsed,
            ));
        }
        Ok(RequestBuilder::new(self.inner.clone(), method, parsed))
    }

    /// The pool's counts now.
    pub fn pool_stats(&self) -> PoolStats {
        self.inner.pool.stats()
    }
}

thread_local! {
    static DEFAULT: std::cell::OnceCell<Client> = const { std::cell::OnceCell::new() };
}

/// A `GET` of `url` with this thread's default client (made at first use,
/// with the default config; its pool is shared by every call here).
pub fn get(url: &str) -> Result<Response, Error> {
    DEFAULT
        .with(|c| c.get_or_init(Client::new).clone())
        .get(url)?
        .send()
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("pool", &self.pool_stats())
            .finish_non_exhaustive()
    }
}

/// Runs the client's response framing over `data` as a server's bytes: a
/// response head, its body by its framing, the next response, until the
/// bytes end or a rule refuses them; the bytes after a head also go
/// through the event-stream parser. It must never panic, never take more
/// than it was given, and refuse rather than guess. For the fuzz target
/// (`fuzz/fuzz_targets/http_response.rs`) and tests; not part of the API.
#[doc(hidden)]
pub fn check_response_framing(data: &[u8]) {
    let limits = Limits {
        max_head: 8 * 1024,
        max_headers: 32,
        max_target: 0,
        max_body: 64 * 1024,
    };
    let head_request = data.first().is_some_and(|b| b & 1 == 1);
    let mut at = 0;
    while at < data.len() {
        let rest = &data[at..];
        let head = match wire::parse_response_head(rest, &limits, head_request) {
            Ok(Some(head)) => head,
            Ok(None) | Err(_) => return,
        };
        assert!(head.len <= rest.len() && head.len > 0);
        assert!(head.headers.len() <= limits.max_headers);
        let body = &rest[head.len..];
        let mut events = Vec::new();
        let _ = sse::Parser::default().feed(body, &mut events);
        let taken = match head.framing {
            BodyFraming::Empty => 0,
            BodyFraming::Length(n) => match usize::try_from(n) {
                Ok(n) if n <= body.len() => n,
                _ => return, // truncated: an error for the client
            },
            BodyFraming::Chunked => {
                let mut decoder = Decoder::new();
                match decoder.feed(body, &limits) {
                    Ok(n) if decoder.is_done() => {
                        assert!(n <= body.len());
                        n
                    }
                    _ => return,
                }
            }
            BodyFraming::UntilClose => return,
        };
        at += head.len + taken;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fuzz_targets_check_holds_on_answers_good_and_bad() {
        for wire in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 204 No\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\nHTTP/1.1 304 N\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: x\n\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"\xff\x00garbage",
            b"",
        ] {
            super::check_response_framing(wire);
        }
    }

    #[test]
    fn basic_credentials_are_base64() {
        assert_eq!(
            super::request::basic("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(super::request::basic("a", ""), "Basic YTo=");
    }
}
