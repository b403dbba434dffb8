//! The layer check: every file of `src/` imports only files below it.
//!
//! It reads each file's references to other files of the crate: paths
//! through `crate::`, `super::` and `self::`, and paths through the child
//! modules a file declares (`mod tcp;` then `tcp::TcpStream`), in `use`
//! lines and in code alike. Comments and a file's `#[cfg(test)] mod tests`
//! are skipped: a test may build a whole loop to test a low layer. Each path
//! names the deepest file it reaches (`crate::task::raw::TaskRef` names
//! `task/raw.rs`; `crate::task::Task`, the task folder's `mod.rs`).
//!
//! The order is [`LAYERS`], bottom first; it is the reading order the crate
//! docs give. A reference to a file listed later, a file missing from the
//! list, or a listed file that no longer exists fails the test, naming the
//! files and the items. Folders are layers too: each folder's files hold
//! one run of consecutive places in the list (a second test).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `src/` bottom up: a file may use the files above it in this list, never
/// one below. One line per file (`task` is `task/mod.rs`).
const LAYERS: &[&str] = &[
    // The machine's own instructions.
    "arch/other",
    "arch/x86_64",
    "arch",
    // Plain data: the words every layer speaks.
    "task_id",
    "reason",
    "percent",
    // Reporting and configuration.
    "warnings",
    "names",
    "call_sites",
    "env",
    "watchdog",
    // Stacks and generators.
    "stack/valgrind",
    "stack/overflow",
    "stack/budget",
    "stack/error",
    "stack/arena",
    "stack/sizes",
    "stack/pool",
    "stack/shared",
    "stack",
    "generator/error",
    "generator/co",
    "generator",
    "generator/build",
    "generator/switch",
    "generator/delegation",
    "generator/adapters",
    // A task: its record, what is running, the switch, what it waits on,
    // and the task itself.
    "task/alloc",
    "task/deadline",
    "task/state",
    "task/state/scopes",
    "task/state/tests",
    "task/raw",
    "task/context",
    "task/cancel",
    "task/wake",
    "task/suspend",
    "task/waiters",
    "task/outcome",
    "task/slot",
    "task/future",
    "task/handle",
    "task",
    "coro",
    // What the loop is made of.
    "trace/capture",
    "trace/event",
    "trace/instrument",
    "trace/bars",
    "trace/svg",
    "trace/timeline",
    "trace/chrome",
    "trace/explore",
    "trace",
    "trace/stepper",
    "event_loop/ready",
    "event_loop/timer",
    "event_loop/reactor",
    "event_loop/clock",
    "event_loop/workers",
    "event_loop/state",
    "event_loop/scheduler",
    "event_loop/builder",
    "event_loop",
    "event_loop/run",
    // Await points and tools built on the loop.
    "awaitable",
    "time",
    "threads",
    "fs",
    "combinators/gather",
    "combinators/wait",
    "combinators/task_group",
    "combinators",
    "scope",
    "sync/wait",
    "sync/event",
    "sync/lock",
    "sync/semaphore",
    "sync/condition",
    "sync/queue",
    "sync/channel",
    "sync",
    // I/O.
    "net/registration",
    "net/source",
    "net/resolve",
    "net/pipe",
    "net/tcp",
    "net/udp",
    "net/unix",
    "net/signal",
    "net/process",
    "net/server",
    "net",
    "tls/config",
    "tls/stream",
    "tls/stream/tests",
    "tls",
    "per_core",
    // PostgreSQL on the runtime's sockets.
    "pg/error",
    "pg/config/tls",
    "pg/config",
    "pg/url",
    "pg/row",
    "pg/cluster",
    "pg/stream",
    "pg/statement",
    "pg/connection",
    "pg/pipeline",
    "pg/client",
    "pg/transaction",
    "pg/connect",
    "pg/pool/options",
    "pg/pool/lending",
    "pg/pool",
    "pg",
    // HTTP on the runtime's TCP.
    "http/date",
    "http/framing",
    "http/chunked",
    "http/chunked/tests",
    "http/transport",
    "http/body",
    "http/request",
    "http/response",
    "http/router",
    "http/config",
    "http/conn",
    "http/client/url",
    "http/client/error",
    "http/client/config",
    "http/client/wire",
    "http/client/sse",
    "http/client/pool",
    "http/client/shared",
    "http/client/body",
    "http/client/response",
    "http/client/request",
    "http/client/exchange",
    "http/client",
    "http",
    "debug",
    // The stackless twin, beside everything else.
    "stackless/task",
    "stackless/suspend",
    "stackless/event_loop",
    "stackless/future",
    "stackless/time",
    "stackless/net",
    "stackless/sync",
    "stackless/combinators",
    "stackless",
    // The crate root: docs and re-exports.
    "lib",
];

