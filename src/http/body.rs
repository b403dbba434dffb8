//! Request bodies: the read buffer a connection holds while a request is in
//! flight (lent by a per-thread pool), and a body read only when the handler
//! asks for it, which is when `Expect: 100-continue` gets its go-ahead
//! (RFC 9110 §10.1.1).

use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::chunked;
use super::framing::{Framing, Limits, Reject};
use crate::time::{now, timeout_at};

/// Bytes read at a time (and the size of a pooled buffer).
pub(crate) const CHUNK: usize = 4096;
/// Room made for each read of a chunked body that takes more than one
/// read: a large upload costs a sixteenth of the reads it would in
/// `CHUNK`s. (The buffer goes back to the allocator afterwards, not to the
/// pool.)
pub(crate) const BODY_READ: usize = 64 * 1024;
/// Pooled buffers kept per thread.
const POOL: usize = 256;

thread_local! {
    /// Read buffers of connections that are not idle, lent while a request
    /// is in flight.
    static BUFFERS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer from this thread's pool (or a new one).
pub(crate) fn take_buffer() -> Vec<u8> {
    BUFFERS
        .with(|b| b.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(CHUNK))
}

/// Hands a buffer back to the pool. Its bytes stay initialised (its length
/// is how far it is), so that reading into it never zeroes it again.
pub(crate) fn give_buffer(buf: Vec<u8>) {
    if buf.capacity() > 4 * CHUNK || buf.capacity() == 0 {
        return; // a big request's buffer goes back to the allocator
    }
    let _ = BUFFERS.try_with(|b| {
        let mut b = b.borrow_mut();
        if b.len() < POOL {
            b.push(buf);
        }
    });
}

/// A read buffer: `data[..filled]` holds the bytes not consumed yet; the
/// rest of `data` is initialised room to read into.
#[derive(Default)]
pub(crate) struct InBuf {
    /// The bytes read, and room to read more into.
    pub(crate) data: Vec<u8>,
    /// How many bytes of `data` hold what was read and not yet consumed.
    filled: usize,
}

impl InBuf {
    /// An empty buffer over `data` (a pooled buffer: its bytes are room).
    pub(crate) fn over(data: Vec<u8>) -> InBuf {
        InBuf { data, filled: 0 }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.data[..self.filled]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// Drops the first `n` bytes (a request served).
    pub(crate) fn consume(&mut self, n: usize) {
        self.data.copy_within(n..self.filled, 0);
        self.filled -= n;
    }

    /// Room to read into, at least half a chunk.
    pub(crate) fn room(&mut self) -> &mut [u8] {
        if self.data.len() - self.filled < CHUNK / 2 {
            self.data.resize(self.filled + CHUNK, 0);
        }
        &mut self.data[self.filled..]
    }

    /// Makes room for a read of up to `n` bytes.
    pub(crate) fn reserve_room(&mut self, n: usize) {
        if self.data.len() - self.filled < n {
            self.data.resize(self.filled + n, 0);
        }
    }

    pub(crate) fn commit(&mut self, n: usize) {
        self.filled += n;
    }

    /// Drops `n` bytes from `at` on (wire taken by a chunked decoder,
    /// after the head it keeps).
    fn remove(&mut self, at: usize, n: usize) {
        self.data.copy_within(at + n..self.filled, at);
        self.filled -= n;
    }
}

/// Progress on the body of the request whose head is `buf[..head_len]`:
/// the body and the bytes of `buf` the request then takes from its start,
/// or `Ok(None)` if the body is not all there yet.
///
/// A chunked body is decoded as it comes: `chunked` keeps the decoder's
/// state between calls, and the wire it took is dropped from `buf` (after
/// the head), so that each byte is looked at once and the buffer holds
/// only what is not decoded yet. A `Content-Length` body stays in `buf`
/// until it is complete (bounded by the body limit).
pub(crate) fn advance(
    buf: &mut InBuf,
    head_len: usize,
    framing: Framing,
    limits: &Limits,
    chunked: &mut Option<chunked::Decoder>,
) -> Result<Decoded, Reject> {
    match framing {
        Framing::None => Ok(Some((Vec::new(), head_len))),
        Framing::Length(n) => {
            let rest = &buf.bytes()[head_len..];
            Ok((rest.len() >= n).then(|| (rest[..n].to_vec(), head_len + n)))
        }
        Framing::Chunked => {
            let decoder = chunked.get_or_insert_with(chunked::Decoder::new);
            let taken = match decoder.feed(&buf.bytes()[head_len..], limits) {
                Ok(taken) => taken,
                Err(r) => {
                    *chunked = None;
                    return Err(r);
                }
            };
            buf.remove(head_len, taken);
            if !decoder.is_done() {
                return Ok(None);
            }
            let body = chunked.take().map(chunked::Decoder::into_body);
            Ok(Some((body.unwrap_or_default(), head_len)))
        }
    }
}

/// A decoded body and the bytes it took, once complete.
type Decoded = Option<(Vec<u8>, usize)>;

/// Feeds the chunked body at the start of `wire` through a connection's
/// buffer in reads of `sizes` bytes (cycled), as a connection does: the
/// body and the wire it took once complete, and the bytes handed to the
/// decoder in all (each read's new bytes plus what the decoder left in
/// the buffer before). For the fuzz target and the tests: the answer must
/// not depend on the cutting, and the work must be linear in the wire.
pub(crate) fn chunked_in_reads(
    wire: &[u8],
    sizes: &[usize],
    limits: &Limits,
) -> (Result<Decoded, Reject>, usize) {
    let mut buf = InBuf::default();
    let mut decoder = None;
    let (mut at, mut handed) = (0, 0);
    for &size in sizes.iter().cycle() {
        let end = (at + size.max(1)).min(wire.len());
        let room = buf.room();
        let n = (end - at).min(room.len());
        room[..n].copy_from_slice(&wire[at..at + n]);
        buf.commit(n);
        at += n;
        handed += buf.bytes().len();
        match advance(&mut buf, 0, Framing::Chunked, limits, &mut decoder) {
            Ok(Some((body, _))) => return (Ok(Some((body, at - buf.bytes().len()))), handed),
            Ok(None) if at == wire.len() => return (Ok(None), handed),
            Ok(None) => {}
            Err(r) => return (Err(r), handed),
        }
    }
    unreachable!("`sizes` is cycled for ever")
}

/// Body bytes received so far for the request whose head is
/// `buf[..head_len]` (decoded wire included): what a minimum data rate is
/// measured on.
pub(crate) fn received(buf: &InBuf, head_len: usize, chunked: Option<&chunked::Decoder>) -> usize {
    (buf.filled - head_len) + chunked.map_or(0, chunked::Decoder::wire)
}

/// A minimum data rate for request bodies (see [`Config::min_body_rate`](super::Config::min_body_rate)).
#[derive(Clone, Copy, Debug)]
pub(crate) struct MinRate {
    /// The average a body must keep up once the grace is over.
    pub(crate) bytes_per_second: u64,
    /// How long from the body's start before the rate is enforced.
    pub(crate) grace: Duration,
}

impl MinRate {
    /// When a body that began at `began` and has `received` bytes so far
    /// is too slow unless one more byte comes: the grace, plus the time
    /// the rate allows for `received + 1` bytes.
    pub(crate) fn deadline(&self, began: Instant, received: usize) -> Instant {
        let seconds = (received as f64 + 1.0) / self.bytes_per_second as f64;
        let allowed = Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX);
        crate::event_loop::timer::deadline(began, self.grace.saturating_add(allowed))
    }
}

/// Why a request's body could not be read ([`Request::try_body`](super::Request::try_body)).
///
/// When a handler meets one, the server answers the request with
/// [`status`](Self::status) and closes the connection, whatever the handler
/// returned: the bytes that follow cannot be trusted to start a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyError {
    /// What went wrong (it decides the status).
    kind: ErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum ErrorKind {
    /// The framing broke a rule or a limit (400, 413).
    Refused(Reject),
    /// No byte of the body came for the body timeout.
    Stalled,
    /// The client closed the connection, or it failed.
    Closed,
    /// Another task is reading this body now.
    Busy,
    /// The request was answered already; its connection has moved on.
    Gone,
}

impl BodyError {
    fn new(kind: ErrorKind) -> BodyError {
        BodyError { kind }
    }

    /// The status the request is answered with: 400 or 413 for a body that
    /// breaks the framing rules or the size limit, 408 for one that stalls
    /// or never comes, 500 for a body read twice at once or after the
    /// response.
    pub fn status(&self) -> u16 {
        match &self.kind {
            ErrorKind::Refused(r) => r.status,
            ErrorKind::Stalled | ErrorKind::Closed => 408,
            ErrorKind::Busy | ErrorKind::Gone => 500,
        }
    }

    /// The framing refusal behind it, if any.
    pub(crate) fn refusal(&self) -> Option<Reject> {
        match &self.kind {
            ErrorKind::Refused(r) => Some(*r),
            _ => None,
        }
    }

    /// Whether the connection is past saving (stalled or closed): nothing
    /// more is written to it.
    pub(crate) fn is_dead(&self) -> bool {
        matches!(self.kind, ErrorKind::Stalled | ErrorKind::Closed)
    }
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            ErrorKind::Refused(r) => write!(f, "the request body was refused: {}", r.why),
            ErrorKind::Stalled => f.write_str("the request body stopped arriving"),
            ErrorKind::Closed => f.write_str("the client closed the connection mid-body"),
            ErrorKind::Busy => f.write_str("another task is reading this request body"),
            ErrorKind::Gone => f.write_str("the request was answered; its body is gone"),
        }
    }
}

