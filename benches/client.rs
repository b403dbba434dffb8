//! `cargo bench --bench client`: the HTTP client, GETs of a small body
//! (`{"message":"hello"}`, a static file) from nginx on loopback, plain and
//! TLS, keep-alive, with 1, 16 and 256 requests in flight; yieldfrom's
//! `http::client` against reqwest 0.12 on tokio's current_thread runtime
//! (rustls on ring, as ours) and hyper-util's legacy client (plain), and
//! against Python's aiohttp and httpx, in one run.
//!
//! nginx (one worker) is pinned to core 0; each client runs in a child
//! process (this binary with `--client KIND ...`) pinned to core 1: a 1 s
//! warm-up, then 5 s measured; it reports the requests completed in the
//! window and its own CPU time (user + system) over it. Three rounds per
//! row for ours and reqwest, alternating which goes first; one for the
//! others; medians:
//!
//! `BENCH name=client_<plain|tls>_c<N> ours_rps=<r> reqwest_rps=<r> rps_ratio=<ours/reqwest>
//! cpu_ratio=<our CPU per request / reqwest's> aiohttp_ratio=<ours/aiohttp> httpx_ratio=<ours/httpx>
//! hyper_rps=<r>`
//!
//! Then new TLS connections (`Connection: close`, 16 in flight):
//! `BENCH name=client_tls_new_conn_c16 ours_rps=<r> reqwest_rps=<r> rps_ratio=<ours/reqwest>
//! cpu_ratio=<..>`, and the resident bytes per idle pooled connection
//! (1,000 each, opened and then idle in the pool):
//! `BENCH name=client_idle_conn_bytes scheme=<plain|tls> ours=<bytes> reqwest=<bytes>`.
//!
//! Needs nginx and taskset; aiohttp and httpx are measured when they import
//! (`pip install aiohttp httpx`), else their fields say `skipped`. Loopback
//! only; every run is bounded. `-- plain`, `-- tls`, `-- new`, `-- idle`
//! run only those parts.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[path = "common.rs"]
#[allow(dead_code)]
mod common;
use common::{bench_certificates, cpu_s, median, raise_fd_limit};

const WARM: Duration = Duration::from_secs(1);
const WINDOW: Duration = Duration::from_secs(5);
const ROUNDS: usize = 3;
const IDLE_CONNS: usize = 1000;

/// What a client child reports.
struct Run {
    requests: f64,
    cpu: f64,
    secs: f64,
}

impl Run {
    fn rps(&self) -> f64 {
        self.requests / self.secs
    }
    fn cpu_per_request(&self) -> f64 {
        self.cpu / self.requests
    }
}

fn print_run(requests: u64, cpu: f64, secs: f64) {
    println!("{requests} {cpu} {secs}");
}

/// yieldfrom's client: `conc` tasks asking in a loop.
fn ours(url: String, conc: usize, ca: String, close: bool) {
    use std::cell::Cell;
    use std::rc::Rc;
    use yieldfrom::http::client::{Client, ClientConfig};
    use yieldfrom::{Coro, run, sleep, spawn};
    run(Coro::new("bench", move || {
        let config = ClientConfig::default()
            .tls(yieldfrom::tls::client_config_with_ca(&ca).unwrap())
            .max_per_host(conc)
            .max_connections(conc);
        let client = Client::with_config(config);
        let (count, stop) = (Rc::new(Cell::new(0u64)), Rc::new(Cell::new(false)));
        let tasks: Vec<_> = (0..conc)
            .map(|_| {
                let (client, url, count, stop) =
                    (client.clone(), url.clone(), count.clone(), stop.clone());
                spawn(Coro::new("get", move || {
                    while !stop.get() {
                        let mut request = client.get(&url).unwrap();
                        if close {
                            request = request.header("Connection", "close").unwrap();
                        }
                        let body = request.send().unwrap().bytes().unwrap();
                        assert_eq!(body.len(), 19);
                        count.set(count.get() + 1);
                    }
                }))
            })
            .collect();
        sleep(WARM);
        let (n0, cpu0, t0) = (
            count.get(),
            cpu_s(std::process::id()),
            std::time::Instant::now(),
        );
        sleep(WINDOW);
        let (n1, cpu1, secs) = (
            count.get(),
            cpu_s(std::process::id()),
            t0.elapsed().as_secs_f64(),
        );
        stop.set(true);
        for t in tasks {
            t.join();
        }
        print_run(n1 - n0, cpu1 - cpu0, secs);
    }));
}

