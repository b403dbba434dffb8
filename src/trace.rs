//! Seeing inside: instruments, the trace recorder, and its three renderers.
//!
//! The loop calls an [`Instrument`] (curio's *Activation*, trio's
//! *Instrument*) at every decision it makes: a task spawned, a step about to
//! run, a step that ended (suspended with its reason, or done), a callback,
//! I/O readiness. With no instrument installed this costs one branch per step.
//!
//! [`Recorder`] is the instrument that keeps everything, and renders it as
//! - an ASCII **timeline** in the tutorial's style, one row per task;
//! - **Chrome trace-event JSON** (opens in Perfetto or chrome://tracing);
//! - a plain **event log**, one line per event.
//!
//! `YIELDFROM_TRACE=timeline|chrome|log` installs a recorder in every loop
//! and prints (or, for `chrome`, writes to `YIELDFROM_TRACE_FILE`) the trace
//! when the loop closes; [`Builder::instrument`](crate::Builder::instrument)
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
//! let timeline = rec.timeline(60);
//! assert!(timeline.contains(
//!     "A: Start (0.00 s) → Pause (0.00 s, sleep) → Resume (2.00 s, its sleep ended) → Done (2.00 s)"
//! ));
//! ```

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;
use std::time::Duration;

pub use crate::task::TaskInfo;

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

/// How a step ended.
///
/// ```
/// use yieldfrom::{Suspend, TaskEnd, trace::StepEnd};
/// assert_eq!(StepEnd::Suspended(Suspend::YieldNow).to_string(), "paused on yield_now");
/// assert_eq!(StepEnd::Done(TaskEnd::Returned).to_string(), "done: returned");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepEnd {
    /// The task paused, for this reason: the very value it suspended with
    /// (its `Display` is what the stepper, the log and the timeline print).
    Suspended(crate::Suspend),
    /// The task finished, in this way.
    Done(crate::task::TaskEnd),
}

impl std::fmt::Display for StepEnd {
    /// What the stepper, the log and the trace files say of a step:
    /// `paused on <reason>` or `done: <end>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepEnd::Suspended(why) => write!(f, "paused on {why}"),
            StepEnd::Done(end) => write!(f, "done: {end}"),
        }
    }
}

/// Who made a task ready: what was running when it was woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WokenBy {
    /// A task (it set a future, released a lock, put an item, cancelled it).
    Task(TaskInfo),
    /// A callback, by name: a `call_soon`/`call_later`/`call_at` callback, a
    /// done callback, or a timeout (`timeout()`).
    Callback(&'static str),
    /// The loop itself: a timer came due, a socket became ready, a worker
    /// thread finished.
    Loop,
    /// A deadline of [`timeout`](crate::timeout) / [`wait_for`](crate::wait_for)
    /// passed (what cancels the task it guards).
    Timeout,
}

/// The name of the callback that enforces a `timeout()` deadline (how the
/// loop tells a timeout from other callbacks).
pub(crate) const TIMEOUT_CALLBACK: &str = "timeout()";

impl WokenBy {
    /// Who runs now, named by the loop: a callback by its name (the one that
    /// enforces a timeout as [`WokenBy::Timeout`]), else the loop.
    pub(crate) fn callback_or_loop(callback: Option<&'static str>) -> WokenBy {
        match callback {
            Some(TIMEOUT_CALLBACK) => WokenBy::Timeout,
            Some(name) => WokenBy::Callback(name),
            None => WokenBy::Loop,
        }
    }
}

impl std::fmt::Display for WokenBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WokenBy::Task(t) => write!(f, "task '{}' ({})", t.name, t.id),
            // A closure's type name is its path plus `::{{closure}}`s:
            // say where it was written instead.
            WokenBy::Callback(name) => match name.strip_suffix("::{{closure}}") {
                Some(mut path) => {
                    while let Some(outer) = path.strip_suffix("::{{closure}}") {
                        path = outer;
                    }
                    write!(f, "a callback in {path}")
                }
                None => write!(f, "callback {name}"),
            },
            WokenBy::Loop => f.write_str("the loop"),
            WokenBy::Timeout => f.write_str("its timeout"),
        }
    }
}

