//! Throwaway local PostgreSQL clusters (and pgbouncer) on loopback, from the system's own
//! binaries, for tests, benches and demos. As root, the servers run as the unprivileged
//! `postgres` user (initdb refuses root). Everything lives in a temporary directory that is
//! removed, with the processes, on drop; [`LocalPostgres::start_persistent`] instead keeps a
//! cluster in a directory of the caller's, reused on the next start (an app's embedded
//! database).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A launcher failure, with what to install or fix.
#[derive(Debug, thiserror::Error)]
pub enum LauncherError {
    /// A PostgreSQL or pgbouncer program cannot be found.
    #[error(
        "{0} not found: install PostgreSQL server binaries (Debian: apt-get install postgresql) or set PG_BINDIR"
    )]
    NotFound(String),
    /// Running as root and the unprivileged user does not exist.
    #[error(
        "running as root needs an unprivileged user to run PostgreSQL: create `{0}` (useradd {0}) or set CLIP_PG_USER"
    )]
    NoUser(String),
    /// A command failed.
    #[error("{command} failed: {output}")]
    Command {
        /// What ran.
        command: String,
        /// What it printed.
        output: String,
    },
    /// The server did not accept connections in time.
    #[error("{what} did not accept connections within {waited:?}; its log:\n{log}")]
    NotReady {
        /// Which server.
        what: String,
        /// How long we waited.
        waited: Duration,
        /// The end of its log.
        log: String,
    },
    /// File system or process error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn command_error(command: impl Into<String>, e: tokio_postgres::Error) -> LauncherError {
    LauncherError::Command {
        command: command.into(),
        output: e
            .as_db_error()
            .map_or_else(|| e.to_string(), |db| db.message().to_owned()),
    }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> LauncherError {
    let context = context.into();
    move |source| LauncherError::Io { context, source }
}

/// The user and password every launched cluster accepts (over TCP, SCRAM).
pub const USER: &str = "clip";
/// See [`USER`].
pub const PASSWORD: &str = "clip-secret";

/// Server TLS material for [`LocalPostgres::start_with`].
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// PEM certificate chain of the server.
    pub cert: PathBuf,
    /// PEM private key of the server.
    pub key: PathBuf,
}

/// Options of a launched cluster.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Serve TLS with this certificate (plain connections still accepted).
    pub tls: Option<ServerTls>,
    /// Extra `postgresql.conf` lines.
    pub extra_conf: Vec<String>,
}

/// Where a cluster's files live.
enum Home {
    /// Removed, with the server, on drop.
    Temporary(tempfile::TempDir),
    /// Kept on drop; the server is stopped cleanly.
    Kept(PathBuf),
}

impl Home {
    fn path(&self) -> &Path {
        match self {
            Home::Temporary(dir) => dir.path(),
            Home::Kept(dir) => dir,
        }
    }
}

/// A running (or stopped) local PostgreSQL cluster: throwaway, or kept in a directory.
pub struct LocalPostgres {
    dir: Home,
    data: PathBuf,
    port: u16,
    bindir: PathBuf,
    owner: Option<(u32, u32)>,
    child: Option<Child>,
    /// Certificates installed so far by [`LocalPostgres::set_tls`] (each under its own name,
    /// so a reload is seen to have happened).
    installed_certs: u32,
}

/// The server's `pg_hba.conf`: SCRAM for every connection over loopback and the socket;
/// with `tls_only`, plain TCP connections are rejected first.
fn hba(tls_only: bool) -> String {
    let reject = if tls_only {
        "hostnossl all all 127.0.0.1/32 reject\n"
    } else {
        ""
    };
    format!(
        "local all all scram-sha-256\n{reject}host all all 127.0.0.1/32 scram-sha-256\n\
         host replication all 127.0.0.1/32 scram-sha-256\n"
    )
}

impl std::fmt::Debug for LocalPostgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalPostgres")
            .field("port", &self.port)
            .field("data", &self.data)
            .finish()
    }
}

impl LocalPostgres {
    /// initdb + start on a free loopback port.
    pub async fn start() -> Result<Self, LauncherError> {
        Self::start_with(Options::default()).await
    }

