//! The demo's phases and what follows them: each `populous pipeline run`
//! (with [`DemoHooks`]), the probe on prod around them, the lineage of
//! every volume, the teardown and the written report.

use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context, Result};
use populous_engine::{Engine, VolRef};
use populous_pipeline::spec::CopyMethod;
use populous_pipeline::{Pipeline, Role, RunOptions};

use super::report::{self, LineageEntry, MaskFigures, Phase, PhaseKind, ProbeFigures};
use super::{clean, daemon, Demo, Ui};

/// The pipeline's progress goes to the step's spinner, and its long steps
/// (the seed's rows, masking's chunks) to its bar.
struct DemoHooks<'a> {
    ui: &'a Ui,
}

impl populous_pipeline::Hooks for DemoHooks<'_> {
    fn say(&self, env: &str, role: Option<Role>, msg: &str) {
        match role {
            Some(r) => self.ui.say(&format!("[{env}] {r}: {msg}")),
            None => self.ui.say(&format!("[{env}] {msg}")),
        }
    }

    fn progress(&self, _env: &str, _role: Role, done: u64, total: u64, unit: &str) {
        self.ui.progress(done, total, unit);
    }
}

impl Demo {
    /// One `populous pipeline run`, as a phase of the report and the probe.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn pipeline(
        &mut self,
        p: &Pipeline,
        phase: &str,
        kind: PhaseKind,
        env: &str,
        build: &str,
        roles: Option<Vec<Role>>,
        copy: Option<CopyMethod>,
    ) -> Result<()> {
        if let Some(probe) = &self.probe {
            probe.event(phase);
        }
        self.ui.start(phase);
        let hooks = DemoHooks { ui: &self.ui };
        let opts = RunOptions {
            env: env.to_string(),
            build: build.to_string(),
            state_dir: self.n.home.join("pipeline"),
            wait: Duration::ZERO,
            roles,
            copy,
            home: self.n.home.clone(),
        };
        let outcome = populous_pipeline::run(p, &opts, &hooks);
        let mask = outcome.report.mask.as_ref().map(|m| MaskFigures {
            rows: m.report.rows_total,
            seconds: m.report.elapsed_secs,
            rows_per_sec: m.report.rows_per_sec,
            ruleset: m.report.ruleset_hash.clone(),
            key_id: m.report.key_id.clone(),
            scrub_seconds: m.scrub.total_secs(),
            scan_sampled: m.scan.sampled,
            scan_found: m.scan.found,
            scan_files: m.scan.files_scanned,
        });
        let ok = outcome.error.is_none();
        self.ui.end(ok);
        let r = &outcome.report;
        let mut summary = vec![];
        if let Some(c) = report::copy_seconds(r) {
            summary.push(format!("data step {c:.3} s"));
        }
        if let Some(m) = &mask {
            summary.push(format!(
                "masked {} rows at {:.0} rows/s",
                m.rows, m.rows_per_sec
            ));
        }
        if let Some(u) = &r.update {
            summary.push(format!(
                "update: {} requests, {} failed, p99 {:.1} ms vs idle {:.1} ms ({:.2}x)",
                u.update_requests, u.failed, u.update_p99_ms, u.idle_p99_ms, u.p99_ratio
            ));
        }
        if !summary.is_empty() {
            eprintln!("    {}", summary.join("; "));
        }
        self.report.phases.push(Phase {
            name: phase.to_string(),
            kind,
            run: outcome.report,
            mask,
            probe: None,
        });
        match outcome.error {
            None => Ok(()),
            Some(e) => Err(anyhow::Error::new(e).context(format!(
                "{phase}: populous pipeline run --env {env} --build-number {build}"
            ))),
        }
    }

    pub(super) fn start_probe(&mut self) -> Result<()> {
        let file = self.s.out.join("probe.jsonl");
        let mut cfg = populous_probe::ProbeConfig::new(format!(
            "http://127.0.0.1:{}/_ping",
            self.s.prod_port
        ));
        cfg.interval = Duration::from_millis(200);
        cfg.timeout = Duration::from_secs(2);
        cfg.output = Some(file.clone());
        cfg.overwrite = true;
        let running = populous_probe::Probe::new(cfg)?.spawn()?;
        running.event("idle");
        self.report.files.push(file.display().to_string());
        self.ui.start("probe on prod: idle baseline");
        std::thread::sleep(Duration::from_secs(5));
        self.ui.end(true);
        self.probe = Some(running);
        Ok(())
    }

    /// Stops the probe, gives each phase its figures and draws the chart.
    pub(super) fn finish_probe(&mut self) -> Result<()> {
        let Some(running) = self.probe.take() else {
            return Ok(());
        };
        running.event("end");
        let run = running.stop()?;
        let fig = |st: &populous_probe::PhaseStats| ProbeFigures {
            requests: st.count,
            failed: st.errors,
            p50_ms: st.latency_ms.map(|p| p.p50),
            p99_ms: st.latency_ms.map(|p| p.p99),
        };
        let stats = run.phase_stats();
        for ph in &mut self.report.phases {
            if let Some(st) = stats.iter().find(|s| s.name == ph.name) {
                ph.probe = Some(fig(st));
            }
        }
        for st in &mut self.report.source {
            if let Some(s) = stats.iter().find(|s| s.name == st.name) {
                st.probe = Some(fig(s));
            }
        }
        self.report.probe_idle = stats.iter().find(|s| s.name == "idle").map(fig);
        self.report.probe_total = Some(fig(&run.overall()));
        let chart = self.s.out.join("latency.png");
        let title = format!(
            "prod /_ping during populous demo --size {} --builds {}",
            self.s.size, self.s.builds
        );
        match populous_probe::draw_chart(&run.records, &stats, &title, &chart) {
            Ok(()) => self.report.files.push(chart.display().to_string()),
            Err(e) => self.ui.say(&format!("no chart: {e}")),
        }
        Ok(())
    }

    pub(super) fn lineage(&mut self) -> Result<()> {
        let engine = Engine::open(&self.n.home)?;
        let how = |folder: &str, vol: &str| -> String {
            let build = vol.strip_prefix("db-").unwrap_or("");
            let run = |kind: PhaseKind| {
                self.report
                    .phases
                    .iter()
                    .any(|p| p.kind == kind && p.run.build == build && p.run.ok)
            };
            match folder {
                "prod" => format!(
                    "prod's database, seeded with {} of generated rows",
                    self.s.size
                ),
                "golden" => {
                    "the golden copy: a clone of prod/db, masked; dev clones it".into()
                }
                "stage" => format!(
                    "cloned from golden/db (masked) in dev (build {build}), taken offline, imported into stage"
                ),
                "dev" if run(PhaseKind::DevDump) => format!(
                    "dev build {build}: an empty volume filled by mariadb-dump | mariadb from prod (baseline), masked, offline"
                ),
                "dev" => format!("dev build {build}: a clone of golden/db (masked already), offline"),
                _ => "-".into(),
            }
        };
        for v in engine.volume_list(None, true)? {
            let r: VolRef = format!("{}/{}", v.folder, v.name).parse()?;
            let i = engine.volume_inspect_measured(&r)?;
            let p = &i.provenance;
            self.report.lineage.push(LineageEntry {
                volume: r.to_string(),
                state: i.state.as_str().to_string(),
                lineage: i
                    .lineage
                    .iter()
                    .map(|s| {
                        format!(
                            "{}{}",
                            s.snapshot,
                            if s.exists { "" } else { " (destroyed)" }
                        )
                    })
                    .collect(),
                how: how(v.folder.as_str(), v.name.as_str()),
                masked: p.masked.then(|| {
                    format!(
                        "rules {}, key {}, {}",
                        p.mask_ruleset.as_deref().unwrap_or("?"),
                        p.mask_key_id.as_deref().unwrap_or("?"),
                        p.scan.as_ref().map_or("no scan".to_owned(), |s| format!(
                            "scanned: {} of {} originals found",
                            s.found, s.sampled
                        ))
                    )
                }),
                used_bytes: i.used_bytes,
                snapshots: i
                    .snapshots
                    .iter()
                    .map(|s| {
                        format!(
                            "@{} → {}",
                            s.name,
                            if s.clones.is_empty() {
                                "no clones left".into()
                            } else {
                                s.clones.join(", ")
                            }
                        )
                    })
                    .collect(),
            });
        }
        for l in &self.report.lineage {
            self.ui.say(&format!(
                "{} ({}){}{}",
                l.volume,
                l.state,
                if l.lineage.is_empty() {
                    String::new()
                } else {
                    format!(" ← {}", l.lineage.join(" ← "))
                },
                if l.masked.is_some() { ", masked" } else { "" }
            ));
        }
        Ok(())
    }

    /// Services, the demo's Docker volumes and networks, then the daemon.
    pub(super) fn teardown(&mut self) -> Result<()> {
        let d = populous_pipeline::docker::Docker::default();
        for s in self.n.services() {
            if d.remove_service(&s, Duration::from_secs(120))? {
                self.ui.say(&format!("removed service {s}"));
            }
        }
        let found = clean::find(&self.n);
        for v in &found.volumes {
            d.run(&["volume", "rm", v])?;
            self.ui.say(&format!("removed docker volume {v}"));
        }
        for net in &found.networks {
            for _ in 0..40 {
                if d.run(&["network", "rm", net]).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        if let Some(pid) = daemon::running_pid(&self.n) {
            daemon::stop(&self.n, pid)?;
            self.ui.say(&format!("stopped populous serve (pid {pid})"));
        }
        // prod is gone: its replica stops too, once the daemon (which
        // restarts replicas) has; the source and its snapshots stay.
        let mut engine = Engine::open(&self.n.home)?;
        let replica = super::source::REPLICA.parse()?;
        if populous_ops::db::stop(&mut engine, &replica)?.changed {
            self.ui
                .say(&format!("stopped the source's replica server on {replica}"));
        }
        Ok(())
    }

    pub(super) fn write_report(&mut self) -> Result<()> {
        std::fs::create_dir_all(&self.s.out)?;
        let md = self.s.out.join("report.md");
        let js = self.s.out.join("report.json");
        for f in [&md, &js] {
            let f = f.display().to_string();
            if !self.report.files.contains(&f) {
                self.report.files.insert(0, f);
            }
        }
        let chart = self
            .report
            .files
            .iter()
            .any(|f| f.ends_with("latency.png"))
            .then_some("latency.png");
        std::fs::write(&md, report::markdown(&self.report, chart))
            .with_context(|| format!("writing {}", md.display()))?;
        let mut f = std::fs::File::create(&js)?;
        serde_json::to_writer_pretty(&mut f, &self.report)?;
        f.write_all(b"\n")?;
        Ok(())
    }
}