/// Why a task was made ready again: what it waited on, how it is resumed,
/// and who woke it (what the stepper, the log and Chrome traces print).
///
/// ```
/// use std::time::Duration;
/// use yieldfrom::{EventLoop, Coro, sleep, trace::{Recorder, EventKind}};
/// let rec = Recorder::new();
/// let lp = EventLoop::builder().virtual_clock(true).instrument(rec.clone()).build();
/// lp.run(Coro::new("napper", || sleep(Duration::from_secs(1))));
/// let causes: Vec<String> = rec.events().iter().filter_map(|e| match &e.kind {
///     EventKind::Woken(cause) => Some(cause.to_string()),
///     _ => None,
/// }).collect();
/// assert_eq!(causes, ["its sleep ended"]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WakeCause {
    /// What the task waited on (`None`: it was woken before it paused).
    pub waited_on: Option<crate::Suspend>,
    /// Whether it goes on or is cancelled.
    pub how: crate::suspend::Wake,
    /// Who woke it.
    pub by: WokenBy,
}

impl std::fmt::Display for WakeCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::Suspend;
        let by = self.by;
        match (self.how, self.waited_on) {
            (crate::suspend::Wake::Cancel, _) if by == WokenBy::Timeout => {
                f.write_str("timed out: its deadline passed")
            }
            (crate::suspend::Wake::Cancel, _) => write!(f, "cancelled by {by}"),
            (_, None) => write!(f, "woken by {by} before it paused"),
            (_, Some(Suspend::YieldNow)) => f.write_str("its turn came round"),
            (_, Some(Suspend::Sleep { .. })) => f.write_str("its sleep ended"),
            (_, Some(Suspend::Task { id, name })) => {
                write!(f, "task '{name}' ({id}) finished")
            }
            (_, Some(Suspend::Future)) => write!(f, "the future was set by {by}"),
            (_, Some(Suspend::Sync(what))) => write!(f, "{what}: woken by {by}"),
            (_, Some(Suspend::Io { token, direction })) => {
                write!(f, "socket {token} became {direction}")
            }
            (_, Some(Suspend::Thread)) => f.write_str("its worker thread finished"),
        }
    }
}

/// Hooks the loop calls at each decision (all default to doing nothing).
///
/// Times are the loop's clock, from the loop's creation.
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// use yieldfrom::{EventLoop, Coro, trace::{Instrument, StepEnd, TaskInfo}};
/// /// Counts the steps that ended in a pause.
/// struct Pauses(Rc<Cell<u32>>);
/// impl Instrument for Pauses {
///     fn after_step(&mut self, _at: Duration, _task: TaskInfo, end: &StepEnd) {
///         if matches!(end, StepEnd::Suspended(_)) {
///             self.0.set(self.0.get() + 1);
///         }
///     }
/// }
/// let pauses = Rc::new(Cell::new(0));
/// let lp = EventLoop::builder().instrument(Pauses(pauses.clone())).build();
/// lp.run(Coro::new("main", || { yieldfrom::yield_now(); yieldfrom::yield_now(); }));
/// assert_eq!(pauses.get(), 2);
/// ```
pub trait Instrument {
    /// A task was created and scheduled.
    fn task_spawned(&mut self, _at: Duration, _task: TaskInfo) {}
    /// `task` was made ready, for `cause` (it runs on a later step).
    fn task_woken(&mut self, _at: Duration, _task: TaskInfo, _cause: &WakeCause) {}
    /// A step of `task` is about to run.
    fn before_step(&mut self, _at: Duration, _task: TaskInfo) {}
    /// A step of `task` ended.
    fn after_step(&mut self, _at: Duration, _task: TaskInfo, _end: &StepEnd) {}
    /// A callback (`call_soon`, a timer, a done callback) is about to run.
    fn callback(&mut self, _at: Duration) {}
    /// The loop is about to wait for I/O, for at most `timeout`.
    fn waiting_for_io(&mut self, _at: Duration, _timeout: Option<Duration>) {}
    /// A source became ready.
    fn io_ready(&mut self, _at: Duration, _token: usize) {}
    /// The loop is closing.
    fn loop_closed(&mut self, _at: Duration) {}
    /// Whether [`show`](Self::show) should be called after each step (the
    /// snapshot costs a walk over the loop's queues).
    fn wants_snapshot(&self) -> bool {
        false
    }
    /// The loop's queues after a step (for a stepper).
    fn show(&mut self, _snapshot: &Snapshot) {}
}

