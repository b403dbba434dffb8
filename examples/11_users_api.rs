//! 11 · The tutorial's FastAPI endpoint, for real: an HTTP API over
//! PostgreSQL on one loop.
//!
//! ```python
//! @app.get("/users")
//! async def get_users():
//!     users = await db.fetch_all()
//!     return users
//! ```
//!
//! Here the handler is a plain function: `pool.query(...)` waits for
//! PostgreSQL in the connection's task, and while it waits the loop serves
//! every other connection. That is the whole of "while waiting, the server
//! handles other users".
//!
//! - `GET /users`: the users as JSON, a page at a time: `?limit=` (1 to
//!   1,000, default 100) and `?offset=` (default 0), 422 for other values
//!   (a whole table serialised on the loop would hold every other
//!   connection meanwhile); `GET /health`: 200 while serving;
//! - `GET /users/{id}`: one user, 404 if there is none (422 if `id` is not
//!   a number);
//! - `POST /users` with `{"name": "...", "email": "..."}`: creates one (201);
//!   415 for a body that is not sent as `application/json`, 400 for one that
//!   is not JSON, 422 with FastAPI's kind of message for one that is not a
//!   valid user (control characters such as NUL included: refused here,
//!   before PostgreSQL would refuse them), 409 for an email already taken.
//!
//! Where the data lives: the server in `DATABASE_URL` if it is set; else a
//! private, throwaway PostgreSQL cluster if `initdb` and `postgres` are
//! installed (a temp data directory and socket, stopped on exit); else an
//! in-memory table (also with `--memory`). The first line says which. The
//! `users(id, name, email)` table is created and seeded with ten users when
//! missing.
//!
//! `cargo run --release --example 11_users_api -- --addr 127.0.0.1:8000`,
//! then `curl http://127.0.0.1:8000/users`. Ctrl-C stops it gracefully.
//! `--tls-cert FILE --tls-key FILE` (PEM) serves HTTPS.
//! `--loops N` runs N loops on N threads, each with its own listener on the
//! port (`SO_REUSEPORT`) and its own pool: one per core. `--demo` serves
//! three clients of its own at once and a few more requests, then stops
//! (the tour's run of it, and the chapter's timeline).
//!
//! Expected output (the first line depends on the machine):
//! ```text
//! backend: a private PostgreSQL cluster (throwaway: a temp directory, stopped on exit)
//! listening on http://127.0.0.1:8000
//! ```
//! and, after Ctrl-C, `stopped (0 connections cancelled)`.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use serde_json::{Value, json};
use yieldfrom::http::{self, Request, Response, Router};
use yieldfrom::net::{Signals, TcpStream};
use yieldfrom::pg::{self, Pool, TempCluster};
use yieldfrom::{Coro, run};

/// A row of the users table.
#[derive(Clone)]
struct User {
    id: i32,
    name: String,
    email: String,
}

impl User {
    fn to_json(&self) -> Value {
        json!({"id": self.id, "name": self.name, "email": self.email})
    }
}

/// Where the users are.
enum Store {
    Pg(Pool),
    Memory(RefCell<Vec<User>>),
}

/// What can go wrong with the store, as the API answers it.
enum StoreError {
    /// The email is taken (409).
    Conflict,
    /// Anything else the database said or failed with.
    Db(pg::Error),
}

impl From<pg::Error> for StoreError {
    fn from(e: pg::Error) -> StoreError {
        if e.code() == Some("23505") {
            StoreError::Conflict
        } else {
            StoreError::Db(e)
        }
    }
}

const SEED: [(&str, &str); 10] = [
    ("Ada Lovelace", "ada@example.com"),
    ("Grace Hopper", "grace@example.com"),
    ("Alan Turing", "alan@example.com"),
    ("Edsger Dijkstra", "edsger@example.com"),
    ("Barbara Liskov", "barbara@example.com"),
    ("Donald Knuth", "donald@example.com"),
    ("Margaret Hamilton", "margaret@example.com"),
    ("Ken Thompson", "ken@example.com"),
    ("Frances Allen", "frances@example.com"),
    ("John Backus", "john@example.com"),
];

