use std::io::{self, Read, Write};

use super::source::{Direction, Io, std_io, write_all_with};

/// The writing end of a pipe.
pub struct PipeWriter {
    /// The pipe's write end, registered with the loop.
    io: Io<mio::unix::pipe::Sender>,
}

/// The reading end of a pipe.
pub struct PipeReader {
    /// The pipe's read end, registered with the loop.
    io: Io<mio::unix::pipe::Receiver>,
}

/// A pipe: bytes written to the writer come out of the reader.
///
/// ```
/// use yieldfrom::{run, Coro, net::pipe};
/// run(Coro::new("main", || {
///     let (w, r) = pipe().unwrap();
///     w.write_all(b"through the pipe").unwrap();
///     drop(w); // end of stream for the reader
///     let mut got = String::new();
///     std::io::Read::read_to_string(&mut &r, &mut got).unwrap();
///     assert_eq!(got, "through the pipe");
/// }));
/// ```
pub fn pipe() -> io::Result<(PipeWriter, PipeReader)> {
    let (tx, rx) = mio::unix::pipe::new()?;
    Ok((PipeWriter::from_mio(tx)?, PipeReader::from_mio(rx)?))
}

impl PipeWriter {
    /// Detaches the write end from the loop and returns it as a plain
    /// descriptor (still non-blocking).
    pub(crate) fn into_owned_fd(self) -> io::Result<std::os::fd::OwnedFd> {
        use std::os::fd::FromRawFd;
        // SAFETY: dup of a descriptor we own; the copy belongs to the result.
        let copy = unsafe { libc::dup(self.raw_fd()) };
        if copy < 0 {
            return Err(io::Error::last_os_error());
        }
        drop(self); // deregisters and closes the original
        // SAFETY: `copy` is a fresh descriptor that nothing else owns.
        Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(copy) })
    }

    pub(crate) fn from_mio(tx: mio::unix::pipe::Sender) -> io::Result<PipeWriter> {
        Ok(PipeWriter { io: Io::new(tx)? })
    }

    /// Writes some bytes.
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.io(Direction::Write, |p| (&*p).write(buf))
    }

    /// Writes all of `buf`.
    pub fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        write_all_with(buf, |b| self.write(b))
    }

    pub(crate) fn raw_fd(&self) -> i32 {
        std::os::fd::AsRawFd::as_raw_fd(self.io.get_ref())
    }

    /// Never reads: present so that the `std_io!` impls type-check.
    fn read(&self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the write end of a pipe cannot be read",
        ))
    }
}

impl PipeReader {
    /// This process's standard input as a pipe the loop can wait on (a copy
    /// of descriptor 0, made non-blocking — which also affects other users of
    /// the same open file).
    pub fn stdin() -> io::Result<PipeReader> {
        use std::os::fd::FromRawFd;
        // SAFETY: dup of descriptor 0; the copy is owned by the Receiver below.
        let fd = unsafe { libc::dup(0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let rx = unsafe { mio::unix::pipe::Receiver::from_raw_fd(fd) };
        rx.set_nonblocking(true)?;
        PipeReader::from_mio(rx)
    }

    pub(crate) fn from_mio(rx: mio::unix::pipe::Receiver) -> io::Result<PipeReader> {
        Ok(PipeReader { io: Io::new(rx)? })
    }

    /// Reads some bytes; `Ok(0)` once every writer is closed.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.io(Direction::Read, |p| (&*p).read(buf))
    }

    pub(crate) fn raw_fd(&self) -> i32 {
        std::os::fd::AsRawFd::as_raw_fd(self.io.get_ref())
    }

    /// Never writes: present so that the `std_io!` impls type-check.
    fn write(&self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the read end of a pipe cannot be written",
        ))
    }
}

std_io!(PipeWriter);
std_io!(PipeReader);

opaque_debug!(PipeWriter, PipeReader);
