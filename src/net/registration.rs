//! A source registered with a loop's poller and reactor: the one handle
//! every socket, pipe and signal reader waits through.

use std::cell::Cell;
use std::io;
use std::rc::{Rc, Weak};
use std::time::Instant;

use mio::Token;
use mio::event::Source;

use crate::event_loop::reactor::{Direction, Side};
use crate::event_loop::{Core, with_loop};
use crate::reason::IoPurpose;
use crate::task::HomeRef;
use crate::task::context;
use crate::task::suspend::{self, Suspend, Wake, WakeToken};

/// A source registered with the running loop's reactor; deregisters on drop.
///
/// It belongs to that loop: every operation and the final deregistration go
/// to it, whichever loop (or none) is running, and a task of another loop
/// that tries to wait on it gets an error. It is neither `Send` nor `Sync`
/// (the loop's poller and slots live on the loop's thread), so neither is
/// any socket built on it (a `compile_fail` doc test in the crate docs).
pub(crate) struct Registration {
    /// The source's slot in the loop's reactor (index and generation).
    token: Token,
    /// The loop whose poller and reactor hold the source.
    lp: Weak<Core>,
    /// What waits on it are part of now (shown in the timeline).
    purpose: Cell<IoPurpose>,
}

impl Registration {
    /// Registers `source` for reading and writing with the running loop.
    pub(crate) fn new(source: &mut impl Source) -> io::Result<Registration> {
        with_loop("I/O", |core| {
            let token = core.open_source(source)?;
            Ok(Registration {
                token,
                lp: Rc::downgrade(core),
                purpose: Cell::new(IoPurpose::Data),
            })
        })
    }

    /// Labels the waits on this source as part of `purpose` until the
    /// next call; returns the label it had.
    pub(crate) fn set_purpose(&self, purpose: IoPurpose) -> IoPurpose {
        self.purpose.replace(purpose)
    }

    /// Names what the source is ("listener 127.0.0.1:8000"), for the
    /// stepper and the explorer; `what` is called only when the loop is
    /// instrumented, so an uninstrumented loop pays one flag test.
    pub(crate) fn describe(&self, what: impl FnOnce() -> String) {
        if let Some(core) = self.lp.upgrade() {
            core.describe_source(self.token, what);
        }
    }

    /// The token (shown in traces as the socket's number).
    pub(crate) fn token(&self) -> usize {
        crate::event_loop::reactor::split(self.token).0
    }

    /// Deregisters `source` from the loop's poller; call before the source is
    /// closed (the slot itself is freed when the registration is dropped).
    pub(crate) fn deregister(&self, source: &mut impl Source) {
        if let Some(core) = self.lp.upgrade() {
            core.deregister_source(source);
        }
    }

    fn with_side<R>(&self, dir: Direction, f: impl FnOnce(&mut Side) -> R) -> Option<R> {
        let core = self.lp.upgrade()?;
        core.with_source_side(self.token, dir, f)
    }

    /// Runs `op` until it does not return `WouldBlock`, suspending the task
    /// for readiness in between (smol's `read_with`/`write_with` idiom).
    pub(crate) fn io<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.park(dir)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    /// A read of a byte stream into `len` bytes of room: as [`io`](Self::io),
    /// and a read that comes back shorter than `len` marks the side
    /// drained, so that the next read waits for an event at once instead
    /// of making a system call that would only say `WouldBlock` (tokio's
    /// optimisation: on a stream socket, a short read means the kernel's
    /// buffer is empty; any byte that comes later brings an event, which
    /// clears the mark). Not for datagrams, whose reads are short anyway.
    pub(crate) fn read_stream(
        &self,
        len: usize,
        op: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.read_stream_by(len, None, op)
            .map(|n| n.expect("a read with no deadline ends only with bytes or an error"))
    }

