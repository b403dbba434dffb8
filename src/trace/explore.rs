//! `YIELDFROM_TRACE=explore`: one self-contained HTML page per run that a
//! learner moves through freely, forward and back, one scheduling decision
//! at a time.
//!
//! The page holds the recorded schedule (JSON in a `<script>` element) and
//! the run's timeline picture (every loop on one time axis); its script shows
//! the loop's state after each step: what ran and how it ended, why it had
//! been woken, whom it made ready, the ready queue in order, the timers in
//! deadline order, who waits on what (a socket with what it is: the
//! listener, a client's connection, PostgreSQL), the lines the program
//! printed during the step, and the loop's idle wait before the step. Nothing is fetched from the network. Stepping back shows the
//! recorded state: the program is not run again.
//!
//! Keys: → and ← (or the buttons, or the slider) step; Home and End jump.
//! A click on the timeline moves through the run by its time axis: to the
//! last step of the loop clicked that began at or before the time clicked.
//! "Next run of" jumps to the next step of the task chosen, "where it woke"
//! to the step during which it was last made ready. The page's address may
//! carry `#step=N` (open at step N), `#at=L:T` (open at loop L's step at T
//! seconds, as a click there does) and `&keys=next,prev,...` (presses those
//! keys once loaded: what the browser test does).

use std::fmt::Write as _;
use std::time::Duration;

use super::capture::Capture;
use super::event::{
    CALLBACK_WOKEN, Event, EventKind, WakeCause, WokenBy, callback_name, idle_line,
};
use super::instrument::Snapshot;
use super::svg;
use crate::task_id::TaskInfo;

/// One scheduling decision as the page shows it.
pub(crate) struct Step {
    /// Which loop of the run (from 1).
    pub(crate) loop_n: usize,
    /// When it ran, on its loop's clock.
    pub(crate) at: Duration,
    /// The task it stepped (id, name), or none for a callback.
    pub(crate) task: Option<(u64, &'static str)>,
    /// What ran and how it ended ("task 'A' (#2) → paused on sleep").
    pub(crate) ran: String,
    /// Why it was ready ("its sleep ended").
    pub(crate) woken: String,
    /// Who made it ready, and when (the wake arrow's tail).
    pub(crate) waker: Option<(String, Duration)>,
    /// Tasks it made ready, with why.
    pub(crate) readied: Vec<String>,
    /// The loop's wait just before it ("idle 1.000 s: ..."), if any.
    pub(crate) idle: Option<String>,
    /// The lines the program printed during it.
    pub(crate) output: Vec<String>,
    /// The loop's queues after it.
    pub(crate) ready: Vec<String>,
    /// The timers due, earliest first.
    pub(crate) timers: Vec<String>,
    /// The waiting tasks, and on what.
    pub(crate) waiting: Vec<String>,
    /// For each of `waiting`, its call sites, outermost first.
    pub(crate) call_sites: Vec<Vec<String>>,
}

/// What the explorer needs beyond the events, each with the number of
/// events recorded when it came (which places it between two of them).
#[derive(Default)]
pub(super) struct Explored {
    /// The loop's queues at the end of each step, and the lines the
    /// program printed during it.
    pub(super) snapshots: Vec<(usize, Snapshot, Vec<String>)>,
    /// The program's output, redirected while the loop runs.
    pub(super) capture: Option<Capture>,
    /// The loop's waits with nothing ready: when, and for how long at most.
    pub(super) idles: Vec<(usize, Duration, Option<Duration>)>,
}

/// The steps of a loop (number `loop_n` of the run) as the explorer shows
/// them, from its recorded `events` and what the recorder kept beside them.
pub(super) fn steps(events: &[Event], explored: &Explored, loop_n: usize) -> Vec<Step> {
    let mut snapshots = explored.snapshots.iter().peekable();
    let mut idles = explored.idles.iter().peekable();
    // Why each ready task was made ready: (id, cause, who, when).
    let mut why: Vec<(u64, String, String, Duration)> = Vec::new();
    let mut readied = Vec::new();
    let mut idle = None;
    let mut current: Option<Step> = None;
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
                current = Some(Step::begun(
                    loop_n,
                    e.at,
                    Some((t.id.0, t.name)),
                    (named(&t), woken, waker),
                    idle.take(),
                ));
            }
            (EventKind::End(end), Some(t)) => {
                if let Some(step) = current.as_mut() {
                    step.ran = format!("{} → {end}", named(&t));
                }
            }
            (EventKind::Callback(name), _) => {
                current = Some(Step::begun(
                    loop_n,
                    e.at,
                    None,
                    (callback_name(name), CALLBACK_WOKEN.to_string(), None),
                    idle.take(),
                ));
            }
            _ => {}
        }
    }
    steps
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

