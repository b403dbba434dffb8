//! I/O on the loop: loopback only, every loop bounded in count and time.
//!
//! Cases that need a second process (10,000 clients; a server starved of file
//! descriptors; writes with SIGPIPE at its default) re-run this test binary
//! as a child with `--exact <helper> --ignored`; the helpers are ignored in a
//! normal run.

mod common;

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::process::Stdio;
use std::rc::Rc;
use std::time::Duration;

use yieldfrom::net::{
    Command, TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream, open_connection,
    start_server,
};
use yieldfrom::{
    Coro, Elapsed, EventLoop, Outcome, Task, run, sleep, spawn, timeout, yield_from, yield_now,
};

fn coro<T: 'static>(name: &'static str, f: impl FnOnce() -> T + 'static) -> Coro<T> {
    Coro::new(name, f)
}

/// The arguments that re-run this test binary as a child running only the
/// ignored helper test `name`, its output not captured.
fn helper_args(name: &str) -> [&str; 4] {
    ["--exact", name, "--ignored", "--nocapture"]
}

/// An echo handler: echoes bytes until the peer closes.
fn echo(stream: TcpStream) -> Coro<()> {
    coro("echo", move || {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    })
}

#[test]
fn echo_with_many_concurrent_clients_and_split_messages() {
    let results = run(coro("main", || {
        let server = start_server("127.0.0.1:0", echo).unwrap();
        let addr = server.local_addr();
        let clients: Vec<_> = (0..200)
            .map(|i| {
                spawn(coro("client", move || {
                    let stream = TcpStream::connect(addr).unwrap();
                    stream.set_nodelay(true).unwrap();
                    let message = format!("client {i} says hello in several pieces\n");
                    // Written in 3-byte pieces, with pauses: the server sees split reads.
                    for piece in message.as_bytes().chunks(3) {
                        stream.write_all(piece).unwrap();
                        yield_now();
                    }
                    let mut line = String::new();
                    BufReader::new(&stream).read_line(&mut line).unwrap();
                    line == message
                }))
            })
            .collect();
        let ok: Vec<bool> = clients.into_iter().map(yield_from).collect();
        assert_eq!(server.wait_closed(Some(Duration::from_secs(5))), 0);
        ok
    }));
    assert_eq!(results.len(), 200);
    assert!(results.iter().all(|ok| *ok));
}

#[test]
#[ignore = "helper: the client side of ten_thousand_connections_open_at_once"]
fn helper_many_clients() {
    let Ok(addr) = std::env::var("YF_ADDR") else {
        return;
    };
    common::raise_fd_limit(u64::MAX);
    let n: usize = std::env::var("YF_N").unwrap().parse().unwrap();
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        streams.push(s);
    }
    for (i, s) in streams.iter_mut().enumerate() {
        writeln!(s, "ping {i}").unwrap();
    }
    let mut answered = 0;
    for (i, s) in streams.iter_mut().enumerate() {
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).unwrap();
        answered += (line == format!("ping {i}\n")) as usize;
    }
    println!("answered {answered}");
}

