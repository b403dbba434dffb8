//! What a connection is carried on: plain TCP, or TLS over TCP. The
//! connection's loop reads, waits and writes through these few methods,
//! so that every rule, limit and timeout of the server holds the same way
//! on both (a TLS record is decrypted before the framing sees a byte).

use std::io;
use std::net::Shutdown;
use std::time::Instant;

use crate::net::TcpStream;
#[cfg(feature = "tls")]
use crate::tls::TlsStream;

/// A connection's byte stream.
pub(crate) enum Transport {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (HTTPS), handshaken (boxed: rustls's state is about
    /// a kilobyte, a plain connection should not carry that room).
    #[cfg(feature = "tls")]
    Tls(Box<TlsStream>),
}

impl Transport {
    /// The TCP connection under it.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            #[cfg(feature = "tls")]
            Transport::Tls(s) => s.get_ref(),
        }
    }

    /// Reads some bytes, giving up at `until` (`Ok(None)`).
    pub(crate) fn read_until(&self, buf: &mut [u8], until: Instant) -> io::Result<Option<usize>> {
        match self {
            Transport::Plain(s) => s.read_until(buf, until),
            #[cfg(feature = "tls")]
            Transport::Tls(s) => s.read_until(buf, until),
        }
    }

    /// Reads what has come, without waiting: `WouldBlock` if nothing.
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.try_read(buf),
            #[cfg(feature = "tls")]
            Transport::Tls(s) => s.try_read(buf),
        }
    }

    /// Waits for bytes after a `WouldBlock`, giving up at `until`.
    pub(crate) fn wait_readable_until(&self, until: Instant) -> io::Result<bool> {
        match self {
            Transport::Plain(s) => s.wait_readable_until(until),
            #[cfg(feature = "tls")]
            Transport::Tls(s) => s.wait_readable_until(until),
        }
    }

    /// Writes what the kernel takes now, without waiting (TLS: all of
    /// `buf` is taken, and what the socket did not take is pending).
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.try_write(buf),
            #[cfg(feature = "tls")]
            Transport::Tls(s) => s.try_write(buf),
        }
    }

    /// Writes all of `buf`, and anything pending before it, waiting while
    /// the socket is full.
    pub(crate) fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.write_all(buf),
            #[cfg(feature = "tls")]
            Transport::Tls(s) => {
                s.flush_pending()?;
                s.write_all(buf)
            }
        }
    }

    /// Whether bytes taken by `try_write` still wait to be sent.
    pub(crate) fn has_pending_write(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            #[cfg(feature = "tls")]
            Transport::Tls(s) => s.has_pending_write(),
        }
    }

    /// Ends the write side (TLS: `close_notify` first).
    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.shutdown(Shutdown::Write),
            #[cfg(feature = "tls")]
            Transport::Tls(s) => s.shutdown(),
        }
    }
}
