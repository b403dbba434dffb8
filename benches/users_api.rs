//! `cargo bench --bench users_api`: the tutorial's endpoint, `GET /users`
//! (the ten rows of the users table as JSON), on yieldfrom (`http` +
//! `pg::Pool`) and on tokio current_thread + hyper 1 + tokio-postgres, over
//! the same PostgreSQL (a private cluster this bench starts), with the same
//! pool size (8 connections), in the same run.
//!
//! Each server runs in a child process (this binary with `--server
//! ours|peer`) pinned to core 0; wrk (one thread, `--latency`) is pinned to
//! core 1; PostgreSQL shares the machine unpinned. Scenarios: 100 and 1,000
//! connections, and 10,000 connections of which 256 are active (9,744 idle
//! keep-alive connections held open by this process while wrk drives 256).
//! Each: a 2 s warm-up, then 10 s measured; three rounds, the servers taking
//! turns at going first; one line per scenario, medians over the rounds:
//!
//! `BENCH name=users_c<N> ours_rps=<r> peer_rps=<r> rps_ratio=<ours/peer>
//! p99_ms=<ours> peer_p99_ms=<peer> cpu_ratio=<our CPU per request / peer's> rounds=3`
//!
//! Then the tutorial's own stack, FastAPI + uvicorn + asyncpg
//! (`benches/python/users_api.py`, one round, when those import):
//! `BENCH name=users_python_c<N> ours_rps=<r> python_rps=<r> ratio=<ours/python>`.
//!
//! Then the pooler-safe mode (`statement_cache_size=0`: every query parsed
//! again on the unnamed statement, for PgBouncer in transaction pooling)
//! against the default named statements, both ours, at 100 connections:
//! `BENCH name=users_unnamed_c100 named_rps=<r> unnamed_rps=<r> ratio=<unnamed/named>
//! cpu_ratio=<unnamed CPU per request / named> rounds=3`.
//!
//! Then the pool's connections over TLS (`sslmode=verify-full`, a CA made
//! at run time; the cluster has `ssl = on`, and every other row says
//! `sslmode=disable`) against the same over plain TCP, both ours, at 100
//! connections: `BENCH name=users_tls_c100 plain_rps=<r> tls_rps=<r>
//! ratio=<tls/plain> cpu_ratio=<tls CPU per request / plain> rounds=3`.
//!
//! Then a database restart under load (`users_db_restart`): our server
//! with 200 keep-alive clients in a closed loop (each asks again as soon
//! as it has an answer, so every one is already waiting in the pool's line
//! when the restart comes), while the cluster is stopped (fast shutdown)
//! and started again. `outage_s` is the longest time with no successful
//! answer around the restart; `restart_s` the restart's own time (stop to
//! accepting again); the difference is what the pool adds:
//! `BENCH name=users_db_restart outage_s=<s> restart_s=<s> rounds=3`.
//!
//! Needs `wrk`, `taskset` and PostgreSQL (`initdb`/`postgres`); fails at
//! once, saying so, when one is missing. Loopback only; every run bounded.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[path = "common.rs"]
#[allow(dead_code)]
mod common;
use common::{cpu_s, hold_idle, median, raise_fd_limit, wrk_p99, wrk_totals};

const WINDOW: &str = "10s";
const ROUNDS: usize = 3;
const POOL: usize = 8;
const SQL: &str = "SELECT id, name, email FROM users ORDER BY id";

/// A scenario: wrk's connections, and idle ones held beside them.
#[derive(Clone, Copy)]
struct Scenario {
    name: &'static str,
    active: usize,
    idle: usize,
}

const SCENARIOS: [Scenario; 3] = [
    Scenario {
        name: "users_c100",
        active: 100,
        idle: 0,
    },
    Scenario {
        name: "users_c1000",
        active: 1_000,
        idle: 0,
    },
    Scenario {
        name: "users_c10000_active256",
        active: 256,
        idle: 9_744,
    },
];

