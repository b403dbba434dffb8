//! The explorer (`YIELDFROM_TRACE=explore`): a page that steps forward and
//! back through a recorded run. Its state at each step is checked against
//! the stepper's (another instrument watching the same program), first in
//! the page's data, then in a real browser: headless Chromium opens the page
//! at step N, presses → and ←, and the DOM it leaves is read back.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A step's view of the loop: (ran, ready, timers, waiting).
type View = (String, Vec<String>, Vec<String>, Vec<String>);

fn temp_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("yieldfrom-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `example` on the virtual clock with the explorer on: the page.
fn explored(example: &str, dir: &Path) -> (PathBuf, String) {
    let page = dir.join(format!("{example}.html"));
    let out = Command::new(common::example_binary(example))
        .env("YIELDFROM_VIRTUAL_CLOCK", "1")
        .env("YIELDFROM_TRACE", "explore")
        .env("YIELDFROM_TRACE_FILE", &page)
        .env_remove("YIELDFROM_STEP")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("explorer page of loop 1"), "{stderr}");
    let text = std::fs::read_to_string(&page).unwrap();
    (page, text)
}

/// The stepper's view of every step of `example` (one loop), Enter pressed
/// for each.
fn stepped(example: &str) -> Vec<View> {
    let mut child = Command::new(common::example_binary(example))
        .env("YIELDFROM_VIRTUAL_CLOCK", "1")
        .env("YIELDFROM_STEP", "1")
        .env_remove("YIELDFROM_TRACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&[b'\n'; 500])
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stderr).unwrap();
    text.split("── step ")
        .skip(1)
        .map(|block| {
            let field = |name: &str| -> Vec<String> {
                let mut items = Vec::new();
                let mut lines = block.lines().skip_while(|l| !l.starts_with(name));
                if let Some(first) = lines.next() {
                    items.push(first[9..].to_string());
                    items.extend(
                        lines
                            .take_while(|l| l.starts_with("         "))
                            .map(|l| l.trim_start().to_string()),
                    );
                }
                items.retain(|i| i != "(empty)");
                items
            };
            let ran = field("ran      ").pop().unwrap_or_default();
            (
                ran,
                field("ready    "),
                field("timers   "),
                field("waiting  "),
            )
        })
        .collect()
}

/// A JSON array of strings.
fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// The page's recorded steps, as views.
fn recorded(page: &str) -> Vec<View> {
    common::explorer_steps(page)
        .iter()
        .map(|s| {
            (
                s["ran"].as_str().unwrap().to_string(),
                strings(&s["ready"]),
                strings(&s["timers"]),
                strings(&s["waiting"]),
            )
        })
        .collect()
}

