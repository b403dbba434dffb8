//! `WaitQueue`: the FIFO of parked tasks every synchronisation object is
//! built on.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use crate::task::suspend::{self, Suspend, Wake, WakeToken};

/// One parked task.
pub(crate) struct Node {
    /// The parked task and the number of its wait.
    token: WakeToken,
    /// Set when a release handed this waiter what it waited for.
    granted: Cell<bool>,
}

impl Node {
    fn live(&self) -> bool {
        self.token.is_waiting()
    }
}

/// A FIFO of parked tasks.
#[derive(Default)]
pub(crate) struct WaitQueue {
    /// The parked tasks, in the order they came.
    nodes: RefCell<VecDeque<Rc<Node>>>,
}

/// How a wait ended.
pub(crate) struct Waited {
    /// Whether the waiter was handed what it waited for.
    pub(crate) granted: bool,
    /// How the task was resumed.
    pub(crate) wake: Wake,
}

impl WaitQueue {
    /// Whether a task still waits here (drops cancelled ones at the front).
    pub(crate) fn has_waiters(&self) -> bool {
        let mut nodes = self.nodes.borrow_mut();
        while nodes.front().is_some_and(|n| !n.live()) {
            nodes.pop_front();
        }
        !nodes.is_empty()
    }

    /// Parks the running task at the back of the queue until woken.
    #[track_caller]
    pub(crate) fn wait(&self, what: &'static str) -> Waited {
        let node = Rc::new(Node {
            token: WakeToken::current(what),
            granted: Cell::new(false),
        });
        self.nodes.borrow_mut().push_back(node.clone());
        let wake = suspend::suspend(Suspend::Sync(what));
        if !node.granted.get() {
            self.nodes.borrow_mut().retain(|n| !Rc::ptr_eq(n, &node));
        }
        Waited {
            granted: node.granted.get(),
            wake,
        }
    }

    /// Hands a wake-up to the oldest live waiter; false if there is none.
    pub(crate) fn wake_one(&self) -> bool {
        loop {
            let node = self.nodes.borrow_mut().pop_front();
            let Some(node) = node else { return false };
            if node.live() {
                node.granted.set(true);
                node.token.wake_by_ref();
                return true;
            }
        }
    }

    /// Parks until a release hands this waiter the resource (a lock, a
    /// permit). Cancelled after the handover, it passes the resource on with
    /// `release` before raising, so nothing is lost.
    #[track_caller]
    pub(crate) fn wait_for_handoff(&self, what: &'static str, release: impl Fn()) {
        loop {
            let waited = self.wait(what);
            match (waited.granted, waited.wake) {
                (true, Wake::Run) => return,
                (true, Wake::Cancel) => {
                    release();
                    suspend::raise_cancelled();
                }
                (false, Wake::Cancel) => suspend::raise_cancelled(),
                (false, Wake::Run) => {}
            }
        }
    }

    /// Wakes every live waiter; returns how many.
    pub(crate) fn wake_all(&self) -> usize {
        let mut n = 0;
        while self.wake_one() {
            n += 1;
        }
        n
    }
}
