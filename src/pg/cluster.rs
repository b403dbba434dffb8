//! [`TempCluster`]: a private, throwaway PostgreSQL server (a fresh data
//! directory in the temp directory, a Unix socket there, a loopback port),
//! for tests and for example 11 when no `DATABASE_URL` is given.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::config::Config;

/// The superuser `initdb` creates (logs in by trust, locally).
pub const SUPERUSER: &str = "yieldfrom";

/// A PostgreSQL server of our own, stopped and deleted when dropped.
///
/// Starting it blocks (initdb, then the server's start, a second or two):
/// call it before the loop runs, or in [`to_thread`](crate::to_thread).
/// The server is also stopped if the thread that started it exits (so a
/// killed test run leaves no server behind): keep a cluster on the thread
/// that started it.
/// PostgreSQL refuses to run as root; started as root, it runs as the
/// `postgres` user if there is one, else as `nobody`.
pub struct TempCluster {
    /// Where the PostgreSQL binaries are (`initdb`, `postgres`).
    bin: PathBuf,
    /// The data directory, removed when the cluster is dropped.
    dir: PathBuf,
    /// The port it listens on (loopback only).
    port: u16,
    /// The user and group it runs as, when started as root (PostgreSQL refuses root).
    owner: Option<(u32, u32)>,
    /// The server process, stopped on drop.
    server: Option<Child>,
}

impl TempCluster {
    /// Whether `initdb` and `postgres` can be found (on `PATH`, or under
    /// `/usr/lib/postgresql/<version>/bin`).
    pub fn available() -> bool {
        find_bin().is_some()
    }

    /// Creates and starts a cluster whose `pg_hba.conf` is the default:
    /// trust, for local and loopback connections.
    pub fn start() -> io::Result<TempCluster> {
        TempCluster::start_with_hba(&[])
    }

    /// As [`start`](Self::start), with `hba` lines (`host all md5user
    /// 127.0.0.1/32 md5`) placed before the trusting defaults, so that
    /// they take precedence.
    pub fn start_with_hba(hba: &[&str]) -> io::Result<TempCluster> {
        let mut builder = TempCluster::builder();
        for line in hba {
            builder = builder.hba(line);
        }
        builder.start()
    }