/// A tokio peer: `conc` tasks on a current_thread runtime, each running
/// `one` (a GET whose body length it returns) in a loop; the same warm-up,
/// window and report as [`ours`].
fn tokio_peer<F, Fut>(conc: usize, one: F)
where
    F: Fn() -> Fut + Clone + 'static,
    Fut: std::future::Future<Output = usize> + 'static,
{
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let count = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..conc)
            .map(|_| {
                let (one, count, stop) = (one.clone(), count.clone(), stop.clone());
                tokio::task::spawn_local(async move {
                    while !stop.load(Ordering::Relaxed) {
                        assert_eq!(one().await, 19);
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        tokio::time::sleep(WARM).await;
        let (n0, cpu0, t0) = (
            count.load(Ordering::Relaxed),
            cpu_s(std::process::id()),
            std::time::Instant::now(),
        );
        tokio::time::sleep(WINDOW).await;
        let (n1, cpu1, secs) = (
            count.load(Ordering::Relaxed),
            cpu_s(std::process::id()),
            t0.elapsed().as_secs_f64(),
        );
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        print_run(n1 - n0, cpu1 - cpu0, secs);
    });
}

/// reqwest on tokio's current_thread runtime.
fn reqwest_client(url: String, conc: usize, ca: String, close: bool) {
    let pem = std::fs::read(&ca).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .pool_max_idle_per_host(conc)
        .build()
        .unwrap();
    tokio_peer(conc, move || {
        let mut request = client.get(&url);
        if close {
            request = request.header("Connection", "close");
        }
        async move { request.send().await.unwrap().bytes().await.unwrap().len() }
    });
}

/// hyper-util's legacy client (plain only: the bench has no hyper-rustls).
fn hyper_client(url: String, conc: usize) {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let uri: hyper::Uri = url.parse().unwrap();
    // Built inside the runtime on first use: its connector needs one.
    let client: std::rc::Rc<std::cell::OnceCell<Client<_, Empty<Bytes>>>> = Default::default();
    tokio_peer(conc, move || {
        let client = client
            .get_or_init(|| Client::builder(TokioExecutor::new()).build_http())
            .clone();
        let uri = uri.clone();
        async move {
            let response = client.get(uri).await.unwrap();
            response
                .into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .len()
        }
    });
}

/// Resident bytes per idle pooled connection: `n` requests at once, then
/// every connection idle in the pool.
fn idle_ours(url: String, n: usize, ca: String) {
    use yieldfrom::http::client::{Client, ClientConfig, Timeouts};
    use yieldfrom::{Coro, combinators::gather, run};
    // The requests' tasks end before the measurement: their stacks go back
    // to the kernel (not kept warm for the next tasks), so that what is
    // counted is the connections', as for reqwest, whose futures are freed.
    yieldfrom::stack::set_warm_limit(16);
    run(Coro::new("idle", move || {
        let config = ClientConfig::default()
            .tls(yieldfrom::tls::client_config_with_ca(&ca).unwrap())
            .max_per_host(n)
            .max_connections(n)
            .idle_timeout(Duration::from_secs(60))
            .timeouts(Timeouts {
                pool: Duration::from_secs(60),
                ..Timeouts::default()
            });
        let client = Client::with_config(config);
        let one = |client: Client, url: String| {
            Coro::new("get", move || {
                client
                    .get(&url)
                    .unwrap()
                    .send()
                    .unwrap()
                    .bytes()
                    .unwrap()
                    .len()
            })
        };
        gather((0..10).map(|_| one(client.clone(), url.clone())));
        let before = common::rss_bytes();
        gather((0..n).map(|_| one(client.clone(), url.clone())));
        yieldfrom::sleep(Duration::from_millis(300));
        let after = common::rss_bytes();
        assert!(
            client.pool_stats().idle >= n * 9 / 10,
            "{:?}",
            client.pool_stats()
        );
        println!("{} 0 1", (after - before) as f64 / n as f64);
    }));
}

fn idle_reqwest(url: String, n: usize, ca: String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let pem = std::fs::read(&ca).unwrap();
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .pool_max_idle_per_host(n)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let wave = |k: usize| {
            let futures: Vec<_> = (0..k)
                .map(|_| {
                    let (client, url) = (client.clone(), url.clone());
                    tokio::spawn(async move {
                        client
                            .get(&url)
                            .send()
                            .await
                            .unwrap()
                            .bytes()
                            .await
                            .unwrap()
                            .len()
                    })
                })
                .collect();
            async move {
                for f in futures {
                    f.await.unwrap();
                }
            }
        };
        wave(10).await;
        let before = common::rss_bytes();
        wave(n).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after = common::rss_bytes();
        println!("{} 0 1", (after - before) as f64 / n as f64);
    });
}

