//! The program's own output, step by step, for the explorer.
//!
//! While a loop records for the explorer (`YIELDFROM_TRACE=explore`), file
//! descriptor 1 points at an unlinked temporary file instead of the
//! terminal; at the end of every step the loop reads what the step wrote,
//! passes it on to the real standard output at once, and files its lines
//! under that step. A file rather than a pipe: a step that prints more
//! than a pipe holds must not block the only thread that would read it.
//! When the last recording loop closes, descriptor 1 points back where it
//! did. Descriptor 1 belongs to the process, so loops on several threads
//! share one redirection; a line is filed under whichever loop's step
//! ended first after it was written. Standard error is left alone
//! (warnings, panics, the stepper's prompts).

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::{Mutex, MutexGuard};

/// Descriptor 1 redirected to `file`; `real` is where it pointed before.
struct Redirect {
    /// The unlinked temporary file descriptor 1 points at.
    file: File,
    /// Where descriptor 1 pointed before (output is passed on to it).
    real: File,
    /// How far into `file` has been read.
    read: u64,
    /// Loops using it.
    users: usize,
}

static REDIRECT: Mutex<Option<Redirect>> = Mutex::new(None);

fn redirect() -> MutexGuard<'static, Option<Redirect>> {
    REDIRECT.lock().unwrap_or_else(|e| e.into_inner())
}

impl Redirect {
    fn open() -> io::Result<Redirect> {
        let path = std::env::temp_dir().join(format!(
            "yieldfrom-output-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        let _ = std::fs::remove_file(&path);
        // SAFETY: dup has no memory effects; it returns a new descriptor
        // or -1.
        let real = unsafe { libc::dup(1) };
        if real < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `real` is a descriptor just made by dup, owned by nothing
        // else: the `File` closes it.
        let real = unsafe { File::from_raw_fd(real) };
        // SAFETY: dup2 onto descriptor 1 has no memory effects; Rust's
        // `Stdout` writes to descriptor 1 whatever it points at.
        if unsafe { libc::dup2(file.as_raw_fd(), 1) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Redirect {
            file,
            real,
            read: 0,
            users: 1,
        })
    }

    /// What was written since the last call, passed on to the real output.
    fn drain(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        // `read_at` leaves the offset that descriptor 1 writes at alone.
        while let Ok(n @ 1..) = self.file.read_at(&mut buf, self.read) {
            out.extend_from_slice(&buf[..n]);
            self.read += n as u64;
        }
        // A real output that is gone (a closed pipe) loses the text, as it
        // would have without the explorer.
        let _ = self.real.write_all(&out);
        out
    }

    fn restore(&mut self) {
        // SAFETY: as in `open`; `real` stays open until `self` is dropped.
        unsafe { libc::dup2(self.real.as_raw_fd(), 1) };
    }
}

/// At exit (`std::process::exit` inside a step, say): what the program
/// wrote since the last step's end still reaches the real output.
extern "C" fn pass_on_at_exit() {
    let _ = io::stdout().flush();
    // Not `lock`: an exit from a thread that holds the lock must not hang.
    if let Ok(mut redirect) = REDIRECT.try_lock()
        && let Some(r) = redirect.as_mut()
    {
        r.drain();
        r.restore();
        *redirect = None;
    }
}

/// One loop's use of the redirection; dropping it ends that use.
pub(crate) struct Capture(());

impl Capture {
    /// Starts capturing (or joins the capture another loop started); `None`,
    /// with a warning, if descriptor 1 cannot be redirected.
    pub(crate) fn start() -> Option<Capture> {
        let _ = io::stdout().flush();
        let mut redirect = redirect();
        if let Some(r) = redirect.as_mut() {
            r.users += 1;
            return Some(Capture(()));
        }
        match Redirect::open() {
            Ok(r) => {
                *redirect = Some(r);
                static AT_EXIT: std::sync::Once = std::sync::Once::new();
                // SAFETY: atexit registers a function with no arguments
                // that the C runtime calls once at exit; it touches only
                // the redirection, under its lock.
                AT_EXIT.call_once(|| unsafe {
                    libc::atexit(pass_on_at_exit);
                });
                Some(Capture(()))
            }
            Err(e) => {
                eprintln!(
                    "yieldfrom: the explorer cannot capture the program's output ({e}); \
                     its page will not show what each step printed"
                );
                None
            }
        }
    }

    /// The lines printed since the last call (by any thread).
    pub(crate) fn take(&self) -> Vec<String> {
        let _ = io::stdout().flush();
        let bytes = redirect().as_mut().map(Redirect::drain).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = io::stdout().flush();
        let mut redirect = redirect();
        if let Some(r) = redirect.as_mut() {
            r.drain();
            r.users -= 1;
            if r.users == 0 {
                r.restore();
                *redirect = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_reads_what_was_written_since_the_last_drain_only() {
        // The redirection itself is process-wide (the test harness captures
        // descriptor 1 too), so this checks `drain` on a file of its own.
        let path = std::env::temp_dir().join(format!("yieldfrom-capture-{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        let real = tempfile_sink();
        let mut r = Redirect {
            file: file.try_clone().unwrap(),
            real,
            read: 0,
            users: 1,
        };
        (&file).write_all(b"one\ntwo\n").unwrap();
        assert_eq!(r.drain(), b"one\ntwo\n");
        assert_eq!(r.drain(), b"");
        (&file).write_all(b"three\n").unwrap();
        assert_eq!(r.drain(), b"three\n");
        let _ = std::fs::remove_file(&path);
    }

    fn tempfile_sink() -> File {
        File::options().write(true).open("/dev/null").unwrap()
    }
}
