//! [`Io`]: a non-blocking `mio` source registered with the running loop, and
//! the helpers every stream type shares.

use std::io;

use mio::event::Source;

use super::registration::Registration;
pub use crate::event_loop::reactor::Direction;

/// A non-blocking `mio` source registered with the running loop.
///
/// ```
/// use yieldfrom::{run, Coro, net::{Io, Direction}};
/// run(Coro::new("main", || {
///     let sock = mio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
///     let io = Io::new(sock).unwrap();
///     let addr = io.get_ref().local_addr().unwrap();
///     io.get_ref().send_to(b"ping", addr).unwrap();
///     let mut buf = [0; 4];
///     let (n, _) = io.io(Direction::Read, |s| s.recv_from(&mut buf)).unwrap();
///     assert_eq!(&buf[..n], b"ping");
/// }));
/// ```
pub struct Io<S: Source> {
    /// The mio source (socket, pipe, pidfd).
    source: S,
    /// Its place in the loop, and its waiters.
    registration: Registration,
}

impl<S: Source> Io<S> {
    /// Registers `source` (already non-blocking) with the running loop.
    pub fn new(mut source: S) -> io::Result<Io<S>> {
        let registration = Registration::new(&mut source)?;
        Ok(Io {
            source,
            registration,
        })
    }

    /// The wrapped source.
    pub fn get_ref(&self) -> &S {
        &self.source
    }

    /// Labels this source's waits as part of `purpose` (for the timeline)
    /// until the next call; returns the label it had.
    pub(crate) fn set_purpose(
        &self,
        purpose: crate::reason::IoPurpose,
    ) -> crate::reason::IoPurpose {
        self.registration.set_purpose(purpose)
    }

    /// Names what the source is, for the stepper and the explorer (see
    /// `Registration::describe`).
    pub(crate) fn describe(&self, what: impl FnOnce() -> String) {
        self.registration.describe(what)
    }

    /// The loop's number for this source (shown in traces).
    pub fn token(&self) -> usize {
        self.registration.token()
    }

    /// Runs `op` until it does not return `WouldBlock`, suspending for
    /// readiness in `dir` in between.
    pub fn io<R>(&self, dir: Direction, mut op: impl FnMut(&S) -> io::Result<R>) -> io::Result<R> {
        self.registration.io(dir, || op(&self.source))
    }