fn row_to_user(row: &pg::Row) -> User {
    User {
        id: row.get("id"),
        name: row.get("name"),
        email: row.get("email"),
    }
}

impl Store {
    /// Creates and seeds the table when missing.
    fn prepare(&self) -> Result<(), pg::Error> {
        let Store::Pg(pool) = self else {
            return Ok(());
        };
        // One round trip: the table, and the seed only into an empty one.
        let values: Vec<String> = SEED
            .iter()
            .map(|(name, email)| format!("('{name}', '{email}')"))
            .collect();
        pool.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS users (
                 id serial PRIMARY KEY,
                 name text NOT NULL,
                 email text NOT NULL UNIQUE
             );
             INSERT INTO users (name, email)
                 SELECT * FROM (VALUES {}) AS seed (name, email)
                 WHERE NOT EXISTS (SELECT 1 FROM users)",
            values.join(", ")
        ))
    }

    /// A page of users in id order.
    fn page(&self, page: Page) -> Result<Vec<User>, StoreError> {
        match self {
            Store::Pg(pool) => {
                let rows = pool.query(
                    "SELECT id, name, email FROM users ORDER BY id LIMIT $1 OFFSET $2",
                    &[&page.limit, &page.offset],
                )?;
                Ok(rows.iter().map(row_to_user).collect())
            }
            Store::Memory(users) => Ok(users
                .borrow()
                .iter()
                .skip(page.offset as usize)
                .take(page.limit as usize)
                .cloned()
                .collect()),
        }
    }

    fn one(&self, id: i32) -> Result<Option<User>, StoreError> {
        match self {
            Store::Pg(pool) => {
                let row =
                    pool.query_opt("SELECT id, name, email FROM users WHERE id = $1", &[&id])?;
                Ok(row.as_ref().map(row_to_user))
            }
            Store::Memory(users) => Ok(users.borrow().iter().find(|u| u.id == id).cloned()),
        }
    }

    fn insert(&self, name: &str, email: &str) -> Result<User, StoreError> {
        match self {
            Store::Pg(pool) => {
                let row = pool.query_one(
                    "INSERT INTO users (name, email) VALUES ($1, $2) RETURNING id, name, email",
                    &[&name, &email],
                )?;
                Ok(row_to_user(&row))
            }
            Store::Memory(users) => {
                let mut users = users.borrow_mut();
                if users.iter().any(|u| u.email == email) {
                    return Err(StoreError::Conflict);
                }
                let id = users.iter().map(|u| u.id).max().unwrap_or(0) + 1;
                let user = User {
                    id,
                    name: name.into(),
                    email: email.into(),
                };
                users.push(user.clone());
                Ok(user)
            }
        }
    }
}

/// The answer to a store error: 409 for a taken email; else the http
/// module's answer to a database error (503 when the pool is overloaded or
/// the database unreachable, 4xx for a value the database refused, 500
/// otherwise: only those are the server's own failures, logged here).
fn store_error(e: StoreError) -> Response {
    match e {
        StoreError::Conflict => {
            Response::json(&json!({"detail": "a user with this email exists"})).with_status(409)
        }
        StoreError::Db(e) => {
            let response = Response::from(e.clone());
            if response.status() == 500 {
                eprintln!("users api: {e}");
            }
            response
        }
    }
}

/// A page of `GET /users`: FastAPI's `limit: int = Query(100, ge=1,
/// le=1000)` and `offset: int = Query(0, ge=0)`.
#[derive(Clone, Copy)]
struct Page {
    limit: i64,
    offset: i64,
}

