use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use super::resolve::{HAPPY_EYEBALLS_DELAY, ToTarget};
use super::source::{Direction, Io, std_io, sys, write_all_with};
use crate::reason::IoPurpose;
use crate::time::timeout;

/// A TCP connection whose reads and writes suspend the task (Python: a
/// stream's transport).
///
/// Methods take `&self`, so one task can read while another writes (share it
/// in an `Rc`).
pub struct TcpStream {
    /// The socket, registered with the loop.
    io: Io<mio::net::TcpStream>,
}

impl TcpStream {
    pub(crate) fn from_mio(stream: mio::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: Io::new(stream)?,
        })
    }

    /// Names what this connection is ("PostgreSQL at ..."), for the
    /// stepper and the explorer; `what` is called only on an instrumented
    /// loop.
    pub(crate) fn describe(&self, what: impl FnOnce() -> String) {
        self.io.describe(what)
    }

    /// Connects to `addr` (asyncio's `loop.create_connection`): an address,
    /// `(host, port)` or `"host:port"`. A name is resolved off the loop's
    /// thread (see [`lookup_host`](super::lookup_host)); its addresses are
    /// tried with Happy Eyeballs (RFC 8305): the first at once, the next
    /// when the one before has failed or has not connected within
    /// [`HAPPY_EYEBALLS_DELAY`] (250 ms), the first to connect wins, and
    /// the other attempts are closed. The task suspends throughout.
    pub fn connect(addr: impl ToTarget) -> io::Result<TcpStream> {
        let addrs = addr.to_target()?.resolve()?;
        Self::connect_any(addrs, HAPPY_EYEBALLS_DELAY)
    }

    /// Happy Eyeballs over `addrs`, each attempt `delay` after the one
    /// before (at once after a failure); the last failure if all fail.
    fn connect_any(addrs: Vec<SocketAddr>, delay: Duration) -> io::Result<TcpStream> {
        match addrs[..] {
            [] => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "no address to connect to",
                ));
            }
            [one] => return Self::connect_one(one),
            _ => {}
        }
        /// The attempts still running are cancelled on every way out (a
        /// winner, a timeout or a cancellation of the caller).
        struct Attempts(Vec<crate::Task<()>>);
        impl Drop for Attempts {
            fn drop(&mut self) {
                for attempt in &self.0 {
                    attempt.cancel();
                }
            }
        }
        let (tx, mut rx) = crate::sync::channel::<io::Result<TcpStream>>(addrs.len());
        let mut attempts = Attempts(Vec::with_capacity(addrs.len()));
        let mut next = addrs.into_iter().peekable();
        let mut running = 0;
        loop {
            if let Some(addr) = next.next() {
                let tx = tx.clone();
                attempts.0.push(crate::spawn(crate::Coro::new(
                    "happy eyeballs attempt",
                    move || {
                        // A loser's stream, sent after the winner returned,
                        // is dropped (closed) with the channel.
                        let _ = tx.send(Self::connect_one(addr));
                    },
                )));
                running += 1;
            }
            let outcome = if next.peek().is_some() {
                match timeout(delay, || rx.recv()) {
                    Ok(outcome) => outcome,
                    Err(_) => continue, // no answer yet: the next one beside it
                }
            } else {
                rx.recv()
            };
            match outcome {
                Some(Ok(stream)) => return Ok(stream),
                Some(Err(e)) => {
                    running -= 1;
                    if running == 0 && next.peek().is_none() {
                        return Err(e); // the last to fail
                    }
                }
                None => unreachable!("this function holds a sender"),
            }
        }
    }

    fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::from_mio(mio::net::TcpStream::connect(addr)?)?;
        stream.describe(|| format!("connection to {addr}"));
        // A non-blocking connect finishes when the socket becomes writable;
        // then the socket's pending error (if any) says how it went.
        // (A cancelled connect drops the stream: its label goes with it.)
        stream.io.set_purpose(IoPurpose::Connect);
        let connected = (|| {
            loop {
                stream.io.wait(Direction::Write)?;
                if let Some(e) = stream.io.get_ref().take_error()? {
                    return Err(e);
                }
                match stream.io.get_ref().peer_addr() {
                    Ok(_) => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => continue,
                    Err(e) => return Err(e),
                }
            }
        })();
        stream.io.set_purpose(IoPurpose::Data);
        connected.map(|()| stream)
    }

    /// Connects, giving up with `TimedOut` after `limit`, which covers the
    /// name's resolution too.
    pub fn connect_timeout(addr: impl ToTarget, limit: Duration) -> io::Result<TcpStream> {
        timeout(limit, || Self::connect(addr))
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")))
    }

    /// Reads some bytes; `Ok(0)` is end of stream.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_stream(buf, sys::recv)
    }

    /// Labels this socket's waits as part of `purpose` until the guard
    /// goes (a TLS handshake), for the timeline.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))] // used by TLS
    pub(crate) fn waits_for(&self, purpose: IoPurpose) -> impl Drop + '_ {
        let before = self.io.set_purpose(purpose);
        Relabel(&self.io, before)
    }

    /// Runs `op` on the socket until it does not return `WouldBlock`,
    /// suspending for readiness in `dir` in between (for protocol layers
    /// that read and write the socket themselves: TLS).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))] // used by TLS
    pub(crate) fn io_op<R>(
        &self,
        dir: Direction,
        op: impl FnMut(&mio::net::TcpStream) -> io::Result<R>,
    ) -> io::Result<R> {
        self.io.io(dir, op)
    }

    /// The socket itself (for protocol layers that write without waiting).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))] // used by TLS
    pub(crate) fn mio(&self) -> &mio::net::TcpStream {
        self.io.get_ref()
    }

    /// Runs the read `op` (into a buffer of its own) until it does not
    /// return `WouldBlock`, waiting for readability in between, giving up
    /// at `until` (`Ok(None)`).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))] // used by TLS
    pub(crate) fn read_op_until(
        &self,
        until: Option<std::time::Instant>,
        op: impl FnMut(&mio::net::TcpStream) -> io::Result<usize>,
    ) -> io::Result<Option<usize>> {
        self.io.read_op_until(until, op)
    }

    /// Runs the read `op` once, without waiting: `WouldBlock` if nothing.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))] // used by TLS
    pub(crate) fn try_read_op(
        &self,
        op: impl FnOnce(&mio::net::TcpStream) -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.io.try_read_op(op)
    }

    /// Reads what the kernel has, without waiting: `WouldBlock` if nothing.
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_read_stream(buf, sys::recv)
    }

    /// Writes what the kernel takes, without waiting: `WouldBlock` if nothing.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        sys::send(self.io.get_ref(), buf)
    }

    /// Waits for bytes to read after [`try_read`](Self::try_read) returned
    /// `WouldBlock` (a connection waiting idle holds no buffer meanwhile),
    /// giving up at `until`: whether bytes (or the end of the stream) came
    /// first.
    pub(crate) fn wait_readable_until(&self, until: std::time::Instant) -> io::Result<bool> {
        self.io.park_after_would_block_until(Direction::Read, until)
    }

    /// As [`read`](Self::read), giving up at `until`: `Ok(None)` when no
    /// bytes came by then.
    pub(crate) fn read_until(
        &self,
        buf: &mut [u8],
        until: std::time::Instant,
    ) -> io::Result<Option<usize>> {
        self.io.read_stream_until(buf, until, sys::recv)
    }

    /// Writes some bytes (all of them, unless the kernel's buffer is full).
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.io(Direction::Write, |s| sys::send(s, buf))
    }

    /// Writes all of `buf`, suspending while the kernel's buffer is full.
    pub fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        write_all_with(buf, |b| self.write(b))
    }

    /// Nothing to flush: writes go straight to the kernel.
    pub fn flush(&self) -> io::Result<()> {
        Ok(())
    }

    /// Shuts down the read side, the write side (a half-close: the peer reads
    /// end of stream), or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Disables Nagle's algorithm (small writes go out at once).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(on)
    }

    /// The loop's number for this socket (shown in traces).
    pub fn token(&self) -> usize {
        self.io.token()
    }
}

