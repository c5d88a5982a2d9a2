//! The replica server on a source's volume: its options, replication, and status.
//!
//! Replication's own files (`master.info`, `relay-log.info`, the relay logs)
//! are kept in the replica's run directory, outside the datadir: the volume,
//! and so every snapshot and clone of it, never holds the replication
//! password or a pointer to production. Every server Populous starts is
//! started with `--skip-slave-start`; only the source's replica is told to
//! replicate, explicitly, after it started.

use std::collections::BTreeMap;
use std::path::Path;

use mysql_async::prelude::Queryable;

use crate::url::{Password, SourceUrl};
use crate::{Result, SourceError};

/// No server replicates until told so (clones of a replica above all).
pub const SKIP_SLAVE_START: &str = "--skip-slave-start";

/// Server options of a replica: its id, read-only, and replication files in `run_dir`.
pub fn server_args(server_id: u32, run_dir: &Path) -> Vec<String> {
    let at = |f: &str| run_dir.join(f).display().to_string();
    vec![
        format!("--server-id={server_id}"),
        "--read-only=ON".to_owned(),
        format!("--master-info-file={}", at("master.info")),
        format!("--relay-log={}", at("relay-bin")),
        format!("--relay-log-index={}", at("relay-bin.index")),
        format!("--relay-log-info-file={}", at("relay-log.info")),
    ]
}

/// The files replication writes, by name: none of them may be in a clean datadir.
pub const REPLICATION_FILES: [&str; 4] = [
    "master.info",
    "multi-master.info",
    "relay-log.info",
    "relay-bin.index",
];

// Taken by value to fit `map_err`.
#[allow(clippy::needless_pass_by_value)]
fn sql_err(e: mysql_async::Error) -> SourceError {
    SourceError::Sql(e.to_string())
}

/// A string literal for statements that take no placeholders (`CHANGE
/// MASTER TO`): quotes doubled, backslashes escaped, under `sql_mode=''`.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

async fn conn(url: &str) -> Result<mysql_async::Conn> {
    let opts = mysql_async::Opts::from_url(url).map_err(|e| SourceError::Sql(e.to_string()))?;
    mysql_async::Conn::new(opts).await.map_err(sql_err)
}

fn run<T: Send>(fut: impl std::future::Future<Output = Result<T>> + Send) -> Result<T> {
    populous_sql::block_on(fut).map_err(SourceError::io("starting a runtime"))?
}

/// What the source says about itself.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SourceFacts {
    /// `@@version`.
    pub version: String,
    /// `@@server_id`.
    pub server_id: u32,
    /// `@@log_bin`: replication needs the binary log.
    pub log_bin: bool,
    /// `@@datadir` (where `mariadb-backup` reads, on the source's host).
    pub datadir: String,
    /// `@@gtid_binlog_pos`: the newest transaction it has written.
    pub gtid_binlog_pos: String,
    /// `@@log_bin_basename`: where its binary logs are, on its host.
    pub log_bin_basename: String,
    /// The binary log it writes now and a position in it (`SHOW MASTER
    /// STATUS`): how a datadir on this host is recognised as the source's.
    pub binlog_now: Option<(String, u64)>,
    /// Its databases, without the system ones.
    pub databases: Vec<String>,
    /// Bytes of data and indexes (`information_schema.TABLES`), for the progress bar.
    pub data_bytes: u64,
    /// The user's global privileges (on `*.*`), upper case; `ALL PRIVILEGES` stands for all.
    #[serde(skip)]
    pub grants: Vec<String>,
}

/// Global privileges a seed of `physical` (or logical) kind and replication need.
pub fn needed_grants(physical: bool) -> &'static [&'static str] {
    if physical {
        &[
            "REPLICATION SLAVE",
            "RELOAD",
            "PROCESS",
            "LOCK TABLES",
            "BINLOG MONITOR",
        ]
    } else {
        &[
            "REPLICATION SLAVE",
            "RELOAD",
            "SELECT",
            "SHOW VIEW",
            "TRIGGER",
            "EVENT",
            "BINLOG MONITOR",
        ]
    }
}

