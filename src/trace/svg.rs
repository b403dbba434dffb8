//! The timeline as a picture: a self-contained SVG (no script, no fonts or
//! styles fetched from anywhere), one row per task, coloured by what the task
//! was doing, with an arrow wherever one task woke another.
//!
//! What a row shows, left to right: *ready* (made ready, waiting for its
//! turn), *running* (a step; drawn at least 2 px wide, so a step that took no
//! time on the virtual clock still shows), then a *pause* coloured by what it
//! waits on (a sleep, a socket, another task or a future or a lock, a worker
//! thread, `yield_now`). A task that panicked ends in a red mark, one that
//! was cancelled in a black one. Hovering over a segment shows its reason
//! and times (`<title>`), as every SVG viewer does.

use std::fmt::Write as _;
use std::time::Duration;

use super::bars::{Bars, DOINGS, Doing, bars, late_after};
use super::event::Row;
use crate::task::TaskEnd;

/// Width of the task-name column, px.
const LABEL: f64 = 150.0;
/// Width of the plot, px.
const PLOT: f64 = 580.0;
/// Height of a row, px.
const ROW: f64 = 22.0;
/// Height of a bar inside its row, px.
const BAR: f64 = 14.0;
/// Where the rows start below a section's top, px (title and axis above).
const ROWS_TOP: f64 = 48.0;
/// The legend's height at the top of the file, px: room for two lines of
/// entries (all of them do not fit on one at this width).
const LEGEND: f64 = 52.0;
/// The picture's width, px: a book's column (mdBook's is 750 px) shows it
/// at full size, its labels readable.
const WIDTH: f64 = LABEL + PLOT + 24.0;

/// One loop's picture, drawn from its own top at y = 0.
#[derive(Clone, Debug)]
pub(crate) struct Section {
    /// The SVG elements of the section.
    body: String,
    /// Its height in pixels.
    height: f64,
    /// The categories its bars use (the legend shows only those).
    used: Vec<Doing>,
}

/// "0.25 s" with as many decimals as `step` needs; below a millisecond a
/// step is shown in ms, below a microsecond in µs.
fn seconds(t: f64, step: f64) -> String {
    let (t, step, unit) = if step >= 1e-3 {
        (t, step, "s")
    } else if step >= 1e-6 {
        (t * 1e3, step * 1e3, "ms")
    } else {
        (t * 1e6, step * 1e6, "µs")
    };
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    format!("{t:.decimals$} {unit}")
}

/// A tick spacing of 1, 2 or 5 times a power of ten giving at most 8 ticks.
fn tick_step(end: f64) -> f64 {
    let base = 10f64.powi(end.log10().floor() as i32 - 1);
    [1.0, 2.0, 5.0, 10.0, 20.0, 50.0]
        .into_iter()
        .map(|m| base * m)
        .find(|step| end / step <= 8.0)
        .unwrap_or(base * 100.0)
}

/// One loop's recording, drawn when the file is written: the loops of one
/// program share one time axis (a 5 s run is drawn twice as long as a
/// 2.5 s one), so each is kept until the longest is known.
pub(crate) struct Loop {
    /// Its tasks in order of creation, with their events.
    pub(crate) rows: Vec<Row>,
    /// The time of its last event.
    pub(crate) end: Duration,
    /// Its heading.
    pub(crate) title: String,
    /// The instant its clock started, if known: a sleep's deadline less
    /// this is the deadline on the picture's axis (to mark a late wake).
    pub(crate) start: Option<std::time::Instant>,
}

/// The time axis the loops share: the longest one's.
fn axis(loops: &[Loop]) -> Duration {
    loops.iter().map(|l| l.end).max().unwrap_or_default()
}

/// The loops' pictures, each drawn against the shared time axis.
fn sections(loops: &[Loop]) -> Vec<Section> {
    let axis = axis(loops);
    loops.iter().map(|l| section(l, axis)).collect()
}

/// The height of a loop's picture of `rows` tasks.
fn section_height(rows: usize) -> f64 {
    ROWS_TOP + rows as f64 * ROW + 16.0
}

