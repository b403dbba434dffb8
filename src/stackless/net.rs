//! A TCP stream and listener whose operations are futures (the twin of
//! `net/`): try the operation; on `WouldBlock` give the task's waker to the
//! socket's slot for that direction and return `Pending`; the loop wakes it
//! on the next readiness event. Dropping a socket deregisters it and frees
//! its slot.

use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::rc::Weak;
use std::task::{Context, Poll, Waker};

use mio::{Interest, Token};

use super::event_loop::{Core, current_weak};
use super::suspend::suspend;
use crate::task::suspend::Direction;

/// A `mio` source registered with the loop that was running when it was made.
struct Source<S: mio::event::Source> {
    /// The mio source.
    io: S,
    /// Its slot in the loop's reactor.
    token: Token,
    /// The loop it is registered with (weakly: the loop may go first).
    lp: Weak<Core>,
}

impl<S: mio::event::Source> Source<S> {
    fn new(mut io: S) -> io::Result<Source<S>> {
        let lp = current_weak("a stackless socket");
        let core = lp.upgrade().expect("the running loop is alive");
        let token = core.reactor.borrow_mut().open();
        let registered = core.poll.borrow().registry().register(
            &mut io,
            token,
            Interest::READABLE | Interest::WRITABLE,
        );
        if let Err(e) = registered {
            core.reactor.borrow_mut().close(token);
            return Err(e);
        }
        Ok(Source { io, token, lp })
    }

    /// One poll of `op`: ready, or parked with the waker for `dir`.
    fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        op: impl FnOnce(&S) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        match op(&self.io) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let Some(core) = self.lp.upgrade() else {
                    return Poll::Ready(Err(io::Error::other(
                        "the event loop this socket belongs to is gone",
                    )));
                };
                suspend(cx, |waker: Waker| {
                    let mut reactor = core.reactor.borrow_mut();
                    if let Some(slot) = reactor.slot(self.token) {
                        match dir {
                            Direction::Read => slot.read = Some(waker),
                            Direction::Write => slot.write = Some(waker),
                        }
                    }
                })
            }
            other => Poll::Ready(other),
        }
    }
}

impl<S: mio::event::Source> Drop for Source<S> {
    fn drop(&mut self) {
        if let Some(core) = self.lp.upgrade() {
            let _ = core.poll.borrow().registry().deregister(&mut self.io);
            core.reactor.borrow_mut().close(self.token);
        }
    }
}

/// A TCP connection whose `read`/`write_all` are `async`.
///
/// ```
/// use yieldfrom::stackless::{run, spawn, TcpListener, TcpStream};
/// let echoed = run(async {
///     let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
///     let addr = listener.local_addr().unwrap();
///     let server = spawn(async move {
///         let conn = listener.accept().await.unwrap();
///         let mut buf = [0; 5];
///         let n = conn.read(&mut buf).await.unwrap();
///         conn.write_all(&buf[..n]).await.unwrap();
///     });
///     let client = TcpStream::connect(addr).await.unwrap();
///     client.write_all(b"hello").await.unwrap();
///     let mut buf = [0; 5];
///     let n = client.read(&mut buf).await.unwrap();
///     server.await;
///     buf[..n].to_vec()
/// });
/// assert_eq!(echoed, b"hello");
/// ```
pub struct TcpStream(Source<mio::net::TcpStream>);

impl TcpStream {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let s = TcpStream(Source::new(mio::net::TcpStream::connect(addr)?)?);
        poll_fn(|cx| {
            s.0.poll_io(cx, Direction::Write, |io| match io.peer_addr() {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Err(e) => Err(e),
            })
        })
        .await?;
        Ok(s)
    }

    /// Reads some bytes; `Ok(0)` is end of stream.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.0.poll_io(cx, Direction::Read, |mut io| io.read(buf))).await
    }

    /// Writes all of `buf`.
    pub async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n =
                poll_fn(|cx| self.0.poll_io(cx, Direction::Write, |mut io| io.write(buf))).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n..];
        }
        Ok(())
    }
}

/// A listening socket whose `accept` is `async`.
pub struct TcpListener(Source<mio::net::TcpListener>);

impl TcpListener {
    /// Binds to `addr` (inside a running stackless loop).
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        Ok(TcpListener(Source::new(mio::net::TcpListener::bind(
            addr,
        )?)?))
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.io.local_addr()
    }

    /// Waits for the next connection.
    pub async fn accept(&self) -> io::Result<TcpStream> {
        let (s, _) = poll_fn(|cx| self.0.poll_io(cx, Direction::Read, |io| io.accept())).await?;
        Ok(TcpStream(Source::new(s)?))
    }
}

opaque_debug!(TcpStream, TcpListener);