/// Which of `needed` a user with `have` lacks (`REPLICATION CLIENT` is the
/// old name of `BINLOG MONITOR`; `ALL PRIVILEGES` covers everything).
pub fn missing_grants(have: &[String], needed: &[&'static str]) -> Vec<&'static str> {
    if have.iter().any(|g| g == "ALL PRIVILEGES" || g == "ALL") {
        return Vec::new();
    }
    needed
        .iter()
        .copied()
        .filter(|n| {
            !have.iter().any(|g| {
                g == n || (*n == "BINLOG MONITOR" && (g == "REPLICATION CLIENT" || g == "SUPER"))
            })
        })
        .collect()
}

/// The privileges on `*.*` in `SHOW GRANTS` lines. The lines also hold the
/// password's hash: only the privilege list before ` ON *.*` is read.
fn global_grants(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| {
            let rest = l.strip_prefix("GRANT ")?;
            let (privs, _) = rest.split_once(" ON *.* TO ")?;
            Some(
                privs
                    .split(", ")
                    .map(|p| p.trim().to_ascii_uppercase())
                    .collect::<Vec<_>>(),
            )
        })
        .flatten()
        .collect()
}

/// Connects to the source with the password and reads [`SourceFacts`].
pub fn probe(src: &SourceUrl, pw: &Password) -> Result<SourceFacts> {
    let unreachable = |e: mysql_async::Error| SourceError::Unreachable {
        url: src.to_string(),
        detail: e.to_string(),
    };
    run(async {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname(src.host.clone())
            .tcp_port(src.port)
            .user(Some(src.user.clone()))
            .pass(Some(pw.expose().to_owned()))
            .prefer_socket(false);
        let mut c = mysql_async::Conn::new(opts).await.map_err(unreachable)?;
        let (version, server_id, log_bin, datadir, gtid): (String, u32, i64, String, String) = c
            .query_first("SELECT @@version, @@server_id, @@log_bin, @@datadir, @@gtid_binlog_pos")
            .await
            .map_err(unreachable)?
            .unwrap_or_default();
        let databases: Vec<String> = c
            .query(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT IN \
                 ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY schema_name",
            )
            .await
            .map_err(unreachable)?;
        let data_bytes: Option<u64> = c
            .query_first(
                "SELECT CAST(COALESCE(SUM(data_length + index_length), 0) AS UNSIGNED) FROM information_schema.tables",
            )
            .await
            .map_err(unreachable)?;
        let grant_lines: Vec<String> = c.query("SHOW GRANTS").await.map_err(unreachable)?;
        let basename: Option<Option<String>> = c
            .query_first("SELECT @@log_bin_basename")
            .await
            .map_err(unreachable)?;
        // Needs BINLOG MONITOR; without it the datadir cannot be recognised (and
        // the grants check names what is missing).
        let binlog_now = match c.query_iter("SHOW MASTER STATUS").await {
            Ok(mut r) => {
                let rows: Vec<mysql_async::Row> = r.collect().await.map_err(unreachable)?;
                rows.first()
                    .and_then(|row| Some((row.get::<String, _>(0)?, row.get::<u64, _>(1)?)))
            }
            Err(_) => None,
        };
        let _ = c.disconnect().await;
        Ok(SourceFacts {
            grants: global_grants(&grant_lines),
            version,
            server_id,
            log_bin: log_bin != 0,
            datadir,
            gtid_binlog_pos: gtid,
            log_bin_basename: basename.flatten().unwrap_or_default(),
            binlog_now,
            databases,
            data_bytes: data_bytes.unwrap_or(0),
        })
    })
}

/// Whether `datadir` (on this host) is the source's own: the binary log the
/// source writes now is there (relative to it as the source's is to
/// `@@datadir`, or at `@@log_bin_basename` itself), at least as long as the
/// position it reported, and its format event names the source's
/// `server_id`. A path that merely holds *a* datadir (this host's own
/// MariaDB at `/var/lib/mysql`, while the source runs in a container) is not
/// taken for the source's. `Err` says why not.
pub fn datadir_is_sources(facts: &SourceFacts, datadir: &Path) -> std::result::Result<(), String> {
    let Some((file, pos)) = &facts.binlog_now else {
        return Err(
            "the source did not say which binary log it writes (SHOW MASTER STATUS)".into(),
        );
    };
    let reported = Path::new(&facts.datadir);
    let basename = Path::new(&facts.log_bin_basename);
    let dir = basename.parent().unwrap_or(Path::new(""));
    let dir = match dir.strip_prefix(reported) {
        Ok(rel) => datadir.join(rel),
        Err(_) if dir.is_relative() => datadir.join(dir),
        Err(_) => dir.to_owned(),
    };
    let path = dir.join(file);
    let mut head = [0u8; 13];
    let len = std::fs::File::open(&path)
        .and_then(|mut f| {
            use std::io::Read;
            f.read_exact(&mut head)?;
            f.metadata().map(|m| m.len())
        })
        .map_err(|e| {
            format!(
                "the source's binary log {} is not readable here ({e})",
                path.display()
            )
        })?;
    // Magic, then the format description event: timestamp (4), type (1) =
    // 15, server_id (4, little-endian).
    if head[..4] != [0xfe, b'b', b'i', b'n'] || head[8] != 15 {
        return Err(format!(
            "{} is not a binary log this host can read (encrypted?)",
            path.display()
        ));
    }
    let id = u32::from_le_bytes([head[9], head[10], head[11], head[12]]);
    if id != facts.server_id {
        return Err(format!(
            "{} was written by server_id {id}, the source is {}",
            path.display(),
            facts.server_id
        ));
    }
    if len < *pos {
        return Err(format!(
            "{} holds {len} bytes, the source is at position {pos} of it",
            path.display()
        ));
    }
    Ok(())
}

/// Points the replica at the source from `gtid` on and starts replicating.
pub fn start_replication(
    replica_url: &str,
    src: &SourceUrl,
    pw: &Password,
    gtid: &str,
) -> Result<()> {
    let change = format!(
        "CHANGE MASTER TO MASTER_HOST={}, MASTER_PORT={}, MASTER_USER={}, MASTER_PASSWORD={}, \
         MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=5",
        literal(&src.host),
        src.port,
        literal(&src.user),
        literal(pw.expose())
    );
    let set_pos = format!("SET GLOBAL gtid_slave_pos = {}", literal(gtid));
    run(async move {
        let mut c = conn(replica_url).await?;
        c.query_drop("SET SESSION sql_mode = ''")
            .await
            .map_err(sql_err)?;
        c.query_drop("STOP SLAVE").await.map_err(sql_err)?;
        c.query_drop(set_pos).await.map_err(sql_err)?;
        // The statement holds the password: its error is reported without it.
        c.query_drop(change).await.map_err(|e| {
            SourceError::Sql(format!("CHANGE MASTER TO … failed ({})", error_code(&e)))
        })?;
        c.query_drop("START SLAVE").await.map_err(sql_err)?;
        let _ = c.disconnect().await;
        Ok(())
    })
}

fn error_code(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(se) => format!("server error {}", se.code),
        _ => "connection error".to_owned(),
    }
}

