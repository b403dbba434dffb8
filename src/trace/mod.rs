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

mod capture;
mod event;
mod explore;
pub(crate) mod stepper;
mod svg;

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;
use std::time::Duration;

pub(crate) use self::event::TIMEOUT_CALLBACK;
pub(crate) use self::event::callback_name;
pub use self::event::{Event, EventKind, StepEnd, WakeCause, WokenBy};
pub use crate::task::TaskInfo;

/// How a timeline's sentence that is wider than the timeline goes on, on
/// the next line.
pub const SENTENCE_GOES_ON: &str = "    → ";

/// Why a callback ran, as the stepper and the explorer say it.
pub(crate) const CALLBACK_WOKEN: &str = "its turn in the ready queue came";

/// The loop's wait with nothing ready, begun at `at` for at most `timeout`
/// (none: no timer), as the stepper and the explorer say it.
pub(crate) fn idle_line(at: Duration, timeout: Option<Duration>) -> String {
    match timeout {
        Some(t) => format!(
            "idle     {:.3} s: the next timer is due at {:.3} s",
            t.as_secs_f64(),
            (at + t).as_secs_f64()
        ),
        None => "idle     until an I/O event or a worker thread's result (no timer)".to_string(),
    }
}

/// Who made a task ready, for the explorer's wake arrow: the task or
/// callback that ran, or what the loop itself saw (a timer, a socket, a
/// worker thread).
fn waker(cause: &WakeCause) -> String {
    use crate::Suspend;
    match (cause.by, cause.waited_on) {
        (WokenBy::Loop, Some(Suspend::Sleep { .. })) => "the loop's timer".to_string(),
        (WokenBy::Loop, Some(Suspend::Io { token, .. })) => {
            format!("the loop's poll (socket {token})")
        }
        (WokenBy::Loop, Some(Suspend::Thread)) => "a worker thread".to_string(),
        (WokenBy::Timeout, _) => "its timeout (a timer)".to_string(),
        (by, _) => by.to_string(),
    }
}

/// The loop's queues at one moment (what the stepper prints).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The ready queue, front first.
    pub ready: Vec<String>,
    /// Pending timers, earliest first.
    pub timers: Vec<String>,
    /// Tasks parked, with what they wait on.
    pub waiting: Vec<String>,
    /// For each entry of `waiting`, where its task waits: the program's
    /// own call sites, outermost first ("function (file:line)"); empty
    /// unless the loop records them (`YIELDFROM_TRACE=explore` does).
    pub call_sites: Vec<Vec<String>>,
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
    /// The loop was made, its clock started at `start`: the times given to
    /// the other hooks count from it, and a sleep's `until` less `start` is
    /// its deadline on the same axis.
    fn clock_started(&mut self, _start: std::time::Instant) {}
    /// A task was created and scheduled.
    fn task_spawned(&mut self, _at: Duration, _task: TaskInfo) {}
    /// `task` was made ready, for `cause` (it runs on a later step).
    fn task_woken(&mut self, _at: Duration, _task: TaskInfo, _cause: &WakeCause) {}
    /// A step of `task` is about to run.
    fn before_step(&mut self, _at: Duration, _task: TaskInfo) {}
    /// A step of `task` ended.
    fn after_step(&mut self, _at: Duration, _task: TaskInfo, _end: &StepEnd) {}
    /// A callback (`call_soon`, a timer, a done callback) is about to run;
    /// `name` is its name (a closure's is the path where it was written).
    fn callback(&mut self, _at: Duration, _name: &'static str) {}
    /// The loop is about to wait for I/O, for at most `timeout`.
    fn waiting_for_io(&mut self, _at: Duration, _timeout: Option<Duration>) {}
    /// The loop has nothing ready and is about to wait: for the next timer
    /// (`timeout`, on the real or the virtual clock), for I/O or a worker
    /// thread, or both (`timeout` `None`: no timer). Called whether or not
    /// the loop polls, unlike [`waiting_for_io`](Self::waiting_for_io).
    fn idle(&mut self, _at: Duration, _timeout: Option<Duration>) {}
    /// A callback ran (after [`callback`](Self::callback)); a stepper shows
    /// the loop's queues here as after a task's step.
    fn after_callback(&mut self, _at: Duration) {}
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
    /// The instant the loop's clock started (a sleep's deadline less this
    /// is its time on the trace's axis).
    start: Rc<std::cell::Cell<Option<std::time::Instant>>>,
    /// For the explorer only: what the loop showed after each step.
    explore: Option<Rc<RefCell<Explored>>>,
}

/// What the explorer needs beyond the events, each with the number of
/// events recorded when it came (which places it between two of them).
#[derive(Default)]
struct Explored {
    /// The loop's queues at the end of each step, and the lines the
    /// program printed during it.
    snapshots: Vec<(usize, Snapshot, Vec<String>)>,
    /// The program's output, redirected while the loop runs.
    capture: Option<capture::Capture>,
    /// The loop's waits with nothing ready: when, and for how long at most.
    idles: Vec<(usize, Duration, Option<Duration>)>,
}

