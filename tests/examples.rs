//! Every numbered example prints what its header promises.
//!
//! Each example file opens with an "Expected output" block; this test runs
//! the example's binary (built by `cargo test`) on the virtual clock and
//! compares its whole output, stdout and stderr interleaved, with that block.
//! Where the header says a number varies (a blocked time, a tick count on a
//! worker thread), that number is masked on both sides and checked apart.

mod common;
use common::example_binary;
use std::process::Command;

/// The ```text block after "Expected output" in the example's header.
fn expected_output(name: &str) -> String {
    let source = std::fs::read_to_string(format!("examples/{name}.rs")).unwrap();
    let header: Vec<&str> = source
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| {
            l.strip_prefix("//! ")
                .unwrap_or(l.strip_prefix("//!").unwrap())
        })
        .collect();
    let start = header
        .iter()
        .position(|l| l.starts_with("Expected output"))
        .expect("an Expected output section");
    let open = start
        + header[start..]
            .iter()
            .position(|l| *l == "```text")
            .unwrap();
    let close = open + 1 + header[open + 1..].iter().position(|l| *l == "```").unwrap();
    header[open + 1..close].join("\n")
}

/// Runs the example on the virtual clock; stdout and stderr in one stream.
fn run_example(name: &str) -> String {
    let bin = example_binary(name);
    assert!(bin.exists(), "{} is built by `cargo test`", bin.display());
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("'{}' 2>&1", bin.display()))
        .env("YIELDFROM_VIRTUAL_CLOCK", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}