/// Starts the replication threads again (after a restart: servers start without them).
pub fn resume(replica_url: &str) -> Result<()> {
    simple(replica_url, &["START SLAVE"])
}

fn simple(replica_url: &str, statements: &[&str]) -> Result<()> {
    let statements: Vec<String> = statements.iter().map(|s| (*s).to_owned()).collect();
    run(async move {
        let mut c = conn(replica_url).await?;
        for s in statements {
            c.query_drop(s).await.map_err(sql_err)?;
        }
        let _ = c.disconnect().await;
        Ok(())
    })
}

/// Stops applying (the receiving thread goes on) and returns the position
/// the replica holds: a snapshot taken now holds exactly that.
pub fn pause_apply(replica_url: &str) -> Result<String> {
    run(async move {
        let mut c = conn(replica_url).await?;
        c.query_drop("STOP SLAVE SQL_THREAD")
            .await
            .map_err(sql_err)?;
        let pos: Option<String> = c
            .query_first("SELECT @@gtid_slave_pos")
            .await
            .map_err(sql_err)?;
        let _ = c.disconnect().await;
        Ok(pos.unwrap_or_default())
    })
}

/// Applies again after [`pause_apply`].
pub fn resume_apply(replica_url: &str) -> Result<()> {
    simple(replica_url, &["START SLAVE SQL_THREAD"])
}

