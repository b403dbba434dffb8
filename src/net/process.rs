use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::pipe::{PipeReader, PipeWriter};
use super::source::{Direction, Io};

/// A child's stdin: write to it.
pub type ChildStdin = PipeWriter;
/// A child's stdout: read from it.
pub type ChildStdout = PipeReader;
/// A child's stderr: read from it.
pub type ChildStderr = PipeReader;

/// Builds a subprocess (Python: `asyncio.create_subprocess_exec`).
///
/// A thin wrapper over `std::process::Command`; streams set to
/// `Stdio::piped()` come back as non-blocking pipes on the [`Child`].
///
/// ```
/// use yieldfrom::{run, Coro, net::Command};
/// use std::process::Stdio;
/// let (out, code) = run(Coro::new("main", || {
///     let mut child = Command::new("sh").args(["-c", "echo hello; exit 3"])
///         .stdout(Stdio::piped()).spawn().unwrap();
///     let mut out = String::new();
///     std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
///     (out, child.wait().unwrap().code())
/// }));
/// assert_eq!((out.as_str(), code), ("hello\n", Some(3)));
/// ```
pub struct Command {
    /// The command as the standard library builds it.
    inner: std::process::Command,
    /// Whether a `Child` dropped before it exited is killed.
    kill_on_drop: bool,
}

impl Command {
    /// A command running `program`.
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            inner: std::process::Command::new(program),
            kill_on_drop: false,
        }
    }

    /// Wraps a `std::process::Command` that is already set up.
    pub fn from_std(inner: std::process::Command) -> Command {
        Command {
            inner,
            kill_on_drop: false,
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&mut self, args: I) -> &mut Command {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env(key, value);
        self
    }

    /// Sets the child's stdin.
    pub fn stdin(&mut self, cfg: Stdio) -> &mut Command {
        self.inner.stdin(cfg);
        self
    }

    /// Sets the child's stdout.
    pub fn stdout(&mut self, cfg: Stdio) -> &mut Command {
        self.inner.stdout(cfg);
        self
    }

    /// Sets the child's stderr.
    pub fn stderr(&mut self, cfg: Stdio) -> &mut Command {
        self.inner.stderr(cfg);
        self
    }

    /// Kills the child if its [`Child`] is dropped before it exited (tokio's
    /// `kill_on_drop`; default false, as in `std` and asyncio). Either way a
    /// dropped child is reaped when it exits: it never stays a zombie.
    ///
    /// ```
    /// use yieldfrom::{run, Coro, net::Command};
    /// run(Coro::new("main", || {
    ///     let child = Command::new("sleep").arg("60").kill_on_drop(true).spawn().unwrap();
    ///     drop(child); // killed now, and reaped
    /// }));
    /// ```
    pub fn kill_on_drop(&mut self, kill: bool) -> &mut Command {
        self.kill_on_drop = kill;
        self
    }

    /// Starts the child (inside a running loop).
    pub fn spawn(&mut self) -> io::Result<Child> {
        let mut child = self.inner.spawn()?;
        let stdin = child
            .stdin
            .take()
            .map(|s| PipeWriter::from_mio(mio::unix::pipe::Sender::from(s)))
            .transpose()?;
        let stdout = child
            .stdout
            .take()
            .map(|s| PipeReader::from_mio(mio::unix::pipe::Receiver::from(s)))
            .transpose()?;
        let stderr = child
            .stderr
            .take()
            .map(|s| PipeReader::from_mio(mio::unix::pipe::Receiver::from(s)))
            .transpose()?;
        for fd in [
            stdin.as_ref().map(|p| p.raw_fd()),
            stdout.as_ref().map(|p| p.raw_fd()),
            stderr.as_ref().map(|p| p.raw_fd()),
        ]
        .into_iter()
        .flatten()
        {
            set_nonblocking(fd)?;
        }
        let pidfd = PidFd::open(child.id()).and_then(Io::new).ok();
        Ok(Child {
            child: Some(child),
            stdin,
            stdout,
            stderr,
            pidfd,
            kill_on_drop: self.kill_on_drop,
        })
    }
}

fn set_nonblocking(fd: i32) -> io::Result<()> {
    // SAFETY: F_GETFL on a descriptor we own only reads its flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: F_SETFL on the same descriptor, with the flags it had plus one.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A running subprocess.
pub struct Child {
    /// The `std` child; taken only by `drop`, to hand it to the reaper.
    child: Option<std::process::Child>,
    /// Its stdin, if piped.
    pub stdin: Option<ChildStdin>,
    /// Its stdout, if piped.
    pub stdout: Option<ChildStdout>,
    /// Its stderr, if piped.
    pub stderr: Option<ChildStderr>,
    /// Readable when the child exits (Linux 5.3+); else `wait` polls every 10 ms.
    pidfd: Option<Io<PidFd>>,
    /// Whether dropping the `Child` before it exits kills it.
    kill_on_drop: bool,
}

impl Drop for Child {
    /// A child that has not been waited for is handed to the reaper (after a
    /// kill, with [`Command::kill_on_drop`]): whenever it exits, its status is
    /// collected, so it never lingers as a zombie (asyncio's child watcher).
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.std().try_wait() {
            return;
        }
        if self.kill_on_drop {
            let _ = self.std().kill();
        }
        if let Some(child) = self.child.take() {
            reaper::adopt(child);
        }
    }
}

/// The process-wide reaper of dropped children: one thread that collects
/// their exit statuses (every 50 ms while any is left, then it sleeps).
mod reaper {
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    static ORPHANS: Mutex<Vec<std::process::Child>> = Mutex::new(Vec::new());
    static WAKE: Condvar = Condvar::new();
    static STARTED: std::sync::Once = std::sync::Once::new();

    /// Takes `child` to reap when it exits.
    pub(super) fn adopt(child: std::process::Child) {
        ORPHANS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(child);
        WAKE.notify_one();
        STARTED.call_once(|| {
            let _ = std::thread::Builder::new()
                .name("yieldfrom-reaper".into())
                .spawn(reap);
        });
    }

    fn reap() {
        let mut orphans = ORPHANS.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            orphans.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
            orphans = if orphans.is_empty() {
                WAKE.wait(orphans).unwrap_or_else(|e| e.into_inner())
            } else {
                WAKE.wait_timeout(orphans, Duration::from_millis(50))
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            };
        }
    }
}

impl Child {
    fn std(&mut self) -> &mut std::process::Child {
        self.child.as_mut().expect("taken only when dropped")
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, std::process::Child::id)
    }

    /// Sends SIGKILL.
    pub fn kill(&mut self) -> io::Result<()> {
        self.std().kill()
    }

    /// Suspends the task until the child exits (Python: `await proc.wait()`).
    ///
    /// Closes the child's stdin first, so a child reading it sees the end.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        loop {
            if let Some(status) = self.std().try_wait()? {
                return Ok(status);
            }
            match &self.pidfd {
                Some(pidfd) => pidfd.wait(Direction::Read)?,
                None => crate::time::sleep(Duration::from_millis(10)),
            }
        }
    }
}

/// A process file descriptor: readable once the process has exited.
struct PidFd(OwnedFd);

impl PidFd {
    fn open(pid: u32) -> io::Result<PidFd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just gave us this descriptor; nothing else owns it.
        Ok(PidFd(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }
}

impl Source for PidFd {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).register(registry, token, interests)
    }
    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).reregister(registry, token, interests)
    }
    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).deregister(registry)
    }
}

opaque_debug!(Command, Child);