/// Replaces the number after `marker` with `N`, returning it.
fn mask(text: &str, marker: &str) -> (String, Vec<f64>) {
    let mut found = vec![];
    let lines: Vec<String> = text
        .lines()
        .map(|line| match line.find(marker) {
            Some(at) => {
                let rest = &line[at + marker.len()..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .unwrap_or(rest.len());
                found.push(rest[..end].parse().unwrap());
                format!("{}{marker}N{}", &line[..at], &rest[end..])
            }
            None => line.to_string(),
        })
        .collect();
    (lines.join("\n"), found)
}

fn check(name: &str) {
    assert_eq!(run_example(name), expected_output(name), "output of {name}");
}

#[test]
fn example_01_coroutine_is_lazy() {
    check("01_coroutine_is_lazy");
}

#[test]
fn example_02_await_pauses() {
    check("02_await_pauses");
}

#[test]
fn example_03_event_loop() {
    check("03_event_loop");
}

#[test]
fn example_04_tasks_timeline() {
    check("04_tasks_timeline");
}

#[test]
fn example_05_chef() {
    check("05_chef");
}

#[test]
fn example_06_blocking_mistakes() {
    let name = "06_blocking_mistakes";
    let (got, blocked) = mask(&run_example(name), "blocked the event loop for ");
    let (want, _) = mask(&expected_output(name), "blocked the event loop for ");
    assert_eq!(got, want);
    assert_eq!(blocked.len(), 1);
    // The watchdog measures to a tenth of the 100 ms threshold.
    assert!(
        (0.2..1.0).contains(&blocked[0]),
        "the warning reports the real blocked time: {blocked:?}"
    );
}

#[test]
fn example_07_generators_and_yield_from() {
    check("07_generators_and_yield_from");
}

#[test]
fn example_08_awaitables() {
    check("08_awaitables");
}

#[test]
fn example_09_cpu_bound() {
    let name = "09_cpu_bound";
    let (got, beats) = mask(&run_example(name), "heartbeats while computing: ");
    let (want, _) = mask(&expected_output(name), "heartbeats while computing: ");
    assert_eq!(got, want);
    assert_eq!(beats[0], 0.0, "blocked loop: no heartbeat");
    assert!(
        beats[1] >= 1.0,
        "to_thread: the heartbeat goes on ({beats:?})"
    );
}

#[test]
fn example_10_call_center() {
    check("10_call_center");
}

/// Replaces every number followed by " ns" with `N`.
fn mask_ns(text: &str) -> String {
    text.lines()
        .map(|line| {
            let mut out = String::new();
            for word in line.split_inclusive(' ') {
                let trimmed = word.trim_end();
                if !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_digit()) {
                    out.push('N');
                    out.push_str(&word[trimmed.len()..]);
                } else {
                    out.push_str(word);
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn example_12_stackless_vs_stackful() {
    let name = "12_stackless_vs_stackful";
    let got = mask_ns(&run_example(name));
    let want = mask_ns(&expected_output(name));
    // Column widths shift with the numbers' lengths: compare word by word.
    let words = |t: &str| t.split_whitespace().map(String::from).collect::<Vec<_>>();
    assert_eq!(words(&got), words(&want), "{got}");
}

#[test]
fn example_13_race_explorer() {
    check("13_race_explorer");
}

#[test]
fn example_14_files() {
    check("14_files");
}

#[test]
fn example_15_crawler() {
    check("15_crawler");
}

#[test]
fn example_16_api_calls() {
    let name = "16_api_calls";
    let masked = |text: &str| {
        let (text, sequential) = mask(text, "time, one after another: ");
        let (text, concurrent) = mask(&text, "s; at once: ");
        (text, sequential, concurrent)
    };
    let (got, sequential, concurrent) = masked(&run_example(name));
    let (want, _, _) = masked(&expected_output(name));
    assert_eq!(got, want);
    // Fifty 20 ms lookups one after another take at least a second.
    assert_eq!((sequential.len(), concurrent.len()), (1, 1));
    assert!(sequential[0] >= 1.0, "{sequential:?}");
}

#[test]
fn the_tour_runs_every_example_in_order() {
    let out = run_example("tour");
    let headings: Vec<&str> = out.lines().filter(|l| l.starts_with("━━━")).collect();
    assert_eq!(headings.len(), 17);
    for (i, h) in headings.iter().take(16).enumerate() {
        assert!(h.starts_with(&format!("━━━ {:02} · ", i + 1)), "{h}");
    }
    assert!(headings[16].starts_with("━━━ io · an echo server"));
    // Example 11 served its requests (from whichever backend this machine has).
    assert!(out.contains("  GET /users → 200, 10 users"), "{out}");
    assert!(out.contains("GET /users/999 → 404"));
    // Each loop's timeline, in the tutorial's words.
    let out = out.replace(&format!("\n{}", yieldfrom::trace::SENTENCE_GOES_ON), " → ");
    assert!(
        out.contains(
            "A: Start (0.00 s) → Pause (0.00 s, sleep) → Resume (2.00 s, its sleep ended) → Done (2.00 s)"
        )
    );
    assert!(out.contains("served 3 connection(s), 0 cut short; bye"));
    assert!(out.contains("total: 2.00 s (sequential would take 3.00 s)"));
    assert!(out.contains("tour finished: 17 examples"));
    // Example 16's calls, the slow one reported, the stream token by token.
    assert!(
        out.contains("50 calls at once (gather, Semaphore(10)): 49 answered, at most 10 in flight")
    );
    assert!(out.contains("the answer: \"Async is waiting without blocking.\""));
}

#[test]
fn echo_server_serves_until_sigint_then_exits_cleanly() {
    let (mut server, lines, first) = common::spawn_example("echo_server", &["127.0.0.1:0"]);
    let addr = first
        .strip_prefix("echo server listening on ")
        .and_then(|r| r.strip_suffix(" (Ctrl-C to stop)"))
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_string();
    let client = Command::new(example_binary("echo_client"))
        .args([addr.as_str(), "3", "2"])
        .output()
        .unwrap();
    let client_out = String::from_utf8(client.stdout).unwrap();
    assert!(client.status.success(), "{client_out}");
    assert!(
        client_out.starts_with("3 connection(s) x 2 message(s): 6 echoes checked in "),
        "{client_out}"
    );
    // SAFETY: kill(2) on the child we started, by its pid.
    assert_eq!(unsafe { libc::kill(server.id() as i32, libc::SIGINT) }, 0);
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    assert!(
        server.wait().unwrap().success(),
        "exit status 0 after SIGINT"
    );
    // How many connections are still live when the signal lands is a race
    // with the client's closing (its FINs and the signal can arrive in one
    // batch of events); that all three were served and drained is not.
    assert_eq!(rest.len(), 2, "{rest:?}");
    let live: usize = rest[0]
        .strip_prefix("signal 2: no longer accepting; waiting for ")
        .and_then(|r| r.strip_suffix(" live connection(s)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{rest:?}"));
    assert!(live <= 3, "{rest:?}");
    assert_eq!(rest[1], "served 3 connection(s); bye");
}

#[test]
fn explore_keeps_its_runs_out_of_the_environments_trace() {
    // Under YIELDFROM_TRACE=log every loop prints its log when it closes;
    // explore's 200 runs record their own traces and must not print.
    let out = Command::new(example_binary("13_race_explorer"))
        .env("YIELDFROM_VIRTUAL_CLOCK", "1")
        .env("YIELDFROM_TRACE", "log")
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.matches("task #1 'main' spawned").count(),
        1,
        "only the example's own FIFO loop is traced"
    );
}

/// `YIELDFROM_TRACE=chrome` keeps every loop of the run (example 05 runs
/// three: one dinner, two customers' dinners, a dinner whose boil is a
/// task), each a process of its own in the file, and says where the file went.
#[test]
fn a_chrome_trace_keeps_every_loop() {
    let (stderr, path, file) = traced_chef("chrome", "trace.json");
    assert!(
        stderr.lines().any(
            |l| l.starts_with("yieldfrom: Chrome trace of loop 3 (3 loop(s)")
                && l.ends_with(&format!("written to {}", path.display()))
        ),
        "{stderr}"
    );
    let v: serde_json::Value = serde_json::from_str(&file).unwrap();
    let events = v["traceEvents"].as_array().unwrap();
    let processes: Vec<&str> = events
        .iter()
        .filter(|e| e["name"] == "process_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        processes,
        [
            "loop 1 (thread main)",
            "loop 2 (thread main)",
            "loop 3 (thread main)"
        ]
    );
    let thread = |pid: u64, name: &str| {
        events
            .iter()
            .any(|e| e["name"] == "thread_name" && e["pid"] == pid && e["args"]["name"] == name)
    };
    assert!(
        thread(1, "chef #1") && thread(1, "cook_for_ann #2"),
        "{v:#}"
    );
    assert!(
        thread(2, "cook_for_ann #2") && thread(2, "cook_for_bob #3"),
        "{v:#}"
    );
    assert!(
        thread(3, "cook_while_it_boils #2") && thread(3, "boil_water #3"),
        "{v:#}"
    );
}

/// `YIELDFROM_TRACE=html` writes the timeline picture of every loop inside
/// an HTML page, and says where.
#[test]
fn an_html_trace_is_a_page_with_every_loops_picture() {
    let (stderr, path, page) = traced_chef("html", "trace.html");
    assert!(
        stderr.contains(&format!("written to {}", path.display())),
        "{stderr}"
    );
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(
        page.contains(">loop 1 (thread main)</text>")
            && page.contains(">loop 3 (thread main)</text>")
    );
    assert!(page.contains(">cook_for_bob</text>") && page.contains(">boil_water</text>"));
    // One time axis for the whole program: the three loops (5 s, 7 s and
    // 3 s long) are all drawn against the longest one's 7 s.
    assert_eq!(
        page.matches(">7 s</text>").count(),
        3,
        "every loop's axis runs to 7 s:\n{page}"
    );
}

/// Runs example 05 (two loops) with `YIELDFROM_TRACE=kind` writing to a
/// temporary `file`: (its stderr, the file's path, the file's text).
fn traced_chef(kind: &str, file: &str) -> (String, std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("yieldfrom-{kind}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file);
    let out = Command::new(example_binary("05_chef"))
        .env("YIELDFROM_VIRTUAL_CLOCK", "1")
        .env("YIELDFROM_TRACE", kind)
        .env("YIELDFROM_TRACE_FILE", &path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        path,
        text,
    )
}
