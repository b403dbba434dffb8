//! Every `YIELDFROM_*` environment variable, read in this one place.
//!
//! | variable | what it sets | read by |
//! |---|---|---|
//! | `YIELDFROM_TRACE` | `timeline`, `chrome`, `svg`, `html`, `explore` or `log`: every loop records a trace and prints it (or writes it) when it closes | [`crate::trace`] |
//! | `YIELDFROM_TRACE_FILE` | where `YIELDFROM_TRACE=chrome`, `svg`, `html` or `explore` writes (default `yieldfrom-trace.json`, `.svg`, `.html`, `yieldfrom-explore.html`) | [`crate::trace`] |
//! | `YIELDFROM_STEP` | `1`: the stepper pauses after every scheduling step | [`crate::debug`] |
//! | `YIELDFROM_VIRTUAL_CLOCK` | `1`: new loops use the virtual clock | [`crate::Builder`] |
//! | `YIELDFROM_STACK_SIZE` | bytes of a coroutine stack, the starting default of every thread | [`crate::stack`] |
//! | `YIELDFROM_STACK_MODE` | `auto`, `dedicated` or `shared`: the default [`StackMode`](crate::stack::StackMode) of new loops | [`crate::Builder`] |
//!
//! (And `COLUMNS`, the terminal's width, for timelines.) A value that means
//! nothing is reported once, as a warning, and ignored.

/// What `YIELDFROM_TRACE` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TraceOutput {
    /// The tutorial's timeline, on stderr.
    Timeline,
    /// Chrome trace-event JSON, to `YIELDFROM_TRACE_FILE`.
    Chrome,
    /// A picture of the timeline (SVG), to `YIELDFROM_TRACE_FILE`.
    Svg,
    /// The same picture in an HTML page.
    Html,
    /// One line per event, on stderr.
    Log,
    /// The explorer: an HTML page to step through, to `YIELDFROM_TRACE_FILE`.
    Explore,
}

/// `YIELDFROM_TRACE`, parsed.
pub(crate) fn trace() -> Option<TraceOutput> {
    let raw = std::env::var("YIELDFROM_TRACE").ok()?;
    match raw.as_str() {
        "timeline" => Some(TraceOutput::Timeline),
        "chrome" => Some(TraceOutput::Chrome),
        "svg" => Some(TraceOutput::Svg),
        "html" => Some(TraceOutput::Html),
        "log" => Some(TraceOutput::Log),
        "explore" => Some(TraceOutput::Explore),
        _ => {
            warn_once(format!(
                "yieldfrom: YIELDFROM_TRACE={raw:?} is not timeline, chrome, svg, html, explore or log; no trace"
            ));
            None
        }
    }
}

/// `YIELDFROM_TRACE_FILE`, or the default file name for `output`.
pub(crate) fn trace_file(output: TraceOutput) -> String {
    std::env::var("YIELDFROM_TRACE_FILE").unwrap_or_else(|_| match output {
        TraceOutput::Svg => "yieldfrom-trace.svg".into(),
        TraceOutput::Html => "yieldfrom-trace.html".into(),
        TraceOutput::Explore => "yieldfrom-explore.html".into(),
        _ => "yieldfrom-trace.json".into(),
    })
}

/// The terminal's width (`COLUMNS`, as shells set it), for timelines; 80 without it.
pub(crate) fn columns() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(80)
}

/// Whether `YIELDFROM_STEP=1`.
pub(crate) fn step() -> bool {
    flag("YIELDFROM_STEP")
}

/// Whether `YIELDFROM_VIRTUAL_CLOCK=1`.
pub(crate) fn virtual_clock() -> bool {
    flag("YIELDFROM_VIRTUAL_CLOCK")
}

/// Whether `name` is `1` (`0` or unset: no; anything else is reported).
fn flag(name: &str) -> bool {
    match std::env::var(name).ok().as_deref() {
        None | Some("0") | Some("") => false,
        Some("1") => true,
        Some(other) => {
            warn_once(format!(
                "yieldfrom: {name}={other:?} is not 0 or 1; taken as 0"
            ));
            false
        }
    }
}

/// Reports `message` once per process (a loop is often built many times).
fn warn_once(message: String) {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if seen
        .get_or_insert_with(HashSet::new)
        .insert(message.clone())
    {
        crate::warnings::warn(message);
    }
}

/// `YIELDFROM_STACK_SIZE`, parsed; a value that is not a size in bytes up to
/// `max` is reported once and ignored (the stack pool then uses `default`).
pub(crate) fn stack_size(max: usize, default: usize) -> Option<usize> {
    let raw = std::env::var("YIELDFROM_STACK_SIZE").ok()?;
    match raw.trim().parse::<usize>() {
        Ok(bytes) if bytes <= max => Some(bytes),
        _ => {
            warn_once(format!(
                "yieldfrom: YIELDFROM_STACK_SIZE={raw:?} is not a stack size in bytes of at \
                 most {max}; using the default of {default} bytes"
            ));
            None
        }
    }
}

/// `YIELDFROM_STACK_MODE`, parsed into the mode named `auto`, `dedicated` or
/// `shared` (given in that order); an unknown value is reported once and
/// ignored.
pub(crate) fn stack_mode<M: Copy>([auto, dedicated, shared]: [M; 3]) -> Option<M> {
    let raw = std::env::var("YIELDFROM_STACK_MODE").ok()?;
    match raw.trim() {
        "auto" => Some(auto),
        "dedicated" => Some(dedicated),
        "shared" => Some(shared),
        _ => {
            warn_once(format!(
                "yieldfrom: YIELDFROM_STACK_MODE={raw:?} is not auto, dedicated or shared; \
                 using auto"
            ));
            None
        }
    }
}
