//! Helpers shared by the integration tests that run built binaries.

#[allow(dead_code)]
pub mod pki;

use std::path::PathBuf;

/// `target/<profile>/examples/<name>`, built by `cargo test`, found from the
/// test binary's own path (`target/<profile>/deps/<test>-<hash>`).
#[allow(dead_code)] // each test binary compiles this module; not all use it
pub fn example_binary(name: &str) -> PathBuf {
    let mut path = std::env::current_exe().unwrap();
    path.pop();
    path.pop();
    path.push("examples");
    path.push(name);
    path
}

/// Runs the `#[ignore]`d helper test `name` of this test binary in a child
/// process, with `child_var=1` (so the helper knows it is the child) and
/// `env`; returns its stderr and exit status.
#[allow(dead_code)] // each test binary compiles this module; not all use it
pub fn run_helper(
    name: &str,
    child_var: &str,
    env: &[(&str, &str)],
) -> (String, std::process::ExitStatus) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(child_var, "1")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status,
    )
}

/// Raises this process's soft limit on open files to `want`, or to the hard
/// limit if that is lower (`u64::MAX`: as far as allowed); returns the limit
/// now in force.
#[allow(dead_code)] // each test binary compiles this module; not all use it
pub fn raise_fd_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct it is given.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_cur = want.min(lim.rlim_max);
    // SAFETY: setrlimit reads the struct; only this process's soft limit changes.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    if want != u64::MAX {
        assert!(
            lim.rlim_cur >= want,
            "the hard limit on open files is {}",
            lim.rlim_max
        );
    }
    lim.rlim_cur
}

/// A child process that is killed if a test ends (a failed assertion
/// included) while it still runs: no server outlives its test.
#[allow(dead_code)] // each test binary compiles this module; not all use it
pub struct Running(pub std::process::Child);

impl std::ops::Deref for Running {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // SAFETY: kill(2) on a child this test started, by its pid (not
            // reaped yet: `try_wait` just saw it running).
            unsafe { libc::kill(self.0.id() as i32, libc::SIGKILL) };
            let _ = self.0.wait();
        }
    }
}

/// A long-running example started with `args`, its stdout piped: the child,
/// the lines after the first, and the first line (where it says it listens).
#[allow(dead_code)] // each test binary compiles this module; not all use it
pub fn spawn_example(
    name: &str,
    args: &[&str],
) -> (
    Running,
    std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
    String,
) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(example_binary(name))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    (Running(child), lines, first)
}

/// What [`spawn_users_api`] returns: the child, its first line (which
/// backend), its address, and the rest of its output to come.
#[allow(dead_code)] // each test binary compiles this module; not all use it
pub type UsersApi = (
    std::process::Child,
    String,
    String,
    std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
);

/// Starts example 11 on a free loopback port with `args` and `env`
/// (`DATABASE_URL` unset unless `env` sets it) and waits until it says it
/// listens.
#[allow(dead_code)] // each test binary compiles this module; not all use it
pub fn spawn_users_api(args: &[&str], env: &[(&str, &str)]) -> UsersApi {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(example_binary("11_users_api"))
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .env_remove("DATABASE_URL")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let backend = lines.next().unwrap().unwrap();
    let listening = lines.next().unwrap().unwrap();
    let addr = listening
        .strip_prefix("listening on http://")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected line: {listening}"))
        .to_string();
    (child, backend, addr, lines)
}

/// Whether a tool a test needs is here (`found`); when it is not, the test
/// says so and should pass, except under `CI=true`, where this fails it.
#[allow(dead_code)] // each test binary compiles this module; not all use it
pub fn installed(package: &str, found: bool) -> bool {
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and {package} is not installed (apt-get install -y {package})"
        );
        eprintln!("skipped: {package} is not installed");
    }
    found
}

/// A PgBouncer on loopback in front of a PostgreSQL on `127.0.0.1:pg_port`,
/// in `pool_mode` with `pool_size` server connections, stopped (by its pid)
/// and its files removed when dropped. Run as `postgres` (or `nobody`)
/// under root, which PgBouncer refuses to run as.
#[allow(dead_code)] // each test binary compiles this module; not all use it
pub struct PgBouncer {
    child: std::process::Child,
    dir: PathBuf,
    port: u16,
}