fn ours(addr: &'static str, url: String) {
    use yieldfrom::http::{self, Config, Response, Router};
    use yieldfrom::pg::{Pool, PoolOptions};
    yieldfrom::run(yieldfrom::Coro::new("bench server", move || {
        let config: yieldfrom::pg::Config = url.parse().unwrap();
        let pool = Pool::with_options(
            config,
            PoolOptions {
                size: POOL,
                pipeline: std::env::var("PIPELINE")
                    .ok()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(16),
                ..PoolOptions::default()
            },
        );
        let router = Router::new().get("/users", move |_| match pool.query(SQL, &[]) {
            Ok(rows) => {
                let users: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "id": r.get::<i32>(0),
                            "name": r.get::<&str>(1),
                            "email": r.get::<&str>(2),
                        })
                    })
                    .collect();
                Response::json(&serde_json::Value::Array(users))
            }
            Err(e) if e.is_overload() => Response::text("busy").with_status(503),
            Err(e) => Response::text(e.to_string()).with_status(500),
        });
        let config = Config::default()
            .max_connections(20_000)
            .max_in_flight(20_000)
            .keep_alive_timeout(Duration::from_secs(120));
        let server = http::serve_with(addr, router, config).unwrap();
        println!("{}", server.local_addr());
        let _ = yieldfrom::to_thread(|| std::io::stdin().read_line(&mut String::new()));
        server.shutdown(Duration::from_secs(1));
    }));
}

