use std::io;
use std::net::Shutdown;
use std::os::unix::net::SocketAddr;
use std::path::Path;

use super::source::{Direction, Io, std_io, sys, write_all_with};

/// A Unix-domain stream socket whose reads and writes suspend the task.
pub struct UnixStream {
    /// The socket, registered with the loop.
    io: Io<mio::net::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket at `path`.
    pub fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let path = path.as_ref();
        let stream = UnixStream {
            io: Io::new(mio::net::UnixStream::connect(path)?)?,
        };
        stream.describe(|| format!("connection to {}", path.display()));
        stream.io.wait(Direction::Write)?;
        if let Some(e) = stream.io.get_ref().take_error()? {
            return Err(e);
        }
        Ok(stream)
    }

    /// Names what this connection is, for the stepper and the explorer.
    pub(crate) fn describe(&self, what: impl FnOnce() -> String) {
        self.io.describe(what)
    }

    /// A connected pair (Python: `socket.socketpair`).
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((
            UnixStream { io: Io::new(a)? },
            UnixStream { io: Io::new(b)? },
        ))
    }

    /// Reads some bytes; `Ok(0)` is end of stream.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_stream(buf, sys::recv)
    }

    /// Writes some bytes.
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.io(Direction::Write, |s| sys::send(s, buf))
    }

    /// Writes all of `buf`.
    pub fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        write_all_with(buf, |b| self.write(b))
    }

    /// Shuts down one side or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }
}

std_io!(UnixStream);

/// A listening Unix-domain socket.
pub struct UnixListener {
    /// The listening socket, registered with the loop.
    io: Io<mio::net::UnixListener>,
}

impl UnixListener {
    /// Binds to `path` (which must not exist yet).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let path = path.as_ref();
        let listener = UnixListener {
            io: Io::new(mio::net::UnixListener::bind(path)?)?,
        };
        listener
            .io
            .describe(|| format!("listener {}", path.display()));
        Ok(listener)
    }

    /// Waits for the next connection.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) = self.io.io(Direction::Read, |l| l.accept())?;
        let stream = UnixStream {
            io: Io::new(stream)?,
        };
        stream.describe(|| "a client (Unix socket)".to_string());
        Ok((stream, addr))
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

opaque_debug!(UnixStream, UnixListener);
