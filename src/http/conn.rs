//! One connection: read, frame, route, answer, keep alive (one task each).
//!
//! The loop of a connection: serve every complete request in the read
//! buffer, in order, appending each response to one output buffer; write
//! that batch with one `write`; then read more, under the timeout the
//! connection's state calls for (idle between requests, the head of a
//! request, a stalled body). An idle connection holds no buffer: its read
//! buffer goes back to this thread's pool until bytes arrive.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::Rc;
use std::time::Instant;

use super::body::{self, Deferred, InBuf, Reader, give_buffer, take_buffer};
use super::chunked;
use super::config::{Config, Count, Shared};
use super::framing::{self, Head, Reject};
use super::request::Request;
use super::response::{Response, reason};
use super::transport::Transport;
use crate::task::suspend::Waker;
use crate::time::{now, timeout_at};

/// How a connection that was served ends.
enum Closing {
    /// The client asked to close, and all it sent has been read.
    ClientDone,
    /// We close (a shutdown, a body not read): more may be on its way.
    MayHaveMore,
}

/// Why a connection ends.
enum End {
    /// Closed quietly (the peer left, idle too long, a stall).
    Quiet,
    /// Refused with a status; the connection closes after it.
    Refuse(Reject),
}

/// Serves `stream` until it closes.
pub(crate) fn serve(stream: Transport, shared: &Shared) {
    let _ = stream.tcp().set_nodelay(true);
    let stream = Rc::new(stream);
    let slot = shared.idle.borrow_mut().add();
    let _slot = IdleSlot(shared, slot);
    let end = Connection {
        stream: &stream,
        shared,
        slot,
        buf: InBuf::default(),
        out: Vec::new(),
        chunked: None,
        body_began: None,
        client_closes: false,
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
        // The client asked to close, and everything it sent was read: it
        // sends nothing more (RFC 9112 §9.6), so no reset can come of
        // closing now, and there is nothing to wait for (nginx's
        // `lingering_close on` heuristic).
        Ok(Closing::ClientDone) => {}
        // Closing after a response: the client may have sent more.
        Ok(Closing::MayHaveMore) => linger(&stream),
        Err(End::Quiet) => {}
    }
    let _ = stream.shutdown_write();
}

/// A connection's place in the server's list of idle wakers, given back
/// when it ends.
struct IdleSlot<'a>(&'a Shared, usize);

impl Drop for IdleSlot<'_> {
    fn drop(&mut self) {
        self.0.idle.borrow_mut().remove(self.1);
    }
}

/// Closes our side, then reads and drops what the client still sends, for
/// a moment (RFC 9112 §9.6): closing with unread bytes makes the kernel
/// reset the connection, and a reset can destroy the response before the
/// client has read it.
pub(crate) fn linger(stream: &Transport) {
    let _ = stream.shutdown_write();
    let mut sink = [0u8; 1024];
    let mut budget = 256 * 1024;
    // One deadline on the reads (no timer callback: every closed
    // connection passes here).
    let until = deadline(std::time::Duration::from_secs(1));
    while budget > 0 {
        match stream.read_until(&mut sink, until) {
            Ok(Some(0) | None) | Err(_) => break,
            Ok(Some(n)) => budget -= n.min(budget),
        }
    }
}

/// The response to a refused request.
fn refusal(r: Reject) -> Response {
    Response::text(format!("{} {}: {}\n", r.status, reason(r.status), r.why)).with_status(r.status)
}

fn deadline(after: std::time::Duration) -> Instant {
    crate::event_loop::timer::deadline(now(), after)
}

struct Connection<'a> {
    /// The connection's socket.
    stream: &'a Rc<Transport>,
    /// What every connection of the server shares.
    shared: &'a Shared,
    /// Where this connection leaves its waker while idle (for shutdown).
    slot: usize,
    /// Bytes read and not yet consumed (no memory while idle).
    buf: InBuf,
    /// Responses not yet written.
    out: Vec<u8>,
    /// The decoder of the chunked body being read, kept between reads.
    chunked: Option<chunked::Decoder>,
    /// When the body being read began to be waited for (the minimum data
    /// rate counts from there).
    body_began: Option<Instant>,
    /// The last request answered asked to close (`Connection: close`, or
    /// HTTP/1.0 without keep-alive), and its body was read whole.
    client_closes: bool,
}

