//! Waiting for many things at once: `gather`, `wait`, `as_completed`,
//! `select`, and task groups (Python: `asyncio.gather`, `asyncio.wait`,
//! `asyncio.as_completed`, `asyncio.TaskGroup`).
//!
//! All of them rest on `Completions`: every watched task reports its index
//! there when it is done, and the waiting task wakes to read the indices in
//! completion order. Each completion costs one wake-up, so waiting for n
//! tasks is O(n), not O(n²).

mod gather;
mod task_group;
mod wait;

pub use self::gather::{Gather, Gatherable, Join, Outcomes, gather, join, outcomes};
pub use self::task_group::{TaskGroup, task_group};
pub use self::wait::{AsCompleted, ReturnWhen, as_completed, select, wait};
