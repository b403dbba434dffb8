//! The stepper (`YIELDFROM_STEP=1`): an [`Instrument`] that prints each
//! scheduling step and waits for a key.
//!
//! A step's header is written as the step begins, so whatever the program
//! prints during it (on a terminal, stdout and stderr interleave) appears
//! under its own header; what ran, why, and the loop's queues follow when it
//! ends. A callback is a step too, and the loop's waits between steps get a
//! line of their own (`idle ...`).

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::TaskId;
use crate::trace::{
    CALLBACK_WOKEN, Instrument, Snapshot, StepEnd, TaskInfo, WakeCause, callback_name, idle_line,
};

/// The `YIELDFROM_STEP=1` instrument: prints each step and waits for a key.
pub struct Stepper {
    /// Steps shown so far.
    steps: u64,
    /// The last step's text (repeated at a key that asks for it).
    last: String,
    /// Whether it waits for a key at each step (`c` runs on).
    paused: bool,
    /// Why each task was last made ready, until its step shows it.
    woken: Vec<(TaskId, String)>,
    /// Reads a key (the terminal, or a test's script).
    input: Box<dyn FnMut() -> u8>,
    /// Where the steps are printed.
    output: Box<dyn Write>,
    /// Where `c` is remembered for the loops made after this one, if it is
    /// (the terminal's steppers share [`RUN_ON`]).
    run_on: Option<&'static AtomicBool>,
}

/// Set once the user pressed `c` at a terminal stepper. `c` means "run on to
/// the end of the program": a program that makes more loops after this one
/// (the tour makes one per example) gets steppers that do not pause either.
static RUN_ON: AtomicBool = AtomicBool::new(false);

impl Stepper {
    /// A stepper that reads keys from the terminal (one key, no Enter needed,
    /// when stdin is a terminal) and writes to stderr.
    ///
    /// After `c` at any terminal stepper of this process, the ones made
    /// later do not pause.
    pub fn from_terminal() -> Stepper {
        Stepper::sharing_run_on(Box::new(read_key), Box::new(std::io::stderr()), &RUN_ON)
    }

    /// A stepper with its own input and output that remembers `c` in
    /// `run_on` and starts running on if it is set.
    fn sharing_run_on(
        input: Box<dyn FnMut() -> u8>,
        output: Box<dyn Write>,
        run_on: &'static AtomicBool,
    ) -> Stepper {
        let mut stepper = Stepper::new(input, output);
        stepper.paused = !run_on.load(Ordering::Relaxed);
        stepper.run_on = Some(run_on);
        stepper
    }

    /// A stepper with its own input (one byte per key) and output.
    pub fn new(input: Box<dyn FnMut() -> u8>, output: Box<dyn Write>) -> Stepper {
        Stepper {
            steps: 0,
            last: String::new(),
            paused: true,
            woken: Vec::new(),
            input,
            output,
            run_on: None,
        }
    }
}

impl Stepper {
    /// Starts step `n + 1` at `at`: writes its header now (while paused), so
    /// that the program's output during the step comes under it.
    fn begin_step(&mut self, at: Duration) {
        self.steps += 1;
        if self.paused {
            let header = format!(
                "── step {} · {:.3} s {}\n",
                self.steps,
                at.as_secs_f64(),
                "─".repeat(30)
            );
            let _ = self.output.write_all(header.as_bytes());
            let _ = self.output.flush();
        }
    }

    /// Remembers why `task` is ready, for the step that runs it.
    fn note_woken(&mut self, task: TaskInfo, why: String) {
        match self.woken.iter_mut().find(|(id, _)| *id == task.id) {
            Some(entry) => entry.1 = why,
            None => self.woken.push((task.id, why)),
        }
    }
}

impl Instrument for Stepper {
    fn task_spawned(&mut self, _at: Duration, task: TaskInfo) {
        self.note_woken(task, "spawned (its first step)".to_string());
    }

    fn task_woken(&mut self, _at: Duration, task: TaskInfo, cause: &WakeCause) {
        self.note_woken(task, cause.to_string());
    }

    fn before_step(&mut self, at: Duration, _task: TaskInfo) {
        self.begin_step(at);
    }

