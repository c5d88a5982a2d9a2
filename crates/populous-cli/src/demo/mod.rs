//! `populous demo`: the whole story on one machine, by itself. It makes an
//! image-file pool with the folders prod, golden, dev and stage (golden
//! clones from prod; dev clones only masked data, from golden; stage imports
//! from dev and requires masked data), their tokens and the Docker volume
//! plugins of stage and dev (a `populous serve` child), starts the local
//! registry and the swarm, deploys prod with a generated database outside the
//! pool (Docker's local driver), adds it as a source (a replica on the pool),
//! refreshes the golden copy (a masked clone of the source's snapshot), then runs `populous pipeline run` (the library)
//! for dev, stage and prod per build, and once more for dev with
//! `mariadb-dump | mariadb` from prod instead of the clone as the baseline,
//! all while a probe records prod's response times. The report (Markdown,
//! JSON, chart, probe record) goes to `--out`.
//!
//! Everything has the demo's own names (pipeline `populous-demo`, drivers
//! `demo-*`, ports 7181 and 18090-18092, home `/var/lib/populous-demo`,
//! images `populous-demo/*`), so that it runs beside another pipeline on the
//! same engine, and `--clean` finds exactly what it made.
//!
//! - [`names`]: the demo's names and its state file;
//! - [`ui`]: the progress display;
//! - [`daemon`]: the `populous serve` child;
//! - [`registry`]: the demo's repositories in the local registry;
//! - [`setup`]: the steps before the first pipeline run;
//! - [`source`]: prod's database outside the pool, and the source that
//!   replicates it onto the pool (the golden copy comes from it);
//! - [`phases`]: the pipeline runs, the probe, lineage, teardown and report;
//! - [`report`]: the figures and their Markdown (pure, tested);
//! - [`clean`]: finding and removing what the demo made.

pub mod clean;
pub mod daemon;
mod names;
mod phases;
pub mod registry;
pub mod report;
mod setup;
mod source;
mod ui;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use populous_engine::size::parse_size;
use populous_pipeline::spec::CopyMethod;
use populous_pipeline::Role;

use crate::cli::DemoArgs;
pub use names::{DemoState, Names};
use report::{DemoReport, PhaseKind, Step};
pub use ui::Ui;

/// The environments, in the order they are set up.
pub const ENVS: [&str; 3] = ["prod", "stage", "dev"];

/// The environments with a Docker volume plugin of the demo's daemon: prod's
/// database is outside the pool, on Docker's own local driver.
pub const PLUGINS: [&str; 2] = ["stage", "dev"];

/// The registry `scripts/registry.sh` runs.
pub const REGISTRY: &str = "127.0.0.1:5000";

/// The files the demo writes into `--out` (and `--clean` removes).
pub const OUT_FILES: [&str; 5] = [
    "report.md",
    "report.json",
    "latency.png",
    "probe.jsonl",
    "populous-demo.yml",
];

/// Runs `scripts/NAME ARGS` of the checkout, its output kept for an error.
pub fn script(repo: &Path, name: &str, args: &[&str]) -> Result<()> {
    let path = repo.join("scripts").join(name);
    let out = Command::new(&path)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", path.display()))?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = text.lines().rev().take(15).collect();
    bail!(
        "{} {} failed ({}):\n{}",
        path.display(),
        args.join(" "),
        out.status,
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    )
}

// ---------------------------------------------------------------------- run

/// Where the checkout is: --repo, the current directory or one above it,
/// above this executable, or where it was built.
fn find_repo(given: Option<&Path>) -> Result<PathBuf> {
    let ok = |d: &Path| {
        d.join("scripts/images.sh").is_file() && d.join("examples/populous/VERSION").is_file()
    };
    if let Some(d) = given {
        if ok(d) {
            return Ok(std::path::absolute(d)?);
        }
        bail!(
            "--repo {}: no scripts/images.sh and examples/populous there",
            d.display()
        );
    }
    let mut starts = vec![std::env::current_dir()?];
    if let Ok(exe) = std::env::current_exe() {
        starts.push(exe);
    }
    starts.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    for s in starts {
        if let Some(d) = s.ancestors().find(|d| ok(d)) {
            return Ok(d.to_path_buf());
        }
    }
    bail!("cannot find the Populous checkout (scripts/images.sh, examples/populous/): run from it, or give --repo DIR")
}

