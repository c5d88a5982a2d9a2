//! Datadir initialisation and the `mariadbd` process lifecycle.

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::{Pid, User};
use serde::{Deserialize, Serialize};

use crate::limits::{Confinement, Limits, Plan};
use crate::{rt, DbError, DbUser, IoSettings, Result, TcpAccess};

/// Longest unix socket path the kernel accepts (`sun_path` is 108 bytes with the NUL).
pub const SOCKET_PATH_MAX: usize = 107;

/// How long [`stop`] waits after SIGTERM before it sends SIGKILL.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(60);

const SOCKET_NAME: &str = "mariadbd.sock";
const PID_NAME: &str = "mariadbd.pid";
const LOG_NAME: &str = "mariadbd.err";
const POLL: Duration = Duration::from_millis(50);

/// What [`init_datadir`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitOutcome {
    /// A new datadir was made.
    Created,
    /// The directory already held a datadir; nothing was changed.
    AlreadyInitialized,
}

/// What [`stop`] / [`stop_pid_file`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// No server was running (stale pid and socket files were removed).
    NotRunning,
    /// The server shut down cleanly after SIGTERM.
    Stopped,
    /// The server ignored SIGTERM for the whole timeout and was killed; InnoDB
    /// will run crash recovery at the next start.
    Killed,
}

/// How to start one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    /// The datadir (made by [`init_datadir`], or a clone of one).
    pub datadir: PathBuf,
    /// Where the socket, pid file and error log go; created if missing.
    pub run_dir: PathBuf,
    /// TCP port; `None` picks a free one.
    pub port: Option<u16>,
    /// The address it listens on (default 127.0.0.1).
    pub bind: IpAddr,
    /// Who logs in over TCP (default: `root`, see [`TcpAccess`]).
    pub tcp: TcpAccess,
    /// System user the server runs as when we are root (`mysql`).
    pub user: String,
    /// `innodb_buffer_pool_size` (default `128M`).
    pub innodb_buffer_pool_size: String,
    /// `max_allowed_packet` (default `64M`: rows carry 64 KiB blobs).
    pub max_allowed_packet: String,
    /// InnoDB's I/O settings (default: MariaDB's own).
    pub io: IoSettings,
    /// Memory, connections and CPU share (default: none).
    pub limits: Limits,
    /// More `--option=value` arguments for `mariadbd`, appended last.
    pub extra_args: Vec<String>,
    /// How long to wait for the server to answer (default 60 s).
    pub startup_timeout: Duration,
}

impl InstanceSpec {
    /// A spec with the defaults: free port, user `mysql`, 128M buffer pool, 60 s startup.
    pub fn new(datadir: impl Into<PathBuf>, run_dir: impl Into<PathBuf>) -> Self {
        InstanceSpec {
            datadir: datadir.into(),
            run_dir: run_dir.into(),
            port: None,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            tcp: TcpAccess::Root,
            user: "mysql".to_string(),
            innodb_buffer_pool_size: "128M".to_string(),
            max_allowed_packet: "64M".to_string(),
            io: IoSettings::MARIADB_DEFAULT,
            limits: Limits::default(),
            extra_args: Vec::new(),
            startup_timeout: Duration::from_secs(60),
        }
    }
}

/// A running server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Process id of `mariadbd`.
    pub pid: u32,
    /// TCP port.
    pub port: u16,
    /// The address it listens on (records from before it was kept: 127.0.0.1).
    #[serde(default = "loopback")]
    pub bind: IpAddr,
    /// The datadir it serves.
    pub datadir: PathBuf,
    /// The run dir holding socket, pid file and log.
    pub run_dir: PathBuf,
    /// Unix socket.
    pub socket: PathBuf,
    /// Pid file (written by the server).
    pub pid_file: PathBuf,
    /// Error log.
    pub log_file: PathBuf,
    /// `mysql://root@127.0.0.1:PORT/`; with [`TcpAccess::Users`],
    /// `mysql://USER@HOST:PORT/` for its first user, without the password.
    pub url: String,
    /// The I/O settings it was started with (records written before they
    /// were kept read as MariaDB's defaults, which is what those servers ran).
    #[serde(default)]
    pub io: IoSettings,
    /// The limits it was started with.
    #[serde(default)]
    pub limits: Limits,
    /// Its cgroups, or why it has none.
    #[serde(default)]
    pub confinement: Confinement,
}

impl Instance {
    /// The connection URL over the unix socket, as `root@localhost`.
    pub fn socket_url(&self) -> String {
        socket_url(&self.socket)
    }

