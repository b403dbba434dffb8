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

mod config;
mod error;
mod pool;
mod sse;
mod url;
mod wire;

use std::fmt;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use self::config::{ClientConfig, Timeouts};
pub use self::error::{Error, ErrorKind, Phase};
pub use self::pool::PoolStats;
use self::pool::{Acquired, Conn, Key, Pool};
pub use self::sse::Event;
pub use self::url::{Url, UrlError};
use self::wire::{BodyFraming, ResponseHead};
use super::chunked::Decoder;
use super::framing::Limits;
use super::transport::Transport;
use crate::net::TcpStream;
use crate::time::now;

/// An HTTP client: a pool of keep-alive connections and the settings its
/// requests share. Clones share the pool; make one per program (or per
/// loop) and clone it, as aiohttp asks of a `ClientSession`.
#[derive(Clone)]
pub struct Client {
    inner: Rc<Inner>,
}

struct Inner {
    config: ClientConfig,
    pool: Pool,
    #[cfg(feature = "tls")]
    tls: std::cell::OnceCell<Arc<crate::tls::ClientConfig>>,
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
        let pool = Pool::new(pool::Limits {
            per_host: config.per_host,
            total: config.total,
            idle_timeout: config.idle_timeout,
        });
        Client {
            inner: Rc::new(Inner {
                config,
                pool,
                #[cfg(feature = "tls")]
                tls: std::cell::OnceCell::new(),
            }),
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
        Ok(RequestBuilder {
            client: self.clone(),
            method: method.to_string(),
            url: parsed,
            headers: Vec::new(),
            body: Body::Empty,
            timeout: None,
        })
    }

    /// The pool's counts now.
    pub fn pool_stats(&self) -> PoolStats {
        self.inner.pool.stats()
    }

