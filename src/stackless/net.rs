//! A TCP stream and listener whose operations are futures (the twin of
//! `net/tcp.rs`): try the operation; on `WouldBlock` store the task's waker
//! for that direction and return `Pending`; the executor wakes it on the next
//! readiness event.

use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::task::{Context, Poll};

use mio::{Interest, Token};

use super::executor::with;

struct Source<S: mio::event::Source> {
    io: S,
    token: usize,
}

impl<S: mio::event::Source> Source<S> {
    fn new(mut io: S) -> io::Result<Source<S>> {
        let token = with(|exec| {
            let mut slots = exec.io.borrow_mut();
            slots.push((None, None));
            slots.len() - 1
        });
        with(|exec| {
            exec.poll.borrow().registry().register(
                &mut io,
                Token(token),
                Interest::READABLE | Interest::WRITABLE,
            )
        })?;
        Ok(Source { io, token })
    }

    /// One poll of `op`: ready, or parked with the waker for `write`/read.
    fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        write: bool,
        op: impl FnOnce(&S) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        match op(&self.io) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                with(|exec| {
                    let mut slots = exec.io.borrow_mut();
                    let slot = &mut slots[self.token];
                    let w = Some(cx.waker().clone());
                    if write { slot.1 = w } else { slot.0 = w }
                });
                Poll::Pending
            }
            other => Poll::Ready(other),
        }
    }
}

/// A TCP connection whose `read`/`write_all` are `async`.
pub struct TcpStream(Source<mio::net::TcpStream>);

impl TcpStream {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let s = TcpStream(Source::new(mio::net::TcpStream::connect(addr)?)?);
        poll_fn(|cx| {
            s.0.poll_io(cx, true, |io| match io.peer_addr() {
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
        poll_fn(|cx| self.0.poll_io(cx, false, |mut io| io.read(buf))).await
    }

    /// Writes all of `buf`.
    pub async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = poll_fn(|cx| self.0.poll_io(cx, true, |mut io| io.write(buf))).await?;
            buf = &buf[n..];
        }
        Ok(())
    }
}

/// A listening socket whose `accept` is `async`.
pub struct TcpListener(Source<mio::net::TcpListener>);

impl TcpListener {
    /// Binds to `addr`.
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
        let (s, _) = poll_fn(|cx| self.0.poll_io(cx, false, |io| io.accept())).await?;
        Ok(TcpStream(Source::new(s)?))
    }
}

opaque_debug!(TcpStream, TcpListener);