#[test]
fn ten_thousand_connections_open_at_once() {
    common::raise_fd_limit(u64::MAX);
    const N: usize = 10_000;
    let (answered, peak, accepted) = run(coro("main", || {
        let live = Rc::new(Cell::new(0usize));
        let peak = Rc::new(Cell::new(0usize));
        let (l, p) = (live.clone(), peak.clone());
        let server = start_server("127.0.0.1:0", move |stream| {
            let (l, p) = (l.clone(), p.clone());
            l.set(l.get() + 1);
            p.set(p.get().max(l.get()));
            coro("echo-line", move || {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_ok() {
                    let _ = stream.write_all(line.as_bytes());
                }
                // Hold the connection until the client closes it.
                let _ = reader.read(&mut [0u8; 1]);
                l.set(l.get() - 1);
            })
        })
        .unwrap();
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new(exe)
            .args(helper_args("helper_many_clients"))
            .env("YF_ADDR", server.local_addr().to_string())
            .env("YF_N", N.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert!(child.wait().unwrap().success(), "{out}");
        let answered: usize = out
            .lines()
            .find_map(|l| l.strip_prefix("answered "))
            .expect("the client reports")
            .parse()
            .unwrap();
        server.wait_closed(Some(Duration::from_secs(10)));
        (answered, peak.get(), server.accepted())
    }));
    assert_eq!(answered, N, "every connection answered");
    assert_eq!(accepted, N as u64);
    assert_eq!(peak, N, "all connections were open at once on one loop");
}

/// What a reader parked on one socket got: its name and the byte it read
/// (`None`: its read failed or timed out).
type ReaderGot = (&'static str, Option<char>);

/// Parks one reader task per name on one end of a socket pair, lets `between`
/// act on their handles, then writes "a", lets the loop run, writes "b", and
/// returns what each reader still in the list got, in the list's order.
fn two_bytes_to_parked_readers(
    names: &'static [&'static str],
    between: impl FnOnce(&mut Vec<Task<Result<ReaderGot, Elapsed>>>) + 'static,
) -> Vec<ReaderGot> {
    run(coro("main", move || {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let ours = Rc::new(ours);
        let mut readers: Vec<_> = names
            .iter()
            .map(|&who| {
                let s = ours.clone();
                spawn(coro("reader", move || {
                    let mut b = [0u8; 1];
                    timeout(Duration::from_secs(5), || s.read(&mut b))
                        .map(|r| (who, r.map(|_| b[0] as char).ok()))
                }))
            })
            .collect();
        yield_now(); // every reader is parked now
        between(&mut readers);
        theirs.write_all(b"a").unwrap();
        yield_now();
        yield_now();
        theirs.write_all(b"b").unwrap();
        readers
            .into_iter()
            .map(|t| yield_from(t).expect("a reader was never woken"))
            .collect()
    }))
}

#[test]
fn two_tasks_waiting_to_read_one_socket_are_both_woken() {
    // The first waiter is kept inline, the second in the overflow list: an
    // event must wake both, in the order they came.
    let got = two_bytes_to_parked_readers(&["first", "second"], |_| {});
    assert_eq!(got, [("first", Some('a')), ("second", Some('b'))]);
}

#[test]
fn cancelling_the_first_of_three_waiters_keeps_the_others_in_order() {
    // The first waiter is inline, the other two overflow. Cancelling the
    // first must leave the other two waiting, in order: both later bytes
    // still reach their readers, and nothing waits for the cancelled task.
    let got = two_bytes_to_parked_readers(&["first", "second", "third"], |readers| {
        let first = readers.remove(0);
        first.cancel();
        assert!(matches!(first.join_outcome(), Outcome::Cancelled));
    });
    assert_eq!(got, [("second", Some('a')), ("third", Some('b'))]);
}

#[test]
fn a_burst_of_connections_does_not_hold_the_loop_in_accept() {
    // 250 connections wait in the backlog before the server's loop runs: the
    // accept task takes at most 100 (asyncio's backlog) before handlers run.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let (first_handler_saw, total) = run(coro("main", move || {
        // How many connections were accepted when the first handler ran.
        let first = Rc::new(Cell::new(None));
        let accepted = Rc::new(Cell::new(0u64));
        let (f, n) = (first.clone(), accepted.clone());
        let server = start_server(addr, move |_stream: TcpStream| {
            n.set(n.get() + 1);
            let (f, n) = (f.clone(), n.clone());
            coro("conn", move || {
                if f.get().is_none() {
                    f.set(Some(n.get()));
                }
            })
        })
        .unwrap();
        // Blocking connects from the loop's own thread: they complete in the
        // kernel's backlog while the server has not run yet.
        let clients: Vec<_> = (0..250)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        while server.accepted() < 250 {
            yield_now();
        }
        drop(clients);
        (first.get(), accepted.get())
    }));
    assert_eq!(total, 250);
    let at = first_handler_saw.expect("a handler ran");
    assert!(at <= 100, "the first handler ran only after {at} accepts");
}