/// The demo's settings, from its flags.
struct Settings {
    size: String,
    builds: u32,
    out: PathBuf,
    api_port: u16,
    prod_port: u16,
    prod_db_port: u16,
    dev_port: u16,
    stage_port: u16,
    pool_size: u64,
    max_p99_ratio: f64,
    keep_running: bool,
}

fn names(home: &Path, a: &DemoArgs) -> Result<Names> {
    if !populous_pipeline::spec::is_plain_name(&a.name)
        || a.name.chars().any(|c| c.is_ascii_uppercase())
    {
        bail!(
            "--name {:?}: lowercase letters, digits, '.', '_' or '-'",
            a.name
        );
    }
    Ok(Names {
        name: a.name.clone(),
        home: std::path::absolute(home)?,
        repo: if a.clean {
            find_repo(a.repo.as_deref()).unwrap_or_default()
        } else {
            find_repo(a.repo.as_deref())?
        },
        plugin_dir: PathBuf::from("/run/docker/plugins"),
    })
}

/// `populous demo [--clean]`.
pub fn run(home: &Path, a: &DemoArgs, json: bool) -> Result<()> {
    let n = names(home, a)?;
    let ui = Ui::new();
    let out = std::path::absolute(&a.out)?;
    if a.clean {
        ui.start("removing everything the demo made");
        let r = clean::clean(&n, Some(&out), &ui, false);
        ui.end(r.is_ok());
        let r = r?;
        if json {
            return crate::output::json(&r);
        }
        if r.nothing() {
            println!(
                "nothing to clean: no services, networks or volumes of {}, no daemon, no {}",
                n.name,
                n.home.display()
            );
            return Ok(());
        }
        for l in &r.removed {
            println!("removed: {l}");
        }
        for l in &r.left {
            println!("left: {l}");
        }
        return Ok(());
    }
    let size_bytes = parse_size(&a.size).with_context(|| format!("--size {}", a.size))?;
    if size_bytes < 16 << 20 {
        bail!("--size {}: at least 16M", a.size);
    }
    if a.builds == 0 {
        bail!("--builds: at least 1");
    }
    let pool_size = match &a.pool_size {
        Some(s) => parse_size(s).with_context(|| format!("--pool-size {s}"))?,
        None => (size_bytes * 4 + (4 << 30)).max(8 << 30),
    };
    let s = Settings {
        size: a.size.clone(),
        builds: a.builds,
        out,
        api_port: a.api_port,
        prod_port: a.prod_port,
        prod_db_port: a.prod_db_port,
        dev_port: a.dev_port,
        stage_port: a.stage_port,
        pool_size,
        max_p99_ratio: a.max_p99_ratio,
        keep_running: a.keep_running,
    };
    let mut demo = Demo {
        n,
        s,
        ui,
        report: DemoReport {
            size: a.size.clone(),
            builds: a.builds,
            ok: false,
            error: None,
            seconds: 0.0,
            setup: Vec::new(),
            source: Vec::new(),
            phases: Vec::new(),
            probe_total: None,
            probe_idle: None,
            comparison: None,
            lineage: Vec::new(),
            files: Vec::new(),
        },
        probe: None,
    };
    let t0 = Instant::now();
    let result = demo.all();
    demo.ui.end(result.is_ok());
    demo.report.seconds = t0.elapsed().as_secs_f64();
    demo.report.ok = result.is_ok();
    demo.report.error = result.as_ref().err().map(|e| format!("{e:#}"));
    let written = demo.write_report();
    if json {
        crate::output::json(&demo.report)?;
    } else {
        println!();
        println!("{}", report::markdown(&demo.report, None));
    }
    written?;
    match result {
        Ok(()) => {
            eprintln!(
                "report: {}; explore: populous --home {} volume ls --all; remove everything: populous demo --clean",
                demo.s.out.join("report.md").display(),
                demo.n.home.display()
            );
            Ok(())
        }
        Err(e) => Err(e.context(format!(
            "the demo stopped; what it made is still there for a look: `populous demo --clean` removes it, `populous demo` starts over (report so far in {})",
            demo.s.out.display()
        ))),
    }
}