    /// initdb + start with options.
    pub async fn start_with(options: Options) -> Result<Self, LauncherError> {
        let bindir = postgres_bindir()?;
        let owner = unprivileged_owner()?;
        let dir = owned_tempdir("clip-pg-", owner)?;
        let data = dir.path().join("data");
        init_cluster(
            &bindir,
            dir.path(),
            &data,
            owner,
            &options,
            Durability::Throwaway,
        )?;
        Self::launch(Home::Temporary(dir), data, bindir, owner).await
    }

    /// Starts a cluster whose files live in `dir` and outlive this value: `initdb` on the
    /// first start (when `dir` holds no cluster yet), the same data on every later start.
    ///
    /// Unlike [`start`](Self::start), the cluster keeps PostgreSQL's durability settings
    /// (fsync on) and dropping the value stops the server cleanly (fast shutdown) instead of
    /// killing it. A server that a previous owner left running (it was killed with
    /// `kill -9`, say) is stopped first. `options` apply when the cluster is created. As
    /// root, `dir` and its parents must be reachable by the unprivileged user.
    pub async fn start_persistent(
        dir: impl Into<PathBuf>,
        options: Options,
    ) -> Result<Self, LauncherError> {
        let dir = dir.into();
        let bindir = postgres_bindir()?;
        let owner = unprivileged_owner()?;
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        chown(&dir, owner)?;
        let data = dir.join("data");
        if !data.join("PG_VERSION").is_file() {
            init_cluster(&bindir, &dir, &data, owner, &options, Durability::Durable)?;
        }
        stop_orphaned_postmaster(&data).await;
        Self::launch(Home::Kept(dir), data, bindir, owner).await
    }

    /// Starts the server of an initialised cluster on a free port.
    async fn launch(
        dir: Home,
        data: PathBuf,
        bindir: PathBuf,
        owner: Option<(u32, u32)>,
    ) -> Result<Self, LauncherError> {
        let mut pg = Self {
            dir,
            data,
            port: free_port()?,
            bindir,
            owner,
            child: None,
            installed_certs: 0,
        };
        pg.restart().await?;
        Ok(pg)
    }