#[test]
fn a_slow_client_does_not_delay_the_others() {
    let (fast_done, slow_waiting) = run(coro("main", || {
        let server = start_server("127.0.0.1:0", echo).unwrap();
        let addr = server.local_addr();
        // Connects and sends nothing.
        let silent = TcpStream::connect(addr).unwrap();
        let fast: Vec<_> = (0..20)
            .map(|i| {
                spawn(coro("fast", move || {
                    let s = TcpStream::connect(addr).unwrap();
                    s.write_all(format!("{i}\n").as_bytes()).unwrap();
                    let mut line = String::new();
                    BufReader::new(&s).read_line(&mut line).unwrap();
                    line == format!("{i}\n")
                }))
            })
            .collect();
        let done = fast.into_iter().map(yield_from).filter(|ok| *ok).count();
        let waiting = server.connections() >= 1;
        drop(silent);
        server.wait_closed(Some(Duration::from_secs(1)));
        (done, waiting)
    }));
    assert_eq!(fast_done, 20);
    assert!(
        slow_waiting,
        "the silent client's handler was still waiting"
    );
}

#[test]
#[ignore = "helper: the server side of accept_out_of_file_descriptors_backs_off"]
fn helper_fd_starved_server() {
    let Ok(limit) = std::env::var("YF_FD_LIMIT") else {
        return;
    };
    let total: u64 = std::env::var("YF_TOTAL").unwrap().parse().unwrap();
    let lim = libc::rlimit {
        rlim_cur: limit.parse().unwrap(),
        rlim_max: limit.parse().unwrap(),
    };
    // SAFETY: lowers this child's descriptor limit.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    run(coro("server", move || {
        let server = start_server("127.0.0.1:0", |stream| {
            coro("slow-echo", move || {
                let mut line = String::new();
                let _ = BufReader::new(&stream).read_line(&mut line);
                sleep(Duration::from_millis(200)); // hold the descriptor a while
                let _ = stream.write_all(line.as_bytes());
            })
        })
        .unwrap();
        println!("{}", server.local_addr());
        std::io::stdout().flush().unwrap();
        while server.accepted() < total || server.connections() > 0 {
            sleep(Duration::from_millis(20));
        }
    }));
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    println!(
        "cpu_ms {}",
        usage.ru_utime.tv_sec * 1000 + usage.ru_utime.tv_usec / 1000
    );
}

#[test]
fn accept_out_of_file_descriptors_backs_off() {
    const CLIENTS: usize = 100;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(helper_args("helper_fd_starved_server"))
        .env("YF_FD_LIMIT", "48")
        .env("YF_TOTAL", CLIENTS.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut addr = String::new();
    // The test harness prints its own lines first; the address is the first that parses.
    while addr.trim().parse::<std::net::SocketAddr>().is_err() {
        addr.clear();
        assert!(
            stdout.read_line(&mut addr).unwrap() > 0,
            "the server printed its address"
        );
    }
    let addr = addr.trim().to_string();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(&addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                writeln!(s, "client {i}").unwrap();
                let mut line = String::new();
                BufReader::new(&s).read_line(&mut line).unwrap();
                line == format!("client {i}\n")
            })
        })
        .collect();
    let answered = clients
        .into_iter()
        .filter_map(|c| c.join().ok())
        .filter(|ok| *ok)
        .count();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{stderr}");
    assert_eq!(
        answered, CLIENTS,
        "every client was served once descriptors freed up"
    );
    assert_eq!(
        stderr
            .matches("backing off and retrying every 100 ms")
            .count(),
        1,
        "warned once: {stderr}"
    );
    let cpu_ms: u64 = rest
        .lines()
        .find_map(|l| l.strip_prefix("cpu_ms "))
        .expect("the server reports its CPU time")
        .parse()
        .unwrap();
    assert!(
        cpu_ms < 1000,
        "no busy loop while out of descriptors: {cpu_ms} ms of CPU"
    );
}