/// Removes every trace of replication from a server (a clone of a replica):
/// its threads, its connection settings, its relay logs.
pub fn forget_source(replica_url: &str) -> Result<()> {
    simple(replica_url, &["STOP SLAVE", "RESET SLAVE ALL"])
}

/// Waits until the replica has applied `gtid` (`MASTER_GTID_WAIT`); false on timeout.
pub fn wait_for(replica_url: &str, gtid: &str, timeout_s: u32) -> Result<bool> {
    let q = format!("SELECT MASTER_GTID_WAIT({}, {timeout_s})", literal(gtid));
    run(async move {
        let mut c = conn(replica_url).await?;
        let r: Option<i64> = c.query_first(q).await.map_err(sql_err)?;
        let _ = c.disconnect().await;
        Ok(r == Some(0))
    })
}

/// State of one replication thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Thread {
    /// Running.
    Running,
    /// Trying to connect to the source.
    Connecting,
    /// Not running.
    Stopped,
}

impl Thread {
    fn parse(s: &str) -> Thread {
        match s {
            "Yes" => Thread::Running,
            "Connecting" => Thread::Connecting,
            _ => Thread::Stopped,
        }
    }
}

/// What `SHOW SLAVE STATUS` says, in types.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReplicaStatus {
    /// Whether replication is configured at all.
    pub configured: bool,
    /// The thread receiving the source's binary log.
    pub io_thread: Thread,
    /// The thread applying it.
    pub sql_thread: Thread,
    /// The last receiving or applying error, if any.
    pub last_error: Option<String>,
    /// `Seconds_Behind_Master`, when both threads run.
    pub lag_seconds: Option<u64>,
    /// What has been received.
    pub gtid_io_pos: String,
    /// What has been applied.
    pub gtid_slave_pos: String,
}

/// Reads the replica's status.
pub fn status(replica_url: &str) -> Result<ReplicaStatus> {
    run(async move {
        let mut c = conn(replica_url).await?;
        let row: Option<mysql_async::Row> =
            c.query_first("SHOW SLAVE STATUS").await.map_err(sql_err)?;
        let applied: Option<String> = c
            .query_first("SELECT @@gtid_slave_pos")
            .await
            .map_err(sql_err)?;
        let _ = c.disconnect().await;
        let applied = applied.unwrap_or_default();
        let Some(row) = row else {
            return Ok(ReplicaStatus {
                configured: false,
                io_thread: Thread::Stopped,
                sql_thread: Thread::Stopped,
                last_error: None,
                lag_seconds: None,
                gtid_io_pos: String::new(),
                gtid_slave_pos: applied,
            });
        };
        let text = |col: &str| -> String {
            row.get_opt::<Option<String>, _>(col)
                .and_then(|r| r.ok())
                .flatten()
                .unwrap_or_default()
        };
        let last_error = [text("Last_IO_Error"), text("Last_SQL_Error")]
            .into_iter()
            .find(|e| !e.is_empty())
            .map(|e| redact_secrets(&e));
        Ok(ReplicaStatus {
            configured: true,
            io_thread: Thread::parse(&text("Slave_IO_Running")),
            sql_thread: Thread::parse(&text("Slave_SQL_Running")),
            last_error,
            lag_seconds: text("Seconds_Behind_Master").parse().ok(),
            gtid_io_pos: text("Gtid_IO_Pos"),
            gtid_slave_pos: applied,
        })
    })
}

