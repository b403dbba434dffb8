//! The book is whole: every chapter in SUMMARY.md exists, every relative link
//! points at a file that exists, and every numbered example has a chapter.
//! (Its Rust snippets are compiled and run as doc tests: see `book` in lib.rs.)

use std::path::{Path, PathBuf};

fn links(markdown: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = markdown;
    while let Some(at) = rest.find("](") {
        let tail = &rest[at + 2..];
        if let Some(end) = tail.find(')') {
            out.push(tail[..end].to_string());
        }
        rest = &rest[at + 2..];
    }
    out
}

fn markdown_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(markdown_files(&path));
        } else if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files
}

#[test]
fn every_relative_link_resolves() {
    let src = Path::new("docs/src");
    let mut broken = vec![];
    for file in markdown_files(src) {
        let text = std::fs::read_to_string(&file).unwrap();
        for link in links(&text) {
            if link.starts_with("http")
                || link.starts_with('#')
                || link.contains("::")
                || !link.contains('.')
            {
                continue; // external, an anchor, or a rustdoc intra-doc path
            }
            let target = link.split('#').next().unwrap();
            let resolved = file.parent().unwrap().join(target);
            if !resolved.exists() {
                broken.push(format!("{}: {link}", file.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_numbered_example_has_a_chapter() {
    let summary = std::fs::read_to_string("docs/src/SUMMARY.md").unwrap();
    for entry in std::fs::read_dir("examples").unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(number) = name
            .get(..2)
            .filter(|n| n.chars().all(|c| c.is_ascii_digit()))
        else {
            continue;
        };
        assert!(
            summary.contains(&format!("[{number} · ")),
            "examples/{name} has no chapter in SUMMARY.md"
        );
    }
}

#[test]
fn every_exercise_names_a_solution_that_exists() {
    let solutions = std::fs::read_to_string("tests/exercises.rs").unwrap();
    for file in markdown_files(Path::new("docs/src/course")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let named: Vec<&str> = text
            .split('`')
            .filter(|w| w.starts_with("exercise_"))
            .collect();
        assert!(!named.is_empty(), "{} has no exercise", file.display());
        for name in named {
            assert!(
                solutions.contains(&format!("fn {name}()")),
                "{}: no solution {name} in tests/exercises.rs",
                file.display()
            );
        }
    }
}