    /// As [`read_stream`](Self::read_stream), giving up at `until`:
    /// `Ok(None)` when no bytes came by then.
    pub(crate) fn read_stream_until(
        &self,
        len: usize,
        until: Instant,
        op: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<Option<usize>> {
        self.read_stream_by(len, Some(until), op)
    }

    fn read_stream_by(
        &self,
        len: usize,
        until: Option<Instant>,
        mut op: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<Option<usize>> {
        loop {
            if self.is_drained() {
                if !self.park_by(Direction::Read, until)? {
                    return Ok(None);
                }
                continue;
            }
            match op() {
                Ok(n) => {
                    self.note_read(n, len);
                    return Ok(Some(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !self.park_by(Direction::Read, until)? {
                        return Ok(None);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// As [`read_stream`](Self::read_stream) without waiting: `WouldBlock`
    /// at once, with no system call, while the side is drained.
    pub(crate) fn try_read_stream(
        &self,
        len: usize,
        op: impl FnOnce() -> io::Result<usize>,
    ) -> io::Result<usize> {
        if self.is_drained() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = op()?;
        self.note_read(n, len);
        Ok(n)
    }

    /// Drained, and not hung up: an end of stream that came with the last
    /// bytes brings no further event, and only a read finds it.
    fn is_drained(&self) -> bool {
        self.with_side(Direction::Read, |side| side.drained && !side.hung_up)
            .unwrap_or(false)
    }

    /// A read of `n` bytes into `len`: short (and not the end of the
    /// stream) means drained.
    fn note_read(&self, n: usize, len: usize) {
        if n > 0 && n < len {
            self.with_side(Direction::Read, |side| side.drained = true);
        }
    }

    /// Suspends until an event for `dir` arrives (returns at once if one
    /// arrived since the flag was last cleared).
    pub(crate) fn wait(&self, dir: Direction) -> io::Result<()> {
        let ready = self.with_side(dir, |side| side.ready).ok_or_else(gone)?;
        if ready {
            return Ok(());
        }
        self.park(dir)
    }

    /// Clears the readiness flag and waits for the next edge. After a
    /// `WouldBlock` no edge can be pending: events are only read by the loop,
    /// which does not run while this task does.
    pub(crate) fn park(&self, dir: Direction) -> io::Result<()> {
        self.park_by(dir, None).map(drop)
    }

    /// As [`park`](Self::park), giving up at `until`: `Ok(true)` when the
    /// event came, `Ok(false)` when the wait ended without it (the deadline
    /// passed, or a [`Waker`](crate::suspend::Waker) the task handed out
    /// woke it first, as a server shutting down wakes its idle connections).
    ///
    /// The deadline is one timer entry that wakes this wait directly (the
    /// wait number makes it dead once the event has come first), where
    /// `timeout_at` around `park` would allocate a callback and a flag and
    /// cancel the task: this is the wait an idle keep-alive connection makes
    /// after every request.
    pub(crate) fn park_until(&self, dir: Direction, until: Instant) -> io::Result<bool> {
        self.park_by(dir, Some(until))
    }

    /// [`park`](Self::park), with a deadline if `until` is given.
    fn park_by(&self, dir: Direction, until: Option<Instant>) -> io::Result<bool> {
        let core = self.lp.upgrade().ok_or_else(gone)?;
        let (token, ours) = context::with_current("socket I/O", |t| {
            (WakeToken::of(t), is_home(&t.lp, &self.lp))
        });
        if !ours {
            return Err(foreign());
        }
        let mine = WakeToken::of(token.task());
        core.with_source_side(self.token, dir, move |side| {
            side.ready = false;
            side.waiters.push(token);
        })
        .ok_or_else(gone)?;
        drop(core);
        let reason = Suspend::Io {
            token: self.token(),
            direction: dir,
            purpose: self.purpose.get(),
        };
        // The deadline crosses the switch with the wait; the loop files it.
        let woke = match until {
            Some(until) => suspend::suspend_until(reason, until),
            None => suspend::suspend(reason),
        };
        if woke == Wake::Cancel || until.is_some() {
            // A wake by the reactor has taken every waiter off the list: ours
            // still there means a cancellation or the deadline came first.
            // Leave no stale waiter behind.
            let waiting = self
                .with_side(dir, |side| side.waiters.remove(&mine))
                .unwrap_or(false);
            if woke == Wake::Cancel {
                suspend::raise_cancelled();
            }
            return Ok(!waiting);
        }
        Ok(true)
    }
}

/// Whether a task of home `task` may wait on a source of loop `lp`.
fn is_home(task: &HomeRef, lp: &Weak<Core>) -> bool {
    task.is_at(lp.as_ptr())
}

fn gone() -> io::Error {
    io::Error::other("the event loop this socket belongs to is gone")
}

#[cold]
fn foreign() -> io::Error {
    io::Error::other(
        "this socket belongs to a different event loop than the task using it: \
         use it from a task of the loop that was running when it was made",
    )
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(core) = self.lp.upgrade() {
            core.close_source(self.token);
        }
    }
}

opaque_debug!(Registration);