    /// A streaming replica of this cluster (`pg_basebackup -R`), started on its own port.
    pub async fn start_replica(&self) -> Result<Self, LauncherError> {
        let dir = owned_tempdir("clip-pg-replica-", self.owner)?;
        let data = dir.path().join("data");
        let pass = dir.path().join("pgpass");
        std::fs::write(
            &pass,
            format!("127.0.0.1:{}:*:{USER}:{PASSWORD}\n", self.port),
        )
        .map_err(io("writing pgpass"))?;
        set_mode(&pass, 0o600)?;
        chown(&pass, self.owner)?;
        run(
            Command::new(self.bindir.join("pg_basebackup"))
                .arg("-D")
                .arg(&data)
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    USER,
                    "-R",
                    "-X",
                    "stream",
                    "--no-sync",
                ])
                .env("PGPASSFILE", &pass),
            self.owner,
        )?;
        // The copied configuration names the primary's socket directory and port.
        append(
            &data.join("postgresql.conf"),
            &format!("unix_socket_directories = '{}'", dir.path().display()),
        )?;
        Self::launch(Home::Temporary(dir), data, self.bindir.clone(), self.owner).await
    }

    /// The loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://clip:…@127.0.0.1:PORT/postgres?sslmode=disable`.
    pub fn url(&self) -> String {
        self.url_with("sslmode=disable")
    }

    /// The URL with the given query string (e.g. `sslmode=verify-full&sslrootcert=...`).
    pub fn url_with(&self, query: &str) -> String {
        loopback_url(self.port, query)
    }

    /// The directory holding this cluster's files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts the server again (after [`stop`](Self::stop) or [`kill9`](Self::kill9)) on the
    /// same port and data, and waits until it accepts connections.
    pub async fn restart(&mut self) -> Result<(), LauncherError> {
        // A second postmaster would fail on the data directory's lock while the readiness
        // probe reached the first, whose handle would then be lost (and never killed).
        if self.is_running() {
            self.stop().await?;
        }
        let log_path = self.dir.path().join("postgres.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io("opening the server log"))?;
        chown(&log_path, self.owner)?;
        let err = log.try_clone().map_err(io("opening the server log"))?;
        let mut cmd = Command::new(self.bindir.join("postgres"));
        cmd.arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        as_owner(&mut cmd, self.owner);
        let child = cmd.spawn().map_err(io("starting postgres"))?;
        self.child = Some(child);
        wait_ready("postgres", self.port, &log_path, self.child.as_mut()).await
    }

    /// A clean, fast shutdown (`SIGINT`: active connections are terminated).
    pub async fn stop(&mut self) -> Result<(), LauncherError> {
        if let Some(mut child) = self.child.take() {
            signal(&[child.id()], "INT");
            let deadline = Instant::now() + CLEAN_STOP_TIMEOUT;
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            kill_cluster(&mut child);
        }
        Ok(())
    }

    /// `kill -9` of the postmaster and every backend: a crash, as when a machine dies.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_cluster(&mut child);
        }
    }

    /// Changes how the running server speaks TLS, by a configuration reload: `None` turns
    /// TLS off; `Some` serves that certificate, and with `tls_only` plain TCP connections are
    /// rejected (`hostnossl ... reject`). Returns once new connections see the change.
    pub async fn set_tls(
        &mut self,
        tls: Option<&ServerTls>,
        tls_only: bool,
    ) -> Result<(), LauncherError> {
        let mut settings = vec![("ssl", if tls.is_some() { "on" } else { "off" }.to_owned())];
        if let Some(tls) = tls {
            self.installed_certs += 1;
            for (src, setting, ext) in [
                (&tls.cert, "ssl_cert_file", "crt"),
                (&tls.key, "ssl_key_file", "key"),
            ] {
                let name = format!("server-{}.{ext}", self.installed_certs);
                let dst = self.data.join(&name);
                std::fs::copy(src, &dst).map_err(io(format!("copying {}", src.display())))?;
                set_mode(&dst, 0o600)?;
                chown(&dst, self.owner)?;
                settings.push((setting, name));
            }
        }
        std::fs::write(self.data.join("pg_hba.conf"), hba(tls_only))
            .map_err(io("writing pg_hba.conf"))?;
        let admin = self.socket_client().await?;
        for (name, value) in &settings {
            admin
                .batch_execute(&format!("ALTER SYSTEM SET {name} = '{value}'"))
                .await
                .map_err(|e| command_error(format!("ALTER SYSTEM SET {name}"), e))?;
        }
        admin
            .batch_execute("SELECT pg_reload_conf()")
            .await
            .map_err(|e| command_error("pg_reload_conf()", e))?;
        // A backend started after the postmaster reloaded sees the new values (and the new
        // certificate and pg_hba.conf with them).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let fresh = self.socket_client().await?;
            let mut current = Vec::new();
            for (name, _) in &settings {
                let shown = fresh
                    .simple_query(&format!("SHOW {name}"))
                    .await
                    .map_err(|e| command_error(format!("SHOW {name}"), e))?;
                current.push(shown.iter().find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                    _ => None,
                }));
            }
            if settings
                .iter()
                .zip(&current)
                .all(|((_, want), got)| got.as_deref() == Some(want.as_str()))
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(LauncherError::Command {
                    command: "reloading the TLS configuration".into(),
                    output: format!("wanted {settings:?}, the server shows {current:?}"),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A superuser session over the Unix socket (which `pg_hba.conf` never rejects); a
    /// persistent cluster has no socket, so `set_tls` is for throwaway clusters.
    async fn socket_client(&self) -> Result<tokio_postgres::Client, LauncherError> {
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(self.dir.path())
            .port(self.port)
            .user(USER)
            .password(PASSWORD)
            .dbname("postgres");
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| command_error("connecting over the Unix socket", e))?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// `SIGSTOP` to the postmaster and every backend: a server that stops answering (a
    /// hung host, a VM paused, a partition where the kernel still acknowledges TCP).
    pub fn pause(&mut self) {
        self.signal_cluster("STOP");
    }

    /// `SIGCONT` after [`pause`](Self::pause).
    pub fn resume(&mut self) {
        self.signal_cluster("CONT");
    }

    fn signal_cluster(&mut self, name: &str) {
        if let Some(child) = &self.child {
            let pid = child.id();
            let mut all = children_of(pid);
            all.push(pid);
            signal(&all, name);
        }
    }

    /// Whether the server process is running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        match self.dir {
            Home::Temporary(_) => self.kill9(),
            Home::Kept(_) => {
                // Drop cannot await: wait for the fast shutdown on this thread.
                if let Some(mut child) = self.child.take() {
                    signal(&[child.id()], "INT");
                    let deadline = Instant::now() + CLEAN_STOP_TIMEOUT;
                    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    kill_cluster(&mut child);
                }
            }
        }
    }
}

