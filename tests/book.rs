//! The book is whole: every chapter in SUMMARY.md exists, every relative link
//! points at a file that exists, and every numbered example has a chapter.
//! (Its Rust snippets are compiled and run as doc tests: see `book` in lib.rs.)

mod common;

use std::collections::HashMap;
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
        let distinct: std::collections::HashSet<&&str> = named.iter().collect();
        assert!(
            distinct.len() >= 2,
            "{} has {} exercise(s); every chapter has at least two",
            file.display(),
            distinct.len()
        );
        for name in named {
            assert!(
                solutions.contains(&format!("fn {name}()")),
                "{}: no solution {name} in tests/exercises.rs",
                file.display()
            );
        }
    }
}

// ----- the book's example outputs are generated, and checked -------------
//
// A fenced block that shows what an example prints comes right after a
// marker naming the example and what to take from its run:
//
//     <!-- output: 04_tasks_timeline timeline 1 -->
//     <!-- output: 04_tasks_timeline steps 2-2 -->
//     <!-- output: 13_race_explorer stdout lines 5-17 dedent -->
//     <!-- output: 06_blocking_mistakes timeline 1 real -->
//
// `stdout`: what it prints; `timeline N`: the N-th loop's timeline
// (`YIELDFROM_TRACE=timeline`); `steps A-B`: the stepper's blocks for steps
// A to B (`YIELDFROM_STEP=1`, Enter pressed for each). Every run is on the
// virtual clock with `COLUMNS=64`, except `real` ones (a blocking call shows
// only on the real clock), which are compared with numbers and bars masked.
// `lines A-B` keeps those lines of the result, `dedent` strips the indent
// they share; `args=A,B` runs the example with those arguments, and
// `needs=postgresql` marks a run whose output depends on PostgreSQL being
// installed (the private cluster example 11 starts). `YIELDFROM_BLESS=1 cargo test --test book` rewrites every such
// block from a fresh run: the one command that regenerates the book's outputs.

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Take {
    Stdout,
    Timeline(usize),
    Steps(usize, usize),
}

#[derive(Clone, Debug)]
struct Marker {
    example: String,
    take: Take,
    real: bool,
    lines: Option<(usize, usize)>,
    dedent: bool,
    /// For `timeline`: only the header and the bars.
    bars: bool,
    /// For `steps`: which loop's steps (each loop counts from 1).
    in_loop: usize,
    /// Arguments for the example (`args=--demo,--x`).
    args: Vec<String>,
    /// Whether the run needs PostgreSQL (`needs=postgresql`): without it
    /// the example serves another backend, and the block is not compared
    /// (under `CI=true`, that fails the test).
    needs_postgres: bool,
}

fn range(word: Option<&str>) -> (usize, usize) {
    let word = word.expect("a range A-B");
    let (a, b) = word.split_once('-').unwrap_or((word, word));
    (a.parse().unwrap(), b.parse().unwrap())
}

fn parse_marker(line: &str) -> Option<Marker> {
    let inner = line
        .trim()
        .strip_prefix("<!-- output:")?
        .strip_suffix("-->")?;
    let mut words = inner.split_whitespace();
    let example = words.next().expect("an example name").to_string();
    let take = match words.next() {
        Some("stdout") => Take::Stdout,
        Some("timeline") => Take::Timeline(words.next().unwrap().parse().unwrap()),
        Some("steps") => {
            let (a, b) = range(words.next());
            Take::Steps(a, b)
        }
        other => panic!("unknown output kind {other:?} in {line}"),
    };
    let mut marker = Marker {
        example,
        take,
        real: false,
        lines: None,
        dedent: false,
        bars: false,
        in_loop: 1,
        args: vec![],
        needs_postgres: false,
    };
    while let Some(word) = words.next() {
        match word {
            "real" => marker.real = true,
            "dedent" => marker.dedent = true,
            "bars" => marker.bars = true,
            "loop" => marker.in_loop = words.next().unwrap().parse().unwrap(),
            "lines" => marker.lines = Some(range(words.next())),
            "needs=postgresql" => marker.needs_postgres = true,
            word if word.starts_with("args=") => {
                marker.args = word["args=".len()..].split(',').map(String::from).collect();
            }
            other => panic!("unknown option {other:?} in {line}"),
        }
    }
    Some(marker)
}

