//! `yieldfrom::http::client` against servers nobody here wrote (Python's
//! `http.server`, plain and over `ssl`: `tests/python/http_zoo.py`, whose
//! routes misbehave on purpose) and against yieldfrom's own server. Every
//! test asserts outcomes (what came, which error, which phase), not times;
//! the few limits set here are short so that a run stays short.

mod common;

use std::cell::Cell;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

use yieldfrom::http::client::{Client, ClientConfig, ErrorKind, Phase, Timeouts};
use yieldfrom::http::{self, Response as ServerResponse, Router};
use yieldfrom::{Coro, run, spawn};

/// The zoo, on a loopback port of its own; stopped (by its pid) when dropped.
struct Zoo {
    child: Child,
    port: u16,
}

impl Zoo {
    fn start(tls: Option<(&std::path::Path, &std::path::Path)>) -> Option<Zoo> {
        let found = Command::new("python3").arg("--version").output().is_ok();
        if !common::installed("python3", found) {
            return None;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/http_zoo.py");
        let mut command = Command::new("python3");
        command.args([script, "0"]);
        if let Some((cert, key)) = tls {
            command.arg("--tls").arg(cert).arg(key);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the zoo prints its port");
        Some(Zoo { child, port })
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Zoo {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the child this test started, by its pid (not
        // reaped yet: only this drop waits for it).
        unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// Short limits, so that the tests of timeouts end soon.
fn quick() -> ClientConfig {
    ClientConfig::default().timeouts(Timeouts {
        pool: Duration::from_millis(300),
        head: Duration::from_millis(300),
        body_idle: Duration::from_millis(300),
        ..Timeouts::default()
    })
}

#[test]
fn json_query_headers_and_keep_alive_against_our_own_server() {
    run(Coro::new("main", || {
        let router = Router::new()
            .get("/users", |req| {
                ServerResponse::json(&serde_json::json!({
                    "query": req.query(),
                    "key": req.header("x-api-key"),
                }))
            })
            .post("/echo", |req| match req.json() {
                Ok(v) => ServerResponse::json(&v),
                Err(e) => ServerResponse::text(e.to_string()).with_status(e.status()),
            });
        let server = http::serve("127.0.0.1:0", router).unwrap();
        let base = format!("http://{}", server.local_addr());
        let client = Client::new();
        for _ in 0..3 {
            let got = client
                .get(&format!("{base}/users"))
                .unwrap()
                .query(&[("name", "Ada Lovelace"), ("n", "1&2")])
                .header("X-Api-Key", "k1")
                .unwrap()
                .send()
                .unwrap()
                .json()
                .unwrap();
            assert_eq!(got["query"], "name=Ada%20Lovelace&n=1%262");
            assert_eq!(got["key"], "k1");
        }
        // Three requests, one connection, idle in the pool now.
        let stats = client.pool_stats();
        assert_eq!((stats.open, stats.idle), (1, 1), "{stats:?}");
        let sent = serde_json::json!({"name": "Grace", "tags": ["navy", "cobol"]});
        let echoed = client
            .post(&format!("{base}/echo"))
            .unwrap()
            .json(&sent)
            .send()
            .unwrap();
        assert_eq!(echoed.status(), 200);
        assert_eq!(echoed.json().unwrap(), sent);
        // A header that would smuggle a second one is refused before sending.
        let e = client
            .get(&base)
            .unwrap()
            .header("X-A", "1\r\nX-B: 2")
            .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Request(_)), "{e}");
        let e = client.get("ftp://example.com/").unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Url(_)), "{e}");
        server.shutdown(Duration::from_secs(1));
    }));
}

#[test]
fn streamed_compressed_redirected_and_status_answers_from_the_zoo() {
    let Some(zoo) = Zoo::start(None) else { return };
    let url = |p: &str| zoo.url(p);
    let (chunked, gzip, deflate) = (url("/chunked"), url("/gzip"), url("/deflate"));
    let (r303, r307, cross, looping) = (
        url("/redirect/303"),
        url("/redirect/307"),
        url("/redirect/cross"),
        url("/redirect/loop"),
    );
    let (echo, busy) = (url("/echo"), url("/status/503"));
    run(Coro::new("main", move || {
        let client = Client::new();
        // A chunked body, piece by piece as the server sends it.
        let mut response = client.get(&chunked).unwrap().send().unwrap();
        let mut pieces = Vec::new();
        while let Some(piece) = response.chunk().unwrap() {
            pieces.push(String::from_utf8(piece).unwrap());
        }
        assert_eq!(pieces.concat(), "one two three");
        assert!(pieces.len() >= 2, "{pieces:?}");
        // Compressed bodies, decoded; the header says what was sent.
        let r = client.get(&gzip).unwrap().send().unwrap();
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.text().unwrap(), "compressed ".repeat(100));
        assert_eq!(
            client
                .get(&deflate)
                .unwrap()
                .send()
                .unwrap()
                .text()
                .unwrap(),
            "deflated ".repeat(100)
        );
        // Asking for an encoding yourself: the body as sent.
        let raw = client
            .get(&gzip)
            .unwrap()
            .header("Accept-Encoding", "gzip")
            .unwrap()
            .send()
            .unwrap();
        assert_eq!(&raw.bytes().unwrap()[..2], b"\x1f\x8b");
        // 303 after a POST: a GET without the body.
        let r = client.post(&r303).unwrap().body("data").send().unwrap();
        let seen = r.json().unwrap();
        assert_eq!(
            (seen["method"].as_str(), seen["body"].as_str()),
            (Some("GET"), Some(""))
        );
        // 307: the method and the body kept.
        let seen = client
            .post(&r307)
            .unwrap()
            .body("data")
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(
            (seen["method"].as_str(), seen["body"].as_str()),
            (Some("POST"), Some("data"))
        );
        // Credentials stay with their origin.
        let same = client
            .get(&r303)
            .unwrap()
            .bearer_auth("secret")
            .unwrap()
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(same["headers"]["authorization"], "Bearer secret");
        let elsewhere = client
            .get(&cross)
            .unwrap()
            .bearer_auth("secret")
            .unwrap()
            .send()
            .unwrap();
        assert!(elsewhere.url().to_string().starts_with("http://localhost:"));
        let seen = elsewhere.json().unwrap();
        assert!(seen["headers"].get("authorization").is_none(), "{seen}");
        // A loop ends at the limit.
        let e = client.get(&looping).unwrap().send().unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::TooManyRedirects(10)), "{e}");
        // Status errors on request.
        let r = client.get(&busy).unwrap().send().unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(r.error_for_status().unwrap_err().status(), Some(503));
        // HEAD: no body, whatever Content-Length says.
        let r = client.head(&echo).unwrap().send().unwrap();
        assert!(r.header("content-length").is_some());
        assert_eq!(r.bytes().unwrap(), b"");
        // The pool kept connections for the zoo's port and localhost's.
        assert!(client.pool_stats().idle >= 1);
    }));
}