/// One loop's picture under its heading, its rows drawn against a time
/// axis that runs to `axis` (at least the loop's own end).
fn section(lp: &Loop, axis: Duration) -> Section {
    let (rows, end, title) = (&lp.rows[..], lp.end, &lp.title[..]);
    let late_after = late_after(axis.max(end));
    let span = axis.max(end).as_secs_f64();
    let x = |at: Duration| {
        if span == 0.0 {
            LABEL
        } else {
            LABEL + PLOT * at.as_secs_f64() / span
        }
    };
    let centre = |row: usize| ROWS_TOP + row as f64 * ROW + ROW / 2.0;
    let mut body = String::new();
    let _ = write!(
        body,
        r#"<text x="8" y="18" font-weight="bold">{}</text>"#,
        escape_xml(title)
    );
    // The time axis.
    let axis_y = ROWS_TOP - 8.0;
    let _ = write!(
        body,
        r##"<line x1="{LABEL}" y1="{axis_y}" x2="{}" y2="{axis_y}" stroke="#888"/>"##,
        LABEL + PLOT
    );
    let step = if span == 0.0 { 1.0 } else { tick_step(span) };
    let mut tick = 0.0;
    while tick <= span + step * 1e-9 {
        let tx = if span == 0.0 {
            LABEL
        } else {
            LABEL + PLOT * tick / span
        };
        let _ = write!(
            body,
            r##"<line x1="{tx:.1}" y1="{}" x2="{tx:.1}" y2="{}" stroke="#eee"/><line x1="{tx:.1}" y1="{}" x2="{tx:.1}" y2="{axis_y}" stroke="#888"/><text x="{tx:.1}" y="{}" font-size="12" text-anchor="middle">{}</text>"##,
            ROWS_TOP,
            ROWS_TOP + rows.len() as f64 * ROW,
            axis_y - 4.0,
            axis_y - 7.0,
            seconds(tick, step)
        );
        tick += step;
        if span == 0.0 {
            break;
        }
    }
    // One row per task.
    let mut arrows = Vec::new();
    let mut used = Vec::new();
    let labels = super::event::row_labels(rows.iter().map(|(t, _)| t));
    for (row, (info, evs)) in rows.iter().enumerate() {
        let top = ROWS_TOP + row as f64 * ROW + (ROW - BAR) / 2.0;
        let _ = write!(
            body,
            r#"<text x="{}" y="{}" font-size="13" text-anchor="end">{}</text>"#,
            LABEL - 8.0,
            centre(row) + 4.0,
            escape_xml(&labels[row])
        );
        let Bars {
            mut segments,
            ending,
            woke,
        } = bars(row, evs, rows, lp.start, end, late_after);
        arrows.extend(woke);
        // Steps last, so that a step of no width is not hidden under
        // the pause drawn after it.
        segments.sort_by_key(|s| s.doing == Doing::Running);
        for s in &segments {
            if !used.contains(&s.doing) {
                used.push(s.doing);
            }
            let (x0, x1) = (x(s.from), x(s.to));
            let width = if s.doing == Doing::Running {
                (x1 - x0).max(2.0)
            } else {
                x1 - x0
            };
            if width <= 0.0 {
                continue;
            }
            let _ = write!(
                body,
                r#"<rect x="{x0:.2}" y="{top:.1}" width="{width:.2}" height="{BAR}" fill="{}"><title>{}: {} ({:.3} s → {:.3} s)</title></rect>"#,
                s.doing.colour(),
                escape_xml(info.name),
                escape_xml(&s.what),
                s.from.as_secs_f64(),
                s.to.as_secs_f64()
            );
        }
        if let Some((at, how)) = ending {
            let colour = match how {
                TaskEnd::Returned => None,
                TaskEnd::Panicked(_) => Some("#d62728"),
                TaskEnd::Cancelled(_) => Some("#000"),
            };
            if let Some(colour) = colour {
                let _ = write!(
                    body,
                    r#"<rect x="{:.2}" y="{:.1}" width="4" height="{}" fill="{colour}"><title>{}: {}</title></rect>"#,
                    x(at),
                    top - 2.0,
                    BAR + 4.0,
                    escape_xml(info.name),
                    escape_xml(&how.to_string())
                );
            }
        }
    }
    for (at, from, to, what) in arrows {
        let ax = x(at);
        let (y0, y1) = (centre(from), centre(to));
        // Stop the arrow's head at the edge of the woken task's bar.
        let y1 = if y1 > y0 {
            y1 - BAR / 2.0
        } else {
            y1 + BAR / 2.0
        };
        let _ = write!(
            body,
            r##"<line x1="{ax:.2}" y1="{y0:.1}" x2="{ax:.2}" y2="{y1:.1}" stroke="#222" stroke-width="1.8" marker-end="url(#wake)"><title>{}</title></line>"##,
            escape_xml(&what)
        );
    }
    Section {
        body,
        height: section_height(rows.len()),
        used,
    }
}

/// Where things are in [`svg_file`]'s picture, for a page that draws on it
/// (the explorer's cursor).
pub(crate) struct Geometry {
    /// The x of time zero (the labels' column ends there).
    pub(crate) label: f64,
    /// The width of the time axis in pixels.
    pub(crate) plot: f64,
    /// The time at the axis's right end (the longest loop's).
    pub(crate) axis: Duration,
    /// The y where the first loop's picture begins (below the legend).
    pub(crate) top: f64,
    /// Each loop's picture: its y below `top`, and its height.
    pub(crate) sections: Vec<(f64, f64)>,
}

