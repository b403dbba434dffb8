//! Past one machine, with existing engines: nginx on loopback in front of
//! two processes of example 11, upstream keep-alive on, and PgBouncer in
//! transaction pooling between them and one private PostgreSQL (the
//! processes use the pooler-safe mode from the URL,
//! `statement_cache_size=0`, with no code change); one process is stopped
//! gracefully (SIGTERM) while clients send requests through nginx, and no
//! request fails. Without nginx, PgBouncer or PostgreSQL installed the test
//! says so and passes, except under `CI=true`, where it fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

mod common;

/// Example 11 on a free port over `url`; the child, its address, its output.
fn api(
    url: &str,
) -> (
    Child,
    String,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
) {
    let (child, _backend, addr, lines) = common::spawn_users_api(&[], &[("DATABASE_URL", url)]);
    (child, addr, lines)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One keep-alive GET of `/users` on `c`: the status, and whether the
/// server said it closes the connection after it.
fn get_users(c: &mut BufReader<TcpStream>) -> std::io::Result<(u16, bool)> {
    c.get_mut()
        .write_all(b"GET /users HTTP/1.1\r\nHost: fleet\r\n\r\n")?;
    let mut status_line = String::new();
    c.read_line(&mut status_line)?;
    let status: u16 = status_line
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line: {status_line:?}")))?;
    let mut len = 0;
    let (mut chunked, mut close) = (false, false);
    loop {
        let mut line = String::new();
        c.read_line(&mut line)?;
        let lower = line.to_ascii_lowercase();
        close |= lower.starts_with("connection:") && lower.contains("close");
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        chunked |= lower.starts_with("transfer-encoding:") && lower.contains("chunked");
        if line == "\r\n" {
            break;
        }
    }
    if chunked {
        loop {
            let mut size = String::new();
            c.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            c.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
        }
    } else {
        let mut body = vec![0; len];
        c.read_exact(&mut body)?;
    }
    Ok((status, close))
}

/// A keep-alive client as browsers and HTTP libraries are: a connection
/// the server closed while idle (nothing of a response read) is opened
/// again and the GET sent again; anything else is the request's outcome.
struct Client {
    front: String,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    fn get(&mut self) -> Result<u16, String> {
        for attempt in 0..2 {
            let conn = match &mut self.conn {
                Some(c) => c,
                None => {
                    let c = TcpStream::connect(&self.front).map_err(|e| e.to_string())?;
                    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    self.conn.insert(BufReader::new(c))
                }
            };
            match get_users(conn) {
                Ok((status, close)) => {
                    if close {
                        self.conn = None;
                    }
                    return Ok(status);
                }
                // Closed while idle: retry once on a new connection.
                Err(e) if attempt == 0 && is_idle_close(&e) => self.conn = None,
                Err(e) => {
                    self.conn = None;
                    return Err(e.to_string());
                }
            }
        }
        unreachable!("the second attempt returns")
    }
}

fn is_idle_close(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), BrokenPipe | ConnectionReset | UnexpectedEof)
        || e.to_string().starts_with("no status line: \"\"")
}

#[test]
fn nginx_in_front_of_two_processes_loses_no_request_when_one_stops_gracefully() {
    let nginx = Command::new("nginx").arg("-v").output().is_ok();
    if !common::installed("nginx", nginx)
        || !common::installed("postgresql", yieldfrom::pg::TempCluster::available())
        || !common::installed("pgbouncer", common::PgBouncer::available())
    {
        return;
    }
    let pg = yieldfrom::pg::TempCluster::start().unwrap();
    // Fewer server connections than the two processes' pools hold: every
    // transaction may land on another one.
    let bouncer = common::PgBouncer::start(pg.port(), "transaction", 4);
    let url = bouncer.url("statement_cache_size=0");
    // One after the other: the first creates and seeds the table.
    let (mut a, a_addr, a_lines) = api(&url);
    let (mut b, b_addr, _b_lines) = api(&url);
    // nginx, in a directory of its own, in the foreground.
    let dir = std::env::temp_dir().join(format!("yieldfrom-nginx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let port = free_port();
    let d = dir.display();
    let conf = format!(
        "daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream api {{
        server {a_addr} max_fails=1 fail_timeout=10s;
        server {b_addr} max_fails=1 fail_timeout=10s;
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        keepalive_requests 100000;
        location / {{
            proxy_pass http://api;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_next_upstream error timeout http_502 http_503;
        }}
    }}
}}
"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let mut balancer = common::Running(
        Command::new("nginx")
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let front = format!("127.0.0.1:{port}");
    let until = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&front).is_err() {
        assert!(Instant::now() < until, "nginx did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Four keep-alive clients, sending requests until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, front) = (stop.clone(), front.clone());
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                let mut client = Client { front, conn: None };
                while !stop.load(Ordering::SeqCst) {
                    statuses.push(client.get());
                }
                statuses
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    // Process A drains and exits in the middle of it.
    // SAFETY: kill(2) on the child this test started, by its pid.
    assert_eq!(unsafe { libc::kill(a.id() as i32, libc::SIGTERM) }, 0);
    let rest: Vec<String> = a_lines.map(|l| l.unwrap()).collect();
    assert!(a.wait().unwrap().success());
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert!(rest[0].starts_with("stopped ("), "{rest:?}");
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, Ordering::SeqCst);
    let mut all = Vec::new();
    for c in clients {
        all.extend(c.join().unwrap());
    }
    // SAFETY: kill(2) on the processes this test started, by their pids
    // (SIGQUIT: nginx's graceful stop).
    unsafe {
        libc::kill(balancer.id() as i32, libc::SIGQUIT);
    }
    let _ = balancer.wait();
    // SAFETY: as above.
    unsafe {
        libc::kill(b.id() as i32, libc::SIGTERM);
    }
    let _ = b.wait();
    let _ = std::fs::remove_dir_all(&dir);
    drop(pg);
    let failed: Vec<_> = all.iter().filter(|s| **s != Ok(200)).collect();
    eprintln!("{} requests through nginx, none failed", all.len());
    assert!(all.len() > 100, "only {} requests went through", all.len());
    assert!(
        failed.is_empty(),
        "{} of {} failed: {:?}",
        failed.len(),
        all.len(),
        &failed[..failed.len().min(5)]
    );
}
