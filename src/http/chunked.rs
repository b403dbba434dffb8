//! The chunked transfer coding (RFC 9112 §7.1), decoded incrementally.
//!
//! ```text
//! chunked-body = *chunk last-chunk trailer-section CRLF
//! chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! last-chunk   = 1*"0" [ chunk-ext ] CRLF
//! ```
//!
//! A body arrives in reads of any size, cut anywhere. The decoder keeps its
//! state between reads, so that each wire byte is looked at once: the
//! connection hands it only the bytes it has not seen, and drops them from
//! its buffer once taken. Decoding a body from scratch after every read
//! (what a stateless parser does) costs time quadratic in the wire: a 1 MiB
//! body sent as 1-byte chunks is 6 MiB of wire and some thousand reads.
//!
//! Memory is bounded by the limits, never by the wire: the decoded body by
//! the body limit (413), a size line with its extensions by
//! [`MAX_LINE`], the extensions of the whole body by [`MAX_EXTENSIONS`]
//! (hyper's bound), the trailer section by the head limit (431), and the
//! wire as a whole by [`WIRE_FACTOR`] times the body limit (413): 1-byte
//! chunks (six wire bytes for each body byte) pass, padding does not.

use super::framing::{Limits, Reject};

/// The longest chunk-size line, extensions included.
pub(crate) const MAX_LINE: usize = 4096;

/// Chunk-extension bytes allowed in one body, all lines together.
pub(crate) const MAX_EXTENSIONS: usize = 16 * 1024;

/// The wire a chunked body may take, as a multiple of the body limit (plus
/// [`MAX_EXTENSIONS`] and a head's worth of trailers).
pub(crate) const WIRE_FACTOR: usize = 8;

/// A hex digit's value by byte, [`NOT_HEX`] for any other byte.
static HEX: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            d @ b'0'..=b'9' => d - b'0',
            l @ b'a'..=b'f' => l - b'a' + 10,
            u @ b'A'..=b'F' => u - b'A' + 10,
            _ => NOT_HEX,
        };
        b += 1;
    }
    table
};

/// `1\r\n?\r\n` as a little-endian word: the bytes of a 1-byte chunk but
/// its data (and two bytes beyond it, masked out).
const ONE_BYTE_CHUNK: u64 = u64::from_le_bytes([b'1', b'\r', b'\n', 0, b'\r', b'\n', 0, 0]);
/// The bytes of [`ONE_BYTE_CHUNK`] that are compared.
const ONE_BYTE_CHUNK_MASK: u64 = u64::from_le_bytes([0xff, 0xff, 0xff, 0, 0xff, 0xff, 0, 0]);

/// Not a hex digit, in [`HEX`].
const NOT_HEX: u8 = 0xff;

/// Where the decoder is in the grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// In the chunk-size's hex digits (`digits` seen so far).
    Size,
    /// After the digits: whitespace, then extensions from the first `;`.
    Extension { started: bool },
    /// The LF of the size line's CRLF.
    SizeLf,
    /// `n` bytes of chunk-data still to come.
    Data(u64),
    /// The CR after chunk-data.
    DataCr,
    /// The LF after chunk-data.
    DataLf,
    /// The start of a trailer line (or of the final CRLF).
    TrailerStart,
    /// In a trailer field's name.
    TrailerName,
    /// In a trailer field's value.
    TrailerValue,
    /// The LF of a trailer line.
    TrailerLf,
    /// The LF of the final CRLF.
    EndLf,
    /// The body is complete.
    Done,
}

/// A chunked body being decoded: feed it the bytes as they come.
#[derive(Debug)]
pub(crate) struct Decoder {
    /// Where it is in the grammar.
    state: State,
    /// The decoded bytes so far.
    body: Vec<u8>,
    /// The chunk size being read.
    size: u64,
    /// Hex digits of the size read so far (at most 16).
    digits: u8,
    /// Bytes of the current size or trailer line so far.
    line: usize,
    /// Extension bytes in the whole body so far.
    extensions: usize,
    /// Bytes of the trailer section so far.
    trailers: usize,
    /// Wire bytes taken so far (every byte fed is looked at exactly once:
    /// this is also the decoder's count of work, which tests check).
    wire: usize,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new()
    }
}

