//! [`TlsStream`]: the small loop that serves rustls on a non-blocking
//! socket (see the [module docs](super)).

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};

use super::config::invalid;
use crate::net::{Direction, TcpStream};
use crate::task::suspend::on_loop_stack;

/// A TLS connection over a [`TcpStream`] whose reads, writes and handshake
/// suspend the task (Python: an `SSLTransport`'s stream).
pub struct TlsStream {
    /// The TCP socket under the TLS session.
    tcp: TcpStream,
    /// The TLS state: borrowed only while no task is suspended.
    conn: RefCell<rustls::Connection>,
}

/// The socket as rustls's `read_tls`/`write_tls` want it (each call one
/// non-blocking `recv`/`send`; `WouldBlock` goes back to the caller).
struct Socket<'a>(&'a mio::net::TcpStream);

impl Read for Socket<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Write for Socket<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }
    // rustls hands over every queued record at once: one `writev`, so that a
    // flight (ChangeCipherSpec and Finished, or a response's records) leaves
    // in one segment rather than one small write each, the later ones held
    // back by Nagle until the first is acknowledged.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        (&*self.0).write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A TLS alert or protocol failure as an I/O error: `InvalidData`, with
/// rustls's words (they say which check failed: "invalid peer
/// certificate: Expired", "... NotValidForName", "... UnknownIssuer").
fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}"))
}

impl TlsStream {
    /// Connects TLS over `tcp` as a client of `server_name` (its
    /// certificate must be valid for that name: a DNS name, or an IP
    /// address) and runs the handshake. Bound it with
    /// [`timeout`](crate::timeout): a peer that stalls mid-handshake
    /// otherwise holds the task as long as the socket stays open.
    pub fn connect(
        tcp: TcpStream,
        server_name: &str,
        config: Arc<ClientConfig>,
    ) -> io::Result<TlsStream> {
        Self::connect_boxed(tcp, server_name, config, None).map(|boxed| *boxed)
    }

    /// [`connect`](Self::connect), the stream on the heap, the handshake
    /// given up at `until` (`TimedOut`).
    pub(crate) fn connect_boxed(
        tcp: TcpStream,
        server_name: &str,
        config: Arc<ClientConfig>,
        until: Option<std::time::Instant>,
    ) -> io::Result<Box<TlsStream>> {
        let name = ServerName::try_from(server_name.to_string()).map_err(invalid)?;
        let stream = Self::boxed(tcp, || {
            rustls::ClientConnection::new(config, name).map(Into::into)
        })?;
        stream.handshake_until(until)?;
        Ok(stream)
    }

    /// Accepts TLS over `tcp` (a connection a listener accepted) and runs
    /// the server's side of the handshake. Bytes that are not a TLS
    /// ClientHello end it with an `InvalidData` error.
    pub fn accept(tcp: TcpStream, config: Arc<ServerConfig>) -> io::Result<TlsStream> {
        Self::accept_boxed(tcp, config, None).map(|boxed| *boxed)
    }

    /// [`accept`](Self::accept), the stream on the heap, the handshake
    /// given up at `until` (`TimedOut`): one deadline on the socket's
    /// waits, no timer callback (this is every HTTPS connection's start).
    pub(crate) fn accept_boxed(
        tcp: TcpStream,
        config: Arc<ServerConfig>,
        until: Option<std::time::Instant>,
    ) -> io::Result<Box<TlsStream>> {
        let stream = Self::boxed(tcp, || {
            rustls::ServerConnection::new(config).map(Into::into)
        })?;
        stream.handshake_until(until)?;
        Ok(stream)
    }

    /// A stream over `tcp` with the state `new` makes, built on the loop's
    /// stack straight into its box: rustls's state is over a kilobyte and
    /// is built through several frames by value, and the pages a task's
    /// stack touches once stay resident while it then waits idle.
    fn boxed(
        tcp: TcpStream,
        new: impl FnOnce() -> Result<rustls::Connection, rustls::Error>,
    ) -> io::Result<Box<TlsStream>> {
        on_loop_stack(move || {
            Ok(Box::new(TlsStream {
                tcp,
                conn: RefCell::new(new().map_err(tls_error)?),
            }))
        })
    }