    #[cfg(feature = "tls")]
    fn tls_config(&self) -> Arc<crate::tls::ClientConfig> {
        self.inner
            .tls
            .get_or_init(|| {
                let mut config = match &self.inner.config.tls {
                    Some(c) => (**c).clone(),
                    None => (*crate::tls::client_config()).clone(),
                };
                if config.alpn_protocols.is_empty() {
                    config.alpn_protocols = vec![b"http/1.1".to_vec()];
                }
                Arc::new(config)
            })
            .clone()
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

/// A request body.
enum Body {
    Empty,
    /// Bytes (sent again on a retry or a redirect that keeps the method).
    Bytes(Vec<u8>),
    /// Pieces from an iterator, sent chunked, once.
    Stream(Box<dyn Iterator<Item = Vec<u8>>>),
}

/// A request being built: [`send`](Self::send) sends it.
pub struct RequestBuilder {
    client: Client,
    method: String,
    url: Url,
    headers: Vec<(String, String)>,
    body: Body,
    timeout: Option<Duration>,
}

impl RequestBuilder {
    /// Adds a header (refused: a name that is not a token, a value with
    /// CR, LF or NUL, which could end the header and start another).
    pub fn header(mut self, name: &str, value: &str) -> Result<RequestBuilder, Error> {
        if !wire::is_header_name(name) || !wire::is_header_value(value) {
            return Err(Error::new(
                ErrorKind::Request(format!("the header {name:?} cannot be sent as it is")),
                &self.url,
            ));
        }
        self.headers.push((name.to_string(), value.to_string()));
        Ok(self)
    }

    /// Adds `name=value` pairs to the URL's query, percent-encoded.
    pub fn query(mut self, pairs: &[(&str, &str)]) -> RequestBuilder {
        self.url.append_query(pairs);
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer_auth(self, token: &str) -> Result<RequestBuilder, Error> {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    /// The body, as bytes.
    pub fn body(mut self, bytes: impl Into<Vec<u8>>) -> RequestBuilder {
        self.body = Body::Bytes(bytes.into());
        self
    }

    /// The body as JSON, with `Content-Type: application/json`.
    pub fn json(mut self, value: &serde_json::Value) -> RequestBuilder {
        self.body = Body::Bytes(value.to_string().into_bytes());
        self.headers
            .push(("Content-Type".into(), "application/json".into()));
        self
    }

    /// A body sent as it is produced, chunked (`pieces` runs in this task,
    /// between writes). It is sent once: no retry, and a redirect that
    /// keeps the method is returned as it is.
    pub fn body_stream(
        mut self,
        pieces: impl Iterator<Item = Vec<u8>> + 'static,
    ) -> RequestBuilder {
        self.body = Body::Stream(Box::new(pieces));
        self
    }

    /// The total limit for this request (in place of the client's).
    pub fn timeout(mut self, limit: Duration) -> RequestBuilder {
        self.timeout = Some(limit);
        self
    }

    /// Sends the request and waits for the response's head (the body is
    /// read after, by the [`Response`]); follows redirects.
    pub fn send(self) -> Result<Response, Error> {
        let RequestBuilder {
            client,
            mut method,
            mut url,
            mut headers,
            mut body,
            timeout,
        } = self;
        let config = &client.inner.config;
        let total = timeout.unwrap_or(config.timeouts.total);
        let until = crate::event_loop::timer::deadline(now(), total);
        let decompress = config.decompress
            && !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("accept-encoding"));
        let mut redirects = 0;
        loop {
            let response =
                client.exchange(&method, &url, &headers, &mut body, until, decompress)?;
            let status = response.status;
            let location = response.header("location").map(str::to_string);
            let follow = matches!(status, 301 | 302 | 303 | 307 | 308) && config.max_redirects > 0;
            let Some(location) = location.filter(|_| follow) else {
                return Ok(response);
            };
            if redirects == config.max_redirects {
                return Err(Error::new(
                    ErrorKind::TooManyRedirects(config.max_redirects),
                    &url,
                ));
            }
            let next = url
                .join(&location)
                .map_err(|e| Error::new(ErrorKind::Url(e), &url))?;
            // 303, and 301/302 after a POST, become a GET without a body
            // (what browsers, httpx and aiohttp do); 307/308 keep both.
            let keeps_method = matches!(status, 307 | 308);
            if !keeps_method && (status == 303 || method == "POST") && method != "HEAD" {
                method = "GET".into();
                body = Body::Empty;
                headers.retain(|(n, _)| {
                    !n.eq_ignore_ascii_case("content-type")
                        && !n.eq_ignore_ascii_case("content-length")
                });
            } else if matches!(body, Body::Stream(_)) {
                return Ok(response); // the body cannot be sent again
            }
            if !url.same_origin(&next) {
                headers.retain(|(n, _)| {
                    !n.eq_ignore_ascii_case("authorization")
                        && !n.eq_ignore_ascii_case("cookie")
                        && !n.eq_ignore_ascii_case("proxy-authorization")
                });
            }
            // A small body is read so that its connection can go back to
            // the pool; a large one (or a slow one) closes it.
            response.discard();
            url = next;
            redirects += 1;
        }
    }
}

impl Client {
    /// One request and its response's head, on a pooled or new connection;
    /// sent again, once, on a new connection when a reused one failed
    /// before any byte of the answer and the request may be repeated.
    fn exchange(
        &self,
        method: &str,
        url: &Url,
        headers: &[(String, String)],
        body: &mut Body,
        until: Instant,
        decompress: bool,
    ) -> Result<Response, Error> {
        let key = Key {
            tls: url.is_tls(),
            host: url.host().to_string(),
            port: url.port(),
        };
        let idempotent = matches!(
            method,
            "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS" | "TRACE"
        );
        let mut fresh = false;
        loop {
            let mut conn = self.connection(&key, url, fresh, until)?;
            let reused = conn.reused;
            match self.round_trip(&mut conn, method, url, headers, body, until, decompress) {
                Ok(head) => return Ok(self.response(head, conn, url, method, until, decompress)),
                Err((e, replayable))
                    if reused && replayable && idempotent && !matches!(body, Body::Stream(_)) =>
                {
                    // A stale keep-alive connection: the server closed it
                    // as we reused it. Never twice.
                    drop(conn);
                    drop(e);
                    fresh = true;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// A connection to `key`: an idle one, or a new one opened within the
    /// phases' limits.
    fn connection(&self, key: &Key, url: &Url, fresh: bool, until: Instant) -> Result<Conn, Error> {
        let t = &self.inner.config.timeouts;
        let phase_until = |phase: Duration| {
            let mine = crate::event_loop::timer::deadline(now(), phase);
            (mine.min(until), until <= mine)
        };
        let (pool_until, total) = phase_until(t.pool);
        let slot = match self.inner.pool.acquire(key, fresh, pool_until) {
            Ok(Acquired::Idle(conn)) => return Ok(conn),
            Ok(Acquired::New(slot)) => slot,
            Err(()) => {
                return Err(Error::new(
                    ErrorKind::Timeout {
                        phase: Phase::Pool,
                        total,
                    },
                    url,
                ));
            }
        };
        let timed_out = |phase, total| Error::new(ErrorKind::Timeout { phase, total }, url);
        // Resolve, on a worker thread (an address resolves at once).
        let (resolve_until, total) = phase_until(t.resolve);
        let addrs = crate::time::timeout_at(resolve_until, || {
            crate::net::lookup_host((key.host.as_str(), key.port))
        })
        .map_err(|_| timed_out(Phase::Resolve, total))?
        .map_err(|e| Error::io(Phase::Resolve, e, url))?;
        let (connect_until, total) = phase_until(t.connect);
        let tcp = crate::time::timeout_at(connect_until, || TcpStream::connect(addrs))
            .map_err(|_| timed_out(Phase::Connect, total))?
            .map_err(|e| Error::io(Phase::Connect, e, url))?;
        let _ = tcp.set_nodelay(true);
        let io = if key.tls {
            self.handshake(tcp, key, url, phase_until(t.handshake))?
        } else {
            Transport::Plain(tcp)
        };
        Ok(Conn::new(io, slot))
    }

    /// The TLS handshake of a new `https` connection, within `limit`
    /// (its deadline, and whether that is the total's).
    #[cfg(feature = "tls")]
    fn handshake(
        &self,
        tcp: TcpStream,
        key: &Key,
        url: &Url,
        limit: (Instant, bool),
    ) -> Result<Transport, Error> {
        let (tls_until, total) = limit;
        let timed_out = |phase, total| Error::new(ErrorKind::Timeout { phase, total }, url);
        let tls = crate::tls::TlsStream::connect_boxed(
            tcp,
            &key.host,
            self.tls_config(),
            Some(tls_until),
        );
        Ok(match tls {
            Ok(stream) => Transport::Tls(stream),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(timed_out(Phase::TlsHandshake, total));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput
                ) =>
            {
                let why = e.to_string();
                let why = why.strip_prefix("TLS: ").unwrap_or(&why).to_string();
                return Err(Error::new(ErrorKind::Tls(why), url));
            }
            Err(e) => return Err(Error::io(Phase::TlsHandshake, e, url)),
        })
    }

    #[cfg(not(feature = "tls"))]
    fn handshake(
        &self,
        _: TcpStream,
        _: &Key,
        url: &Url,
        _: (Instant, bool),
    ) -> Result<Transport, Error> {
        Err(Error::new(
            ErrorKind::Tls("https needs the `tls` feature, which this build left out".into()),
            url,
        ))
    }

    /// Writes the request and reads the response head. An error comes
    /// with whether the request may be sent again (nothing of the answer
    /// arrived).
    #[allow(clippy::too_many_arguments)]
    fn round_trip(
        &self,
        conn: &mut Conn,
        method: &str,
        url: &Url,
        headers: &[(String, String)],
        body: &mut Body,
        until: Instant,
        decompress: bool,
    ) -> Result<ResponseHead, (Error, bool)> {
        let config = &self.inner.config;
        let t = &config.timeouts;
        let mut all: Vec<(String, String)> = Vec::with_capacity(headers.len() + 3);
        let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        if !has("user-agent") {
            all.push(("User-Agent".into(), config.user_agent.clone()));
        }
        if !has("accept") {
            all.push(("Accept".into(), "*/*".into()));
        }
        if decompress {
            all.push(("Accept-Encoding".into(), "gzip, deflate".into()));
        }
        if let Some((user, password)) = url.userinfo()
            && !has("authorization")
        {
            all.push(("Authorization".into(), basic(user, password)));
        }
        all.extend(headers.iter().cloned());
        let (length, has_body) = match body {
            Body::Empty if matches!(method, "POST" | "PUT" | "PATCH") => (Some(0), false),
            Body::Empty => (None, false),
            Body::Bytes(b) => (Some(b.len() as u64), true),
            Body::Stream(_) => (None, true),
        };
        let mut out = Vec::with_capacity(256);
        wire::write_request_head(
            &mut out,
            method,
            url.target(),
            &url.authority(),
            &all,
            length,
            has_body,
        );
        let send_until = crate::event_loop::timer::deadline(now(), t.send).min(until);
        let total = until <= crate::event_loop::timer::deadline(now(), t.send);
        let sent = match body {
            Body::Bytes(b) => {
                out.extend_from_slice(b);
                send(conn, &out, send_until)
            }
            Body::Stream(pieces) => send(conn, &out, send_until).and_then(|()| {
                for piece in pieces.by_ref() {
                    if piece.is_empty() {
                        continue;
                    }
                    let mut chunk = format!("{:x}\r\n", piece.len()).into_bytes();
                    chunk.extend_from_slice(&piece);
                    chunk.extend_from_slice(b"\r\n");
                    send(conn, &chunk, send_until)?;
                }
                send(conn, b"0\r\n\r\n", send_until)
            }),
            Body::Empty => send(conn, &out, send_until),
        };
        if let Err(e) = sent {
            let error = if e.kind() == io::ErrorKind::TimedOut {
                Error::new(
                    ErrorKind::Timeout {
                        phase: Phase::Send,
                        total,
                    },
                    url,
                )
            } else {
                Error::io(Phase::Send, e, url)
            };
            return Err((error, true));
        }
        // The head, skipping interim answers (100 Continue, 103 Early Hints).
        let head_until = crate::event_loop::timer::deadline(now(), t.head).min(until);
        let total = until <= crate::event_loop::timer::deadline(now(), t.head);
        let limits = self.limits(usize::MAX);
        let mut any = false;
        loop {
            match wire::parse_response_head(conn.buf.bytes(), &limits, method == "HEAD") {
                Ok(Some(head)) if head.status == 101 => {
                    return Err((
                        Error::new(
                            ErrorKind::Protocol(
                                "101 Switching Protocols, which was not asked for".into(),
                            ),
                            url,
                        ),
                        false,
                    ));
                }
                Ok(Some(head)) if (100..200).contains(&head.status) => {
                    conn.buf.consume(head.len);
                    any = true;
                }
                Ok(Some(head)) => {
                    conn.buf.consume(head.len);
                    return Ok(head);
                }
                Ok(None) => {}
                Err(why) => return Err((Error::new(ErrorKind::Protocol(why.into()), url), false)),
            }
            match conn.fill(head_until) {
                Ok(None) => {
                    return Err((
                        Error::new(
                            ErrorKind::Timeout {
                                phase: Phase::Head,
                                total,
                            },
                            url,
                        ),
                        false,
                    ));
                }
                Ok(Some(0)) => {
                    let nothing = !any && conn.buf.is_empty();
                    let e = io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection before it answered",
                    );
                    return Err((Error::io(Phase::Head, e, url), nothing));
                }
                Ok(Some(_)) => {}
                Err(e) => {
                    let nothing = !any && conn.buf.is_empty();
                    return Err((Error::io(Phase::Head, e, url), nothing));
                }
            }
        }
    }

    fn limits(&self, max_body: usize) -> Limits {
        let c = &self.inner.config;
        Limits {
            max_head: c.max_head,
            max_headers: c.max_headers,
            max_target: 0,
            max_body,
        }
    }

    fn response(
        &self,
        head: ResponseHead,
        conn: Conn,
        url: &Url,
        method: &str,
        until: Instant,
        decompress: bool,
    ) -> Response {
        let coding = decompress
            .then(|| {
                head.headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-encoding"))
                    .map(|(_, v)| v.trim().to_ascii_lowercase())
            })
            .flatten();
        let inflate = match coding.as_deref() {
            Some("gzip" | "x-gzip") => Some(Inflate::new(true)),
            Some("deflate") => Some(Inflate::new(false)),
            _ => None,
        };
        let state = match head.framing {
            BodyFraming::Empty => BodyState::Done,
            BodyFraming::Length(0) => BodyState::Done,
            BodyFraming::Length(n) => BodyState::Length(n),
            BodyFraming::Chunked => BodyState::Chunked(Box::default()),
            BodyFraming::UntilClose => BodyState::UntilClose,
        };
        let _ = method;
        let mut response = Response {
            status: head.status,
            reason: head.reason,
            headers: head.headers,
            url: url.clone(),
            body: BodyReader {
                client: self.clone(),
                conn: Some(conn),
                state,
                close: head.close,
                until,
                inflate,
                url: url.clone(),
            },
        };
        if matches!(response.body.state, BodyState::Done) {
            response.body.finish();
        }
        response
    }
}

/// `Basic` credentials.
fn basic(user: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}").into_bytes();
    let mut out = String::from("Basic ");
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Writes all of `bytes`, giving up at `until` (`TimedOut`): what the
/// socket takes at once goes without a timer; only a full socket waits.
fn send(conn: &mut Conn, bytes: &[u8], until: Instant) -> io::Result<()> {
    let n = match conn.io.try_write(bytes) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(e) => return Err(e),
    };
    if n == bytes.len() && !conn.io.has_pending_write() {
        return Ok(());
    }
    let rest = &bytes[n..];
    match crate::time::timeout_at(until, || conn.io.write_all(rest)) {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the send timed out",
        )),
    }
}

/// Where a body is in its framing.
enum BodyState {
    /// Bytes left of a `Content-Length` body.
    Length(u64),
    Chunked(Box<Decoder>),
    UntilClose,
    Done,
}

/// A gzip or deflate body being decoded as it comes.
struct Inflate {
    gzip: bool,
    /// Decided at the first bytes for deflate: zlib-wrapped (RFC 9110's
    /// meaning) or raw (what some servers send).
    decoder: Option<Decoder2>,
}

enum Decoder2 {
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    Zlib(flate2::write::ZlibDecoder<Vec<u8>>),
    Raw(flate2::write::DeflateDecoder<Vec<u8>>),
}

impl Inflate {
    fn new(gzip: bool) -> Inflate {
        Inflate {
            gzip,
            decoder: None,
        }
    }

    fn feed(&mut self, input: &[u8]) -> io::Result<Vec<u8>> {
        use std::io::Write;
        if self.decoder.is_none() {
            if input.is_empty() {
                return Ok(Vec::new());
            }
            self.decoder = Some(if self.gzip {
                Decoder2::Gzip(flate2::write::GzDecoder::new(Vec::new()))
            } else if input.len() >= 2
                && input[0] & 0x0f == 8
                && (u16::from(input[0]) << 8 | u16::from(input[1])) % 31 == 0
            {
                Decoder2::Zlib(flate2::write::ZlibDecoder::new(Vec::new()))
            } else {
                Decoder2::Raw(flate2::write::DeflateDecoder::new(Vec::new()))
            });
        }
        let out = match self.decoder.as_mut().expect("set above") {
            Decoder2::Gzip(d) => {
                d.write_all(input)?;
                std::mem::take(d.get_mut())
            }
            Decoder2::Zlib(d) => {
                d.write_all(input)?;
                std::mem::take(d.get_mut())
            }
            Decoder2::Raw(d) => {
                d.write_all(input)?;
                std::mem::take(d.get_mut())
            }
        };
        Ok(out)
    }

    fn finish(&mut self) -> io::Result<Vec<u8>> {
        Ok(match self.decoder.take() {
            None => Vec::new(),
            Some(Decoder2::Gzip(d)) => d.finish()?,
            Some(Decoder2::Zlib(d)) => d.finish()?,
            Some(Decoder2::Raw(d)) => d.finish()?,
        })
    }
}

/// The body of a response, read from its connection as asked.
struct BodyReader {
    client: Client,
    /// The connection, until the body is read whole (then back to the
    /// pool) or the response is dropped (then closed).
    conn: Option<Conn>,
    state: BodyState,
    /// The connection closes after this response.
    close: bool,
    /// The request's total deadline.
    until: Instant,
    inflate: Option<Inflate>,
    url: Url,
}

impl BodyReader {
    /// The next piece of the body as framed (before content decoding):
    /// `None` at its end. `total`: whether the total deadline applies.
    fn next_raw(&mut self, total: bool) -> Result<Option<Vec<u8>>, Error> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Ok(None);
            };
            let buffered = conn.buf.bytes();
            match &mut self.state {
                BodyState::Done => return Ok(None),
                BodyState::Length(left) => {
                    if !buffered.is_empty() {
                        let n = buffered
                            .len()
                            .min(usize::try_from(*left).unwrap_or(usize::MAX));
                        let piece = buffered[..n].to_vec();
                        conn.buf.consume(n);
                        *left -= n as u64;
                        if *left == 0 {
                            self.state = BodyState::Done;
                            self.finish();
                        }
                        return Ok(Some(piece));
                    }
                }
                BodyState::Chunked(decoder) => {
                    if !buffered.is_empty() {
                        let limits = Limits {
                            max_head: 64 * 1024,
                            max_headers: 0,
                            max_target: 0,
                            max_body: usize::MAX / 64,
                        };
                        let taken = decoder.feed(buffered, &limits).map_err(|r| {
                            Error::new(ErrorKind::Protocol(wire::chunk_error(r).into()), &self.url)
                        })?;
                        conn.buf.consume(taken);
                        let piece = decoder.take_decoded();
                        if decoder.is_done() {
                            self.state = BodyState::Done;
                            self.finish();
                        }
                        if !piece.is_empty() {
                            return Ok(Some(piece));
                        }
                        continue;
                    }
                }
                BodyState::UntilClose => {
                    if !buffered.is_empty() {
                        let piece = buffered.to_vec();
                        let n = piece.len();
                        conn.buf.consume(n);
                        return Ok(Some(piece));
                    }
                }
            }
            // Nothing buffered: read, within the idle limit (and the total).
            let t = &self.client.inner.config.timeouts;
            let idle = crate::event_loop::timer::deadline(now(), t.body_idle);
            let (read_until, is_total) = if total && self.until < idle {
                (self.until, true)
            } else {
                (idle, false)
            };
            let conn = self.conn.as_mut().expect("checked above");
            match conn.fill(read_until) {
                Ok(None) => {
                    self.conn = None;
                    return Err(Error::new(
                        ErrorKind::Timeout {
                            phase: Phase::Body,
                            total: is_total,
                        },
                        &self.url,
                    ));
                }
                Ok(Some(0)) => {
                    if matches!(self.state, BodyState::UntilClose) {
                        self.state = BodyState::Done;
                        self.conn = None;
                        return Ok(None);
                    }
                    let what = match &self.state {
                        BodyState::Length(left) => {
                            format!("with {left} bytes of the body still to come")
                        }
                        _ => "in the middle of a chunked body".to_string(),
                    };
                    self.conn = None;
                    return Err(Error::io(
                        Phase::Body,
                        io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("the server closed the connection {what}"),
                        ),
                        &self.url,
                    ));
                }
                Ok(Some(_)) => {}
                Err(e) => {
                    self.conn = None;
                    return Err(Error::io(Phase::Body, e, &self.url));
                }
            }
        }
    }

    /// The body is read whole: the connection goes back to the pool if it
    /// may carry another request (and holds no stray bytes), else closes.
    fn finish(&mut self) {
        if let Some(conn) = self.conn.take()
            && !self.close
            && conn.buf.is_empty()
        {
            self.client.inner.pool.put_idle(conn);
        }
    }

    /// The next piece of the body, content-decoded.
    fn next(&mut self, total: bool) -> Result<Option<Vec<u8>>, Error> {
        loop {
            let raw = self.next_raw(total)?;
            let Some(inflate) = self.inflate.as_mut() else {
                return Ok(raw);
            };
            let decoded = match raw {
                Some(raw) => inflate.feed(&raw),
                None => {
                    let last = inflate.finish();
                    self.inflate = None;
                    match last {
                        Ok(last) if last.is_empty() => return Ok(None),
                        Ok(last) => return Ok(Some(last)),
                        Err(e) => Err(e),
                    }
                }
            };
            match decoded {
                Ok(piece) if piece.is_empty() => continue,
                Ok(piece) => return Ok(Some(piece)),
                Err(e) => {
                    self.conn = None;
                    return Err(Error::new(
                        ErrorKind::Decode(format!("gzip/deflate: {e}")),
                        &self.url,
                    ));
                }
            }
        }
    }
}

