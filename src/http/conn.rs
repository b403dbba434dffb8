//! One connection: read, frame, route, answer, keep alive (one task each).
//!
//! The loop of a connection: serve every complete request in the read
//! buffer, in order, appending each response to one output buffer; write
//! that batch with one `write`; then read more, under the timeout the
//! connection's state calls for (idle between requests, the head of a
//! request, a stalled body). An idle connection holds no buffer: its read
//! buffer goes back to this thread's pool until bytes arrive.

use std::cell::RefCell;
use std::io;
use std::net::Shutdown;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::Instant;

use super::config::{Config, Shared};
use super::framing::{self, Framing, Head, Reject};
use super::request::Request;
use super::response::{Response, reason};
use crate::net::TcpStream;
use crate::time::{now, timeout_at};

/// Bytes read at a time (and the size of a pooled buffer).
const CHUNK: usize = 4096;
/// Pooled buffers kept per thread.
const POOL: usize = 256;

thread_local! {
    /// Read buffers of connections that are not idle, lent while a request
    /// is in flight.
    static BUFFERS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

fn take_buffer() -> Vec<u8> {
    BUFFERS
        .with(|b| b.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(CHUNK))
}

/// Hands a buffer back to the pool. Its bytes stay initialised (its length
/// is how far it is), so that reading into it never zeroes it again.
fn give_buffer(buf: Vec<u8>) {
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
struct InBuf {
    data: Vec<u8>,
    filled: usize,
}

impl InBuf {
    fn bytes(&self) -> &[u8] {
        &self.data[..self.filled]
    }

    fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// Drops the first `n` bytes (a request served).
    fn consume(&mut self, n: usize) {
        self.data.copy_within(n..self.filled, 0);
        self.filled -= n;
    }

    /// Room to read into, at least half a chunk.
    fn room(&mut self) -> &mut [u8] {
        if self.data.len() - self.filled < CHUNK / 2 {
            self.data.resize(self.filled + CHUNK, 0);
        }
        &mut self.data[self.filled..]
    }

    fn commit(&mut self, n: usize) {
        self.filled += n;
    }
}

/// Why a connection ends.
enum End {
    /// Closed quietly (the peer left, idle too long, a stall).
    Quiet,
    /// Refused with a status; the connection closes after it.
    Refuse(Reject),
}

/// Serves `stream` until it closes.
pub(crate) fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let end = Connection {
        stream: &stream,
        shared,
        buf: InBuf::default(),
        out: Vec::new(),
    }
    .run();
    match end {
        Err(End::Refuse(r)) => {
            let mut out = Vec::new();
            refusal(r).write_to(&mut out, &super::date::now(), true, false, false);
            let until = deadline(shared.config.write_timeout);
            let _ = timeout_at(until, || stream.write_all(&out));
            linger(&stream);
        }
        // Closing after a response: the client may have sent more.
        Ok(()) => linger(&stream),
        Err(End::Quiet) => {}
    }
    let _ = stream.shutdown(Shutdown::Write);
}

/// Closes our side, then reads and drops what the client still sends, for
/// a moment (RFC 9112 §9.6): closing with unread bytes makes the kernel
/// reset the connection, and a reset can destroy the response before the
/// client has read it.
pub(crate) fn linger(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let mut sink = [0u8; 1024];
    let mut budget = 256 * 1024;
    let _ = crate::time::timeout(std::time::Duration::from_secs(1), || {
        while budget > 0 {
            match stream.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(n) => budget -= n.min(budget),
            }
        }
    });
}

/// The response to a refused request.
fn refusal(r: Reject) -> Response {
    Response::text(format!("{} {}: {}\n", r.status, reason(r.status), r.why)).with_status(r.status)
}

fn deadline(after: std::time::Duration) -> Instant {
    crate::timer::deadline(now(), after)
}

struct Connection<'a> {
    stream: &'a TcpStream,
    shared: &'a Shared,
    /// Bytes read and not yet consumed (no memory while idle).
    buf: InBuf,
    /// Responses not yet written.
    out: Vec<u8>,
}