impl Page {
    /// The page a request asks for, or the 422 that says what is wrong.
    fn of(req: &Request) -> Result<Page, Response> {
        let mut problems = Vec::new();
        let mut param = |name: &str, default: i64, range: std::ops::RangeInclusive<i64>| {
            let Some(text) = req.query_param(name) else {
                return default;
            };
            match text.parse::<i64>() {
                Ok(n) if range.contains(&n) => n,
                _ => {
                    problems.push(json!({
                        "loc": ["query", name],
                        "msg": format!("must be an integer from {} to {}", range.start(), range.end()),
                    }));
                    default
                }
            }
        };
        let limit = param("limit", 100, 1..=1000);
        let offset = param("offset", 0, 0..=i64::from(i32::MAX));
        if problems.is_empty() {
            Ok(Page { limit, offset })
        } else {
            Err(Response::json(&json!({ "detail": problems })).with_status(422))
        }
    }
}

/// FastAPI's 422: what is wrong with the body, field by field.
fn validate(body: &Value) -> Result<(String, String), Response> {
    let mut problems = Vec::new();
    let mut field = |name: &str, check: &dyn Fn(&str) -> Option<&'static str>| -> String {
        match body.get(name) {
            None => {
                problems.push(json!({"loc": ["body", name], "msg": "field required"}));
                String::new()
            }
            Some(Value::String(s)) if s.chars().any(char::is_control) => {
                problems.push(
                    json!({"loc": ["body", name], "msg": "must not contain control characters"}),
                );
                s.clone()
            }
            Some(Value::String(s)) => {
                if let Some(msg) = check(s) {
                    problems.push(json!({"loc": ["body", name], "msg": msg}));
                }
                s.clone()
            }
            Some(_) => {
                problems.push(json!({"loc": ["body", name], "msg": "must be a string"}));
                String::new()
            }
        }
    };
    let name = field("name", &|s| match s.trim().len() {
        0 => Some("must not be empty"),
        101.. => Some("at most 100 characters"),
        _ => None,
    });
    let email = field("email", &|s| {
        let ok = s.len() <= 254
            && s.split_once('@')
                .is_some_and(|(u, d)| !u.is_empty() && d.contains('.'));
        (!ok).then_some("not a valid email address")
    });
    if !body.is_object() {
        return Err(Response::json(
            &json!({"detail": [{"loc": ["body"], "msg": "must be a JSON object"}]}),
        )
        .with_status(422));
    }
    if problems.is_empty() {
        Ok((name.trim().to_string(), email))
    } else {
        Err(Response::json(&json!({ "detail": problems })).with_status(422))
    }
}

fn router(store: Rc<Store>) -> Router {
    let (s1, s2, s3) = (store.clone(), store.clone(), store);
    Router::new()
        // For a load balancer's health check: 200 while this process serves.
        .get("/health", |_| Response::text("ok\n"))
        .get("/users", move |req| {
            let page = match Page::of(req) {
                Ok(page) => page,
                Err(response) => return response,
            };
            match s1.page(page) {
                Ok(users) => {
                    Response::json(&Value::Array(users.iter().map(User::to_json).collect()))
                }
                Err(e) => store_error(e),
            }
        })
        .get("/users/{id}", move |req| {
            let Some(id) = req.param("id").and_then(|id| id.parse::<i32>().ok()) else {
                return Response::json(
                    &json!({"detail": [{"loc": ["path", "id"], "msg": "must be an integer"}]}),
                )
                .with_status(422);
            };
            match s2.one(id) {
                Ok(Some(user)) => Response::json(&user.to_json()),
                Ok(None) => Response::json(&json!({"detail": "User not found"})).with_status(404),
                Err(e) => store_error(e),
            }
        })
        .post("/users", move |req: &Request| {
            // 415 unless sent as JSON, 400 unless it is JSON.
            let body = match req.json() {
                Ok(body) => body,
                Err(e) => return Response::from(e),
            };
            let (name, email) = match validate(&body) {
                Ok(user) => user,
                Err(response) => return response,
            };
            match s3.insert(&name, &email) {
                Ok(user) => Response::json(&user.to_json()).with_status(201),
                Err(e) => store_error(e),
            }
        })
}