    /// A byte stream's read (see `Registration::read_stream`): a short read
    /// lets the next one wait without a system call.
    pub(crate) fn read_stream(
        &self,
        buf: &mut [u8],
        mut op: impl FnMut(&S, &mut [u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let len = buf.len();
        self.registration.read_stream(len, || op(&self.source, buf))
    }

    /// A byte stream's read that gives up at `until` (`Ok(None)`).
    pub(crate) fn read_stream_until(
        &self,
        buf: &mut [u8],
        until: std::time::Instant,
        mut op: impl FnMut(&S, &mut [u8]) -> io::Result<usize>,
    ) -> io::Result<Option<usize>> {
        let len = buf.len();
        self.registration
            .read_stream_until(len, until, || op(&self.source, buf))
    }

    /// A byte stream's read that does not wait: `WouldBlock` if nothing.
    pub(crate) fn try_read_stream(
        &self,
        buf: &mut [u8],
        op: impl FnOnce(&S, &mut [u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let len = buf.len();
        self.registration
            .try_read_stream(len, || op(&self.source, buf))
    }

    /// A read of a byte stream by `op`, which reads into a buffer of its
    /// own (a TLS library's): as `read_stream_until` (or without a
    /// deadline), except that no read counts as short (the room `op` had
    /// is not known here), so every wait follows a `WouldBlock`.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))] // used by TLS
    pub(crate) fn read_op_until(
        &self,
        until: Option<std::time::Instant>,
        mut op: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<Option<usize>> {
        match until {
            Some(until) => self
                .registration
                .read_stream_until(0, until, || op(&self.source)),
            None => self
                .registration
                .read_stream(0, || op(&self.source))
                .map(Some),
        }
    }

    /// [`read_op_until`](Self::read_op_until) that does not wait:
    /// `WouldBlock` if nothing.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))] // used by TLS
    pub(crate) fn try_read_op(
        &self,
        op: impl FnOnce(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.registration.try_read_stream(0, || op(&self.source))
    }

    /// Suspends until the next readiness event in `dir`; call it only right
    /// after an operation on the source returned `WouldBlock` (the contract
    /// above: no edge can be pending then).
    /// Gives up at `until`: whether the event came first.
    pub(crate) fn park_after_would_block_until(
        &self,
        dir: Direction,
        until: std::time::Instant,
    ) -> io::Result<bool> {
        self.registration.park_until(dir, until)
    }

    /// Suspends until the source is ready in `dir` (or was since the last `WouldBlock`).
    pub fn wait(&self, dir: Direction) -> io::Result<()> {
        self.registration.wait(dir)
    }
}

impl<S: Source> Drop for Io<S> {
    fn drop(&mut self) {
        self.registration.deregister(&mut self.source);
    }
}

/// Implements `std::io::Read`/`Write` for a type (and `&type`) with
/// `read(&self, ..)`/`write(&self, ..)` methods.
macro_rules! std_io {
    ($ty:ty) => {
        impl std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                <$ty>::read(self, buf)
            }
        }
        impl std::io::Read for &$ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                <$ty>::read(self, buf)
            }
        }
        impl std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                <$ty>::write(self, buf)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        impl std::io::Write for &$ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                <$ty>::write(self, buf)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}
pub(crate) use std_io;

/// `write` until all of `buf` is written (shared by every stream type).
pub(crate) fn write_all_with(
    mut buf: &[u8],
    mut write: impl FnMut(&[u8]) -> io::Result<usize>,
) -> io::Result<()> {
    while !buf.is_empty() {
        match write(buf)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => buf = &buf[n..],
        }
    }
    Ok(())
}

/// `recv(2)` and `send(2)` for the stream sockets, as bare system calls.
///
/// glibc's `recv` and `send` are pthread cancellation points, which switch
/// asynchronous cancellation on and off around every call; a loop thread is
/// never cancelled that way (our cancellation is delivered at a suspension
/// point), so on Linux the stream types enter the kernel directly (see "Bare
/// system calls" in the book's performance chapter). Elsewhere they use
/// `std`'s calls.
pub(crate) mod sys {
    use std::io;
    use std::os::fd::AsRawFd;

    /// Receives into `buf` (0 at end of stream).
    #[inline]
    pub(crate) fn recv(sock: &impl AsRawFd, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
        return unsafe { transfer(libc::SYS_recvfrom, sock, buf.as_mut_ptr(), buf.len(), 0) };
        #[cfg(not(target_os = "linux"))]
        // SAFETY: as above, through libc's wrapper.
        result(unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) } as _)
    }

    /// Sends from `buf`; a closed peer is an error (`EPIPE`), never a `SIGPIPE`.
    #[inline]
    pub(crate) fn send(sock: &impl AsRawFd, buf: &[u8]) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        // SAFETY: the kernel only reads `buf` (the pointer is `*mut` for the
        // shared signature), at most `buf.len()` bytes of it.
        return unsafe {
            transfer(
                libc::SYS_sendto,
                sock,
                buf.as_ptr().cast_mut(),
                buf.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        #[cfg(not(target_os = "linux"))]
        // SAFETY: as above, through libc's wrapper (where there is no
        // MSG_NOSIGNAL, mio sets SO_NOSIGPIPE on the socket).
        result(unsafe { libc::send(sock.as_raw_fd(), buf.as_ptr().cast(), buf.len(), 0) } as _)
    }

    /// `recvfrom` or `sendto` (the same six arguments) on a connected socket,
    /// with no address: both address arguments are null.
    ///
    /// # Safety
    /// `ptr` must be valid for `len` bytes in the direction of the call.
    #[cfg(target_os = "linux")]
    #[inline]
    unsafe fn transfer(
        call: libc::c_long,
        sock: &impl AsRawFd,
        ptr: *mut u8,
        len: usize,
        flags: libc::c_int,
    ) -> io::Result<usize> {
        // SAFETY: the caller vouches for `ptr`/`len`; a bad descriptor is an
        // error (EBADF), not undefined behaviour. Every argument is widened to
        // the `long` the kernel reads.
        let n = unsafe {
            libc::syscall(
                call,
                sock.as_raw_fd() as libc::c_long,
                ptr,
                len,
                flags as libc::c_long,
                0 as libc::c_long,
                0 as libc::c_long,
            )
        };
        result(n)
    }

    #[inline]
    fn result(n: libc::c_long) -> io::Result<usize> {
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

impl<S: Source> std::fmt::Debug for Io<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Io")
            .field("token", &self.token())
            .finish_non_exhaustive()
    }
}