#[test]
fn the_page_records_what_the_stepper_shows_at_every_step() {
    let dir = temp_dir("explore-data");
    let (_, page) = explored("04_tasks_timeline", &dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(page.starts_with("<!DOCTYPE html>"));
    // Self-contained: nothing fetched from the network.
    assert!(
        !page.contains("src=\"http") && !page.contains("href=\"http"),
        "{page}"
    );
    let (recorded, stepped) = (recorded(&page), stepped("04_tasks_timeline"));
    assert!(recorded.len() >= 4, "{recorded:#?}");
    assert_eq!(recorded, stepped);
}

/// Every step's (what ran, the lines it printed, each waiting task with
/// its call sites).
type Printed = Vec<(String, Vec<String>, Vec<(String, Vec<String>)>)>;

fn printed_and_sites(page: &str) -> Printed {
    common::explorer_steps(page)
        .iter()
        .map(|s| {
            let sites = s["sites"].as_array().unwrap().iter().map(strings);
            let waiting = strings(&s["waiting"]).into_iter().zip(sites).collect();
            (
                s["ran"].as_str().unwrap().to_string(),
                strings(&s["output"]),
                waiting,
            )
        })
        .collect()
}

#[test]
fn each_step_shows_what_it_printed_and_where_each_task_waits() {
    let dir = temp_dir("explore-printed");
    let (_, page) = explored("04_tasks_timeline", &dir);
    let _ = std::fs::remove_dir_all(&dir);
    let steps = printed_and_sites(&page);
    // Task A's first step prints its start line, and nothing else does.
    let printing: Vec<_> = steps
        .iter()
        .filter(|(_, out, _)| out.iter().any(|l| l.contains("Task A: start")))
        .map(|(ran, ..)| ran.as_str())
        .collect();
    assert_eq!(printing, ["task 'A' (#2) → paused on sleep"], "{steps:#?}");
    let (_, _, waiting) = steps
        .iter()
        .find(|(ran, ..)| ran.starts_with("task 'A' (#2) → paused"))
        .unwrap();
    let (what, sites) = waiting
        .iter()
        .find(|(w, _)| w.starts_with("task 'A' (#2)"))
        .unwrap();
    assert_eq!(what, "task 'A' (#2) on sleep");
    // Its await chain ends at the example's own line that sleeps (lines
    // need the debug build's debug information; a release build names the
    // functions it did not inline, which may be none).
    let source = std::fs::read_to_string("examples/04_tasks_timeline.rs").unwrap();
    if cfg!(debug_assertions) {
        let innermost = sites.last().expect("a waiting task's call sites");
        let line: usize = innermost
            .rsplit_once("04_tasks_timeline.rs:")
            .and_then(|(_, l)| l.trim_end_matches(')').parse().ok())
            .unwrap_or_else(|| panic!("{innermost}"));
        let code = source.lines().nth(line - 1).unwrap();
        assert!(code.contains("sleep("), "line {line}: {code}");
    }
    // The output still reaches the real standard output, in order.
    let out = Command::new(common::example_binary("04_tasks_timeline"))
        .env("YIELDFROM_VIRTUAL_CLOCK", "1")
        .env("YIELDFROM_TRACE", "explore")
        .env(
            "YIELDFROM_TRACE_FILE",
            std::env::temp_dir().join("yf-04-again.html"),
        )
        .output()
        .unwrap();
    let plain = Command::new(common::example_binary("04_tasks_timeline"))
        .env("YIELDFROM_VIRTUAL_CLOCK", "1")
        .env_remove("YIELDFROM_TRACE")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(std::env::temp_dir().join("yf-04-again.html"));
    assert_eq!(out.stdout, plain.stdout);
}

#[test]
fn a_socket_wait_says_what_the_socket_is() {
    let dir = temp_dir("explore-sockets");
    let (_, page) = explored("15_crawler", &dir);
    let _ = std::fs::remove_dir_all(&dir);
    let waits: Vec<String> = printed_and_sites(&page)
        .into_iter()
        .flat_map(|(_, _, waiting)| waiting.into_iter().map(|(w, _)| w))
        .filter(|w| w.contains(" on socket "))
        .collect();
    for what in [
        ": listener 127.0.0.1:",
        ": client 127.0.0.1:",
        ": connection to 127.0.0.1:",
    ] {
        assert!(
            waits.iter().any(|w| w.contains(what)),
            "{what} in {waits:#?}"
        );
    }
}

/// Every course example's page stays small enough to open anywhere.
#[test]
fn every_course_examples_page_is_under_500_kb() {
    let dir = temp_dir("explore-sizes");
    for n in [1, 2, 3, 4, 5, 6, 8, 10, 13] {
        let name = std::fs::read_dir("examples")
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .find(|f| f.starts_with(&format!("{n:02}_")))
            .unwrap();
        let example = name.trim_end_matches(".rs");
        let (_, page) = explored(example, &dir);
        assert!(page.len() < 500_000, "{example}: {} bytes", page.len());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The DOM Chromium leaves after loading `page` with `fragment`, and what
/// its console said.
fn dom(browser: &str, page: &Path, fragment: &str, profile: &Path) -> (String, String) {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}#{fragment}", page.display()))
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The items of the list `id` in a dumped DOM ("(empty)" is no item),
/// each with the items of the list nested in it (a waiting task's call
/// sites).
fn nested_items(dom: &str, id: &str) -> Vec<(String, Vec<String>)> {
    let open = format!(r#"id="{id}">"#);
    let rest = dom
        .split_once(&open)
        .unwrap_or_else(|| panic!("no list {id} in {dom}"))
        .1;
    let unescape = |t: &str| {
        t.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    };
    let mut found: Vec<(String, Vec<String>)> = vec![];
    let mut depth = 1;
    for piece in rest.split('<') {
        let Some((tag, text)) = piece.split_once('>') else {
            continue;
        };
        if tag.starts_with("ol") || tag.starts_with("ul") {
            depth += 1;
        } else if tag.starts_with("/ol") || tag.starts_with("/ul") {
            depth -= 1;
            if depth == 0 {
                break;
            }
        } else if tag.starts_with("li") {
            match (depth, found.last_mut()) {
                (1, _) => found.push((unescape(text), vec![])),
                (_, Some((_, nested))) => nested.push(unescape(text)),
                _ => {}
            }
        }
    }
    found.retain(|(t, _)| t != "(empty)");
    found
}

/// The items of the list `id` in a dumped DOM, without nested lists.
fn items(dom: &str, id: &str) -> Vec<String> {
    nested_items(dom, id).into_iter().map(|(t, _)| t).collect()
}

/// The two ends of the wake arrow in a dumped DOM.
fn wake_nodes(dom: &str) -> Vec<String> {
    let arrow = dom
        .split_once(r#"id="wakearrow""#)
        .expect("a wake arrow")
        .1
        .split("</div></div>")
        .next()
        .unwrap();
    arrow
        .split(r#"class="node">"#)
        .skip(1)
        .map(|rest| rest.split("</span>").next().unwrap().replace("&amp;", "&"))
        .collect()
}

/// The task step `n` ran, as the arrow's head names it.
fn expect_ran(page: &str, n: usize) -> String {
    let (ran, ..) = recorded(page)[n - 1].clone();
    ran.split(" → ").next().unwrap().to_string()
}

fn view_in(dom: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    (
        items(dom, "ready"),
        items(dom, "timers"),
        items(dom, "waiting"),
    )
}

#[test]
fn next_and_prev_in_a_real_browser() {
    let found = common::chromium();
    if !common::installed("chromium", found.is_some()) {
        return;
    }
    let browser = found.unwrap();
    let dir = temp_dir("explore-browser");
    let (page, text) = explored("04_tasks_timeline", &dir);
    let steps = recorded(&text);
    let profile = dir.join("profile");
    let n = 3; // a step with something ready and something waiting
    let expect = |step: usize| {
        let (_, ready, timers, waiting) = steps[step - 1].clone();
        (ready, timers, waiting)
    };
    let (at_n, console) = dom(browser, &page, &format!("step={n}"), &profile);
    assert!(
        at_n.contains(&format!("step {n} of {}", steps.len())),
        "{at_n}"
    );
    assert_eq!(view_in(&at_n), expect(n));
    assert!(!console.contains("Uncaught"), "console errors: {console}");
    // Each waiting task with its await chain, and what the step printed.
    let (_, printed, waiting) = printed_and_sites(&text)[n - 1].clone();
    assert_eq!(nested_items(&at_n, "waiting"), waiting);
    assert!(waiting.iter().any(|(_, sites)| !sites.is_empty()) || !cfg!(debug_assertions));
    assert_eq!(items(&at_n, "output"), printed);
    // The wake arrow runs from whoever made the step's task ready.
    let by = common::explorer_steps(&text)[n - 1]["by"]
        .as_str()
        .unwrap()
        .to_string();
    let nodes = wake_nodes(&at_n);
    assert_eq!(nodes.len(), 2, "{at_n}");
    assert!(
        nodes[0].starts_with(&format!("{by} · ")),
        "{nodes:?} by {by}"
    );
    assert!(nodes[1].starts_with(&expect_ran(&text, n)), "{nodes:?}");
    let (after_next, console) = dom(browser, &page, &format!("step={n}&keys=next"), &profile);
    assert_eq!(view_in(&after_next), expect(n + 1));
    assert!(!console.contains("Uncaught"), "console errors: {console}");
    let (after_prev, _) = dom(browser, &page, &format!("step={n}&keys=prev"), &profile);
    assert_eq!(view_in(&after_prev), expect(n - 1));
    let (there_and_back, _) = dom(
        browser,
        &page,
        &format!("step={n}&keys=next,next,prev,prev"),
        &profile,
    );
    assert_eq!(view_in(&there_and_back), expect(n));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The child of `a_process_that_exits_inside_a_step_still_prints_its_last_lines`.
#[test]
#[ignore = "run by its parent test in a child process"]
fn exits_inside_a_step_child() {
    if std::env::var_os("YIELDFROM_EXPLORE_CHILD").is_none() {
        return;
    }
    yieldfrom::run(yieldfrom::Coro::new("main", || {
        println!("first words");
        yieldfrom::yield_now();
        println!("last words");
        std::process::exit(0);
    }));
}

#[test]
fn a_process_that_exits_inside_a_step_still_prints_its_last_lines() {
    let dir = temp_dir("explore-exit");
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "exits_inside_a_step_child",
            "--ignored",
            "--nocapture",
        ])
        .args(["--test-threads", "1"])
        .env("YIELDFROM_EXPLORE_CHILD", "1")
        .env("YIELDFROM_TRACE", "explore")
        .env("YIELDFROM_TRACE_FILE", dir.join("page.html"))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first = stdout.find("first words").expect("the first step's line");
    let last = stdout
        .find("last words")
        .expect("the line written just before exit");
    assert!(first < last, "{stdout}");
}

#[test]
fn the_time_axis_takes_the_learner_to_the_step_at_that_time() {
    let found = common::chromium();
    if !common::installed("chromium", found.is_some()) {
        return;
    }
    let browser = found.unwrap();
    let dir = temp_dir("explore-time");
    let (page, text) = explored("04_tasks_timeline", &dir);
    let steps = common::explorer_steps(&text);
    let profile = dir.join("profile");
    // The last step of loop 1 that began by 1.5 s (B's resume at 1 s),
    // whichever step the page opened at.
    let want = steps
        .iter()
        .rposition(|s| s["loop"] == 1 && s["at"].as_f64().unwrap() <= 1.5)
        .unwrap();
    assert!(want > 0 && want + 1 < steps.len(), "{steps:#?}");
    let (dom_at, console) = dom(browser, &page, "step=1&at=1:1.5", &profile);
    assert!(!console.contains("Uncaught"), "console errors: {console}");
    assert!(
        dom_at.contains(&format!("step {} of {}", want + 1, steps.len())),
        "{dom_at}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The child of `a_task_on_the_smallest_stack_is_explored_with_its_chain`.
#[test]
#[ignore = "run by its parent test in a child process"]
fn small_stack_child() {
    if std::env::var_os("YIELDFROM_EXPLORE_CHILD").is_none() {
        return;
    }
    #[inline(never)]
    fn waits_a_little() {
        yieldfrom::sleep(std::time::Duration::from_millis(1));
    }
    let lp = yieldfrom::EventLoop::builder()
        .stack_size(yieldfrom::stack::MIN_STACK_SIZE)
        .build();
    lp.run(yieldfrom::Coro::new("small", || {
        waits_a_little();
        waits_a_little();
    }));
}

#[test]
fn a_task_on_the_smallest_stack_is_explored_with_its_chain() {
    let dir = temp_dir("explore-small-stack");
    let page = dir.join("page.html");
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "small_stack_child", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env("YIELDFROM_EXPLORE_CHILD", "1")
        .env("YIELDFROM_TRACE", "explore")
        .env("YIELDFROM_TRACE_FILE", &page)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&page).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    // Its chain was read (off the task's stack) and names the function
    // it waits in, where the build has the names (a debug build).
    let chains: Vec<Vec<String>> = printed_and_sites(&text)
        .into_iter()
        .flat_map(|(_, _, waiting)| waiting.into_iter().map(|(_, sites)| sites))
        .collect();
    assert!(!chains.is_empty(), "{text}");
    if cfg!(debug_assertions) {
        assert!(
            chains
                .iter()
                .any(|c| c.iter().any(|site| site.contains("waits_a_little"))),
            "{chains:?}"
        );
    }
}