#[test]
fn misbehaving_servers_get_errors_not_guesses() {
    let Some(zoo) = Zoo::start(None) else { return };
    let urls: Vec<String> = [
        "/close-mid-body",
        "/close-mid-chunk",
        "/cl-te",
        "/never",
        "/stall-body",
        "/huge-head",
        "/gzip-bomb",
        "/slow",
    ]
    .iter()
    .map(|p| zoo.url(p))
    .collect();
    run(Coro::new("main", move || {
        let client = Client::with_config(quick().max_body(1 << 20));
        let get = |i: usize| client.get(&urls[i]).unwrap().send().and_then(|r| r.bytes());
        // A body cut short is an error, never a short success.
        let e = get(0).unwrap_err();
        assert_eq!(e.phase(), Some(Phase::Body), "{e}");
        assert!(
            e.to_string().contains("90 bytes of the body still to come"),
            "{e}"
        );
        let e = get(1).unwrap_err();
        assert!(e.to_string().contains("chunked body"), "{e}");
        // Both framings at once: refused.
        let e = get(2).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::Protocol(w) if w.contains("both")),
            "{e}"
        );
        // No answer: the head's limit; a stalled body: the idle limit.
        let e = get(3).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::Timeout {
                    phase: Phase::Head,
                    total: false
                }
            ),
            "{e}"
        );
        let e = get(4).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::Timeout {
                    phase: Phase::Body,
                    ..
                }
            ),
            "{e}"
        );
        // A head past the limit; a decompression bomb past the body limit.
        let e = get(5).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::Protocol(w) if w.contains("larger than the limit")),
            "{e}"
        );
        let e = get(6).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::BodyTooLarge(_)), "{e}");
        // A byte at a time is slow, not wrong.
        assert_eq!(get(7).unwrap(), b"slow answer!");
        // The total limit, named as such.
        let e = client
            .get(&urls[3])
            .unwrap()
            .timeout(Duration::from_millis(100))
            .send()
            .unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::Timeout {
                    phase: Phase::Head,
                    total: true
                }
            ),
            "{e}"
        );
        // Nothing was left open: every failed connection was closed.
        assert_eq!(client.pool_stats().open, 0, "{:?}", client.pool_stats());
    }));
}