    /// Runs the handshake to its end (writes what rustls has to send,
    /// waits for the peer's answer, feeds it, again), giving up at `until`
    /// with `TimedOut`. (The handshake's own writes are a few kilobytes, which a
    /// fresh socket's buffer takes without waiting.)
    fn handshake_until(&self, until: Option<std::time::Instant>) -> io::Result<()> {
        // The timeline says "socket N readable (TLS handshake)" meanwhile.
        let _label = self.tcp.waits_for(crate::reason::IoPurpose::TlsHandshake);
        loop {
            self.flush_tls()?;
            if !self.conn.borrow().is_handshaking() {
                return Ok(());
            }
            let read = self.tcp.read_op_until(until, |s| self.take_records(s))?;
            let Some(n) = read else {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the TLS handshake did not finish in time",
                ));
            };
            if self.process(n)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection during the TLS handshake",
                ));
            }
        }
    }

    /// Writes every encrypted byte rustls holds, waiting while the socket's
    /// buffer is full.
    fn flush_tls(&self) -> io::Result<()> {
        while self.conn.borrow().wants_write() {
            self.tcp.io_op(Direction::Write, |s| self.send_records(s))?;
        }
        Ok(())
    }

    /// Reads what the socket has into rustls (waiting for it if nothing)
    /// and processes it: the bytes read, 0 at the end of the stream. A
    /// record that fails is answered with an alert and is an error.
    fn read_tls(&self) -> io::Result<usize> {
        let n = self.tcp.io_op(Direction::Read, |s| self.take_records(s))?;
        self.process(n)
    }

    /// Processes the `n` bytes just fed to rustls.
    fn process(&self, n: usize) -> io::Result<usize> {
        // Decryption, and in a handshake the key exchange and signatures,
        // run on the loop's stack (`on_loop_stack`): the task's stack then
        // keeps only its own few pages while it waits idle. The switch costs
        // nanoseconds against the microseconds of the cryptography.
        let processed = on_loop_stack(|| self.conn.borrow_mut().process_new_packets());
        if let Err(e) = processed {
            // Tell the peer why (the alert rustls queued), then fail.
            let _ = self.flush_tls();
            return Err(tls_error(e));
        }
        Ok(n)
    }

    /// One `recv` into rustls's buffer of records (on the loop's stack, as
    /// every call into rustls here: see [`process`](Self::process)).
    fn take_records(&self, socket: &mio::net::TcpStream) -> io::Result<usize> {
        on_loop_stack(|| self.conn.borrow_mut().read_tls(&mut Socket(socket)))
    }

    /// One `writev` of the records rustls has queued.
    fn send_records(&self, socket: &mio::net::TcpStream) -> io::Result<usize> {
        on_loop_stack(|| self.conn.borrow_mut().write_tls(&mut Socket(socket)))
    }

    /// Encrypts (some of) `buf` into rustls's queue of records to send, on
    /// the loop's stack as decryption is.
    fn encrypt(&self, buf: &[u8]) -> io::Result<usize> {
        on_loop_stack(|| self.conn.borrow_mut().writer().write(buf))
    }

    /// Decrypted bytes into `buf` if any are there, `WouldBlock` if not; at
    /// the end of the socket's stream, what the reader makes of it.
    fn take_plaintext(&self, buf: &mut [u8], socket_ended: bool) -> io::Result<usize> {
        match on_loop_stack(|| self.conn.borrow_mut().reader().read(buf)) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && socket_ended => {
                Err(io::ErrorKind::UnexpectedEof.into())
            }
            other => other,
        }
    }

    /// [`read`](Self::read), giving up at `until`: `Ok(None)` when no
    /// bytes came by then.
    pub(crate) fn read_until(
        &self,
        buf: &mut [u8],
        until: std::time::Instant,
    ) -> io::Result<Option<usize>> {
        loop {
            match self.take_plaintext(buf, false) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return other.map(Some),
            }
            self.flush_tls()?;
            let read = self
                .tcp
                .read_op_until(Some(until), |s| self.take_records(s))?;
            match read {
                None => return Ok(None),
                Some(n) => {
                    if self.process(n)? == 0 {
                        return self.take_plaintext(buf, true).map(Some);
                    }
                }
            }
        }
    }

    /// Reads what has come, without waiting: `WouldBlock` if no decrypted
    /// byte is there and the socket has nothing either.
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.take_plaintext(buf, false) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return other,
            }
            let n = self.tcp.try_read_op(|s| self.take_records(s))?;
            if self.process(n)? == 0 {
                return self.take_plaintext(buf, true);
            }
        }
    }

    /// Waits until decrypted bytes or socket bytes are there, giving up at
    /// `until`: whether they are. Call it after [`try_read`](Self::try_read)
    /// said `WouldBlock`.
    pub(crate) fn wait_readable_until(&self, until: std::time::Instant) -> io::Result<bool> {
        let buffered = self
            .conn
            .borrow_mut()
            .process_new_packets()
            .map_err(tls_error)?
            .plaintext_bytes_to_read();
        if buffered > 0 {
            return Ok(true);
        }
        self.tcp.wait_readable_until(until)
    }

    /// Takes bytes to send without waiting for the socket: all of `buf`
    /// goes into rustls (within its buffer limit); what the socket does not
    /// take now stays queued for [`flush_pending`](Self::flush_pending).
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        let n = self.encrypt(buf)?;
        while self.conn.borrow().wants_write() {
            let sent = self.send_records(self.tcp.mio());
            match sent {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Whether encrypted bytes wait to be sent.
    pub(crate) fn has_pending_write(&self) -> bool {
        self.conn.borrow().wants_write()
    }

    /// Sends every queued encrypted byte, waiting while the socket is full.
    pub(crate) fn flush_pending(&self) -> io::Result<()> {
        self.flush_tls()
    }

    /// Reads some decrypted bytes; `Ok(0)` is the end of the stream, which
    /// the peer announced with `close_notify`. A peer that closes the
    /// socket without it gives `UnexpectedEof` (a truncation attack would
    /// look like a short message otherwise).
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.take_plaintext(buf, false) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return other,
            }
            // Records to send first (a key update, an alert).
            self.flush_tls()?;
            if self.read_tls()? == 0 {
                // The socket ended: the reader says whether cleanly.
                return self.take_plaintext(buf, true);
            }
        }
    }

    /// Writes some bytes: encrypted into rustls's buffer, then sent,
    /// waiting while the socket's buffer is full.
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        loop {
            let n = self.encrypt(buf)?;
            // rustls takes nothing while its buffer is full (another task,
            // reading, may be sending it): send it, then offer again.
            self.flush_tls()?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
        }
    }

    /// Writes all of `buf`.
    pub fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf)? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }

    /// Nothing to flush: writes are sent before they return.
    pub fn flush(&self) -> io::Result<()> {
        Ok(())
    }

    /// Ends the write side: sends `close_notify`, then shuts the socket's
    /// write side (the peer reads the end of the stream).
    pub fn shutdown(&self) -> io::Result<()> {
        self.conn.borrow_mut().send_close_notify();
        self.flush_tls()?;
        self.tcp.shutdown(std::net::Shutdown::Write)
    }

    /// Says `close_notify` and closes both directions, without waiting:
    /// what the socket does not take at once is dropped (for a `Drop`, or a
    /// connection that is being abandoned).
    pub(crate) fn close_now(&self) {
        self.conn.borrow_mut().send_close_notify();
        while self.conn.borrow().wants_write() {
            let sent = self.send_records(self.tcp.mio());
            if !matches!(sent, Ok(n) if n > 0) {
                break;
            }
        }
        let _ = self.tcp.shutdown(std::net::Shutdown::Both);
    }

    /// The `tls-server-end-point` channel binding (RFC 5929): the hash of
    /// the server's certificate, by the hash of its signature algorithm
    /// (SHA-256 for MD5 and SHA-1). SCRAM-SHA-256-PLUS binds the login to it,
    /// so a man in the middle with another certificate cannot relay it.
    pub(crate) fn tls_server_end_point(&self) -> io::Result<Vec<u8>> {
        let conn = self.conn.borrow();
        let leaf = conn
            .peer_certificates()
            .and_then(|chain| chain.first())
            .ok_or_else(|| invalid("the server sent no certificate"))?;
        let algorithm = end_point_digest(leaf).ok_or_else(|| {
            invalid("the server certificate's signature algorithm has no channel-binding hash")
        })?;
        Ok(ring::digest::digest(algorithm, leaf).as_ref().to_vec())
    }

    /// The TCP connection under it.
    pub fn get_ref(&self) -> &TcpStream {
        &self.tcp
    }

    /// The protocol ALPN settled on, if any (`b"http/1.1"`).
    pub fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.conn.borrow().alpn_protocol().map(<[u8]>::to_vec)
    }

    /// The TLS version in use (`TLSv1_3`, `TLSv1_2`), once handshaken.
    pub fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.conn.borrow().protocol_version()
    }

    /// The server name the client asked for (SNI), on the server's side.
    pub fn server_name(&self) -> Option<String> {
        match &*self.conn.borrow() {
            rustls::Connection::Server(s) => s.server_name().map(str::to_string),
            rustls::Connection::Client(_) => None,
        }
    }

    /// The peer's certificate chain, leaf first (DER), if it sent one.
    pub fn peer_certificates(&self) -> Option<Vec<Vec<u8>>> {
        self.conn
            .borrow()
            .peer_certificates()
            .map(|chain| chain.iter().map(|c| c.to_vec()).collect())
    }
}

