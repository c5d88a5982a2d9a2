//! The demo's report: what it measured, as data (`--json`) and as Markdown
//! (`report.md`, and the same tables on the terminal). Pure: no I/O here, so
//! the rendering is tested on a fixed set of pipeline reports.

use std::fmt::Write as _;

use populous_pipeline::{Role, RunReport};
use serde::Serialize;

/// What kind of pipeline run a phase was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseKind {
    /// prod's first deployment, seeded with generated data.
    ProdFirst,
    /// The golden copy's refresh: a clone of prod, masked.
    Golden,
    /// dev with a copy-on-write clone of the golden copy (masked already).
    DevClone,
    /// stage importing dev's masked clone.
    Stage,
    /// prod's rolling update.
    ProdUpdate,
    /// dev with `mariadb-dump | mariadb` instead of the clone: the baseline.
    DevDump,
}

/// Masking figures of a dev run.
#[derive(Debug, Clone, Serialize)]
pub struct MaskFigures {
    /// Rows masked.
    pub rows: u64,
    /// Seconds spent masking (the library's own wall time).
    pub seconds: f64,
    /// Rows per second.
    pub rows_per_sec: f64,
    /// Hash of the rules.
    pub ruleset: String,
    /// Id of the key (never the key).
    pub key_id: String,
    /// Seconds of the scrub after masking (purge, compaction, fresh redo log).
    pub scrub_seconds: f64,
    /// Originals sampled for the scan of the volume's files.
    pub scan_sampled: usize,
    /// Of those, found in some file (0, or the masking failed).
    pub scan_found: usize,
    /// Files the scan read.
    pub scan_files: usize,
}

/// The prod probe's figures over one phase of the demo.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProbeFigures {
    /// Requests sent.
    pub requests: usize,
    /// Requests that failed (error status, timeout, refused).
    pub failed: usize,
    /// Median latency of the successful ones, ms.
    pub p50_ms: Option<f64>,
    /// 99th percentile, ms.
    pub p99_ms: Option<f64>,
}

/// One pipeline run of the demo, and prod's response times meanwhile.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// The probe event that opened it, e.g. `dev build 2 (clone)`.
    pub name: String,
    /// What it was.
    pub kind: PhaseKind,
    /// The pipeline's own report.
    pub run: RunReport,
    /// Masking, when the run masked.
    pub mask: Option<MaskFigures>,
    /// The demo probe on prod during this run (none before prod exists).
    pub probe: Option<ProbeFigures>,
}

/// A step of the source that replicates prod (outside the pool) onto the pool.
#[derive(Debug, Clone, Serialize)]
pub struct SourceStep {
    /// What was done (also the probe event that opened it).
    pub name: String,
    /// Wall time, s.
    pub seconds: f64,
    /// What it did, in words (mode, bytes, GTID, lag).
    pub detail: String,
    /// The demo probe on prod meanwhile.
    pub probe: Option<ProbeFigures>,
}

/// A setup step and its time.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// What was done.
    pub name: String,
    /// Wall time.
    pub seconds: f64,
}

/// The clone against the full copy, both in dev.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Build number of the dev run with the clone compared.
    pub clone_build: String,
    /// Build number of the dev run with the dump.
    pub dump_build: String,
    /// Whole dev run with the clone, s.
    pub clone_run_s: f64,
    /// Whole dev run with the dump, s.
    pub dump_run_s: f64,
    /// `dump_run_s / clone_run_s`.
    pub run_ratio: f64,
    /// The run role (data + services) with the clone, s.
    pub clone_role_s: f64,
    /// The run role with the dump, s.
    pub dump_role_s: f64,
    /// `dump_role_s / clone_role_s`.
    pub role_ratio: f64,
    /// The data step alone: the clone (`docker volume create`), s.
    pub clone_copy_s: Option<f64>,
    /// The data step alone: `mariadb-dump | mariadb`, s.
    pub dump_copy_s: Option<f64>,
    /// `dump_copy_s / clone_copy_s`.
    pub copy_ratio: Option<f64>,
    /// The golden copy's last refresh (clone and mask of prod), s: paid once
    /// per prod snapshot, not per build.
    pub refresh_s: Option<f64>,
    /// `dump_run_s / (clone_run_s + refresh_s)`: the ratio if every build
    /// refreshed the golden copy first (the worst case).
    pub with_refresh_ratio: Option<f64>,
}