#[test]
fn udp_send_and_receive() {
    run(coro("main", || {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b_addr = b.local_addr().unwrap();
        let receiver = spawn(coro("receiver", move || {
            let mut buf = [0u8; 64];
            let (n, from) = b.recv_from(&mut buf).unwrap();
            b.send_to(&buf[..n], from).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        }));
        a.connect(b_addr).unwrap();
        a.send(b"datagram").unwrap();
        let mut buf = [0u8; 64];
        let n = a.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"datagram");
        assert_eq!(yield_from(receiver), "datagram");
    }));
}

#[test]
fn unix_sockets() {
    let dir = std::env::temp_dir().join(format!("yieldfrom-unix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sock");
    let p = path.clone();
    let got = run(coro("main", move || {
        let listener = UnixListener::bind(&p).unwrap();
        let server = spawn(coro("server", move || {
            let (s, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&s).read_line(&mut line).unwrap();
            s.write_all(line.to_uppercase().as_bytes()).unwrap();
        }));
        let c = UnixStream::connect(&p).unwrap();
        c.write_all(b"over a unix socket\n").unwrap();
        let mut line = String::new();
        BufReader::new(&c).read_line(&mut line).unwrap();
        yield_from(server);
        let (x, y) = UnixStream::pair().unwrap();
        x.write_all(b"pair").unwrap();
        let mut buf = [0; 4];
        (&y).read_exact(&mut buf).unwrap();
        (line, buf)
    }));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(got, ("OVER A UNIX SOCKET\n".to_string(), *b"pair"));
}

#[test]
fn subprocess_output_and_exit_status() {
    let (out, err, code) = run(coro("main", || {
        let mut child = Command::new("sh")
            .args([
                "-c",
                "read name; echo \"hello $name\"; echo oops >&2; exit 7",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.as_ref().unwrap().write_all(b"world\n").unwrap();
        let (mut out, mut err) = (String::new(), String::new());
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        (&stdout).read_to_string(&mut out).unwrap();
        (&stderr).read_to_string(&mut err).unwrap();
        (out, err, child.wait().unwrap().code())
    }));
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        ("hello world\n", "oops\n", Some(7))
    );
}

#[test]
fn the_loop_runs_other_tasks_while_a_subprocess_runs() {
    let ticks = run(coro("main", || {
        let ticks = Rc::new(Cell::new(0));
        let t = ticks.clone();
        let ticker = spawn(coro("ticker", move || {
            loop {
                sleep(Duration::from_millis(10));
                t.set(t.get() + 1);
            }
        }));
        let mut child = Command::new("sleep").arg("0.3").spawn().unwrap();
        assert!(child.wait().unwrap().success());
        ticker.cancel();
        ticks.get()
    }));
    assert!(ticks >= 5, "the ticker ran while the child slept: {ticks}");
}

#[test]
fn cancelling_a_task_blocked_in_read_leaves_no_stale_waiter_and_loses_no_data() {
    let got = run(coro("main", || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = Rc::new(TcpStream::connect(listener.local_addr().unwrap()).unwrap());
        let (server_side, _) = listener.accept().unwrap();
        let c = client.clone();
        let blocked = spawn(coro("reader", move || {
            let mut buf = [0u8; 16];
            c.read(&mut buf)
        }));
        yield_now();
        blocked.cancel();
        assert!(matches!(blocked.join_outcome(), Outcome::Cancelled));
        server_side.write_all(b"still here").unwrap();
        let mut buf = [0u8; 10];
        (&*client).read_exact(&mut buf).unwrap();
        buf
    }));
    assert_eq!(&got, b"still here");
}

#[test]
fn half_close_is_end_of_stream_and_reset_is_an_error() {
    run(coro("main", || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server_side, _) = listener.accept().unwrap();
        client.write_all(b"last words").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        (&server_side).read_to_end(&mut got).unwrap();
        assert_eq!(got, b"last words", "a half-close reads as end of stream");
        server_side.write_all(b"reply after half-close").unwrap();
        let mut buf = [0u8; 22];
        (&client).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"reply after half-close");

        // A reset: SO_LINGER 0 then close sends RST; the peer's next read fails.
        let c2 = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (s2, _) = listener.accept().unwrap();
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt on our own open socket with a valid linger struct.
        let rc = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&c2),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                &linger as *const libc::linger as *const libc::c_void,
                std::mem::size_of::<libc::linger>() as u32,
            )
        };
        assert_eq!(rc, 0);
        drop(c2);
        sleep(Duration::from_millis(10));
        let err = s2.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    }));
}