/// Where the data lives, as a description every loop can open its own
/// store from (a pool is a loop's own: its sockets belong to that loop).
enum Backend {
    Postgres(Box<pg::Config>),
    Memory,
}

impl Backend {
    /// This loop's store.
    fn open(&self) -> Store {
        match self {
            Backend::Postgres(config) => Store::Pg(Pool::new((**config).clone())),
            Backend::Memory => {
                let users = SEED
                    .iter()
                    .zip(1..)
                    .map(|((name, email), id)| User {
                        id,
                        name: name.to_string(),
                        email: email.to_string(),
                    })
                    .collect();
                Store::Memory(RefCell::new(users))
            }
        }
    }
}

/// The backend this machine offers, the cluster behind it if we started
/// one, and the line that says which.
fn open_backend(memory: bool) -> (Backend, Option<TempCluster>, String) {
    if memory {
        return (
            Backend::Memory,
            None,
            "backend: an in-memory table (--memory)".into(),
        );
    }
    if let Some(config) = pg::Config::from_env() {
        let config = config.unwrap_or_else(|e| {
            eprintln!("DATABASE_URL: {e}");
            std::process::exit(2);
        });
        let line = format!(
            "backend: PostgreSQL from DATABASE_URL ({})",
            describe(&config)
        );
        return (Backend::Postgres(Box::new(config)), None, line);
    }
    if TempCluster::available() {
        match TempCluster::start() {
            Ok(cluster) => {
                let line = "backend: a private PostgreSQL cluster (throwaway: a temp directory, stopped on exit)".to_string();
                return (
                    Backend::Postgres(Box::new(cluster.config())),
                    Some(cluster),
                    line,
                );
            }
            Err(e) => eprintln!("could not start a private PostgreSQL cluster: {e}"),
        }
    }
    let line = "backend: an in-memory table (no DATABASE_URL, and PostgreSQL is not installed)";
    (Backend::Memory, None, line.into())
}

fn describe(config: &pg::Config) -> String {
    match config.get_host() {
        pg::Host::Tcp(host) => format!(
            "{host}:{}, sslmode={}",
            config.get_port(),
            config.get_ssl_mode().as_str()
        ),
        pg::Host::Unix(dir) => format!("{}, port {}", dir.display(), config.get_port()),
    }
}