struct Demo {
    n: Names,
    s: Settings,
    ui: Ui,
    report: DemoReport,
    probe: Option<populous_probe::RunningProbe>,
}

impl Demo {
    /// A timed setup step.
    fn step<T>(&mut self, name: &str, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.ui.start(name);
        let r = f(self).with_context(|| name.to_string());
        let seconds = self.ui.end(r.is_ok());
        self.report.setup.push(Step {
            name: name.to_string(),
            seconds,
        });
        r
    }

    /// A source step, watched by the probe like a pipeline run.
    fn source_phase(&mut self, name: &str, f: impl FnOnce(&mut Self) -> Result<()>) -> Result<()> {
        if let Some(probe) = &self.probe {
            probe.event(name);
        }
        self.ui.start(name);
        let r = f(self).with_context(|| name.to_string());
        self.ui.end(r.is_ok());
        r
    }

    fn all(&mut self) -> Result<()> {
        self.preflight()?;
        self.step(
            "pool, folders prod/golden/dev/stage with their policy, tokens, masking key",
            |d| d.make_pool(),
        )?;
        self.step(
            "populous serve: REST API and the Docker volume plugins of stage and dev",
            |d| {
                d.write_config()?;
                let pid = daemon::start(&d.n)?;
                d.ui.say(&format!(
                    "pid {pid}, API http://127.0.0.1:{}, drivers {}",
                    d.s.api_port,
                    PLUGINS.map(|e| d.n.driver(e)).join(", ")
                ));
                d.ui.say(&format!(
                    "dashboard http://127.0.0.1:{}/ui (sign in with a token from {})",
                    d.s.api_port,
                    d.n.home.join("tokens").display()
                ));
                Ok(())
            },
        )?;
        self.step("local registry and swarm", |d| d.registry_and_swarm())?;
        self.step("MariaDB base image (debootstrap once, then cached)", |d| {
            script(
                &d.n.repo,
                "images.sh",
                &["--only", "base", "--no-verify", "--prefix", &d.n.name],
            )
        })?;
        let p = self.pipeline_file()?;

        // prod's first day: build 1, seeded with --size of generated rows.
        self.pipeline(
            &p,
            "prod build 1 (first deployment, seeded)",
            PhaseKind::ProdFirst,
            "prod",
            "1",
            Some(vec![Role::Build, Role::Ship, Role::Run, Role::Smoke]),
            None,
        )?;
        self.start_probe()?;
        // prod runs outside the pool: a source keeps a replica of it on the
        // pool, snapshotted on a schedule (here, once, right before the refresh).
        self.source_phase("source add (seed the replica)", |d| d.add_source())?;
        self.source_phase("source snapshot (what its schedule does)", |d| {
            d.source_snapshot()
        })?;
        // The masked golden copy of prod: paid once per source snapshot (a
        // nightly job, say), not per build; dev clones it and masks nothing.
        self.pipeline(
            &p,
            "golden refresh (clone of prod's replica, masked)",
            PhaseKind::Golden,
            "golden",
            "1",
            None,
            None,
        )?;
        let last = self.s.builds + 1;
        for b in 2..=last {
            let b = b.to_string();
            for (env, how, kind) in [
                ("dev", "clone", PhaseKind::DevClone),
                ("stage", "import", PhaseKind::Stage),
                ("prod", "update", PhaseKind::ProdUpdate),
            ] {
                let phase = format!("{env} build {b} ({how})");
                self.pipeline(&p, &phase, kind, env, &b, None, None)?;
            }
        }
        let dump = (last + 1).to_string();
        self.pipeline(
            &p,
            &format!("dev build {dump} (dump)"),
            PhaseKind::DevDump,
            "dev",
            &dump,
            None,
            Some(CopyMethod::Dump),
        )?;
        self.finish_probe()?;
        self.report.comparison = report::compare(&self.report.phases);
        self.step("lineage and provenance of every volume", |d| d.lineage())?;
        if self.s.keep_running {
            self.ui.say(&format!(
                "--keep-running: prod on :{}, stage on :{} and the daemon stay up",
                self.s.prod_port, self.s.stage_port
            ));
        } else {
            self.step(
                "stop: services, their Docker volumes, networks, daemon (the pool stays)",
                |d| d.teardown(),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use populous_pipeline::Pipeline;

    fn names() -> Names {
        Names {
            name: "populous-demo".into(),
            home: "/var/lib/populous-demo".into(),
            repo: "/src".into(),
            plugin_dir: "/run/docker/plugins".into(),
        }
    }

    #[test]
    fn the_demo_has_its_own_names() {
        let n = names();
        assert_eq!(n.driver("prod"), "demo-prod");
        assert_eq!(n.suffix("dev"), ".demo-dev");
        assert_eq!(
            n.socket("stage"),
            PathBuf::from("/run/docker/plugins/demo-stage.sock")
        );
        assert!(n.services().contains(&"populous-demo-prod-lb".to_string()));
        assert!(!n.services().iter().any(|s| s.starts_with("populous-prod")));
        assert!(n.owns_image("populous-demo/app:1.0.1-2"));
        assert!(n.owns_image("127.0.0.1:5000/populous-demo/db:1.0.1-2"));
        assert!(!n.owns_image("populous/app:1.0.1-2"));
        assert!(!n.owns_image("populous-demo-x/app:1"));
    }

    #[test]
    fn clean_on_nothing_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let n = Names {
            name: format!("populous-demotest-{}", std::process::id()),
            home: dir.path().join("home"),
            repo: dir.path().to_path_buf(),
            plugin_dir: dir.path().join("plugins"),
        };
        let found = clean::find(&n);
        assert!(found.is_empty(), "{found:?}");
        let out = dir.path().join("out");
        let r = clean::clean(&n, Some(&out), &Ui::new(), false).unwrap();
        assert!(r.nothing(), "{r:?}");
        assert!(r.left.is_empty(), "{r:?}");
    }

    #[test]
    fn the_pipeline_file_loads() {
        let dir = tempfile::tempdir().unwrap();
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let n = Names {
            repo: std::path::absolute(repo).unwrap(),
            home: dir.path().join("h"),
            ..names()
        };
        let d = Demo {
            s: Settings {
                size: "256M".into(),
                builds: 1,
                out: dir.path().to_path_buf(),
                api_port: 7181,
                prod_port: 18090,
                prod_db_port: 18093,
                dev_port: 18091,
                stage_port: 18092,
                pool_size: 8 << 30,
                max_p99_ratio: 3.0,
                keep_running: false,
            },
            n,
            ui: Ui::new(),
            report: DemoReport {
                size: "256M".into(),
                builds: 1,
                ok: false,
                error: None,
                seconds: 0.0,
                setup: vec![],
                source: vec![],
                phases: vec![],
                probe_total: None,
                probe_idle: None,
                comparison: None,
                lineage: vec![],
                files: vec![],
            },
            probe: None,
        };
        let path = dir.path().join("populous-demo.yml");
        std::fs::write(&path, d.pipeline_yaml()).unwrap();
        let p = Pipeline::load(&path).unwrap_or_else(|e| panic!("{e}\n{}", d.pipeline_yaml()));
        assert_eq!(p.file.name, "populous-demo");
        assert_eq!(p.file.populous.api, "http://127.0.0.1:7181");
        let dev = p.env("dev").unwrap();
        assert_eq!(dev.driver, "demo-dev");
        assert_eq!(dev.port, 18091);
        assert_eq!(dev.data.clone_of.as_deref(), Some("golden/db"));
        let golden = p.env("golden").unwrap();
        assert_eq!(golden.roles, [Role::Refresh]);
        assert_eq!(golden.data.from_source.as_deref(), Some("prod"));
        assert_eq!(golden.data.clone_of, None);
        // prod's database outside the pool, with a binary log and a host port.
        let prod = p.env("prod").unwrap();
        assert!(!prod.on_pool());
        assert_eq!(prod.db.port, Some(18093));
        assert!(prod.db.args.iter().any(|a| a.starts_with("--log-bin")));
        assert_eq!(prod.name_suffix, ".demo-prod");
        assert_eq!(prod.data.seed_size.as_deref(), Some("256M"));
        assert_eq!(prod.probe.as_ref().unwrap().max_p99_ratio, 3.0);
        assert_eq!(p.file.app.images["app"].repository, "populous-demo/app");
        assert!(p.file.app.images["db"]
            .build
            .contains(&"--prefix".to_string()));
    }
}
