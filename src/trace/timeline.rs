//! The ASCII timeline: one scaled bar per task and the tutorial's sentence
//! for each (what [`Recorder::timeline`](super::Recorder::timeline) prints).

use std::fmt::Write as _;
use std::time::Duration;

use super::event::{EventKind, Row, StepEnd, WakeCause, row_labels};

/// How a timeline's sentence that is wider than the timeline goes on, on
/// the next line.
pub const SENTENCE_GOES_ON: &str = "    → ";

/// The ASCII timeline, `width` columns wide: for each task, a scaled bar
/// (`·` not started, `█` running, `─` paused, blank once done) and the
/// tutorial's sentence, each pause with what it waits on and each resume
/// with what woke it (`A: Start (0.00 s) → Pause (0.00 s, sleep) →
/// Resume (2.00 s, its sleep ended) → Done (2.00 s)`). A sentence longer
/// than `width` goes on in lines that begin with `    → `.
pub(super) fn timeline(rows: &[Row], end: Duration, width: usize) -> String {
    let labels = row_labels(rows.iter().map(|(t, _)| t));
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
                EventKind::End(StepEnd::Done(how)) => words.push(format!("Done ({t:.2} s, {how})")),
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
