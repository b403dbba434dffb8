//! Request bodies: the read buffer a connection holds while a request is in
//! flight (lent by a per-thread pool), and a body read only when the handler
//! asks for it, which is when `Expect: 100-continue` gets its go-ahead
//! (RFC 9110 §10.1.1).

use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use super::framing::{self, Framing, Limits, Reject};
use crate::net::TcpStream;
use crate::time::{now, timeout_at};

/// Bytes read at a time (and the size of a pooled buffer).
pub(crate) const CHUNK: usize = 4096;
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
    pub(crate) data: Vec<u8>,
    filled: usize,
}

impl InBuf {
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

    pub(crate) fn commit(&mut self, n: usize) {
        self.filled += n;
    }
}

/// The body of a request framed by `framing`, if all of it is in `rest`
/// (the bytes after the head), and the bytes it takes there.
pub(crate) fn complete(
    rest: &[u8],
    framing: Framing,
    limits: &Limits,
) -> Result<Option<(Vec<u8>, usize)>, Reject> {
    match framing {
        Framing::None => Ok(Some((Vec::new(), 0))),
        Framing::Length(n) if rest.len() >= n => Ok(Some((rest[..n].to_vec(), n))),
        Framing::Length(_) => Ok(None),
        Framing::Chunked => framing::decode_chunked(rest, limits),
    }
}

/// Why a request's body could not be read ([`Request::try_body`](super::Request::try_body)).
///
/// When a handler meets one, the server answers the request with
/// [`status`](Self::status) and closes the connection, whatever the handler
/// returned: the bytes that follow cannot be trusted to start a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyError {
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
    pub(crate) stream: Rc<TcpStream>,
    pub(crate) buf: InBuf,
    /// Bytes of the head at the start of `buf`.
    pub(crate) head_len: usize,
    pub(crate) framing: Framing,
    pub(crate) limits: Limits,
    pub(crate) body_timeout: Duration,
    pub(crate) write_timeout: Duration,
    /// Bytes (head included) the request took, once its body is read.
    pub(crate) used: Option<usize>,
}

impl Reader {
    /// Sends the go-ahead, then reads until the body is complete.
    fn read(&mut self) -> Result<Vec<u8>, BodyError> {
        let closed = || BodyError::new(ErrorKind::Closed);
        let until = crate::timer::deadline(now(), self.write_timeout);
        match timeout_at(until, || {
            self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
        }) {
            Ok(Ok(())) => {}
            _ => return Err(closed()),
        }
        loop {
            let rest = &self.buf.bytes()[self.head_len..];
            match complete(rest, self.framing, &self.limits) {
                Ok(Some((body, used))) => {
                    self.used = Some(self.head_len + used);
                    return Ok(body);
                }
                Ok(None) => {}
                Err(r) => return Err(BodyError::new(ErrorKind::Refused(r))),
            }
            let until = crate::timer::deadline(now(), self.body_timeout);
            let stream = &self.stream;
            let room = self.buf.room();
            match timeout_at(until, || stream.read(room)) {
                Ok(Ok(0)) | Ok(Err(_)) => return Err(closed()),
                Ok(Ok(n)) => self.buf.commit(n),
                Err(_elapsed) => return Err(BodyError::new(ErrorKind::Stalled)),
            }
        }
    }
}

/// A body read on first use, shared by the request (and its clones) and
/// the connection, which takes its [`Reader`] back once the handler is done.
pub(crate) struct Deferred {
    reader: RefCell<Option<Reader>>,
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
