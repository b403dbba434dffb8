//! Seeing inside: instruments, the trace recorder, and its three renderers.
//!
//! The loop calls an [`Instrument`] (curio's *Activation*, trio's
//! *Instrument*) at every decision it makes: a task spawned, a step about to
//! run, a step that ended (suspended with its reason, or done), a callback,
//! I/O readiness. With no instrument installed this costs one branch per step.
//!
//! [`Recorder`] is the instrument that keeps everything, and renders it as
//! - an ASCII **timeline** in the tutorial's style, one row per task, each
//!   pause with what it waits on and each resume with what woke it;
//! - a **picture** ([`Recorder::svg`]): the same timeline as a self-contained
//!   SVG, coloured by reason, with arrows from waker to woken;
//! - **Chrome trace-event JSON** (opens in Perfetto or chrome://tracing),
//!   with the loop's callbacks and I/O on a thread of their own;
//! - a plain **event log**, one line per event.
//!
//! `YIELDFROM_TRACE=timeline|svg|html|chrome|explore|log` installs a recorder in
//! every loop and prints the trace when the loop closes (`svg`, `html`,
//! `chrome` and `explore` write a file, `YIELDFROM_TRACE_FILE`, holding every
//! loop of the run so far, and say where it went; `explore` is a page to step
//! through the run forward and back, see `explore.rs`); [`Builder::instrument`](crate::Builder::instrument)
//! installs any instrument in code.
//!
//! ```
//! use std::time::Duration;
//! use yieldfrom::{EventLoop, Coro, sleep, spawn, yield_from, trace::Recorder};
//!
//! let rec = Recorder::new();
//! let lp = EventLoop::builder().virtual_clock(true).instrument(rec.clone()).build();
//! lp.run(Coro::new("main", || {
//!     let a = spawn(Coro::new("A", || sleep(Duration::from_secs(2))));
//!     let b = spawn(Coro::new("B", || sleep(Duration::from_secs(1))));
//!     yield_from(a);
//!     yield_from(b);
//! }));
//! let timeline = rec.timeline(100);
//! assert!(timeline.contains(
//!     "A: Start (0.00 s) → Pause (0.00 s, sleep) → Resume (2.00 s, its sleep ended) → Done (2.00 s)"
//! ));
//! ```

mod bars;
mod capture;
mod chrome;
mod event;
mod explore;
mod instrument;
pub(crate) mod stepper;
mod svg;
mod timeline;

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;
use std::time::Duration;

pub(crate) use self::event::{CALLBACK_WOKEN, callback_name, idle_line};
pub use self::event::{Event, EventKind, StepEnd, WakeCause, WokenBy};
pub use self::instrument::{Instrument, Snapshot};
pub use self::timeline::SENTENCE_GOES_ON;
pub use crate::task::TaskInfo;

/// An [`Instrument`] that records every event; clone it to keep a handle.
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::{EventLoop, Coro, sleep, trace::Recorder};
/// let rec = Recorder::new();
/// let lp = EventLoop::builder().virtual_clock(true).instrument(rec.clone()).build();
/// lp.run(Coro::new("greet", || sleep(Duration::from_secs(1))));
/// assert!(rec.log().contains("greet"));
/// assert!(rec.timeline(60).contains("greet"));
/// ```
#[derive(Clone, Default)]
pub struct Recorder {
    /// The events so far, shared by the clones of the recorder.
    events: Rc<RefCell<Vec<Event>>>,
    /// The instant the loop's clock started (a sleep's deadline less this
    /// is its time on the trace's axis).
    start: Rc<std::cell::Cell<Option<std::time::Instant>>>,
    /// For the explorer only: what the loop showed after each step.
    explore: Option<Rc<RefCell<explore::Explored>>>,
}

impl Recorder {
    /// An empty recorder.
    ///
    /// ```
    /// use yieldfrom::{EventLoop, Coro, trace::Recorder};
    /// let rec = Recorder::new();
    /// let lp = EventLoop::builder().instrument(rec.clone()).build();
    /// lp.run(Coro::new("main", || {}));
    /// assert!(rec.log().contains("'main'"));
    /// ```
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// A recorder that also keeps the loop's queues after every step and
    /// its idle waits (`YIELDFROM_TRACE=explore`): a walk over the queues per
    /// step, which only the explorer pays for.
    pub(crate) fn for_explorer() -> Recorder {
        crate::call_sites::warm_up();
        Recorder {
            events: Rc::default(),
            start: Rc::default(),
            explore: Some(Rc::new(RefCell::new(explore::Explored {
                capture: capture::Capture::start(),
                ..explore::Explored::default()
            }))),
        }
    }