    fn after_step(&mut self, _at: Duration, task: TaskInfo, end: &StepEnd) {
        let how = end.to_string();
        let why = match self.woken.iter().position(|(id, _)| *id == task.id) {
            Some(at) => self.woken.swap_remove(at).1,
            None => "(not recorded)".to_string(),
        };
        self.last = format!(
            "ran      task '{}' (#{}) → {how}\nwoken    {why}\n",
            task.name, task.id.0
        );
    }

    fn callback(&mut self, at: Duration, name: &'static str) {
        self.begin_step(at);
        self.last = format!(
            "ran      {}\nwoken    {CALLBACK_WOKEN}\n",
            callback_name(name)
        );
    }

    fn idle(&mut self, at: Duration, timeout: Option<Duration>) {
        if !self.paused {
            return;
        }
        let line = idle_line(at, timeout) + "\n";
        let _ = self.output.write_all(line.as_bytes());
        let _ = self.output.flush();
    }

    fn wants_snapshot(&self) -> bool {
        self.paused
    }

    fn show(&mut self, snap: &Snapshot) {
        let list = |v: &[String]| {
            if v.is_empty() {
                "(empty)".to_string()
            } else {
                v.join("\n         ")
            }
        };
        // One write for the whole block, so a terminal never shows half of it.
        let block = format!(
            "{}ready    {}\ntimers   {}\nwaiting  {}\n[Enter] step · [c] continue · [q] quit\n",
            self.last,
            list(&snap.ready),
            list(&snap.timers),
            list(&snap.waiting)
        );
        let _ = self.output.write_all(block.as_bytes());
        let _ = self.output.flush();
        match (self.input)() {
            b'c' | b'C' => {
                self.paused = false;
                if let Some(run_on) = self.run_on {
                    run_on.store(true, Ordering::Relaxed);
                }
            }
            b'q' | b'Q' => {
                let _ = writeln!(self.output, "stepper: quit");
                std::process::exit(0);
            }
            _ => {}
        }
    }
}

/// Reads one key: raw mode when stdin is a terminal, else one byte of a line.
fn read_key() -> u8 {
    let mut byte = [0u8; 1];
    // SAFETY: isatty only inspects descriptor 0.
    if unsafe { libc::isatty(0) } == 1 {
        // SAFETY: an all-zero termios is a valid value to fill in.
        let mut old: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: tcgetattr writes the terminal's settings into `old`.
        if unsafe { libc::tcgetattr(0, &mut old) } == 0 {
            let mut raw = old;
            raw.c_lflag &= !(libc::ICANON | libc::ECHO);
            raw.c_cc[libc::VMIN] = 1;
            raw.c_cc[libc::VTIME] = 0;
            // SAFETY: sets descriptor 0's mode from a valid termios.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &raw) };
            // SAFETY: reads at most one byte into a one-byte buffer.
            let n = unsafe { libc::read(0, byte.as_mut_ptr().cast(), 1) };
            // SAFETY: restores the mode read above before returning.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &old) };
            return if n == 1 { byte[0] } else { b'c' };
        }
    }
    match std::io::stdin().read(&mut byte) {
        Ok(1) => byte[0],
        _ => b'c', // no input: run on
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Output a test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            ready: vec![],
            timers: vec![],
            waiting: vec![],
            call_sites: vec![],
        }
    }

    #[test]
    fn c_runs_on_in_the_loops_made_after_too() {
        static FLAG: AtomicBool = AtomicBool::new(false);
        let out = Shared::default();
        let mut first = Stepper::sharing_run_on(Box::new(|| b'c'), Box::new(out.clone()), &FLAG);
        assert!(first.wants_snapshot(), "a stepper starts paused");
        first.show(&snapshot());
        assert!(!first.wants_snapshot(), "c runs on");
        let second = Stepper::sharing_run_on(
            Box::new(|| panic!("a stepper that runs on reads no key")),
            Box::new(out.clone()),
            &FLAG,
        );
        assert!(
            !second.wants_snapshot(),
            "the next loop's stepper runs on too"
        );
        // A stepper with its own input (the tests') shares nothing.
        assert!(Stepper::new(Box::new(|| b'\n'), Box::new(out)).wants_snapshot());
    }
}
