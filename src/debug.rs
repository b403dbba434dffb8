//! Debugging tools: the stepper and the schedule explorer.
//!
//! **The stepper** (`YIELDFROM_STEP=1`) pauses after every scheduling step and
//! prints what just ran and why it stopped, the ready queue, the timers, and
//! the tasks waiting — then waits for a key: Enter steps, `c` runs on without
//! pausing, `q` quits. It is an [`Instrument`], so it sees exactly what the
//! loop decides.
//!
//! ```text
//! ── step 2 · 0.000 s ───────────────────────────────
//! ran      task 'greet' (#1) → paused on sleep
//! ready    (empty)
//! timers   2.000 s: wake task 'greet' (#1)
//! waiting  task 'greet' (#1) on sleep
//! [Enter] step · [c] continue · [q] quit
//! ```
//!
//! **The explorer** ([`explore`]) runs a program under many schedules: the
//! virtual clock plus a seed that picks among ready tasks in a reproducible
//! random order. The first seed whose run fails comes back with its trace,
//! so a race that FIFO order hides can be found and replayed.

use std::io::{Read, Write};
use std::time::Duration;

use crate::coro::Coro;
use crate::event_loop::EventLoop;
use crate::future::panic_message;
use crate::trace::{Instrument, Recorder, StepEnd, TaskInfo};

/// The loop's queues at one moment (what the stepper prints).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The ready queue, front first.
    pub ready: Vec<String>,
    /// Pending timers, earliest first.
    pub timers: Vec<String>,
    /// Tasks parked, with what they wait on.
    pub waiting: Vec<String>,
}

/// The `YIELDFROM_STEP=1` instrument: prints each step and waits for a key.
pub struct Stepper {
    steps: u64,
    last: String,
    paused: bool,
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
            input,
            output,
        }
    }
}

impl Instrument for Stepper {
    fn after_step(&mut self, at: Duration, task: TaskInfo, end: &StepEnd) {
        self.steps += 1;
        let how = match end {
            StepEnd::Suspended(why) => format!("paused on {why}"),
            StepEnd::Done(how) => format!("done ({how})"),
        };
        self.last = format!(
            "── step {} · {:.3} s {}\nran      task '{}' (#{}) → {how}\n",
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

/// The first failing schedule found by [`explore`].
#[derive(Clone, Debug)]
pub struct Failure {
    /// The seed that replays it (`Builder::seed`).
    pub seed: u64,
    /// What the failing run panicked with.
    pub message: String,
    /// The run's event log (the interleaving).
    pub trace: String,
}

/// Runs `program` once per seed, each on a fresh loop with the virtual clock
/// and that seed, and returns how many runs passed — or the first failure
/// (a panic, such as a failed assertion) with its seed and trace.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use yieldfrom::{Coro, combinators::gather, yield_now, debug::explore};
///
/// // Two tasks increment a counter with a pause between read and write.
/// let racy = || Coro::new("main", || {
///     let n = Rc::new(Cell::new(0));
///     gather((0..2).map(|_| { let n = n.clone(); Coro::new("inc", move || {
///         let v = n.get(); yield_now(); n.set(v + 1);
///     })}));
///     assert_eq!(n.get(), 2, "lost update");
/// });
/// let failure = explore(0..20, racy).unwrap_err();
/// assert!(failure.message.contains("lost update"));
/// ```
pub fn explore<T: 'static>(
    seeds: impl IntoIterator<Item = u64>,
    program: impl Fn() -> Coro<T>,
) -> Result<usize, Failure> {
    let hook = std::panic::take_hook();
    // The failures are expected: keep their messages out of the output.
    std::panic::set_hook(Box::new(|_| {}));
    let mut passed = 0;
    let mut failure = None;
    for seed in seeds {
        let rec = Recorder::new();
        let lp = EventLoop::builder()
            .virtual_clock(true)
            .seed(seed)
            .instrument(rec.clone())
            .ignore_env_instruments()
            .build();
        let coro = program();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run(coro))) {
            Ok(_) => passed += 1,
            Err(p) => {
                failure = Some(Failure {
                    seed,
                    message: panic_message(p.as_ref()),
                    trace: rec.log(),
                });
                break;
            }
        }
    }
    std::panic::set_hook(hook);
    match failure {
        Some(f) => Err(f),
        None => Ok(passed),
    }
}

opaque_debug!(Stepper);
