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

use super::svg;

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
    pub(crate) timers: Vec<String>,
    pub(crate) waiting: Vec<String>,
    /// For each of `waiting`, its call sites, outermost first.
    pub(crate) call_sites: Vec<Vec<String>>,
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
    table: Vec<String>,
    index: std::collections::HashMap<String, usize>,
    /// Lists as JSON arrays of string numbers.
    lists: Vec<String>,
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
    format!(
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>yieldfrom explorer</title>
<style>
body {{ font-family: sans-serif; margin: 12px; color: #222 }}
#bar {{ display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin: 8px 0 }}
#slider {{ flex: 1; min-width: 200px }}
#panes {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 12px }}
.pane {{ border: 1px solid #ccc; border-radius: 4px; padding: 6px 10px }}
.pane h3 {{ margin: 2px 0 6px; font-size: 14px }}
.pane ol, .pane ul {{ margin: 0; padding-left: 20px; font-family: monospace; font-size: 13px }}
#now {{ font-family: monospace; font-size: 14px; white-space: pre-wrap }}
.empty {{ color: #888; list-style: none; margin-left: -20px }}
.chain {{ color: #555; font-size: 12px; list-style: none; padding-left: 14px }}
.chain li::before {{ content: "↳ " }}
#timeline {{ overflow-x: auto; cursor: crosshair }}
#wakearrow {{ display: flex; align-items: center; gap: 6px; margin: 8px 0; font-family: monospace; font-size: 13px }}
#wakearrow .node {{ border: 1px solid #888; border-radius: 4px; padding: 3px 6px; background: #f6f6f6 }}
#wakearrow .event {{ display: flex; flex-direction: column; align-items: stretch; text-align: center; color: #d62728; min-width: 160px }}
</style></head>
<body>
<h2>yieldfrom explorer</h2>
<div id="timeline" title="click: the step at that time">{svg}</div>
<div id="bar">
<button id="first" title="Home">|◀ first</button><button id="prev" title="←">◀ prev</button>
<button id="next" title="→">next ▶</button><button id="last" title="End">last ▶|</button>
<input id="slider" type="range" min="0" max="0" value="0">
<span id="counter"></span>
<select id="task"></select><button id="nextrun">next run of it</button><button id="whywoke">where it woke</button>
</div>
<div id="now"></div>
<div id="wakearrow"></div>
<div id="panes">
<div class="pane"><h3>ready queue (front first)</h3><ol id="ready"></ol></div>
<div class="pane"><h3>timers (earliest first)</h3><ol id="timers"></ol></div>
<div class="pane"><h3>waiting, on what, and where (await chain)</h3><ul id="waiting"></ul></div>
<div class="pane"><h3>made ready during this step</h3><ul id="readied"></ul></div>
<div class="pane"><h3>printed during this step</h3><ul id="output"></ul></div>
</div>
<script id="data" type="application/json">{steps}</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("data").textContent);
const S = DATA.strings;
const L = (i) => DATA.lists[i].map((j) => S[j]);
const STEPS = DATA.steps.map((s) => ({{
  loop: s.loop, at: s.at, id: s.id, name: S[s.name], ran: S[s.ran], woken: S[s.woken],
  idle: s.idle >= 0 ? S[s.idle] : null, by: s.by >= 0 ? S[s.by] : null, byAt: s.by_at, output: L(s.output),
  readied: L(s.readied), ready: L(s.ready), timers: L(s.timers),
  waiting: L(s.waiting).map((w) => w.split("\n")[0]),
  sites: L(s.waiting).map((w) => w.split("\n").slice(1)),
}}));
const GEO = {{ label: {label}, plot: {plot}, axis: {axis:.6}, top: {legend}, sections: [{sections}] }};
let current = 0;
const $ = (id) => document.getElementById(id);
function fill(id, items) {{
  const list = $(id);
  list.replaceChildren();
  if (items.length === 0) {{
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = "(empty)";
    list.appendChild(li);
  }}
  for (const item of items) {{
    const li = document.createElement("li");
    li.textContent = item;
    list.appendChild(li);
  }}
}}
function fillWaiting(s) {{
  fill("waiting", s.waiting);
  // Each waiting task's await chain under it, outermost call first.
  const items = $("waiting").children;
  s.waiting.forEach((_, i) => {{
    const sites = s.sites[i] || [];
    if (sites.length === 0) return;
    const chain = document.createElement("ol");
    chain.className = "chain";
    for (const site of sites) {{
      const li = document.createElement("li");
      li.textContent = site;
      chain.appendChild(li);
    }}
    items[i].appendChild(chain);
  }});
}}
// The wake arrow: who made this step's task ready, when, and for what.
function wakeArrow(s) {{
  const box = $("wakearrow");
  box.replaceChildren();
  if (!s.by) return;
  const node = (text) => {{
    const span = document.createElement("span");
    span.className = "node";
    span.textContent = text;
    return span;
  }};
  const event = document.createElement("span");
  event.className = "event";
  const label = document.createElement("div");
  label.textContent = s.woken;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("width", "100%"); svg.setAttribute("height", "14");
  svg.innerHTML = '<defs><marker id="wakehead" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#d62728"/></marker></defs>' +
    '<line x1="2" y1="7" x2="97%" y2="7" stroke="#d62728" stroke-width="2" marker-end="url(#wakehead)"/>';
  event.append(label, svg);
  box.append(node(`${{s.by}} · ${{s.byAt.toFixed(3)}} s`), event, node(`${{s.ran.split(" → ")[0]}} · ${{s.at.toFixed(3)}} s`));
  box.title = "who made this step's task ready";
}}
function cursor(step) {{
  const svg = document.querySelector("#timeline svg");
  if (!svg) return;
  let line = document.getElementById("cursor");
  if (!line) {{
    line = document.createElementNS("http://www.w3.org/2000/svg", "line");
    line.id = "cursor";
    line.setAttribute("stroke", "#d62728");
    line.setAttribute("stroke-width", "2");
    svg.appendChild(line);
  }}
  const [top, height] = GEO.sections[step.loop - 1] || [0, 0];
  const x = GEO.axis > 0 ? GEO.label + GEO.plot * step.at / GEO.axis : GEO.label;
  line.setAttribute("x1", x); line.setAttribute("x2", x);
  line.setAttribute("y1", GEO.top + top); line.setAttribute("y2", GEO.top + top + height);
}}
function show(n) {{
  if (STEPS.length === 0) {{ $("now").textContent = "no steps were recorded"; return; }}
  current = Math.max(0, Math.min(STEPS.length - 1, n));
  const s = STEPS[current];
  $("counter").textContent = `step ${{current + 1}} of ${{STEPS.length}}`;
  $("slider").value = current;
  const idle = s.idle ? `${{s.idle}}\n` : "";
  $("now").textContent = `${{idle}}── loop ${{s.loop}} · step ${{current + 1}} · ${{s.at.toFixed(3)}} s\nran      ${{s.ran}}\nwoken    ${{s.woken}}`;
  fill("ready", s.ready); fill("timers", s.timers); fillWaiting(s); fill("readied", s.readied);
  fill("output", s.output);
  wakeArrow(s);
  cursor(s);
}}
function press(key) {{
  if (key === "next" || key === "ArrowRight") show(current + 1);
  else if (key === "prev" || key === "ArrowLeft") show(current - 1);
  else if (key === "Home") show(0);
  else if (key === "End") show(STEPS.length - 1);
}}
// The last step of loop `lp` that began at or before `t` seconds (its first
// step if none did).
function jumpTo(lp, t) {{
  let found = -1;
  STEPS.forEach((s, i) => {{
    if (s.loop === lp && (found < 0 || s.at <= t + 1e-9)) found = i;
  }});
  if (found >= 0) show(found);
}}
// A click on the timeline: the loop from the height, the time from the x.
function clicked(e) {{
  const svg = document.querySelector("#timeline svg");
  const box = svg.getBoundingClientRect();
  const scale = box.width / svg.viewBox.baseVal.width;
  const x = (e.clientX - box.left) / scale, y = (e.clientY - box.top) / scale;
  const lp = GEO.sections.findIndex(([top, height]) => y >= GEO.top + top && y < GEO.top + top + height) + 1;
  if (lp === 0 || GEO.plot <= 0) return;
  jumpTo(lp, Math.max(0, (x - GEO.label) / GEO.plot * GEO.axis));
}}
function nextRun() {{
  const id = Number($("task").value);
  for (let i = current + 1; i < STEPS.length; i++) if (STEPS[i].id === id) return show(i);
}}
function whereWoke() {{
  const id = Number($("task").value);
  const name = $("task").selectedOptions[0]?.dataset.name;
  const mark = `task '${{name}}' (#${{id}})`;
  for (let i = current; i >= 0; i--)
    if (STEPS[i].readied.some((r) => r.startsWith(mark))) return show(i);
}}
const seen = new Map();
for (const s of STEPS) if (s.id >= 0 && !seen.has(s.id)) seen.set(s.id, s.name);
for (const [id, name] of seen) {{
  const o = document.createElement("option");
  o.value = id; o.dataset.name = name; o.textContent = `${{name}} (#${{id}})`;
  $("task").appendChild(o);
}}
$("slider").max = Math.max(0, STEPS.length - 1);
$("slider").addEventListener("input", (e) => show(Number(e.target.value)));
$("first").onclick = () => press("Home");
$("prev").onclick = () => press("prev");
$("next").onclick = () => press("next");
$("last").onclick = () => press("End");
$("nextrun").onclick = nextRun;
$("whywoke").onclick = whereWoke;
document.addEventListener("keydown", (e) => {{
  if (["ArrowRight", "ArrowLeft", "Home", "End"].includes(e.key)) {{ e.preventDefault(); press(e.key); }}
}});
document.querySelector("#timeline svg")?.addEventListener("click", clicked);
const hash = new URLSearchParams(location.hash.slice(1));
show(Number(hash.get("step") || 1) - 1);
if (hash.get("at")) {{
  const [lp, t] = hash.get("at").split(":").map(Number);
  jumpTo(lp, t);
}}
for (const key of (hash.get("keys") || "").split(",").filter(Boolean)) {{
  const name = key === "next" ? "ArrowRight" : key === "prev" ? "ArrowLeft" : key;
  document.dispatchEvent(new KeyboardEvent("keydown", {{ key: name }}));
}}
</script>
</body></html>
"##,
        svg = svg::svg_file(loops),
        steps = steps_json(steps),
        label = geometry.label,
        plot = geometry.plot,
        axis = geometry.axis.as_secs_f64(),
        legend = geometry.top,
        sections = sections.join(","),
    )
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
