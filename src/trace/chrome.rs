//! Chrome trace-event JSON (opens in Perfetto or chrome://tracing): a
//! complete event per step, one thread per task, and the loop's own waits,
//! I/O and callbacks on a thread of their own.

use std::time::Duration;

use super::event::{Event, EventKind, Row, StepEnd, callback_name};

/// A loop's events (`rows` per task, `events` all of them) as Chrome trace items of process `pid`,
/// named `process` (so the traces of several loops share one file).
pub(super) fn chrome_events(
    rows: &[Row],
    events: &[Event],
    pid: u32,
    process: &str,
) -> Vec<String> {
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
    for (info, _) in rows {
        items.push(format!(
            r#"{{"name":"thread_name","ph":"M","pid":{pid},"tid":{},"args":{{"name":"{} #{}"}}}}"#,
            info.id.0,
            escape(info.name),
            info.id.0
        ));
    }
    for (info, evs) in rows {
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

/// A Chrome trace file holding the items of one or more processes.
pub(super) fn chrome_file(processes: &[Vec<String>]) -> String {
    let items: Vec<&str> = processes.iter().flatten().map(String::as_str).collect();
    format!(
        "{{\"traceEvents\":[\n{}\n],\"displayTimeUnit\":\"ms\"}}\n",
        items.join(",\n")
    )
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
