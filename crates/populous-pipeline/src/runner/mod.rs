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
//!
//! Here: the run itself (lock, gate, the roles in order, the report).
//! `data` makes the run role's volume (clone, dump, import, own) and
//! refreshes golden copies; `services` starts and removes the swarm
//! services; `update` is prod's probe-watched rolling update; `roles` holds
//! build, ship, mask, smoke and destroy.

mod data;
mod roles;
mod services;
mod update;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::api::{read_token, PopulousApi};
use crate::docker::Docker;
use crate::error::{PipelineError, Result};
use crate::registry::check_registry;
use crate::spec::{
    expand, is_plain_name, CopyMethod, DataSource, EnvPlan, EnvSpec, Golden, MaskSpec, Pipeline,
    Role, Vars,
};
use crate::state::StateDir;

pub use crate::http::smoke;
pub use crate::registry::registry_has;

/// What the runner needs from its caller: progress output. (Masking runs
/// here, on this machine's pool, through populous-ops.)
/// runs where the pool is, through the Populous library, not over the wire).
pub trait Hooks {
    /// A progress line.
    fn say(&self, env: &str, role: Option<Role>, msg: &str);
    /// Progress of a long step, `done` of `total` `unit`s (masking: chunks).
    fn progress(&self, env: &str, role: Role, done: u64, total: u64, unit: &str) {
        let _ = (env, role, done, total, unit);
    }
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
    /// The Populous home whose pools hold the environments' volumes:
    /// masking runs here, where the data is, not over the wire.
    pub home: PathBuf,
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
    /// Rows, time and rate of the masking this run did (none when the
    /// volume was masked already, or nothing was masked).
    pub mask: Option<MaskFigures>,
}

/// What a run's masking did: rows, the scrub after it, the scan of the files.
#[derive(Debug, Clone, Serialize)]
pub struct MaskFigures {
    /// Rows, chunks and rates per table.
    pub report: populous_mask::db::MaskReport,
    /// How long each scrub step took.
    pub scrub: populous_mask::db::scrub::ScrubReport,
    /// The scan of every file of the volume.
    pub scan: populous_mask::scan::ScanFindings,
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
        mask: None,
    };
    let error = match Run::prepare(p, opts, hooks, &tag) {
        Ok(r) => r.roles(&mut report).err(),
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

/// A role with what it needs from the file, made sure of before the run
/// starts: the mask role has its mask section, refresh its golden plan.
#[derive(Debug, Clone, Copy)]
enum Step<'a> {
    Build,
    Ship,
    Run,
    Mask(&'a MaskSpec),
    Smoke,
    Destroy,
    Refresh(&'a Golden),
}

impl Step<'_> {
    fn role(&self) -> Role {
        match self {
            Step::Build => Role::Build,
            Step::Ship => Role::Ship,
            Step::Run => Role::Run,
            Step::Mask(_) => Role::Mask,
            Step::Smoke => Role::Smoke,
            Step::Destroy => Role::Destroy,
            Step::Refresh(_) => Role::Refresh,
        }
    }
}

struct Run<'a> {
    p: &'a Pipeline,
    env_name: String,
    env: &'a EnvSpec,
    plan: &'a EnvPlan,
    vars: Vars,
    tag: String,
    docker: Docker,
    names: Names,
    api: PopulousApi,
    state: StateDir,
    hooks: &'a dyn Hooks,
    steps: Vec<Step<'a>>,
    copy: CopyMethod,
    /// The mask section when the mask role comes right after run: then run
    /// masks a new clone before any service starts.
    early_mask: Option<&'a MaskSpec>,
    /// What the run role masked before any service started (clones only).
    masked_early: std::cell::RefCell<Option<String>>,
    /// Seconds of the data step (clone or dump), for the report.
    data_seconds: std::cell::Cell<Option<f64>>,
    /// What this run's masking did, for the report.
    mask_report: std::cell::RefCell<Option<MaskFigures>>,
    home: PathBuf,
    _lock: crate::state::EnvLock,
    /// The volume's name in the folder, and on the engine.
    volume: String,
    docker_volume: String,
}