/// Runs an example as the marker says: (stdout, stderr).
fn run(example: &str, args: &[String], take: &Take, real: bool) -> (String, String) {
    use std::io::Write;
    let mut cmd = std::process::Command::new(common::example_binary(example));
    cmd.args(args)
        .env("COLUMNS", "64")
        .env_remove("DATABASE_URL")
        .env_remove("YIELDFROM_TRACE")
        .env_remove("YIELDFROM_STEP")
        .env_remove("YIELDFROM_VIRTUAL_CLOCK")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if !real {
        cmd.env("YIELDFROM_VIRTUAL_CLOCK", "1");
    }
    match take {
        Take::Stdout => {}
        Take::Timeline(_) => {
            cmd.env("YIELDFROM_TRACE", "timeline");
        }
        Take::Steps(..) => {
            cmd.env("YIELDFROM_STEP", "1");
        }
    }
    let mut child = cmd.spawn().expect("the example is built by cargo test");
    {
        // Enter for every step the stepper asks about (it exits with the
        // program; a closed pipe just means it did not need them all).
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(&vec![b'\n'; 10_000]);
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{example}: {out:?}");
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The timelines a run printed on stderr, in the order the loops closed.
fn timelines(stderr: &str) -> Vec<String> {
    let lines: Vec<&str> = stderr.lines().collect();
    let mut found = vec![];
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].starts_with("Time →") {
            i += 1;
            continue;
        }
        let mut block = vec![lines[i]];
        i += 1;
        let mut rows = 0;
        while i < lines.len() && lines[i].contains(" │ ") {
            block.push(lines[i]);
            rows += 1;
            i += 1;
        }
        // A blank line, then one sentence per row (a long one goes on in
        // lines that begin with an indented arrow).
        block.push(lines.get(i).copied().unwrap_or(""));
        i += 1;
        let mut sentences = 0;
        while i < lines.len() {
            let goes_on = lines[i].starts_with(yieldfrom::trace::SENTENCE_GOES_ON);
            if !goes_on && (sentences == rows || lines[i].is_empty()) {
                break;
            }
            sentences += usize::from(!goes_on);
            block.push(lines[i]);
            i += 1;
        }
        found.push(block.join("\n"));
    }
    found
}

/// The stepper's blocks for steps `a..=b` of the `in_loop`-th loop (its
/// step count starts again at 1), without its key prompt.
fn steps(stderr: &str, in_loop: usize, a: usize, b: usize) -> String {
    let mut out = vec![];
    let (mut current, mut loops) = (None, 0);
    for line in stderr.lines() {
        if let Some(rest) = line.strip_prefix("── step ") {
            let n: usize = rest.split_whitespace().next().unwrap().parse().unwrap();
            if current.is_none_or(|c| n <= c) {
                loops += 1;
            }
            current = Some(n);
        }
        if line.starts_with("[Enter]") {
            continue;
        }
        if loops == in_loop && current.is_some_and(|n| (a..=b).contains(&n)) {
            out.push(line);
        }
    }
    out.join("\n")
}

type Runs = HashMap<(String, Vec<String>, Take, bool), (String, String)>;