    /// Root's URL to database `db` over the unix socket: what Populous
    /// itself uses, whoever else may log in over TCP.
    pub fn db_url(&self, db: &str) -> String {
        socket_url(&self.socket).replacen("localhost/", &format!("localhost/{db}"), 1)
    }

    /// The last `lines` lines of the error log.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log_file, lines)
    }
}

fn loopback() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

fn socket_url(socket: &Path) -> String {
    let mut enc = String::new();
    for &b in socket.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    format!("mysql://root@localhost/?socket={enc}")
}

/// True when `dir` holds a MariaDB datadir (it has the `mysql` system schema).
pub fn is_datadir(dir: &Path) -> bool {
    dir.join("mysql").is_dir()
}

/// Refuses a port another process listens on, before anything starts: the
/// server would otherwise die at startup with the reason only in its log.
fn port_free(bind: IpAddr, port: u16) -> Result<()> {
    match std::net::TcpListener::bind((bind, port)) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(DbError::PortInUse { port }),
        Err(e) => Err(DbError::io(
            "bind the asked-for port on",
            bind.to_string(),
            e,
        )),
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| DbError::io("bind a free port on", "127.0.0.1", e))?;
    let port = l
        .local_addr()
        .map_err(|e| DbError::io("read the address of", "a bound socket", e))?
        .port();
    Ok(port)
}

fn find_program(name: &'static str) -> Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(PathBuf::from)
        .collect();
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(DbError::NotInstalled { program: name })
}

/// The user the server runs as, or `None` when we are not root (then the
/// server runs as us and nothing is chowned).
#[derive(Debug)]
struct RunAs {
    name: String,
    uid: u32,
    gid: u32,
}

fn run_as(user: &str) -> Result<Option<RunAs>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    match User::from_name(user) {
        Ok(Some(u)) => Ok(Some(RunAs {
            name: user.to_string(),
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
        })),
        _ => Err(DbError::UnknownUser {
            user: user.to_string(),
        }),
    }
}

/// Checks that `who` can enter every ancestor of `path` (the server opens the
/// datadir and run dir by path after dropping root).
fn check_traversable(path: &Path, who: &RunAs) -> Result<()> {
    for dir in path.ancestors().skip(1) {
        let Ok(md) = fs::metadata(dir) else { continue };
        let mode = md.mode();
        let bit = if md.uid() == who.uid {
            0o100
        } else if md.gid() == who.gid {
            0o010
        } else {
            0o001
        };
        if mode & bit == 0 {
            return Err(DbError::NotTraversable {
                user: who.name.clone(),
                path: path.to_path_buf(),
                blocker: dir.to_path_buf(),
            });
        }
    }
    Ok(())
}

fn chown(path: &Path, who: &RunAs) -> Result<()> {
    std::os::unix::fs::chown(path, Some(who.uid), Some(who.gid))
        .map_err(|e| DbError::io("chown", path, e))
}

fn opt(name: &str, value: impl AsRef<std::ffi::OsStr>) -> OsString {
    let mut s = OsString::from(name);
    s.push(value);
    s
}