impl std::error::Error for BodyError {}

/// A body not read yet: what reading it needs, lent by the connection to
/// the request for the time its handler runs.
pub(crate) struct Reader {
    /// The connection's socket (plain or TLS).
    pub(crate) stream: Rc<super::transport::Transport>,
    /// What was read past the head: the body's first bytes, maybe more.
    pub(crate) buf: InBuf,
    /// Bytes of the head at the start of `buf`.
    pub(crate) head_len: usize,
    /// How the body's end is marked (a length, chunks, none).
    pub(crate) framing: Framing,
    /// The server's limits (the body's size among them).
    pub(crate) limits: Limits,
    /// How long the body may go without a byte arriving.
    pub(crate) body_timeout: Duration,
    /// How long a `100 Continue` may wait to be written.
    pub(crate) write_timeout: Duration,
    /// The slowest a body may come (see [`Config::min_body_rate`](super::Config::min_body_rate)).
    pub(crate) min_rate: Option<MinRate>,
    /// A chunked body's decoder, kept between reads.
    pub(crate) chunked: Option<chunked::Decoder>,
    /// Bytes (head included) the request took, once its body is read.
    pub(crate) used: Option<usize>,
}

impl Reader {
    /// Sends the go-ahead, then reads until the body is complete.
    fn read(&mut self) -> Result<Vec<u8>, BodyError> {
        let closed = || BodyError::new(ErrorKind::Closed);
        let until = crate::event_loop::timer::deadline(now(), self.write_timeout);
        match timeout_at(until, || {
            self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
        }) {
            Ok(Ok(())) => {}
            _ => return Err(closed()),
        }
        let began = now();
        loop {
            let (limits, framing) = (self.limits, self.framing);
            match advance(
                &mut self.buf,
                self.head_len,
                framing,
                &limits,
                &mut self.chunked,
            ) {
                Ok(Some((body, used))) => {
                    self.used = Some(used);
                    return Ok(body);
                }
                Ok(None) => {}
                Err(r) => return Err(BodyError::new(ErrorKind::Refused(r))),
            }
            let stalled = crate::event_loop::timer::deadline(now(), self.body_timeout);
            let got = received(&self.buf, self.head_len, self.chunked.as_ref());
            let too_slow = self.min_rate.map(|rate| rate.deadline(began, got));
            let until = too_slow.map_or(stalled, |slow| slow.min(stalled));
            let stream = &self.stream;
            if self.chunked.is_some() {
                self.buf.reserve_room(BODY_READ); // as Connection::read_body does
            }
            let room = self.buf.room();
            match stream.read_until(room, until) {
                Ok(Some(0)) | Err(_) => return Err(closed()),
                Ok(Some(n)) => {
                    self.buf.commit(n);
                    // A body that arrives as fast as it is read would
                    // never let the loop run anyone else: see read_body.
                    crate::time::yield_now();
                }
                Ok(None) if too_slow.is_some_and(|slow| slow <= stalled) => {
                    return Err(BodyError::new(ErrorKind::Refused(super::framing::reject(
                        408,
                        "the request body arrived too slowly",
                    ))));
                }
                Ok(None) => return Err(BodyError::new(ErrorKind::Stalled)),
            }
        }
    }
}