fn generate(marker: &Marker, runs: &mut Runs) -> String {
    let kind = match marker.take {
        Take::Timeline(_) => Take::Timeline(0),
        Take::Steps(..) => Take::Steps(0, 0),
        Take::Stdout => Take::Stdout,
    };
    let (stdout, stderr) = runs
        .entry((
            marker.example.clone(),
            marker.args.clone(),
            kind,
            marker.real,
        ))
        .or_insert_with(|| run(&marker.example, &marker.args, &marker.take, marker.real));
    let text = match marker.take {
        Take::Stdout => stdout.trim_end().to_string(),
        Take::Timeline(n) => {
            let all = timelines(stderr);
            let timeline = all
                .get(n - 1)
                .unwrap_or_else(|| panic!("{}: no timeline {n} in\n{stderr}", marker.example));
            match marker.bars {
                true => timeline.split("\n\n").next().unwrap().to_string(),
                false => timeline.clone(),
            }
        }
        Take::Steps(a, b) => steps(stderr, marker.in_loop, a, b),
    };
    let mut lines: Vec<&str> = text.lines().collect();
    if let Some((a, b)) = marker.lines {
        lines = lines[a - 1..b.min(lines.len())].to_vec();
    }
    let indent = if marker.dedent {
        lines
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0)
    } else {
        0
    };
    lines
        .iter()
        .map(|l| l.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a `real` block is compared by: numbers, bars and the width of
/// spaces masked.
fn masked(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        let line = match line.split_once(" │ ") {
            Some((name, _)) => format!("{name} │ …"),
            None => line.to_string(),
        };
        let mut last_digit = false;
        for c in line.chars() {
            let digit = c.is_ascii_digit() || (last_digit && c == '.');
            if !digit {
                out.push(c);
            } else if !last_digit {
                out.push('N');
            }
            last_digit = digit;
        }
        out.push('\n');
    }
    out
}

#[test]
fn the_books_example_outputs_match_a_fresh_run() {
    let bless = std::env::var_os("YIELDFROM_BLESS").is_some();
    let mut runs = HashMap::new();
    let mut stale = vec![];
    let mut markers = 0;
    for file in markdown_files(Path::new("docs/src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut rewritten: Vec<String> = vec![];
        let mut i = 0;
        while i < lines.len() {
            rewritten.push(lines[i].to_string());
            let Some(marker) = parse_marker(lines[i]) else {
                i += 1;
                continue;
            };
            markers += 1;
            assert_eq!(
                lines.get(i + 1).copied(),
                Some("```text"),
                "{}:{}: a marker comes right before a ```text block",
                file.display(),
                i + 1
            );
            let end = (i + 2..lines.len())
                .find(|&j| lines[j] == "```")
                .expect("the block is closed");
            let shown = lines[i + 2..end].join("\n");
            let available = yieldfrom::pg::TempCluster::available();
            if marker.needs_postgres && !common::installed("postgresql", available) {
                rewritten.extend(lines[i + 1..=end].iter().map(|l| l.to_string()));
                i = end + 1;
                continue;
            }
            let fresh = generate(&marker, &mut runs);
            let same = if marker.real {
                masked(&shown) == masked(&fresh)
            } else {
                shown == fresh
            };
            if !same {
                stale.push(format!(
                    "{}:{} ({}):\n--- the book\n{shown}\n--- a fresh run\n{fresh}",
                    file.display(),
                    i + 1,
                    marker.example
                ));
            }
            rewritten.push("```text".to_string());
            // A `real` block that still matches keeps its figures (the
            // book may show a release build's; the tests run a debug one).
            let keep = same && (marker.real || !bless);
            rewritten.push(if keep { shown } else { fresh });
            rewritten.push("```".to_string());
            i = end + 1;
        }
        if bless {
            let mut new = rewritten.join("\n");
            new.push('\n');
            if new != text {
                std::fs::write(&file, new).unwrap();
            }
        }
    }
    assert!(markers >= 10, "only {markers} generated blocks in the book");
    assert!(
        bless || stale.is_empty(),
        "the book shows outputs the code no longer prints; regenerate them with \
         `YIELDFROM_BLESS=1 cargo test --test book`:\n\n{}",
        stale.join("\n\n")
    );
}

#[test]
fn the_examples_are_numbered_without_a_gap() {
    let mut numbers: Vec<u32> = std::fs::read_dir("examples")
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.get(..2)?.parse().ok()
        })
        .collect();
    numbers.sort();
    let expected: Vec<u32> = (1..=numbers.len() as u32).collect();
    assert_eq!(
        numbers, expected,
        "an example number is missing or repeated"
    );
}