/// Time limits for the engine to converge.
const SERVICE_START: Duration = Duration::from_secs(240);
const SERVICE_STOP: Duration = Duration::from_secs(120);

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
        let (env, plan) = p.env_plan(&opts.env)?;
        let vars = Vars {
            version: p.version.clone(),
            build: opts.build.clone(),
            env: opts.env.clone(),
            image: None,
        };
        let roles = opts.roles.clone().unwrap_or_else(|| env.roles.clone());
        let steps = steps(&opts.env, &roles, env, plan)?;
        let early_mask = steps.windows(2).find_map(|w| match w {
            [Step::Run, Step::Mask(m)] => Some(*m),
            _ => None,
        });
        let token = read_token(&opts.env, &plan.token)?;
        let state = StateDir::new(&opts.state_dir, &p.file.name)?;
        let lock = state.lock(&opts.env, opts.wait, &format!("build {tag}"))?;
        let base = format!("{}-{}", p.file.name, opts.env);
        let volume = expand(&env.data.volume, &vars);
        let file_copy = match &plan.data {
            DataSource::CloneOf { copy, .. } => *copy,
            _ => CopyMethod::default(),
        };
        Ok(Run {
            p,
            env_name: opts.env.clone(),
            env,
            plan,
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
            api: PopulousApi::new(&p.file.populous.api, &env.folder, token),
            state,
            hooks,
            steps,
            early_mask,
            masked_early: std::cell::RefCell::new(None),
            data_seconds: std::cell::Cell::new(None),
            mask_report: std::cell::RefCell::new(None),
            home: opts.home.clone(),
            copy: opts.copy.unwrap_or(file_copy),
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
        let standalone = matches!(self.plan.data, DataSource::Own { .. });
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

    fn roles(&self, report: &mut RunReport) -> Result<()> {
        // Check what the roles need before touching anything.
        let roles: Vec<Role> = self.steps.iter().map(Step::role).collect();
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
        for step in self.steps.iter().copied() {
            let role = step.role();
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
            let r = match step {
                Step::Build => self.build(),
                Step::Ship => self.ship(),
                Step::Run => self.run_role(report),
                Step::Mask(spec) => self.mask(spec),
                Step::Smoke => self.smoke(report),
                Step::Destroy => self.destroy(),
                Step::Refresh(golden) => self.refresh(golden),
            };
            let seconds = t.elapsed().as_secs_f64();
            let (outcome, detail) = match r {
                Ok(detail) => {
                    self.say(role, &format!("done in {seconds:.1} s: {detail}"));
                    ("ok", detail)
                }
                Err(e) => {
                    self.say(role, &format!("failed after {seconds:.1} s: {e}"));
                    let detail = e.to_string();
                    failed = Some(e);
                    ("failed", detail)
                }
            };
            report.roles.push(RoleReport {
                role,
                outcome,
                seconds,
                detail,
            });
        }
        report.data_seconds = self.data_seconds.get();
        report.mask = self.mask_report.borrow_mut().take();
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
}

/// The roles of a run as steps, each with what it needs, or why it cannot run here.
fn steps<'a>(
    env_name: &str,
    roles: &[Role],
    env: &'a EnvSpec,
    plan: &'a EnvPlan,
) -> Result<Vec<Step<'a>>> {
    let golden = plan.golden.is_some();
    let refresh_alone = || {
        PipelineError::Usage(format!(
            "environment {env_name}: refresh runs alone, and only in an environment whose roles are [refresh]"
        ))
    };
    if roles.contains(&Role::Refresh) != golden || (golden && roles.len() > 1) {
        return Err(refresh_alone());
    }
    roles
        .iter()
        .map(|r| {
            Ok(match r {
                Role::Build => Step::Build,
                Role::Ship => Step::Ship,
                Role::Run => Step::Run,
                Role::Mask => Step::Mask(env.mask.as_ref().ok_or_else(|| {
                    PipelineError::Usage(format!(
                        "environment {env_name} has no mask section: the mask role cannot run there"
                    ))
                })?),
                Role::Smoke => Step::Smoke,
                Role::Destroy => Step::Destroy,
                Role::Refresh => Step::Refresh(plan.golden.as_ref().ok_or_else(refresh_alone)?),
            })
        })
        .collect()
}
