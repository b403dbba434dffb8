//! Helpers shared by the integration tests that run built binaries.

use std::path::PathBuf;

/// `target/<profile>/examples/<name>`, built by `cargo test`, found from the
/// test binary's own path (`target/<profile>/deps/<test>-<hash>`).
pub fn example_binary(name: &str) -> PathBuf {
    let mut path = std::env::current_exe().unwrap();
    path.pop();
    path.pop();
    path.push("examples");
    path.push(name);
    path
}