/// One volume of the pool with where it came from and what was done to it.
#[derive(Debug, Clone, Serialize)]
pub struct LineageEntry {
    /// `folder/volume`.
    pub volume: String,
    /// online or offline.
    pub state: String,
    /// Ancestry, nearest first (`prod/db@auto-…`).
    pub lineage: Vec<String>,
    /// How it got into its folder, from the demo's own runs (e.g. `cloned in dev, imported`).
    pub how: String,
    /// Masked, with rules hash and key id.
    pub masked: Option<String>,
    /// Bytes its files reference (shared blocks count in full).
    pub used_bytes: Option<u64>,
    /// Its snapshots with the clones made from them.
    pub snapshots: Vec<String>,
}

/// Everything the demo reports.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// `--size`, as given.
    pub size: String,
    /// Builds taken through dev, stage and prod.
    pub builds: u32,
    /// Every step and run passed.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
    /// Wall time of the whole demo, s.
    pub seconds: f64,
    /// Setup steps.
    pub setup: Vec<Step>,
    /// The source's steps: prod runs outside the pool.
    pub source: Vec<SourceStep>,
    /// Pipeline runs, in order.
    pub phases: Vec<Phase>,
    /// The demo probe over its whole run.
    pub probe_total: Option<ProbeFigures>,
    /// The demo probe while prod was idle, before anything else ran.
    pub probe_idle: Option<ProbeFigures>,
    /// Clone against dump.
    pub comparison: Option<Comparison>,
    /// The pool's volumes.
    pub lineage: Vec<LineageEntry>,
    /// Files written (report, chart, probe record, pipeline file).
    pub files: Vec<String>,
}

/// Seconds of one role of a run, if it ran.
pub fn role_seconds(r: &RunReport, role: Role) -> Option<f64> {
    r.roles.iter().find(|x| x.role == role).map(|x| x.seconds)
}

/// The data step's time (the clone, or the dump | restore), as the runner measured it.
pub fn copy_seconds(r: &RunReport) -> Option<f64> {
    r.data_seconds
}

/// Compares the last dev run with a clone against the dump run.
pub fn compare(phases: &[Phase]) -> Option<Comparison> {
    let clone = phases
        .iter()
        .rev()
        .find(|p| p.kind == PhaseKind::DevClone && p.run.ok)?;
    let dump = phases
        .iter()
        .find(|p| p.kind == PhaseKind::DevDump && p.run.ok)?;
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    let clone_role_s = role_seconds(&clone.run, Role::Run)?;
    let dump_role_s = role_seconds(&dump.run, Role::Run)?;
    let clone_copy_s = copy_seconds(&clone.run);
    let dump_copy_s = copy_seconds(&dump.run);
    let refresh_s = phases
        .iter()
        .rev()
        .find(|p| p.kind == PhaseKind::Golden && p.run.ok)
        .map(|p| p.run.seconds);
    Some(Comparison {
        clone_build: clone.run.build.clone(),
        dump_build: dump.run.build.clone(),
        clone_run_s: clone.run.seconds,
        dump_run_s: dump.run.seconds,
        run_ratio: ratio(dump.run.seconds, clone.run.seconds),
        clone_role_s,
        dump_role_s,
        role_ratio: ratio(dump_role_s, clone_role_s),
        copy_ratio: clone_copy_s
            .zip(dump_copy_s)
            .map(|(c, d)| ratio(d, c.max(0.001))),
        clone_copy_s,
        dump_copy_s,
        with_refresh_ratio: refresh_s.map(|r| ratio(dump.run.seconds, clone.run.seconds + r)),
        refresh_s,
    })
}