impl Recorder {
    /// An empty recorder.
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
            explore: Some(Rc::new(RefCell::new(Explored {
                capture: capture::Capture::start(),
                ..Explored::default()
            }))),
        }
    }

    /// The steps of this recorder's loop (number `loop_n` of the run), as
    /// the explorer shows them.
    fn explore_steps(&self, loop_n: usize) -> Vec<explore::Step> {
        let Some(explored) = &self.explore else {
            return Vec::new();
        };
        let explored = explored.borrow();
        let events = self.events.borrow();
        let mut snapshots = explored.snapshots.iter().peekable();
        let mut idles = explored.idles.iter().peekable();
        // Why each ready task was made ready: (id, cause, who, when).
        let mut why: Vec<(u64, String, String, Duration)> = Vec::new();
        let mut readied = Vec::new();
        let mut idle = None;
        let mut current: Option<explore::Step> = None;
        let mut steps = Vec::new();
        for i in 0..=events.len() {
            // A snapshot taken when `i` events had been recorded ends the step.
            while let Some((_, snap, output)) = snapshots.next_if(|(n, ..)| *n <= i) {
                if let Some(mut step) = current.take() {
                    step.output = output.clone();
                    step.readied = std::mem::take(&mut readied);
                    step.ready = snap.ready.clone();
                    step.timers = snap.timers.clone();
                    step.waiting = snap.waiting.clone();
                    step.call_sites = snap.call_sites.clone();
                    steps.push(step);
                }
            }
            while let Some((_, at, timeout)) = idles.next_if(|(n, _, _)| *n <= i) {
                idle = Some(idle_line(*at, *timeout));
            }
            let Some(e) = events.get(i) else { break };
            let named = |t: &TaskInfo| format!("task '{}' (#{})", t.name, t.id.0);
            match (&e.kind, e.task) {
                (EventKind::Spawned, Some(t)) => {
                    why.retain(|(id, ..)| *id != t.id.0);
                    let by = current.as_ref().map_or("the program".to_string(), |s| {
                        s.task
                            .map_or(s.ran.clone(), |(id, name)| format!("task '{name}' (#{id})"))
                    });
                    why.push((t.id.0, "spawned (its first step)".to_string(), by, e.at));
                    readied.push(format!("{}: spawned", named(&t)));
                }
                (EventKind::Woken(cause), Some(t)) => {
                    why.retain(|(id, ..)| *id != t.id.0);
                    why.push((t.id.0, cause.to_string(), waker(cause), e.at));
                    readied.push(format!("{}: {cause}", named(&t)));
                }
                (EventKind::Step, Some(t)) => {
                    let (woken, waker) = why
                        .iter()
                        .position(|(id, ..)| *id == t.id.0)
                        .map(|at| why.swap_remove(at))
                        .map_or(
                            ("(not recorded)".to_string(), None),
                            |(_, cause, by, at)| (cause, Some((by, at))),
                        );
                    current = Some(explore::Step {
                        loop_n,
                        at: e.at,
                        task: Some((t.id.0, t.name)),
                        ran: named(&t),
                        woken,
                        waker,
                        readied: Vec::new(),
                        idle: idle.take(),
                        output: Vec::new(),
                        ready: Vec::new(),
                        timers: Vec::new(),
                        waiting: Vec::new(),
                        call_sites: Vec::new(),
                    });
                }
                (EventKind::End(end), Some(t)) => {
                    if let Some(step) = current.as_mut() {
                        step.ran = format!("{} → {end}", named(&t));
                    }
                }
                (EventKind::Callback(name), _) => {
                    current = Some(explore::Step {
                        loop_n,
                        at: e.at,
                        task: None,
                        ran: callback_name(name),
                        woken: CALLBACK_WOKEN.to_string(),
                        waker: None,
                        readied: Vec::new(),
                        idle: idle.take(),
                        output: Vec::new(),
                        ready: Vec::new(),
                        timers: Vec::new(),
                        waiting: Vec::new(),
                        call_sites: Vec::new(),
                    });
                }
                _ => {}
            }
        }
        steps
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
    /// Resume (2.00 s, its sleep ended) → Done (2.00 s)`). A sentence longer
    /// than `width` goes on in lines that begin with `    → `.
    pub fn timeline(&self, width: usize) -> String {
        let rows = self.per_task();
        let labels = event::row_labels(rows.iter().map(|(t, _)| t));
        let end = self.end();
        let label = labels
            .iter()
            .map(|name| name.chars().count())
            .max()
            .unwrap_or(4)
            .clamp(4, 24);
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
        for ((_, evs), shown) in rows.iter().zip(&labels) {
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
            // A name longer than the column is cut, and says so with `…`
            // (the sentence below gives it whole).
            let name: String = if shown.chars().count() > label {
                shown.chars().take(label - 1).chain(['…']).collect()
            } else {
                shown.clone()
            };
            let bar: String = bar.into_iter().collect();
            let _ = writeln!(out, "{name:label$} │ {}", bar.trim_end());
        }
        out.push('\n');
        for ((_, evs), shown) in rows.iter().zip(&labels) {
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
            // Wrapped at `width`, between two of its words: a continuation
            // line begins with an indented arrow.
            let mut line = format!("{shown}:");
            for (i, word) in words.iter().enumerate() {
                let joined = if i == 0 { " " } else { " → " };
                if i > 0 && line.chars().count() + joined.len() + word.chars().count() > width {
                    let _ = writeln!(out, "{line}");
                    line = format!("{SENTENCE_GOES_ON}{word}");
                } else {
                    line.push_str(joined);
                    line.push_str(word);
                }
            }
            let _ = writeln!(out, "{line}");
        }
        out
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
    pub fn chrome_json(&self) -> String {
        chrome_file(&[self.chrome_events(1, "event loop")])
    }

    /// This recorder's events as Chrome trace items of process `pid`,
    /// named `process` (so the traces of several loops share one file).
    pub(crate) fn chrome_events(&self, pid: u32, process: &str) -> Vec<String> {
        let mut items = vec![
            format!(
                r#"{{"name":"process_name","ph":"M","pid":{pid},"args":{{"name":"{}"}}}}"#,
                escape(process)
            ),
            format!(
                r#"{{"name":"thread_name","ph":"M","pid":{pid},"tid":0,"args":{{"name":"loop"}}}}"#
            ),
        ];
        let us = |at: Duration| at.as_secs_f64() * 1e6;
        let instant = |tid: u64, at: Duration, name: &str| {
            format!(
                r#"{{"name":"{}","cat":"task","ph":"i","s":"t","pid":{pid},"tid":{tid},"ts":{:.3}}}"#,
                escape(name),
                us(at)
            )
        };
        let rows = self.per_task();
        for (info, _) in &rows {
            items.push(format!(
                r#"{{"name":"thread_name","ph":"M","pid":{pid},"tid":{},"args":{{"name":"{} #{}"}}}}"#,
                info.id.0,
                escape(info.name),
                info.id.0
            ));
        }
        for (info, evs) in &rows {
            let tid = info.id.0;
            let mut step_start: Option<Duration> = None;
            for (at, kind) in evs {
                match kind {
                    EventKind::Step => step_start = Some(*at),
                    EventKind::End(end) => {
                        let start = step_start.take().unwrap_or(*at);
                        items.push(format!(
                            r#"{{"name":"step","cat":"task","ph":"X","pid":{pid},"tid":{tid},"ts":{:.3},"dur":{:.3},"args":{{"end":"{}"}}}}"#,
                            us(start),
                            us(*at - start),
                            escape(&end.to_string())
                        ));
                        if let StepEnd::Suspended(w) = end {
                            items.push(instant(tid, *at, &format!("pause: {w}")));
                        }
                    }
                    EventKind::Spawned => items.push(instant(tid, *at, "spawned")),
                    EventKind::Woken(cause) => {
                        items.push(instant(tid, *at, &format!("woken: {cause}")))
                    }
                    _ => {}
                }
            }
        }
        // The loop's own events, on thread 0.
        let events = self.events.borrow();
        for (n, e) in events.iter().enumerate() {
            match &e.kind {
                EventKind::IoWait(timeout) => {
                    let until = events.get(n + 1).map_or(e.at, |next| next.at);
                    let limit = timeout.map_or("no timeout".to_string(), |t| {
                        format!("up to {:.3} s", t.as_secs_f64())
                    });
                    items.push(format!(
                        r#"{{"name":"waits for I/O","cat":"loop","ph":"X","pid":{pid},"tid":0,"ts":{:.3},"dur":{:.3},"args":{{"timeout":"{limit}"}}}}"#,
                        us(e.at),
                        us(until.saturating_sub(e.at))
                    ));
                }
                EventKind::IoReady(token) => {
                    items.push(instant(0, e.at, &format!("socket {token} ready")))
                }
                EventKind::Callback(name) => {
                    items.push(instant(0, e.at, &format!("runs {}", callback_name(name))))
                }
                _ => {}
            }
        }
        items
    }
}

/// A Chrome trace file holding the items of one or more processes.
fn chrome_file(processes: &[Vec<String>]) -> String {
    let items: Vec<&str> = processes.iter().flatten().map(String::as_str).collect();
    format!(
        "{{\"traceEvents\":[\n{}\n],\"displayTimeUnit\":\"ms\"}}\n",
        items.join(",\n")
    )
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

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
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
                    &chrome_file(&loops),
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