impl Connection<'_> {
    fn config(&self) -> &Config {
        &self.shared.config
    }

    fn run(mut self) -> Result<(), End> {
        let mut head_deadline: Option<Instant> = None;
        let mut continued = false;
        loop {
            let mut in_body = false;
            // Every complete request in the buffer, in order.
            loop {
                let head = match framing::parse_head(self.buf.bytes(), &self.config().limits) {
                    Ok(Some(head)) => head,
                    Ok(None) => break,
                    Err(r) => {
                        self.flush()?;
                        return Err(End::Refuse(r));
                    }
                };
                let Some((body, used)) = self.body(&head)? else {
                    in_body = true;
                    if head.expect_continue && !continued {
                        // The client waits for our go-ahead before the body.
                        continued = true;
                        self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                    }
                    break;
                };
                continued = false;
                head_deadline = None;
                let close = self.answer(head, body, used);
                if close {
                    self.flush()?;
                    return Ok(());
                }
            }
            self.flush()?;
            // Read more.
            if self.buf.is_empty() {
                self.wait_idle()?;
                head_deadline = Some(deadline(self.config().head_timeout));
            } else if in_body {
                // A body may take long; it must not stall.
                self.read_more(deadline(self.config().body_timeout))?;
            } else {
                let at =
                    *head_deadline.get_or_insert_with(|| deadline(self.shared.config.head_timeout));
                self.read_more(at)?;
            }
        }
    }

    /// The body of the request `head` heads, if all of it is in the buffer,
    /// and the bytes (head included) the request takes.
    fn body(&self, head: &Head) -> Result<Option<(Vec<u8>, usize)>, End> {
        let rest = &self.buf.bytes()[head.len..];
        match head.framing {
            Framing::None => Ok(Some((Vec::new(), head.len))),
            Framing::Length(n) if rest.len() >= n => Ok(Some((rest[..n].to_vec(), head.len + n))),
            Framing::Length(_) => Ok(None),
            Framing::Chunked => match framing::decode_chunked(rest, &self.config().limits) {
                Ok(Some((body, used))) => Ok(Some((body, head.len + used))),
                Ok(None) => Ok(None),
                Err(r) => Err(End::Refuse(r)),
            },
        }
    }

    /// Runs the handler for one request and queues its response; whether
    /// the connection closes after it.
    fn answer(&mut self, head: Head, body: Vec<u8>, used: usize) -> bool {
        self.buf.consume(used);
        let close = head.close || self.shared.stopping.get();
        let is_head = head.method == "HEAD";
        let keep_alive_1_0 = head.keep_alive_1_0;
        let req = Request::parsed(head.method, head.target, head.minor, head.headers, body);
        let router = &self.shared.router;
        let response = match catch_unwind(AssertUnwindSafe(|| router.handle(req))) {
            Ok(response) => response,
            // The connection's task is being cancelled: let it unwind.
            Err(p) if crate::suspend::is_cancelled(p.as_ref()) => resume_unwind(p),
            Err(p) => {
                crate::warnings::warn(format!(
                    "yieldfrom::http: a handler panicked: {} (answered 500; the server goes on)",
                    crate::warnings::panic_message(p.as_ref())
                ));
                Response::text("500 Internal Server Error\n").with_status(500)
            }
        };
        let out = &mut self.out;
        super::date::with(|date| response.write_to(out, date, close, keep_alive_1_0, is_head));
        close
    }

    /// Writes the queued responses, as one write.
    fn flush(&mut self) -> Result<(), End> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        // Usually the kernel takes it all at once: no timer needed.
        let written = match self.stream.try_write(&out) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(_) => return Err(End::Quiet),
        };
        if written < out.len() {
            let rest = &out[written..];
            let until = deadline(self.config().write_timeout);
            match timeout_at(until, || self.stream.write_all(rest)) {
                Ok(Ok(())) => {}
                // A client that does not read, or one that left.
                _ => return Err(End::Quiet),
            }
        }
        self.out = out;
        self.out.clear();
        Ok(())
    }

    /// Waits, holding no buffer, for the next request (or closes at the
    /// keep-alive timeout), then reads what came.
    fn wait_idle(&mut self) -> Result<(), End> {
        if self.buf.data.capacity() == 0 {
            self.buf.data = take_buffer();
        }
        if let Some(got) = self.try_fill() {
            return got;
        }
        let idle_until = deadline(self.config().keep_alive_timeout);
        loop {
            match timeout_at(idle_until, || self.stream.wait_readable()) {
                Ok(Ok(())) => {}
                _ => return Err(End::Quiet),
            }
            // Readable: the bytes are there (a wake is a hint, so try).
            self.buf.data = take_buffer();
            if let Some(got) = self.try_fill() {
                return got;
            }
        }
    }

    /// Reads what the kernel has into the (empty) buffer, without waiting:
    /// `None` if nothing is there, and then the buffer has gone back to the
    /// pool.
    fn try_fill(&mut self) -> Option<Result<(), End>> {
        match self.stream.try_read(self.buf.room()) {
            Ok(0) => Some(Err(End::Quiet)),
            Ok(n) => {
                self.buf.commit(n);
                Some(Ok(()))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                give_buffer(std::mem::take(&mut self.buf.data));
                None
            }
            Err(_) => Some(Err(End::Quiet)),
        }
    }

    /// Reads more of a request begun, by `until`; a head that is not
    /// complete then is answered 408, a body that stalls closes.
    fn read_more(&mut self, until: Instant) -> Result<(), End> {
        let stream = self.stream;
        let room = self.buf.room();
        let n = match timeout_at(until, || stream.read(room)) {
            Ok(Ok(0)) | Ok(Err(_)) => return Err(End::Quiet),
            Ok(Ok(n)) => n,
            Err(_elapsed) => {
                let head_done = matches!(
                    framing::parse_head(self.buf.bytes(), &self.config().limits),
                    Ok(Some(_))
                );
                return Err(if head_done || self.buf.is_empty() {
                    End::Quiet
                } else {
                    End::Refuse(Reject {
                        status: 408,
                        why: "the request head did not arrive in time",
                    })
                });
            }
        };
        self.buf.commit(n);
        Ok(())
    }
}