    /// The events so far.
    ///
    /// ```
    /// use yieldfrom::{EventLoop, Coro, trace::{Recorder, EventKind}};
    /// let rec = Recorder::new();
    /// let lp = EventLoop::builder().virtual_clock(true).instrument(rec.clone()).build();
    /// lp.run(Coro::new("main", || {}));
    /// let spawns = rec.events().iter().filter(|e| matches!(e.kind, EventKind::Spawned { .. })).count();
    /// assert_eq!(spawns, 1);
    /// ```
    pub fn events(&self) -> Vec<Event> {
        self.events.borrow().clone()
    }

    fn push(&self, at: Duration, task: Option<TaskInfo>, kind: EventKind) {
        self.events.borrow_mut().push(Event { at, task, kind });
    }

    /// The plain event log, one line per event.
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::{EventLoop, Coro, sleep, trace::Recorder};
    /// let rec = Recorder::new();
    /// let lp = EventLoop::builder().virtual_clock(true).instrument(rec.clone()).build();
    /// lp.run(Coro::new("napper", || sleep(Duration::from_secs(1))));
    /// let log = rec.log();
    /// assert!(log.contains("'napper'") && log.contains("its sleep ended"));
    /// ```
    pub fn log(&self) -> String {
        let mut out = String::new();
        for e in self.events.borrow().iter() {
            let who = e.task.map_or("loop".to_string(), |t| {
                format!("task #{} '{}'", t.id.0, t.name)
            });
            let what = match &e.kind {
                EventKind::Spawned => "spawned".to_string(),
                EventKind::Step => "runs".to_string(),
                EventKind::Woken(cause) => format!("woken: {cause}"),
                EventKind::End(end) => end.to_string(),
                EventKind::Callback(name) => format!("runs {}", callback_name(name)),
                EventKind::IoWait(None) => "waits for I/O (no timeout)".to_string(),
                EventKind::IoWait(Some(t)) => {
                    format!("waits for I/O (up to {:.3} s)", t.as_secs_f64())
                }
                EventKind::IoReady(token) => format!("socket {token} ready"),
            };
            let _ = writeln!(out, "[{:>10.6} s] {who} {what}", e.at.as_secs_f64());
        }
        out
    }

    /// Per task, in order of creation: (info, [(at, kind)]).
    fn per_task(&self) -> Vec<event::Row> {
        let mut rows: Vec<event::Row> = Vec::new();
        for e in self.events.borrow().iter() {
            let Some(t) = e.task else { continue };
            match rows.iter_mut().find(|(info, _)| info.id == t.id) {
                Some((_, evs)) => evs.push((e.at, e.kind.clone())),
                None => rows.push((t, vec![(e.at, e.kind.clone())])),
            }
        }
        rows
    }

    /// The timeline as a self-contained SVG picture: one row per task,
    /// coloured by what it was doing (running, ready, or paused on a sleep,
    /// a socket, another task, a worker thread), arrows from the task that
    /// woke another, the time axis in seconds. Opens in any browser.
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::{EventLoop, Coro, sleep, spawn, yield_from, trace::Recorder};
    /// let rec = Recorder::new();
    /// let lp = EventLoop::builder().virtual_clock(true).instrument(rec.clone()).build();
    /// lp.run(Coro::new("main", || yield_from(spawn(Coro::new("A", || sleep(Duration::from_secs(2)))))));
    /// let svg = rec.svg();
    /// assert!(svg.starts_with("<svg") && svg.contains(">A</text>") && svg.contains(">2.0 s</text>"));
    /// ```
    pub fn svg(&self) -> String {
        svg::svg_file(&[self.svg_loop("event loop")])
    }

    /// This recorder's loop, for a picture under the heading `title`.
    pub(crate) fn svg_loop(&self, title: &str) -> svg::Loop {
        svg::Loop {
            rows: self.per_task(),
            end: self.end(),
            title: title.to_string(),
            start: self.start.get(),
        }
    }