/// A table cell: a `|` in the text would end it.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

/// The roles of a run in a few words: `build 3.1, ship 0.8, run 10.2, ...`.
fn roles_text(r: &RunReport) -> String {
    r.roles
        .iter()
        .map(|x| {
            let mark = match x.outcome {
                "ok" => "",
                "failed" => " FAILED",
                _ => " skipped",
            };
            format!("{} {:.1}{mark}", x.role, x.seconds)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The per-phase table (also printed on the terminal).
pub fn phase_table(r: &DemoReport) -> String {
    let mut s = String::new();
    s.push_str(
        "| phase | outcome | seconds | roles (s) | prod requests | failed | p50 ms | p99 ms |\n",
    );
    s.push_str("|---|---|---:|---|---:|---:|---:|---:|\n");
    for p in &r.phases {
        let pr = p.probe.clone().unwrap_or_default();
        let (req, failed) = match &p.probe {
            Some(_) => (pr.requests.to_string(), pr.failed.to_string()),
            None => ("-".into(), "-".into()),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} | {} | {req} | {failed} | {} | {} |",
            cell(&p.name),
            if p.run.ok { "passed" } else { "FAILED" },
            p.run.seconds,
            roles_text(&p.run),
            ms(pr.p50_ms),
            ms(pr.p99_ms),
        );
    }
    if let Some(t) = &r.probe_total {
        let _ = writeln!(
            s,
            "| **whole demo (probe)** | | | | {} | {} | {} | {} |",
            t.requests,
            t.failed,
            ms(t.p50_ms),
            ms(t.p99_ms)
        );
    }
    s
}

/// The headline, like for like: each dev run until its db (and app) answer
/// with the data. The clone's data step alone is not that: its server has
/// not started yet.
pub fn headline(c: &Comparison) -> String {
    let mut s = format!(
        "**dev serves a copy of prod's data {:.1}x sooner by clone ({:.1} s) than by `mariadb-dump | mariadb` \
         ({:.1} s)**: the run role of each, from its data step until the db and app services answer, \
         like for like.",
        c.role_ratio, c.clone_role_s, c.dump_role_s
    );
    if let (Some(cl), Some(d), Some(x)) = (c.clone_copy_s, c.dump_copy_s, c.copy_ratio) {
        let _ = write!(
            s,
            " The data step alone (the clone against the dump's copy, not like for like: the clone's \
             server has not started yet): {cl:.3} s against {d:.1} s ({x:.0}x)."
        );
    }
    s
}

/// The clone-versus-dump table, the like-for-like rows first.
pub fn comparison_table(c: &Comparison) -> String {
    let mut s = String::new();
    s.push_str("| dev run | clone | mariadb-dump \\| mariadb | dump / clone |\n");
    s.push_str("|---|---:|---:|---:|\n");
    let _ = writeln!(
        s,
        "| **to a serving copy: data step, db and app services up (run role, s)** | **{:.1}** | **{:.1}** | **{:.1}x** |",
        c.clone_role_s, c.dump_role_s, c.role_ratio
    );
    let _ = writeln!(
        s,
        "| whole dev pipeline: build, ship, run, mask, smoke, destroy (s) | {:.1} | {:.1} | {:.1}x |",
        c.clone_run_s, c.dump_run_s, c.run_ratio
    );
    if let (Some(r), Some(x)) = (c.refresh_s, c.with_refresh_ratio) {
        let _ = writeln!(
            s,
            "| the same plus a golden refresh (clone + mask of prod) before it (s) | {:.1} | {:.1} | {x:.1}x |",
            c.clone_run_s + r,
            c.dump_run_s
        );
    }
    let _ = writeln!(
        s,
        "| data step alone, not like for like: no server yet on the clone (s) | {} | {} | {} |",
        c.clone_copy_s
            .map_or_else(|| "-".into(), |v| format!("{v:.3}")),
        secs(c.dump_copy_s),
        c.copy_ratio
            .map_or_else(|| "-".into(), |v| format!("{v:.0}x"))
    );
    s
}

/// The prod rolling updates as the pipeline's own probe saw them.
fn update_table(r: &DemoReport) -> Option<String> {
    let rows: Vec<&Phase> = r.phases.iter().filter(|p| p.run.update.is_some()).collect();
    if rows.is_empty() {
        return None;
    }
    let mut s = String::new();
    s.push_str("| update | idle p50 / p99 ms | update p50 / p99 ms | p99 ratio | requests | failed | versions |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---|\n");
    for p in rows {
        let u = p.run.update.as_ref().expect("filtered");
        let _ = writeln!(
            s,
            "| {} | {:.1} / {:.1} | {:.1} / {:.1} | {:.2} | {} | {} | {} |",
            p.name,
            u.idle_p50_ms,
            u.idle_p99_ms,
            u.update_p50_ms,
            u.update_p99_ms,
            u.p99_ratio,
            u.update_requests,
            u.failed,
            u.versions
                .iter()
                .map(|(v, n)| format!("{v} x{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Some(s)
}

fn mask_table(r: &DemoReport) -> Option<String> {
    let rows: Vec<(&Phase, &MaskFigures)> = r
        .phases
        .iter()
        .filter_map(|p| p.mask.as_ref().map(|m| (p, m)))
        .collect();
    if rows.is_empty() {
        return None;
    }
    let mut s = String::new();
    s.push_str(
        "| masked in | rows | seconds | rows/s | scrub (s) | scan: originals found | rules | key id |\n|---|---:|---:|---:|---:|---|---|---|\n",
    );
    for (p, m) in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} | {:.0} | {:.1} | {} of {} in {} files | {} | {} |",
            p.name,
            m.rows,
            m.seconds,
            m.rows_per_sec,
            m.scrub_seconds,
            m.scan_found,
            m.scan_sampled,
            m.scan_files,
            m.ruleset,
            m.key_id
        );
    }
    Some(s)
}

/// The whole Markdown report.
/// The source's steps with prod's response times meanwhile, beside idle.
fn source_table(r: &DemoReport) -> Option<String> {
    if r.source.is_empty() {
        return None;
    }
    let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    let mut s = String::from(
        "| step | seconds | what it did | prod requests | failed | p50 ms | p99 ms |\n|---|---:|---|---:|---:|---:|---:|\n",
    );
    if let Some(idle) = &r.probe_idle {
        let _ = writeln!(
            s,
            "| (prod idle, before) | - | - | {} | {} | {} | {} |",
            idle.requests,
            idle.failed,
            ms(idle.p50_ms),
            ms(idle.p99_ms)
        );
    }
    for st in &r.source {
        let (n, f, p50, p99) =
            st.probe
                .as_ref()
                .map_or(("-".to_owned(), "-".to_owned(), None, None), |p| {
                    (
                        p.requests.to_string(),
                        p.failed.to_string(),
                        p.p50_ms,
                        p.p99_ms,
                    )
                });
        let _ = writeln!(
            s,
            "| {} | {:.1} | {} | {n} | {f} | {} | {} |",
            st.name,
            st.seconds,
            st.detail,
            ms(p50),
            ms(p99)
        );
    }
    Some(s)
}

pub fn markdown(r: &DemoReport, chart: Option<&str>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# populous demo: --size {} --builds {}\n",
        r.size, r.builds
    );
    let _ = writeln!(
        s,
        "{} in {:.0} s.{}\n",
        if r.ok { "Passed" } else { "**FAILED**" },
        r.seconds,
        r.error
            .as_ref()
            .map(|e| format!(" Stopped by: {e}"))
            .unwrap_or_default()
    );
    if let Some(c) = &r.comparison {
        let _ = writeln!(
            s,
            "## Clone against full copy (dev, build {} with a clone, build {} with a dump)\n",
            c.clone_build, c.dump_build
        );
        s.push_str(&headline(c));
        s.push_str("\n\n");
        s.push_str(&comparison_table(c));
        s.push_str(
            "\nThe clone's dev run clones golden/db, prod's masked copy, so it masks nothing; \
             the dump's dev run copies prod and masks the copy, as the seed's pipeline did. \
             The last row charges the golden refresh to the build, as if every build refreshed it.\n",
        );
        s.push('\n');
    }
    if let Some(t) = source_table(r) {
        s.push_str("## prod outside the pool: the source's replica on the pool\n\n");
        s.push_str(
            "prod's database is a Docker volume of Docker's own local driver (plain disk); \
             a Populous source seeds a replica of it on the pool and keeps it current by \
             replication, and the golden copy comes from the source's newest clean snapshot.\n\n",
        );
        s.push_str(&t);
        s.push('\n');
    }
    s.push_str("## Phases, with prod's response times meanwhile\n\n");
    s.push_str(
        "Each row is one `populous pipeline run`; the probe GETs prod's `/_ping` all through the demo.\n\n",
    );
    s.push_str(&phase_table(r));
    s.push('\n');
    if let Some(t) = update_table(r) {
        s.push_str("## Rolling updates of prod (the pipeline's own probe)\n\n");
        s.push_str(&t);
        s.push('\n');
    }
    if let Some(t) = mask_table(r) {
        s.push_str("## Masking\n\n");
        s.push_str(&t);
        s.push('\n');
    }
    if let Some(c) = chart {
        let _ = writeln!(
            s,
            "## Latency of prod\n\n![prod latency, phases shaded]({c})\n"
        );
    }
    if !r.lineage.is_empty() {
        s.push_str("## Lineage of every volume\n\n");
        s.push_str("| volume | state | how it got there | origin (nearest first) | masked | used | snapshots → clones |\n");
        s.push_str("|---|---|---|---|---|---:|---|\n");
        for l in &r.lineage {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} |",
                l.volume,
                l.state,
                cell(&l.how),
                if l.lineage.is_empty() {
                    "-".into()
                } else {
                    l.lineage.join(" ← ")
                },
                l.masked.as_deref().unwrap_or("no"),
                l.used_bytes
                    .map(populous_engine::size::format_size)
                    .unwrap_or_else(|| "-".into()),
                if l.snapshots.is_empty() {
                    "-".into()
                } else {
                    l.snapshots.join("; ")
                }
            );
        }
        s.push('\n');
    }
    if !r.setup.is_empty() {
        s.push_str("## Setup\n\n| step | seconds |\n|---|---:|\n");
        for st in &r.setup {
            let _ = writeln!(s, "| {} | {:.1} |", st.name, st.seconds);
        }
        s.push('\n');
    }
    if !r.files.is_empty() {
        s.push_str("## Files\n\n");
        for f in &r.files {
            let _ = writeln!(s, "- `{f}`");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use populous_pipeline::{RoleReport, UpdateFigures};

    /// `... in 123 ms` or `... in 9.8 s`: what the runner measured, as the fixtures say it.
    fn detail_seconds(d: &str) -> Option<f64> {
        let (_, after) = d.split_once(" in ")?;
        let mut it = after.split_whitespace();
        let n: f64 = it.next()?.trim_end_matches([';', ',']).parse().ok()?;
        match it.next()?.trim_end_matches([';', ',']) {
            "ms" => Some(n / 1000.0),
            "s" => Some(n),
            _ => None,
        }
    }

    fn run(env: &str, build: &str, roles: &[(Role, f64, &str)], update: bool) -> RunReport {
        RunReport {
            pipeline: "populous-demo".into(),
            env: env.into(),
            build: build.into(),
            tag: format!("1.0.1-{build}"),
            ok: true,
            error: None,
            roles: roles
                .iter()
                .map(|(role, seconds, detail)| RoleReport {
                    role: *role,
                    outcome: "ok",
                    seconds: *seconds,
                    detail: detail.to_string(),
                })
                .collect(),
            seconds: roles.iter().map(|r| r.1).sum(),
            data_seconds: roles
                .iter()
                .find(|r| r.0 == Role::Run)
                .and_then(|r| detail_seconds(r.2)),
            update: update.then(|| UpdateFigures {
                idle_requests: 100,
                idle_p50_ms: 2.0,
                idle_p99_ms: 5.0,
                update_requests: 300,
                update_p50_ms: 2.5,
                update_p99_ms: 9.0,
                failed: 0,
                p99_ratio: 1.8,
                versions: vec![("1.0.1-1".into(), 120), ("1.0.1-2".into(), 180)],
                probe_file: "p.jsonl".into(),
            }),
            mask: None,
        }
    }

    fn phase(name: &str, kind: PhaseKind, run: RunReport) -> Phase {
        Phase {
            name: name.into(),
            kind,
            mask: (kind == PhaseKind::Golden).then(|| MaskFigures {
                rows: 32000,
                seconds: 1.6,
                rows_per_sec: 20000.0,
                ruleset: "ab12".into(),
                key_id: "k9".into(),
                scrub_seconds: 0.8,
                scan_sampled: 2000,
                scan_found: 0,
                scan_files: 140,
            }),
            probe: Some(ProbeFigures {
                requests: 150,
                failed: 0,
                p50_ms: Some(1.9),
                p99_ms: Some(7.25),
            }),
            run,
        }
    }

    fn fixture() -> DemoReport {
        let phases = vec![
            phase(
                "golden refresh",
                PhaseKind::Golden,
                run("golden", "1", &[(Role::Refresh, 9.0, "golden/db = clone of prod/db@auto-1 (20 ms), masked")], false),
            ),
            phase(
                "dev build 2 (clone)",
                PhaseKind::DevClone,
                run(
                    "dev",
                    "2",
                    &[
                        (Role::Build, 3.0, "built"),
                        (Role::Run, 10.0, "cloned prod/db to dev/db-2 in 250 ms; db and app services up"),
                        (Role::Mask, 8.0, "masked"),
                        (Role::Destroy, 12.0, "removed"),
                    ],
                    false,
                ),
            ),
            phase(
                "prod build 2 (update)",
                PhaseKind::ProdUpdate,
                run("prod", "2", &[(Role::Run, 30.0, "updated"), (Role::Smoke, 1.0, "ok")], true),
            ),
            phase(
                "dev build 3 (dump)",
                PhaseKind::DevDump,
                run(
                    "dev",
                    "3",
                    &[
                        (Role::Build, 3.0, "built"),
                        (Role::Run, 120.0, "copied prod/db by mariadb-dump | mariadb (2200 MB) in 100.0 s; db and app services up"),
                        (Role::Mask, 8.0, "masked"),
                        (Role::Destroy, 12.0, "removed"),
                    ],
                    false,
                ),
            ),
        ];
        DemoReport {
            size: "2G".into(),
            builds: 1,
            ok: true,
            error: None,
            seconds: 300.0,
            setup: vec![Step {
                name: "pool".into(),
                seconds: 1.5,
            }],
            source: vec![SourceStep {
                name: "source add (seed the replica)".into(),
                seconds: 21.5,
                detail: "physical seed of 2.0 GiB in 20.1 s (107 MB/s) at GTID 0-1-4100".into(),
                probe: Some(ProbeFigures {
                    requests: 100,
                    failed: 0,
                    p50_ms: Some(2.5),
                    p99_ms: Some(11.0),
                }),
            }],
            probe_idle: Some(ProbeFigures {
                requests: 25,
                failed: 0,
                p50_ms: Some(2.0),
                p99_ms: Some(4.25),
            }),
            comparison: compare(&phases),
            phases,
            probe_total: Some(ProbeFigures {
                requests: 1500,
                failed: 0,
                p50_ms: Some(2.0),
                p99_ms: Some(8.0),
            }),
            lineage: vec![LineageEntry {
                volume: "stage/db-2".into(),
                state: "online".into(),
                lineage: vec!["prod/db@auto-1".into()],
                how: "cloned in dev (build 2), masked, imported".into(),
                masked: Some("rules ab12, key k9".into()),
                used_bytes: Some(2 << 30),
                snapshots: vec![],
            }],
            files: vec!["report.md".into()],
        }
    }

    #[test]
    fn the_source_steps_show_beside_prod_idle() {
        let md = markdown(&fixture(), None);
        for line in [
            "## prod outside the pool: the source's replica on the pool",
            "| (prod idle, before) | - | - | 25 | 0 | 2.0 | 4.2 |",
            "| source add (seed the replica) | 21.5 | physical seed of 2.0 GiB in 20.1 s (107 MB/s) at GTID 0-1-4100 | 100 | 0 | 2.5 | 11.0 |",
        ] {
            assert!(md.contains(line), "{line:?} not in\n{md}");
        }
        let mut r = fixture();
        r.source.clear();
        assert!(!markdown(&r, None).contains("outside the pool"));
    }

    #[test]
    fn copy_times_come_from_the_run_role() {
        let r = fixture();
        assert_eq!(copy_seconds(&r.phases[1].run), Some(0.25));
        assert_eq!(copy_seconds(&r.phases[3].run), Some(100.0));
        assert_eq!(copy_seconds(&r.phases[2].run), None);
        let c = r.comparison.unwrap();
        assert_eq!(c.clone_build, "2");
        assert_eq!(c.dump_build, "3");
        assert!((c.copy_ratio.unwrap() - 400.0).abs() < 1e-9);
        assert!((c.role_ratio - 12.0).abs() < 1e-9);
        assert!((c.run_ratio - 143.0 / 33.0).abs() < 1e-9);
        assert_eq!(c.refresh_s, Some(9.0));
        assert!((c.with_refresh_ratio.unwrap() - 143.0 / 42.0).abs() < 1e-9);
    }

    #[test]
    fn markdown_has_every_table() {
        let md = markdown(&fixture(), Some("latency.png"));
        for want in [
            "# populous demo: --size 2G --builds 1",
            "| data step alone, not like for like: no server yet on the clone (s) | 0.250 | 100.0 | 400x |",
            "| **to a serving copy: data step, db and app services up (run role, s)** | **10.0** | **120.0** | **12.0x** |",
            "**dev serves a copy of prod's data 12.0x sooner by clone (10.0 s) than by `mariadb-dump | mariadb` (120.0 s)**",
            "The data step alone (the clone against the dump's copy, not like for like",
            "| dev build 2 (clone) | passed | 33.0 | build 3.0, run 10.0, mask 8.0, destroy 12.0 | 150 | 0 | 1.9 | 7.2 |",
            "| **whole demo (probe)** | | | | 1500 | 0 | 2.0 | 8.0 |",
            "| prod build 2 (update) | 2.0 / 5.0 | 2.5 / 9.0 | 1.80 | 300 | 0 | 1.0.1-1 x120, 1.0.1-2 x180 |",
            "| golden refresh | 32000 | 1.6 | 20000 | 0.8 | 0 of 2000 in 140 files | ab12 | k9 |",
            "| the same plus a golden refresh (clone + mask of prod) before it (s) | 42.0 | 143.0 | 3.4x |",
            "![prod latency, phases shaded](latency.png)",
            "| stage/db-2 | online | cloned in dev (build 2), masked, imported | prod/db@auto-1 | rules ab12, key k9 | 2.0 GiB | - |",
        ] {
            assert!(md.contains(want), "missing {want:?} in:\n{md}");
        }
    }

    #[test]
    fn no_dump_no_comparison() {
        let mut r = fixture();
        r.phases.pop();
        assert!(compare(&r.phases).is_none());
        r.comparison = None;
        let md = markdown(&r, None);
        assert!(!md.contains("Clone against full copy"));
        assert!(!md.contains("Latency of prod"));
    }
}
