use std::path::PathBuf;

/// Errors of the app library: configuration, database, generation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The database URL did not parse.
    #[error("invalid database url {url:?}: {source}; expected mysql://user@host:port/[database]")]
    BadUrl {
        /// URL with the password removed.
        url: String,
        /// Parser error.
        #[source]
        source: mysql_async::UrlError,
    },

    /// A database operation failed.
    #[error("{what} failed on {target}: {source}")]
    Db {
        /// What we were doing.
        what: &'static str,
        /// URL with the password removed.
        target: String,
        /// Driver or server error.
        #[source]
        source: mysql_async::Error,
    },

    /// A database operation took too long.
    #[error(
        "{what} on {target} did not finish within {secs} s: is the server overloaded or locked?"
    )]
    Timeout {
        /// What we were doing.
        what: &'static str,
        /// URL with the password removed.
        target: String,
        /// The limit.
        secs: u64,
    },

    /// `generate` found rows and was not told to resume.
    #[error(
        "table {database}.main already has {rows} rows (highest id {max_id}): pass --resume to continue that run, or generate into an empty database"
    )]
    TableNotEmpty {
        /// Database name.
        database: String,
        /// Rows present.
        rows: u64,
        /// Highest id present.
        max_id: u64,
    },

    /// `--resume` on rows made with another seed or blob size.
    #[error(
        "row id {id} in {database}.main does not match seed {seed} with blob size {blob_size}: resume with the seed and blob size of the original run"
    )]
    ResumeMismatch {
        /// Database name.
        database: String,
        /// The row checked.
        id: u64,
        /// Seed given now.
        seed: u64,
        /// Blob size given now.
        blob_size: usize,
    },

    /// Row ids are `int unsigned`, starting at 10,000,000.
    #[error("{rows} rows do not fit the table's int unsigned ids starting at 10000000: ask for at most {max}")]
    TooManyRows {
        /// Rows asked for.
        rows: u64,
        /// The most that fit.
        max: u64,
    },

    /// A size like `2G` did not parse.
    #[error(transparent)]
    BadSize(#[from] populous_units::SizeError),

    /// A generation option is out of range.
    #[error("invalid generation options: {0}")]
    BadOptions(String),

    /// The server lacks the Sequence engine the bench ceiling needs.
    #[error("the server has no SEQUENCE engine (seq_1_to_N tables), needed for the INSERT … SELECT ceiling: use MariaDB ≥ 10.0")]
    NoSequenceEngine,

    /// The VERSION file could not be read.
    #[error("cannot read the version file {path}: {source}; create it (e.g. `echo 1.0.0 > VERSION`) or pass --version-file")]
    VersionFile {
        /// Its path.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },

    /// The VERSION file is empty.
    #[error("the version file {path} is empty: put a version such as 1.0.1 in it")]
    EmptyVersion {
        /// Its path.
        path: PathBuf,
    },

    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}; pick another --listen address")]
    Bind {
        /// The address.
        addr: String,
        /// OS error.
        #[source]
        source: std::io::Error,
    },

    /// The HTTP server failed.
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),

    /// A generator task died.
    #[error("a generator worker failed: {0}")]
    Worker(String),
}

/// Result alias for this crate.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

impl AppError {
    /// The stable class of this error.
    pub fn kind(&self) -> populous_error::ErrorKind {
        use populous_error::ErrorKind as K;
        match self {
            AppError::BadUrl { .. }
            | AppError::TooManyRows { .. }
            | AppError::BadSize(_)
            | AppError::BadOptions(_)
            | AppError::VersionFile { .. }
            | AppError::EmptyVersion { .. }
            | AppError::Bind { .. } => K::InvalidInput,
            // The table holds an earlier run's rows that this request contradicts.
            AppError::TableNotEmpty { .. } | AppError::ResumeMismatch { .. } => K::WrongState,
            AppError::NoSequenceEngine => K::Unsupported,
            AppError::Timeout { .. } => K::Unavailable,
            AppError::Db { source, .. } if populous_sql::is_disk_full(source) => K::NoSpace,
            AppError::Db { .. } | AppError::Serve(_) | AppError::Worker(_) => K::Internal,
        }
    }
}

impl populous_error::HasKind for AppError {
    fn kind(&self) -> populous_error::ErrorKind {
        AppError::kind(self)
    }
}