/// A body read on first use, shared by the request (and its clones) and
/// the connection, which takes its [`Reader`] back once the handler is done.
pub(crate) struct Deferred {
    /// What reading the body needs, until it is read (or given back unread).
    reader: RefCell<Option<Reader>>,
    /// The body, or why it could not be read, once read.
    got: OnceCell<Result<Vec<u8>, BodyError>>,
}

impl Deferred {
    pub(crate) fn new(reader: Reader) -> Rc<Deferred> {
        Rc::new(Deferred {
            reader: RefCell::new(Some(reader)),
            got: OnceCell::new(),
        })
    }

    /// The body, read now if it has not been.
    pub(crate) fn body(&self) -> Result<&[u8], BodyError> {
        if let Some(got) = self.got.get() {
            return got.as_deref().map_err(Clone::clone);
        }
        let result = match self.reader.try_borrow_mut() {
            Ok(mut reader) => match reader.as_mut() {
                Some(reader) => reader.read(),
                None => Err(BodyError::new(ErrorKind::Gone)),
            },
            // Suspended in a read of this same body, in another task.
            Err(_) => return Err(BodyError::new(ErrorKind::Busy)),
        };
        // Nobody else set it meanwhile: they were refused as busy.
        self.got
            .get_or_init(|| result)
            .as_deref()
            .map_err(Clone::clone)
    }