/// Runs a client child pinned to core 1 and reads its report.
fn child(args: &[String]) -> Run {
    let out = Command::new("taskset")
        .args(["-c", "1"])
        .arg(std::env::current_exe().unwrap())
        .arg("--client")
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("taskset runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "client {args:?} failed: {text}");
    let mut f = text.split_whitespace().map(|x| x.parse::<f64>().unwrap());
    Run {
        requests: f.next().unwrap(),
        cpu: f.next().unwrap(),
        secs: f.next().unwrap(),
    }
}

/// A Python client (`benches/python/client.py`): `None` when it does not import.
fn python(kind: &str, url: &str, conc: usize, ca: &str) -> Option<Run> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/python/client.py");
    let out = Command::new("taskset")
        .args([
            "-c",
            "1",
            "python3",
            script,
            kind,
            url,
            &conc.to_string(),
            ca,
        ])
        .args([
            WARM.as_secs_f64().to_string(),
            WINDOW.as_secs_f64().to_string(),
        ])
        .stderr(Stdio::piped())
        .output()
        .ok()?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        let last = why.lines().last().unwrap_or("");
        eprintln!("{kind} ({url}, {conc}): {last}");
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = text.split_whitespace().map(|x| x.parse::<f64>().unwrap());
    Some(Run {
        requests: f.next()?,
        cpu: f.next()?,
        secs: f.next()?,
    })
}

/// nginx on loopback, pinned to core 0: one worker, the small body at
/// `/hello.json`, plain and TLS.
struct Nginx {
    master: Child,
    dir: std::path::PathBuf,
    plain: u16,
    tls: u16,
}