    /// The ASCII timeline, `width` columns wide: for each task, a scaled bar
    /// (`·` not started, `█` running, `─` paused, blank once done) and the
    /// tutorial's sentence, each pause with what it waits on and each resume
    /// with what woke it (`A: Start (0.00 s) → Pause (0.00 s, sleep) →
    /// Resume (2.00 s, its sleep ended) → Done (2.00 s)`). A sentence longer
    /// than `width` goes on in lines that begin with
    /// [`SENTENCE_GOES_ON`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use yieldfrom::{EventLoop, Coro, sleep, trace::Recorder};
    /// let rec = Recorder::new();
    /// let lp = EventLoop::builder().virtual_clock(true).instrument(rec.clone()).build();
    /// lp.run(Coro::new("A", || sleep(Duration::from_secs(2))));
    /// let picture = rec.timeline(60);
    /// assert!(picture.contains("A: Start (0.00 s) → Pause (0.00 s, sleep)"));
    /// ```
    pub fn timeline(&self, width: usize) -> String {
        timeline::timeline(&self.per_task(), self.end(), width)
    }

    /// This recorder's events as Chrome trace items of process `pid`,
    /// named `process` (so the traces of several loops share one file).
    pub(crate) fn chrome_events(&self, pid: u32, process: &str) -> Vec<String> {
        chrome::chrome_events(&self.per_task(), &self.events.borrow(), pid, process)
    }

    /// The steps of this recorder's loop (number `loop_n` of the run), as
    /// the explorer shows them (none unless it records for the explorer).
    fn explore_steps(&self, loop_n: usize) -> Vec<explore::Step> {
        match &self.explore {
            Some(explored) => explore::steps(&self.events.borrow(), &explored.borrow(), loop_n),
            None => Vec::new(),
        }
    }

    /// The time of the last event (zero with none).
    fn end(&self) -> Duration {
        self.events
            .borrow()
            .iter()
            .map(|e| e.at)
            .max()
            .unwrap_or_default()
    }

    /// Chrome trace-event JSON: a complete event (`"ph":"X"`) per step, one
    /// thread per task, instant events for spawns, wake-ups and pauses; on a
    /// thread of its own (`loop`), the loop's waits for I/O, the sockets that
    /// became ready and the callbacks it ran. Opens in Perfetto
    /// (ui.perfetto.dev) and chrome://tracing.
    ///
    /// ```
    /// use yieldfrom::{EventLoop, Coro, trace::Recorder};
    /// let rec = Recorder::new();
    /// let lp = EventLoop::builder().instrument(rec.clone()).build();
    /// lp.run(Coro::new("main", || {}));
    /// let json = rec.chrome_json();
    /// assert!(json.starts_with("{\"traceEvents\":[") && json.contains("\"ph\":\"X\""));
    /// ```
    pub fn chrome_json(&self) -> String {
        chrome::chrome_file(&[self.chrome_events(1, "event loop")])
    }
}

/// The Chrome traces of every loop of this process that has closed so far,
/// in the order they closed: each loop is a process of its own in the file.
static CHROME_LOOPS: std::sync::Mutex<Vec<Vec<String>>> = std::sync::Mutex::new(Vec::new());

/// The explorer's loops (their pictures and steps) so far.
type ExploredLoops = (Vec<svg::Loop>, Vec<explore::Step>);
static EXPLORE_LOOPS: std::sync::Mutex<ExploredLoops> =
    std::sync::Mutex::new((Vec::new(), Vec::new()));

/// The pictures of every loop of this process that has closed so far.
static SVG_LOOPS: std::sync::Mutex<Vec<svg::Loop>> = std::sync::Mutex::new(Vec::new());

/// Writes `contents` to `path` and says where it went (or why it could not).
fn write_trace(path: &str, contents: &str, what: &str) {
    match std::fs::write(path, contents) {
        Ok(()) => {
            let shown =
                std::fs::canonicalize(path).map_or(path.to_string(), |p| p.display().to_string());
            eprintln!("yieldfrom: {what} written to {shown}");
        }
        Err(e) => eprintln!("yieldfrom: cannot write the trace to {path}: {e}"),
    }
}

/// How the loop closing now is named in a file of several: `loop N (thread T)`.
fn loop_title(n: usize) -> String {
    let thread = std::thread::current();
    format!("loop {n} (thread {})", thread.name().unwrap_or("unnamed"))
}