/// How long a fast shutdown may take before the server is killed.
const CLEAN_STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Whether a cluster may trade crash safety for speed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// Throwaway clusters: fsync off, nothing to keep after a crash.
    Throwaway,
    /// Kept clusters: PostgreSQL's defaults.
    Durable,
}

/// `initdb` into `data` and the loopback configuration. A throwaway cluster's Unix socket
/// lives in `home`; a kept one has none, since a user's directory may be longer than a
/// socket path may be (107 bytes).
fn init_cluster(
    bindir: &Path,
    home: &Path,
    data: &Path,
    owner: Option<(u32, u32)>,
    options: &Options,
    durability: Durability,
) -> Result<(), LauncherError> {
    let pwfile = home.join("pw");
    std::fs::write(&pwfile, PASSWORD).map_err(io("writing the password file"))?;
    chown(&pwfile, owner)?;
    let mut initdb = Command::new(bindir.join("initdb"));
    initdb
        .arg("-D")
        .arg(data)
        .args([
            "-U",
            USER,
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--no-instructions",
        ])
        .arg(format!("--pwfile={}", pwfile.display()));
    if durability == Durability::Throwaway {
        initdb.arg("--no-sync");
    }
    let created = run(&mut initdb, owner);
    let _ = std::fs::remove_file(&pwfile);
    created?;
    let sockets = match durability {
        Durability::Throwaway => home.display().to_string(),
        Durability::Durable => String::new(),
    };
    let mut conf = vec![
        "listen_addresses = '127.0.0.1'".to_owned(),
        format!("unix_socket_directories = '{sockets}'"),
        "max_connections = 200".into(),
        "wal_level = replica".into(),
        "max_wal_senders = 10".into(),
        "hot_standby = on".into(),
        "logging_collector = off".into(),
    ];
    if durability == Durability::Throwaway {
        conf.extend([
            "fsync = off".into(),
            "synchronous_commit = off".into(),
            "full_page_writes = off".into(),
        ]);
    }
    if let Some(tls) = &options.tls {
        for (src, name) in [(&tls.cert, "server.crt"), (&tls.key, "server.key")] {
            let dst = data.join(name);
            std::fs::copy(src, &dst).map_err(io(format!("copying {}", src.display())))?;
            set_mode(&dst, 0o600)?;
            chown(&dst, owner)?;
        }
        conf.push("ssl = on".into());
    }
    conf.extend(options.extra_conf.iter().cloned());
    append(&data.join("postgresql.conf"), &conf.join("\n"))?;
    std::fs::write(data.join("pg_hba.conf"), hba(false)).map_err(io("writing pg_hba.conf"))
}

/// Stops the postmaster that `data/postmaster.pid` names when it still runs: its owner died
/// without stopping it, and a second postmaster would be refused the data directory.
async fn stop_orphaned_postmaster(data: &Path) {
    let Some(pid) = std::fs::read_to_string(data.join("postmaster.pid"))
        .ok()
        .and_then(|text| text.lines().next()?.trim().parse::<u32>().ok())
    else {
        return;
    };
    let is_postgres = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|name| name.trim() == "postgres");
    if !is_postgres || !is_alive(pid) {
        return;
    }
    tracing::warn!(pid, data = %data.display(), "stopping a PostgreSQL server left running by a previous start");
    signal(&[pid], "INT");
    let deadline = Instant::now() + CLEAN_STOP_TIMEOUT;
    while is_alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if is_alive(pid) {
        let children = children_of(pid);
        signal(&children, "KILL");
        signal(&[pid], "KILL");
    }
}