// ----- pictures -------------------------------------------------------------
//
// A picture of an example's timeline (`YIELDFROM_TRACE=svg`) is embedded
// after a marker naming the example:
//
//     <!-- picture: 05_chef -->
//     ![The two chefs' loops](../pictures/05_chef.svg)
//
// The SVG in the book must be what a fresh run on the virtual clock draws
// (for `real` ones, drawn on the real clock, the same rows);
// `YIELDFROM_BLESS=1 cargo test --test book` redraws them all.

/// The SVG a run of `example` writes.
fn picture(example: &str, real: bool) -> String {
    let file = std::env::temp_dir().join(format!(
        "yieldfrom-book-{}-{example}.svg",
        std::process::id()
    ));
    let mut cmd = std::process::Command::new(common::example_binary(example));
    cmd.env("YIELDFROM_TRACE", "svg")
        .env("YIELDFROM_TRACE_FILE", &file)
        .env_remove("YIELDFROM_STEP")
        .env_remove("YIELDFROM_VIRTUAL_CLOCK")
        .stdin(std::process::Stdio::null());
    if !real {
        cmd.env("YIELDFROM_VIRTUAL_CLOCK", "1");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{example}: {out:?}");
    let svg = std::fs::read_to_string(&file).unwrap();
    let _ = std::fs::remove_file(&file);
    svg
}

/// The task rows a picture shows, in order.
fn rows(svg: &str) -> Vec<&str> {
    svg.split(r#"text-anchor="end">"#)
        .skip(1)
        .map(|rest| rest.split("</text>").next().unwrap())
        .collect()
}

/// A marker's example, whether it runs on the real clock, its arguments,
/// and the file its link names.
type Linked = (String, bool, Vec<String>, PathBuf);

/// Every `<!-- {kind}: EXAMPLE [real] [args=A,B] -->` marker under `dir` whose next line
/// links a file (`[..](path)` or `![..](path)`): (the example, whether it is
/// a real-clock one, the linked file's path).
fn linked_markers(dir: &Path, kind: &str) -> Vec<Linked> {
    let mut found = vec![];
    let open = format!("<!-- {kind}:");
    for file in markdown_files(dir) {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(inner) = line
                .trim()
                .strip_prefix(open.as_str())
                .and_then(|r| r.strip_suffix("-->"))
            else {
                continue;
            };
            let mut words = inner.split_whitespace();
            let example = words.next().expect("an example name").to_string();
            let rest: Vec<&str> = words.collect();
            let real = rest.contains(&"real");
            let args: Vec<String> = rest
                .iter()
                .filter_map(|w| w.strip_prefix("args="))
                .flat_map(|a| a.split(',').map(String::from))
                .collect();
            let target = lines
                .get(i + 1)
                .and_then(|l| l.split_once("](").map(|(_, rest)| rest))
                .and_then(|rest| rest.split_once(')').map(|(t, _)| t))
                .unwrap_or_else(|| {
                    panic!(
                        "{}:{}: a {kind} marker comes right before a link to its file",
                        file.display(),
                        i + 1
                    )
                });
            found.push((example, real, args, file.parent().unwrap().join(target)));
        }
    }
    found
}

#[test]
fn the_books_pictures_match_a_fresh_run() {
    let bless = std::env::var_os("YIELDFROM_BLESS").is_some();
    let mut stale = vec![];
    let markers = linked_markers(Path::new("docs/src"), "picture");
    let pictures = markers.len();
    for (example, real, _, path) in markers {
        let fresh = picture(&example, real);
        let shown = std::fs::read_to_string(&path).unwrap_or_default();
        let same = if real {
            rows(&shown) == rows(&fresh)
        } else {
            shown == fresh
        };
        if bless && (!same || !real) {
            std::fs::write(&path, &fresh).unwrap();
        } else if !same {
            stale.push(format!("{} ({example})", path.display()));
        }
    }
    assert!(pictures >= 5, "only {pictures} pictures in the book");
    assert!(
        stale.is_empty(),
        "pictures that the code no longer draws; redraw them with \
         `YIELDFROM_BLESS=1 cargo test --test book`:\n{}",
        stale.join("\n")
    );
}

// ----- explorer pages -------------------------------------------------------
//
// A chapter links its example's run in the explorer (`YIELDFROM_TRACE=explore`)
// after a marker naming the example:
//
//     <!-- explore: 05_chef -->
//     [The run in the explorer](../explore/05_chef.html) ...
//
// The page in the book must be what a fresh run on the virtual clock writes
// (for `real` ones, whose times depend on the machine, only that it exists);
// each stays under 500 KB. `YIELDFROM_BLESS=1 cargo test --test book`
// rewrites them all.

/// A page's text without the data, and its steps with every string in
/// place, call sites left out: those come from the build's debug
/// information (the pages are blessed from a debug build; a release build
/// has no lines, and inlines), so a release run compares the rest.
fn without_call_sites(page: &str) -> (String, Vec<serde_json::Map<String, serde_json::Value>>) {
    let (head, rest) = page
        .split_once(r#"<script id="data" type="application/json">"#)
        .expect("a page holds its data");
    let tail = rest.split_once("</script>").unwrap().1;
    let mut steps = common::explorer_steps(page);
    for step in &mut steps {
        step.remove("sites");
    }
    (format!("{head}{tail}"), steps)
}

/// The explorer page a run of `example` on the virtual clock writes.
fn explorer_page(example: &str, args: &[String]) -> String {
    let file = std::env::temp_dir().join(format!(
        "yieldfrom-book-{}-{example}.html",
        std::process::id()
    ));
    let out = std::process::Command::new(common::example_binary(example))
        .args(args)
        .env_remove("DATABASE_URL")
        .env("YIELDFROM_TRACE", "explore")
        .env("YIELDFROM_TRACE_FILE", &file)
        .env("YIELDFROM_VIRTUAL_CLOCK", "1")
        .env_remove("YIELDFROM_STEP")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{example}: {out:?}");
    let page = std::fs::read_to_string(&file).unwrap();
    let _ = std::fs::remove_file(&file);
    page
}

#[test]
fn the_books_explorer_pages_match_a_fresh_run() {
    let bless = std::env::var_os("YIELDFROM_BLESS").is_some();
    let mut stale = vec![];
    let markers = linked_markers(Path::new("docs/src/course"), "explore");
    let pages = markers.len();
    for (example, real, args, path) in markers {
        let shown = std::fs::read_to_string(&path).unwrap_or_default();
        let fresh = explorer_page(&example, &args);
        assert!(
            fresh.len() < 500_000,
            "{example}'s explorer page is {} bytes",
            fresh.len()
        );
        let same = if real {
            !shown.is_empty()
        } else if cfg!(debug_assertions) {
            shown == fresh
        } else {
            without_call_sites(&shown) == without_call_sites(&fresh)
        };
        if bless && (!same || real) {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &fresh).unwrap();
        } else if !same {
            stale.push(format!("{} ({example})", path.display()));
        }
    }
    assert!(pages >= 12, "only {pages} chapters link an explorer page");
    let sizes = explorer_links_with_a_wrong_size(bless);
    assert!(
        sizes.is_empty(),
        "explorer links whose size is missing or stale (`YIELDFROM_BLESS=1 cargo test --test book`):\n{}",
        sizes.join("\n")
    );
    assert!(
        stale.is_empty(),
        "explorer pages that a run no longer writes; rewrite them with \
         `YIELDFROM_BLESS=1 cargo test --test book`:\n{}",
        stale.join("\n")
    );
}

// ----- the course's Python twins run when pasted --------------------------
//
// Every ```python block in the course is a whole program that runs on
// CPython as it stands (with its sleeps shortened a hundredfold), unless
// its first line says why not: `# needs: ...` (a package or a server the
// suite does not have; the block must still compile) or `# excerpt: ...`
// (lines out of a larger program, which must compile as the body of an
// `async def`).

/// Runs a snippet as `__main__`, in a namespace of its own (so it must make
/// its own imports), with `asyncio.sleep` and `time.sleep` a hundred times
/// shorter; `compile` and `excerpt` only compile it.
const PYTHON_HARNESS: &str = r#"
import asyncio, sys, textwrap, time
mode, name = sys.argv[1], sys.argv[2]
code = sys.stdin.read()
if mode == "excerpt":
    compile("async def _excerpt():\n" + textwrap.indent(code, "    "), name, "exec")
elif mode == "compile":
    compile(code, name, "exec")
else:
    real_sleep, real_time_sleep = asyncio.sleep, time.sleep
    async def short_sleep(delay, result=None):
        return await real_sleep(delay / 100, result)
    asyncio.sleep = short_sleep
    time.sleep = lambda s: real_time_sleep(s / 100)
    exec(compile(code, name, "exec"), {"__name__": "__main__"})
"#;

fn python_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = vec![];
    let mut lines = markdown.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        if line.trim_end() == "```python" {
            let body: Vec<&str> = lines
                .by_ref()
                .map(|(_, l)| l)
                .take_while(|l| !l.starts_with("```"))
                .collect();
            blocks.push((n + 1, body.join("\n") + "\n"));
        }
    }
    blocks
}