#[test]
#[ignore = "helper: the child side of writing_to_a_closed_peer_is_an_error_not_a_sigpipe"]
fn helper_write_to_closed_peers_with_default_sigpipe() {
    if std::env::var_os("YF_SIGPIPE_CHILD").is_none() {
        return;
    }
    // SAFETY: restores the default action (die) for SIGPIPE in this child, as
    // a program that does not ignore it has; nothing else runs in it.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    run(coro("main", || {
        /// Writes until the kernel reports the closed peer; returns the error.
        fn until_refused(write: impl Fn(&[u8]) -> std::io::Result<usize>) -> std::io::Error {
            for _ in 0..1000 {
                if let Err(e) = write(b"anyone there?") {
                    return e;
                }
                sleep(Duration::from_millis(1));
            }
            panic!("1,000 writes to a closed peer all succeeded")
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        drop(listener.accept().unwrap());
        let tcp = until_refused(|b| client.write(b));
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let unix = until_refused(|buf| a.write(buf));
        println!("tcp {:?} unix {:?}", tcp.kind(), unix.kind());
    }));
}

#[test]
fn writing_to_a_closed_peer_is_an_error_not_a_sigpipe() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(helper_args(
            "helper_write_to_closed_peers_with_default_sigpipe",
        ))
        .env("YF_SIGPIPE_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the child survived its writes (status {:?}, stderr {})",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().find(|l| l.starts_with("tcp ")).unwrap();
    let kinds: Vec<&str> = line.split(' ').skip(1).step_by(2).collect();
    assert!(
        kinds
            .iter()
            .all(|k| ["BrokenPipe", "ConnectionReset"].contains(k)),
        "both writes failed as a closed peer: {line}"
    );
}

#[test]
fn operations_can_be_bounded_by_timeout() {
    let timed_out = EventLoop::new().run(coro("main", || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let r = timeout(Duration::from_millis(50), || client.read(&mut [0u8; 4]));
        r.is_err()
    }));
    assert!(
        timed_out,
        "the read (with no data coming) was cut short by the timeout"
    );
}

#[test]
fn open_connection_gives_asyncio_style_streams() {
    let got = run(coro("main", || {
        let server = start_server("127.0.0.1:0", echo).unwrap();
        let (mut reader, mut writer) = open_connection(server.local_addr()).unwrap();
        writer.write_all(b"one\ntwo\nthree!").unwrap();
        writer.write_eof().unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let mut until = Vec::new();
        reader.read_until(b'\n', &mut until).unwrap();
        let mut exact = [0u8; 6];
        reader.read_exact(&mut exact).unwrap();
        server.close();
        (line, String::from_utf8(until).unwrap(), exact)
    }));
    assert_eq!(got, ("one\n".into(), "two\n".into(), *b"three!"));
}

#[test]
fn graceful_stop_lets_connections_finish_or_cancels_them() {
    let (finished, cancelled) = run(coro("main", || {
        let server = start_server("127.0.0.1:0", |stream| {
            coro("slow", move || {
                let mut b = [0u8; 1];
                let _ = stream.read(&mut b);
                sleep(Duration::from_millis(50));
                let _ = stream.write_all(b"bye");
            })
        })
        .unwrap();
        let addr = server.local_addr();
        let a = TcpStream::connect(addr).unwrap();
        let _b = TcpStream::connect(addr).unwrap(); // never sends: its handler waits
        a.write_all(b"x").unwrap();
        sleep(Duration::from_millis(10));
        let cancelled = server.wait_closed(Some(Duration::from_millis(200)));
        let mut buf = [0u8; 3];
        let finished = (&a).read_exact(&mut buf).is_ok() && &buf == b"bye";
        assert!(TcpStream::connect(addr).is_err(), "no longer accepting");
        (finished, cancelled)
    }));
    assert!(
        finished,
        "the busy connection finished within the grace period"
    );
    assert_eq!(cancelled, 1, "the idle one was cancelled after it");
}