/// A file's module path: `task/raw` for `src/task/raw.rs`, `task` for
/// `src/task/mod.rs`, `lib` for `src/lib.rs`.
fn module_of(rel: &Path) -> String {
    let s = rel.with_extension("").to_string_lossy().replace('\\', "/");
    s.strip_suffix("/mod").map(str::to_string).unwrap_or(s)
}

fn files(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).expect("under src/");
            let text = std::fs::read_to_string(&path).expect("a source file");
            out.insert(module_of(rel), text);
        }
    }
}

/// The code of a file without comments, string contents and its test module.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if text[i..].starts_with("//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if text[i..].starts_with("/*") {
            i = text[i..].find("*/").map_or(bytes.len(), |e| i + e + 2);
        } else if bytes[i] == b'"' {
            // A string literal: keep the quotes, drop what is inside.
            out.push('"');
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            out.push('"');
            i += 1;
        } else if bytes[i] == b'\'' && text[i..].chars().nth(2) == Some('\'') {
            // A character literal such as '"' (lifetimes are left alone).
            i += text[i..].chars().take(3).map(char::len_utf8).sum::<usize>();
        } else {
            let c = text[i..].chars().next().expect("inside the text");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Expands one path tree after a prefix (`a::{b, c::d}`) into paths.
fn expand(tree: &str) -> Vec<Vec<String>> {
    let tree = tree.trim();
    let mut prefix = Vec::new();
    let mut rest = tree;
    loop {
        let ident: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if ident.is_empty() {
            break;
        }
        rest = &rest[ident.len()..];
        prefix.push(ident);
        match rest.strip_prefix("::") {
            Some(r) => rest = r.trim_start(),
            None => return vec![prefix],
        }
    }
    let Some(body) = rest.strip_prefix('{') else {
        return vec![prefix];
    };
    let mut depth = 1;
    let mut end = 0;
    for (at, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if depth == 0 {
            end = at;
            break;
        }
    }
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    let inner = &body[..end];
    for (at, c) in inner.char_indices().chain([(inner.len(), ',')]) {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                for sub in expand(&inner[start..at]) {
                    out.push(prefix.iter().cloned().chain(sub).collect());
                }
                start = at + 1;
            }
            _ => {}
        }
    }
    out
}

/// The deepest module of `known` that the path `parts` reaches, and the rest.
fn resolve(parts: &[String], known: &BTreeMap<String, String>) -> Option<(String, String)> {
    let mut best = None;
    for n in 1..=parts.len() {
        let m = parts[..n].join("/");
        if known.contains_key(&m) {
            best = Some((m, parts[n..].join("::")));
        }
    }
    best
}

/// The crate root's re-exports: each name `lib.rs` makes public with
/// `pub use`, and the file it comes from (`EventLoop` → `event_loop`), so
/// that `crate::EventLoop` written in a low file counts as a reference to
/// the loop, not to nothing. (An `as` rename keeps the original name.)
fn root_reexports(known: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let code = code_of(&known["lib"]);
    let mut out = BTreeMap::new();
    for statement in code.split(';') {
        let statement = statement.trim();
        let Some(tree) = statement
            .strip_prefix("pub use ")
            .or_else(|| statement.strip_prefix("pub(crate) use "))
        else {
            continue;
        };
        let tree = tree
            .trim()
            .trim_start_matches("crate::")
            .trim_start_matches("self::");
        for path in expand(tree) {
            if let (Some(name), Some((m, _))) = (path.last(), resolve(&path, known)) {
                out.insert(name.clone(), m);
            }
        }
    }
    out
}