    /// The connection takes its buffer back: `None` while another task is
    /// still reading (the connection then closes). What the read gave, if
    /// one was made, stays for clones of the request that outlive it.
    pub(crate) fn take_back(&self) -> Option<(Reader, Option<Result<(), BodyError>>)> {
        let reader = self.reader.try_borrow_mut().ok()?.take()?;
        let got = self
            .got
            .get()
            .map(|r| r.as_ref().map(|_| ()).map_err(Clone::clone));
        Some((reader, got))
    }
}

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.got.get() {
            None => f.write_str("<body not read yet>"),
            Some(Ok(body)) => write!(f, "<{} bytes>", body.len()),
            Some(Err(e)) => write!(f, "<{e}>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = super::super::framing::TEST_LIMITS;

    /// A 1 MiB body in 1-byte chunks (6 MiB of wire), fed through the
    /// connection's buffer in reads of any size: the same body, and the
    /// decoder handed each wire byte once (a decoder that started over
    /// after every read cost 8.4 s of CPU on this body).
    #[test]
    fn a_megabyte_in_one_byte_chunks_costs_work_linear_in_the_wire() {
        let body: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
        let mut wire = chunked::one_byte_chunks(&body);
        wire.extend_from_slice(b"GET");
        let end = wire.len() - 3;
        for sizes in [&[CHUNK][..], &[1], &[3, 1000, 7], &[65_536]] {
            let (got, handed) = chunked_in_reads(&wire, sizes, &LIMITS);
            let (decoded, used) = got.unwrap().expect("complete");
            assert!(decoded == body, "reads of {sizes:?}");
            assert_eq!(used, end, "reads of {sizes:?}");
            // Each byte handed over once, but for the bytes read after the
            // body's end (the next request's), at most a read's worth.
            assert!(
                handed <= end + sizes.iter().max().unwrap(),
                "{handed} for {end}, reads of {sizes:?}"
            );
        }
    }

    #[test]
    fn any_cutting_of_a_chunked_body_decodes_as_one_buffer() {
        let wire = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: yes\r\n\r\n";
        let one = chunked::decode(wire, &LIMITS).unwrap().unwrap();
        for a in 1..wire.len() {
            for b in 1..8 {
                let (got, _) = chunked_in_reads(wire, &[a, b], &LIMITS);
                assert_eq!(got, Ok(Some(one.clone())), "reads of {a}, {b}");
            }
        }
    }
}