/// The digest RFC 5929 names for a certificate (DER): the hash of its
/// signature algorithm, SHA-256 in place of MD5 and SHA-1; `None` for an
/// algorithm without one (Ed25519, RSA-PSS's parameters are not read).
fn end_point_digest(cert: &[u8]) -> Option<&'static ring::digest::Algorithm> {
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm
    // SEQUENCE { algorithm OID, parameters }, signature BIT STRING }
    let (tag, body, _) = der(cert)?;
    if tag != 0x30 {
        return None;
    }
    let (_tbs, _, rest) = der(body).filter(|t| t.0 == 0x30)?;
    let (_, algorithm_id, _) = der(rest).filter(|t| t.0 == 0x30)?;
    let (_, oid, _) = der(algorithm_id).filter(|t| t.0 == 0x06)?;
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01]; // 1.2.840.113549.1.1
    const ECDSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04]; // 1.2.840.10045.4
    match oid {
        [r @ .., last] if r == RSA => match last {
            4 | 5 | 11 => Some(&ring::digest::SHA256), // md5, sha1, sha256 with RSA
            12 => Some(&ring::digest::SHA384),
            13 => Some(&ring::digest::SHA512),
            _ => None,
        },
        [e @ .., 1] if e == ECDSA => Some(&ring::digest::SHA256), // ecdsa-with-SHA1
        [e @ .., 3, n] if e == ECDSA => match n {
            2 => Some(&ring::digest::SHA256),
            3 => Some(&ring::digest::SHA384),
            4 => Some(&ring::digest::SHA512),
            _ => None,
        },
        _ => None,
    }
}

/// One DER element at the front of `input`: its tag, its contents, and
/// what follows it.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |l, &b| (l << 8) | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("tcp", &self.tcp)
            .field("protocol", &self.protocol_version())
            .finish()
    }
}

crate::net::std_io!(TlsStream);

#[cfg(test)]
mod tests;