/// A pgbouncer in front of a [`LocalPostgres`].
pub struct LocalPgbouncer {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl LocalPgbouncer {
    /// Starts pgbouncer on a free port with `pool_mode` (`transaction`, `session`) and
    /// `default_pool_size` server connections.
    pub async fn start(
        pg: &LocalPostgres,
        pool_mode: &str,
        default_pool_size: u32,
    ) -> Result<Self, LauncherError> {
        let binary = find_program("pgbouncer", &["/usr/sbin/pgbouncer"]).ok_or_else(|| {
            LauncherError::NotFound("pgbouncer (apt-get install pgbouncer)".into())
        })?;
        let dir = owned_tempdir("clip-pgbouncer-", pg.owner)?;
        let port = free_port()?;
        let ini = dir.path().join("pgbouncer.ini");
        let users = dir.path().join("userlist.txt");
        let log_path = dir.path().join("pgbouncer.log");
        std::fs::write(&users, format!("\"{USER}\" \"{PASSWORD}\"\n"))
            .map_err(io("writing userlist"))?;
        std::fs::write(
            &ini,
            format!(
                "[databases]\n* = host=127.0.0.1 port={pg_port}\n\n[pgbouncer]\n\
                 listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = scram-sha-256\nauth_file = {users}\npool_mode = {pool_mode}\n\
                 default_pool_size = {default_pool_size}\nmax_client_conn = 500\n\
                 ignore_startup_parameters = extra_float_digits,application_name\n\
                 logfile = {log}\n",
                pg_port = pg.port,
                users = users.display(),
                log = log_path.display(),
            ),
        )
        .map_err(io("writing pgbouncer.ini"))?;
        for f in [&ini, &users] {
            chown(f, pg.owner)?;
        }
        let mut cmd = Command::new(binary);
        cmd.arg(&ini)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        as_owner(&mut cmd, pg.owner);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().map_err(io("starting pgbouncer"))?;
        wait_ready("pgbouncer", port, &log_path, Some(&mut child)).await?;
        Ok(Self {
            dir,
            port,
            child: Some(child),
        })
    }

    /// The loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL through pgbouncer, with the given query string.
    pub fn url_with(&self, query: &str) -> String {
        loopback_url(self.port, query)
    }

    /// The directory holding pgbouncer's files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for LocalPgbouncer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take()
            && matches!(child.try_wait(), Ok(None))
        {
            signal_group(&child, "KILL");
            let _ = child.wait();
        }
    }
}

/// The URL of database `postgres` on a loopback port, as [`USER`], with a query string.
fn loopback_url(port: u16, query: &str) -> String {
    format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{port}/postgres?{query}")
}

/// The PostgreSQL server binaries: `$PG_BINDIR`, `pg_config --bindir`, then `initdb` on PATH.
pub fn postgres_bindir() -> Result<PathBuf, LauncherError> {
    if let Some(dir) = std::env::var_os("PG_BINDIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").is_file() && dir.join("postgres").is_file() {
            return Ok(dir);
        }
    }
    find_program("initdb", &[])
        .and_then(|p| std::fs::canonicalize(p).ok())
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .filter(|d| d.join("postgres").is_file())
        .ok_or_else(|| LauncherError::NotFound("initdb".into()))
}