#[test]
fn a_stale_connection_is_retried_once_and_only_if_idempotent() {
    let Some(zoo) = Zoo::start(None) else { return };
    let flaky = zoo.url("/flaky");
    run(Coro::new("main", move || {
        let client = Client::new();
        // The first GET leaves its connection idle; the second goes out on
        // it, the server closes it unanswered, and the GET goes again on a
        // new connection.
        for _ in 0..3 {
            let r = client.get(&flaky).unwrap().send().unwrap();
            assert_eq!(r.text().unwrap(), "first");
        }
        // A POST is never sent twice: its first goes on a new connection
        // (a new client), its second on that one, reused, and fails.
        let client = Client::new();
        let post = || client.post(&flaky).unwrap().body("x").send();
        assert_eq!(post().unwrap().text().unwrap(), "first");
        let e = post().unwrap_err();
        assert_eq!(e.phase(), Some(Phase::Head), "{e}");
    }));
}

#[test]
fn the_pool_caps_connections_lines_requests_up_and_loses_no_slot() {
    let Some(zoo) = Zoo::start(None) else { return };
    let (slow, never, chunked, echo) = (
        zoo.url("/slow"),
        zoo.url("/never"),
        zoo.url("/chunked"),
        zoo.url("/echo"),
    );
    run(Coro::new("main", move || {
        let client = Client::with_config(ClientConfig::default().max_per_host(2));
        let most = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (client, slow, most) = (client.clone(), slow.clone(), most.clone());
                spawn(Coro::new("get", move || {
                    let r = client.get(&slow).unwrap().send().unwrap();
                    most.set(most.get().max(client.pool_stats().open));
                    r.text().unwrap()
                }))
            })
            .collect();
        for t in tasks {
            assert_eq!(t.join(), "slow answer!");
        }
        assert_eq!(most.get(), 2, "the cap held, and was used");
        // One connection per host, taken by a request that never ends:
        // the next waits its pool limit and says so.
        let one = Client::with_config(
            ClientConfig::default()
                .timeouts(Timeouts {
                    pool: Duration::from_millis(200),
                    ..Timeouts::default()
                })
                .max_per_host(1),
        );
        let stuck = {
            let (one, never) = (one.clone(), never.clone());
            spawn(Coro::new("stuck", move || {
                one.get(&never).unwrap().send().map(drop)
            }))
        };
        yieldfrom::sleep(Duration::from_millis(20));
        let e = one.get(&echo).unwrap().send().unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::Timeout {
                    phase: Phase::Pool,
                    ..
                }
            ),
            "{e}"
        );
        // Cancelling the stuck request gives its slot back at once.
        stuck.cancel();
        let _ = stuck.join_outcome();
        assert_eq!(one.pool_stats().open, 0);
        let seen = one.get(&echo).unwrap().send().unwrap().json().unwrap();
        assert_eq!(seen["served_on_this_connection"], 1);
        // A response dropped half-read closes its connection: the next
        // request is the first on a new one.
        let mut half = one.get(&chunked).unwrap().send().unwrap();
        assert!(half.chunk().unwrap().is_some());
        drop(half);
        assert_eq!(one.pool_stats().open, 0);
        let seen = one.get(&echo).unwrap().send().unwrap().json().unwrap();
        assert_eq!(seen["served_on_this_connection"], 1);
        // Read whole, it is reused.
        let seen = one.get(&echo).unwrap().send().unwrap().json().unwrap();
        assert_eq!(seen["served_on_this_connection"], 2);
    }));
}

#[test]
fn server_sent_events_arrive_one_by_one() {
    let Some(zoo) = Zoo::start(None) else { return };
    let sse = zoo.url("/sse");
    run(Coro::new("main", move || {
        let client = Client::new();
        let events: Vec<_> = client
            .get(&sse)
            .unwrap()
            .send()
            .unwrap()
            .events()
            .map(Result::unwrap)
            .collect();
        let tokens: Vec<&str> = events.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(tokens, ["The", " answer", " is", " 42"]);
        assert!(events.iter().all(|e| e.event == "token"));
        assert_eq!(events[3].id.as_deref(), Some("3"));
    }));
}

