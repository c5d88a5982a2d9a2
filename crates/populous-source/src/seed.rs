//! Seeding a volume from a running source, without blocking it.
//!
//! Physical: `mariadb-backup --backup --stream=xbstream` reads the source's
//! datadir while the server runs (InnoDB pages with their redo, a short
//! `BACKUP STAGE` lock at the end for the rest), the stream flows through
//! this process into `mbstream -x`, then `--prepare` makes the copy
//! consistent and writes the binary log position and GTID it holds.
//! `mariadb-backup` reads files, so it runs where the datadir is: this host.
//!
//! Logical: `mariadb-dump --single-transaction --gtid --master-data=2` of the
//! source's own databases (not `mysql`: the replica keeps its own accounts,
//! which Populous needs to manage it) flows through this process into the
//! replica's `mariadb` client; the GTID position is read from the dump's
//! header. It works over the network against any server, managed ones too.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::url::{Password, SourceUrl};
use crate::{Result, SourceError};

/// What a seed copied.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SeedReport {
    /// Bytes that passed through (the stream or the dump).
    pub bytes: u64,
    /// Seconds from start to a usable copy (the prepare included).
    pub seconds: f64,
    /// The source's GTID position the copy holds (`domain-server-seq,…`).
    pub gtid: String,
}

impl SeedReport {
    /// Megabytes per second over the whole seed.
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.seconds.max(1e-9)
    }
}

/// A tool must be installed; the error names the Debian package.
pub fn require(tool: &'static str, package: &'static str) -> Result<()> {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()));
    if found {
        Ok(())
    } else {
        Err(SourceError::MissingTool { tool, package })
    }
}

/// Connection options every tool gets (the password comes on stdin).
fn connect_args(src: &SourceUrl) -> Vec<String> {
    vec![
        format!("--host={}", src.host),
        format!("--port={}", src.port),
        format!("--user={}", src.user),
    ]
}

/// Spawns `cmd` with the password in its environment (`MYSQL_PWD`, which
/// the MariaDB client library reads). Not an argument: `ps` shows those to
/// every user, while `/proc/PID/environ` is readable only by the process's
/// owner. Not an option file on stdin: `mariadb-backup` reads its option
/// files twice and finds the second read empty. Not a file on disk: a
/// `kill -9` would leave it behind.
fn spawn_with_password(cmd: &mut Command, pw: &Password, what: &str) -> Result<Child> {
    cmd.env("MYSQL_PWD", pw.expose())
        .stdin(Stdio::null())
        .spawn()
        .map_err(SourceError::io(format!("starting {what}")))
}

/// The last lines of a log file, for an error message.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn wait_ok(child: &mut Child, what: &str, log: &Path) -> Result<()> {
    let status = child
        .wait()
        .map_err(SourceError::io(format!("waiting for {what}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(SourceError::Failed {
            what: what.to_owned(),
            detail: format!(
                "{status}; last lines of {}:\n{}",
                log.display(),
                tail(log, 15)
            ),
        })
    }
}

/// Copies `from` into `to` in 1 MiB pieces, reporting the running total.
/// `inspect` sees each piece (the logical seed reads its GTID there).
fn pump(
    from: &mut impl Read,
    to: &mut impl Write,
    progress: &mut dyn FnMut(u64),
    inspect: &mut dyn FnMut(&[u8]),
) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        inspect(&buf[..n]);
        to.write_all(&buf[..n])?;
        total += n as u64;
        progress(total);
    }
}

fn log_file(work: &Path, name: &str) -> Result<std::fs::File> {
    let path = work.join(name);
    std::fs::File::create(&path).map_err(SourceError::io(format!("creating {}", path.display())))
}

/// Where the source's datadir is: the path the server reports, and where it
/// is on this host (another path when the server runs in a container).
#[derive(Debug, Clone, Copy)]
pub struct Datadir<'a> {
    /// `@@datadir`.
    pub reported: &'a Path,
    /// The same directory on this host.
    pub here: &'a Path,
}