/// Whether `pid` is gone or a zombie (its state in /proc/<pid>/stat).
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.trim_start().chars().next()
}

/// Waits (bounded: 10 s) until `pid` has been reaped: no /proc entry left.
fn reaped(pid: u32) -> bool {
    for _ in 0..1000 {
        if process_state(pid).is_none() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}

#[test]
fn dropped_children_are_reaped_and_can_be_killed_on_drop() {
    use yieldfrom::net::Command;
    let pids = yieldfrom::run(yieldfrom::Coro::new("main", || {
        // Exits at once; never waited for.
        let quick = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        let quick_pid = quick.id();
        drop(quick);
        // A wait that is cancelled, then the child dropped.
        let slow = Command::new("sleep").arg("0.2").spawn().unwrap();
        let slow_pid = slow.id();
        let waiter = yieldfrom::spawn(yieldfrom::Coro::new("waiter", move || {
            let mut slow = slow;
            let _ = slow.wait();
        }));
        yieldfrom::yield_now();
        waiter.cancel();
        let _ = waiter.join_outcome();
        // Killed on drop.
        let long = Command::new("sleep")
            .arg("60")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let long_pid = long.id();
        drop(long);
        [quick_pid, slow_pid, long_pid]
    }));
    for pid in pids {
        assert!(
            reaped(pid),
            "child {pid} is still there: state {:?}",
            process_state(pid)
        );
    }
}

#[test]
fn the_end_of_a_stream_that_comes_with_its_last_bytes_is_read_at_once() {
    // A short read lets the next read wait for an event without a system
    // call; but an end of stream that arrived with those bytes brings no
    // event of its own, and must still be read (not waited for).
    let got = run(coro("main", || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = spawn(coro("client", move || {
            yieldfrom::to_thread(move || {
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                for round in 0..20 {
                    c.write_all(format!("round {round};").as_bytes()).unwrap();
                    std::thread::sleep(Duration::from_millis(2));
                }
                c.write_all(b"bye").unwrap();
                c.shutdown(Shutdown::Write).unwrap();
                std::thread::sleep(Duration::from_millis(200));
            })
        }));
        let (stream, _) = listener.accept().unwrap();
        // Let the last bytes and the end arrive together before reading.
        sleep(Duration::from_millis(100));
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        let ended = timeout(Duration::from_secs(5), || {
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => all.extend_from_slice(&buf[..n]),
                    Err(e) => panic!("{e}"),
                }
            }
        });
        client.join();
        assert!(
            ended.is_ok(),
            "the end of the stream was waited for, not read"
        );
        String::from_utf8(all).unwrap()
    }));
    assert!(got.ends_with("round 19;bye"), "{got}");
}

#[test]
fn loops_per_core_share_one_port_and_each_accepts_a_share() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let port = yieldfrom::net::reserve_port("127.0.0.1:0").unwrap();
    let addr = port.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let bound = Arc::new(std::sync::Barrier::new(3));
    let (stop2, bound2) = (stop.clone(), bound.clone());
    let client = std::thread::spawn(move || {
        bound2.wait(); // both listeners are up
        for i in 0..400 {
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            let msg = format!("hello {i}");
            c.write_all(msg.as_bytes()).unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            let mut back = String::new();
            c.read_to_string(&mut back).unwrap();
            assert_eq!(back, msg);
        }
        stop2.store(true, Ordering::SeqCst);
    });
    let accepted = yieldfrom::run_loops(2, move |_| {
        let (stop, bound) = (stop.clone(), bound.clone());
        coro("main", move || {
            let listener = TcpListener::bind_reuseport(addr).unwrap();
            let server = yieldfrom::net::start_server_on(listener, echo).unwrap();
            bound.wait();
            while !stop.load(Ordering::SeqCst) {
                sleep(Duration::from_millis(5));
            }
            server.wait_closed(Some(Duration::from_secs(1)));
            server.accepted()
        })
    });
    client.join().unwrap();
    drop(port);
    assert_eq!(accepted.iter().sum::<u64>(), 400, "{accepted:?}");
    // The kernel spreads connections by a hash of their ports: 400 of them
    // never all land on one listener.
    assert!(accepted.iter().all(|&n| n > 0), "{accepted:?}");
}

