//! Example 11 (`11_users_api`) over real sockets, with each of its three
//! backends: its own throwaway PostgreSQL cluster, the server named by
//! `DATABASE_URL`, and the in-memory table. Without PostgreSQL installed the
//! first two say so and pass, except under `CI=true`, where they fail.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Child;
use std::time::Duration;

use serde_json::{Value, json};

mod common;

/// The example, started with `args` and `env`; its first two lines (the
/// backend, the address) and the rest of its output to come.
struct Api {
    child: Child,
    backend: String,
    addr: SocketAddr,
    rest: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

fn start(args: &[&str], env: &[(&str, &str)]) -> Api {
    let (child, backend, addr, rest) = common::spawn_users_api(args, env);
    Api {
        child,
        backend,
        addr: addr.parse().unwrap(),
        rest,
    }
}

impl Drop for Api {
    /// A test that failed midway leaves no server behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on the child this test started, by its pid
            // (not reaped yet: `try_wait` just saw it running).
            unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) };
            let _ = self.child.wait();
        }
    }
}

impl Api {
    /// One request with `Connection: close`: the status and the body as JSON
    /// (a body sent as `application/json`).
    fn call(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        self.call_as(method, path, "application/json", body)
    }

    /// [`call`](Self::call) with the body sent as `content_type`.
    fn call_as(&self, method: &str, path: &str, content_type: &str, body: &str) -> (u16, Value) {
        let mut c = TcpStream::connect(self.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            c,
            "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut reply = String::new();
        c.read_to_string(&mut reply).unwrap();
        let status = reply[9..12].parse().unwrap();
        let (_, body) = reply.split_once("\r\n\r\n").unwrap();
        let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        (status, body)
    }

    /// One request whose answer is text: the status and the body.
    fn call_text(&self, method: &str, path: &str) -> (u16, String) {
        let mut c = TcpStream::connect(self.addr).unwrap();
        write!(
            c,
            "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        c.read_to_string(&mut reply).unwrap();
        let (_, body) = reply.split_once("\r\n\r\n").unwrap();
        (reply[9..12].parse().unwrap(), body.to_string())
    }

    /// SIGINT, then the goodbye line and a clean exit.
    fn stop(mut self) {
        // SAFETY: kill(2) on the child this test started, by its pid.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) },
            0
        );
        let rest: Vec<String> = self.rest.by_ref().map(|l| l.unwrap()).collect();
        assert_eq!(rest, ["stopped (0 connections cancelled)"]);
        assert!(self.child.wait().unwrap().success());
    }
}

/// Every endpoint, with valid and invalid input, against a fresh seed.
fn exercise(api: &Api) {
    assert_eq!(api.call_text("GET", "/health"), (200, "ok\n".to_string()));
    let (status, users) = api.call("GET", "/users", "");
    assert_eq!(status, 200);
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 10);
    let ids: Vec<i64> = users.iter().map(|u| u["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, (1..=10).collect::<Vec<_>>());
    assert_eq!(
        api.call("GET", "/users/2", ""),
        (
            200,
            json!({"id": 2, "name": "Grace Hopper", "email": "grace@example.com"})
        )
    );
    assert_eq!(
        api.call("GET", "/users/999", ""),
        (404, json!({"detail": "User not found"}))
    );
    assert_eq!(api.call("GET", "/users/two", "").0, 422);
    // Created, then found; the same email again is a conflict.
    let new = r#"{"name": "  Hedy Lamarr ", "email": "hedy@example.com"}"#;
    let (status, created) = api.call("POST", "/users", new);
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "Hedy Lamarr");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(api.call("GET", &format!("/users/{id}"), ""), (200, created));
    assert_eq!(api.call("POST", "/users", new).0, 409);
    // Invalid bodies: 422 naming each field; not JSON at all: 400.
    let (status, why) = api.call("POST", "/users", r#"{"name": ""}"#);
    assert_eq!(status, 422);
    assert_eq!(
        why["detail"],
        json!([
            {"loc": ["body", "name"], "msg": "must not be empty"},
            {"loc": ["body", "email"], "msg": "field required"}
        ])
    );
    let (status, why) = api.call("POST", "/users", r#"{"name": 7, "email": "x@y"}"#);
    assert_eq!(status, 422, "{why}");
    assert_eq!(api.call("POST", "/users", "[1, 2]").0, 422);
    for broken in [r#"{"name": "#, "", "null garbage"] {
        let (status, why) = api.call("POST", "/users", broken);
        assert_eq!(status, 400, "{broken:?}: {why}");
        assert!(
            why["detail"]
                .as_str()
                .unwrap()
                .starts_with("malformed JSON")
        );
    }
    // Not sent as JSON: 415, whatever the bytes.
    let (status, why) = api.call_as("POST", "/users", "text/plain", new);
    assert_eq!(status, 415, "{why}");
    // A NUL in a name is the client's fault (PostgreSQL would refuse it
    // with SQLSTATE 22021): 422, never a 5xx.
    let (status, why) = api.call(
        "POST",
        "/users",
        r#"{"name": "nul\u0000here", "email": "nul@example.com"}"#,
    );
    assert_eq!(status, 422, "{why}");
    assert_eq!(
        why["detail"][0]["msg"], "must not contain control characters",
        "{why}"
    );
    assert_eq!(
        api.call("GET", "/users", "").1.as_array().unwrap().len(),
        11
    );
    // Pages: limit and offset, checked.
    let (status, page) = api.call("GET", "/users?limit=3&offset=2", "");
    assert_eq!(status, 200);
    let ids: Vec<i64> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [3, 4, 5]);
    assert_eq!(
        api.call("GET", "/users?offset=10", "")
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    for bad in ["limit=0", "limit=1001", "limit=ten", "offset=-1"] {
        let (status, why) = api.call("GET", &format!("/users?{bad}"), "");
        assert_eq!(status, 422, "{bad}: {why}");
        assert_eq!(why["detail"][0]["loc"][0], "query", "{bad}: {why}");
    }
}

fn postgres_or_skip() -> bool {
    common::installed("postgresql", yieldfrom::pg::TempCluster::available())
}

#[test]
fn with_its_own_postgresql_cluster_which_it_stops_on_exit() {
    if !postgres_or_skip() {
        return;
    }
    let api = start(&[], &[]);
    assert!(
        api.backend.contains("a private PostgreSQL cluster"),
        "{}",
        api.backend
    );
    let pid = api.child.id();
    exercise(&api);
    api.stop();
    // Its data directory (named after its pid) is gone, and so its server.
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("yieldfrom-pg-{pid}-"))
        })
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn with_the_server_in_database_url() {
    if !postgres_or_skip() {
        return;
    }
    let pg = yieldfrom::pg::TempCluster::start().unwrap();
    let url = pg.tcp_url();
    let api = start(&[], &[("DATABASE_URL", &url)]);
    assert!(api.backend.contains("DATABASE_URL"), "{}", api.backend);
    exercise(&api);
    api.stop();
    // The table stays in that server, seeded once: a second run finds it.
    let api = start(&[], &[("DATABASE_URL", &url)]);
    assert_eq!(
        api.call("GET", "/users", "").1.as_array().unwrap().len(),
        11
    );
    api.stop();
}

#[test]
fn with_the_server_in_database_url_over_tls_verified_and_channel_bound() {
    if !postgres_or_skip() {
        return;
    }
    // A cluster that takes TCP connections over TLS only, and `app` with a
    // SCRAM password, owner of its database.
    let pki = common::pki::Pki::new();
    let leaf = pki.leaf("postgres", &["localhost"], false);
    let pg = yieldfrom::pg::TempCluster::builder()
        .tls(
            &std::fs::read_to_string(&leaf.cert).unwrap(),
            &std::fs::read_to_string(&leaf.key).unwrap(),
        )
        .hba("hostssl all app 127.0.0.1/32 scram-sha-256")
        .hba("hostssl all app ::1/128 scram-sha-256")
        .tls_only()
        .start()
        .unwrap();
    let admin = pg.config();
    let query = move |sql: &'static str| {
        let admin = admin.clone();
        yieldfrom::run(yieldfrom::Coro::new("admin", move || {
            let c = yieldfrom::pg::Client::connect(&admin).unwrap();
            let rows = c.simple_query(sql).unwrap();
            rows.iter()
                .map(|r| {
                    (0..r.columns().len())
                        .map(|i| r.get(i).map(str::to_string))
                        .collect()
                })
                .collect::<Vec<Vec<Option<String>>>>()
        }))
    };
    query("SET password_encryption = 'scram-sha-256'; CREATE ROLE app LOGIN PASSWORD 'pw'");
    query("CREATE DATABASE shop OWNER app");
    let url = format!(
        "postgres://app:pw@localhost:{}/shop?sslmode=verify-full&sslrootcert={}&channel_binding=require",
        pg.port(),
        pki.ca().display()
    );
    let api = start(&[], &[("DATABASE_URL", &url)]);
    assert!(
        api.backend
            .contains(&format!("localhost:{}, sslmode=verify-full", pg.port())),
        "{}",
        api.backend
    );
    exercise(&api);
    // The server saw the example's pool connect over TLS, and nothing else.
    let rows = query(
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) \
         FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'app'",
    );
    let (tls, plain) = (rows[0][0].as_deref(), rows[0][1].as_deref());
    assert_ne!(tls, Some("0"), "the pool's connections are open");
    assert_eq!(plain, Some("0"));
    api.stop();
}

#[test]
fn with_the_in_memory_table() {
    let api = start(&["--memory"], &[]);
    assert!(api.backend.contains("in-memory"), "{}", api.backend);
    exercise(&api);
    api.stop();
}

#[test]
fn on_two_loops_sharing_the_port_over_one_database() {
    if !postgres_or_skip() {
        return;
    }
    let api = start(&["--loops", "2"], &[]);
    assert!(api.backend.contains("PostgreSQL"), "{}", api.backend);
    exercise(&api);
    // Both loops stop on the one SIGINT.
    api.stop();
}
