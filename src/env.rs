//! Every `YIELDFROM_*` environment variable, read in this one place.
//!
//! | variable | what it sets | read by |
//! |---|---|---|
//! | `YIELDFROM_STACK_SIZE` | bytes of a coroutine stack, the starting default of every thread | [`crate::stack`] |
//! | `YIELDFROM_STACK_MODE` | `auto`, `dedicated` or `shared`: the default [`StackMode`](crate::stack::StackMode) of new loops | [`crate::Builder`] |

/// `YIELDFROM_STACK_SIZE`, parsed; a value that is not a size in bytes up to
/// [`MAX_STACK_SIZE`](crate::stack::MAX_STACK_SIZE) is reported once and ignored.
pub(crate) fn stack_size() -> Option<usize> {
    let raw = std::env::var("YIELDFROM_STACK_SIZE").ok()?;
    match raw.trim().parse::<usize>() {
        Ok(bytes) if bytes <= crate::stack::MAX_STACK_SIZE => Some(bytes),
        _ => {
            crate::warnings::warn(format!(
                "yieldfrom: YIELDFROM_STACK_SIZE={raw:?} is not a stack size in bytes of at \
                 most {} (1 GiB); using the default of {} bytes",
                crate::stack::MAX_STACK_SIZE,
                crate::stack::DEFAULT_STACK_SIZE
            ));
            None
        }
    }
}

/// `YIELDFROM_STACK_MODE`, parsed; an unknown value is reported once and
/// ignored.
pub(crate) fn stack_mode() -> Option<crate::stack::StackMode> {
    use crate::stack::StackMode;
    let raw = std::env::var("YIELDFROM_STACK_MODE").ok()?;
    match raw.trim() {
        "auto" => Some(StackMode::Auto),
        "dedicated" => Some(StackMode::Dedicated),
        "shared" => Some(StackMode::Shared),
        _ => {
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| {
                crate::warnings::warn(format!(
                    "yieldfrom: YIELDFROM_STACK_MODE={raw:?} is not auto, dedicated or shared; \
                     using auto"
                ))
            });
            None
        }
    }
}