/// An error text with the string literal after every `IDENTIFIED BY`,
/// `PASSWORD(` and `MASTER_PASSWORD=` replaced by `'***'`: a replication
/// error quotes the failing statement, and the source's binary log holds
/// account statements with their passwords.
pub fn redact_secrets(text: &str) -> String {
    const MARKS: [&str; 3] = ["IDENTIFIED BY", "PASSWORD(", "MASTER_PASSWORD="];
    let upper = text.to_ascii_uppercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let next = MARKS
            .iter()
            .filter_map(|m| upper[i..].find(m).map(|at| (i + at, m.len())))
            .min();
        let Some((at, len)) = next else {
            out.push_str(&text[i..]);
            break;
        };
        let after = at + len;
        out.push_str(&text[i..after]);
        let rest = &text[after..];
        let lead = rest.len() - rest.trim_start().len();
        let rest = rest.trim_start();
        match rest.chars().next() {
            Some(q @ ('\'' | '"')) => {
                // The literal ends at the next unescaped, undoubled quote.
                let body = &rest[1..];
                let mut end = body.len();
                let mut chars = body.char_indices().peekable();
                while let Some((k, c)) = chars.next() {
                    if c == '\\' {
                        chars.next();
                    } else if c == q {
                        // `''` inside a literal is a quote, unless nothing of a
                        // password follows: then it closes this literal and an
                        // outer one (an error quoting the statement).
                        let doubled = chars.peek().is_some_and(|(_, d)| *d == q)
                            && body[k + 2..]
                                .chars()
                                .next()
                                .is_some_and(|n| n.is_alphanumeric());
                        if doubled {
                            chars.next();
                        } else {
                            end = k;
                            break;
                        }
                    }
                }
                out.push_str(&" ".repeat(lead));
                out.push(q);
                out.push_str("***");
                out.push(q);
                i = after + lead + 1 + (end + 1).min(body.len());
            }
            _ => i = after,
        }
    }
    out
}

/// `domain-server-seq,…` as the newest sequence number per domain.
fn seqs(gtid: &str) -> BTreeMap<u32, u64> {
    let mut m = BTreeMap::new();
    for part in gtid.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut it = part.split('-');
        if let (Some(d), Some(_), Some(n), None) = (it.next(), it.next(), it.next(), it.next()) {
            if let (Ok(d), Ok(n)) = (d.parse::<u32>(), n.parse::<u64>()) {
                let e = m.entry(d).or_insert(0);
                *e = (*e).max(n);
            }
        }
    }
    m
}