#[allow(dead_code)]
impl PgBouncer {
    /// Whether `pgbouncer` is on the PATH.
    pub fn available() -> bool {
        std::process::Command::new("pgbouncer")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    pub fn start(pg_port: u16, pool_mode: &str, pool_size: usize) -> PgBouncer {
        use std::io::Write;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir =
            std::env::temp_dir().join(format!("yieldfrom-pgbouncer-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ini = format!(
            "[databases]\n\
             postgres = host=127.0.0.1 port={pg_port} dbname=postgres user={user}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {dir}/users.txt\n\
             pool_mode = {pool_mode}\n\
             default_pool_size = {pool_size}\n\
             max_client_conn = 2000\n\
             ignore_startup_parameters = extra_float_digits,options\n\
             logfile = {dir}/pgbouncer.log\n\
             pidfile = {dir}/pgbouncer.pid\n",
            dir = dir.display(),
            user = yieldfrom::pg::SUPERUSER,
        );
        std::fs::write(dir.join("pgbouncer.ini"), ini).unwrap();
        std::fs::File::create(dir.join("users.txt"))
            .unwrap()
            .write_all(format!("\"{}\" \"\"\n", yieldfrom::pg::SUPERUSER).as_bytes())
            .unwrap();
        let mut command = std::process::Command::new("pgbouncer");
        command.arg("-q");
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            let user = ["postgres", "nobody"]
                .into_iter()
                .find(|u| {
                    std::process::Command::new("id")
                        .arg(u)
                        .output()
                        .is_ok_and(|o| o.status.success())
                })
                .expect("a 'postgres' or 'nobody' user to run PgBouncer as");
            let uid: u32 = String::from_utf8(
                std::process::Command::new("id")
                    .args(["-u", user])
                    .output()
                    .unwrap()
                    .stdout,
            )
            .unwrap()
            .trim()
            .parse()
            .unwrap();
            std::os::unix::fs::chown(&dir, Some(uid), None).unwrap();
            for f in ["pgbouncer.ini", "users.txt"] {
                std::os::unix::fs::chown(dir.join(f), Some(uid), None).unwrap();
            }
            command.args(["-u", user]);
        }
        let child = command
            .arg(dir.join("pgbouncer.ini"))
            .spawn()
            .expect("pgbouncer starts");
        let bouncer = PgBouncer { child, dir, port };
        let up = (0..500).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(
            up,
            "pgbouncer did not listen: {}",
            std::fs::read_to_string(bouncer.dir.join("pgbouncer.log")).unwrap_or_default()
        );
        bouncer
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of the `postgres` database through it, with `params`.
    pub fn url(&self, params: &str) -> String {
        format!(
            "postgres://{}@127.0.0.1:{}/postgres?{params}",
            yieldfrom::pg::SUPERUSER,
            self.port
        )
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the child this helper started, by its pid (not
        // reaped yet).
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A headless-capable Chromium on this machine, if any (CI installs
/// `chromium`).
#[allow(dead_code)] // each test binary compiles this module; not all use it
pub fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// The steps an explorer page holds, every number into its string and
/// list tables replaced by what it stands for: the text fields as strings,
/// the list fields as arrays of strings, `waiting` split into what each
/// task waits on and `sites`, one array of call sites per waiting task; `idle` and `by` are null when there were none.
#[allow(dead_code)]
pub fn explorer_steps(page: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    use serde_json::Value;
    let json = page
        .split(r#"<script id="data" type="application/json">"#)
        .nth(1)
        .and_then(|rest| rest.split("</script>").next())
        .expect("the page holds its data");
    let data: Value = serde_json::from_str(json).unwrap();
    let strings = data["strings"].as_array().unwrap();
    let lists = data["lists"].as_array().unwrap();
    let text = |v: &Value| match v.as_i64() {
        Some(i) if i >= 0 => strings[i as usize].clone(),
        _ => Value::Null,
    };
    let list = |v: &Value| -> Vec<Value> {
        lists[v.as_u64().unwrap() as usize]
            .as_array()
            .unwrap()
            .iter()
            .map(text)
            .collect()
    };
    data["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| {
            let mut step = step.as_object().unwrap().clone();
            for key in ["name", "ran", "woken", "idle", "by"] {
                step[key] = text(&step[key]);
            }
            for key in ["readied", "output", "ready", "timers", "waiting"] {
                step[key] = Value::Array(list(&step[key]));
            }
            // A waiting task's first line says what it waits on, the next
            // ones its call sites.
            let (mut waiting, mut sites) = (vec![], vec![]);
            for entry in step["waiting"].as_array().unwrap() {
                let mut lines = entry.as_str().unwrap().lines();
                waiting.push(Value::String(lines.next().unwrap_or("").to_string()));
                sites.push(Value::Array(
                    lines.map(|s| Value::String(s.to_string())).collect(),
                ));
            }
            step.insert("waiting".into(), Value::Array(waiting));
            step.insert("sites".into(), Value::Array(sites));
            step
        })
        .collect()
}
