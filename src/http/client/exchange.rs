//! One request's way through the client: a connection from the pool or a
//! new one (resolve, connect, TLS), the request written, the response's
//! head read, within each phase's limit; a stale reused connection retried
//! once.

use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::body::{BodyReader, BodyState, Inflate};
use super::error::{Error, ErrorKind, Phase};
use super::pool::{Acquired, Conn, Key};
use super::request::{Body, basic};
use super::response::Response;
use super::shared::Shared;
use super::url::Url;
use super::wire::{self, BodyFraming, ResponseHead};
use crate::http::framing::Limits;
use crate::http::transport::Transport;
use crate::net::TcpStream;
use crate::time::now;

impl Shared {
    /// One request and its response's head, on a pooled or new connection;
    /// sent again, once, on a new connection when a reused one failed
    /// before any byte of the answer and the request may be repeated.
    pub(super) fn exchange(
        self: &Rc<Self>,
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
        let t = &self.config.timeouts;
        let phase_until = |phase: Duration| {
            let mine = crate::event_loop::timer::deadline(now(), phase);
            (mine.min(until), until <= mine)
        };
        let (pool_until, total) = phase_until(t.pool);
        let slot = match self.pool.acquire(key, fresh, pool_until) {
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
        let config = &self.config;
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
        let c = &self.config;
        Limits {
            max_head: c.max_head,
            max_headers: c.max_headers,
            max_target: 0,
            max_body,
        }
    }

    fn response(
        self: &Rc<Self>,
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
                shared: self.clone(),
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

/// Writes all of `bytes`, giving up at `until` (`TimedOut`): what the
/// socket takes at once goes without a timer; only a full socket waits.
pub(super) fn send(conn: &mut Conn, bytes: &[u8], until: Instant) -> io::Result<()> {
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