impl Instrument for Recorder {
    fn clock_started(&mut self, start: std::time::Instant) {
        self.start.set(Some(start));
    }
    fn task_spawned(&mut self, at: Duration, task: TaskInfo) {
        self.push(at, Some(task), EventKind::Spawned);
    }
    fn task_woken(&mut self, at: Duration, task: TaskInfo, cause: &WakeCause) {
        self.push(at, Some(task), EventKind::Woken(*cause));
    }
    fn before_step(&mut self, at: Duration, task: TaskInfo) {
        self.push(at, Some(task), EventKind::Step);
    }
    fn after_step(&mut self, at: Duration, task: TaskInfo, end: &StepEnd) {
        self.push(at, Some(task), EventKind::End(end.clone()));
    }
    fn callback(&mut self, at: Duration, name: &'static str) {
        self.push(at, None, EventKind::Callback(name));
    }
    fn waiting_for_io(&mut self, at: Duration, timeout: Option<Duration>) {
        self.push(at, None, EventKind::IoWait(timeout));
    }
    fn io_ready(&mut self, at: Duration, token: usize) {
        self.push(at, None, EventKind::IoReady(token));
    }
    fn idle(&mut self, at: Duration, timeout: Option<Duration>) {
        if let Some(explored) = &self.explore {
            let n = self.events.borrow().len();
            explored.borrow_mut().idles.push((n, at, timeout));
        }
    }
    fn wants_snapshot(&self) -> bool {
        self.explore.is_some()
    }
    fn loop_closed(&mut self, _at: Duration) {
        // What the program prints after its loop closed goes straight out.
        if let Some(explored) = &self.explore {
            explored.borrow_mut().capture = None;
            crate::call_sites::clear();
        }
    }
    fn show(&mut self, snapshot: &Snapshot) {
        if let Some(explored) = &self.explore {
            let n = self.events.borrow().len();
            let mut explored = explored.borrow_mut();
            let output = explored.capture.as_ref().map_or(Vec::new(), |c| c.take());
            explored.snapshots.push((n, snapshot.clone(), output));
        }
    }
}

/// What `YIELDFROM_TRACE` asks for (read in [`crate::env`]).
pub(crate) use crate::env::TraceOutput as Output;

impl Output {
    pub(crate) fn from_env() -> Option<Output> {
        crate::env::trace()
    }

    /// Prints or writes the recorder's trace when the loop closes.
    pub(crate) fn emit(self, rec: &Recorder) {
        match self {
            Output::Timeline => {
                let width = crate::env::columns();
                eprint!("{}", rec.timeline(width));
            }
            Output::Log => eprint!("{}", rec.log()),
            Output::Chrome => {
                let path = crate::env::trace_file(self);
                let mut loops = CHROME_LOOPS.lock().unwrap_or_else(|e| e.into_inner());
                let n = loops.len() + 1;
                loops.push(rec.chrome_events(n as u32, &loop_title(n)));
                // The file is rewritten with every loop so far, so the last
                // one to close leaves all of them in it.
                write_trace(
                    &path,
                    &chrome::chrome_file(&loops),
                    &format!(
                        "Chrome trace of loop {n} ({n} loop(s) in the file; open it in \
                         ui.perfetto.dev or chrome://tracing)"
                    ),
                );
            }
            Output::Explore => {
                let path = crate::env::trace_file(self);
                let mut loops = EXPLORE_LOOPS.lock().unwrap_or_else(|e| e.into_inner());
                let n = loops.0.len() + 1;
                loops.0.push(rec.svg_loop(&loop_title(n)));
                let steps = rec.explore_steps(n);
                loops.1.extend(steps);
                write_trace(
                    &path,
                    &explore::page(&loops.0, &loops.1),
                    &format!(
                        "explorer page of loop {n} ({n} loop(s) in the page; open it in a browser)"
                    ),
                );
            }
            Output::Svg | Output::Html => {
                let path = crate::env::trace_file(self);
                let mut loops = SVG_LOOPS.lock().unwrap_or_else(|e| e.into_inner());
                let n = loops.len() + 1;
                loops.push(rec.svg_loop(&loop_title(n)));
                let file = match self {
                    Output::Html => svg::html_file(&loops),
                    _ => svg::svg_file(&loops),
                };
                write_trace(
                    &path,
                    &file,
                    &format!(
                        "timeline picture of loop {n} ({n} loop(s) in the file; open it in a browser)"
                    ),
                );
            }
        }
    }
}

opaque_debug!(Recorder);