/// The files `module` refers to, with the items it names in each.
fn references(
    module: &str,
    text: &str,
    known: &BTreeMap<String, String>,
) -> BTreeMap<String, BTreeSet<String>> {
    let reexports = root_reexports(known);
    let code = code_of(text);
    let is_mod_rs = known.keys().any(|k| k.starts_with(&format!("{module}/")));
    let folder: Vec<String> = if module == "lib" {
        Vec::new()
    } else if is_mod_rs {
        module.split('/').map(String::from).collect()
    } else {
        let mut f: Vec<String> = module.split('/').map(String::from).collect();
        f.pop();
        f
    };
    // Child modules this file declares (`mod x;`), reachable by bare paths.
    let children: BTreeSet<String> = code
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l
                .strip_prefix("pub(crate) ")
                .or_else(|| l.strip_prefix("pub "))
                .unwrap_or(l);
            let name = l.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_string())
        })
        .collect();
    let mut refs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut add = |base: Vec<String>, tail: &str| {
        for path in expand(tail) {
            let full: Vec<String> = base.iter().cloned().chain(path).collect();
            // A path from the crate root that names no file: one of the
            // root's re-exports, if it is one.
            let found = resolve(&full, known).or_else(|| {
                let name = full.first()?;
                let m = reexports.get(name)?;
                Some((m.clone(), full.join("::")))
            });
            if let Some((m, item)) = found
                && m != module
                && m != "lib"
            {
                refs.entry(m).or_default().insert(item);
            }
        }
    };
    let bytes = code.as_bytes();
    for (at, _) in code.match_indices("::") {
        // The segment before `::`, if it starts a path here.
        let start = code[..at]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |p| p + 1);
        if start > 0 && (bytes[start - 1] == b':' || bytes[start - 1] == b'$') {
            continue; // the middle of a longer path, or `$crate`
        }
        let head = &code[start..at];
        let tail = &code[at + 2..];
        match head {
            "crate" => add(Vec::new(), tail),
            "super" => {
                let mut base = folder.clone();
                let mut tail = tail;
                // `super::super::x`
                while let Some(t) = tail.strip_prefix("super::") {
                    base.pop();
                    tail = t;
                }
                if is_mod_rs {
                    base.pop();
                }
                add(base, tail)
            }
            "self" if is_mod_rs || module == "lib" => {
                let base = if module == "lib" {
                    Vec::new()
                } else {
                    module.split('/').map(String::from).collect()
                };
                add(base, tail)
            }
            child if children.contains(child) => {
                let base: Vec<String> = if module == "lib" {
                    Vec::new()
                } else {
                    module.split('/').map(String::from).collect()
                };
                add(base, &code[start..])
            }
            _ => {}
        }
    }
    refs
}