/// A response: the status and headers at once, the body as it is read.
///
/// Read the body ([`bytes`](Self::bytes), [`text`](Self::text),
/// [`json`](Self::json), [`chunk`](Self::chunk), [`events`](Self::events))
/// to the end and the connection goes back to the pool; drop the response
/// before that and the connection is closed.
pub struct Response {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    url: Url,
    body: BodyReader,
}

impl Response {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase the server sent.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The headers, in the order they came (names as sent).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The URL that answered (the last one, after redirects).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The response if its status is below 400, else an
    /// [`ErrorKind::Status`] error (its connection closed).
    pub fn error_for_status(self) -> Result<Response, Error> {
        if self.status >= 400 {
            return Err(Error::new(ErrorKind::Status(self.status), &self.url));
        }
        Ok(self)
    }

    /// The next piece of the body as it arrives (decoded); `None` at its
    /// end. Each read waits at most the body's idle limit, within the total.
    pub fn chunk(&mut self) -> Result<Option<Vec<u8>>, Error> {
        self.body.next(true)
    }

    /// The body, read whole (within the client's body limit).
    pub fn bytes(mut self) -> Result<Vec<u8>, Error> {
        let limit = self.body.client.inner.config.max_body;
        let mut all = Vec::new();
        while let Some(piece) = self.body.next(true)? {
            if all.len() + piece.len() > limit {
                return Err(Error::new(ErrorKind::BodyTooLarge(limit), &self.url));
            }
            all.extend_from_slice(&piece);
        }
        Ok(all)
    }

