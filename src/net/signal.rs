//! Unix signals as an awaitable stream (Python: `loop.add_signal_handler`).
//!
//! A signal handler may do almost nothing: here it writes the signal's number
//! into a pipe (the *self-pipe* trick), with `write(2)`, which is
//! async-signal-safe. The pipe's read end is an ordinary source of the
//! loop, so [`Signals::recv`] suspends the task until a signal arrives.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use super::pipe::{PipeReader, pipe};

/// Signals delivered to the running loop.
///
/// ```no_run
/// use yieldfrom::{run, Coro, net::Signals};
/// run(Coro::new("main", || {
///     let signals = Signals::new(&[libc::SIGINT, libc::SIGTERM]).unwrap();
///     let sig = signals.recv().unwrap();
///     println!("got signal {sig}, shutting down");
/// }));
/// ```
pub struct Signals {
    /// The read end the signal handlers write to: readable when a signal came.
    reader: PipeReader,
    /// The handlers registered, unregistered on drop.
    ids: Vec<signal_hook::SigId>,
    /// Keeps the write end open for as long as the handlers may write to it.
    _writer: OwnedFd,
}

impl Signals {
    /// Starts catching `signals` (their default action, such as terminating
    /// the process, no longer happens while this value lives).
    pub fn new(signals: &[i32]) -> io::Result<Signals> {
        let (writer, reader) = pipe()?;
        // The write end must stay valid for the handlers: detach it from the
        // loop and keep it as a plain (non-blocking) descriptor. A full pipe
        // drops the byte, which is fine: a signal is already pending then.
        let writer = writer.into_owned_fd()?;
        let fd = writer.as_raw_fd();
        let mut ids = Vec::new();
        for &sig in signals {
            let action = move || {
                let byte = sig as u8;
                // SAFETY: write(2) is async-signal-safe; `fd` stays open while
                // the handler is registered (it is unregistered in Drop first).
                unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
            };
            // SAFETY: the action only calls write(2), which is async-signal-safe,
            // and allocates nothing.
            ids.push(unsafe { signal_hook::low_level::register(sig, action) }?);
        }
        Ok(Signals {
            reader,
            ids,
            _writer: writer,
        })
    }

    /// Suspends until one of the signals arrives; returns its number.
    pub fn recv(&self) -> io::Result<i32> {
        let mut byte = [0u8; 1];
        loop {
            if self.reader.read(&mut byte)? == 1 {
                return Ok(byte[0] as i32);
            }
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

opaque_debug!(Signals);