#[test]
fn every_file_imports_only_files_below_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut known = BTreeMap::new();
    files(&root, &root, &mut known);
    let rank: BTreeMap<&str, usize> = LAYERS.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    assert_eq!(rank.len(), LAYERS.len(), "a file is listed twice in LAYERS");
    let mut problems = Vec::new();
    for m in known.keys() {
        if !rank.contains_key(m.as_str()) {
            problems.push(format!(
                "src/{m}: not in the layer order (tests/layers.rs LAYERS)"
            ));
        }
    }
    for m in LAYERS {
        if !known.contains_key(*m) {
            problems.push(format!("{m}: listed in LAYERS but not in src/"));
        }
    }
    for (m, text) in &known {
        let Some(&mine) = rank.get(m.as_str()) else {
            continue;
        };
        for (dep, items) in references(m, text, &known) {
            let Some(&theirs) = rank.get(dep.as_str()) else {
                continue;
            };
            if theirs > mine {
                let items: Vec<_> = items
                    .iter()
                    .map(|i| if i.is_empty() { "(the module)" } else { i })
                    .collect();
                problems.push(format!(
                    "{m} uses {dep} ({}), which is above it",
                    items.join(", ")
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the layers are broken:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_checker_sees_every_kind_of_reference() {
    // A made-up crate: `a` (bottom), `b`, `c/mod.rs` with child `c/d`.
    let known: BTreeMap<String, String> = ["a", "b", "c", "c/d", "lib"]
        .iter()
        .map(|m| (m.to_string(), String::new()))
        .collect();
    let refs =
        |m: &str, text: &str| -> Vec<String> { references(m, text, &known).into_keys().collect() };
    assert_eq!(refs("b", "use crate::a::X;"), ["a"]);
    assert_eq!(refs("b", "use crate::{a::X, c::d::Y};"), ["a", "c/d"]);
    assert_eq!(refs("b", "fn f() { crate::c::g() }"), ["c"]);
    assert_eq!(refs("c/d", "use super::Z;"), ["c"]);
    assert_eq!(refs("c", "mod d;\npub use d::Y;"), ["c/d"]);
    assert_eq!(refs("c", "pub(crate) use self::d::Y;"), ["c/d"]);
    // Comments, strings and test modules do not count.
    assert!(refs("a", "// crate::b::X\n/// [`x`](crate::b)\nfn f() {}").is_empty());
    assert!(refs("a", "const S: &str = \"crate::b::X\";").is_empty());
    assert!(
        refs(
            "a",
            "fn f() {}\n#[cfg(test)]\nmod tests { use crate::b::X; }"
        )
        .is_empty()
    );
    // `$crate` in a macro names the crate root, not a layer.
    assert!(refs("a", "macro_rules! m { () => { $crate::b::X } }").is_empty());
}

/// A path through the crate root's re-exports counts as a reference to the
/// file the name comes from: `crate::EventLoop` in a low file is an arrow
/// up to the loop, which the check must see.
#[test]
fn a_path_through_the_roots_reexports_is_a_reference_to_its_file() {
    let known: BTreeMap<String, String> = [
        (
            "lib",
            "mod event_loop;\nmod task;\npub use event_loop::{EventLoop, run as go};\n",
        ),
        ("event_loop", "pub struct EventLoop;\npub fn run() {}\n"),
        ("task", "mod id;\n"),
        (
            "task/id",
            "fn f() { let _ = crate::EventLoop::current(); }\n",
        ),
    ]
    .into_iter()
    .map(|(m, t)| (m.to_string(), t.to_string()))
    .collect();
    let refs = references("task/id", &known["task/id"], &known);
    assert_eq!(
        refs.keys().collect::<Vec<_>>(),
        ["event_loop"],
        "crate::EventLoop resolves through lib.rs's pub use: {refs:?}"
    );
    assert_eq!(root_reexports(&known)["run"], "event_loop");
}

/// Folders that break the folder rule: each folder's files (its `mod.rs`
/// and its subfolders' files included) hold one run of consecutive layers,
/// so that reading the crate folder by folder is reading it bottom up.
fn folders_out_of_run(layers: &[&str]) -> Vec<String> {
    let mut folders: Vec<String> = vec![];
    for layer in layers {
        let parts: Vec<&str> = layer.split('/').collect();
        for n in 1..parts.len() {
            let folder = parts[..n].join("/");
            if !folders.contains(&folder) {
                folders.push(folder);
            }
        }
    }
    let mut broken = vec![];
    for folder in folders {
        let inside = |l: &&str| **l == folder || l.starts_with(&format!("{folder}/"));
        let first = layers.iter().position(&inside).unwrap();
        let last = layers.iter().rposition(&inside).unwrap();
        if let Some(stranger) = layers[first..=last].iter().find(|l| !inside(l)) {
            broken.push(format!(
                "{folder}/: {} and {} are split by {stranger}",
                layers[first], layers[last]
            ));
        }
    }
    broken
}

#[test]
fn every_folder_is_one_run_of_consecutive_layers() {
    let broken = folders_out_of_run(LAYERS);
    assert!(
        broken.is_empty(),
        "folders that are not one run of layers:\n  {}",
        broken.join("\n  ")
    );
    // The check itself: a folder split by another file is found.
    assert_eq!(
        folders_out_of_run(&["a/x", "b", "a/y", "a"]),
        ["a/: a/x and a are split by b"]
    );
    assert!(folders_out_of_run(&["a/x", "a", "b/y", "b", "c"]).is_empty());
    assert_eq!(
        folders_out_of_run(&["a/b/x", "a/y", "a/b", "a"]),
        ["a/b/: a/b/x and a/b are split by a/y"]
    );
}