/// Transactions `ahead` has that `behind` has not: per replication domain,
/// the difference of sequence numbers, summed.
pub fn gtid_distance(ahead: &str, behind: &str) -> u64 {
    let b = seqs(behind);
    seqs(ahead)
        .iter()
        .map(|(d, n)| n.saturating_sub(b.get(d).copied().unwrap_or(0)))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A binary log's first 13 bytes: magic, then a format event's header.
    fn binlog(dir: &Path, name: &str, server_id: u32, len: usize) {
        let mut b = vec![0xfe, b'b', b'i', b'n', 1, 2, 3, 4, 15];
        b.extend(server_id.to_le_bytes());
        b.resize(len, 0);
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(name), b).unwrap();
    }

    #[test]
    fn a_datadir_is_the_sources_when_its_binary_log_is() {
        let t = tempfile::tempdir().unwrap();
        let here = t.path().join("volume/_data");
        binlog(&here, "prod-bin.000002", 1, 400);
        let facts = |basename: &str, at: Option<(&str, u64)>, id| SourceFacts {
            server_id: id,
            datadir: "/var/lib/mysql/".into(),
            log_bin_basename: basename.into(),
            binlog_now: at.map(|(f, p)| (f.to_owned(), p)),
            ..SourceFacts::default()
        };
        let ok = Some(("prod-bin.000002", 380));
        // (facts, expected: None = it is, Some(text) = why not)
        let check = |f: SourceFacts, want: Option<&str>| match (datadir_is_sources(&f, &here), want)
        {
            (Ok(()), None) => {}
            (Err(e), Some(w)) => assert!(e.contains(w), "{e:?} lacks {w:?}"),
            (got, want) => panic!("{f:?}: {got:?}, expected {want:?}"),
        };
        check(facts("/var/lib/mysql/prod-bin", ok, 1), None);
        check(
            facts("/var/lib/mysql/prod-bin", ok, 2),
            Some("written by server_id 1"),
        );
        check(
            facts("/var/lib/mysql/prod-bin", Some(("prod-bin.000002", 401)), 1),
            Some("at position 401"),
        );
        check(
            facts("/var/lib/mysql/prod-bin", None, 1),
            Some("SHOW MASTER STATUS"),
        );
        check(
            facts("/var/lib/mysql/prod-bin", Some(("prod-bin.000003", 4)), 1),
            Some("not readable here"),
        );
        // Binary logs elsewhere on the source's host: that path, as it is.
        check(
            facts("/srv/binlogs/prod-bin", ok, 1),
            Some("/srv/binlogs/prod-bin.000002"),
        );
        binlog(&here.join("logs"), "b.000001", 1, 100);
        check(
            facts("/var/lib/mysql/logs/b", Some(("b.000001", 50)), 1),
            None,
        );
        // Not a binary log (an encrypted one starts otherwise).
        std::fs::write(here.join("prod-bin.000002"), [0u8; 64]).unwrap();
        check(
            facts("/var/lib/mysql/prod-bin", ok, 1),
            Some("not a binary log"),
        );
    }

    #[test]
    fn distances() {
        for (ahead, behind, want) in [
            ("0-1-10", "0-1-7", 3),
            ("0-1-10", "0-1-10", 0),
            ("0-1-10", "", 10),
            ("0-1-10,1-2-5", "0-1-10,1-2-1", 4),
            ("0-1-10", "0-1-12", 0),
            ("garbage", "0-1-1", 0),
            ("0-2-20", "0-1-15", 5),
        ] {
            assert_eq!(gtid_distance(ahead, behind), want, "{ahead} vs {behind}");
        }
    }

    #[test]
    fn secrets_in_errors() {
        for (input, want) in [
            (
                "Query: 'CREATE USER repl@'%' IDENTIFIED BY 'Pw-7f3#9kZq''",
                "Query: 'CREATE USER repl@'%' IDENTIFIED BY '***''",
            ),
            (
                "set password = PASSWORD('a''b') now",
                "set password = PASSWORD('***') now",
            ),
            (
                "MASTER_PASSWORD=\"x\\\"y\", rest",
                "MASTER_PASSWORD=\"***\", rest",
            ),
            ("identified by   'x'", "identified by   '***'"),
            ("no secret here", "no secret here"),
            ("IDENTIFIED BY", "IDENTIFIED BY"),
            ("IDENTIFIED BY 'unterminated", "IDENTIFIED BY '***'"),
        ] {
            assert_eq!(redact_secrets(input), want, "{input}");
        }
    }

    #[test]
    fn grants() {
        let lines = vec![
            "GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, REPLICATION SLAVE ON *.* TO `repl`@`%` IDENTIFIED BY PASSWORD '*ABC'".to_owned(),
            "GRANT SELECT ON `app`.* TO `repl`@`%`".to_owned(),
        ];
        let have = global_grants(&lines);
        assert_eq!(
            missing_grants(&have, needed_grants(true)),
            Vec::<&str>::new()
        );
        assert_eq!(
            missing_grants(&have, needed_grants(false)),
            vec!["SELECT", "SHOW VIEW", "TRIGGER", "EVENT"],
            "SELECT on one database is not SELECT on *.*"
        );
        let all = global_grants(&[
            "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION".to_owned(),
        ]);
        assert!(missing_grants(&all, needed_grants(false)).is_empty());
        let old = vec![
            "REPLICATION CLIENT".to_owned(),
            "REPLICATION SLAVE".to_owned(),
        ];
        assert_eq!(
            missing_grants(&old, needed_grants(true)),
            vec!["RELOAD", "PROCESS", "LOCK TABLES"]
        );
    }

    #[test]
    fn literals_stay_literals() {
        assert_eq!(literal("a'b\\c"), "'a''b\\\\c'");
    }

    proptest! {
        #[test]
        fn redaction_removes_any_password(pre in ".{0,20}", pw in "[^'\\\\]{1,20}", post in ".{0,20}") {
            let text = format!("{pre} IDENTIFIED BY '{pw}' {post}");
            let out = redact_secrets(&text);
            prop_assert!(out.contains("IDENTIFIED BY '***'"), "{}", out);
            prop_assert_eq!(redact_secrets(&pre).len() <= pre.len() + 64, true);
        }

        #[test]
        fn a_position_is_never_behind_itself(domains in proptest::collection::btree_map(0u32..5, 0u64..1_000_000, 0..4)) {
            let text: Vec<String> = domains.iter().map(|(d, n)| format!("{d}-1-{n}")).collect();
            let text = text.join(",");
            prop_assert_eq!(gtid_distance(&text, &text), 0);
            prop_assert_eq!(gtid_distance(&text, ""), domains.values().sum::<u64>());
        }
    }
}