/// Makes `cmd` see `d.here` at `d.reported`, in a mount namespace of its own.
///
/// `mariadb-backup` takes the datadir and the redo log's directory from the
/// server it connects to, whatever `--datadir` says: given a container's
/// server, it read this host's own `/var/lib/mysql` (another server's redo
/// log: "Was only able to copy log from 44388 to 44404"). In its own mount
/// namespace the reported path is the container's datadir, for it alone.
fn see_datadir_at_reported_path(cmd: &mut Command, d: Datadir<'_>) -> Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;
    if d.reported == d.here {
        return Ok(());
    }
    if !d.reported.is_dir() {
        return Err(SourceError::Failed {
            what: "mariadb-backup".into(),
            detail: format!(
                "the source reports its datadir at {}, which is no directory on this host; mariadb-backup reads there (create an empty directory {} and retry)",
                d.reported.display(),
                d.reported.display()
            ),
        });
    }
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes()).map_err(|_| SourceError::Failed {
            what: "mariadb-backup".into(),
            detail: format!("{} holds a NUL byte", p.display()),
        })
    };
    let (from, to, root) = (c(d.here)?, c(d.reported)?, c(Path::new("/"))?);
    // SAFETY: between fork and exec, only async-signal-safe calls
    // (unshare, mount) on memory prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
                || libc::mount(
                    from.as_ptr(),
                    to.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(())
}

