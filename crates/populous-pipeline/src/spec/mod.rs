//! The pipeline file (`populous.yml`): what to build, where to ship it, and how
//! each environment runs it. Parsing and validation only, no I/O beyond
//! reading the file.
//!
//! ```yaml
//! name: populous                      # prefix of services and networks
//! registry: 127.0.0.1:5000
//! populous:
//!   api: http://127.0.0.1:7171        # the daemon; tokens come per environment
//! app:
//!   version_file: VERSION             # "1.0.1": the build string is 1.0.1-<build number>
//!   images:
//!     app: { repository: populous/app, build: [../../scripts/images.sh, --only, app, --build, "{build}", --tag, "{tag}"] }
//!     db:  { repository: populous/db,  build: [../../scripts/images.sh, --only, db, --tag, "{tag}"] }
//! environments:
//!   dev:
//!     roles: [build, ship, run, mask, smoke, destroy]
//!     driver: populous-dev
//!     folder: dev
//!     token: { env: POPULOUS_DEV_TOKEN }
//!     port: 18081
//!     data: { clone_of: prod/db, volume: "db-{build}" }
//!     mask: { rules: masking.yml, key_file: /etc/populous/mask.key }
//!   stage:
//!     roles: [run, smoke]
//!     requires: dev
//!     data: { import_from: dev, volume: "db-{build}" }
//!     ...
//!   prod:
//!     roles: [run, smoke]
//!     requires: stage
//!     data: { volume: db }
//!     app: { replicas: 2, lb: true }
//!     update: { parallelism: 1, delay: 1s, order: start-first, monitor: 5s }
//!     probe: { interval: 100ms, idle: 5s, max_p99_ratio: 1.2 }
//! ```
//!
//! Every command is an argument vector: nothing is ever given to a shell.
//! Placeholders `{version}`, `{build}`, `{tag}` (= `{version}-{build}`),
//! `{env}` and, in image build commands, `{image}` (repository:tag) are
//! replaced in arguments and volume names.
//!
//! Modules: `file` is the file as written (serde), `plan` each
//! environment's checked, typed plan, `policy` the update, probe and smoke
//! sections, `role` the roles, `vars` the placeholders.

mod file;
mod plan;
mod policy;
mod role;
#[cfg(test)]
mod tests;
mod vars;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use file::{
    AppRun, AppSpec, CopyMethod, DataSpec, DbRun, EnvSpec, ImageSpec, MaskSpec, PipelineFile,
    PopulousSpec, TokenSource, TokenSpec, LOCAL_DRIVER,
};
pub use plan::{DataSource, EnvPlan, Golden, GoldenFrom, VolumeRef};
pub use policy::{ProbeSpec, SmokeSpec, UpdateSpec};
pub use role::Role;
pub use vars::{expand, Vars};

use crate::error::{PipelineError, Result};

/// A loaded, checked pipeline file.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The parsed file.
    pub file: PipelineFile,
    /// Its path.
    pub path: PathBuf,
    /// Its directory: relative paths start here.
    pub dir: PathBuf,
    /// The app's version, from `version_file`.
    pub version: String,
    /// Each environment's checked plan, by name (the same names as
    /// `file.environments`).
    plans: BTreeMap<String, EnvPlan>,
    /// The app image's repository: every environment runs it.
    pub(crate) app_repository: String,
    /// The db image's repository: every environment runs it.
    pub(crate) db_repository: String,
}

/// Names are used in service, network, lock and volume names: keep them plain.
pub fn is_plain_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

