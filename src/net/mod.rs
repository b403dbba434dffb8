//! Sockets, pipes and subprocesses whose operations suspend the task instead
//! of blocking the thread (Python: `selector_events`, `asyncio.streams`,
//! `asyncio.create_subprocess_exec`).
//!
//! Every type here wraps a non-blocking `mio` source in [`Io`], the one idiom
//! all of them share (smol's `Async::read_with`): try the operation; on
//! `WouldBlock`, suspend the task until the reactor reports readiness; try
//! again. Nothing here ever blocks the thread, yet the methods look like
//! `std`'s — `read(&mut buf)`, `write_all(&buf)` — and the types implement
//! `std::io::Read` and `Write`. So `std::io::BufReader` gives asyncio's
//! `readline`, `readuntil` and `readexactly` (`read_line`, `read_until`,
//! `read_exact`) as they are, and sans-IO protocol crates plug straight in.
//!
//! # The readiness contract
//!
//! Sources are registered edge-triggered, for both directions, when created
//! (inside a running loop). The reactor keeps a readiness flag per direction;
//! an operation that returns `WouldBlock` clears it and waits for the next
//! edge, so a task never misses an event that arrived before it suspended,
//! and a spurious wake-up just means one more try. Each operation can be
//! bounded with [`timeout`](crate::timeout); a cancelled wait leaves no
//! waiter behind and loses no data (nothing is consumed until the operation
//! succeeds). Dropping a socket deregisters it.

mod pipe;
mod process;
mod registration;
mod resolve;
mod server;
mod signal;
mod source;
mod tcp;
mod udp;
mod unix;

pub use pipe::{PipeReader, PipeWriter, pipe};
pub use process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
pub use resolve::{
    HAPPY_EYEBALLS_DELAY, Resolver, SystemResolver, Target, ToTarget, lookup_host, set_resolver,
};
pub use server::{ReadHalf, Server, WriteHalf, open_connection, start_server, start_server_on};
pub use signal::Signals;
#[cfg(feature = "tls")]
pub(crate) use source::std_io;
pub use source::{Direction, Io};
pub use std::io::{BufRead, BufReader, Read, Write};
pub use tcp::{ReservedPort, TcpListener, TcpStream, reserve_port};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};