#[test]
fn a_loops_to_thread_pool_runs_at_most_max_workers_jobs_at_once() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let lp = EventLoop::builder().max_workers(2).build();
    let (n2, m2) = (now.clone(), most.clone());
    let results = lp.run(coro("main", move || {
        yieldfrom::combinators::gather((0..8).map(|i| {
            let (now, most) = (n2.clone(), m2.clone());
            coro("job", move || {
                yieldfrom::to_thread(move || {
                    let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(running, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    now.fetch_sub(1, Ordering::SeqCst);
                    i
                })
            })
        }))
    }));
    assert_eq!(results, (0..8).collect::<Vec<_>>());
    assert_eq!(most.load(Ordering::SeqCst), 2, "two workers, never more");
}

/// Names to addresses off the loop's thread, and Happy Eyeballs.
mod names {
    use super::*;
    use std::net::SocketAddr;
    use yieldfrom::net::{Resolver, lookup_host, set_resolver};

    /// A resolver with a fixed answer, after `wait` (in the task: a sleep,
    /// which the virtual clock skips) or `block` (a worker thread held, as
    /// a getaddrinfo with no DNS answer holds it).
    struct Fixed {
        addrs: Vec<SocketAddr>,
        wait: Duration,
        block: Duration,
        asked: Rc<Cell<usize>>,
    }

    impl Resolver for Fixed {
        fn resolve(&self, _host: &str, _port: u16) -> std::io::Result<Vec<SocketAddr>> {
            self.asked.set(self.asked.get() + 1);
            sleep(self.wait);
            let block = self.block;
            yieldfrom::to_thread(move || std::thread::sleep(block));
            Ok(self.addrs.clone())
        }
    }

    /// Installs `resolver` on this thread until the guard goes.
    struct Installed(Option<Rc<dyn Resolver>>);
    impl Drop for Installed {
        fn drop(&mut self) {
            set_resolver(self.0.take().unwrap());
        }
    }
    fn install(
        addrs: Vec<SocketAddr>,
        wait: Duration,
        block: Duration,
    ) -> (Installed, Rc<Cell<usize>>) {
        let asked = Rc::new(Cell::new(0));
        let before = set_resolver(Rc::new(Fixed {
            addrs,
            wait,
            block,
            asked: asked.clone(),
        }));
        (Installed(Some(before)), asked)
    }

    /// A resolution that never ends holds up no other task, and the connect
    /// timeout covers it: on the virtual clock, exactly at its limit.
    #[test]
    fn a_hanging_resolution_blocks_nobody_and_the_connect_timeout_covers_it() {
        let (_installed, asked) = install(vec![], Duration::from_secs(3_600), Duration::ZERO);
        let lp = EventLoop::builder().virtual_clock(true).build();
        let (ticks, took, err) = lp.run(coro("main", || {
            let ticks = Rc::new(Cell::new(0));
            let t = ticks.clone();
            let ticker = spawn(coro("ticker", move || {
                loop {
                    sleep(Duration::from_millis(100));
                    t.set(t.get() + 1);
                }
            }));
            let began = yieldfrom::now();
            let err = TcpStream::connect_timeout(("db.internal", 5432), Duration::from_secs(1))
                .unwrap_err();
            let took = yieldfrom::now() - began;
            ticker.cancel();
            (ticks.get(), took, err)
        }));
        assert_eq!(asked.get(), 1);
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
        assert_eq!(took, Duration::from_secs(1));
        assert!(
            (9..=10).contains(&ticks),
            "the ticker ran {ticks} times in 1 s"
        );
    }