impl Step {
    /// A step that began at `at`: what ran, why it was ready and who made
    /// it so; the loop's wait before it. What it did is filled in as its
    /// events come, and the queues when its snapshot does.
    fn begun(
        loop_n: usize,
        at: Duration,
        task: Option<(u64, &'static str)>,
        (ran, woken, waker): (String, String, Option<(String, Duration)>),
        idle: Option<String>,
    ) -> Step {
        Step {
            loop_n,
            at,
            task,
            ran,
            woken,
            waker,
            readied: Vec::new(),
            idle,
            output: Vec::new(),
            ready: Vec::new(),
            timers: Vec::new(),
            waiting: Vec::new(),
            call_sites: Vec::new(),
        }
    }
}

/// A string as a JSON literal, safe inside a `<script>` element.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '<' => out.push_str("\\u003c"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Every distinct string of the run once, and every distinct list of them
/// once, each step's text as numbers into those tables: the queues repeat
/// from step to step (a thousand waiting tasks, a hundred steps), and the
/// page stays small.
#[derive(Default)]
struct Strings {
    /// Every distinct string, once.
    table: Vec<String>,
    /// Each string's number in `table`.
    index: std::collections::HashMap<String, usize>,
    /// Lists as JSON arrays of string numbers.
    lists: Vec<String>,
    /// Each list's number in `lists`.
    list_index: std::collections::HashMap<String, usize>,
}

impl Strings {
    fn of(&mut self, s: &str) -> usize {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        self.table.push(s.to_string());
        self.index.insert(s.to_string(), self.table.len() - 1);
        self.table.len() - 1
    }

    /// The number of the list of `items`.
    fn list(&mut self, items: &[String]) -> usize {
        let parts: Vec<String> = items.iter().map(|s| self.of(s).to_string()).collect();
        let list = format!("[{}]", parts.join(","));
        if let Some(&i) = self.list_index.get(&list) {
            return i;
        }
        self.lists.push(list.clone());
        self.list_index.insert(list, self.lists.len() - 1);
        self.lists.len() - 1
    }
}

/// The steps as JSON: `{"steps": [...], "strings": [...], "lists": [...]}`:
/// every text in a step is a number into `strings` (the idle wait and the
/// waker -1 when there was none), every list a number into `lists`, whose
/// entries are arrays of numbers into `strings`; a waiting task is one
/// string, what it waits on in the first line, its call sites in the next.
fn steps_json(steps: &[Step]) -> String {
    let mut strings = Strings::default();
    let mut out = String::from("{\"steps\":[");
    for (i, s) in steps.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        let (id, name) = s.task.map_or((-1i64, ""), |(id, name)| (id as i64, name));
        let idle = s.idle.as_deref().map_or(-1, |t| strings.of(t) as i64);
        let (by, by_at) = s.waker.as_ref().map_or((-1, 0.0), |(by, at)| {
            (strings.of(by) as i64, at.as_secs_f64())
        });
        // A waiting task and its call sites as one string, a line each:
        // the same pair repeats for every step the task waits through.
        let waiting: Vec<String> = s
            .waiting
            .iter()
            .zip(s.call_sites.iter().chain(std::iter::repeat(&Vec::new())))
            .map(|(what, sites)| {
                std::iter::once(what)
                    .chain(sites)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect();
        let _ = write!(
            out,
            "{{\"loop\":{},\"at\":{:.6},\"id\":{id},\"name\":{},\"ran\":{},\"woken\":{},\"by\":{by},\"by_at\":{by_at:.6},\"readied\":{},\"idle\":{idle},\"output\":{},\"ready\":{},\"timers\":{},\"waiting\":{}}}",
            s.loop_n,
            s.at.as_secs_f64(),
            strings.of(name),
            strings.of(&s.ran),
            strings.of(&s.woken),
            strings.list(&s.readied),
            strings.list(&s.output),
            strings.list(&s.ready),
            strings.list(&s.timers),
            strings.list(&waiting),
        );
    }
    out.push_str("],\n\"strings\":[");
    let table: Vec<String> = strings.table.iter().map(|s| json_str(s)).collect();
    out.push_str(&table.join(",\n"));
    out.push_str("],\n\"lists\":[");
    out.push_str(&strings.lists.join(",\n"));
    out.push_str("]}");
    out
}

/// The page for a run whose loops recorded `loops` (their pictures) and
/// `steps` (every loop's steps, in the order they ran).
pub(crate) fn page(loops: &[svg::Loop], steps: &[Step]) -> String {
    let geometry = svg::geometry(loops);
    let sections: Vec<String> = geometry
        .sections
        .iter()
        .map(|(top, height)| format!("[{top:.1},{height:.1}]"))
        .collect();
    // The page's markup, style and script are in explore.html, beside
    // this file; the run fills in its placeholders (`@@NAME@@`), each
    // once, in one pass: nothing the run wrote is read as a placeholder.
    let mut page = String::new();
    for (i, part) in include_str!("explore.html").split("@@").enumerate() {
        if i % 2 == 0 {
            page.push_str(part);
            continue;
        }
        match part {
            "SVG" => page.push_str(&svg::svg_file(loops)),
            "STEPS" => page.push_str(&steps_json(steps)),
            "LABEL" => page.push_str(&geometry.label.to_string()),
            "PLOT" => page.push_str(&geometry.plot.to_string()),
            "AXIS" => page.push_str(&format!("{:.6}", geometry.axis.as_secs_f64())),
            "LEGEND" => page.push_str(&geometry.top.to_string()),
            "SECTIONS" => page.push_str(&sections.join(",")),
            other => unreachable!("explore.html has no placeholder {other}"),
        }
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_cannot_end_the_script_element() {
        assert_eq!(
            json_str("a\"b\\c\n</script>"),
            r#""a\"b\\c\n\u003c/script>""#
        );
        assert_eq!(json_str("\u{1}"), r#""\u0001""#);
    }
}