impl Connection<'_> {
    fn config(&self) -> &Config {
        &self.shared.config
    }

    fn run(mut self) -> Result<Closing, End> {
        let mut head_deadline: Option<Instant> = None;
        loop {
            // The head's length, when a request's body is being read.
            let mut in_body = None;
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
                let limits = self.config().limits;
                let progress = body::advance(
                    &mut self.buf,
                    head.len,
                    head.framing,
                    &limits,
                    &mut self.chunked,
                );
                let close = match progress {
                    Ok(Some((body, used))) => {
                        self.buf.consume(used);
                        self.body_began = None;
                        self.answer(head, body)
                    }
                    // The client waits for our go-ahead: the handler gives
                    // it if it wants the body.
                    Ok(None) if head.expect_continue => self.answer_deferred(head)?,
                    Ok(None) => {
                        in_body = Some(head.len);
                        break;
                    }
                    Err(r) => {
                        self.flush()?;
                        return Err(End::Refuse(r));
                    }
                };
                head_deadline = None;
                if close {
                    self.flush()?;
                    return Ok(if self.client_closes && self.buf.is_empty() {
                        Closing::ClientDone
                    } else {
                        Closing::MayHaveMore
                    });
                }
            }
            self.flush()?;
            // Read more.
            if self.buf.is_empty() {
                self.wait_idle()?;
                head_deadline = Some(deadline(self.config().head_timeout));
            } else if let Some(head_len) = in_body {
                // A body may take long; it must not stall, nor trickle.
                self.read_body(head_len)?;
            } else {
                let at =
                    *head_deadline.get_or_insert_with(|| deadline(self.shared.config.head_timeout));
                self.read_more(at)?;
            }
        }
    }

    /// Runs the handler for one request whose body is read, and queues its
    /// response; whether the connection closes after it.
    fn answer(&mut self, head: Head, body: Vec<u8>) -> bool {
        let (is_head, keep_alive_1_0) = (head.method == "HEAD", head.keep_alive_1_0);
        let asked_close = head.close;
        let req = Request::parsed(head.method, head.fields, head.minor, body);
        let response = self.handle(req);
        self.client_closes = asked_close;
        // (A shutdown may have begun while the handler ran.)
        let close = asked_close || self.shared.stopping.get();
        self.queue(&response, close, keep_alive_1_0, is_head);
        close
    }

    /// Runs the handler for a request whose client waits for `100 Continue`
    /// before sending the body: the request reads it (and sends the
    /// go-ahead) only if the handler asks. Whether the connection closes
    /// after the response.
    fn answer_deferred(&mut self, head: Head) -> Result<bool, End> {
        // The go-ahead goes straight to the socket: what is queued first.
        self.flush()?;
        let config = &self.shared.config;
        let deferred = Deferred::new(Reader {
            stream: self.stream.clone(),
            buf: std::mem::take(&mut self.buf),
            head_len: head.len,
            framing: head.framing,
            limits: config.limits,
            body_timeout: config.body_timeout,
            write_timeout: config.write_timeout,
            min_rate: config.min_body_rate,
            chunked: self.chunked.take(),
            used: None,
        });
        let (is_head, keep_alive_1_0) = (head.method == "HEAD", head.keep_alive_1_0);
        let asked_close = head.close;
        // The body may not have been read: close with a linger.
        self.client_closes = false;
        let req = Request::parsed(head.method, head.fields, head.minor, Vec::new())
            .with_deferred_body(deferred.clone());
        let mut response = self.handle(req);
        let mut close = asked_close || self.shared.stopping.get();
        match deferred.take_back() {
            Some((reader, read)) => {
                self.buf = reader.buf;
                match read {
                    Some(Ok(())) => {
                        let used = reader.used.expect("a body read says how far it went");
                        self.buf.consume(used);
                    }
                    // The body may still come: it cannot be told from a
                    // next request.
                    None => close = true,
                    Some(Err(e)) if e.is_dead() => return Err(End::Quiet),
                    Some(Err(e)) => {
                        let r = e.refusal().expect("a live body error is a refusal");
                        response = refusal(r);
                        close = true;
                    }
                }
            }
            // Another task is still reading the body.
            None => close = true,
        }
        self.queue(&response, close, keep_alive_1_0, is_head);
        Ok(close)
    }

    /// The handler's response to `req`: 503 past the in-flight cap, 500 if
    /// it panics.
    fn handle(&self, req: Request) -> Response {
        let shared = self.shared;
        if shared.in_flight.get() >= shared.config.max_in_flight {
            return Response::text("503 Service Unavailable: too many requests in flight\n")
                .with_status(503)
                .with_static_header("Retry-After", "1");
        }
        let _in_flight = Count::new(&shared.in_flight);
        let router = &shared.router;
        match catch_unwind(AssertUnwindSafe(|| router.handle(req))) {
            Ok(response) => response,
            // The connection's task is being cancelled: let it unwind.
            Err(p) if crate::task::suspend::is_cancelled(p.as_ref()) => resume_unwind(p),
            Err(p) => {
                use crate::warnings::{Report, ReportKind, panic_message, report};
                let exception = panic_message(p.as_ref());
                report(
                    Report::new(
                        ReportKind::HandlerPanicked,
                        format!(
                            "yieldfrom::http: a handler panicked: {exception} (answered 500; \
                             the server goes on)"
                        ),
                    )
                    .exception(exception),
                );
                Response::text("500 Internal Server Error\n").with_status(500)
            }
        }
    }

    /// Appends `response` to the batch to write.
    fn queue(&mut self, response: &Response, close: bool, keep_alive_1_0: bool, is_head: bool) {
        let out = &mut self.out;
        super::date::with(|date| response.write_to(out, date, close, keep_alive_1_0, is_head));
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
        if written < out.len() || self.stream.has_pending_write() {
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
            // A server shutting down closes idle connections at once: it
            // wakes them through the waker left here.
            if self.shared.stopping.get() {
                return Err(End::Quiet);
            }
            self.shared
                .idle
                .borrow_mut()
                .set(self.slot, Some(Waker::current()));
            let waited = self.stream.wait_readable_until(idle_until);
            self.shared.idle.borrow_mut().set(self.slot, None);
            match waited {
                Ok(true) => {}
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

    /// Reads more of the body of the request whose head is
    /// `buf[..head_len]`: a body that stalls for the body timeout closes;
    /// one that comes slower than the minimum data rate is answered 408.
    fn read_body(&mut self, head_len: usize) -> Result<(), End> {
        let config = &self.shared.config;
        let stalled = deadline(config.body_timeout);
        let too_slow = config.min_body_rate.map(|rate| {
            let began = *self.body_began.get_or_insert_with(now);
            rate.deadline(
                began,
                body::received(&self.buf, head_len, self.chunked.as_ref()),
            )
        });
        let until = too_slow.map_or(stalled, |slow| slow.min(stalled));
        if self.chunked.is_some() {
            // Chunked wire is dropped as it is decoded, so the buffer stays
            // small while big reads make for few of them. (A Content-Length
            // body stays whole in the buffer until complete: grown in
            // `CHUNK`s, it is cheaper than in big zeroed steps.)
            self.buf.reserve_room(body::BODY_READ);
        }
        match self.read_more(until) {
            Err(End::Quiet) if too_slow.is_some_and(|slow| slow <= stalled && now() >= slow) => {
                Err(End::Refuse(Reject {
                    status: 408,
                    why: "the request body arrived too slowly",
                }))
            }
            Ok(()) => {
                // A read that finds bytes waiting does not suspend: a body
                // arriving as fast as it is decoded would hold the loop
                // from every other connection until its end (tokio's
                // cooperative budget is the general form of this).
                crate::time::yield_now();
                Ok(())
            }
            other => other,
        }
    }

    /// Reads more of a request begun, by `until`; a head that is not
    /// complete then is answered 408, a body that stalls closes.
    fn read_more(&mut self, until: Instant) -> Result<(), End> {
        let stream = self.stream;
        let room = self.buf.room();
        let n = match stream.read_until(room, until) {
            Ok(Some(0)) | Err(_) => return Err(End::Quiet),
            Ok(Some(n)) => n,
            Ok(None) => {
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
