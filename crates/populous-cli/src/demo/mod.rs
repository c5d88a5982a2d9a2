//! `populous demo`: the whole story on one machine, by itself. It makes an
//! image-file pool with the folders prod, golden, dev and stage (golden
//! clones from prod; dev clones only masked data, from golden; stage imports
//! from dev and requires masked data), their tokens and three Docker volume
//! plugins (a `populous serve` child), starts the local registry and the
//! swarm, deploys prod with a generated database, refreshes the golden copy
//! (a masked clone of prod), then runs `populous pipeline run` (the library)
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
//! - [`report`]: the figures and their Markdown (pure, tested);
//! - [`clean`]: finding and removing what the demo made.

pub mod clean;
pub mod report;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use populous_engine::size::{format_size, parse_size};
use populous_engine::{Engine, FolderPolicy, FsKind, Name, VolRef};
use populous_pipeline::spec::CopyMethod;
use populous_pipeline::{Pipeline, Role, RunOptions};
use serde::{Deserialize, Serialize};

use crate::cli::DemoArgs;
use report::{DemoReport, LineageEntry, MaskFigures, Phase, PhaseKind, ProbeFigures, Step};

/// The environments, in the order they are set up.
pub const ENVS: [&str; 3] = ["prod", "stage", "dev"];

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

/// The demo's names: everything it creates is named from these.
#[derive(Debug, Clone)]
pub struct Names {
    /// Pipeline name: prefix of services, networks and image repositories.
    pub name: String,
    /// Its Populous home.
    pub home: PathBuf,
    /// The repository checkout (scripts/, examples/populous/).
    pub repo: PathBuf,
    /// Where Docker looks for plugin sockets.
    pub plugin_dir: PathBuf,
}

impl Names {
    /// `demo-prod` for `populous-demo`.
    pub fn driver(&self, env: &str) -> String {
        let short = self.name.strip_prefix("populous-").unwrap_or(&self.name);
        format!("{short}-{env}")
    }
    /// Docker volume names of a driver end with this.
    pub fn suffix(&self, env: &str) -> String {
        format!(".{}", self.driver(env))
    }
    /// The plugin socket of an environment.
    pub fn socket(&self, env: &str) -> PathBuf {
        self.plugin_dir.join(format!("{}.sock", self.driver(env)))
    }
    /// Every service name the pipeline gives, lb and app before db.
    pub fn services(&self) -> Vec<String> {
        let mut v = Vec::new();
        for env in ENVS {
            for role in ["lb", "app", "db"] {
                v.push(format!("{}-{env}-{role}", self.name));
            }
        }
        v
    }
    /// The overlay networks.
    pub fn networks(&self) -> Vec<String> {
        ENVS.iter().map(|e| format!("{}-{e}", self.name)).collect()
    }
    /// Image repositories, without registry.
    pub fn repositories(&self) -> Vec<String> {
        ["app", "db", "lb"]
            .iter()
            .map(|r| format!("{}/{r}", self.name))
            .collect()
    }
    /// Whether a local image `repo:tag` is one of the demo's.
    pub fn owns_image(&self, image: &str) -> bool {
        let local = image.strip_prefix(&format!("{REGISTRY}/")).unwrap_or(image);
        self.repositories()
            .iter()
            .any(|r| local.starts_with(&format!("{r}:")))
    }
    fn config_file(&self) -> PathBuf {
        self.home.join("populous.toml")
    }
    fn token_file(&self, env: &str) -> PathBuf {
        self.home.join("tokens").join(format!("{env}.token"))
    }
    fn key_file(&self) -> PathBuf {
        self.home.join("mask.key")
    }
}

/// What the demo did to the machine beyond its names, for `--clean`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DemoState {
    /// The report directory.
    pub out: Option<PathBuf>,
    /// The demo started the registry (it did not answer before).
    pub registry_started: bool,
    /// The demo initialised the swarm (the engine was not in one).
    pub swarm_initialised: bool,
}