#[allow(dead_code)] // the tour includes this file for `demo` only
pub fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--demo") {
        // The tour's run: three clients at once, then a few more requests.
        return demo();
    }
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|at| args.get(at + 1))
            .cloned()
    };
    let addr = flag("--addr").unwrap_or_else(|| "127.0.0.1:8000".to_string());
    let loops: usize = match flag("--loops").map(|n| n.parse()) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => {
            eprintln!("--loops takes a number of loops, 1 or more");
            std::process::exit(2);
        }
    };
    let memory = args.iter().any(|a| a == "--memory");
    // HTTPS with --tls-cert FILE --tls-key FILE (PEM), checked before
    // anything starts.
    let tls = match (flag("--tls-cert"), flag("--tls-key")) {
        (None, None) => None,
        (Some(cert), Some(key)) => {
            match yieldfrom::tls::server_config_from_pem(&cert, &key, &[b"http/1.1"]) {
                Ok(config) => Some(config),
                Err(e) => {
                    eprintln!("cannot use {cert} and {key}: {e}");
                    std::process::exit(2);
                }
            }
        }
        _ => {
            eprintln!("--tls-cert and --tls-key go together");
            std::process::exit(2);
        }
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    // The cluster (if any) is started before the loops and stopped after
    // them, on this thread.
    let (backend, cluster, mut line) = open_backend(memory);
    if loops > 1 && matches!(backend, Backend::Memory) {
        line.push_str(" (one per loop: they do not share writes)");
    }
    println!("{line}");
    // One port for every loop: reserved, then each loop binds it with
    // SO_REUSEPORT (a single loop binds it the same way).
    let port = yieldfrom::net::reserve_port(addr.as_str()).unwrap_or_else(|e| {
        eprintln!("cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    let addr = port.addr();
    // The table, once, before the loops start (two loops creating it at
    // once would race in PostgreSQL's catalog).
    if let Err(e) = run(Coro::new("setup", {
        let store = backend.open();
        move || store.prepare()
    })) {
        eprintln!("cannot set up the users table: {e}");
        std::process::exit(1);
    }
    let backend = Arc::new(backend);
    let bound = Arc::new(Barrier::new(loops));
    let cancelled = yieldfrom::run_loops(loops, move |_| {
        let (backend, bound, tls) = (backend.clone(), bound.clone(), tls.clone());
        Coro::new("main", move || {
            let signals = Signals::new(&[libc::SIGINT, libc::SIGTERM]).expect("signal handlers");
            let store = backend.open();
            let mut config = http::Config::default().reuse_port(true);
            if let Some(tls) = &tls {
                config = config.tls(tls.clone());
            }
            let server =
                http::serve_with(addr, router(Rc::new(store)), config).unwrap_or_else(|e| {
                    eprintln!("cannot listen on {addr}: {e}");
                    std::process::exit(1);
                });
            // Every loop's listener is up before the address is announced.
            if bound.wait().is_leader() {
                let more = if loops > 1 {
                    format!(" ({loops} loops)")
                } else {
                    String::new()
                };
                println!("listening on {scheme}://{}{more}", server.local_addr());
            }
            let _ = signals.recv();
            server.shutdown(Duration::from_secs(5))
        })
    });
    drop(port);
    println!(
        "stopped ({} connections cancelled)",
        cancelled.iter().sum::<usize>()
    );
    drop(cluster);
}

/// One request with `Connection: close`; the status and the body.
fn fetch(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let stream = TcpStream::connect(addr).expect("the server is up");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: demo\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("sent");
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
        }
    }
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let status = reply.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = reply
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// The tour's short form: the API on a free port, three clients at once,
/// then a few requests one by one, each printed; then stop.
#[allow(dead_code)]
pub fn demo() {
    let (backend, cluster, line) = open_backend(false);
    println!("{line}");
    run(Coro::new("main", move || {
        let store = backend.open();
        store.prepare().expect("the users table is set up");
        let server = http::serve("127.0.0.1:0", router(Rc::new(store))).expect("a free port");
        let addr = server.local_addr();
        println!(
            "three clients at once (each request waits on the database; the loop serves the others):"
        );
        let replies = yieldfrom::combinators::gather(
            (0..3).map(|_| Coro::new("client", move || fetch(addr, "GET", "/users", ""))),
        );
        for (status, body) in replies {
            let n = serde_json::from_str::<Value>(&body)
                .map_or(0, |v| v.as_array().map_or(0, Vec::len));
            println!("  GET /users → {status}, {n} users");
        }
        for (method, path, body) in [
            ("GET", "/users/1", ""),
            ("GET", "/users/999", ""),
            (
                "POST",
                "/users",
                r#"{"name": "Hedy Lamarr", "email": "hedy@example.com"}"#,
            ),
            ("POST", "/users", r#"{"name": "", "email": "nope"}"#),
            ("POST", "/users", r#"{"name": "broken"#),
        ] {
            let (status, reply) = fetch(addr, method, path, body);
            let shown = if body.is_empty() {
                String::new()
            } else {
                format!(" {body}")
            };
            println!("{method} {path}{shown} → {status} {reply}");
        }
        server.shutdown(Duration::from_secs(1));
    }));
    drop(cluster);
}