    /// A resolver that holds a worker thread (getaddrinfo with no DNS
    /// answer) leaves the loop free; IP literals never reach the resolver.
    #[test]
    fn a_blocking_lookup_runs_on_a_worker_and_literals_skip_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (_installed, asked) = install(vec![addr], Duration::ZERO, Duration::from_millis(300));
        let (ticks_while_resolving, peer) = run(coro("main", move || {
            let resolving = Rc::new(Cell::new(true));
            let ticks = Rc::new(Cell::new(0));
            let (r, t) = (resolving.clone(), ticks.clone());
            let ticker = spawn(coro("ticker", move || {
                while r.get() {
                    sleep(Duration::from_millis(10));
                    t.set(t.get() + 1);
                }
            }));
            let stream = TcpStream::connect("db.internal:5432").unwrap();
            resolving.set(false);
            ticker.join();
            (ticks.get(), stream.peer_addr().unwrap())
        }));
        assert_eq!(peer, addr);
        assert!(ticks_while_resolving > 0, "the loop was blocked");
        assert_eq!(asked.get(), 1);
        // Literals: no resolver.
        run(coro("literal", move || {
            let s = TcpStream::connect(addr).unwrap();
            assert_eq!(s.peer_addr().unwrap(), addr);
            let s = TcpStream::connect(("127.0.0.1", addr.port())).unwrap();
            assert_eq!(s.peer_addr().unwrap(), addr);
            assert_eq!(
                lookup_host(format!("127.0.0.1:{}", addr.port())).unwrap(),
                [addr]
            );
        }));
        assert_eq!(asked.get(), 1);
        drop(listener);
    }

    /// The system resolver (on a worker thread) resolves `localhost`.
    #[test]
    fn the_system_resolver_resolves_localhost() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        run(coro("main", move || {
            let addrs = lookup_host(("localhost", port)).unwrap();
            assert!(
                addrs
                    .iter()
                    .all(|a| a.ip().is_loopback() && a.port() == port),
                "{addrs:?}"
            );
            let s = TcpStream::connect(("localhost", port)).unwrap();
            assert_eq!(s.peer_addr().unwrap().port(), port);
        }));
        drop(listener);
    }

    /// A listener whose accept queue is full: a connect to it is never
    /// answered (the kernel drops the SYN), as a dead host's would not be.
    fn black_hole() -> (socket2::Socket, std::net::TcpStream, SocketAddr) {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        s.listen(0).unwrap();
        let addr = s.local_addr().unwrap().as_socket().unwrap();
        let filler = std::net::TcpStream::connect(addr).unwrap();
        (s, filler, addr)
    }

    /// Happy Eyeballs: the first address never answers, the second does;
    /// the second is tried after the delay and wins; the attempt left
    /// hanging is cancelled. A refused address gives way at once.
    #[test]
    fn happy_eyeballs_connects_to_the_address_that_answers() {
        let (_hole, _filler, dead) = black_hole();
        let good = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let good_addr = good.local_addr().unwrap();
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap() // closed when `l` goes: refused
        };
        let (_installed, _) = install(vec![dead, good_addr], Duration::ZERO, Duration::ZERO);
        run(coro("main", move || {
            let before = EventLoop::current().live_tasks();
            let s = TcpStream::connect("twohomes.test:1").unwrap();
            assert_eq!(s.peer_addr().unwrap(), good_addr);
            yield_now();
            yield_now();
            assert_eq!(
                EventLoop::current().live_tasks(),
                before,
                "an attempt was left"
            );
        }));
        let (_installed2, _) = install(vec![refused, good_addr], Duration::ZERO, Duration::ZERO);
        run(coro("main", move || {
            let s = TcpStream::connect("refuses-first.test:1").unwrap();
            assert_eq!(s.peer_addr().unwrap(), good_addr);
        }));
        let (_installed3, _) = install(vec![refused, refused], Duration::ZERO, Duration::ZERO);
        run(coro("main", move || {
            let e = TcpStream::connect("refuses.test:1").unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
        }));
        drop(good);
    }
}
