//! The stepper (`YIELDFROM_STEP=1`): an [`Instrument`] that prints each
//! scheduling step and waits for a key.

use std::io::{Read, Write};
use std::time::Duration;

use crate::TaskId;
use crate::trace::{Instrument, Snapshot, StepEnd, TaskInfo, WakeCause};

/// The `YIELDFROM_STEP=1` instrument: prints each step and waits for a key.
pub struct Stepper {
    steps: u64,
    last: String,
    paused: bool,
    /// Why each task was last made ready, until its step shows it.
    woken: Vec<(TaskId, String)>,
    input: Box<dyn FnMut() -> u8>,
    output: Box<dyn Write>,
}

impl Stepper {
    /// A stepper that reads keys from the terminal (one key, no Enter needed,
    /// when stdin is a terminal) and writes to stderr.
    pub fn from_terminal() -> Stepper {
        Stepper::new(Box::new(read_key), Box::new(std::io::stderr()))
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
        }
    }
}

impl Stepper {
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

    fn after_step(&mut self, at: Duration, task: TaskInfo, end: &StepEnd) {
        self.steps += 1;
        let how = end.to_string();
        let why = match self.woken.iter().position(|(id, _)| *id == task.id) {
            Some(at) => self.woken.swap_remove(at).1,
            None => "(not recorded)".to_string(),
        };
        self.last = format!(
            "── step {} · {:.3} s {}\nran      task '{}' (#{}) → {how}\nwoken    {why}\n",
            self.steps,
            at.as_secs_f64(),
            "─".repeat(30),
            task.name,
            task.id.0
        );
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
            b'c' | b'C' => self.paused = false,
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
