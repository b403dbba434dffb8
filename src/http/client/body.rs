//! A response's body as it is read: its framing (length, chunked, until
//! close), gzip or deflate undone, and its connection given back to the
//! pool once it is read whole.

use std::io;
use std::rc::Rc;
use std::time::Instant;

use super::error::{Error, ErrorKind, Phase};
use super::pool::Conn;
use super::shared::Shared;
use super::url::Url;
use super::wire;
use crate::http::chunked::Decoder;
use crate::http::framing::Limits;
use crate::time::now;

/// Where a body is in its framing.
pub(super) enum BodyState {
    /// Bytes left of a `Content-Length` body.
    Length(u64),
    Chunked(Box<Decoder>),
    UntilClose,
    Done,
}

/// A gzip or deflate body being decoded as it comes.
pub(super) struct Inflate {
    /// gzip (else deflate).
    pub(super) gzip: bool,
    /// Decided at the first bytes for deflate: zlib-wrapped (RFC 9110's
    /// meaning) or raw (what some servers send).
    pub(super) decoder: Option<Decoder2>,
}

pub(super) enum Decoder2 {
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    Zlib(flate2::write::ZlibDecoder<Vec<u8>>),
    Raw(flate2::write::DeflateDecoder<Vec<u8>>),
}

impl Inflate {
    pub(super) fn new(gzip: bool) -> Inflate {
        Inflate {
            gzip,
            decoder: None,
        }
    }

    pub(super) fn feed(&mut self, input: &[u8]) -> io::Result<Vec<u8>> {
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

    pub(super) fn finish(&mut self) -> io::Result<Vec<u8>> {
        Ok(match self.decoder.take() {
            None => Vec::new(),
            Some(Decoder2::Gzip(d)) => d.finish()?,
            Some(Decoder2::Zlib(d)) => d.finish()?,
            Some(Decoder2::Raw(d)) => d.finish()?,
        })
    }
}

/// The body of a response, read from its connection as asked.
pub(super) struct BodyReader {
    /// The client's shared part: its pool takes the connection back.
    pub(super) shared: Rc<Shared>,
    /// The connection, until the body is read whole (then back to the
    /// pool) or the response is dropped (then closed).
    pub(super) conn: Option<Conn>,
    /// Where the body is in its framing.
    pub(super) state: BodyState,
    /// The connection closes after this response.
    pub(super) close: bool,
    /// The request's total deadline.
    pub(super) until: Instant,
    /// The decoder, for a compressed body the client undoes.
    pub(super) inflate: Option<Inflate>,
    /// The request's URL, for errors.
    pub(super) url: Url,
}

impl BodyReader {
    /// The next piece of the body as framed (before content decoding):
    /// `None` at its end. `total`: whether the total deadline applies.
    pub(super) fn next_raw(&mut self, total: bool) -> Result<Option<Vec<u8>>, Error> {
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
            let t = &self.shared.config.timeouts;
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
    pub(super) fn finish(&mut self) {
        if let Some(conn) = self.conn.take()
            && !self.close
            && conn.buf.is_empty()
        {
            self.shared.pool.put_idle(conn);
        }
    }

    /// The next piece of the body, content-decoded.
    pub(super) fn next(&mut self, total: bool) -> Result<Option<Vec<u8>>, Error> {
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
