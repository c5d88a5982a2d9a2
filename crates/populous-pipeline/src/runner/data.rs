//! The run role's data volume, as the environment's plan says: a fresh
//! clone (dev) or a dump copy (the baseline), an import of another
//! environment's volume (stage), or a volume of its own, seeded when new
//! (prod); and refresh, which replaces a golden copy with a new masked clone.

use std::time::{Duration, Instant};

use super::{Run, RunReport, SERVICE_START};
use crate::error::Result;
use crate::http::{http, wait_ok};
use crate::registry::registry_has;
use crate::spec::{CopyMethod, DataSource, EnvPlan, Golden, GoldenFrom, Role, VolumeRef};

/// A dump | restore that moves no byte for this long has stalled (e.g. a full pool).
const DUMP_STALL: Duration = Duration::from_secs(120);

impl Run<'_> {
    /// The run role: the data volume as the plan says, and the services on it.
    pub(super) fn run_role(&self, report: &mut RunReport) -> Result<String> {
        // Before anything is created: the images this build runs.
        let mut repos = vec![&self.p.db_repository, &self.p.app_repository];
        repos.extend(&self.plan.lb_repository);
        for repo in repos {
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
        let detail = match &self.plan.data {
            DataSource::CloneOf { source, .. } => self.run_clone(source)?,
            DataSource::ImportFrom(from) => self.run_import(from)?,
            DataSource::Own { .. } if self.docker.service_exists(&self.names.app)? => {
                let (detail, figures) = self.rolling_update()?;
                report.update = figures;
                detail
            }
            DataSource::Own { seed } => self.first_deploy(seed.as_ref())?,
        };
        let (env, tag) = (self.env_name.clone(), self.tag.clone());
        self.state.update(|s| s.env_mut(&env).running = Some(tag))?;
        Ok(detail)
    }

    /// dev: a fresh clone of `src` (`importVolAsClone`), then db and app.
    fn run_clone(&self, src: &VolumeRef) -> Result<String> {
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
        if let Some(spec) = self.early_mask {
            let t = Instant::now();
            let summary = self.mask_volume(spec)?;
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
    fn run_dump(&self, src: &VolumeRef) -> Result<String> {
        let (src_db, src) = self.dump_source(src)?;
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
    /// Returns the service and what it serves, in words.
    fn dump_source(&self, wanted: &VolumeRef) -> Result<(String, String)> {
        let mut src = wanted.clone();
        let told = |what: String| {
            if what == wanted.to_string() {
                what
            } else {
                format!("{what} (the source of {wanted}, which runs no server)")
            }
        };
        // Bounded: golden copies could name each other in a circle.
        for _ in 0..self.p.file.environments.len() {
            let found = self.p.env_plans().find(|(_, e, _)| e.folder == src.folder);
            match found {
                Some((
                    _,
                    _,
                    EnvPlan {
                        golden: Some(g), ..
                    },
                )) => match &g.source {
                    GoldenFrom::Volume(v) => src = v.clone(),
                    // Production outside the pool: the source's server is the
                    // db service of the environment of the same name, if any.
                    GoldenFrom::Source(name) => match self.p.file.environments.get(name) {
                        Some(e) if !e.is_golden() => {
                            return Ok((
                                format!("{}-{name}-db", self.p.file.name),
                                told(format!("environment {name}'s server (source {name})")),
                            ))
                        }
                        _ => break,
                    },
                },
                Some((name, _, _)) => {
                    return Ok((
                        format!("{}-{name}-db", self.p.file.name),
                        told(src.to_string()),
                    ))
                }
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
            if self.api.volume(&prev)?.is_some() {
                self.api.destroy(&prev)?;
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
    fn first_deploy(&self, seed: Option<&(String, u64)>) -> Result<String> {
        let exists = if self.env.on_pool() {
            self.api.volume(&self.volume)?.is_some()
        } else {
            self.docker
                .volume_exists(&self.env.driver, &self.docker_volume)?
        };
        if !exists {
            self.say(Role::Run, &format!("new volume {}", self.docker_volume));
            self.create_volume(&[])?;
        }
        self.start_services()?;
        let mut detail = if self.env.on_pool() {
            format!(
                "first deployment on {} volume {}/{}",
                if exists { "existing" } else { "new" },
                self.env.folder,
                self.volume
            )
        } else {
            format!(
                "first deployment on {} Docker volume {} (driver {}: outside any pool)",
                if exists { "existing" } else { "new" },
                self.docker_volume,
                self.env.driver
            )
        };
        if let (false, Some((size, bytes))) = (exists, seed) {
            // Tasks are healthy; the lb finds them by DNS a moment later.
            let url = format!("http://127.0.0.1:{}/healthz", self.env.port);
            wait_ok(&url, SERVICE_START).map_err(|e| self.fail(Role::Run, e))?;
            let rows = self.seed(*bytes)?;
            detail.push_str(&format!("; seeded {rows} rows ({size})"));
        }
        Ok(detail)
    }

    /// Removes this run's volume if a previous run left it (a re-run of the same build).
    fn drop_volume(&self, why: &str) -> Result<()> {
        if self
            .docker
            .volume_exists(&self.env.driver, &self.docker_volume)?
        {
            self.docker.run(&["volume", "rm", &self.docker_volume])?;
        }
        if self.env.on_pool() && self.api.volume(&self.volume)?.is_some() {
            self.say(
                Role::Run,
                &format!("destroy {}/{} ({why})", self.env.folder, self.volume),
            );
            self.api.destroy(&self.volume)?;
        }
        Ok(())
    }

    /// Fills a new database through the app's `/populate`, until about `bytes`.
    fn seed(&self, bytes: u64) -> Result<u64> {
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
            self.hooks
                .progress(&self.env_name, Role::Run, done, rows, "rows");
        }
        Ok(rows)
    }

    // ---------------------------------------------------------------- refresh
    /// A golden copy: a new masked clone of `data.clone_of` is made beside the
    /// current one, then takes its name in one step (`rename --replace`). dev
    /// clones the golden copy at any moment and always gets a whole, masked
    /// volume; the masking pass is paid here, once per refresh, not per build.
    pub(super) fn refresh(&self, golden: &Golden) -> Result<String> {
        let src = match &golden.source {
            GoldenFrom::Volume(v) => v.to_string(),
            GoldenFrom::Source(name) => {
                let base = self.api.newest_clean_base(name)?;
                self.say(
                    Role::Refresh,
                    &format!("source {name}'s newest clean base is {base}"),
                );
                base
            }
        };
        let folder = &self.env.folder;
        let next = format!("{}-next", self.volume);
        if self.api.volume(&next)?.is_some() {
            self.say(
                Role::Refresh,
                &format!("destroy {folder}/{next}, left by an interrupted refresh"),
            );
            self.api.destroy(&next)?;
        }
        self.say(Role::Refresh, &format!("clone {src} to {folder}/{next}"));
        let t = Instant::now();
        let made = self.api.clone_volume(&src, &next)?;
        let clone_ms = t.elapsed().as_secs_f64() * 1000.0;
        self.data_seconds.set(Some(clone_ms / 1000.0));
        let origin = made["origin"].as_str().unwrap_or(&src).to_owned();
        let t = Instant::now();
        let masked = match self.mask_named(Role::Refresh, &golden.mask, &next) {
            Ok(m) => m,
            Err(e) => {
                // An unmasked copy is not left lying in the golden folder.
                if let Err(d) = self.api.destroy(&next) {
                    self.say(
                        Role::Refresh,
                        &format!("could not destroy {folder}/{next}: {d}"),
                    );
                }
                return Err(e);
            }
        };
        let mask_s = t.elapsed().as_secs_f64();
        let swapped = self.api.rename(&next, &self.volume, true)?;
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
}
