//! MariaDB instances on a directory, for Populous volumes and clones.
//!
//! A *datadir* lives on a volume (or a clone of one); an *instance* is one
//! `mariadbd` process serving it, with its own unix socket, TCP port, pid file
//! and error log in a *run dir* the caller chooses.
//!
//! - [`init_datadir`] runs `mariadb-install-db` on an empty directory.
//! - [`start`] spawns `mariadbd` detached in its own process group and returns
//!   an [`Instance`] once the server answers `SELECT 1`. The run dir holds
//!   `mariadbd.sock`, `mariadbd.pid`, `mariadbd.err` (error log and stderr)
//!   and `tmp/` (a private `--tmpdir`: concurrent servers and bootstraps that
//!   share `/tmp` were seen to trip over each other's temporary tables).
//!   Defaults: 128M buffer pool, `max_allowed_packet=64M` (rows carry 64 KiB
//!   blobs), `innodb_flush_log_at_trx_commit` left at its durable default,
//!   and InnoDB's I/O settings ([`IoSettings`]) as the caller chose them.
//! - [`stop`] / [`stop_pid_file`] send SIGTERM, wait, and SIGKILL as a last
//!   resort; [`is_running`] reads a pid file.
//! - [`quiesce`] holds `BACKUP STAGE BLOCK_COMMIT` (or `FLUSH TABLES WITH READ
//!   LOCK` on servers without backup stages) while the caller snapshots the
//!   filesystem; dropping or releasing the [`QuiesceGuard`] lets commits go on.
//!
//! # Who can connect
//!
//! `init_datadir` uses `--auth-root-authentication-method=normal`, which on
//! MariaDB 10.11 creates `root@localhost`, `root@127.0.0.1` and `root@::1`
//! without a password. [`start`] checks readiness over the unix socket as
//! `root@localhost`, then checks TCP as well; if TCP is refused (an older or
//! differently made datadir) it creates `root@127.0.0.1` with all privileges
//! over the socket, once. [`Instance::url`] is therefore a plain TCP URL,
//! `mysql://root@127.0.0.1:PORT/`, and [`Instance::socket_url`] the same
//! over the socket. Note that `mysql_async` by default re-connects over the
//! server's socket after a TCP login to `127.0.0.1` (`prefer_socket`), so a
//! pool built from the TCP URL on this host actually talks over the socket.
//!
//! A self-service clone is started with [`TcpAccess::Users`] instead: no
//! `root` over TCP at all, only its own users with passwords (see
//! [`access`]); its [`Instance::url`] then names the first user, without
//! the password, and the operations layer talks to it over the socket
//! ([`Instance::db_url`]). Every run dir is mode 0700 and belongs to the
//! server's user, so only it and root reach the socket.
//!
//! # Why `mysql_async`
//!
//! The Populous app (axum on tokio) needs an async driver, and one driver for
//! the whole workspace keeps error types, URL syntax and connection options
//! the same everywhere. `mysql_async` 0.37 also has what the generator needs
//! and the sync `mysql` crate does not add: a `LOAD DATA LOCAL INFILE`
//! handler fed by an async stream, and MariaDB's `COM_STMT_BULK_EXECUTE`.
//! The sync API here runs each operation on a small current-thread tokio
//! runtime (on a scoped thread when called from inside a runtime, so it never
//! panics with "cannot start a runtime from within a runtime"); a
//! [`QuiesceGuard`] keeps its connection on its own thread and runtime.
//! It is built without TLS (`minimal-rust`): instances listen on 127.0.0.1.

mod access;
mod activity;
mod error;
mod io;
pub mod limits;
mod quiesce;
mod rt;
mod server;

pub use access::{grant_logins, random_password, DbUser, PasswordHash, TcpAccess, USER_NAME_MAX};
pub use activity::{activity, Activity};
pub use error::{DbError, Result};
pub use io::{FlushMethod, IoSettings};
pub use limits::{Confinement, Limits};
pub use quiesce::{quiesce, quiesce_with, QuiesceGuard, QuiesceMethod, QuiesceOptions};
pub use server::{
    adopt_datadir, free_port, init_datadir, is_datadir, is_running, running_pid, start, stop,
    stop_pid_file, InitOutcome, Instance, InstanceSpec, StopOutcome, DEFAULT_STOP_TIMEOUT,
    SOCKET_PATH_MAX,
};

/// Parses a connection URL (`mysql://user[:pass]@host:port/[db][?socket=/path]`).
pub fn parse_url(url: &str) -> Result<mysql_async::Opts> {
    mysql_async::Opts::from_url(url).map_err(|source| DbError::BadUrl {
        url: redact_url(url),
        source,
    })
}

/// The URL with any password replaced by `***`, for messages and logs.
pub use populous_sql::redact_url;

/// Runs `SELECT 1` on `url`; `Ok(())` means the server answers queries.
pub fn ping(url: &str) -> Result<()> {
    let opts = parse_url(url)?;
    let target = redact_url(url);
    rt::block_on(async move {
        let mut conn = mysql_async::Conn::new(opts)
            .await
            .map_err(|source| DbError::Sql {
                what: "connecting",
                target: target.clone(),
                source,
            })?;
        use mysql_async::prelude::Queryable;
        let r: Result<Option<u8>> =
            conn.query_first("SELECT 1")
                .await
                .map_err(|source| DbError::Sql {
                    what: "SELECT 1",
                    target: target.clone(),
                    source,
                });
        let _ = conn.disconnect().await;
        r.map(|_| ())
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("mysql://root:secret@127.0.0.1:3306/db"),
            "mysql://root:***@127.0.0.1:3306/db"
        );
        assert_eq!(
            redact_url("mysql://root@127.0.0.1:3306/"),
            "mysql://root@127.0.0.1:3306/"
        );
        assert_eq!(redact_url("nonsense"), "nonsense");
    }

    #[test]
    fn bad_url_is_a_clear_error() {
        let e = parse_url("postgres://x").unwrap_err().to_string();
        assert!(e.contains("invalid MariaDB connection url"), "{e}");
    }
}