/// One recorded event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// When, by the loop's clock.
    pub at: Duration,
    /// Which task (`None` for loop-level events).
    pub task: Option<TaskInfo>,
    /// What happened.
    pub kind: EventKind,
}

/// What a recorded event is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Created and scheduled.
    Spawned,
    /// Made ready again, for this cause.
    Woken(WakeCause),
    /// A step began (the first one is the task's start).
    Step,
    /// A step ended.
    End(StepEnd),
    /// A callback ran.
    Callback,
    /// The loop waited for I/O.
    IoWait(Option<Duration>),
    /// A source became ready.
    IoReady(usize),
}

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
    events: Rc<RefCell<Vec<Event>>>,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.borrow().clone()
    }

    fn push(&self, at: Duration, task: Option<TaskInfo>, kind: EventKind) {
        self.events.borrow_mut().push(Event { at, task, kind });
    }

    /// The plain event log, one line per event.
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
                EventKind::Callback => "runs a callback".to_string(),
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
    fn per_task(&self) -> Vec<(TaskInfo, Vec<(Duration, EventKind)>)> {
        let mut rows: Vec<(TaskInfo, Vec<(Duration, EventKind)>)> = Vec::new();
        for e in self.events.borrow().iter() {
            let Some(t) = e.task else { continue };
            match rows.iter_mut().find(|(info, _)| info.id == t.id) {
                Some((_, evs)) => evs.push((e.at, e.kind.clone())),
                None => rows.push((t, vec![(e.at, e.kind.clone())])),
            }
        }
        rows
    }

    /// The ASCII timeline, `width` columns wide: for each task, a scaled bar
    /// (`·` not started, `█` running, `─` paused, blank once done) and the
    /// tutorial's sentence, each pause with what it waits on and each resume
    /// with what woke it (`A: Start (0.00 s) → Pause (0.00 s, sleep) →
    /// Resume (2.00 s, its sleep ended) → Done (2.00 s)`).
    pub fn timeline(&self, width: usize) -> String {
        let rows = self.per_task();
        let end = self
            .events
            .borrow()
            .iter()
            .map(|e| e.at)
            .max()
            .unwrap_or_default();
        let label = rows
            .iter()
            .map(|(t, _)| t.name.len())
            .max()
            .unwrap_or(4)
            .clamp(4, 16);
        let cols = width.saturating_sub(label + 3).max(10);
        let col_of = |at: Duration| -> usize {
            if end.is_zero() {
                0
            } else {
                ((at.as_secs_f64() / end.as_secs_f64()) * (cols - 1) as f64).round() as usize
            }
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:label$}   0 s{:>w$}",
            "Time →",
            format!("{:.2} s", end.as_secs_f64()),
            w = cols - 3
        );
        for (info, evs) in &rows {
            let mut bar = vec!['·'; cols];
            let mut running_since: Option<usize> = None;
            let mut paused_since: Option<usize> = None;
            for (at, kind) in evs {
                let c = col_of(*at);
                match kind {
                    EventKind::Step => {
                        if let Some(p) = paused_since.take().filter(|p| *p < c) {
                            bar[p..c].iter_mut().for_each(|x| *x = '─');
                        }
                        running_since = Some(c);
                    }
                    EventKind::End(end) => {
                        let from = running_since.take().unwrap_or(c).min(c);
                        bar[from..=c].iter_mut().for_each(|x| *x = '█');
                        match end {
                            StepEnd::Suspended(_) => paused_since = Some(c + 1),
                            StepEnd::Done(_) => bar[c + 1..].iter_mut().for_each(|x| *x = ' '),
                        }
                    }
                    _ => {}
                }
            }
            let name: String = info.name.chars().take(label).collect();
            let bar: String = bar.into_iter().collect();
            let _ = writeln!(out, "{name:label$} │ {}", bar.trim_end());
        }
        out.push('\n');
        for (info, evs) in &rows {
            let mut words = Vec::new();
            let mut started = false;
            let mut woken: Option<&WakeCause> = None;
            for (at, kind) in evs {
                let t = at.as_secs_f64();
                match kind {
                    EventKind::Woken(cause) => woken = Some(cause),
                    EventKind::Step if !started => {
                        started = true;
                        woken = None;
                        words.push(format!("Start ({t:.2} s)"));
                    }
                    EventKind::Step => match woken.take() {
                        Some(cause) => words.push(format!("Resume ({t:.2} s, {cause})")),
                        None => words.push(format!("Resume ({t:.2} s)")),
                    },
                    EventKind::End(StepEnd::Suspended(why)) => {
                        words.push(format!("Pause ({t:.2} s, {why})"))
                    }
                    EventKind::End(StepEnd::Done(crate::task::TaskEnd::Returned)) => {
                        words.push(format!("Done ({t:.2} s)"))
                    }
                    EventKind::End(StepEnd::Done(how)) => {
                        words.push(format!("Done ({t:.2} s, {how})"))
                    }
                    _ => {}
                }
            }
            let _ = writeln!(out, "{}: {}", info.name, words.join(" → "));
        }
        out
    }

    /// Chrome trace-event JSON: a complete event (`"ph":"X"`) per step, one
    /// thread per task, instant events for pauses; opens in Perfetto and
    /// chrome://tracing.
    pub fn chrome_json(&self) -> String {
        let mut items = Vec::new();
        let rows = self.per_task();
        for (info, _) in &rows {
            items.push(format!(
                r#"{{"name":"thread_name","ph":"M","pid":1,"tid":{},"args":{{"name":"{} #{}"}}}}"#,
                info.id.0,
                escape(info.name),
                info.id.0
            ));
        }
        for (info, evs) in &rows {
            let mut step_start: Option<Duration> = None;
            for (at, kind) in evs {
                match kind {
                    EventKind::Step => step_start = Some(*at),
                    EventKind::End(end) => {
                        let start = step_start.take().unwrap_or(*at);
                        let dur = (*at - start).as_secs_f64() * 1e6;
                        let (label, why) = ("step", end.to_string());
                        items.push(format!(
                            r#"{{"name":"{label}","cat":"task","ph":"X","pid":1,"tid":{},"ts":{:.3},"dur":{:.3},"args":{{"end":"{}"}}}}"#,
                            info.id.0,
                            start.as_secs_f64() * 1e6,
                            dur,
                            escape(&why)
                        ));
                        if let StepEnd::Suspended(w) = end {
                            items.push(format!(
                                r#"{{"name":"pause: {}","cat":"task","ph":"i","s":"t","pid":1,"tid":{},"ts":{:.3}}}"#,
                                escape(&w.to_string()),
                                info.id.0,
                                at.as_secs_f64() * 1e6
                            ));
                        }
                    }
                    EventKind::Spawned => items.push(format!(
                        r#"{{"name":"spawned","cat":"task","ph":"i","s":"t","pid":1,"tid":{},"ts":{:.3}}}"#,
                        info.id.0,
                        at.as_secs_f64() * 1e6
                    )),
                    EventKind::Woken(cause) => items.push(format!(
                        r#"{{"name":"woken: {}","cat":"task","ph":"i","s":"t","pid":1,"tid":{},"ts":{:.3}}}"#,
                        escape(&cause.to_string()),
                        info.id.0,
                        at.as_secs_f64() * 1e6
                    )),
                    _ => {}
                }
            }
        }
        format!(
            "{{\"traceEvents\":[\n{}\n],\"displayTimeUnit\":\"ms\"}}\n",
            items.join(",\n")
        )
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

impl Instrument for Recorder {
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
    fn callback(&mut self, at: Duration) {
        self.push(at, None, EventKind::Callback);
    }
    fn waiting_for_io(&mut self, at: Duration, timeout: Option<Duration>) {
        self.push(at, None, EventKind::IoWait(timeout));
    }
    fn io_ready(&mut self, at: Duration, token: usize) {
        self.push(at, None, EventKind::IoReady(token));
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
                let path = crate::env::trace_file();
                if let Err(e) = std::fs::write(&path, rec.chrome_json()) {
                    eprintln!("yieldfrom: cannot write the trace to {path}: {e}");
                }
            }
        }
    }
}

opaque_debug!(Recorder);