fn peer(addr: &str, url: String) {
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use std::rc::Rc;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let mut clients = Vec::new();
        for _ in 0..POOL {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::task::spawn_local(connection);
            let statement = client.prepare(SQL).await.unwrap();
            clients.push((client, statement));
        }
        let clients = Rc::new(clients);
        let next = Rc::new(std::cell::Cell::new(0usize));
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_line(&mut String::new());
            std::process::exit(0);
        });
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (clients, next) = (clients.clone(), next.clone());
            tokio::task::spawn_local(async move {
                let service = service_fn(move |_req| {
                    let (clients, next) = (clients.clone(), next.clone());
                    async move {
                        let i = next.get();
                        next.set((i + 1) % clients.len());
                        let (client, statement) = &clients[i];
                        let rows = client.query(statement, &[]).await.unwrap();
                        let users: Vec<serde_json::Value> = rows
                            .iter()
                            .map(|r| {
                                serde_json::json!({
                                    "id": r.get::<_, i32>(0),
                                    "name": r.get::<_, &str>(1),
                                    "email": r.get::<_, &str>(2),
                                })
                            })
                            .collect();
                        let body = serde_json::Value::Array(users).to_string();
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .header("Content-Type", "application/json")
                                .body(Full::new(Bytes::from(body)))
                                .unwrap(),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

fn start(kind: &str, url: &str) -> (Child, String) {
    let mut child = Command::new("taskset")
        .args(["-c", "0"])
        .arg(std::env::current_exe().unwrap())
        .args(["--server", kind, "--db", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("taskset is installed");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().to_string())
}

/// wrk on `/users` at `conns` for `duration`: (requests, seconds, p99 ms).
fn wrk(addr: &str, conns: usize, duration: &str) -> (f64, f64, f64) {
    let out = Command::new("taskset")
        .args(["-c", "1", "wrk", "-t1", "--latency"])
        .arg(format!("-c{conns}"))
        .arg(format!("-d{duration}"))
        .arg(format!("http://{addr}/users"))
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "wrk failed: {text}");
    assert!(
        !text.contains("Non-2xx"),
        "the server answered errors:\n{text}"
    );
    let (requests, secs) = wrk_totals(&text);
    let p99 = wrk_p99(&text);
    (requests, secs, p99)
}

/// (req/s, p99 ms, CPU s per request) of one server in `scenario`.
fn measure(kind: &str, url: &str, scenario: Scenario) -> (f64, f64, f64) {
    let (mut child, addr) = start(kind, url);
    let idle = hold_idle(
        &addr,
        scenario.idle,
        b"GET /users HTTP/1.1\r\nHost: b\r\n\r\n",
        b"]",
    );
    wrk(&addr, scenario.active, "2s");
    let before = cpu_s(child.id());
    let (requests, secs, p99) = wrk(&addr, scenario.active, WINDOW);
    let cpu = cpu_s(child.id()) - before;
    drop(idle);
    drop(child.stdin.take());
    let _ = child.wait();
    (requests / secs, p99, cpu / requests)
}

/// FastAPI + uvicorn + asyncpg at `conns`, if they import; req/s.
fn python(url: &str, conns: usize) -> Option<f64> {
    let ok = Command::new("python3")
        .args(["-c", "import fastapi, uvicorn, asyncpg"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/python/users_api.py");
    let mut child = Command::new("taskset")
        .args(["-c", "0", "python3", script, &port.to_string(), url])
        .spawn()
        .ok()?;
    let addr = format!("127.0.0.1:{port}");
    let up = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        std::net::TcpStream::connect(&addr).is_ok()
    });
    let result = up.then(|| {
        wrk(&addr, conns, "2s");
        let (requests, secs, _) = wrk(&addr, conns, WINDOW);
        requests / secs
    });
    // SAFETY: kill(2) on the child this bench started, by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    result
}

/// One keep-alive client in a closed loop on `/users` until `stop`: the
/// instants of its successful answers. Any non-200 (a 503 while the
/// database is down) is asked again at once.
fn closed_loop_client(
    addr: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<std::time::Instant> {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let mut ok = Vec::new();
    let mut stream: Option<std::net::TcpStream> = None;
    while !stop.load(Ordering::Relaxed) {
        let s = match &mut stream {
            Some(s) => s,
            None => match std::net::TcpStream::connect(&addr) {
                Ok(s) => {
                    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                    stream.insert(s)
                }
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
            },
        };
        let answer = (|| -> std::io::Result<u16> {
            s.write_all(b"GET /users HTTP/1.1\r\nHost: b\r\n\r\n")?;
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if s.read(&mut byte)? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
            let status: u16 = head[9..12].parse().unwrap_or(0);
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let mut body = vec![0u8; length];
            s.read_exact(&mut body)?;
            Ok(status)
        })();
        match answer {
            Ok(200) => ok.push(std::time::Instant::now()),
            Ok(_) => {}
            Err(_) => stream = None,
        }
    }
    ok
}

/// The restart scenario: (seconds with no success, the restart's own seconds).
fn restart_round(cluster: &mut yieldfrom::pg::TempCluster, url: &str) -> (f64, f64) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let (mut child, addr) = start("ours", url);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..200)
        .map(|_| {
            let (addr, stop) = (addr.clone(), stop.clone());
            std::thread::spawn(move || closed_loop_client(addr, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let began = std::time::Instant::now();
    cluster.stop();
    cluster.restart().expect("the cluster starts again");
    let back = std::time::Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let mut all: Vec<std::time::Instant> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    all.sort();
    drop(child.stdin.take());
    let _ = child.wait();
    assert!(
        all.last().is_some_and(|t| *t >= back),
        "no request succeeded after the restart"
    );
    // The longest gap between two successes that overlaps the restart.
    let outage = all
        .windows(2)
        .filter(|w| w[1] >= began && w[0] <= back)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    (outage.as_secs_f64(), (back - began).as_secs_f64())
}

/// Seeds the users table (ten rows) in the cluster's `postgres` database.
fn seed(config: yieldfrom::pg::Config) {
    yieldfrom::run(yieldfrom::Coro::new("seed", move || {
        let client = yieldfrom::pg::Client::connect(&config).unwrap();
        client
            .batch_execute(
                "CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, email text NOT NULL UNIQUE);
                 INSERT INTO users (name, email)
                 SELECT 'user ' || g, 'user' || g || '@example.com' FROM generate_series(1, 10) g",
            )
            .unwrap();
    }));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--server") {
        raise_fd_limit();
        let url = args[args.iter().position(|a| a == "--db").unwrap() + 1].clone();
        match args[at + 1].as_str() {
            "ours" => ours("127.0.0.1:0", url),
            "peer" => peer("127.0.0.1:0", url),
            other => panic!("unknown server {other}"),
        }
        return;
    }
    for tool in ["wrk", "taskset"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "the users_api bench needs `{tool}` (apt-get install -y wrk util-linux)"
        );
    }
    assert!(
        yieldfrom::pg::TempCluster::available(),
        "the users_api bench needs PostgreSQL (apt-get install -y postgresql)"
    );
    raise_fd_limit();
    // TLS on, plain allowed: the rows are plain (`sslmode=disable`, for
    // every client alike) but the one that measures the pool over TLS.
    let (cert, key, ca) = common::bench_certificates();
    let cluster = yieldfrom::pg::TempCluster::builder()
        .tls(
            &std::fs::read_to_string(&cert).unwrap(),
            &std::fs::read_to_string(&key).unwrap(),
        )
        .start()
        .expect("a private PostgreSQL cluster");
    seed(
        cluster
            .tcp_config()
            .ssl_mode(yieldfrom::pg::SslMode::Disable),
    );
    let url = format!("{}?sslmode=disable", cluster.tcp_url());
    let tls_url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        cluster.tcp_url(),
        ca.display()
    );
    let only: Vec<&str> = args
        .iter()
        .skip(1)
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut ours_at = Vec::new();
    for scenario in SCENARIOS {
        if !only.is_empty() && !only.iter().any(|o| scenario.name.contains(o)) {
            continue;
        }
        let (mut o_rps, mut p_rps, mut ratio, mut o_p99, mut p_p99, mut cpu) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for round in 0..ROUNDS {
            let (o, p) = if round % 2 == 0 {
                let o = measure("ours", &url, scenario);
                (o, measure("peer", &url, scenario))
            } else {
                let p = measure("peer", &url, scenario);
                (measure("ours", &url, scenario), p)
            };
            o_rps.push(o.0);
            p_rps.push(p.0);
            ratio.push(o.0 / p.0);
            o_p99.push(o.1);
            p_p99.push(p.1);
            cpu.push(o.2 / p.2);
        }
        let ours_rps = median(&mut o_rps);
        ours_at.push((scenario, ours_rps));
        println!(
            "BENCH name={} ours_rps={:.0} peer_rps={:.0} rps_ratio={:.3} p99_ms={:.2} peer_p99_ms={:.2} cpu_ratio={:.3} rounds={ROUNDS}",
            scenario.name,
            ours_rps,
            median(&mut p_rps),
            median(&mut ratio),
            median(&mut o_p99),
            median(&mut p_p99),
            median(&mut cpu),
        );
    }
    for (scenario, ours_rps) in ours_at {
        if scenario.idle > 0 {
            continue;
        }
        match python(&url, scenario.active) {
            Some(py) => println!(
                "BENCH name=users_python_c{} ours_rps={ours_rps:.0} python_rps={py:.0} ratio={:.1}",
                scenario.active,
                ours_rps / py
            ),
            None => println!(
                "BENCH name=users_python_c{} skipped=fastapi_uvicorn_asyncpg_not_installed",
                scenario.active
            ),
        }
    }
    if only.is_empty() || only.iter().any(|o| "users_unnamed_c100".contains(o)) {
        let unnamed_url = format!("{url}&statement_cache_size=0");
        let scenario = SCENARIOS[0];
        let (mut named, mut unnamed, mut ratio, mut cpu) = (vec![], vec![], vec![], vec![]);
        for round in 0..ROUNDS {
            let (n, u) = if round % 2 == 0 {
                let n = measure("ours", &url, scenario);
                (n, measure("ours", &unnamed_url, scenario))
            } else {
                let u = measure("ours", &unnamed_url, scenario);
                (measure("ours", &url, scenario), u)
            };
            named.push(n.0);
            unnamed.push(u.0);
            ratio.push(u.0 / n.0);
            cpu.push(u.2 / n.2);
        }
        println!(
            "BENCH name=users_unnamed_c100 named_rps={:.0} unnamed_rps={:.0} ratio={:.3} cpu_ratio={:.3} rounds={ROUNDS}",
            median(&mut named),
            median(&mut unnamed),
            median(&mut ratio),
            median(&mut cpu)
        );
    }
    if only.is_empty() || only.iter().any(|o| "users_tls_c100".contains(o)) {
        let scenario = SCENARIOS[0];
        let (mut plain, mut tls, mut ratio, mut cpu) = (vec![], vec![], vec![], vec![]);
        for round in 0..ROUNDS {
            let (p, t) = if round % 2 == 0 {
                let p = measure("ours", &url, scenario);
                (p, measure("ours", &tls_url, scenario))
            } else {
                let t = measure("ours", &tls_url, scenario);
                (measure("ours", &url, scenario), t)
            };
            plain.push(p.0);
            tls.push(t.0);
            ratio.push(t.0 / p.0);
            cpu.push(t.2 / p.2);
        }
        println!(
            "BENCH name=users_tls_c100 plain_rps={:.0} tls_rps={:.0} ratio={:.3} cpu_ratio={:.3} rounds={ROUNDS}",
            median(&mut plain),
            median(&mut tls),
            median(&mut ratio),
            median(&mut cpu)
        );
    }
    if let Some(dir) = ca.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
    if only.is_empty() || only.iter().any(|o| "users_db_restart".contains(o)) {
        let mut cluster = cluster;
        let (mut outage, mut restart) = (vec![], vec![]);
        for _ in 0..ROUNDS {
            let (o, r) = restart_round(&mut cluster, &url);
            outage.push(o);
            restart.push(r);
        }
        println!(
            "BENCH name=users_db_restart outage_s={:.3} restart_s={:.3} rounds={ROUNDS}",
            median(&mut outage),
            median(&mut restart)
        );
    }
}