    /// A cluster with more settings: `pg_hba.conf` lines, TLS.
    ///
    /// ```no_run
    /// # let (cert_pem, key_pem) = (String::new(), String::new());
    /// use yieldfrom::pg::TempCluster;
    /// // TLS only, SCRAM for `app` (the superuser still logs in over the Unix socket).
    /// let cluster = TempCluster::builder()
    ///     .tls(&cert_pem, &key_pem)
    ///     .hba("hostssl all app 127.0.0.1/32 scram-sha-256")
    ///     .tls_only()
    ///     .start()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    fn start_from(builder: ClusterBuilder) -> io::Result<TempCluster> {
        let bin = find_bin().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "initdb/postgres not found (apt-get install -y postgresql)",
            )
        })?;
        let owner = unprivileged_owner()?;
        let dir = create_fresh_dir(|| {
            std::env::temp_dir().join(format!("yieldfrom-pg-{}-{}", std::process::id(), unique()))
        })?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
        }
        let mut cluster = TempCluster {
            bin,
            port: free_port()?,
            dir,
            owner,
            server: None,
        };
        cluster.initdb(&builder)?;
        cluster.start_server()?;
        Ok(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.owner {
            c.uid(uid).gid(gid);
        }
        use std::os::unix::process::CommandExt;
        c.current_dir(&self.dir);
        c
    }

    fn initdb(&self, builder: &ClusterBuilder) -> io::Result<()> {
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(self.data())
            .args([
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data().join("postgresql.conf"))?;
        writeln!(
            conf,
            "\n# yieldfrom's throwaway cluster\nlisten_addresses = '127.0.0.1'\nport = {}\n\
             unix_socket_directories = '{}'\nmax_connections = 200\nfsync = off\n\
             synchronous_commit = off\nfull_page_writes = off\n",
            self.port,
            self.dir.display()
        )?;
        if let Some((cert, key)) = &builder.tls {
            // The server reads them as its own user; the key must be 0600.
            for (name, pem, mode) in [("server.crt", cert, 0o644), ("server.key", key, 0o600)] {
                let path = self.data().join(name);
                std::fs::write(&path, pem)?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
                if let Some((uid, gid)) = self.owner {
                    std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
                }
            }
            writeln!(
                conf,
                "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'"
            )?;
        }
        let host = if builder.tls_only { "hostssl" } else { "host" };
        let mut lines: Vec<String> = builder.hba.clone();
        lines.push("local all all trust".into());
        lines.push(format!("{host} all all 127.0.0.1/32 trust"));
        lines.push(format!("{host} all all ::1/128 trust"));
        std::fs::write(self.data().join("pg_hba.conf"), lines.join("\n") + "\n")?;
        Ok(())
    }

    fn start_server(&mut self) -> io::Result<()> {
        let log = std::fs::File::create(self.dir.join("server.log"))?;
        let mut command = self.command("postgres");
        {
            use std::os::unix::process::CommandExt;
            // If the thread that started us dies (a test binary killed at
            // its timeout), the server goes too, rather than outliving
            // everyone who knew its pid.
            let die_with_parent = || {
                // SAFETY: PR_SET_PDEATHSIG takes a signal number and changes
                // only this (child) process's death signal.
                unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) };
                Ok(())
            };
            // SAFETY: the hook runs in the forked child before exec and
            // calls only prctl(2), which is async-signal-safe, allocates
            // nothing and touches no lock.
            unsafe { command.pre_exec(die_with_parent) };
        }
        let child = command
            .arg("-D")
            .arg(self.data())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.server = Some(child);
        self.wait_ready()
    }

    /// Waits until the postmaster says "ready" in its pid file.
    fn wait_ready(&mut self) -> io::Result<()> {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = &mut self.server
                && let Some(status) = child.try_wait()?
            {
                self.server = None;
                return Err(io::Error::other(format!(
                    "postgres exited ({status}) at start: {}",
                    self.log_tail()
                )));
            }
            let pid_file = std::fs::read_to_string(self.data().join("postmaster.pid"));
            if pid_file.is_ok_and(|s| s.lines().nth(7).is_some_and(|l| l.trim() == "ready")) {
                return Ok(());
            }
            if Instant::now() > until {
                return Err(io::Error::other(format!(
                    "postgres did not become ready in 60 s: {}",
                    self.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }

    /// The loopback TCP port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of its Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The superuser over the Unix socket, database `postgres`.
    pub fn config(&self) -> Config {
        Config::new()
            .user(SUPERUSER)
            .host(&self.dir.to_string_lossy())
            .port(self.port)
            .dbname("postgres")
    }

    /// The superuser over loopback TCP, database `postgres`.
    pub fn tcp_config(&self) -> Config {
        Config::new()
            .user(SUPERUSER)
            .host("127.0.0.1")
            .port(self.port)
            .dbname("postgres")
    }

    /// [`tcp_config`](Self::tcp_config) as a URL, for `DATABASE_URL`:
    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn tcp_url(&self) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/postgres", self.port)
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().map(Child::id)
    }

    /// Kills the server at once, as a crash would (`SIGQUIT`: every
    /// backend exits without cleanup; connections see a reset).
    pub fn kill(&mut self) {
        self.signal_and_wait(libc::SIGQUIT);
    }

    /// Stops the server (`SIGINT`: a fast shutdown).
    pub fn stop(&mut self) {
        self.signal_and_wait(libc::SIGINT);
    }

    /// Starts the server again after [`stop`](Self::stop) or
    /// [`kill`](Self::kill), on the same port and socket.
    pub fn restart(&mut self) -> io::Result<()> {
        if self.server.is_none() {
            self.start_server()?;
        }
        Ok(())
    }

    fn signal_and_wait(&mut self, signal: libc::c_int) {
        if let Some(mut child) = self.server.take() {
            // SAFETY: kill(2) on the server this cluster started, by its
            // pid; the child is not reaped yet, so the pid is still its.
            unsafe { libc::kill(child.id() as libc::pid_t, signal) };
            let _ = child.wait();
        }
    }
}

/// Settings for a [`TempCluster`] (from [`TempCluster::builder`]).
#[derive(Clone, Debug, Default)]
pub struct ClusterBuilder {
    /// Extra `pg_hba.conf` lines, before the defaults.
    hba: Vec<String>,
    /// A certificate and key (PEM) to serve TLS with.
    tls: Option<(String, String)>,
    /// Refuse connections without TLS (`hostssl` lines only).
    tls_only: bool,
}

impl ClusterBuilder {
    /// A `pg_hba.conf` line, placed before the trusting defaults (local
    /// and loopback), so that it takes precedence; lines keep their order.
    pub fn hba(mut self, line: &str) -> ClusterBuilder {
        self.hba.push(line.into());
        self
    }

    /// TLS on (`ssl = on`), with this certificate chain and key (PEM).
    pub fn tls(mut self, cert_pem: &str, key_pem: &str) -> ClusterBuilder {
        self.tls = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// The trusting loopback defaults as `hostssl` lines: a TCP connection
    /// without TLS matches no line and is refused (the Unix socket still
    /// trusts everyone).
    pub fn tls_only(mut self) -> ClusterBuilder {
        self.tls_only = true;
        self
    }

    /// Creates and starts the cluster.
    pub fn start(self) -> io::Result<TempCluster> {
        TempCluster::start_from(self)
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl std::fmt::Debug for TempCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempCluster")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .field("pid", &self.pid())
            .finish()
    }
}

/// The directory holding `initdb` and `postgres`.
fn find_bin() -> Option<PathBuf> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            if has_both(&d) {
                // A symlink farm (/usr/local/bin): resolve to the real one.
                let real = std::fs::canonicalize(d.join("initdb")).ok()?;
                return real.parent().map(Path::to_path_buf);
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|d| has_both(d))
        .collect();
    versions.sort_by_key(|d| {
        let v = d
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned());
        v.and_then(|v| v.parse::<u32>().ok()).unwrap_or(0)
    });
    versions.pop()
}

/// The user to run PostgreSQL as when we are root: `postgres`, else `nobody`.
fn unprivileged_owner() -> io::Result<Option<(u32, u32)>> {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    for name in [c"postgres", c"nobody"] {
        // SAFETY: `passwd` is plain C data (integers and pointers), for
        // which all zeroes is a valid value.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut strings = vec![0 as libc::c_char; 4096];
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: getpwnam_r(3), the thread-safe lookup: a NUL-terminated
        // name, a record and a buffer of `strings.len()` bytes for it to
        // fill, and where to say whether it found one; all live across
        // the call, and nothing else holds them.
        let rc = unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                &mut pwd,
                strings.as_mut_ptr(),
                strings.len(),
                &mut found,
            )
        };
        if rc == 0 && !found.is_null() {
            return Ok(Some((pwd.pw_uid, pwd.pw_gid)));
        }
    }
    Err(io::Error::other(
        "running as root and no 'postgres' or 'nobody' user to run PostgreSQL as",
    ))
}

/// A loopback port nobody listens on now.
fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Creates the first directory `name` gives that does not exist yet (as
/// `mkdtemp` does): an earlier process with the same pid may have left its
/// directory behind (killed before it could remove it), and the name is then
/// taken.
fn create_fresh_dir(mut name: impl FnMut() -> PathBuf) -> io::Result<PathBuf> {
    let mut last = None;
    for _ in 0..1000 {
        let dir = name();
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no name for a fresh directory")))
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_left_behind_is_skipped_not_reused() {
        let base = std::env::temp_dir().join(format!("yieldfrom-fresh-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("0")).unwrap();
        std::fs::create_dir_all(base.join("1")).unwrap();
        let mut n = 0;
        let dir = create_fresh_dir(|| {
            n += 1;
            base.join((n - 1).to_string())
        })
        .unwrap();
        assert_eq!(dir, base.join("2"));
        let _ = std::fs::remove_dir_all(&base);
    }
}
