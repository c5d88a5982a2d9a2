use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while managing a MariaDB instance.
///
/// Messages say what failed, on what, and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// A MariaDB program is missing.
    #[error("{program} is not installed: apt-get install mariadb-server")]
    NotInstalled {
        /// The program looked for.
        program: &'static str,
    },

    /// The system user that should own and run the server does not exist.
    #[error(
        "system user {user:?} does not exist: apt-get install mariadb-server creates `mysql`, or pass an existing user"
    )]
    UnknownUser {
        /// The user name.
        user: String,
    },

    /// A directory given as a datadir holds something else.
    #[error(
        "{path} is not empty and is not a MariaDB datadir (no mysql/ system schema): give an empty or missing directory"
    )]
    NotADatadir {
        /// The directory.
        path: PathBuf,
    },

    /// `start` was given a directory that was never initialised.
    #[error("{path} is not a MariaDB datadir: run init_datadir on it first")]
    NotInitialized {
        /// The directory.
        path: PathBuf,
    },

    /// The server user could not reach a path because a parent directory is closed.
    #[error(
        "user {user} cannot reach {path}: {blocker} is not searchable by that user; chmod o+x {blocker} or use another location"
    )]
    NotTraversable {
        /// The user that must reach the path.
        user: String,
        /// The path it must reach.
        path: PathBuf,
        /// The first ancestor it cannot enter.
        blocker: PathBuf,
    },

    /// `mariadb-install-db` exited with an error.
    #[error("mariadb-install-db failed on {datadir} ({status}); its output ends with:\n{output}")]
    InstallFailed {
        /// The datadir being initialised.
        datadir: PathBuf,
        /// Exit status as text.
        status: String,
        /// The tail of its output.
        output: String,
    },

    /// A server already runs on this run dir.
    #[error("mariadbd is already running with pid {pid} (pid file {pid_file}): stop it first")]
    AlreadyRunning {
        /// Its pid.
        pid: u32,
        /// The pid file that names it.
        pid_file: PathBuf,
    },

    /// The asked-for TCP port is taken by another process.
    #[error("port {port} on 127.0.0.1 is in use by another process: choose another, or leave the port out to get a free one")]
    PortInUse {
        /// The port.
        port: u16,
    },

    /// The unix socket path does not fit in `sockaddr_un`.
    #[error(
        "unix socket path {path} is {len} bytes, longer than the {max} bytes the kernel allows: use a shorter run dir"
    )]
    SocketPathTooLong {
        /// The socket path.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// The server process ended before it answered.
    #[error(
        "mariadbd on {datadir} exited during startup ({status}); last lines of {log}:\n{tail}"
    )]
    ExitedEarly {
        /// The datadir.
        datadir: PathBuf,
        /// Exit status as text.
        status: String,
        /// The error log.
        log: PathBuf,
        /// Its last lines.
        tail: String,
    },

    /// The server did not answer in time (it has been stopped again).
    #[error(
        "mariadbd on {datadir} did not answer within {timeout:?} and was stopped; last lines of {log}:\n{tail}"
    )]
    StartTimeout {
        /// The datadir.
        datadir: PathBuf,
        /// How long we waited.
        timeout: Duration,
        /// The error log.
        log: PathBuf,
        /// Its last lines.
        tail: String,
    },

    /// The server answers but does not let root in without a password.
    #[error(
        "mariadbd on {target} refused root without a password: {source}; datadirs made by init_datadir allow it, others need their own credentials"
    )]
    AccessDenied {
        /// Socket or URL tried.
        target: String,
        /// The server's answer.
        #[source]
        source: mysql_async::Error,
    },

    /// The process would not die.
    #[error("mariadbd pid {pid} was still alive {timeout:?} after SIGTERM and SIGKILL: check it with ps")]
    StopFailed {
        /// The pid.
        pid: u32,
        /// How long we waited.
        timeout: Duration,
    },

    /// A signal could not be sent.
    #[error("cannot send {signal} to pid {pid}: {source}")]
    Signal {
        /// The pid.
        pid: u32,
        /// Signal name.
        signal: &'static str,
        /// The errno.
        #[source]
        source: nix::Error,
    },

    /// A filesystem or process operation failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What we tried.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// A connection URL did not parse.
    #[error("invalid MariaDB connection url {url:?}: {source}; expected mysql://user@host:port/[db][?socket=/path]")]
    BadUrl {
        /// The URL (password removed).
        url: String,
        /// Parser error.
        #[source]
        source: mysql_async::UrlError,
    },

    /// A statement or connection failed.
    #[error("{what} failed on {target}: {source}")]
    Sql {
        /// What we were doing.
        what: &'static str,
        /// Socket or URL (password removed).
        target: String,
        /// Driver or server error.
        #[source]
        source: mysql_async::Error,
    },

    /// A limit out of range.
    #[error("{detail}")]
    BadLimit {
        /// What is wrong.
        detail: String,
    },

    /// A database user name MariaDB would not take, or `root`.
    #[error("invalid database user name {name:?}: 1 to 80 ASCII letters, digits, '_' or '-', and not root")]
    BadUserName {
        /// The name given.
        name: String,
    },

    /// A quiesce guard's worker thread died.
    #[error("the quiesce connection to {target} was lost: {detail}")]
    QuiesceLost {
        /// Socket or URL.
        target: String,
        /// What happened.
        detail: String,
    },
}

impl DbError {
    /// The stable class of this error.
    pub fn kind(&self) -> populous_error::ErrorKind {
        use populous_error::ErrorKind as K;
        match self {
            DbError::NotInstalled { .. } => K::MissingTool,
            DbError::NotADatadir { .. } | DbError::NotInitialized { .. } => K::WrongState,
            DbError::AlreadyRunning { .. } => K::WrongState,
            DbError::PortInUse { .. } => K::Busy,
            DbError::UnknownUser { .. }
            | DbError::SocketPathTooLong { .. }
            | DbError::BadUrl { .. }
            | DbError::BadUserName { .. }
            | DbError::BadLimit { .. } => K::InvalidInput,
            DbError::Io { source, .. } if source.raw_os_error() == Some(libc_enospc()) => {
                K::NoSpace
            }
            _ => K::Internal,
        }
    }

    /// An I/O error on a path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        DbError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl populous_error::HasKind for DbError {
    fn kind(&self) -> populous_error::ErrorKind {
        DbError::kind(self)
    }
}

/// ENOSPC, without a libc dependency for one constant.
fn libc_enospc() -> i32 {
    nix::errno::Errno::ENOSPC as i32
}

/// Result alias for this crate.
pub type Result<T, E = DbError> = std::result::Result<T, E>;
