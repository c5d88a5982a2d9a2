//! `populous pipeline run`: one environment's roles, in order, for one build.
//!
//! A run takes the environment's lock, checks its gate (`requires`), checks
//! the engine, swarm and registry it will need, then runs the roles. The
//! first failing role stops the run; the roles after it are reported as
//! skipped. Only a run where every role passed records the build as passed,
//! which is what the next environment's gate reads: a build whose smoke
//! failed in stage never reaches prod.
//!
//! Names on the engine: network `NAME-ENV`, services `NAME-ENV-db`,
//! `NAME-ENV-app` and `NAME-ENV-lb`, Docker volume `VOLUME` + the driver's
//! `name_suffix`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::docker::Docker;
use crate::error::{PipelineError, Result};
use crate::spec::{expand, is_plain_name, CopyMethod, EnvSpec, Pipeline, Role, TokenSource, Vars};
use crate::state::StateDir;

/// What the runner needs from its caller: progress output and masking (which
/// runs where the pool is, through the Populous library, not over the wire).
pub trait Hooks {
    /// A progress line.
    fn say(&self, env: &str, role: Option<Role>, msg: &str);
    /// Masks the database on `FOLDER/VOL` and marks the volume masked;
    /// returns a one-line summary (rows, rows/s).
    fn mask(
        &self,
        volume: &str,
        rules: &Path,
        key_file: &Path,
        threads: usize,
    ) -> std::result::Result<String, String>;
}

/// One run's request.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The environment.
    pub env: String,
    /// The build number (`28`): the build string is `VERSION-28`.
    pub build: String,
    /// Where state and locks live.
    pub state_dir: PathBuf,
    /// How long to wait for another run on the same environment.
    pub wait: Duration,
    /// Run these roles instead of the environment's own list (e.g. prod's
    /// first day: build, ship, run, smoke).
    pub roles: Option<Vec<Role>>,
    /// Copy `clone_of` data this way instead of the file's `copy` (the dump baseline).
    pub copy: Option<CopyMethod>,
}

/// How one role went.
#[derive(Debug, Clone, Serialize)]
pub struct RoleReport {
    /// The role.
    pub role: Role,
    /// `ok`, `failed` or `skipped`.
    pub outcome: &'static str,
    /// Wall time in seconds.
    pub seconds: f64,
    /// What it did, in a few words.
    pub detail: String,
}

/// The probe's figures around a rolling update.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateFigures {
    /// Requests during the idle window before the update.
    pub idle_requests: usize,
    /// Idle p50 latency, ms.
    pub idle_p50_ms: f64,
    /// Idle p99 latency, ms.
    pub idle_p99_ms: f64,
    /// Requests from the update's start to the probe's end.
    pub update_requests: usize,
    /// p50 during the update, ms.
    pub update_p50_ms: f64,
    /// p99 during the update, ms.
    pub update_p99_ms: f64,
    /// Failed requests during the update.
    pub failed: usize,
    /// update p99 / idle p99.
    pub p99_ratio: f64,
    /// Versions that answered during the update, with counts.
    pub versions: Vec<(String, usize)>,
    /// The probe's record (JSONL), for `populous probe report`.
    pub probe_file: PathBuf,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The pipeline's name.
    pub pipeline: String,
    /// The environment.
    pub env: String,
    /// The build number.
    pub build: String,
    /// The build string, `VERSION-BUILD`.
    pub tag: String,
    /// Every role passed.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
    /// Per role, in order.
    pub roles: Vec<RoleReport>,
    /// Wall time of the whole run, seconds.
    pub seconds: f64,
    /// The prod update's probe figures, when there was a watched update.
    pub update: Option<UpdateFigures>,
    /// Seconds of the data step alone, when the run made a data volume: the
    /// clone (`importVolAsClone`) or the `mariadb-dump | mariadb` copy.
    pub data_seconds: Option<f64>,
}

/// A run's report, and its error if it failed.
#[derive(Debug)]
pub struct Outcome {
    /// What happened.
    pub report: RunReport,
    /// The error that stopped it.
    pub error: Option<PipelineError>,
}

/// Runs one environment's roles for one build.
pub fn run(p: &Pipeline, opts: &RunOptions, hooks: &dyn Hooks) -> Outcome {
    let t0 = Instant::now();
    let tag = p.tag(&opts.build);
    let mut report = RunReport {
        pipeline: p.file.name.clone(),
        env: opts.env.clone(),
        build: opts.build.clone(),
        tag: tag.clone(),
        ok: false,
        error: None,
        roles: Vec::new(),
        seconds: 0.0,
        update: None,
        data_seconds: None,
    };
    let error = match Run::prepare(p, opts, hooks, &tag) {
        Ok(mut r) => r.roles(&mut report).err(),
        Err(e) => Some(e),
    };
    report.seconds = t0.elapsed().as_secs_f64();
    report.ok = error.is_none();
    report.error = error.as_ref().map(ToString::to_string);
    Outcome { report, error }
}

/// Names on the engine.
#[derive(Debug, Clone)]
struct Names {
    net: String,
    db: String,
    app: String,
    lb: String,
}

struct Run<'a> {
    p: &'a Pipeline,
    env_name: String,
    env: &'a EnvSpec,
    vars: Vars,
    tag: String,
    docker: Docker,
    names: Names,
    token: String,
    state: StateDir,
    hooks: &'a dyn Hooks,
    roles: Vec<Role>,
    copy: CopyMethod,
    /// What the run role masked before any service started (clones only).
    masked_early: std::cell::RefCell<Option<String>>,
    /// Seconds of the data step (clone or dump), for the report.
    data_seconds: std::cell::Cell<Option<f64>>,
    _lock: crate::state::EnvLock,
    /// The volume's name in the folder, and on the engine.
    volume: String,
    docker_volume: String,
}

/// Time limits for the engine to converge.
const SERVICE_START: Duration = Duration::from_secs(240);
const SERVICE_STOP: Duration = Duration::from_secs(120);
/// A dump | restore that moves no byte for this long has stalled (e.g. a full pool).
const DUMP_STALL: Duration = Duration::from_secs(120);