impl Pipeline {
    /// Reads and checks a pipeline file.
    pub fn load(path: &Path) -> Result<Pipeline> {
        let text = std::fs::read_to_string(path).map_err(|source| PipelineError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Pipeline::parse(&text, path, &dir)
    }

    /// Parses and checks `text`; `dir` is where relative paths start.
    pub fn parse(text: &str, path: &Path, dir: &Path) -> Result<Pipeline> {
        let bad = |reason: String| PipelineError::Spec {
            path: path.to_path_buf(),
            reason,
        };
        let file: PipelineFile = serde_norway::from_str(text).map_err(|e| bad(e.to_string()))?;
        let version_path = dir.join(&file.app.version_file);
        let version = std::fs::read_to_string(&version_path)
            .map_err(|e| bad(format!("app.version_file {}: {e}", version_path.display())))?
            .trim()
            .to_string();
        if !is_plain_name(&version) {
            return Err(bad(format!(
                "app.version_file {} holds {version:?}, not a version like 1.0.1",
                version_path.display()
            )));
        }
        let (app_repository, db_repository) = check(&file).map_err(&bad)?;
        let mut plans = BTreeMap::new();
        for (name, e) in &file.environments {
            plans.insert(name.clone(), EnvPlan::check(&file, name, e).map_err(&bad)?);
        }
        Ok(Pipeline {
            file,
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            version,
            plans,
            app_repository,
            db_repository,
        })
    }

    /// One environment, or a clear error naming the ones there are.
    pub fn env(&self, name: &str) -> Result<&EnvSpec> {
        self.file.environments.get(name).ok_or_else(|| {
            PipelineError::Usage(format!(
                "no environment {name:?} in {}: it has {}",
                self.path.display(),
                self.file
                    .environments
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    /// The build string: `VERSION-BUILD`.
    pub fn tag(&self, build: &str) -> String {
        format!("{}-{build}", self.version)
    }

    /// One environment with its checked plan, or the error of [`Pipeline::env`].
    pub fn env_plan(&self, name: &str) -> Result<(&EnvSpec, &EnvPlan)> {
        let spec = self.env(name)?;
        match self.plans.get(name) {
            Some(plan) => Ok((spec, plan)),
            // Every environment of the file got a plan in `parse`.
            None => Err(PipelineError::Usage(format!("no environment {name:?}"))),
        }
    }

    /// Every environment with its plan, by name.
    pub fn env_plans(&self) -> impl Iterator<Item = (&str, &EnvSpec, &EnvPlan)> {
        self.file
            .environments
            .iter()
            .filter_map(|(n, e)| self.plans.get(n).map(|p| (n.as_str(), e, p)))
    }

    /// `registry/repository:tag` of an image role.
    pub fn image_ref(&self, role: &str, tag: &str) -> Option<String> {
        self.file
            .app
            .images
            .get(role)
            .map(|i| self.image_at(&i.repository, tag))
    }

    /// `registry/repository:tag`.
    pub fn image_at(&self, repository: &str, tag: &str) -> String {
        format!("{}/{repository}:{tag}", self.file.registry)
    }

    /// The app image of build `tag` in the registry.
    pub fn app_image(&self, tag: &str) -> String {
        self.image_at(&self.app_repository, tag)
    }

    /// The db image of build `tag` in the registry.
    pub fn db_image(&self, tag: &str) -> String {
        self.image_at(&self.db_repository, tag)
    }
}

/// Checks what is not an environment's; the app's and db's repositories.
fn check(f: &PipelineFile) -> std::result::Result<(String, String), String> {
    if !is_plain_name(&f.name) {
        return Err(format!(
            "name {:?}: use letters, digits, '.', '_' or '-'",
            f.name
        ));
    }
    if f.registry.is_empty() || f.registry.contains('/') || !f.registry.contains(':') {
        return Err(format!(
            "registry {:?}: give host:port, e.g. 127.0.0.1:5000",
            f.registry
        ));
    }
    if !f.populous.api.starts_with("http://") {
        return Err(format!(
            "populous.api {:?}: give the daemon's http:// address",
            f.populous.api
        ));
    }
    let repository = |role: &str| match f.app.images.get(role) {
        Some(img) => Ok(img.repository.clone()),
        None => Err(format!("app.images.{role} is missing")),
    };
    let repositories = (repository("app")?, repository("db")?);
    for (k, img) in &f.app.images {
        if img.build.is_empty() == img.context.is_none() {
            return Err(format!(
                "app.images.{k}: give either build (a command) or context (a Docker build context)"
            ));
        }
        if img.repository.is_empty()
            || img.repository.contains(':')
            || img.repository.starts_with('/')
        {
            return Err(format!(
                "app.images.{k}.repository {:?}: a repository without registry or tag, e.g. populous/app",
                img.repository
            ));
        }
    }
    if f.environments.is_empty() {
        return Err("environments: define at least one".into());
    }
    Ok(repositories)
}