std_io!(TcpStream);

/// Puts a socket's wait label back when dropped.
struct Relabel<'a, S: mio::event::Source>(&'a Io<S>, IoPurpose);

impl<S: mio::event::Source> Drop for Relabel<'_, S> {
    fn drop(&mut self) {
        self.0.set_purpose(self.1);
    }
}

impl std::os::fd::AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

/// A listening TCP socket (Python: the server socket of `start_server`).
pub struct TcpListener {
    /// The listening socket, registered with the loop.
    io: Io<mio::net::TcpListener>,
    /// Whether the out-of-descriptors warning was printed.
    warned: std::cell::Cell<bool>,
}

impl TcpListener {
    /// Binds to `addr` (with `SO_REUSEADDR`) and listens with a backlog of
    /// [`DEFAULT_BACKLOG`](Self::DEFAULT_BACKLOG).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        Self::bind_with_backlog(addr, Self::DEFAULT_BACKLOG)
    }

    /// The accept queue's length by default: 4096, capped by the kernel's
    /// `net.core.somaxconn`. (mio and std listen with 128: a burst of
    /// connections larger than that makes the kernel drop SYNs, and the
    /// clients retry only after one second, then three.)
    pub const DEFAULT_BACKLOG: i32 = 4096;

    /// Binds to `addr` with an accept queue of `backlog` connections.
    pub fn bind_with_backlog(addr: impl ToSocketAddrs, backlog: i32) -> io::Result<TcpListener> {
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to bind to");
        for addr in addr.to_socket_addrs()? {
            match mio::net::TcpListener::bind(addr) {
                Ok(l) => {
                    use std::os::fd::AsRawFd;
                    // Listening again on a listening socket sets a new backlog (Linux).
                    // SAFETY: listen on a socket we own; no memory is involved.
                    if unsafe { libc::listen(l.as_raw_fd(), backlog) } != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    let listener = TcpListener {
                        io: Io::new(l)?,
                        warned: Default::default(),
                    };
                    listener.io.describe(|| {
                        let bound = listener.io.get_ref().local_addr();
                        format!("listener {}", bound.unwrap_or(addr))
                    });
                    return Ok(listener);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Binds to `addr` with `SO_REUSEPORT` (and `SO_REUSEADDR`), so that
    /// several listeners, one per loop, share the port: the kernel spreads
    /// new connections over them by a hash of the client's address and
    /// port (see [`run_loops`](crate::run_loops) for the caveats).
    pub fn bind_reuseport(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to bind to");
        for addr in addr.to_socket_addrs()? {
            match reuseport_socket(addr) {
                Ok(socket) => {
                    socket.listen(Self::DEFAULT_BACKLOG)?;
                    let std: std::net::TcpListener = socket.into();
                    let listener = TcpListener {
                        io: Io::new(mio::net::TcpListener::from_std(std))?,
                        warned: Default::default(),
                    };
                    listener.io.describe(|| {
                        let bound = listener.io.get_ref().local_addr();
                        format!("listener {}", bound.unwrap_or(addr))
                    });
                    return Ok(listener);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Waits for the next connection.
    ///
    /// Out of file descriptors (EMFILE/ENFILE): the pending connection stays
    /// in the kernel's backlog and, with edge-triggered readiness, no new
    /// event would come for it; retrying at once would spin. So `accept`
    /// warns once per listener, waits 100 ms, and tries again, until a
    /// descriptor is free.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        loop {
            match self.io.io(Direction::Read, |l| l.accept()) {
                Ok((stream, addr)) => {
                    let stream = TcpStream::from_mio(stream)?;
                    stream.describe(|| format!("client {addr}"));
                    return Ok((stream, addr));
                }
                Err(e) if is_out_of_fds(&e) => {
                    if !self.warned.replace(true) {
                        crate::warnings::warn(format!(
                            "yieldfrom: accept() on {}: {e}; backing off and retrying every 100 ms \
                             (raise the limit with `ulimit -n`)",
                            self.local_addr().map_or("?".into(), |a| a.to_string())
                        ));
                    }
                    crate::time::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The bound address (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

pub(crate) fn is_out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

opaque_debug!(TcpStream, TcpListener);

/// A non-blocking TCP socket bound to `addr` with `SO_REUSEADDR` and
/// `SO_REUSEPORT`, not listening yet.
pub(crate) fn reuseport_socket(addr: SocketAddr) -> io::Result<socket2::Socket> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// A port held for listeners bound with `SO_REUSEPORT`: a socket bound to
/// it that does not listen (so it takes no connections), dropped once the
/// real listeners are bound.
pub struct ReservedPort {
    /// The address held (its port is the one to bind).
    addr: SocketAddr,
    /// The bound, non-listening socket that holds the port until dropped.
    _socket: socket2::Socket,
}

impl ReservedPort {
    /// The address, with the port the kernel chose if `0` was asked for.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl std::fmt::Debug for ReservedPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReservedPort({})", self.addr)
    }
}

/// Binds `addr` with `SO_REUSEPORT` without listening, so that loops can
/// then bind [`TcpListener::bind_reuseport`] to one known port, port `0`
/// included (each would get a port of its own otherwise). Needs no loop.
///
/// ```
/// let port = yieldfrom::net::reserve_port("127.0.0.1:0").unwrap();
/// assert_ne!(port.addr().port(), 0);
/// ```
pub fn reserve_port(addr: impl ToSocketAddrs) -> io::Result<ReservedPort> {
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to bind to");
    for addr in addr.to_socket_addrs()? {
        match reuseport_socket(addr) {
            Ok(socket) => {
                let addr = socket
                    .local_addr()?
                    .as_socket()
                    .ok_or_else(|| io::Error::other("not an IP socket"))?;
                return Ok(ReservedPort {
                    addr,
                    _socket: socket,
                });
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}
