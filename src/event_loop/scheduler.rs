//! The scheduler: one iteration of the loop ([`Core::run_once`]) and the
//! two things it runs, a task's step and a callback.
//!
//! ```text
//!  ┌─ 1. poll I/O ───────────────────────────────────────────────────────┐
//!  │ timeout = 0 if something is ready, else until the nearest timer,      │
//!  │ else forever. While tasks stay ready the poll is skipped for up to    │
//!  │ `event_interval` task steps (a zero-timeout poll is a system call),   │
//!  │ never longer, so a busy loop cannot starve I/O. Virtual clock with    │
//!  │ nothing to poll: jump the clock to the nearest deadline instead.      │
//!  ├─ 2. expire timers ───────────────────────────────────────────────────┤
//!  │ every timer due by now goes to the back of the ready queue, in        │
//!  │ deadline order (ties in scheduling order)                              │
//!  ├─ 3. run ready ───────────────────────────────────────────────────────┤
//!  │ run the entries that were ready when this phase began, in FIFO order: │
//!  │ task steps and callbacks; what they schedule runs next iteration      │
//!  └──────────────────────────────────────────────────────────────────────┘
//! ```

use std::io;
use std::time::{Duration, Instant};

use super::ready::{Entry, Ready};
use super::state::Core;
use super::workers::WAKER;
use crate::event_loop::timer::{Due, Pending};
use crate::names::CallbackName;
use crate::reason::Trap;
use crate::task::deadline::Reached;
use crate::task::state::Parked;
use crate::task::suspend::{Suspend, Wake};
use crate::task::{TaskCore, TaskRef};
use crate::trace::{StepEnd, WokenBy};
use crate::warnings::{Report, ReportKind, report};

impl Core {
    /// Runs one step of `task`, then files it where its suspension says.
    pub(super) fn run_task(&self, task: TaskRef) {
        let Some(wake) = task.state.begin_step() else {
            return; // finished meanwhile (a stale entry)
        };
        if self.instrumented.get() {
            let info = task.info();
            self.instrument(|i, at| i.before_step(at, info));
        }
        let steps = self.steps.get() + 1;
        self.steps.set(steps);
        self.watch.enter_step(steps);
        let paused = task.step(wake, self.config.stack_size, self.config.stack_mode);
        let hook = self.instrumented.get().then(|| (task.clone(), paused));
        if let Some(took) = self.watch.leave_step(steps)
            && !task.mark(crate::task::raw::WARNED_BLOCKING, true)
        {
            report(
                Report::new(
                    ReportKind::BlockedLoop,
                    format!(
                        "yieldfrom: task '{}' blocked the event loop for {:.2} s — a blocking \
                         call (std::thread::sleep, a CPU-bound loop) belongs in sleep() or \
                         to_thread()",
                        task.name,
                        took.as_secs_f64()
                    ),
                )
                .source(task.name),
            );
        }
        let Some(trap) = paused else {
            task.state.finish();
            self.tasks.borrow_mut().remove(&task);
            if let Some((task, paused)) = hook {
                self.after_step_hook(&task, paused);
            }
            return;
        };
        // A task made ready again at once (it yielded, or was woken or
        // cancelled during its own step) is filed quietly, and the
        // instruments hear why after they hear of the pause.
        let mut again: Option<(Wake, Option<Suspend>, Option<WokenBy>)> = None;
        match task.state.park() {
            Parked::Again(how, waited_on) => {
                again = Some((how, waited_on, None));
                self.enqueue(task, how);
            }
            Parked::TimedOut(waited_on) => {
                again = Some((Wake::Cancel, waited_on, Some(WokenBy::Timeout)));
                self.enqueue(task, Wake::Cancel);
            }
            Parked::Waits(_) if trap == Trap::YIELD_NOW => {
                again = Some((Wake::Run, Some(Suspend::YieldNow), None));
                self.enqueue(task, Wake::Run);
            }
            Parked::Waits(seq) => {
                if let Some(until) = trap.deadline() {
                    self.push_timer(until, Due::Wake(task, seq));
                }
            }
        }
        if let Some((task, paused)) = hook {
            // After the task is filed, so the snapshot shows it waiting.
            self.after_step_hook(&task, paused);
            match again {
                Some((how, waited_on, Some(by))) => self.note_wake_by(&task, how, waited_on, by),
                Some((how, waited_on, None)) => self.note_wake(&task, how, waited_on),
                None => {}
            }
        }
    }