impl Nginx {
    fn start(cert: &str, key: &str) -> Nginx {
        let dir =
            std::env::temp_dir().join(format!("yieldfrom-bench-nginx-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("www")).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            for d in [dir.clone(), dir.join("www")] {
                std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
            }
        }
        std::fs::write(dir.join("www/hello.json"), r#"{"message":"hello"}"#).unwrap();
        let port = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let (plain, tls) = (port(), port());
        let d = dir.display();
        let conf = format!(
            "daemon off;
worker_processes 1;
worker_rlimit_nofile 16384;
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_timeout 75s;
    keepalive_requests 10000000;
    ssl_session_cache shared:SSL:10m;
    server {{
        listen 127.0.0.1:{plain} backlog=4096;
        listen 127.0.0.1:{tls} ssl backlog=4096;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {d}/www;
        default_type application/json;
    }}
}}
"
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let master = Command::new("taskset")
            .args(["-c", "0", "nginx", "-p"])
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "the client bench needs nginx and taskset (apt-get install -y nginx util-linux)",
            );
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", tls)).is_err() {
            assert!(std::time::Instant::now() < until, "nginx did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx {
            master,
            dir,
            plain,
            tls,
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the nginx master this bench started, by its
        // pid; SIGTERM, so that it stops its worker too.
        unsafe { libc::kill(self.master.id() as i32, libc::SIGTERM) };
        let _ = self.master.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--client") {
        raise_fd_limit();
        let a = &args[at + 1..];
        let (kind, url, n, ca) = (
            a[0].as_str(),
            a[1].clone(),
            a[2].parse().unwrap(),
            a[3].clone(),
        );
        let close = a.get(4).is_some_and(|c| c == "close");
        match kind {
            "ours" => ours(url, n, ca, close),
            "reqwest" => reqwest_client(url, n, ca, close),
            "hyper" => hyper_client(url, n),
            "ours-idle" => idle_ours(url, n, ca),
            "reqwest-idle" => idle_reqwest(url, n, ca),
            other => panic!("unknown client {other}"),
        }
        return;
    }
    raise_fd_limit();
    let only: Vec<&str> = args
        .iter()
        .skip(1)
        .map(String::as_str)
        .filter(|a| ["plain", "tls", "new", "idle"].contains(a))
        .collect();
    let part = |p: &str| only.is_empty() || only.contains(&p);
    let (cert, key, ca) = bench_certificates();
    let ca = ca.to_string_lossy().into_owned();
    let nginx = Nginx::start(&cert, &key);
    let arg = |kind: &str, url: &str, n: usize, close: bool| -> Vec<String> {
        let mut v = vec![kind.to_string(), url.to_string(), n.to_string(), ca.clone()];
        if close {
            v.push("close".into());
        }
        v
    };
    for (scheme, port) in [("plain", nginx.plain), ("tls", nginx.tls)] {
        if !part(scheme) {
            continue;
        }
        let host = if scheme == "tls" {
            "https://localhost"
        } else {
            "http://127.0.0.1"
        };
        let url = format!("{host}:{port}/hello.json");
        for conc in [1usize, 16, 256] {
            let (mut o_rps, mut r_rps, mut ratio, mut cpu) = (vec![], vec![], vec![], vec![]);
            for round in 0..ROUNDS {
                let (o, r) = if round % 2 == 0 {
                    let o = child(&arg("ours", &url, conc, false));
                    (o, child(&arg("reqwest", &url, conc, false)))
                } else {
                    let r = child(&arg("reqwest", &url, conc, false));
                    (child(&arg("ours", &url, conc, false)), r)
                };
                o_rps.push(o.rps());
                r_rps.push(r.rps());
                ratio.push(o.rps() / r.rps());
                cpu.push(o.cpu_per_request() / r.cpu_per_request());
            }
            let ours_rps = median(&mut o_rps);
            let vs = |py: Option<Run>| match py {
                Some(run) => format!("{:.2}", ours_rps / run.rps()),
                None => "skipped".into(),
            };
            let aiohttp = vs(python("aiohttp", &url, conc, &ca));
            let httpx = vs(python("httpx", &url, conc, &ca));
            let hyper = if scheme == "plain" {
                format!("{:.0}", child(&arg("hyper", &url, conc, false)).rps())
            } else {
                "none".into()
            };
            println!(
                "BENCH name=client_{scheme}_c{conc} ours_rps={ours_rps:.0} reqwest_rps={:.0} rps_ratio={:.3} cpu_ratio={:.3} aiohttp_ratio={aiohttp} httpx_ratio={httpx} hyper_rps={hyper} rounds={ROUNDS}",
                median(&mut r_rps),
                median(&mut ratio),
                median(&mut cpu),
            );
        }
    }
    if part("new") {
        let url = format!("https://localhost:{}/hello.json", nginx.tls);
        let (mut o_rps, mut r_rps, mut ratio, mut cpu) = (vec![], vec![], vec![], vec![]);
        for round in 0..ROUNDS {
            let (o, r) = if round % 2 == 0 {
                let o = child(&arg("ours", &url, 16, true));
                (o, child(&arg("reqwest", &url, 16, true)))
            } else {
                let r = child(&arg("reqwest", &url, 16, true));
                (child(&arg("ours", &url, 16, true)), r)
            };
            o_rps.push(o.rps());
            r_rps.push(r.rps());
            ratio.push(o.rps() / r.rps());
            cpu.push(o.cpu_per_request() / r.cpu_per_request());
        }
        println!(
            "BENCH name=client_tls_new_conn_c16 ours_rps={:.0} reqwest_rps={:.0} rps_ratio={:.3} cpu_ratio={:.3} rounds={ROUNDS}",
            median(&mut o_rps),
            median(&mut r_rps),
            median(&mut ratio),
            median(&mut cpu)
        );
    }
    if part("idle") {
        for (scheme, url) in [
            (
                "plain",
                format!("http://127.0.0.1:{}/hello.json", nginx.plain),
            ),
            ("tls", format!("https://localhost:{}/hello.json", nginx.tls)),
        ] {
            let o = child(&arg("ours-idle", &url, IDLE_CONNS, false));
            let r = child(&arg("reqwest-idle", &url, IDLE_CONNS, false));
            println!(
                "BENCH name=client_idle_conn_bytes scheme={scheme} conns={IDLE_CONNS} ours={:.0} reqwest={:.0}",
                o.requests, r.requests
            );
        }
    }
    drop(nginx);
    let _ = std::fs::remove_dir_all(std::path::Path::new(&ca).parent().unwrap());
}
