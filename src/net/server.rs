use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::Duration;

use super::tcp::{TcpListener, TcpStream};
use crate::combinators::{ReturnWhen, wait};
use crate::coro::Coro;
use crate::event_loop::spawn;
use crate::task::{Task, TaskId};

struct ServerState {
    /// The live connection handlers, by task id (cancelled at shutdown).
    connections: RefCell<HashMap<TaskId, Task<()>>>,
    /// Connections accepted so far.
    accepted: Cell<u64>,
}

/// A running TCP server (Python: the `Server` of `asyncio.start_server`).
pub struct Server {
    /// The address it listens on (the port the system chose, for port 0).
    addr: SocketAddr,
    /// The task accepting connections (until shutdown).
    accept_task: RefCell<Option<Task<()>>>,
    /// What the accepting task and its handlers share.
    state: Rc<ServerState>,
}

/// Listens on `addr` and runs `handler(stream)` as a task for every
/// connection (Python: `asyncio.start_server(client_connected_cb, host, port)`).
///
/// Returns at once; the accepting runs in a task of its own. A handler that
/// panics is reported (task exception never retrieved) and the server goes on.
///
/// ```
/// use yieldfrom::{run, Coro, net::{start_server, open_connection, BufRead}};
/// use std::io::Write;
/// let reply = run(Coro::new("main", || {
///     let server = start_server("127.0.0.1:0", |stream| Coro::new("echo", move || {
///         let mut buf = [0; 64];
///         let n = stream.read(&mut buf).unwrap();
///         stream.write_all(&buf[..n]).unwrap();
///     })).unwrap();
///     let (mut reader, mut writer) = open_connection(server.local_addr()).unwrap();
///     writer.write_all(b"hello\n").unwrap();
///     let mut line = String::new();
///     reader.read_line(&mut line).unwrap();
///     server.close();
///     line
/// }));
/// assert_eq!(reply, "hello\n");
/// ```
pub fn start_server<F>(addr: impl ToSocketAddrs, handler: F) -> io::Result<Server>
where
    F: Fn(TcpStream) -> Coro<()> + 'static,
{
    start_server_on(TcpListener::bind(addr)?, handler)
}

/// As [`start_server`], on a listener bound already (one bound with
/// [`TcpListener::bind_reuseport`], for a loop per core).
pub fn start_server_on<F>(listener: TcpListener, handler: F) -> io::Result<Server>
where
    F: Fn(TcpStream) -> Coro<()> + 'static,
{
    let local = listener.local_addr()?;
    let state = Rc::new(ServerState {
        connections: RefCell::default(),
        accepted: Cell::new(0),
    });
    let st = state.clone();
    const ACCEPT_BURST: u64 = 100;
    let accept_task = spawn(Coro::new("accept", move || {
        loop {
            // A burst of waiting connections never blocks: without a pause,
            // 10,000 of them would be accepted in one step while the ones
            // already accepted wait (asyncio takes at most `backlog`, 100,
            // per loop iteration too).
            if st.accepted.get() % ACCEPT_BURST == ACCEPT_BURST - 1 {
                crate::time::yield_now();
            }
            match listener.accept() {
                Ok((stream, _peer)) => {
                    st.accepted.set(st.accepted.get() + 1);
                    let task = spawn(handler(stream));
                    let (id, st2) = (task.id(), st.clone());
                    task.add_done_callback(move || {
                        let done = st2.connections.borrow_mut().remove(&id);
                        if let Some(done) = done {
                            // Report a handler's panic; the server goes on.
                            if let Some(message) = done.exception() {
                                use crate::warnings::{Report, ReportKind, report};
                                report(
                                    Report::new(
                                        ReportKind::HandlerPanicked,
                                        format!(
                                            "yieldfrom: connection handler '{}' panicked: {message}",
                                            done.name()
                                        ),
                                    )
                                    .source(done.name())
                                    .exception(message.to_string()),
                                );
                            }
                        }
                    });
                    st.connections.borrow_mut().insert(id, task);
                }
                // The peer gave up before we accepted: not the server's problem.
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
                Err(e) => {
                    crate::warnings::warn(format!("yieldfrom: accept() failed: {e}"));
                    crate::time::sleep(Duration::from_millis(100));
                }
            }
        }
    }));
    Ok(Server {
        addr: local,
        accept_task: RefCell::new(Some(accept_task)),
        state,
    })
}

impl Server {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections being served now.
    pub fn connections(&self) -> usize {
        self.state.connections.borrow().len()
    }

    /// Connections accepted since the start.
    pub fn accepted(&self) -> u64 {
        self.state.accepted.get()
    }

    /// Stops accepting: the listening socket is closed; live connections go on
    /// (Python: `server.close()`).
    pub fn close(&self) {
        if let Some(task) = self.accept_task.borrow_mut().take() {
            task.cancel();
        }
    }

    /// Waits for the live connections to finish; after `grace` (if given),
    /// cancels those still running and waits for them to unwind. Returns how
    /// many were cancelled (Python: `await server.wait_closed()`, with a
    /// deadline).
    pub fn wait_closed(&self, grace: Option<Duration>) -> usize {
        self.close();
        let live: Vec<Task<()>> = self
            .state
            .connections
            .borrow_mut()
            .drain()
            .map(|(_, t)| t)
            .collect();
        let (_, pending) = wait(live, ReturnWhen::AllCompleted, grace);
        let cancelled = pending.len();
        for task in &pending {
            task.cancel();
        }
        wait(pending, ReturnWhen::AllCompleted, None);
        cancelled
    }
}

/// The reading half of a connection from [`open_connection`].
pub struct ReadHalf(Rc<TcpStream>);

/// The writing half of a connection from [`open_connection`].
pub struct WriteHalf(Rc<TcpStream>);

impl Read for ReadHalf {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for WriteHalf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl WriteHalf {
    /// Half-closes the connection: the peer reads end of stream (Python: `write_eof`).
    pub fn write_eof(&self) -> io::Result<()> {
        self.0.shutdown(Shutdown::Write)
    }

    /// The underlying stream.
    pub fn stream(&self) -> &TcpStream {
        &self.0
    }
}

/// Connects to `addr` and returns a buffered reader and a writer (Python:
/// `reader, writer = await asyncio.open_connection(host, port)`).
///
/// The reader is `std::io::BufReader`, so `read_line`, `read_until` and
/// `read_exact` are asyncio's `readline`, `readuntil` and `readexactly`.
pub fn open_connection(
    addr: impl super::resolve::ToTarget,
) -> io::Result<(BufReader<ReadHalf>, WriteHalf)> {
    let stream = Rc::new(TcpStream::connect(addr)?);
    Ok((BufReader::new(ReadHalf(stream.clone())), WriteHalf(stream)))
}

opaque_debug!(Server, ReadHalf, WriteHalf);