    /// The body as text (UTF-8; invalid bytes replaced).
    pub fn text(self) -> Result<String, Error> {
        let bytes = self.bytes()?;
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    /// The body as JSON.
    pub fn json(self) -> Result<serde_json::Value, Error> {
        let url = self.url.clone();
        let bytes = self.bytes()?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::new(ErrorKind::Decode(format!("JSON: {e}")), &url))
    }

    /// The body as JSON, into `T`.
    pub fn json_as<T: serde::de::DeserializeOwned>(self) -> Result<T, Error> {
        let url = self.url.clone();
        let bytes = self.bytes()?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::new(ErrorKind::Decode(format!("JSON: {e}")), &url))
    }

    /// The body as server-sent events, each handed over as soon as its
    /// last line has come. No total limit applies (a stream may last
    /// hours); each wait for bytes is bounded by the body's idle limit.
    pub fn events(self) -> Events {
        Events {
            response: self,
            parser: sse::Parser::default(),
            ready: std::collections::VecDeque::new(),
            ended: false,
        }
    }

    /// Reads and drops a small body so that the connection can be used
    /// again; a body longer than 64 KiB, or one that does not come at
    /// once, closes the connection instead.
    fn discard(mut self) {
        let mut read = 0usize;
        let quick = crate::event_loop::timer::deadline(now(), Duration::from_millis(100));
        self.body.until = self.body.until.min(quick);
        while read < 64 * 1024 {
            match self.body.next_raw(true) {
                Ok(Some(piece)) => read += piece.len(),
                _ => return,
            }
        }
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("url", &self.url)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// The events of a `text/event-stream` response ([`Response::events`]).
pub struct Events {
    response: Response,
    parser: sse::Parser,
    ready: std::collections::VecDeque<Event>,
    ended: bool,
}

impl Iterator for Events {
    type Item = Result<Event, Error>;

    fn next(&mut self) -> Option<Result<Event, Error>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(Ok(event));
            }
            if self.ended {
                return None;
            }
            match self.response.body.next(false) {
                Ok(Some(bytes)) => {
                    let mut out = Vec::new();
                    if let Err(why) = self.parser.feed(&bytes, &mut out) {
                        self.ended = true;
                        return Some(Err(Error::new(
                            ErrorKind::Decode(why.into()),
                            &self.response.url,
                        )));
                    }
                    self.ready.extend(out);
                }
                Ok(None) => self.ended = true,
                Err(e) => {
                    self.ended = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("pool", &self.pool_stats())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("url", &self.response.url)
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
            super::basic("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(super::basic("a", ""), "Basic YTo=");
    }
}