impl DemoState {
    fn path(n: &Names) -> PathBuf {
        n.home.join("demo.json")
    }
    /// The recorded state, if there is one.
    pub fn load(n: &Names) -> Option<DemoState> {
        let text = std::fs::read_to_string(Self::path(n)).ok()?;
        serde_json::from_str(&text).ok()
    }
    fn save(&self, n: &Names) -> Result<()> {
        std::fs::write(Self::path(n), serde_json::to_string_pretty(self)?)
            .with_context(|| format!("writing {}", Self::path(n).display()))
    }
}

// ------------------------------------------------------------------------ ui

/// Progress on stderr: one spinner (or bar) per step, lines above it.
pub struct Ui {
    bar: Mutex<Option<(ProgressBar, String, Instant)>>,
}

impl Default for Ui {
    fn default() -> Self {
        Self::new()
    }
}

impl Ui {
    /// No step yet.
    pub fn new() -> Ui {
        Ui {
            bar: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(ProgressBar, String, Instant)>> {
        self.bar.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A line of progress, above the running step's spinner.
    pub fn say(&self, line: &str) {
        match &*self.lock() {
            Some((b, _, _)) => b.println(format!("    {line}")),
            None => eprintln!("    {line}"),
        }
    }

    /// Starts a step: a spinner with its name and elapsed time.
    pub fn start(&self, name: &str) {
        let b = ProgressBar::new_spinner();
        b.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        b.set_message(name.to_string());
        b.enable_steady_tick(Duration::from_millis(120));
        if let Some((old, _, _)) = self.lock().replace((b, name.to_string(), Instant::now())) {
            old.finish_and_clear();
        }
    }

    /// Turns the spinner into a bar at `pos` of `len` `unit`.
    pub fn progress(&self, pos: u64, len: u64, unit: &str) {
        if let Some((b, name, _)) = &*self.lock() {
            if b.length() != Some(len) {
                b.set_style(
                    ProgressStyle::with_template(&format!(
                        "{{spinner}} [{{elapsed_precise}}] {{msg}} {{wide_bar}} {{pos}}/{{len}} {unit} (eta {{eta}})"
                    ))
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                b.set_length(len);
                b.set_message(name.clone());
            }
            b.set_position(pos);
        }
    }

    /// Ends the running step; returns its time.
    pub fn end(&self, ok: bool) -> f64 {
        match self.lock().take() {
            Some((b, name, t)) => {
                b.finish_and_clear();
                let s = t.elapsed().as_secs_f64();
                eprintln!("{} {name} ({s:.1} s)", if ok { "✔" } else { "✘" });
                s
            }
            None => 0.0,
        }
    }

    /// Runs `f` with the spinner hidden (for code that draws its own bar).
    pub fn suspend<T>(&self, f: impl FnOnce() -> T) -> T {
        let b = self.lock().as_ref().map(|(b, _, _)| b.clone());
        match b {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }
}

// -------------------------------------------------------------------- daemon

/// The demo's `populous serve`, a child in its own session (so that Ctrl-C on
/// the demo does not take the plugins away from running services).
pub mod daemon {
    use super::*;
    use std::os::unix::process::CommandExt;

    fn pid_file(n: &Names) -> PathBuf {
        n.home.join("daemon.pid")
    }

    fn alive(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state follows the command name in parentheses.
            Ok(s) => s
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|st| st != "Z" && st != "X"),
            Err(_) => false,
        }
    }

    /// The daemon's pid if the pid file names a live `populous ... serve` of this home.
    pub fn running_pid(n: &Names) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(pid_file(n))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let home = n.home.to_string_lossy();
        let ours = args.iter().any(|a| a == "serve") && args.iter().any(|a| *a == home);
        (ours && alive(pid)).then_some(pid)
    }

    fn api_answers(listen: &str) -> bool {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .http_status_as_error(false)
            .build()
            .into();
        agent
            .get(&format!("http://{listen}/healthz"))
            .call()
            .is_ok_and(|r| r.status().as_u16() == 200)
    }

    /// Starts `populous --home HOME serve` (config in HOME/populous.toml) and
    /// waits until its API and every plugin socket answer.
    pub fn start(n: &Names) -> Result<u32> {
        let text = std::fs::read_to_string(n.config_file())?;
        let config = populous_daemon::Config::parse(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", n.config_file().display()))?;
        let log_path = n.home.join("daemon.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let mut c = Command::new(std::env::current_exe().context("finding this executable")?);
        c.arg("--home")
            .arg(&n.home)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // SAFETY: setsid is async-signal-safe and touches no memory.
        unsafe {
            c.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let mut child = c.spawn().context("starting populous serve")?;
        let pid = child.id();
        std::fs::write(pid_file(n), format!("{pid}\n"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                bail!(
                    "populous serve exited at start ({status}); its log {}:\n{}",
                    log_path.display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            let sockets = config.plugins.iter().all(|p| {
                config
                    .plugin_dir
                    .join(format!("{}.sock", p.driver))
                    .exists()
            });
            if sockets && api_answers(&config.listen) {
                return Ok(pid);
            }
            if Instant::now() > deadline {
                bail!(
                    "populous serve (pid {pid}) did not answer on {} within 30 s; log {}",
                    config.listen,
                    log_path.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then waits (SIGKILL after 60 s).
    pub fn stop(n: &Names, pid: u32) -> Result<()> {
        let pid_t = pid as libc::pid_t;
        // SAFETY: plain syscalls on a pid we checked is our daemon.
        unsafe {
            libc::kill(pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while alive(pid) {
            // Reaps it when it is our child; harmless otherwise.
            // SAFETY: waitpid with a null status pointer and WNOHANG never blocks or writes.
            unsafe {
                libc::waitpid(pid_t, std::ptr::null_mut(), libc::WNOHANG);
            }
            if Instant::now() > deadline {
                // SAFETY: a plain syscall on the pid checked above.
                unsafe {
                    libc::kill(pid_t, libc::SIGKILL);
                }
                std::thread::sleep(Duration::from_millis(200));
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = std::fs::remove_file(pid_file(n));
        Ok(())
    }
}

// ------------------------------------------------------------------ registry

/// The demo's repositories in the local registry.
pub mod registry {
    use super::*;

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into()
    }

    /// Whether the registry answers.
    pub fn answers() -> bool {
        agent()
            .get(&format!("http://{REGISTRY}/v2/"))
            .call()
            .is_ok_and(|r| r.status().as_u16() == 200)
    }

    /// Deletes every manifest of the demo's repositories; returns how many.
    /// Manifests are per repository, so no other repository loses a tag.
    pub fn delete_repositories(n: &Names) -> Result<usize> {
        if !answers() {
            return Ok(0);
        }
        let a = agent();
        let mut deleted = 0;
        for repo in n.repositories() {
            let url = format!("http://{REGISTRY}/v2/{repo}/tags/list");
            let mut resp = a.get(&url).call().with_context(|| format!("GET {url}"))?;
            if resp.status().as_u16() == 404 {
                continue;
            }
            let body: serde_json::Value = serde_json::from_str(&resp.body_mut().read_to_string()?)
                .with_context(|| format!("GET {url}: not JSON"))?;
            let tags: Vec<String> = body["tags"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let mut digests = std::collections::BTreeSet::new();
            for tag in tags {
                let url = format!("http://{REGISTRY}/v2/{repo}/manifests/{tag}");
                let r = a
                    .head(&url)
                    .header(
                        "Accept",
                        "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
                    )
                    .call()
                    .with_context(|| format!("HEAD {url}"))?;
                if let Some(d) = r
                    .headers()
                    .get("Docker-Content-Digest")
                    .and_then(|v| v.to_str().ok())
                {
                    digests.insert(d.to_string());
                }
            }
            for d in digests {
                let url = format!("http://{REGISTRY}/v2/{repo}/manifests/{d}");
                let r = a
                    .delete(&url)
                    .call()
                    .with_context(|| format!("DELETE {url}"))?;
                match r.status().as_u16() {
                    200..=299 | 404 => deleted += 1,
                    code => bail!("DELETE {url} answered {code}"),
                }
            }
        }
        Ok(deleted)
    }
}

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

// --------------------------------------------------------------------- hooks

/// The pipeline's progress goes to the step's spinner (the seed's rows to
/// its bar); masking runs here, through the engine, and its figures are kept.
struct DemoHooks<'a> {
    home: &'a Path,
    ui: &'a Ui,
    mask: Mutex<Option<MaskFigures>>,
}

impl populous_pipeline::Hooks for DemoHooks<'_> {
    fn say(&self, env: &str, role: Option<Role>, msg: &str) {
        if let Some(rest) = msg.strip_prefix("seeded ") {
            let mut it = rest.split([' ', '/']);
            if let (Some(Ok(done)), Some(Ok(total))) = (
                it.next().map(str::parse::<u64>),
                it.next().map(str::parse::<u64>),
            ) {
                self.ui.progress(done, total, "rows");
                return;
            }
        }
        match role {
            Some(r) => self.ui.say(&format!("[{env}] {r}: {msg}")),
            None => self.ui.say(&format!("[{env}] {msg}")),
        }
    }

    fn mask(
        &self,
        volume: &str,
        rules: &Path,
        key_file: &Path,
        threads: usize,
    ) -> Result<String, String> {
        let masked =
            crate::pipeline::mask_for_pipeline(self.home, volume, rules, key_file, threads, |f| {
                self.ui.suspend(f)
            })
            .map_err(|e| format!("{e:#}"))?;
        if let crate::mask::Masked::Done(report, _) = &masked {
            *self.mask.lock().unwrap_or_else(|e| e.into_inner()) = Some(MaskFigures {
                rows: report.rows_total,
                seconds: report.elapsed_secs,
                rows_per_sec: report.rows_per_sec,
                ruleset: report.ruleset_hash.clone(),
                key_id: report.key_id.clone(),
            });
        }
        Ok(crate::pipeline::mask_summary(&masked))
    }
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
            phases: Vec::new(),
            probe_total: None,
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

    fn all(&mut self) -> Result<()> {
        self.preflight()?;
        self.step(
            "pool, folders prod/golden/dev/stage with their policy, tokens, masking key",
            |d| d.make_pool(),
        )?;
        self.step(
            "populous serve: REST API and the three Docker volume plugins",
            |d| {
                d.write_config()?;
                let pid = daemon::start(&d.n)?;
                d.ui.say(&format!(
                    "pid {pid}, API http://127.0.0.1:{}, drivers {}",
                    d.s.api_port,
                    ENVS.map(|e| d.n.driver(e)).join(", ")
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
        // The masked golden copy of prod: paid once per prod snapshot (a
        // nightly job, say), not per build; dev clones it and masks nothing.
        self.pipeline(
            &p,
            "golden refresh (clone of prod, masked)",
            PhaseKind::Golden,
            "golden",
            "1",
            None,
            None,
        )?;
        let last = self.s.builds + 1;
        for b in 2..=last {
            let b = b.to_string();
            self.pipeline(
                &p,
                &format!("dev build {b} (clone)"),
                PhaseKind::DevClone,
                "dev",
                &b,
                None,
                None,
            )?;
            self.pipeline(
                &p,
                &format!("stage build {b} (import)"),
                PhaseKind::Stage,
                "stage",
                &b,
                None,
                None,
            )?;
            self.pipeline(
                &p,
                &format!("prod build {b} (update)"),
                PhaseKind::ProdUpdate,
                "prod",
                &b,
                None,
                None,
            )?;
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

    /// Root, Docker, and leftovers of an earlier run cleared; then nothing else in the way.
    fn preflight(&mut self) -> Result<()> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            bail!("run the demo as root: it mounts a pool image, creates Docker plugin sockets and starts services");
        }
        let docker = populous_pipeline::docker::Docker::default();
        docker.run(&["info", "--format", "{{.ID}}"]).map_err(|e| {
            anyhow::anyhow!("the Docker engine does not answer ({e}): start dockerd and retry")
        })?;
        let found = clean::find(&self.n);
        if !found.is_empty() {
            let what = found.describe(&self.n);
            self.step("clearing what an earlier demo left", |d| {
                for w in &what {
                    d.ui.say(w);
                }
                clean::clean(&d.n, Some(&d.s.out), &d.ui, true).map(|_| ())
            })?;
        }
        let mut blocked = Vec::new();
        if found.foreign_home {
            blocked.push(format!(
                "{} exists and is not a demo home (no demo.json): give another --home, or remove it",
                self.n.home.display()
            ));
        }
        let ports = [
            ("127.0.0.1", self.s.api_port, "--api-port"),
            ("0.0.0.0", self.s.prod_port, "--prod-port"),
            ("0.0.0.0", self.s.dev_port, "--dev-port"),
            ("0.0.0.0", self.s.stage_port, "--stage-port"),
        ];
        for (host, port, flag) in ports {
            if std::net::TcpListener::bind((host, port)).is_err() {
                blocked.push(format!(
                    "port {port} is in use by another program (choose another with {flag})"
                ));
            }
        }
        for env in ENVS {
            let sock = self.n.socket(env);
            if std::os::unix::net::UnixStream::connect(&sock).is_ok() {
                blocked.push(format!(
                    "{} answers: another daemon serves the driver {} (give the demo another --name)",
                    sock.display(),
                    self.n.driver(env)
                ));
            }
        }
        if !blocked.is_empty() {
            bail!("in the way of the demo:\n  {}", blocked.join("\n  "));
        }
        std::fs::create_dir_all(&self.n.home)
            .with_context(|| format!("creating {}", self.n.home.display()))?;
        std::fs::create_dir_all(&self.s.out)
            .with_context(|| format!("creating {}", self.s.out.display()))?;
        DemoState {
            out: Some(self.s.out.clone()),
            ..DemoState::default()
        }
        .save(&self.n)
    }

    fn make_pool(&mut self) -> Result<()> {
        let mut e = Engine::open(&self.n.home)?;
        let pool = Name::new("pool", "main")?;
        let image = self.n.home.join("pool.img");
        let p = e.pool_create_image(&pool, &image, self.s.pool_size, FsKind::Btrfs, None)?;
        self.ui.say(&format!(
            "pool main: {} sparse image {}, {} backend, mounted at {}",
            format_size(self.s.pool_size),
            image.display(),
            p.backend,
            p.root.display()
        ));
        let f = |s: &str| Name::new("folder", s);
        let folders = [
            (
                "prod",
                FolderPolicy {
                    clone_from: Some(vec![]),
                    import_from: Some(vec![]),
                    require_masked: false,
                },
            ),
            (
                "golden",
                FolderPolicy {
                    clone_from: Some(vec![f("prod")?]),
                    import_from: Some(vec![]),
                    require_masked: false,
                },
            ),
            (
                "dev",
                FolderPolicy {
                    clone_from: Some(vec![f("golden")?]),
                    import_from: Some(vec![]),
                    require_masked: true,
                },
            ),
            (
                "stage",
                FolderPolicy {
                    clone_from: Some(vec![]),
                    import_from: Some(vec![f("dev")?]),
                    require_masked: true,
                },
            ),
        ];
        for (name, policy) in folders {
            e.folder_create(&format!("main/{name}").parse()?, &policy)?;
        }
        self.ui.say(
            "folders: prod; golden clones from prod; dev clones masked data from golden; stage imports from dev and requires masked data",
        );
        std::fs::create_dir_all(self.n.home.join("tokens"))?;
        let tokens = [
            ("prod", vec!["prod"]),
            ("golden", vec!["golden", "prod"]),
            ("dev", vec!["dev", "golden"]),
            ("stage", vec!["stage", "dev"]),
        ];
        for (env, covers) in tokens {
            let folders = covers.iter().map(|c| f(c)).collect::<Result<Vec<_>, _>>()?;
            let (_, secret) = e.token_create(&Name::new("token", env)?, &folders, false)?;
            write_secret(&self.n.token_file(env), &secret)?;
        }
        self.ui.say(
            "tokens: prod (prod), golden (golden, prod), dev (dev, golden), stage (stage, dev)",
        );
        let mut key = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut key))
            .context("reading /dev/urandom")?;
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        write_secret(&self.n.key_file(), &hex)?;
        Ok(())
    }

    fn write_config(&self) -> Result<()> {
        let mut t = format!(
            "# Written by `populous demo`.\nlisten = \"127.0.0.1:{}\"\nplugin_dir = {}\n",
            self.s.api_port,
            toml_str(&self.n.plugin_dir)
        );
        for env in ENVS {
            t.push_str(&format!(
                "\n[[plugin]]\ndriver = \"{}\"\nfolder = \"{env}\"\nname_suffix = \"{}\"\ntoken_file = {}\n",
                self.n.driver(env),
                self.n.suffix(env),
                toml_str(&self.n.token_file(env))
            ));
        }
        populous_daemon::Config::parse(&t).map_err(|e| anyhow::anyhow!("{e}"))?;
        std::fs::write(self.n.config_file(), t)?;
        Ok(())
    }

    fn registry_and_swarm(&mut self) -> Result<()> {
        let mut state = DemoState::load(&self.n).unwrap_or_default();
        if registry::answers() {
            self.ui.say(&format!("registry {REGISTRY} answers already"));
        } else {
            script(&self.n.repo, "registry.sh", &["start"])?;
            state.registry_started = true;
            state.save(&self.n)?;
            self.ui.say(&format!("started the registry on {REGISTRY}"));
        }
        let docker = populous_pipeline::docker::Docker::default();
        let swarm = docker.run(&["info", "--format", "{{.Swarm.LocalNodeState}}"])?;
        if swarm == "active" {
            self.ui.say("this engine is a swarm manager already");
        } else {
            script(&self.n.repo, "swarm.sh", &["init"])?;
            state.swarm_initialised = true;
            state.save(&self.n)?;
            self.ui.say("initialised a one-node swarm");
        }
        Ok(())
    }

    /// The pipeline file: examples/populous/populous.yml with the demo's names.
    fn pipeline_file(&mut self) -> Result<Pipeline> {
        let path = self.s.out.join("populous-demo.yml");
        std::fs::write(&path, self.pipeline_yaml())?;
        self.report.files.push(path.display().to_string());
        Pipeline::load(&path).with_context(|| format!("the generated {}", path.display()))
    }

    fn pipeline_yaml(&self) -> String {
        let q = |p: &Path| serde_json::to_string(&p.to_string_lossy()).unwrap_or_default();
        let ex = self.n.repo.join("examples/populous");
        let images = self.n.repo.join("scripts/images.sh");
        let app_bin = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join("populous-app")))
            .filter(|p| p.is_file())
            .map(|p| format!(", --app-bin, {}", q(&p)))
            .unwrap_or_default();
        let img = |role: &str, extra: &str| {
            format!(
                "    {role}: {{ repository: {name}/{role}, build: [{images}, --only, {role}, --no-verify, --prefix, {name}{extra}, --tag, \"{{tag}}\"] }}\n",
                name = self.n.name,
                images = q(&images),
            )
        };
        let env = |env: &str, port: u16| {
            format!(
                "    driver: {}\n    folder: {env}\n    name_suffix: \"{}\"\n    token: {{ file: {} }}\n    port: {port}\n",
                self.n.driver(env),
                self.n.suffix(env),
                q(&self.n.token_file(env))
            )
        };
        format!(
            "# Generated by `populous demo`: examples/populous/populous.yml with the demo's own\n\
             # names, drivers and ports. Reference: docs/pipeline.md.\n\
             name: {name}\n\
             registry: {REGISTRY}\n\
             populous:\n  api: http://127.0.0.1:{api}\n\
             app:\n  version_file: {version}\n  images:\n{app}{db}{lb}\
             environments:\n\
             \x20 golden:\n    roles: [refresh]\n    folder: golden\n    token: {{ file: {golden_token} }}\n\
             \x20   data: {{ clone_of: prod/db, volume: db }}\n\
             \x20   mask: {{ rules: {rules}, key_file: {key} }}\n\
             \x20 dev:\n    roles: [build, ship, run, mask, smoke, destroy]\n{dev}\
             \x20   data: {{ clone_of: golden/db, volume: \"db-{{build}}\" }}\n\
             \x20   mask: {{ rules: {rules}, key_file: {key} }}\n\
             \x20   smoke: {{ timeout: 180s }}\n\
             \x20 stage:\n    roles: [run, smoke]\n    requires: dev\n{stage}\
             \x20   data: {{ import_from: dev, volume: \"db-{{build}}\" }}\n\
             \x20   smoke: {{ timeout: 180s }}\n\
             \x20 prod:\n    roles: [run, smoke]\n    requires: stage\n{prod}\
             \x20   data: {{ volume: db, seed_size: \"{size}\" }}\n\
             \x20   app: {{ replicas: 2, lb: true }}\n\
             \x20   update: {{ parallelism: 1, delay: 2s, order: start-first, monitor: 5s, rollback: true }}\n\
             \x20   probe: {{ interval: 100ms, idle: 10s, max_p99_ratio: {ratio} }}\n\
             \x20   smoke: {{ timeout: 120s }}\n",
            name = self.n.name,
            api = self.s.api_port,
            version = q(&ex.join("VERSION")),
            app = img("app", &format!(", --build, \"{{build}}\"{app_bin}")),
            db = img("db", ""),
            lb = img("lb", ""),
            dev = env("dev", self.s.dev_port),
            stage = env("stage", self.s.stage_port),
            prod = env("prod", self.s.prod_port),
            rules = q(&ex.join("masking.yml")),
            key = q(&self.n.key_file()),
            golden_token = q(&self.n.token_file("golden")),
            size = self.s.size,
            ratio = self.s.max_p99_ratio,
        )
    }

    /// One `populous pipeline run`, as a phase of the report and the probe.
    #[allow(clippy::too_many_arguments)]
    fn pipeline(
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
        let hooks = DemoHooks {
            home: &self.n.home,
            ui: &self.ui,
            mask: Mutex::new(None),
        };
        let opts = RunOptions {
            env: env.to_string(),
            build: build.to_string(),
            state_dir: self.n.home.join("pipeline"),
            wait: Duration::ZERO,
            roles,
            copy,
        };
        let outcome = populous_pipeline::run(p, &opts, &hooks);
        let mask = hooks.mask.into_inner().unwrap_or_else(|e| e.into_inner());
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
            Some(e) => Err(
                anyhow::Error::new(crate::pipeline::PipelineFailed(e)).context(format!(
                    "{phase}: populous pipeline run --env {env} --build-number {build}"
                )),
            ),
        }
    }

    fn start_probe(&mut self) -> Result<()> {
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
    fn finish_probe(&mut self) -> Result<()> {
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

    fn lineage(&mut self) -> Result<()> {
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
            let i = engine.volume_inspect(&r)?;
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
                        "rules {}, key {}",
                        p.mask_ruleset.as_deref().unwrap_or("?"),
                        p.mask_key_id.as_deref().unwrap_or("?")
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
    fn teardown(&mut self) -> Result<()> {
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
        Ok(())
    }

    fn write_report(&mut self) -> Result<()> {
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

fn toml_str(p: &Path) -> String {
    // A TOML basic string: JSON's escaping is valid TOML for these paths.
    serde_json::to_string(&p.to_string_lossy()).unwrap_or_default()
}

fn write_secret(path: &Path, secret: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    writeln!(f, "{secret}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
                phases: vec![],
                probe_total: None,
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
        assert_eq!(golden.data.clone_of.as_deref(), Some("prod/db"));
        let prod = p.env("prod").unwrap();
        assert_eq!(prod.name_suffix, ".demo-prod");
        assert_eq!(prod.data.seed_size.as_deref(), Some("256M"));
        assert_eq!(prod.probe.as_ref().unwrap().max_p99_ratio, 3.0);
        assert_eq!(p.file.app.images["app"].repository, "populous-demo/app");
        assert!(p.file.app.images["db"]
            .build
            .contains(&"--prefix".to_string()));
    }
}
