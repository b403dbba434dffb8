//! The words of a trace: how a step ended ([`StepEnd`]), who woke a task
//! and why ([`WokenBy`], [`WakeCause`]), and the recorded events
//! ([`Event`], [`EventKind`]). Plain data, below the recorder and its
//! renderers.

use std::time::Duration;

use crate::task::TaskInfo;

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

/// How a callback is named in traces: `callback <name>`, or for a closure
/// (whose type name is its path plus `::{{closure}}`s) where it was written.
/// The labels of a timeline's rows, one per task: its name, and where
/// several tasks share a name (three `client`s, a server's `http
/// connection`s), the name with its id (`client #5`), so that no two rows
/// read alike.
pub(crate) fn row_labels<'a>(tasks: impl Iterator<Item = &'a TaskInfo> + Clone) -> Vec<String> {
    tasks
        .clone()
        .map(|t| {
            let shared = tasks.clone().filter(|o| o.name == t.name).nth(1).is_some();
            match shared {
                true => format!("{} #{}", t.name, t.id.0),
                false => t.name.to_string(),
            }
        })
        .collect()
}

pub(crate) fn callback_name(name: &str) -> String {
    match name.strip_suffix("::{{closure}}") {
        Some(mut path) => {
            while let Some(outer) = path.strip_suffix("::{{closure}}") {
                path = outer;
            }
            format!("a callback in {path}")
        }
        None => format!("callback {name}"),
    }
}

impl WokenBy {
    /// Who runs now, named by the loop: a callback by its name, else the
    /// loop.
    pub(crate) fn callback_or_loop(callback: Option<&'static str>) -> WokenBy {
        match callback {
            Some(name) => WokenBy::Callback(name),
            None => WokenBy::Loop,
        }
    }
}

impl std::fmt::Display for WokenBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WokenBy::Task(t) => write!(f, "task '{}' ({})", t.name, t.id),
            WokenBy::Callback(name) => f.write_str(&callback_name(name)),
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
    pub how: crate::task::suspend::Wake,
    /// Who woke it.
    pub by: WokenBy,
}

impl std::fmt::Display for WakeCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::Suspend;
        let by = self.by;
        match (self.how, self.waited_on) {
            (crate::task::suspend::Wake::Cancel, _) if by == WokenBy::Timeout => {
                f.write_str("timed out: its deadline passed")
            }
            (crate::task::suspend::Wake::Cancel, _) => write!(f, "cancelled by {by}"),
            (_, None) => write!(f, "woken by {by} before it paused"),
            (_, Some(Suspend::YieldNow)) => f.write_str("its turn came round"),
            (_, Some(Suspend::Sleep { .. })) => f.write_str("its sleep ended"),
            (_, Some(Suspend::Task { id, name })) => {
                write!(f, "task '{name}' ({id}) finished")
            }
            (_, Some(Suspend::Future)) => write!(f, "the future was set by {by}"),
            (_, Some(Suspend::Sync(what))) => write!(f, "{what}: woken by {by}"),
            (
                _,
                Some(Suspend::Io {
                    token,
                    direction,
                    purpose,
                }),
            ) => {
                if by == WokenBy::Timeout {
                    write!(
                        f,
                        "its deadline passed before socket {token} became {direction}"
                    )?;
                } else {
                    write!(f, "socket {token} became {direction}")?;
                }
                match purpose {
                    crate::reason::IoPurpose::Data => Ok(()),
                    purpose => write!(f, " ({purpose})"),
                }
            }
            (_, Some(Suspend::Thread)) => f.write_str("its worker thread finished"),
        }
    }
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
    /// A callback ran (its name).
    Callback(&'static str),
    /// The loop waited for I/O.
    IoWait(Option<Duration>),
    /// A source became ready.
    IoReady(usize),
}

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

/// A task and its events, in order (a row of a timeline or a picture).
pub(crate) type Row = (TaskInfo, Vec<(Duration, EventKind)>);