/// A physical copy of the source (whose datadir is `datadir`) into the
/// empty directory `target`, prepared and ready to start. `work` holds the
/// tools' logs and temporary files.
pub fn physical(
    src: &SourceUrl,
    pw: &Password,
    datadir: Datadir<'_>,
    target: &Path,
    work: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<SeedReport> {
    require("mariadb-backup", "mariadb-backup")?;
    require("mbstream", "mariadb-backup")?;
    let start = Instant::now();
    let tmp = work.join("backup-tmp");
    std::fs::create_dir_all(&tmp)
        .map_err(SourceError::io("creating the backup's temporary directory"))?;
    let backup_log = work.join("backup.log");
    let mut cmd = Command::new("mariadb-backup");
    cmd.args(["--backup", "--stream=xbstream"])
        .args(connect_args(src))
        .arg(format!("--datadir={}", datadir.reported.display()))
        .arg(format!("--target-dir={}", tmp.display()))
        .stdout(Stdio::piped())
        .stderr(log_file(work, "backup.log")?);
    see_datadir_at_reported_path(&mut cmd, datadir)?;
    let mut backup = spawn_with_password(&mut cmd, pw, "mariadb-backup --backup")?;
    let extract_log = work.join("mbstream.log");
    let mut extract = Command::new("mbstream")
        .args(["-x", "-C"])
        .arg(target)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(log_file(work, "mbstream.log")?)
        .spawn()
        .map_err(SourceError::io("starting mbstream"))?;
    let mut out = backup.stdout.take().expect("piped stdout");
    let mut into = extract.stdin.take().expect("piped stdin");
    let pumped = pump(&mut out, &mut into, progress, &mut |_| {});
    drop(into);
    // Both ends are waited for whatever happened, so no child outlives the seed.
    let backed_up = wait_ok(&mut backup, "mariadb-backup --backup", &backup_log);
    let extracted = wait_ok(&mut extract, "mbstream -x", &extract_log);
    backed_up?;
    extracted?;
    let bytes = pumped.map_err(SourceError::io("streaming the backup into the volume"))?;
    let prepare_log = work.join("prepare.log");
    let mut prepare = Command::new("mariadb-backup")
        .arg("--prepare")
        .arg(format!("--target-dir={}", target.display()))
        .stdout(Stdio::null())
        .stderr(log_file(work, "prepare.log")?)
        .spawn()
        .map_err(SourceError::io("starting mariadb-backup --prepare"))?;
    wait_ok(&mut prepare, "mariadb-backup --prepare", &prepare_log)?;
    let _ = std::fs::remove_dir_all(&tmp);
    // 10.11 writes `xtrabackup_binlog_info`; later versions `mariadb_backup_binlog_info`.
    let info = ["mariadb_backup_binlog_info", "xtrabackup_binlog_info"]
        .iter()
        .find_map(|f| std::fs::read_to_string(target.join(f)).ok())
        .unwrap_or_default();
    Ok(SeedReport {
        bytes,
        seconds: start.elapsed().as_secs_f64(),
        gtid: binlog_info_gtid(&info),
    })
}

/// The GTID of `mariadb_backup_binlog_info` (`FILE POS GTID`); empty when
/// the source had written no GTID yet.
pub fn binlog_info_gtid(info: &str) -> String {
    info.split_whitespace().nth(2).unwrap_or("").to_owned()
}

/// A logical copy of `databases` from the source into the replica server
/// listening on `replica_socket` (as root over its socket).
pub fn logical(
    src: &SourceUrl,
    pw: &Password,
    databases: &[String],
    replica_socket: &Path,
    work: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<SeedReport> {
    require("mariadb-dump", "mariadb-client")?;
    require("mariadb", "mariadb-client")?;
    let start = Instant::now();
    let dump_log = work.join("dump.log");
    let mut dump = spawn_with_password(
        Command::new("mariadb-dump")
            .arg("--no-defaults")
            .args(connect_args(src))
            .args([
                "--single-transaction",
                "--gtid",
                "--master-data=2",
                "--routines",
                "--events",
                "--triggers",
                "--hex-blob",
                "--databases",
            ])
            .args(databases)
            .stdout(Stdio::piped())
            .stderr(log_file(work, "dump.log")?),
        pw,
        "mariadb-dump",
    )?;
    let load_log = work.join("load.log");
    let mut load = Command::new("mariadb")
        .arg("--no-defaults")
        .arg(format!("--socket={}", replica_socket.display()))
        .args(["--user=root", "--binary-mode"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(log_file(work, "load.log")?)
        .spawn()
        .map_err(SourceError::io("starting mariadb to load the dump"))?;
    let mut out = dump.stdout.take().expect("piped stdout");
    let mut into = load.stdin.take().expect("piped stdin");
    // With --gtid and --master-data, the position is printed after the data:
    // keep the dump's head (for errors) and its last 64 KiB.
    let mut head = Vec::new();
    let mut tail: Vec<u8> = Vec::new();
    let pumped = pump(&mut out, &mut into, progress, &mut |piece| {
        if head.len() < (1 << 16) {
            head.extend_from_slice(&piece[..piece.len().min((1 << 16) - head.len())]);
        }
        tail.extend_from_slice(piece);
        if tail.len() > (1 << 16) {
            tail.drain(..tail.len() - (1 << 16));
        }
    });
    drop(into);
    let dumped = wait_ok(&mut dump, "mariadb-dump", &dump_log);
    let loaded = wait_ok(&mut load, "loading the dump into the replica", &load_log);
    dumped?;
    loaded?;
    let bytes = pumped.map_err(SourceError::io("streaming the dump into the replica"))?;
    let text = String::from_utf8_lossy(&head);
    let gtid = dump_gtid(&String::from_utf8_lossy(&tail)).ok_or_else(|| SourceError::Failed {
        what: "mariadb-dump".into(),
        detail: format!(
            "the dump holds no GTID position (gtid_slave_pos): is the source's binary log on? Its first lines:\n{}",
            text.lines().take(30).collect::<Vec<_>>().join("\n")
        ),
    })?;
    Ok(SeedReport {
        bytes,
        seconds: start.elapsed().as_secs_f64(),
        gtid,
    })
}

/// The position a dump holds: `… SET GLOBAL gtid_slave_pos='0-1-5';`, which
/// `mariadb-dump --gtid --master-data` prints after the data.
pub fn dump_gtid(head: &str) -> Option<String> {
    let at = head.find("gtid_slave_pos='")? + "gtid_slave_pos='".len();
    let end = head[at..].find('\'')?;
    Some(head[at..at + end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        assert_eq!(
            binlog_info_gtid("mysql-bin.000003\t385\t0-1-12\n"),
            "0-1-12"
        );
        assert_eq!(
            binlog_info_gtid("mysql-bin.000003\t385\t0-1-12,1-2-3"),
            "0-1-12,1-2-3"
        );
        assert_eq!(binlog_info_gtid("mysql-bin.000001\t4\n"), "");
        assert_eq!(binlog_info_gtid(""), "");
        let head = "-- MariaDB dump\n-- SET GLOBAL gtid_slave_pos='0-1-5';\n-- CHANGE MASTER TO MASTER_USE_GTID=slave_pos;\n";
        assert_eq!(dump_gtid(head).as_deref(), Some("0-1-5"));
        assert_eq!(
            dump_gtid("SET GLOBAL gtid_slave_pos='';"),
            Some(String::new())
        );
        assert_eq!(dump_gtid("no position"), None);
    }

    #[test]
    fn pump_counts_and_forwards() {
        let data = vec![7u8; (3 << 20) + 5];
        let mut out = Vec::new();
        let mut seen = Vec::new();
        let mut pieces = 0;
        let n = pump(&mut &data[..], &mut out, &mut |t| seen.push(t), &mut |_| {
            pieces += 1
        })
        .expect("pump");
        assert_eq!((n, out.len()), (data.len() as u64, data.len()));
        assert_eq!(seen.last().copied(), Some(data.len() as u64));
        assert!(pieces >= 4);
    }
}
