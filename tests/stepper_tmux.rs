//! The stepper in a real terminal: an example runs under tmux with
//! `YIELDFROM_STEP=1`; the test types keys with `send-keys` and reads the
//! screen with `capture-pane`.
//!
//! Needs tmux. Without it the test fails when `CI=true` (`.ci/run` installs
//! it) and is skipped with a note otherwise.

mod common;
use common::example_binary;
use std::process::Command;
use std::time::{Duration, Instant};

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(args)
        .output()
        .expect("running tmux");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits (up to 10 s) until the pane shows `text`; returns the screen.
fn wait_for(session: &str, text: &str) -> String {
    wait_until(session, text, |screen| screen.contains(text))
}

/// The stepper's prompt: the last line of every step's block.
const PROMPT: &str = "[Enter] step · [c] continue · [q] quit";

/// Waits (up to 10 s) until the pane shows the block of step `n`, complete.
fn wait_for_step(session: &str, n: usize) -> String {
    wait_until(session, &format!("step {n}, complete"), |screen| {
        screen.contains(&format!("── step {n} ")) && screen.matches(PROMPT).count() >= n
    })
}

fn wait_until(session: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let screen = tmux(&["capture-pane", "-p", "-t", session]);
        if done(&screen) {
            return screen;
        }
        assert!(
            Instant::now() < deadline,
            "the pane never showed {what}:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tmux_available() -> bool {
    let found = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "tmux is required in CI (apt-get install -y tmux)"
        );
        eprintln!("skipping: tmux is not installed");
    }
    found
}

struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

fn start(name: &str) -> Session {
    start_example(name, "02_await_pauses")
}

fn start_example(name: &str, example: &str) -> Session {
    let session = format!("yf-{name}-{}", std::process::id());
    let cmd = format!(
        "YIELDFROM_VIRTUAL_CLOCK=1 YIELDFROM_STEP=1 '{}'; echo EXITED $?; sleep 30",
        example_binary(example).display()
    );
    let status = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "120",
            "-y",
            "50",
            &cmd,
        ])
        .status()
        .unwrap();
    assert!(status.success());
    Session(session)
}

#[test]
fn stepping_through_an_example_in_a_terminal() {
    if !tmux_available() {
        return;
    }
    let s = start("step");
    let screen = wait_for_step(&s.0, 1);
    assert!(screen.contains("[0.00 s] Hello"), "{screen}");
    assert!(
        screen.contains("ran      task 'greet' (#1) → paused on sleep"),
        "{screen}"
    );
    assert!(
        screen.contains("timers   2.000 s: wake task 'greet' (#1)"),
        "{screen}"
    );
    assert!(
        screen.contains("waiting  task 'greet' (#1) on sleep"),
        "{screen}"
    );
    assert!(
        !screen.contains("World"),
        "paused before the sleep ends:\n{screen}"
    );
    tmux(&["send-keys", "-t", &s.0, "Enter"]);
    let screen = wait_for_step(&s.0, 2);
    assert!(screen.contains("[2.00 s] World"), "{screen}");
    assert!(
        screen.contains("ran      task 'greet' (#1) → done: returned"),
        "{screen}"
    );
    assert!(
        !screen.contains("EXITED"),
        "it waits for a key after the last step too"
    );
    tmux(&["send-keys", "-t", &s.0, "Enter"]);
    wait_for(&s.0, "EXITED 0");
}

#[test]
fn q_quits_and_c_runs_on() {
    if !tmux_available() {
        return;
    }
    let s = start("quit");
    wait_for_step(&s.0, 1);
    tmux(&["send-keys", "-t", &s.0, "q"]);
    let screen = wait_for(&s.0, "EXITED 0");
    assert!(screen.contains("stepper: quit"), "{screen}");
    assert!(!screen.contains("World"), "{screen}");

    let s = start("cont");
    wait_for_step(&s.0, 1);
    tmux(&["send-keys", "-t", &s.0, "c"]);
    let screen = wait_for(&s.0, "EXITED 0");
    assert!(screen.contains("[2.00 s] World"), "{screen}");
    assert!(
        !screen.contains("── step 2"),
        "c runs on without pausing:\n{screen}"
    );
}

/// `c` runs on to the end of the program, not only of the loop it was
/// pressed in: example 05 makes three loops, and none of the later ones
/// pauses.
#[test]
fn c_runs_on_through_every_later_loop() {
    if !tmux_available() {
        return;
    }
    let s = start_example("cloops", "05_chef");
    wait_for_step(&s.0, 1);
    tmux(&["send-keys", "-t", &s.0, "c"]);
    let screen = wait_for(&s.0, "EXITED 0");
    assert!(screen.contains("dinner after 3.00 s"), "{screen}");
    assert_eq!(
        screen.matches("[Enter] step").count(),
        1,
        "one pause only, before the c:\n{screen}"
    );
}