#[test]
fn an_event_is_handed_over_before_the_next_is_sent() {
    // Our own server sends one event, then waits until the client has
    // said (on another request) that it has it: a client that held events
    // back until more bytes came would wait forever, and fail on its idle
    // limit instead.
    run(Coro::new("main", || {
        let got_first = Rc::new(yieldfrom::sync::Event::new());
        let g = got_first.clone();
        let router = Router::new().get("/ack", move |_| {
            g.set();
            ServerResponse::text("ok")
        });
        let server = http::serve("127.0.0.1:0", router).unwrap();
        let addr = server.local_addr();
        // The stream itself: a raw socket, so that its pacing is ours.
        let listener = yieldfrom::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream_addr = listener.local_addr().unwrap();
        let gate = got_first.clone();
        spawn(Coro::new("event source", move || {
            let (s, _) = listener.accept().unwrap();
            let mut req = [0u8; 1024];
            let _ = s.read(&mut req).unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
            s.write_all(b"d\r\ndata: first\n\n\r\n").unwrap();
            gate.wait();
            s.write_all(b"e\r\ndata: second\n\n\r\n0\r\n\r\n").unwrap();
        }));
        let client = Client::with_config(quick());
        let mut events = client
            .get(&format!("http://{stream_addr}/"))
            .unwrap()
            .send()
            .unwrap()
            .events();
        assert_eq!(events.next().unwrap().unwrap().data, "first");
        client
            .get(&format!("http://{addr}/ack"))
            .unwrap()
            .send()
            .unwrap()
            .bytes()
            .unwrap();
        assert_eq!(events.next().unwrap().unwrap().data, "second");
        assert!(events.next().is_none());
        server.shutdown(Duration::from_secs(1));
    }));
}

#[test]
fn https_to_pythons_ssl_server_and_to_our_own_verified_by_our_ca() {
    let pki = common::pki::Pki::new();
    let leaf = pki.leaf("server", &["localhost", "127.0.0.1"], false);
    let Some(zoo) = Zoo::start(Some((&leaf.cert, &leaf.key))) else {
        return;
    };
    let python = format!("https://localhost:{}/echo", zoo.port);
    let ca = pki.ca();
    let (cert, key) = (leaf.cert.clone(), leaf.key.clone());
    run(Coro::new("main", move || {
        let trusting = Client::with_config(
            ClientConfig::default().tls(yieldfrom::tls::client_config_with_ca(&ca).unwrap()),
        );
        let seen = trusting
            .get(&python)
            .unwrap()
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(seen["method"], "GET");
        assert_eq!(
            seen["headers"]["host"],
            format!(
                "localhost:{}",
                python.split(':').nth(2).unwrap().split('/').next().unwrap()
            )
        );
        // Our own server over TLS, the same client.
        let config = http::Config::default().tls_pem(&cert, &key).unwrap();
        let router = Router::new().get("/hi", |_| ServerResponse::text("hi over TLS"));
        let server = http::serve_with("127.0.0.1:0", router, config).unwrap();
        let ours = format!("https://127.0.0.1:{}/hi", server.local_addr().port());
        for _ in 0..2 {
            assert_eq!(
                trusting.get(&ours).unwrap().send().unwrap().text().unwrap(),
                "hi over TLS"
            );
        }
        // The Mozilla roots do not know the test CA: refused, and said why.
        let e = Client::new().get(&ours).unwrap().send().unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::Tls(w) if w.contains("UnknownIssuer")),
            "{e}"
        );
        server.shutdown(Duration::from_secs(1));
    }));
}

#[test]
fn names_go_through_the_resolver_seam() {
    struct Fixed(std::net::SocketAddr);
    impl yieldfrom::net::Resolver for Fixed {
        fn resolve(&self, host: &str, _port: u16) -> std::io::Result<Vec<std::net::SocketAddr>> {
            assert_eq!(host, "api.test");
            Ok(vec![self.0])
        }
    }
    run(Coro::new("main", || {
        let router = Router::new().get("/host", |req| {
            ServerResponse::text(req.header("host").unwrap_or("").to_string())
        });
        let server = http::serve("127.0.0.1:0", router).unwrap();
        let addr = server.local_addr();
        let before = yieldfrom::net::set_resolver(Rc::new(Fixed(addr)));
        let host = Client::new()
            .get(&format!("http://api.test:{}/host", addr.port()))
            .unwrap()
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert_eq!(host, format!("api.test:{}", addr.port()));
        yieldfrom::net::set_resolver(before);
        server.shutdown(Duration::from_secs(1));
    }));
}

