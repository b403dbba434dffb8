use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use super::resolve::ToTarget;
use super::source::{Direction, Io};

/// A UDP socket whose sends and receives suspend the task.
///
/// ```
/// use yieldfrom::{run, Coro, net::UdpSocket};
/// run(Coro::new("main", || {
///     let a = UdpSocket::bind("127.0.0.1:0").unwrap();
///     let b = UdpSocket::bind("127.0.0.1:0").unwrap();
///     a.send_to(b"hello", b.local_addr().unwrap()).unwrap();
///     let mut buf = [0; 16];
///     let (n, from) = b.recv_from(&mut buf).unwrap();
///     assert_eq!((&buf[..n], from), (&b"hello"[..], a.local_addr().unwrap()));
/// }));
/// ```
pub struct UdpSocket {
    /// The socket, registered with the loop.
    io: Io<mio::net::UdpSocket>,
}

fn first_addr(addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))
}

/// The first address of `target`, a name resolved off the loop's thread.
fn first_target(target: impl ToTarget) -> io::Result<SocketAddr> {
    target
        .to_target()?
        .resolve()?
        .into_iter()
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))
}

impl UdpSocket {
    /// Binds to `addr`.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            io: Io::new(mio::net::UdpSocket::bind(first_addr(addr)?)?)?,
        })
    }

    /// Sends a datagram to `addr` (a name is resolved for each datagram,
    /// off the loop's thread: resolve once with
    /// [`lookup_host`](super::lookup_host) to send many).
    pub fn send_to(&self, buf: &[u8], addr: impl ToTarget) -> io::Result<usize> {
        let addr = first_target(addr)?;
        self.io.io(Direction::Write, |s| s.send_to(buf, addr))
    }

    /// Receives a datagram and who sent it.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.io(Direction::Read, |s| s.recv_from(buf))
    }

    /// Sets the default peer for `send` and `recv` (a name resolved off the
    /// loop's thread).
    pub fn connect(&self, addr: impl ToTarget) -> io::Result<()> {
        self.io.get_ref().connect(first_target(addr)?)
    }

    /// Sends to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.io(Direction::Write, |s| s.send(buf))
    }

    /// Receives from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.io(Direction::Read, |s| s.recv(buf))
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

opaque_debug!(UdpSocket);