#[test]
fn every_python_snippet_in_the_course_runs_when_pasted() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut failures = vec![];
    let mut ran = 0;
    for file in markdown_files(Path::new("docs/src/course")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, code) in python_blocks(&text) {
            let first = code.lines().next().unwrap_or("");
            let mode = if first.starts_with("# excerpt:") {
                "excerpt"
            } else if first.starts_with("# needs:") {
                "compile"
            } else {
                ran += 1;
                "run"
            };
            let name = format!("{}:{line}", file.display());
            let mut child = Command::new("python3")
                .args([
                    "-W",
                    "ignore::RuntimeWarning",
                    "-c",
                    PYTHON_HARNESS,
                    mode,
                    &name,
                ])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("python3 runs (the course's Python twins are checked with it)");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(code.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            if !out.status.success() {
                failures.push(format!(
                    "{name} ({mode}):\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "Python snippets that fail:\n{}",
        failures.join("\n")
    );
    assert!(
        ran >= 10,
        "only {ran} Python snippets ran: most are whole programs"
    );
}

/// Every chapter's explorer link says the page's size ("(28 KB; ..."),
/// and the size is the page's as it stands (a page of a run on the real
/// clock changes from run to run: within a third of it); the links that
/// do not. Blessing rewrites the figures (after the pages themselves: the
/// explorer test calls this last).
fn explorer_links_with_a_wrong_size(bless: bool) -> Vec<String> {
    let mut wrong = vec![];
    for file in markdown_files(Path::new("docs/src/course")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        let mut changed = false;
        for i in 0..lines.len() {
            let Some(inner) = lines[i].trim().strip_prefix("<!-- explore:") else {
                continue;
            };
            let real = inner.split_whitespace().any(|w| w == "real");
            let link = &lines[i + 1];
            let target = link.split_once("](").unwrap().1.split_once(')').unwrap().0;
            let page = file.parent().unwrap().join(target);
            let kb = (std::fs::metadata(&page).unwrap().len() as f64 / 1000.0).round() as u64;
            let said = link
                .split_once(") (")
                .and_then(|(_, rest)| rest.split_once(" KB;"))
                .and_then(|(n, _)| n.parse::<u64>().ok());
            let close = |said: u64| match real {
                true => said.abs_diff(kb) * 3 <= kb.max(1),
                false => said == kb,
            };
            match said {
                Some(n) if close(n) => {}
                Some(n) if bless => {
                    lines[i + 1] =
                        link.replacen(&format!(") ({n} KB;"), &format!(") ({kb} KB;"), 1);
                    changed = true;
                }
                _ => wrong.push(format!("{}:{}: {kb} KB: {link}", file.display(), i + 2)),
            }
        }
        if changed {
            std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        }
    }
    wrong
}
