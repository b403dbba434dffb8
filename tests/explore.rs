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

/// The page's recorded steps, as views.
fn recorded(page: &str) -> Vec<View> {
    let json = page
        .split(r#"<script id="data" type="application/json">"#)
        .nth(1)
        .and_then(|rest| rest.split("</script>").next())
        .expect("the page holds its data");
    let data: serde_json::Value = serde_json::from_str(json).unwrap();
    let strings = data["strings"].as_array().unwrap();
    let text = |i: &serde_json::Value| strings[i.as_u64().unwrap() as usize].as_str().unwrap();
    let list = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| text(i).to_string())
            .collect()
    };
    data["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                text(&s["ran"]).to_string(),
                list(&s["ready"]),
                list(&s["timers"]),
                list(&s["waiting"]),
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

/// The items of the list `id` in a dumped DOM ("(empty)" is no item).
fn items(dom: &str, id: &str) -> Vec<String> {
    let open = format!(r#"id="{id}">"#);
    let list = dom
        .split(&open)
        .nth(1)
        .and_then(|rest| rest.split("</o").next())
        .and_then(|rest| rest.split("</u").next())
        .unwrap_or_else(|| panic!("no list {id} in {dom}"));
    list.split("<li")
        .skip(1)
        .map(|li| {
            let text = li.split_once('>').unwrap().1;
            let text = text.split("</li>").next().unwrap();
            text.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&")
        })
        .filter(|t| t != "(empty)")
        .collect()
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
