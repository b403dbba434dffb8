//! A request's errors: what went wrong ([`ErrorKind`]), in which phase
//! ([`Phase`]), for which URL.

use std::fmt;
use std::io;

use super::url::{Url, UrlError};
use std::sync::Arc;

/// Which phase of a request an error happened in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for a connection from the pool.
    Pool,
    /// Resolving the host's name.
    Resolve,
    /// Opening the TCP connection.
    Connect,
    /// The TLS handshake.
    TlsHandshake,
    /// Writing the request.
    Send,
    /// Waiting for the response's head.
    Head,
    /// Reading the body.
    Body,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Pool => "waiting for a pooled connection",
            Phase::Resolve => "resolving the name",
            Phase::Connect => "connecting",
            Phase::TlsHandshake => "the TLS handshake",
            Phase::Send => "sending the request",
            Phase::Head => "waiting for the response head",
            Phase::Body => "reading the body",
        })
    }
}

/// What went wrong.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The URL does not parse, or is not `http`/`https`.
    Url(UrlError),
    /// A header name or value that cannot be sent, or a body that
    /// cannot be sent again (a redirect that keeps the method).
    Request(String),
    /// A phase ran out of time; `total`: the total limit ran out in it.
    Timeout {
        /// The phase.
        phase: Phase,
        /// Whether it was the total limit, not the phase's own.
        total: bool,
    },
    /// The socket failed (or the server closed it) in a phase.
    Io {
        /// The phase.
        phase: Phase,
        /// The error.
        error: Arc<io::Error>,
    },
    /// TLS failed: the handshake, or the server's certificate (the message
    /// names the check: an unknown issuer, a name it does not cover, an
    /// expired one).
    Tls(String),
    /// The server broke HTTP's framing rules (see `src/http/client/wire.rs`).
    Protocol(String),
    /// A body, as decoded, larger than the limit.
    BodyTooLarge(usize),
    /// A body that does not decode (gzip, JSON, an event stream).
    Decode(String),
    /// More redirects than the limit.
    TooManyRedirects(usize),
    /// A 4xx or 5xx answer ([`Response::error_for_status`](super::Response::error_for_status)).
    Status(u16),
}

/// An HTTP client error: what went wrong, and for which URL.
#[derive(Clone, Debug)]
pub struct Error {
    /// What went wrong, and in which phase.
    pub(super) kind: ErrorKind,
    /// The URL asked for, when it parsed.
    pub(super) url: Option<String>,
}

impl Error {
    pub(super) fn new(kind: ErrorKind, url: &Url) -> Error {
        Error {
            kind,
            url: Some(url.to_string()),
        }
    }

    pub(super) fn io(phase: Phase, error: io::Error, url: &Url) -> Error {
        Error::new(
            ErrorKind::Io {
                phase,
                error: Arc::new(error),
            },
            url,
        )
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The URL of the request (without its userinfo).
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// Whether a limit ran out.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, ErrorKind::Timeout { .. })
    }

    /// The phase it happened in, when it is one of a request's phases.
    pub fn phase(&self) -> Option<Phase> {
        match self.kind {
            ErrorKind::Timeout { phase, .. } | ErrorKind::Io { phase, .. } => Some(phase),
            ErrorKind::Tls(_) => Some(Phase::TlsHandshake),
            _ => None,
        }
    }

    /// The status of an [`ErrorKind::Status`] error.
    pub fn status(&self) -> Option<u16> {
        match self.kind {
            ErrorKind::Status(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Url(e) => write!(f, "bad URL: {e}")?,
            ErrorKind::Request(why) => write!(f, "bad request: {why}")?,
            ErrorKind::Timeout {
                phase,
                total: false,
            } => write!(f, "timed out {phase}")?,
            ErrorKind::Timeout { phase, total: true } => {
                write!(f, "timed out {phase} (the request's total limit ran out)")?
            }
            ErrorKind::Io { phase, error } => write!(f, "failed {phase}: {error}")?,
            ErrorKind::Tls(why) => write!(f, "TLS: {why}")?,
            ErrorKind::Protocol(why) => write!(f, "the server broke HTTP's rules: {why}")?,
            ErrorKind::BodyTooLarge(limit) => write!(
                f,
                "the response body is larger than the limit ({limit} bytes)"
            )?,
            ErrorKind::Decode(why) => write!(f, "the body does not decode: {why}")?,
            ErrorKind::TooManyRedirects(n) => write!(f, "more than {n} redirects")?,
            ErrorKind::Status(s) => write!(f, "the server answered {s}")?,
        }
        if let Some(url) = &self.url {
            write!(f, " ({url})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io { error, .. } => Some(&**error),
            ErrorKind::Url(e) => Some(e),
            _ => None,
        }
    }
}
