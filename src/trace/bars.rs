//! What each row of the timeline picture shows, and when: a task's events
//! turned into stretches (ready, running, paused on what, late), the
//! moment it ended, and the arrows from the tasks that woke it. The
//! drawing is `svg.rs`'s.

use std::time::Duration;

use super::event::{EventKind, Row, StepEnd, WokenBy};
use crate::Suspend;
use crate::task::TaskEnd;

/// What a task is doing during a segment: its colour and its legend entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Doing {
    Ready,
    Running,
    Sleeping,
    Io,
    Awaiting,
    Thread,
    Yielded,
    /// Still asleep past its deadline: the loop did not get round to its
    /// timer (a step that blocked the loop, say).
    Late,
}

pub(super) const DOINGS: [Doing; 8] = [
    Doing::Running,
    Doing::Ready,
    Doing::Sleeping,
    Doing::Io,
    Doing::Awaiting,
    Doing::Thread,
    Doing::Yielded,
    Doing::Late,
];

impl Doing {
    pub(super) fn of(why: &Suspend) -> Doing {
        match why {
            Suspend::YieldNow => Doing::Yielded,
            Suspend::Sleep { .. } => Doing::Sleeping,
            Suspend::Io { .. } => Doing::Io,
            Suspend::Task { .. } | Suspend::Future | Suspend::Sync(_) => Doing::Awaiting,
            Suspend::Thread => Doing::Thread,
        }
    }

    pub(super) fn colour(self) -> &'static str {
        match self {
            Doing::Ready => "#d4d4d4",
            Doing::Running => "#2f8f46",
            Doing::Sleeping => "#7aa6dc",
            Doing::Io => "#f0a04b",
            Doing::Awaiting => "#b48cd2",
            Doing::Thread => "#5dbdb2",
            Doing::Yielded => "#a8a8a8",
            Doing::Late => "#d62728",
        }
    }

    pub(super) fn legend(self) -> &'static str {
        match self {
            Doing::Ready => "ready",
            Doing::Running => "running",
            Doing::Sleeping => "sleeping",
            Doing::Io => "socket",
            Doing::Awaiting => "task / future / lock",
            Doing::Thread => "worker thread",
            Doing::Yielded => "yield_now",
            Doing::Late => "late: its timer was due",
        }
    }
}

/// A horizontal stretch of one row.
pub(super) struct Segment {
    /// Where it starts.
    pub(super) from: Duration,
    /// Where it ends.
    pub(super) to: Duration,
    /// What the task was doing (the bar's colour).
    pub(super) doing: Doing,
    /// What it was doing, in words (the bar's tooltip).
    pub(super) what: String,
}

/// How late a wake must be to be marked: more than this much of the axis
/// (and than [`LATE_AT_LEAST`]), so that a timer served a little after its
/// deadline by a busy but healthy loop is not called late.
const LATE_SHARE: f64 = 0.01;
const LATE_AT_LEAST: Duration = Duration::from_millis(2);

/// How far past its deadline a sleep must end to be drawn late: a share of
/// the picture's span, and at least a few milliseconds.
pub(super) fn late_after(span: Duration) -> Duration {
    LATE_AT_LEAST.max(span.mul_f64(LATE_SHARE))
}

/// One row's stretches, end and wake arrows.
pub(super) struct Bars {
    /// What the task was doing, stretch by stretch, in time order.
    pub(super) segments: Vec<Segment>,
    /// When and how it ended, if it did.
    pub(super) ending: Option<(Duration, TaskEnd)>,
    /// Wake arrows into this row: (when, from row, to row, tooltip).
    pub(super) woke: Vec<(Duration, usize, usize, String)>,
}

/// Row `row` of `rows` (the loop's tasks and events) as stretches up to
/// `end`; `start` is the loop clock's start (to place a sleep's deadline),
/// `late_after` how late a wake must be to draw a late stretch.
pub(super) fn bars(
    row: usize,
    evs: &[(Duration, EventKind)],
    rows: &[Row],
    start: Option<std::time::Instant>,
    end: Duration,
    late_after: Duration,
) -> Bars {
    let info = &rows[row].0;
    let mut arrows = Vec::new();
    let mut segments = Vec::new();
    let mut open: Option<(Duration, Doing, String)> = None;
    let mut close = |open: &mut Option<(Duration, Doing, String)>, to: Duration| {
        if let Some((from, doing, what)) = open.take() {
            segments.push(Segment {
                from,
                to,
                doing,
                what,
            });
        }
    };
    let mut ending = None;
    // The deadline of the sleep the task paused on, on the axis.
    let mut deadline: Option<Duration> = None;
    for (at, kind) in evs {
        match kind {
            EventKind::Spawned => {
                open = Some((*at, Doing::Ready, "ready: spawned".to_string()));
            }
            EventKind::Woken(cause) => {
                // A sleep that ended well past its deadline: asleep up
                // to the deadline, late from there to the wake.
                if let Some(due) = deadline.take().filter(|due| *at > *due + late_after) {
                    close(&mut open, due);
                    open = Some((
                        due,
                        Doing::Late,
                        format!(
                            "late: its timer was due at {:.3} s and served {:.3} s after",
                            due.as_secs_f64(),
                            (*at - due).as_secs_f64()
                        ),
                    ));
                }
                close(&mut open, *at);
                open = Some((*at, Doing::Ready, format!("ready: {cause}")));
                if let WokenBy::Task(by) = cause.by
                    && let Some(from) = rows.iter().position(|(t, _)| t.id == by.id)
                    && from != row
                {
                    arrows.push((*at, from, row, format!("{} woke {}", by.name, info.name)));
                }
            }
            EventKind::Step => {
                close(&mut open, *at);
                open = Some((*at, Doing::Running, "running".to_string()));
            }
            EventKind::End(StepEnd::Suspended(why)) => {
                close(&mut open, *at);
                open = Some((*at, Doing::of(why), format!("paused on {why}")));
                deadline = match (why, start) {
                    (Suspend::Sleep { until }, Some(start)) => {
                        Some(until.saturating_duration_since(start))
                    }
                    _ => None,
                };
            }
            EventKind::End(StepEnd::Done(how)) => {
                close(&mut open, *at);
                ending = Some((*at, how.clone()));
            }
            _ => {}
        }
    }
    close(&mut open, end);
    Bars {
        segments,
        ending,
        woke: arrows,
    }
}
