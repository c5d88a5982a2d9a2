//! prod's database as most teams run it: outside any pool, on a Docker
//! volume of Docker's own `local` driver (plain disk), with a binary log. A
//! Populous source keeps a replica of it on the pool (`prod/replica`); the
//! golden copy comes from the source's newest clean snapshot, and the rest
//! of the story is unchanged.
//!
//! The seed is physical: `mariadb-backup` on this host reads the container's
//! datadir where Docker keeps the volume (`--datadir`), and the source check
//! recognises it by the binary log prod writes.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use populous_engine::{Engine, Name};
use populous_ops::source::{self as ops, AddSource};

use super::report::SourceStep;
use super::Demo;

/// The source's name: prod, as the golden environment's `from_source` says.
pub(super) const SOURCE: &str = "prod";
/// The replica's volume.
pub(super) const REPLICA: &str = "prod/replica";
/// The replication user the demo creates on prod.
const USER: &str = "populous_repl";

impl Demo {
    /// A replication user on prod's server (its password only in a file root
    /// reads), then `source add`: seed, replica, replication.
    pub(super) fn add_source(&mut self) -> Result<()> {
        let t = Instant::now();
        let pw = super::setup::random_hex(24)?;
        let pw_file = self.n.home.join("tokens").join("source.pw");
        super::setup::write_secret(&pw_file, &pw)?;
        // The demo's image gives root@'%' no password (a private overlay
        // network); the statement goes on stdin, so the password is in no
        // process's arguments.
        let grants = "REPLICATION SLAVE, RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SELECT, SHOW VIEW, EVENT, TRIGGER";
        let sql = format!(
            "CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{pw}';\n\
             GRANT {grants} ON *.* TO '{USER}'@'%';\n"
        );
        let port = self.s.prod_db_port.to_string();
        let mut client = Command::new("mariadb")
            .args(["--no-defaults", "--protocol=TCP", "-h", "127.0.0.1", "-P"])
            .arg(&port)
            .args(["-u", "root"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("running the mariadb client")?;
        client
            .stdin
            .take()
            .context("the client's stdin")?
            .write_all(sql.as_bytes())?;
        let out = client.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "creating the replication user on prod (127.0.0.1:{port}): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let docker = populous_pipeline::docker::Docker::default();
        let volume = self.n.prod_volume();
        let datadir = docker.run(&["volume", "inspect", "--format", "{{.Mountpoint}}", &volume])?;
        self.ui.say(&format!(
            "user {USER} on prod (127.0.0.1:{port}); its datadir here: {datadir} (Docker volume {volume}, driver local)"
        ));
        let req = AddSource {
            name: Name::new("source", SOURCE)?,
            url: format!("mysql://{USER}@127.0.0.1:{port}").parse()?,
            password_file: pw_file,
            volume: REPLICA.parse()?,
            mode: None,
            datadir: Some(datadir.trim().into()),
            server_id: None,
            schedule: None,
            keep: 2,
        };
        let mut engine = Engine::open(&self.n.home)?;
        let added = ops::add(&mut engine, &req, &mut |_| {})?;
        let detail = format!(
            "{} seed of {} in {:.1} s ({:.0} MB/s) at GTID {}; {} replicates prod",
            added.mode.as_str(),
            populous_engine::size::format_size(added.seed.bytes),
            added.seed.seconds,
            added.seed.mb_per_s(),
            added.seed.gtid,
            REPLICA
        );
        self.ui.say(&detail);
        self.record_source_step("source add (seed the replica)", t, detail);
        Ok(())
    }

    /// What the source's schedule does (nightly, say): a snapshot of the
    /// replica with applying paused, and its clean base.
    pub(super) fn source_snapshot(&mut self) -> Result<()> {
        let t = Instant::now();
        let mut engine = Engine::open(&self.n.home)?;
        let status = ops::status(&engine, &Name::new("source", SOURCE)?)?;
        let snap = ops::snapshot(&mut engine, &Name::new("source", SOURCE)?, None)?;
        let lag = match (
            status.replica.and_then(|r| r.lag_seconds),
            status.gtid_distance,
        ) {
            (Some(s), Some(d)) => format!("{s} s, {d} transactions"),
            _ => "unknown".to_owned(),
        };
        let detail = format!(
            "{} at GTID {} (lag before it: {lag}); clean base {}",
            snap.snapshot,
            snap.gtid,
            snap.base.as_deref().unwrap_or("-")
        );
        self.ui.say(&detail);
        self.record_source_step("source snapshot (what its schedule does)", t, detail);
        Ok(())
    }

    fn record_source_step(&mut self, name: &str, t: Instant, detail: String) {
        self.report.source.push(SourceStep {
            name: name.to_owned(),
            seconds: t.elapsed().as_secs_f64(),
            detail,
            probe: None,
        });
    }
}