    /// A closing loop gives up on a task that will not finish: reported
    /// (asyncio's "Task was destroyed but it is pending!"), ended cancelled,
    /// its stack leaked.
    #[cold]
    pub(super) fn give_up(&self, task: &TaskRef, why: &str) {
        self.tasks.borrow_mut().remove(task);
        report(
            Report::new(
                ReportKind::TaskDestroyed,
                format!(
                    "yieldfrom: task '{}' was destroyed but it is pending: the loop closed and \
                     {why}; its stack is leaked",
                    task.name
                ),
            )
            .source(task.name),
        );
        task.leak();
    }

    /// Runs a callback as asyncio's `Handle._run` does: a panic is reported
    /// ("Exception in callback ...") and the loop goes on; a callback that
    /// blocks is reported as a blocking task is.
    pub(super) fn run_callback(&self, f: Box<dyn FnOnce()>, name: CallbackName) {
        let steps = self.steps.get() + 1;
        self.steps.set(steps);
        self.watch.enter_step(steps);
        self.calling.set(Some(name.what));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        self.calling.set(None);
        let took = self.watch.leave_step(steps);
        match result {
            Err(payload) => name.report_panic(payload.as_ref(), " (the loop goes on)"),
            Ok(()) => {
                if let Some(took) = took {
                    report(
                        Report::new(
                            ReportKind::BlockedLoop,
                            format!(
                                "yieldfrom: callback {name} blocked the event loop for {:.2} s \
                                 — a blocking call (std::thread::sleep, a CPU-bound loop) \
                                 belongs in to_thread()",
                                took.as_secs_f64()
                            ),
                        )
                        .source(name.function()),
                    );
                }
            }
        }
    }

    #[cold]
    pub(super) fn after_step_hook(&self, task: &TaskCore, paused: Option<Trap>) {
        let end = match paused {
            Some(Trap::YIELD_NOW) => StepEnd::Suspended(Suspend::YieldNow),
            Some(_) => StepEnd::Suspended(
                task.state
                    .waiting_on()
                    .expect("a task that parks says on what"),
            ),
            None => StepEnd::Done(task.end_note()),
        };
        let info = task.info();
        self.instrument(|i, at| i.after_step(at, info, &end));
        self.show_snapshot();
    }

    /// Shows the loop's queues to the instruments that want them (a
    /// stepper), after a task's step or a callback.
    fn show_snapshot(&self) {
        let wants = self.instruments.borrow().iter().any(|i| i.wants_snapshot());
        if wants {
            let snap = self.snapshot();
            // The time spent waiting for a key is not the program's: the
            // clock is held meanwhile, so sleeps and totals read true.
            let waited = Instant::now();
            self.instrument(|i, _| i.show(&snap));
            self.clock.hold(waited.elapsed());
        }
    }