fn tail_text(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = fs::File::open(path) else {
        return format!("({} is missing)", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    tail_text(&String::from_utf8_lossy(&buf), lines)
}

/// Gives an existing datadir to the server's user when another uid owns it
/// (e.g. a clone of a volume a container's MariaDB wrote, whose `mysql` has
/// another uid), as the container image's entrypoint does the other way.
/// Returns whether anything changed. Not root: nothing to do.
pub fn adopt_datadir(datadir: &Path, user: &str) -> Result<bool> {
    let Some(who) = run_as(user)? else {
        return Ok(false);
    };
    let md = fs::metadata(datadir).map_err(|e| DbError::io("stat", datadir, e))?;
    if md.uid() == who.uid && md.gid() == who.gid {
        return Ok(false);
    }
    tracing::info!(
        datadir = %datadir.display(),
        from = md.uid(),
        to = who.uid,
        "the datadir belongs to another uid: chown -R to the server's user"
    );
    fn walk(p: &Path, who: &RunAs) -> Result<()> {
        std::os::unix::fs::lchown(p, Some(who.uid), Some(who.gid))
            .map_err(|e| DbError::io("chown", p, e))?;
        let md = fs::symlink_metadata(p).map_err(|e| DbError::io("stat", p, e))?;
        if md.is_dir() {
            for e in fs::read_dir(p).map_err(|e| DbError::io("read", p, e))? {
                let e = e.map_err(|e| DbError::io("read", p, e))?;
                walk(&e.path(), who)?;
            }
        }
        Ok(())
    }
    walk(datadir, &who)?;
    Ok(true)
}

/// Makes `datadir` a MariaDB datadir with `mariadb-install-db`, owned by
/// `user` (when we are root). A directory that already is a datadir is left
/// alone; a non-empty directory that is not one is refused. A failed run
/// leaves the directory empty again.
pub fn init_datadir(datadir: &Path, user: &str) -> Result<InitOutcome> {
    if is_datadir(datadir) {
        return Ok(InitOutcome::AlreadyInitialized);
    }
    if datadir.exists() {
        let mut entries = fs::read_dir(datadir).map_err(|e| DbError::io("read", datadir, e))?;
        if entries.next().is_some() {
            return Err(DbError::NotADatadir {
                path: datadir.to_path_buf(),
            });
        }
    }
    let install = find_program("mariadb-install-db")?;
    find_program("mariadbd")?;
    let who = run_as(user)?;
    fs::create_dir_all(datadir).map_err(|e| DbError::io("create", datadir, e))?;
    let datadir = fs::canonicalize(datadir).map_err(|e| DbError::io("resolve", datadir, e))?;
    if let Some(who) = &who {
        check_traversable(&datadir, who)?;
        chown(&datadir, who)?;
    }
    // A private tmpdir: concurrent bootstraps sharing /tmp can trip over
    // each other's temporary tables.
    let tmpdir = private_tmpdir(who.as_ref())?;
    let mut cmd = Command::new(&install);
    cmd.arg("--no-defaults")
        .arg(opt("--datadir=", &datadir))
        .arg(opt("--tmpdir=", &tmpdir))
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        .arg("--skip-name-resolve");
    if let Some(who) = &who {
        cmd.arg(format!("--user={}", who.name));
    }
    tracing::info!(datadir = %datadir.display(), "running mariadb-install-db");
    let out = cmd.stdin(Stdio::null()).output();
    let _ = fs::remove_dir_all(&tmpdir);
    let out = out.map_err(|e| DbError::io("run", &install, e))?;
    if !out.status.success() {
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        clear_dir(&datadir);
        return Err(DbError::InstallFailed {
            datadir,
            status: out.status.to_string(),
            output: tail_text(&text, 20),
        });
    }
    Ok(InitOutcome::Created)
}

fn private_tmpdir(who: Option<&RunAs>) -> Result<PathBuf> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "populous-db-init-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir(&dir).map_err(|e| DbError::io("create", &dir, e))?;
    if let Some(who) = who {
        chown(&dir, who)?;
    }
    Ok(dir)
}

fn clear_dir(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            let _ = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
    }
}

/// `(comm, state)` of a process from `/proc/PID/stat`.
fn proc_stat(pid: u32) -> Option<(String, char)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let state = text.get(close + 1..)?.trim_start().chars().next()?;
    Some((comm, state))
}

/// True while `pid` is a live (not zombie) MariaDB server process.
fn server_alive(pid: u32) -> bool {
    // Reap it if it is our child and has exited; harmless otherwise.
    if let Ok(raw) = i32::try_from(pid) {
        let _ = waitpid(Pid::from_raw(raw), Some(WaitPidFlag::WNOHANG));
    }
    match proc_stat(pid) {
        Some((comm, state)) => {
            state != 'Z' && state != 'X' && (comm == "mariadbd" || comm == "mysqld")
        }
        None => false,
    }
}

fn read_pid(pid_file: &Path) -> Option<u32> {
    fs::read_to_string(pid_file).ok()?.trim().parse().ok()
}

/// The pid in `pid_file` if that process is a live MariaDB server.
pub fn running_pid(pid_file: &Path) -> Option<u32> {
    read_pid(pid_file).filter(|&pid| server_alive(pid))
}

/// True when `pid_file` names a live MariaDB server.
pub fn is_running(pid_file: &Path) -> bool {
    running_pid(pid_file).is_some()
}

fn signal(pid: u32, sig: Signal) -> Result<bool> {
    let raw = i32::try_from(pid).map_err(|_| DbError::Signal {
        pid,
        signal: sig.as_str(),
        source: nix::Error::EINVAL,
    })?;
    match kill(Pid::from_raw(raw), sig) {
        Ok(()) => Ok(true),
        Err(nix::Error::ESRCH) => Ok(false),
        Err(source) => Err(DbError::Signal {
            pid,
            signal: sig.as_str(),
            source,
        }),
    }
}

fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !server_alive(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

fn terminate(pid: u32, timeout: Duration) -> Result<StopOutcome> {
    if !server_alive(pid) {
        return Ok(StopOutcome::NotRunning);
    }
    tracing::info!(pid, "stopping mariadbd (SIGTERM)");
    if !signal(pid, Signal::SIGTERM)? {
        return Ok(StopOutcome::NotRunning);
    }
    if wait_gone(pid, timeout) {
        return Ok(StopOutcome::Stopped);
    }
    tracing::warn!(pid, ?timeout, "mariadbd ignored SIGTERM; sending SIGKILL");
    signal(pid, Signal::SIGKILL)?;
    if wait_gone(pid, Duration::from_secs(10)) {
        Ok(StopOutcome::Killed)
    } else {
        Err(DbError::StopFailed { pid, timeout })
    }
}

fn remove_stale(pid_file: &Path, socket: Option<&Path>) {
    let _ = fs::remove_file(pid_file);
    if let Some(s) = socket {
        if fs::symlink_metadata(s)
            .map(|m| m.file_type().is_socket())
            .unwrap_or(false)
        {
            let _ = fs::remove_file(s);
        }
    }
}

/// Stops `instance` (SIGTERM, wait up to [`DEFAULT_STOP_TIMEOUT`], then
/// SIGKILL) and removes stale pid and socket files.
pub fn stop(instance: &Instance) -> Result<StopOutcome> {
    let out = terminate(instance.pid, DEFAULT_STOP_TIMEOUT)?;
    remove_stale(&instance.pid_file, Some(&instance.socket));
    Ok(out)
}

/// Stops the server named by `pid_file`, waiting up to `timeout` after
/// SIGTERM before SIGKILL. A missing or stale pid file is `NotRunning`; a
/// socket next to it (`mariadbd.sock`, the name [`start`] uses) is removed.
pub fn stop_pid_file(pid_file: &Path, timeout: Duration) -> Result<StopOutcome> {
    let socket = pid_file.parent().map(|d| d.join(SOCKET_NAME));
    let out = match read_pid(pid_file) {
        Some(pid) => terminate(pid, timeout)?,
        None => StopOutcome::NotRunning,
    };
    remove_stale(pid_file, socket.as_deref());
    Ok(out)
}

pub(crate) fn socket_opts(socket: &Path) -> Opts {
    OptsBuilder::default()
        .socket(Some(socket.to_string_lossy()))
        .user(Some("root"))
        .into()
}

fn tcp_opts(host: IpAddr, port: u16) -> Opts {
    OptsBuilder::default()
        .ip_or_hostname(host.to_string())
        .tcp_port(port)
        .user(Some("root"))
        .prefer_socket(false)
        .into()
}

fn is_access_denied(e: &mysql_async::Error) -> bool {
    // 1045 access denied, 1130 host not allowed, 1698 access denied (plugin).
    matches!(e, mysql_async::Error::Server(s) if matches!(s.code, 1045 | 1130 | 1698))
}

async fn select_one(opts: Opts) -> std::result::Result<(), mysql_async::Error> {
    let mut conn = Conn::new(opts).await?;
    let r: std::result::Result<Option<u8>, _> = conn.query_first("SELECT 1").await;
    let _ = conn.disconnect().await;
    r.map(|_| ())
}

enum Ready {
    Up,
    Exited(String),
    TimedOut,
    Denied(mysql_async::Error),
}

async fn wait_ready(child: &mut Child, socket: &Path, timeout: Duration) -> Ready {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Ready::Exited(status.to_string());
        }
        if socket.exists() {
            match tokio::time::timeout(Duration::from_secs(5), select_one(socket_opts(socket)))
                .await
            {
                Ok(Ok(())) => return Ready::Up,
                Ok(Err(e)) if is_access_denied(&e) => return Ready::Denied(e),
                _ => {}
            }
        }
        if Instant::now() >= deadline {
            return Ready::TimedOut;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `host:port`, with an IPv6 address in brackets.
pub(crate) fn host_port(host: IpAddr, port: u16) -> String {
    match host {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// Where this host reaches a server listening on `bind`.
fn tcp_host(bind: IpAddr) -> IpAddr {
    if bind.is_unspecified() {
        loopback()
    } else {
        bind
    }
}

/// A self-service clone's accounts: `root` on the socket only, and `users`
/// (see [`crate::access`]).
async fn users_only(socket: &Path, users: &[DbUser]) -> Result<()> {
    let target = socket.display().to_string();
    let mut conn = Conn::new(socket_opts(socket))
        .await
        .map_err(|source| DbError::Sql {
            what: "connecting over the socket",
            target: target.clone(),
            source,
        })?;
    let r = crate::access::apply(&mut conn, users, &target).await;
    let _ = conn.disconnect().await;
    r
}

/// Makes TCP logins as root from 127.0.0.1 work (see the crate docs).
async fn ensure_tcp_root(socket: &Path, bind: IpAddr, port: u16) -> Result<()> {
    let host = tcp_host(bind);
    let target = format!("mysql://root@{}/", host_port(host, port));
    match select_one(tcp_opts(host, port)).await {
        Ok(()) => return Ok(()),
        Err(e) if is_access_denied(&e) => {
            tracing::info!(
                port,
                "root@127.0.0.1 refused over TCP; creating it over the socket"
            );
        }
        Err(source) => {
            return Err(DbError::Sql {
                what: "connecting over TCP",
                target,
                source,
            })
        }
    }
    let mut conn = Conn::new(socket_opts(socket))
        .await
        .map_err(|source| DbError::Sql {
            what: "connecting over the socket",
            target: socket.display().to_string(),
            source,
        })?;
    let r = conn
        .query_drop(
            "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; \
             GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION",
        )
        .await;
    let _ = conn.disconnect().await;
    r.map_err(|source| DbError::Sql {
        what: "creating root@127.0.0.1",
        target: socket.display().to_string(),
        source,
    })?;
    select_one(tcp_opts(host, port))
        .await
        .map_err(|source| DbError::Sql {
            what: "connecting over TCP after creating root@127.0.0.1",
            target,
            source,
        })
}

/// Starts `mariadbd` on `spec.datadir`, detached in its own process group,
/// and returns once it answers `SELECT 1` over its socket and TCP port.
///
/// If the server exits early or does not answer within
/// `spec.startup_timeout`, the error carries the tail of the error log (and a
/// server that is still alive is stopped first).
pub fn start(spec: &InstanceSpec) -> Result<Instance> {
    let mariadbd = find_program("mariadbd")?;
    spec.limits.check()?;
    if !is_datadir(&spec.datadir) {
        return Err(DbError::NotInitialized {
            path: spec.datadir.clone(),
        });
    }
    let who = run_as(&spec.user)?;
    let datadir =
        fs::canonicalize(&spec.datadir).map_err(|e| DbError::io("resolve", &spec.datadir, e))?;
    fs::create_dir_all(&spec.run_dir).map_err(|e| DbError::io("create", &spec.run_dir, e))?;
    let run_dir =
        fs::canonicalize(&spec.run_dir).map_err(|e| DbError::io("resolve", &spec.run_dir, e))?;
    let socket = run_dir.join(SOCKET_NAME);
    let pid_file = run_dir.join(PID_NAME);
    let log_file = run_dir.join(LOG_NAME);
    let len = socket.as_os_str().len();
    if len > SOCKET_PATH_MAX {
        return Err(DbError::SocketPathTooLong {
            path: socket,
            len,
            max: SOCKET_PATH_MAX,
        });
    }
    if let Some(pid) = running_pid(&pid_file) {
        return Err(DbError::AlreadyRunning { pid, pid_file });
    }
    remove_stale(&pid_file, Some(&socket));

    // The log is both --log-error and stderr (early option errors go there).
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_file)
        .map_err(|e| DbError::io("open", &log_file, e))?;
    let tmpdir = run_dir.join("tmp");
    if let Err(e) = fs::create_dir(&tmpdir) {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(DbError::io("create", &tmpdir, e));
        }
    }
    if let Some(who) = &who {
        check_traversable(&datadir, who)?;
        check_traversable(&run_dir, who)?;
        chown(&run_dir, who)?;
        chown(&tmpdir, who)?;
        chown(&log_file, who)?;
    }
    {
        // Root's socket is in here, without a password: only the server's
        // user (and root) may enter.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&run_dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| DbError::io("chmod 0700", &run_dir, e))?;
    }
    let port = match spec.port {
        Some(p) => {
            port_free(spec.bind, p)?;
            p
        }
        None => free_port()?,
    };

    // Named after the run dir (`<folder>/<volume>` under Populous).
    let name: String = run_dir
        .iter()
        .rev()
        .take(2)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .map(|c| c.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("-");
    let plan = Plan::make(&name, &spec.limits)?;
    let mut cmd = Command::new(&mariadbd);
    cmd.arg("--no-defaults")
        .arg(opt("--datadir=", &datadir))
        .arg(opt("--socket=", &socket))
        .arg(format!("--port={port}"))
        .arg(opt("--pid-file=", &pid_file))
        .arg(opt("--tmpdir=", &tmpdir))
        .arg(format!("--bind-address={}", spec.bind))
        .arg(opt("--log-error=", &log_file))
        .arg("--skip-name-resolve")
        .arg(format!(
            "--innodb-buffer-pool-size={}",
            spec.innodb_buffer_pool_size
        ))
        .arg(format!("--max-allowed-packet={}", spec.max_allowed_packet))
        .args(spec.io.args())
        .args(spec.limits.server_args());
    if let Some(who) = &who {
        cmd.arg(format!("--user={}", who.name));
    }
    cmd.args(&spec.extra_args);
    let stderr = log
        .try_clone()
        .map_err(|e| DbError::io("duplicate", &log_file, e))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(stderr))
        .process_group(0);
    let join = std::sync::Arc::new(plan);
    {
        let join = std::sync::Arc::clone(&join);
        // SAFETY: the closure only opens and writes files prepared before
        // the fork (no allocation, no locks), which is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || join.join_in_child());
        }
    }
    tracing::info!(datadir = %datadir.display(), port, socket = %socket.display(), "starting mariadbd");
    let mut child = cmd.spawn().map_err(|e| DbError::io("run", &mariadbd, e))?;
    let pid = child.id();

    let timeout = spec.startup_timeout;
    let outcome = rt::block_on(async {
        match wait_ready(&mut child, &socket, timeout).await {
            Ready::Up => match &spec.tcp {
                TcpAccess::Root => ensure_tcp_root(&socket, spec.bind, port)
                    .await
                    .map_err(Some),
                TcpAccess::Users(users) => users_only(&socket, users).await.map_err(Some),
            },
            Ready::Exited(status) => {
                let tail = log_tail(&log_file, 20);
                // Another process took the port between our check and the
                // server's bind: the caller may try another.
                if tail.contains("Address already in use") {
                    Err(Some(DbError::PortInUse { port }))
                } else {
                    Err(Some(DbError::ExitedEarly {
                        datadir: datadir.clone(),
                        status,
                        log: log_file.clone(),
                        tail,
                    }))
                }
            }
            Ready::TimedOut => Err(None),
            Ready::Denied(source) => Err(Some(DbError::AccessDenied {
                target: socket.display().to_string(),
                source,
            })),
        }
    });
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(Some(e))) => Some(e),
        Ok(Err(None)) => Some(DbError::StartTimeout {
            datadir: datadir.clone(),
            timeout,
            log: log_file.clone(),
            tail: log_tail(&log_file, 20),
        }),
        Err(e) => Some(e),
    };
    if let Some(e) = failure {
        let _ = terminate(pid, Duration::from_secs(30));
        let _ = child.try_wait();
        remove_stale(&pid_file, Some(&socket));
        join.remove();
        return Err(e);
    }
    Ok(Instance {
        pid,
        port,
        datadir,
        run_dir,
        socket,
        pid_file,
        log_file,
        url: match &spec.tcp {
            TcpAccess::Users(users) => match users.first() {
                Some(u) => format!("mysql://{}@{}/", u.name, host_port(spec.bind, port)),
                // No login yet (a warm clone waiting): nobody's URL.
                None => format!("mysql://{}/", host_port(spec.bind, port)),
            },
            TcpAccess::Root => format!("mysql://root@{}/", host_port(tcp_host(spec.bind), port)),
        },
        bind: spec.bind,
        io: spec.io,
        limits: spec.limits,
        confinement: join.confinement(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_url_encodes_odd_bytes() {
        assert_eq!(
            socket_url(Path::new("/tmp/a b/mariadbd.sock")),
            "mysql://root@localhost/?socket=/tmp/a%20b/mariadbd.sock"
        );
        let opts = Opts::from_url(&socket_url(Path::new("/tmp/a b/x.sock"))).unwrap();
        assert_eq!(opts.socket(), Some("/tmp/a b/x.sock"));
    }

    #[test]
    fn proc_stat_parses_our_own_process() {
        let (comm, state) = proc_stat(std::process::id()).unwrap();
        assert!(!comm.is_empty());
        assert_ne!(state, 'Z');
        assert!(!server_alive(std::process::id()), "we are not mariadbd");
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail_text("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail_text("a", 5), "a");
    }
}