/// nginx on loopback, plain and TLS, with `keepalive_timeout 1s` (so that
/// an idle connection goes stale while the client still holds it), gzip,
/// a redirect, a static file, and the zoo behind it (`/zoo/`, unbuffered:
/// its chunked answers reach the client chunked). Stopped by its pid.
struct Nginx {
    master: Child,
    dir: std::path::PathBuf,
    plain: u16,
    tls: u16,
}

impl Nginx {
    fn start(zoo: u16, cert: &std::path::Path, key: &std::path::Path) -> Option<Nginx> {
        let found = Command::new("nginx").arg("-v").output().is_ok();
        if !common::installed("nginx", found) {
            return None;
        }
        let dir =
            std::env::temp_dir().join(format!("yieldfrom-client-nginx-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("www")).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            for d in [dir.clone(), dir.join("www")] {
                std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
            }
        }
        std::fs::write(
            dir.join("www/static.txt"),
            "served by nginx, compressed on the way. ".repeat(20),
        )
        .unwrap();
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
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_timeout 1s;
    gzip on;
    gzip_types text/plain application/json;
    gzip_min_length 64;
    server {{
        listen 127.0.0.1:{plain};
        listen 127.0.0.1:{tls} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {d}/www;
        default_type text/plain;
        location = /redirect {{ return 302 /static.txt; }}
        location /zoo/ {{
            proxy_pass http://127.0.0.1:{zoo}/;
            proxy_http_version 1.1;
            proxy_buffering off;
        }}
    }}
}}
",
            cert = cert.display(),
            key = key.display()
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let master = Command::new("nginx")
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", tls)).is_err() {
            assert!(std::time::Instant::now() < until, "nginx did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Nginx {
            master,
            dir,
            plain,
            tls,
        })
    }
}

impl Drop for Nginx {
    /// A fast shutdown (SIGTERM): the master stops its workers and exits.
    /// (A SIGKILL would leave the workers behind, orphaned.)
    fn drop(&mut self) {
        // SAFETY: kill(2) on the nginx master this test started, by its pid
        // (not reaped yet: only this drop waits for it).
        unsafe { libc::kill(self.master.id() as i32, libc::SIGTERM) };
        let _ = self.master.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn nginx_plain_and_tls_gzip_redirects_chunked_and_stale_keep_alive() {
    let pki = common::pki::Pki::new();
    let leaf = pki.leaf("nginx", &["localhost", "127.0.0.1"], false);
    let Some(zoo) = Zoo::start(None) else { return };
    let Some(nginx) = Nginx::start(zoo.port, &leaf.cert, &leaf.key) else {
        return;
    };
    let expected = "served by nginx, compressed on the way. ".repeat(20);
    let ca = pki.ca();
    let (plain, tls) = (nginx.plain, nginx.tls);
    run(Coro::new("main", move || {
        let client = Client::with_config(
            ClientConfig::default().tls(yieldfrom::tls::client_config_with_ca(&ca).unwrap()),
        );
        for base in [
            format!("http://127.0.0.1:{plain}"),
            format!("https://localhost:{tls}"),
        ] {
            // gzip on the way, decoded here.
            let r = client
                .get(&format!("{base}/static.txt"))
                .unwrap()
                .send()
                .unwrap();
            assert_eq!(r.header("content-encoding"), Some("gzip"), "{base}");
            assert_eq!(r.text().unwrap(), expected);
            // A redirect, followed on the kept connection.
            let r = client
                .get(&format!("{base}/redirect"))
                .unwrap()
                .send()
                .unwrap();
            assert!(r.url().to_string().ends_with("/static.txt"));
            assert_eq!(r.text().unwrap(), expected);
            // The zoo's chunked answer, through nginx unbuffered.
            let mut r = client
                .get(&format!("{base}/zoo/chunked"))
                .unwrap()
                .send()
                .unwrap();
            assert_eq!(r.header("transfer-encoding"), Some("chunked"));
            let mut body = Vec::new();
            while let Some(piece) = r.chunk().unwrap() {
                body.extend(piece);
            }
            assert_eq!(body, b"one two three");
            // nginx closes an idle connection after 1 s; the client keeps
            // its own for 4 s, so the next request finds it closed, and
            // goes on a new one without an error.
            let dead_before = client.pool_stats().found_dead;
            yieldfrom::sleep(Duration::from_millis(1500));
            let r = client
                .get(&format!("{base}/static.txt"))
                .unwrap()
                .send()
                .unwrap();
            assert_eq!(r.text().unwrap(), expected);
            assert!(
                client.pool_stats().found_dead > dead_before,
                "{base}: {:?}",
                client.pool_stats()
            );
        }
    }));
}