    /// Phase 1: polls for I/O and thread completions, or sleeps or jumps the clock.
    pub(super) fn poll_io(&self, timeout: Option<Duration>) {
        self.steps_since_poll.set(0);
        if timeout != Some(Duration::ZERO) {
            self.instrument(|i, at| i.idle(at, timeout));
        }
        let can_fire = self.io_sources.get() > 0 || self.threads.pending() > 0;
        if !can_fire {
            match timeout {
                Some(t) if t.is_zero() => {}
                Some(t) if self.clock.is_virtual() => self.clock.advance(t),
                Some(t) => std::thread::sleep(t),
                None => {}
            }
            return;
        }
        if timeout != Some(Duration::ZERO) {
            self.instrument(|i, at| i.waiting_for_io(at, timeout));
        }
        let mut events = self.events.borrow_mut();
        let started = Instant::now();
        loop {
            match self.poll.borrow_mut().poll(&mut events, timeout) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => panic!("yieldfrom: polling for I/O failed: {e}"),
            }
        }
        if self.clock.is_virtual() {
            // While real I/O is awaited, virtual time passes as real time does;
            // a poll that timed out has reached the deadline it waited for.
            let waited = match timeout {
                Some(t) if events.is_empty() => t,
                _ => started.elapsed(),
            };
            self.clock.advance(waited);
        }
        for event in events.iter() {
            if event.token() == WAKER {
                self.threads.deliver();
            } else {
                if self.instrumented.get() {
                    let token = event.token().0 & 0xFFFF_FFFF;
                    self.instrument(|i, at| i.io_ready(at, token));
                }
                // Every waiter of this loop's reactor is a task of this
                // loop (a socket refuses waiters of other loops).
                self.reactor.dispatch(event, |token| {
                    token.wake_on(|task, how| self.schedule(task, how))
                });
            }
        }
    }

    pub(super) fn run_once(&self) {
        let n = self.ready.borrow().len();
        let has_ready = n > 0;
        let has_timers = self.timers.borrow().len() > 0;
        // The clock is read only when a timer needs it (a read costs ~20 ns).
        let timeout = if has_ready || self.stopping.get() {
            Some(Duration::ZERO)
        } else if has_timers {
            let next = self.timers.borrow_mut().next_deadline();
            next.map(|d| d.saturating_duration_since(self.clock.now()))
        } else {
            None
        };
        if !has_ready || self.steps_since_poll.get() >= self.config.event_interval {
            self.poll_io(timeout);
        }
        // Phase 2: due timers join the ready queue in deadline order.
        if has_timers {
            let now = self.clock.now();
            loop {
                let due = self.timers.borrow_mut().pop_due(now);
                let Some((_, due)) = due else { break };
                // (A task's entry is dead once the task's wait has ended.)
                let live = due.live();
                match due {
                    Due::Wake(task, seq) if live => {
                        let how = match task.state.deadline_reached(now) {
                            Reached::Own => Wake::Run,
                            Reached::Scope => Wake::Cancel,
                            Reached::Early(next) => {
                                // A timeout's deadline moved later: the
                                // wait goes on, until the new instant.
                                if let Some(next) = next {
                                    self.push_timer(next, Due::Wake(task, seq));
                                }
                                continue;
                            }
                        };
                        if self.instrumented.get() {
                            // A sleep ended; any other wait ran out of time.
                            let waited_on = task.state.waiting_on();
                            let by = match waited_on {
                                Some(Suspend::Sleep { .. }) if how == Wake::Run => WokenBy::Loop,
                                _ => WokenBy::Timeout,
                            };
                            self.note_wake_by(&task, how, waited_on, by);
                        }
                        self.enqueue(task, how);
                    }
                    Due::Wake(..) => {}
                    Due::Call(cb) => self.ready.borrow_mut().push_back(Ready::call(cb)),
                }
            }
        }
        // Phase 3: run what is ready now, but poll again after `event_interval`
        // steps if anything could be polled (the rest stays at the front).
        let n = self.ready.borrow().len().max(n);
        if self.config.seed.is_some() {
            self.shuffle_ready(n);
        }
        let pollable = self.io_sources.get() > 0 || self.threads.pending() > 0;
        for _ in 0..n {
            if pollable && self.steps_since_poll.get() >= self.config.event_interval {
                break;
            }
            let entry = {
                let mut ready = self.ready.borrow_mut();
                let entry = ready.pop_front().map(Ready::into_entry);
                // While this one runs, bring the next task's stack in, and
                // the record of the one after it (which says where its stack is).
                if let Some(next) = ready.front() {
                    next.prefetch();
                }
                if let Some(after) = ready.get(1) {
                    after.prefetch_record();
                }
                entry
            };
            match entry {
                Some(Entry::Step(task)) => {
                    self.steps_since_poll.set(self.steps_since_poll.get() + 1);
                    self.run_task(task);
                }
                Some(Entry::Call(cb)) => {
                    let f = cb.f.borrow_mut().take();
                    if let Some(f) = f {
                        self.instrument(|i, at| i.callback(at, cb.name.what));
                        self.run_callback(f, cb.name);
                        if self.instrumented.get() {
                            self.instrument(|i, at| i.after_callback(at));
                            self.show_snapshot();
                        }
                    }
                }
                None => break,
            }
        }
    }

    /// Deterministic mode: a seeded Fisher-Yates shuffle of the first `n` ready entries.
    pub(super) fn shuffle_ready(&self, n: usize) {
        let mut ready = self.ready.borrow_mut();
        let len = n.min(ready.len());
        let slice = &mut ready.make_contiguous()[..len];
        for i in (1..slice.len()).rev() {
            let mut x = self.rng.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.rng.set(x);
            slice.swap(i, (x % (i as u64 + 1)) as usize);
        }
    }

    pub(super) fn is_idle(&self) -> bool {
        self.ready.borrow().is_empty()
            && self.timers.borrow_mut().next_deadline().is_none()
            && self.io_sources.get() == 0
            && self.threads.pending() == 0
    }
}
