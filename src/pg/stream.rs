//! The socket a connection talks over, and cutting what it reads into
//! the server's messages.

use std::io;

use bytes::BytesMut;
use postgres_protocol::message::backend::Message;

use super::error::Error;
use crate::net::{TcpStream, UnixStream};
use crate::tls::TlsStream;

/// The largest backend message accepted, announced length included.
const MAX_MESSAGE: usize = 64 << 20;

/// The socket: TCP, TLS over TCP, or a Unix socket.
pub(super) enum Stream {
    Tcp(TcpStream),
    Tls(Box<TlsStream>),
    Unix(UnixStream),
}

impl Stream {
    pub(super) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }

    pub(super) fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(buf),
            Stream::Tls(s) => s.write_all(buf),
            Stream::Unix(s) => s.write_all(buf),
        }
    }

    /// Sends what the socket takes at once (a goodbye), never waiting.
    pub(super) fn try_write(&self, buf: &[u8]) {
        let _ = match self {
            Stream::Tcp(s) => s.try_write(buf),
            Stream::Tls(s) => s.try_write(buf),
            Stream::Unix(_) => Ok(0),
        };
    }

    pub(super) fn shutdown(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
            Stream::Tls(s) => {
                s.close_now();
                Ok(())
            }
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }
}
/// Reads until `buf` holds a whole message, and takes it off. Bytes are
/// read into `scratch` (zeroed once, reused) and appended: a read into the
/// buffer's own spare room would have to zero it first, every time.
pub(super) fn next_message(
    stream: &Stream,
    buf: &mut BytesMut,
    scratch: &mut [u8],
) -> Result<Message, Error> {
    loop {
        if buf.len() >= 5 {
            let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
            if len > MAX_MESSAGE {
                return Err(Error::protocol(format!(
                    "a message of {len} bytes announced (the limit is {MAX_MESSAGE})"
                )));
            }
            if let Some(m) = Message::parse(buf)? {
                return Ok(m);
            }
        }
        let n = stream.read(scratch)?;
        if n == 0 {
            return Err(Error::Io(std::sync::Arc::new(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ))));
        }
        buf.extend_from_slice(&scratch[..n]);
    }
}
