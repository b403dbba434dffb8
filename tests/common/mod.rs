//! Helpers shared by the integration tests that run built binaries.

use std::path::PathBuf;

/// `target/<profile>/examples/<name>`, built by `cargo test`, found from the
/// test binary's own path (`target/<profile>/deps/<test>-<hash>`).
#[allow(dead_code)] // each test binary compiles this module; not all use it
pub fn example_binary(name: &str) -> PathBuf {
    let mut path = std::env::current_exe().unwrap();
    path.pop();
    path.pop();
    path.push("examples");
    path.push(name);
    path
}

/// Runs the `#[ignore]`d helper test `name` of this test binary in a child
/// process, with `child_var=1` (so the helper knows it is the child) and
/// `env`; returns its stderr and exit status.
#[allow(dead_code)] // each test binary compiles this module; not all use it
pub fn run_helper(
    name: &str,
    child_var: &str,
    env: &[(&str, &str)],
) -> (String, std::process::ExitStatus) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(child_var, "1")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status,
    )
}