fn find_program(name: &str, fallbacks: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .chain(fallbacks.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

/// When root, the uid/gid of the user that must own and run the cluster.
fn unprivileged_owner() -> Result<Option<(u32, u32)>, LauncherError> {
    let me = std::fs::metadata("/proc/self").map_err(io("reading /proc/self"))?;
    if std::os::unix::fs::MetadataExt::uid(&me) != 0 {
        return Ok(None);
    }
    let user = std::env::var("CLIP_PG_USER").unwrap_or_else(|_| "postgres".into());
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(io("reading /etc/passwd"))?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == user)
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .map(Some)
        .ok_or(LauncherError::NoUser(user))
}

fn owned_tempdir(
    prefix: &str,
    owner: Option<(u32, u32)>,
) -> Result<tempfile::TempDir, LauncherError> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(io("creating a temporary directory"))?;
    chown(dir.path(), owner)?;
    Ok(dir)
}

fn chown(path: &Path, owner: Option<(u32, u32)>) -> Result<(), LauncherError> {
    match owner {
        Some((uid, gid)) => std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(io(format!("chown {}", path.display()))),
        None => Ok(()),
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), LauncherError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io(format!("chmod {}", path.display())))
}

fn as_owner(cmd: &mut Command, owner: Option<(u32, u32)>) {
    if let Some((uid, gid)) = owner {
        std::os::unix::process::CommandExt::uid(cmd, uid);
        std::os::unix::process::CommandExt::gid(cmd, gid);
        // Root's HOME is not readable by the server's user.
        cmd.env("HOME", "/tmp");
    }
}

fn run(cmd: &mut Command, owner: Option<(u32, u32)>) -> Result<(), LauncherError> {
    as_owner(cmd, owner);
    let described = format!("{cmd:?}");
    let out = cmd.output().map_err(io(format!("running {described}")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(LauncherError::Command {
        command: described,
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    })
}

fn append(path: &Path, text: &str) -> Result<(), LauncherError> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io(format!("opening {}", path.display())))?;
    writeln!(f, "\n{text}").map_err(io(format!("writing {}", path.display())))
}

/// A port nobody listens on right now (the OS picks it).
pub fn free_port() -> Result<u16, LauncherError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(io("binding a loopback port"))?;
    Ok(l.local_addr().map_err(io("reading the bound port"))?.port())
}

fn signal_group(child: &Child, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
}

fn signal(pids: &[u32], signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .args(pids.iter().map(u32::to_string))
        .stderr(Stdio::null())
        .status();
}

/// SIGKILL to a postmaster and its children, then waits until they are gone. Every
/// backend calls `setsid()`, so signalling the postmaster's process group misses them:
/// they outlive it (a busy one until its query ends), holding the shared memory that
/// makes the next start refuse. The postmaster is stopped first so it forks no new child
/// while its children are listed.
fn kill_cluster(postmaster: &mut Child) {
    // Once reaped, its pid may belong to someone else: never signal it then. Until we reap
    // it, an exited postmaster stays a zombie and keeps its pid.
    if !matches!(postmaster.try_wait(), Ok(None)) {
        return;
    }
    let pid = postmaster.id();
    signal(&[pid], "STOP");
    let children = children_of(pid);
    signal(&children, "KILL");
    signal(&[pid], "KILL");
    let _ = postmaster.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    while children.iter().any(|&c| is_alive(c)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The processes whose parent is `parent`, from `/proc/*/stat`.
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| stat_fields(pid).is_some_and(|(_, ppid)| ppid == parent))
        .collect()
}

/// Whether a process exists and is not a zombie (a zombie holds no resources).
fn is_alive(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

/// State and parent pid of a process.
fn stat_fields(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Waits until a TCP connection to the port succeeds and the server answers a startup.
async fn wait_ready(
    what: &str,
    port: u16,
    log: &Path,
    mut child: Option<&mut Child>,
) -> Result<(), LauncherError> {
    let started = Instant::now();
    let limit = Duration::from_secs(30);
    loop {
        let url = loopback_url(port, "connect_timeout=2");
        if let Ok((client, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
            tokio::spawn(conn);
            if client.simple_query("SELECT 1").await.is_ok() {
                return Ok(());
            }
        }
        let exited = child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_some());
        if exited || started.elapsed() > limit {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            return Err(LauncherError::NotReady {
                what: what.to_owned(),
                waited: started.elapsed(),
                log: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
            });
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