fn bad() -> Reject {
    Reject {
        status: 400,
        why: "malformed chunked body",
    }
}

fn is_ctl(b: u8) -> bool {
    b < 0x20 && b != b'\t' || b == 0x7f
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

impl Decoder {
    /// A decoder at the start of a body.
    pub(crate) fn new() -> Decoder {
        Decoder {
            state: State::Size,
            body: Vec::new(),
            size: 0,
            digits: 0,
            line: 0,
            extensions: 0,
            trailers: 0,
            wire: 0,
        }
    }

    /// Whether the whole body has been decoded.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Wire bytes taken so far.
    pub(crate) fn wire(&self) -> usize {
        self.wire
    }

    /// The bytes decoded since the last call, taken out (a body read as a
    /// stream: the limits then count what is held, not the whole).
    pub(crate) fn take_decoded(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.body)
    }

    /// The decoded body, once [`is_done`](Self::is_done).
    pub(crate) fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// Takes what it can of `input`, which follows the bytes fed before:
    /// how many bytes it took. It stops at the end of the body (the bytes
    /// after it belong to the next request) or of `input`; a rule or a
    /// limit broken is an error, and the connection must close.
    pub(crate) fn feed(&mut self, input: &[u8], limits: &Limits) -> Result<usize, Reject> {
        let mut at = 0;
        while at < input.len() {
            if let State::Data(left) = self.state {
                // Chunk data is copied in one go, not looked at byte by byte.
                let n = (input.len() - at).min(usize::try_from(left).unwrap_or(usize::MAX));
                self.body.extend_from_slice(&input[at..at + n]);
                at += n;
                let left = left - n as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data(left)
                };
                continue;
            }
            if self.state == State::Done {
                break;
            }
            if self.state == State::Size && self.digits == 0 {
                // Whole plain chunks in view (`1a\r\n` data `\r\n`, no
                // extension): taken in one go, without the byte machine.
                let n = self.whole_chunks(&input[at..], limits)?;
                if n > 0 {
                    at += n;
                    continue;
                }
            }
            let b = input[at];
            at += 1;
            self.step(b, limits)?;
        }
        self.wire += at;
        let wire_limit = limits
            .max_body
            .saturating_mul(WIRE_FACTOR)
            .saturating_add(MAX_EXTENSIONS + limits.max_head);
        if self.wire > wire_limit {
            return Err(Reject {
                status: 413,
                why: "chunked body framing too large",
            });
        }
        Ok(at)
    }

    /// One byte outside chunk data.
    fn step(&mut self, b: u8, limits: &Limits) -> Result<(), Reject> {
        match self.state {
            State::Size | State::Extension { .. } | State::SizeLf => {
                self.line += 1;
                if self.line > MAX_LINE {
                    return Err(Reject {
                        status: 400,
                        why: "chunk size line too long",
                    });
                }
            }
            State::TrailerStart | State::TrailerName | State::TrailerValue | State::TrailerLf => {
                self.trailers += 1;
                if self.trailers > limits.max_head {
                    return Err(Reject {
                        status: 431,
                        why: "trailer section too large",
                    });
                }
            }
            _ => {}
        }
        self.state = match (self.state, b) {
            (State::Size, b) if b.is_ascii_hexdigit() => {
                if self.digits == 16 {
                    return Err(bad());
                }
                self.digits += 1;
                self.size = self.size << 4 | u64::from((b as char).to_digit(16).unwrap_or(0));
                State::Size
            }
            (State::Size, _) if self.digits == 0 => return Err(bad()),
            (State::Size | State::Extension { .. }, b'\r') => State::SizeLf,
            (State::Size | State::Extension { started: false }, b' ' | b'\t') => {
                State::Extension { started: false }
            }
            (State::Size | State::Extension { started: false }, b';') => {
                self.count_extension()?;
                State::Extension { started: true }
            }
            (State::Extension { started: true }, b) if !is_ctl(b) => {
                self.count_extension()?;
                State::Extension { started: true }
            }
            (State::SizeLf, b'\n') => {
                self.line = 0;
                let size = std::mem::take(&mut self.size);
                self.digits = 0;
                if size == 0 {
                    State::TrailerStart
                } else {
                    let room = limits.max_body.saturating_sub(self.body.len());
                    if size > room as u64 {
                        return Err(Reject {
                            status: 413,
                            why: "request body too large",
                        });
                    }
                    // Room for the whole chunk now (it fits the limit):
                    // one allocation per chunk at most, not per read.
                    self.body.reserve(size as usize);
                    State::Data(size)
                }
            }
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => State::Size,
            (State::TrailerStart, b'\r') => State::EndLf,
            (State::TrailerStart, b) if is_token(b) => State::TrailerName,
            (State::TrailerName, b) if is_token(b) => State::TrailerName,
            (State::TrailerName, b':') => State::TrailerValue,
            (State::TrailerValue, b'\r') => State::TrailerLf,
            (State::TrailerValue, b) if !is_ctl(b) => State::TrailerValue,
            (State::TrailerLf, b'\n') => State::TrailerStart,
            (State::EndLf, b'\n') => State::Done,
            _ => return Err(bad()),
        };
        Ok(())
    }

    /// Takes the whole chunks without extensions at the start of `input`,
    /// as many as are all there: the bytes they took (0 to go byte by byte:
    /// a last chunk, an extension, a chunk cut by the read). The same
    /// grammar and limits as [`step`](Self::step), on the common case, in a
    /// loop tight enough that 1-byte chunks cost a few nanoseconds each.
    fn whole_chunks(&mut self, input: &[u8], limits: &Limits) -> Result<usize, Reject> {
        let mut at = 0;
        loop {
            // Runs of 1-byte chunks (`1\r\n` byte `\r\n`), the cheapest
            // way to send the most chunks: six bytes checked in one
            // comparison each, no chain of dependent loads between them.
            while let Some(six) = input.get(at..at + 8) {
                let word = u64::from_le_bytes(six.try_into().unwrap_or([0; 8]));
                if word & ONE_BYTE_CHUNK_MASK != ONE_BYTE_CHUNK
                    || self.body.len() >= limits.max_body
                {
                    break;
                }
                self.body.push(six[3]);
                at += 6;
            }
            let rest = &input[at..];
            let mut digits = 0;
            let mut size = 0u64;
            while digits < rest.len().min(17) {
                let v = HEX[rest[digits] as usize];
                if v == NOT_HEX {
                    break;
                }
                size = size << 4 | u64::from(v);
                digits += 1;
            }
            if digits == 0 || digits > 16 || size == 0 {
                return Ok(at);
            }
            if rest.get(digits) != Some(&b'\r') || rest.get(digits + 1) != Some(&b'\n') {
                return Ok(at);
            }
            if size > limits.max_body.saturating_sub(self.body.len()) as u64 {
                return Err(Reject {
                    status: 413,
                    why: "request body too large",
                });
            }
            let start = digits + 2;
            let end = start + size as usize; // within the body limit: no overflow
            match (rest.get(end), rest.get(end + 1)) {
                (Some(b'\r'), Some(b'\n')) => {}
                (_, None) => return Ok(at),
                _ => return Err(bad()),
            }
            if size == 1 {
                self.body.push(rest[start]);
            } else {
                self.body.extend_from_slice(&rest[start..end]);
            }
            at += end + 2;
        }
    }

    fn count_extension(&mut self) -> Result<(), Reject> {
        self.extensions += 1;
        if self.extensions > MAX_EXTENSIONS {
            return Err(Reject {
                status: 400,
                why: "chunk extensions too large",
            });
        }
        Ok(())
    }
}

/// `body` as 1-byte chunks and the last chunk (six wire bytes for each
/// body byte), for the tests that check the work is linear.
#[cfg(test)]
pub(crate) fn one_byte_chunks(body: &[u8]) -> Vec<u8> {
    let mut wire = Vec::with_capacity(body.len() * 6 + 5);
    for &b in body {
        wire.extend_from_slice(b"1\r\n");
        wire.push(b);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    wire
}

/// Decodes a chunked body at the start of `buf` in one go: the body and the
/// bytes it took, `Ok(None)` if it is not complete yet.
pub(crate) fn decode(buf: &[u8], limits: &Limits) -> Result<Option<(Vec<u8>, usize)>, Reject> {
    let mut decoder = Decoder::new();
    let used = decoder.feed(buf, limits)?;
    Ok(decoder.is_done().then(|| (decoder.into_body(), used)))
}

#[cfg(test)]
mod tests;