impl<'a> Run<'a> {
    fn prepare(
        p: &'a Pipeline,
        opts: &RunOptions,
        hooks: &'a dyn Hooks,
        tag: &str,
    ) -> Result<Run<'a>> {
        if !is_plain_name(&opts.build) {
            return Err(PipelineError::Usage(format!(
                "build number {:?}: use letters, digits, '.', '_' or '-' (CI's build number, e.g. 28)",
                opts.build
            )));
        }
        let env = p.env(&opts.env)?;
        let vars = Vars {
            version: p.version.clone(),
            build: opts.build.clone(),
            env: opts.env.clone(),
            image: None,
        };
        let roles = opts.roles.clone().unwrap_or_else(|| env.roles.clone());
        if roles.contains(&Role::Mask) && env.mask.is_none() {
            return Err(PipelineError::Usage(format!(
                "environment {} has no mask section: the mask role cannot run there",
                opts.env
            )));
        }
        let golden = env.is_golden();
        if roles.contains(&Role::Refresh) != golden || (golden && roles.len() > 1) {
            return Err(PipelineError::Usage(format!(
                "environment {}: refresh runs alone, and only in an environment whose roles are [refresh]",
                opts.env
            )));
        }
        let token = read_token(&opts.env, &env.token.source().expect("checked at load"))?;
        let state = StateDir::new(&opts.state_dir, &p.file.name)?;
        let lock = state.lock(&opts.env, opts.wait, &format!("build {tag}"))?;
        let base = format!("{}-{}", p.file.name, opts.env);
        let volume = expand(&env.data.volume, &vars);
        Ok(Run {
            p,
            env_name: opts.env.clone(),
            env,
            docker_volume: format!("{volume}{}", env.name_suffix),
            volume,
            vars,
            tag: tag.to_string(),
            docker: Docker::new(env.docker_host.clone()),
            names: Names {
                net: base.clone(),
                db: format!("{base}-db"),
                app: format!("{base}-app"),
                lb: format!("{base}-lb"),
            },
            token,
            state,
            hooks,
            roles,
            masked_early: std::cell::RefCell::new(None),
            data_seconds: std::cell::Cell::new(None),
            copy: opts.copy.unwrap_or(env.data.copy),
            _lock: lock,
        })
    }

    /// A build runs here only after passing the environment this one
    /// `requires`, except for the very first deployment of an environment
    /// that takes its data from nowhere else (prod's first day: there is
    /// nothing running to protect, and nothing to clone from yet).
    fn check_gate(&self) -> Result<()> {
        let Some(req) = &self.env.requires else {
            return Ok(());
        };
        if self.state.load()?.passed(req, &self.tag) {
            return Ok(());
        }
        let standalone = self.env.data.clone_of.is_none() && self.env.data.import_from.is_none();
        if standalone && !self.docker.service_exists(&self.names.app)? {
            self.hooks.say(
                &self.env_name,
                None,
                &format!(
                    "first deployment: nothing runs here yet, so the {req} gate does not apply"
                ),
            );
            return Ok(());
        }
        Err(PipelineError::Refused(format!(
            "build {} has not passed {req}, which {} requires: run `populous pipeline run --env {req} --build-number {}` first; {} is left as it is",
            self.tag, self.env_name, self.vars.build, self.env_name
        )))
    }

    fn say(&self, role: Role, msg: &str) {
        self.hooks.say(&self.env_name, Some(role), msg);
    }

    fn roles(&mut self, report: &mut RunReport) -> Result<()> {
        // Check what the roles need before touching anything.
        let roles = self.roles.clone();
        if roles
            .iter()
            .any(|r| !matches!(r, Role::Build | Role::Refresh))
        {
            self.docker.check_swarm()?;
        }
        if roles.iter().any(|r| matches!(r, Role::Ship | Role::Run)) {
            check_registry(&self.p.file.registry)?;
        }
        self.check_gate()?;
        let mut failed: Option<PipelineError> = None;
        for role in roles {
            if failed.is_some() {
                report.roles.push(RoleReport {
                    role,
                    outcome: "skipped",
                    seconds: 0.0,
                    detail: "an earlier role failed".into(),
                });
                continue;
            }
            let t = Instant::now();
            self.say(role, "starting");
            let r = match role {
                Role::Build => self.build(),
                Role::Ship => self.ship(),
                Role::Run => self.run_role(report),
                Role::Mask => self.mask(),
                Role::Smoke => self.smoke(report),
                Role::Destroy => self.destroy(),
                Role::Refresh => self.refresh(),
            };
            let seconds = t.elapsed().as_secs_f64();
            match r {
                Ok(detail) => {
                    self.say(role, &format!("done in {seconds:.1} s: {detail}"));
                    report.roles.push(RoleReport {
                        role,
                        outcome: "ok",
                        seconds,
                        detail,
                    });
                }
                Err(e) => {
                    self.say(role, &format!("failed after {seconds:.1} s: {e}"));
                    report.roles.push(RoleReport {
                        role,
                        outcome: "failed",
                        seconds,
                        detail: e.to_string(),
                    });
                    failed = Some(e);
                }
            }
        }
        report.data_seconds = self.data_seconds.get();
        if let Some(e) = failed {
            return Err(e);
        }
        let (env, tag) = (self.env_name.clone(), self.tag.clone());
        self.state.update(|s| s.mark_passed(&env, &tag))?;
        Ok(())
    }

    fn fail(&self, role: Role, reason: impl Into<String>) -> PipelineError {
        PipelineError::Role {
            env: self.env_name.clone(),
            role: role.to_string(),
            reason: reason.into(),
        }
    }

    // ------------------------------------------------------------------ build
    fn build(&self) -> Result<String> {
        let mut built = Vec::new();
        for (role, img) in &self.p.file.app.images {
            let local = format!("{}:{}", img.repository, self.tag);
            let vars = Vars {
                image: Some(local.clone()),
                ..self.vars.clone()
            };
            self.say(Role::Build, &format!("{role}: {local}"));
            if let Some(ctx) = &img.context {
                let dir = self.p.dir.join(ctx);
                let dir = dir.to_string_lossy();
                let build_arg = format!("BUILD={}", self.vars.build);
                let version_arg = format!("VERSION={}", self.vars.version);
                let args = [
                    "build",
                    "--quiet",
                    "--build-arg",
                    &build_arg,
                    "--build-arg",
                    &version_arg,
                    "-t",
                    &local,
                    &dir,
                ];
                let mut c = Command::new("docker");
                c.args(args).env("DOCKER_BUILDKIT", "0");
                if let Some(h) = &self.env.docker_host {
                    c.env("DOCKER_HOST", h);
                }
                run_logged(c, &format!("{role} image build"), "docker")?;
            } else {
                let argv: Vec<String> = img.build.iter().map(|a| expand(a, &vars)).collect();
                let program = resolve_program(&self.p.dir, &argv[0]);
                let mut c = Command::new(&program);
                c.args(&argv[1..])
                    .current_dir(&self.p.dir)
                    .env("POPULOUS_IMAGE", &local)
                    .env("POPULOUS_TAG", &self.tag)
                    .env("POPULOUS_BUILD", &self.vars.build)
                    .env("POPULOUS_VERSION", &self.vars.version);
                if let Some(h) = &self.env.docker_host {
                    c.env("DOCKER_HOST", h);
                }
                run_logged(c, &format!("{role} image build"), &argv[0])?;
            }
            if !self.docker.image_exists(&local)? {
                return Err(self.fail(
                    Role::Build,
                    format!("the {role} build command ended but there is no image {local}: it must tag {{image}}"),
                ));
            }
            built.push(local);
        }
        Ok(format!("built {}", built.join(", ")))
    }

    // ------------------------------------------------------------------- ship
    fn ship(&self) -> Result<String> {
        let mut pushed = Vec::new();
        for (role, img) in &self.p.file.app.images {
            let local = format!("{}:{}", img.repository, self.tag);
            let remote = self.p.image_ref(role, &self.tag).expect("the role exists");
            if !self.docker.image_exists(&local)? {
                return Err(self.fail(
                    Role::Ship,
                    format!("there is no image {local}: run the build role first (roles: [build, ship, ...])"),
                ));
            }
            self.say(Role::Ship, &format!("push {remote}"));
            self.docker.run(&["tag", &local, &remote])?;
            self.docker.run(&["push", "--quiet", &remote])?;
            pushed.push(remote);
        }
        Ok(format!("pushed {}", pushed.join(", ")))
    }

    // -------------------------------------------------------------------- run
    fn run_role(&mut self, report: &mut RunReport) -> Result<String> {
        // Before anything is created: the images this build runs.
        let mut roles = vec!["db", "app"];
        if self.env.app.lb {
            roles.push("lb");
        }
        for role in roles {
            let repo = &self.p.file.app.images[role].repository;
            if !registry_has(&self.p.file.registry, repo, &self.tag)? {
                return Err(self.fail(
                    Role::Run,
                    format!(
                        "the registry {} has no {repo}:{}: build and ship it first (the build and ship roles, e.g. in dev, or --roles build,ship,run,smoke)",
                        self.p.file.registry, self.tag
                    ),
                ));
            }
        }
        self.docker.ensure_network(&self.names.net)?;
        let d = &self.env.data;
        let detail = if let Some(src) = d.clone_of.clone() {
            self.run_clone(&src)?
        } else if let Some(from) = d.import_from.clone() {
            self.run_import(&from)?
        } else if self.docker.service_exists(&self.names.app)? {
            let (detail, figures) = self.rolling_update()?;
            report.update = figures;
            detail
        } else {
            self.first_deploy()?
        };
        let (env, tag) = (self.env_name.clone(), self.tag.clone());
        self.state.update(|s| s.env_mut(&env).running = Some(tag))?;
        Ok(detail)
    }

    /// dev: a fresh clone of `src` (`importVolAsClone`), then db and app.
    fn run_clone(&self, src: &str) -> Result<String> {
        self.remove_services()?;
        self.drop_volume("a previous run of this build")?;
        if self.copy == CopyMethod::Dump {
            return self.run_dump(src);
        }
        self.say(
            Role::Run,
            &format!(
                "volume {} = clone of {src} (importVolAsClone)",
                self.docker_volume
            ),
        );
        let t = Instant::now();
        let opt = format!("importVolAsClone={src}");
        self.create_volume(&[&opt])?;
        let clone_ms = t.elapsed().as_secs_f64() * 1000.0;
        self.data_seconds.set(Some(clone_ms / 1000.0));
        // Mask before any service starts: the environment never serves
        // unmasked data, and no db restart is needed for it.
        let mut masked = String::new();
        if self.mask_follows_run() {
            let t = Instant::now();
            let summary = self.mask_volume()?;
            masked = format!(
                "; masked before the services started in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            *self.masked_early.borrow_mut() = Some(summary);
        }
        self.start_services()?;
        Ok(format!(
            "cloned {src} to {}/{} in {clone_ms:.0} ms{masked}; db and app services up",
            self.env.folder, self.volume
        ))
    }

    /// The baseline: an empty volume, its db service, then `mariadb-dump` in
    /// the source's db container piped into `mariadb` in the new one.
    fn run_dump(&self, src: &str) -> Result<String> {
        let (src_db, read) = self.dump_source(src)?;
        let src = if read == src {
            read
        } else {
            format!("{read} (the source of {src}, which runs no server)")
        };
        self.say(
            Role::Run,
            &format!(
                "volume {} = empty, filled by mariadb-dump | mariadb from {src_db}",
                self.docker_volume
            ),
        );
        self.create_volume(&[])?;
        self.start_services()?;
        let from = self.docker.service_container(&src_db)?;
        let to = self.docker.service_container(&self.names.db)?;
        let t = Instant::now();
        let bytes = self.docker.pipe(
            &[
                "exec",
                &from,
                "mariadb-dump",
                "--single-transaction",
                "--quick",
                "--hex-blob",
                "populous",
            ],
            &["exec", "-i", &to, "mariadb", "populous"],
            DUMP_STALL,
        )?;
        self.data_seconds.set(Some(t.elapsed().as_secs_f64()));
        Ok(format!(
            "copied {src} by mariadb-dump | mariadb ({:.0} MB) in {:.1} s; db and app services up",
            bytes as f64 / 1e6,
            t.elapsed().as_secs_f64()
        ))
    }

    /// The db service a dump reads `src` from: the service of the environment
    /// whose folder holds it. A golden copy runs no server, so a dump of it
    /// reads what it was cloned from (the baseline then masks, as the seed did).
    /// Returns the service and the `FOLDER/VOL` it serves.
    fn dump_source(&self, src: &str) -> Result<(String, String)> {
        let mut src = src.to_owned();
        for _ in 0..self.p.file.environments.len() {
            let (folder, _) = src.split_once('/').expect("checked at load");
            let found = self
                .p
                .file
                .environments
                .iter()
                .find(|(_, e)| e.folder == folder);
            match found {
                Some((_, e)) if e.is_golden() => {
                    src = e.data.clone_of.clone().expect("checked at load");
                }
                Some((name, _)) => return Ok((format!("{}-{name}-db", self.p.file.name), src)),
                None => break,
            }
        }
        Err(self.fail(
            Role::Run,
            format!(
                "copy: dump needs the environment whose folder holds {src} to run its db service"
            ),
        ))
    }

    /// stage: import the source environment's offline volume (`importVol`),
    /// switch the services to it, destroy the previous one.
    fn run_import(&self, from: &str) -> Result<String> {
        let src_env = self.p.env(from)?;
        let previous = self
            .state
            .load()?
            .environments
            .get(&self.env_name)
            .and_then(|r| r.volume.clone());
        let mut detail = Vec::new();
        if self
            .docker
            .volume_exists(&self.env.driver, &self.docker_volume)?
        {
            detail.push(format!("{} already imported", self.volume));
        } else {
            let src = format!("{}/{}", src_env.folder, self.volume);
            self.say(
                Role::Run,
                &format!("import {src} as {} (importVol)", self.docker_volume),
            );
            let opt = format!("importVol={src}");
            self.create_volume(&[&opt, "destroyOnRm=true"])?;
            detail.push(format!("imported {src}"));
        }
        self.remove_services()?;
        if let Some(prev) = previous.filter(|v| *v != self.volume) {
            let dv = format!("{prev}{}", self.env.name_suffix);
            self.say(
                Role::Run,
                &format!("destroy the previous {} volume {prev}", self.env_name),
            );
            if self.docker.volume_exists(&self.env.driver, &dv)? {
                self.docker.run(&["volume", "rm", &dv])?;
            }
            // destroyOnRm destroyed it; an older volume imported without it is
            // offline now: destroy it through the API.
            if self.api_volume(&prev)?.is_some() {
                self.api_destroy(&prev)?;
            }
            detail.push(format!("destroyed {prev}"));
        }
        self.start_services()?;
        let (env, vol) = (self.env_name.clone(), self.volume.clone());
        self.state.update(|s| s.env_mut(&env).volume = Some(vol))?;
        detail.push("db and app services up".into());
        Ok(detail.join("; "))
    }

    /// prod's first deployment: the volume (new, or existing), services, seed.
    fn first_deploy(&self) -> Result<String> {
        let exists = self.api_volume(&self.volume)?.is_some();
        if !exists {
            self.say(Role::Run, &format!("new volume {}", self.docker_volume));
            self.create_volume(&[])?;
        }
        self.start_services()?;
        let mut detail = format!(
            "first deployment on {} volume {}/{}",
            if exists { "existing" } else { "new" },
            self.env.folder,
            self.volume
        );
        if let (false, Some(size)) = (exists, &self.env.data.seed_size) {
            // Tasks are healthy; the lb finds them by DNS a moment later.
            let url = format!("http://127.0.0.1:{}/healthz", self.env.port);
            wait_ok(&url, SERVICE_START).map_err(|e| self.fail(Role::Run, e))?;
            let rows = self.seed(size)?;
            detail.push_str(&format!("; seeded {rows} rows ({size})"));
        }
        Ok(detail)
    }

    fn start_services(&self) -> Result<()> {
        let n = &self.names;
        let db_image = self.p.image_ref("db", &self.tag).expect("db is required");
        let app_image = self.p.image_ref("app", &self.tag).expect("app is required");
        let labels = [
            format!("org.populous.pipeline={}", self.p.file.name),
            format!("org.populous.env={}", self.env_name),
            format!("org.populous.build={}", self.tag),
        ];
        let mount = format!(
            "type=volume,source={},target=/var/lib/mysql,volume-driver={}",
            self.docker_volume, self.env.driver
        );
        self.say(Role::Run, &format!("service {} ({db_image})", n.db));
        let mut args: Vec<String> = vec![
            "service",
            "create",
            "--detach",
            "--quiet",
            "--name",
            &n.db,
            "--network",
            &n.net,
            "--endpoint-mode",
            "dnsrr",
            "--replicas",
            "1",
            "--stop-grace-period",
            "60s",
            "--mount",
            &mount,
        ]
        .into_iter()
        .map(String::from)
        .collect();
        for l in &labels {
            args.extend(["--label".into(), l.clone()]);
        }
        args.push(db_image);
        self.docker.run(&as_strs(&args))?;

        let db_url = format!("POPULOUS_DB_URL=mysql://root@{}:3306/populous", n.db);
        let mut args: Vec<String> = vec![
            "service",
            "create",
            "--detach",
            "--quiet",
            "--name",
            &n.app,
            "--network",
            &n.net,
            "--endpoint-mode",
            "dnsrr",
            "--env",
            &db_url,
            "--stop-grace-period",
            "20s",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        let publish = format!("published={},target=8080,mode=host", self.env.port);
        match self.env.app.replicas {
            Some(r) => {
                args.extend(["--replicas".into(), r.to_string()]);
                args.extend(self.update_policy());
            }
            // One task per node: the host port allows no overlap, so stop-first.
            None => {
                args.extend(["--mode", "global", "--update-order", "stop-first"].map(String::from))
            }
        }
        if !self.env.app.lb {
            args.extend(["--publish".into(), publish.clone()]);
        }
        for l in &labels {
            args.extend(["--label".into(), l.clone()]);
        }
        args.push(app_image.clone());
        self.say(Role::Run, &format!("service {} ({app_image})", n.app));
        self.docker.run(&as_strs(&args))?;

        if self.env.app.lb {
            let lb_image = self
                .p
                .image_ref("lb", &self.tag)
                .expect("checked: lb needs an lb image");
            let target = format!("POPULOUS_LB_SERVICE={}", n.app);
            self.say(
                Role::Run,
                &format!("service {} ({lb_image}) on :{}", n.lb, self.env.port),
            );
            self.docker.run(&[
                "service",
                "create",
                "--detach",
                "--quiet",
                "--name",
                &n.lb,
                "--network",
                &n.net,
                "--endpoint-mode",
                "dnsrr",
                "--env",
                &target,
                "--publish",
                &publish,
                &lb_image,
            ])?;
        }
        let t = Instant::now();
        self.docker.wait_running(&n.db, 1, SERVICE_START)?;
        self.say(
            Role::Run,
            &format!("{} running after {:.1} s", n.db, t.elapsed().as_secs_f64()),
        );
        self.docker.wait_running(
            &n.app,
            self.env.app.replicas.unwrap_or(1) as usize,
            SERVICE_START,
        )?;
        self.say(
            Role::Run,
            &format!("{} healthy after {:.1} s", n.app, t.elapsed().as_secs_f64()),
        );
        if self.env.app.lb {
            self.docker.wait_running(&n.lb, 1, SERVICE_START)?;
        }
        Ok(())
    }

    /// `docker volume create --driver DRIVER [--opt O]... --name VOLUME`.
    fn create_volume(&self, opts: &[&str]) -> Result<()> {
        let mut args = vec!["volume", "create", "--driver", &self.env.driver];
        for o in opts {
            args.extend(["--opt", o]);
        }
        args.extend(["--name", &self.docker_volume]);
        self.docker.run(&args).map(drop)
    }

    /// Removes the environment's services (lb, app, db) and waits for their containers.
    fn remove_services(&self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for s in [&self.names.lb, &self.names.app, &self.names.db] {
            if self.docker.service_exists(s)? {
                removed.push(s.clone());
            }
        }
        if removed.is_empty() {
            return Ok(removed);
        }
        // One `service rm` for all: their tasks stop in parallel.
        let mut args = vec!["service", "rm"];
        args.extend(removed.iter().map(String::as_str));
        self.docker.run(&args)?;
        for s in &removed {
            self.docker.wait_no_containers(s, SERVICE_STOP)?;
        }
        self.hooks.say(
            &self.env_name,
            None,
            &format!("removed services {}", removed.join(", ")),
        );
        Ok(removed)
    }

    /// Removes this run's volume if a previous run left it (a re-run of the same build).
    fn drop_volume(&self, why: &str) -> Result<()> {
        if self
            .docker
            .volume_exists(&self.env.driver, &self.docker_volume)?
        {
            self.docker.run(&["volume", "rm", &self.docker_volume])?;
        }
        if self.api_volume(&self.volume)?.is_some() {
            self.say(
                Role::Run,
                &format!("destroy {}/{} ({why})", self.env.folder, self.volume),
            );
            self.api_destroy(&self.volume)?;
        }
        Ok(())
    }

    /// Fills a new database through the app's `/populate`, until about `size`.
    fn seed(&self, size: &str) -> Result<u64> {
        // Checked when the file was loaded; this is a second line of defence.
        let bytes = populous_units::parse_size(size)
            .map_err(|e| PipelineError::Usage(format!("data.seed_size: {e}")))?;
        // The app's rows carry a 64 KiB imprint and ~300 bytes of text.
        let rows = (bytes / (65536 + 300)).max(1);
        let agent = http(Duration::from_secs(300), true);
        let mut done = 0;
        while done < rows {
            let n = (rows - done).min(500);
            let url = format!("http://127.0.0.1:{}/populate?rows={n}", self.env.port);
            let r = agent.post(&url).send_empty();
            match r {
                Ok(resp) if resp.status().is_success() => done += n,
                Ok(mut resp) => {
                    let body = resp.body_mut().read_to_string().unwrap_or_default();
                    return Err(self.fail(
                        Role::Run,
                        format!("seeding: POST {url} answered {}: {body}", resp.status()),
                    ));
                }
                Err(e) => return Err(self.fail(Role::Run, format!("seeding: POST {url}: {e}"))),
            }
            self.say(Role::Run, &format!("seeded {done}/{rows} rows"));
        }
        Ok(rows)
    }

    /// The app service's update and rollback policy, as `docker service` flags.
    fn update_policy(&self) -> Vec<String> {
        let u = &self.env.update;
        let (par, delay, monitor) = (u.parallelism.to_string(), secs(u.delay), secs(u.monitor));
        let action = if u.rollback { "rollback" } else { "pause" };
        [
            "--update-parallelism",
            &par,
            "--update-delay",
            &delay,
            "--update-order",
            &u.order,
            "--update-monitor",
            &monitor,
            "--update-failure-action",
            action,
            "--rollback-parallelism",
            &par,
            "--rollback-order",
            &u.order,
            "--rollback-monitor",
            &monitor,
        ]
        .map(String::from)
        .into()
    }

    /// prod: a rolling update of the app image, watched by the probe.
    fn rolling_update(&self) -> Result<(String, Option<UpdateFigures>)> {
        let n = &self.names;
        let image = self.p.image_ref("app", &self.tag).expect("app is required");
        let before = self.docker.service_image(&n.app)?;
        let probe = match &self.env.probe {
            Some(spec) => {
                let file = self.state.lock_path(&self.env_name).with_file_name(format!(
                    "{}-{}-{}.probe.jsonl",
                    self.p.file.name, self.env_name, self.tag
                ));
                let mut cfg = populous_probe::ProbeConfig::new(format!(
                    "http://127.0.0.1:{}{}",
                    self.env.port, self.env.smoke.path
                ));
                cfg.interval = spec.interval;
                cfg.timeout = spec.timeout;
                cfg.output = Some(file.clone());
                cfg.overwrite = true;
                let running = populous_probe::Probe::new(cfg)
                    .and_then(populous_probe::Probe::spawn)
                    .map_err(|e| self.fail(Role::Run, format!("starting the probe: {e}")))?;
                self.say(
                    Role::Run,
                    &format!(
                        "probe every {:?}: {:?} idle baseline",
                        spec.interval, spec.idle
                    ),
                );
                // Measuring the idle baseline is the point of this wait.
                std::thread::sleep(spec.idle);
                running.event("update");
                Some((spec, running, file))
            }
            None => None,
        };
        let u = &self.env.update;
        self.say(
            Role::Run,
            &format!(
                "service update {} {before} -> {image} ({}, parallelism {})",
                n.app, u.order, u.parallelism
            ),
        );
        let mut args: Vec<String> = [
            "service", "update", "--detach", "--quiet", "--image", &image,
        ]
        .map(String::from)
        .into();
        args.extend(self.update_policy());
        args.push(n.app.clone());
        let updated = self
            .docker
            .run(&as_strs(&args))
            .and_then(|_| self.docker.wait_update(&n.app, u.timeout));
        let figures = match probe {
            Some((spec, running, file)) => {
                running.event("done");
                let run = running
                    .stop()
                    .map_err(|e| self.fail(Role::Run, format!("the probe: {e}")))?;
                Some((spec, figures(&run, file)))
            }
            None => None,
        };
        let status = updated?;
        let figs = figures.as_ref().map(|(_, f)| f.clone());
        match status.state.as_str() {
            "completed" => {}
            s if s.starts_with("rollback") => {
                return Err(self.fail(
                    Role::Run,
                    format!(
                        "the update to {image} failed and was rolled back to {before} ({s}): {}",
                        status.message
                    ),
                ))
            }
            s => {
                return Err(self.fail(
                    Role::Run,
                    format!(
                        "the update to {image} is {s}: {}; fix it, then run again or `docker service rollback {}`",
                        status.message, n.app
                    ),
                ))
            }
        }
        let mut detail = format!("updated {} to {image}", n.app);
        if let Some((spec, f)) = &figures {
            detail.push_str(&format!(
                "; probe: {} requests, {} failed, p50 {:.2} ms, p99 {:.2} ms (idle p99 {:.2} ms, ratio {:.2})",
                f.update_requests, f.failed, f.update_p50_ms, f.update_p99_ms, f.idle_p99_ms, f.p99_ratio
            ));
            if f.failed as u64 > spec.max_failed {
                return Err(self.fail(
                    Role::Run,
                    format!(
                        "{detail}: {} requests failed during the update (allowed: {})",
                        f.failed, spec.max_failed
                    ),
                ));
            }
            if f.p99_ratio > spec.max_p99_ratio {
                return Err(self.fail(
                    Role::Run,
                    format!(
                        "{detail}: p99 during the update is {:.2}x the idle p99 (allowed: {:.2}x)",
                        f.p99_ratio, spec.max_p99_ratio
                    ),
                ));
            }
        }
        Ok((detail, figs))
    }

    // ------------------------------------------------------------------- mask
    /// Whether the mask role comes right after run: then run masks the new
    /// volume before starting the services.
    fn mask_follows_run(&self) -> bool {
        let pos = |r: Role| self.roles.iter().position(|x| *x == r);
        matches!((pos(Role::Run), pos(Role::Mask)), (Some(a), Some(b)) if b == a + 1)
            && self.env.mask.is_some()
    }

    /// Masks the environment's volume (no server may run on it).
    fn mask_volume(&self) -> Result<String> {
        let summary = self.mask_named(Role::Mask, &self.volume)?;
        Ok(format!("{}/{}: {summary}", self.env.folder, self.volume))
    }

    /// Masks `FOLDER/name` in this environment's folder; the hook's summary.
    fn mask_named(&self, role: Role, name: &str) -> Result<String> {
        let spec = self.env.mask.as_ref().expect("checked before");
        let vol = format!("{}/{name}", self.env.folder);
        let rules = self.p.dir.join(&spec.rules);
        self.say(role, &format!("mask {vol} with {}", rules.display()));
        self.hooks
            .mask(&vol, &rules, &spec.key_file, spec.threads.max(1))
            .map_err(|e| self.fail(role, format!("masking {vol}: {e}")))
    }

    // ---------------------------------------------------------------- refresh
    /// A golden copy: a new masked clone of `data.clone_of` is made beside the
    /// current one, then takes its name in one step (`rename --replace`). dev
    /// clones the golden copy at any moment and always gets a whole, masked
    /// volume; the masking pass is paid here, once per refresh, not per build.
    fn refresh(&self) -> Result<String> {
        let src = self.env.data.clone_of.clone().expect("checked at load");
        let folder = &self.env.folder;
        let next = format!("{}-next", self.volume);
        if self.api_volume(&next)?.is_some() {
            self.say(
                Role::Refresh,
                &format!("destroy {folder}/{next}, left by an interrupted refresh"),
            );
            self.api_destroy(&next)?;
        }
        self.say(Role::Refresh, &format!("clone {src} to {folder}/{next}"));
        let t = Instant::now();
        let api = self.p.file.populous.api.trim_end_matches('/');
        let made = self.api_post(
            &format!("{api}/v1/clone"),
            &serde_json::json!({"source": src, "target": format!("{folder}/{next}")}),
        )?;
        let clone_ms = t.elapsed().as_secs_f64() * 1000.0;
        self.data_seconds.set(Some(clone_ms / 1000.0));
        let origin = made["origin"].as_str().unwrap_or(&src).to_owned();
        let t = Instant::now();
        let masked = match self.mask_named(Role::Refresh, &next) {
            Ok(m) => m,
            Err(e) => {
                // An unmasked copy is not left lying in the golden folder.
                if let Err(d) = self.api_destroy(&next) {
                    self.say(
                        Role::Refresh,
                        &format!("could not destroy {folder}/{next}: {d}"),
                    );
                }
                return Err(e);
            }
        };
        let mask_s = t.elapsed().as_secs_f64();
        let swapped = self.api_post(
            &format!("{}/rename", self.api_url(&next)),
            &serde_json::json!({"to": self.volume, "replace": true}),
        )?;
        let replaced = match swapped["replaced"].as_str() {
            Some(old) => {
                format!("replaced the previous generation of {old} (its clones keep working)")
            }
            None => "the first generation".to_owned(),
        };
        Ok(format!(
            "{folder}/{} = clone of {origin} ({clone_ms:.0} ms), {masked} ({mask_s:.1} s with the server's start and stop); {replaced}",
            self.volume
        ))
    }

    fn mask(&self) -> Result<String> {
        if let Some(done) = self.masked_early.borrow_mut().take() {
            return Ok(format!(
                "{done} (in the run role, before the services started: the app never served unmasked data)"
            ));
        }
        let db = &self.names.db;
        let running = self.docker.service_exists(db)?;
        if running {
            // One server per datadir: stop the service's while masking.
            self.say(Role::Mask, &format!("scale {db} to 0"));
            self.docker.scale(db, 0)?;
            self.docker.wait_no_containers(db, SERVICE_STOP)?;
        }
        let masked = self.mask_volume();
        if running {
            self.say(Role::Mask, &format!("scale {db} to 1"));
            self.docker.scale(db, 1)?;
            self.docker.wait_running(db, 1, SERVICE_START)?;
        }
        // The service is back either way; a failed masking fails the role.
        masked
    }

    // ------------------------------------------------------------------ smoke
    fn smoke(&self, report: &RunReport) -> Result<String> {
        let url = format!("http://127.0.0.1:{}{}", self.env.port, self.env.smoke.path);
        match smoke(&url, &self.tag, self.env.smoke.timeout) {
            Ok(d) => Ok(d),
            Err(why) => {
                let updated = report.update.is_some()
                    || report
                        .roles
                        .iter()
                        .any(|r| r.role == Role::Run && r.detail.starts_with("updated"));
                if updated {
                    // The new build runs but does not answer as it should: back to the last one.
                    self.say(
                        Role::Smoke,
                        &format!("{why}; rolling back {}", self.names.app),
                    );
                    self.docker.run(&[
                        "service",
                        "rollback",
                        "--detach",
                        "--quiet",
                        &self.names.app,
                    ])?;
                    let s = self
                        .docker
                        .wait_update(&self.names.app, self.env.update.timeout)?;
                    return Err(self.fail(Role::Smoke, format!("{why}; rolled back ({})", s.state)));
                }
                Err(self.fail(Role::Smoke, why))
            }
        }
    }

    // ---------------------------------------------------------------- destroy
    fn destroy(&self) -> Result<String> {
        let removed = self.remove_services()?;
        let mut detail = if removed.is_empty() {
            "no services".to_string()
        } else {
            format!("removed {}", removed.join(", "))
        };
        if self
            .docker
            .volume_exists(&self.env.driver, &self.docker_volume)?
        {
            self.docker.run(&["volume", "rm", &self.docker_volume])?;
        }
        match self.api_volume(&self.volume)? {
            Some(v) => {
                let state = v["state"].as_str().unwrap_or("?").to_string();
                let masked = v["provenance"]["masked"].as_bool().unwrap_or(false);
                detail.push_str(&format!(
                    "; {}/{} is {state}{}",
                    self.env.folder,
                    self.volume,
                    if masked { ", masked" } else { "" }
                ));
            }
            None => detail.push_str(&format!("; {}/{} destroyed", self.env.folder, self.volume)),
        }
        let env = self.env_name.clone();
        self.state.update(|s| s.env_mut(&env).running = None)?;
        Ok(detail)
    }

    // ------------------------------------------------------------ Populous API
    fn api_url(&self, vol: &str) -> String {
        format!(
            "{}/v1/folders/{}/volumes/{vol}",
            self.p.file.populous.api.trim_end_matches('/'),
            self.env.folder
        )
    }

    fn agent() -> ureq::Agent {
        http(Duration::from_secs(60), true)
    }

    /// One REST call with this environment's token: the status, the body,
    /// and what to name the request in an error (`GET URL`).
    fn api_call(
        &self,
        method: &str,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, String, String)> {
        let auth = format!("Bearer {}", self.token);
        let agent = Self::agent();
        let sent = match (method, body) {
            ("GET", None) => agent.get(url).header("Authorization", &auth).call(),
            ("DELETE", None) => agent.delete(url).header("Authorization", &auth).call(),
            ("POST", Some(b)) => agent
                .post(url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(b.to_string()),
            _ => unreachable!("the runner sends GET, DELETE, and POST with a body"),
        };
        let mut resp = sent.map_err(|e| api_down(url, &e))?;
        let code = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        Ok((code, text, format!("{method} {url}")))
    }

    /// The volume's record, or `None` if there is no such volume.
    fn api_volume(&self, vol: &str) -> Result<Option<serde_json::Value>> {
        match self.api_call("GET", &self.api_url(vol), None)? {
            (404, _, _) => Ok(None),
            (code, text, what) => api_json(code, &text, what).map(Some),
        }
    }

    /// POSTs `body`; the answer's JSON.
    fn api_post(&self, url: &str, body: &serde_json::Value) -> Result<serde_json::Value> {
        let (code, text, what) = self.api_call("POST", url, Some(body))?;
        api_json(code, &text, what)
    }

    fn api_destroy(&self, vol: &str) -> Result<()> {
        let url = format!("{}?destroy=true", self.api_url(vol));
        match self.api_call("DELETE", &url, None)? {
            (code, _, _) if (200..300).contains(&code) || code == 404 => Ok(()),
            (code, text, what) => Err(PipelineError::Api {
                what,
                detail: format!("{code}: {text}"),
            }),
        }
    }
}

/// A 2xx answer's JSON, or an error naming the request.
fn api_json(code: u16, text: &str, what: String) -> Result<serde_json::Value> {
    if !(200..300).contains(&code) {
        return Err(PipelineError::Api {
            what,
            detail: format!("{code}: {text}"),
        });
    }
    serde_json::from_str(text).map_err(|e| PipelineError::Api {
        what,
        detail: format!("not JSON: {e}"),
    })
}

fn api_down(url: &str, e: &ureq::Error) -> PipelineError {
    PipelineError::Api {
        what: url.to_string(),
        detail: format!("{e}: is `populous serve` running with its REST API there (populous.api in the pipeline file)?"),
    }
}

/// Polls `url` until it answers 200 with a JSON object whose `version` is `tag`.
pub fn smoke(url: &str, tag: &str, timeout: Duration) -> std::result::Result<String, String> {
    let polled = poll(url, timeout, |code, body| {
        match serde_json::from_str::<serde_json::Value>(body) {
            Ok(v) if code == 200 && v.is_object() => {
                let version = v["version"].as_str().unwrap_or_default();
                if version == tag {
                    return Ok(());
                }
                Err(format!("it serves version {version:?}, not {tag}"))
            }
            Ok(_) | Err(_) => {
                let snippet: String = body.chars().take(120).collect();
                Err(format!("it answered {code} {snippet:?}"))
            }
        }
    });
    match polled {
        Ok((secs, polls)) => Ok(format!(
            "{url} serves {tag} after {secs:.1} s ({polls} polls)"
        )),
        Err(last) => Err(format!(
            "{url} did not serve {tag} within {timeout:?}: {last}"
        )),
    }
}

/// Polls `url` until it answers 200.
fn wait_ok(url: &str, timeout: Duration) -> std::result::Result<(), String> {
    poll(url, timeout, |code, _| {
        if code == 200 {
            Ok(())
        } else {
            Err(format!("it answered {code}"))
        }
    })
    .map(drop)
    .map_err(|last| format!("{url} did not answer 200 within {timeout:?}: {last}"))
}

/// GETs `url` every 250 ms, on new connections, until `accept(status, body)`
/// says yes or `timeout` passes. Ok: seconds taken and polls made; Err: why
/// the last answer was refused.
fn poll(
    url: &str,
    timeout: Duration,
    accept: impl Fn(u16, &str) -> std::result::Result<(), String>,
) -> std::result::Result<(f64, u64), String> {
    let agent = http(Duration::from_secs(3), false);
    let t0 = Instant::now();
    let mut last = String::from("no answer yet");
    let mut polls = 0u64;
    while t0.elapsed() < timeout {
        polls += 1;
        match agent.get(url).call() {
            Ok(mut resp) => {
                let code = resp.status().as_u16();
                let body = resp.body_mut().read_to_string().unwrap_or_default();
                match accept(code, &body) {
                    Ok(()) => return Ok((t0.elapsed().as_secs_f64(), polls)),
                    Err(why) => last = why,
                }
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(last)
}

/// An HTTP client that returns every status as an answer (no redirects to
/// follow here); `keep_alive: false` opens a new connection per request, as
/// a client arriving through the lb would.
fn http(timeout: Duration, keep_alive: bool) -> ureq::Agent {
    let mut b = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false);
    if !keep_alive {
        b = b.max_idle_connections(0);
    }
    b.build().into()
}

fn figures(run: &populous_probe::ProbeRun, probe_file: PathBuf) -> UpdateFigures {
    let phases = run.phase_stats();
    let idle = phases.iter().find(|p| p.name == "start");
    let during: Vec<&populous_probe::stats::PhaseStats> =
        phases.iter().filter(|p| p.name != "start").collect();
    let pct = |p: Option<&populous_probe::stats::PhaseStats>,
               f: fn(&populous_probe::stats::Percentiles) -> f64| {
        p.and_then(|p| p.latency_ms.as_ref()).map(f).unwrap_or(0.0)
    };
    // The update window: every sample after the "update" event.
    let samples: Vec<&populous_probe::Sample> = {
        let start = run
            .events()
            .find(|e| e.name == "update")
            .map(|e| e.offset)
            .unwrap_or_default();
        run.samples().filter(|s| s.offset >= start).collect()
    };
    let mut lat: Vec<f64> = samples
        .iter()
        .filter(|s| s.status.is_ok())
        .map(|s| s.latency.as_secs_f64() * 1000.0)
        .collect();
    lat.sort_by(f64::total_cmp);
    let q = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((p * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i]
    };
    let mut versions: Vec<(String, usize)> = Vec::new();
    for p in &during {
        for s in &p.versions {
            match versions.iter_mut().find(|(v, _)| *v == s.value) {
                Some((_, c)) => *c += s.count,
                None => versions.push((s.value.clone(), s.count)),
            }
        }
    }
    let idle_p99 = pct(idle, |p| p.p99);
    let update_p99 = q(0.99);
    UpdateFigures {
        idle_requests: idle.map_or(0, |p| p.count),
        idle_p50_ms: pct(idle, |p| p.p50),
        idle_p99_ms: idle_p99,
        update_requests: samples.len(),
        update_p50_ms: q(0.50),
        update_p99_ms: update_p99,
        failed: samples.iter().filter(|s| !s.status.is_ok()).count(),
        p99_ratio: if idle_p99 > 0.0 {
            update_p99 / idle_p99
        } else {
            0.0
        },
        versions,
        probe_file,
    }
}

fn read_token(env: &str, src: &TokenSource) -> Result<String> {
    let t = match src {
        TokenSource::Env(var) => std::env::var(var).map_err(|_| {
            PipelineError::Usage(format!(
                "environment {env}'s Populous token: ${var} is not set (create one with `populous token create`)"
            ))
        })?,
        TokenSource::File(path) => std::fs::read_to_string(path).map_err(|e| {
            PipelineError::Usage(format!("environment {env}'s Populous token file {}: {e}", path.display()))
        })?,
    };
    let t = t.trim().to_string();
    if t.is_empty() {
        return Err(PipelineError::Usage(format!(
            "environment {env}'s Populous token is empty"
        )));
    }
    Ok(t)
}

/// Checks that the registry answers its API root (200, or 401 with auth).
pub fn check_registry(registry: &str) -> Result<()> {
    let url = format!("http://{registry}/v2/");
    let agent = http(Duration::from_secs(5), true);
    match agent.get(&url).call() {
        Ok(r) if matches!(r.status().as_u16(), 200 | 401) => Ok(()),
        Ok(r) => Err(PipelineError::RegistryDown {
            registry: registry.to_string(),
            detail: format!("GET {url} answered {}", r.status()),
        }),
        Err(e) => Err(PipelineError::RegistryDown {
            registry: registry.to_string(),
            detail: format!("GET {url}: {e}"),
        }),
    }
}

/// Whether the registry holds `repo:tag`.
pub fn registry_has(registry: &str, repo: &str, tag: &str) -> Result<bool> {
    let url = format!("http://{registry}/v2/{repo}/manifests/{tag}");
    let agent = http(Duration::from_secs(10), true);
    let down = |detail: String| PipelineError::RegistryDown {
        registry: registry.to_string(),
        detail,
    };
    let r = agent
        .head(&url)
        .header(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json",
        )
        .call()
        .map_err(|e| down(format!("HEAD {url}: {e}")))?;
    match r.status().as_u16() {
        200 => Ok(true),
        404 => Ok(false),
        code => Err(down(format!("HEAD {url} answered {code}"))),
    }
}

/// Runs a build command with its output on our stderr (stdout stays clean
/// for `--json`); an error carries its status.
fn run_logged(mut c: Command, what: &str, program: &str) -> Result<()> {
    let _ = std::io::stderr().flush();
    let err = |detail: String| PipelineError::Command {
        what: what.to_string(),
        program: program.to_string(),
        detail,
    };
    let stderr = std::os::fd::AsFd::as_fd(&std::io::stderr())
        .try_clone_to_owned()
        .map_err(|e| err(format!("duplicating stderr: {e}")))?;
    c.stdout(Stdio::from(stderr)).stdin(Stdio::null());
    let status = c
        .status()
        .map_err(|e| err(format!("cannot start it: {e}")))?;
    if !status.success() {
        return Err(err(format!("{status} (its output is above)")));
    }
    Ok(())
}

/// A relative program path with a '/' starts in the pipeline file's directory.
fn resolve_program(dir: &Path, program: &str) -> PathBuf {
    let p = Path::new(program);
    if p.is_relative() && program.contains('/') {
        dir.join(p)
    } else {
        p.to_path_buf()
    }
}

fn secs(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_durations() {
        assert_eq!(
            resolve_program(Path::new("/ex"), "../s.sh"),
            PathBuf::from("/ex/../s.sh")
        );
        assert_eq!(
            resolve_program(Path::new("/ex"), "make"),
            PathBuf::from("make")
        );
        assert_eq!(secs(Duration::from_secs(2)), "2000ms");
    }

    #[test]
    fn tokens_come_from_the_environment_or_a_file() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("t");
        std::fs::write(&f, "secret\n").unwrap();
        assert_eq!(read_token("dev", &TokenSource::File(f)).unwrap(), "secret");
        let e = read_token("dev", &TokenSource::Env("POPULOUS_TEST_NO_SUCH_VAR".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("$POPULOUS_TEST_NO_SUCH_VAR is not set"), "{e}");
    }

    #[test]
    fn a_missing_registry_is_named() {
        // Port 9 (discard) on loopback: nothing listens there.
        let e = check_registry("127.0.0.1:9").unwrap_err().to_string();
        assert!(
            e.starts_with("the registry 127.0.0.1:9 does not answer ("),
            "{e}"
        );
        assert!(!e.contains("scripts/"), "{e}");
    }
}