/// The geometry of `svg_file(loops)`.
pub(crate) fn geometry(loops: &[Loop]) -> Geometry {
    let mut y = 0.0;
    let sections = loops
        .iter()
        .map(|l| {
            let at = (y, section_height(l.rows.len()));
            y += at.1;
            at
        })
        .collect();
    Geometry {
        label: LABEL,
        plot: PLOT,
        axis: axis(loops),
        top: LEGEND,
        sections,
    }
}

/// An SVG file with a legend and each loop's picture below the one before.
pub(crate) fn svg_file(loops: &[Loop]) -> String {
    let sections = sections(loops);
    let height = LEGEND + sections.iter().map(|s| s.height).sum::<f64>();
    let width = WIDTH;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">
<defs><marker id="wake" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>
<rect width="100%" height="100%" fill="#fff"/>
"##
    );
    // The legend: the categories the bars use, then the wake arrow, in
    // lines that wrap at the picture's width.
    let (mut lx, mut ly) = (8.0, 10.0);
    let room = |lx: &mut f64, ly: &mut f64, wide: f64| {
        if *lx + wide > WIDTH - 8.0 {
            (*lx, *ly) = (8.0, *ly + 18.0);
        }
    };
    let used = DOINGS
        .into_iter()
        .filter(|d| sections.iter().any(|s| s.used.contains(d)));
    for doing in used {
        let wide = 16.0 + 6.5 * doing.legend().len() as f64 + 14.0;
        room(&mut lx, &mut ly, wide);
        let _ = write!(
            out,
            r#"<rect x="{lx}" y="{ly}" width="12" height="12" fill="{}"/><text x="{}" y="{}" font-size="12">{}</text>"#,
            doing.colour(),
            lx + 16.0,
            ly + 10.0,
            doing.legend()
        );
        lx += wide;
    }
    room(&mut lx, &mut ly, 70.0);
    let _ = writeln!(
        out,
        r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#333" stroke-width="1.5" marker-end="url(#wake)"/><text x="{}" y="{}" font-size="12">woke</text>"##,
        lx,
        ly + 6.0,
        lx + 22.0,
        ly + 6.0,
        lx + 28.0,
        ly + 10.0
    );
    let mut y = LEGEND;
    for s in &sections {
        let _ = writeln!(out, r#"<g transform="translate(0,{y})">{}</g>"#, s.body);
        y += s.height;
    }
    out.push_str("</svg>\n");
    out
}

/// The same picture in a minimal HTML page (for `YIELDFROM_TRACE=html`).
pub(crate) fn html_file(loops: &[Loop]) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>yieldfrom timeline</title></head>\n<body style=\"margin:0\">\n{}</body></html>\n",
        svg_file(loops)
    )
}

/// Text made safe for SVG/XML.
fn escape_xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::Suspend;
    use crate::task::suspend::Wake;
    use crate::task::{TaskId, TaskInfo};
    use crate::trace::WakeCause;
    use crate::trace::event::{EventKind, StepEnd, WokenBy};

    /// One task that sleeps until `deadline` and is woken at `woken`.
    fn sleeper(start: Instant, deadline: Duration, woken: Duration) -> Loop {
        let t = TaskInfo {
            id: TaskId(1),
            name: "ticker",
        };
        let until = start + deadline;
        let events = vec![
            (Duration::ZERO, EventKind::Spawned),
            (Duration::ZERO, EventKind::Step),
            (
                Duration::ZERO,
                EventKind::End(StepEnd::Suspended(Suspend::Sleep { until })),
            ),
            (
                woken,
                EventKind::Woken(WakeCause {
                    waited_on: Some(Suspend::Sleep { until }),
                    how: Wake::Run,
                    by: WokenBy::Loop,
                }),
            ),
            (woken, EventKind::Step),
            (woken, EventKind::End(StepEnd::Done(TaskEnd::Returned))),
        ];
        Loop {
            rows: vec![(t, events)],
            end: woken,
            title: "loop".into(),
            start: Some(start),
        }
    }

    #[test]
    fn a_sleep_woken_well_past_its_deadline_is_drawn_late_from_the_deadline() {
        let start = Instant::now();
        let secs = Duration::from_secs;
        let late = svg_file(&[sleeper(start, secs(1), secs(3))]);
        assert!(
            late.contains("late: its timer was due at 1.000 s and served 2.000 s after"),
            "{late}"
        );
        // In the legend too, since a bar uses it.
        assert!(late.contains(">late: its timer was due</text>"), "{late}");
        // Woken on time (within the margin): asleep throughout, no legend entry.
        let on_time = svg_file(&[sleeper(start, secs(1), Duration::from_millis(1001))]);
        assert!(!on_time.contains("late:"), "{on_time}");
        // Without the clock's start there is no deadline to compare with.
        let mut unknown = sleeper(start, secs(1), secs(3));
        unknown.start = None;
        assert!(!svg_file(&[unknown]).contains("late:"));
    }
}
