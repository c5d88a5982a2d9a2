//! The roles around the data: build and ship the images, mask the
//! environment's volume, smoke-test the app, destroy the environment.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{Run, RunReport, SERVICE_START, SERVICE_STOP};
use crate::error::{PipelineError, Result};
use crate::http::smoke;
use crate::spec::{expand, MaskSpec, Role, Vars};

impl Run<'_> {
    // ------------------------------------------------------------------ build
    pub(super) fn build(&self) -> Result<String> {
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
    pub(super) fn ship(&self) -> Result<String> {
        let mut pushed = Vec::new();
        for img in self.p.file.app.images.values() {
            let local = format!("{}:{}", img.repository, self.tag);
            let remote = self.p.image_at(&img.repository, &self.tag);
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

    // ------------------------------------------------------------------- mask
    pub(super) fn mask(&self, spec: &MaskSpec) -> Result<String> {
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
        let masked = self.mask_volume(spec);
        if running {
            self.say(Role::Mask, &format!("scale {db} to 1"));
            self.docker.scale(db, 1)?;
            self.docker.wait_running(db, 1, SERVICE_START)?;
        }
        // The service is back either way; a failed masking fails the role.
        masked
    }

    // ------------------------------------------------------------------ smoke
    pub(super) fn smoke(&self, report: &RunReport) -> Result<String> {
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
    pub(super) fn destroy(&self) -> Result<String> {
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
        if !self.env.on_pool() {
            detail.push_str(&format!(
                "; Docker volume {} (outside any pool) removed",
                self.docker_volume
            ));
            let env = self.env_name.clone();
            self.state.update(|s| s.env_mut(&env).running = None)?;
            return Ok(detail);
        }
        match self.api.volume(&self.volume)? {
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

    /// Masks the environment's volume (no server may run on it).
    pub(super) fn mask_volume(&self, spec: &MaskSpec) -> Result<String> {
        let summary = self.mask_named(Role::Mask, spec, &self.volume)?;
        Ok(format!("{}/{}: {summary}", self.env.folder, self.volume))
    }

    /// Masks `FOLDER/name` in this environment's folder, through the one
    /// implementation in populous-ops; returns its summary. Progress goes to
    /// the hooks from this thread while the masking runs on another.
    pub(super) fn mask_named(&self, role: Role, spec: &MaskSpec, name: &str) -> Result<String> {
        let vol = format!("{}/{name}", self.env.folder);
        let rules = self.p.dir.join(&spec.rules);
        self.say(role, &format!("mask {vol} with {}", rules.display()));
        let fail = |e: &dyn std::fmt::Display| self.fail(role, format!("masking {vol}: {e}"));
        let r: populous_engine::VolRef = vol.parse().map_err(|e| fail(&e))?;
        let mask =
            populous_ops::mask::MaskSpec::load(&rules, &spec.key_file).map_err(|e| fail(&e))?;
        let mut engine = populous_engine::Engine::open(&self.home).map_err(|e| fail(&e))?;
        let opts = populous_ops::mask::MaskRequest {
            options: populous_mask::db::MaskOptions {
                threads: spec.threads.max(1),
                ..populous_mask::db::MaskOptions::default()
            },
            ..populous_ops::mask::MaskRequest::default()
        };
        let (tx, rx) = std::sync::mpsc::channel::<(u64, u64)>();
        let masked = std::thread::scope(|s| {
            let worker = s.spawn(move || {
                populous_ops::mask::mask(&mut engine, &r, &mask, &opts, move |p| {
                    let _ = tx.send((p.chunks_done + p.chunks_skipped, p.chunks_todo));
                })
            });
            for (done, total) in rx {
                self.hooks
                    .progress(&self.env_name, role, done, total, "chunks");
            }
            worker.join()
        });
        let masked = masked
            .map_err(|_| fail(&"the masking thread panicked"))?
            .map_err(|e| fail(&e))?;
        if let populous_ops::mask::Masked::Done(run) = &masked {
            *self.mask_report.borrow_mut() = Some(super::MaskFigures {
                report: run.report.clone(),
                scrub: run.scrub.clone(),
                scan: run.scan.clone(),
            });
        }
        Ok(masked.summary())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_programs_start_in_the_file_s_directory() {
        assert_eq!(
            resolve_program(Path::new("/ex"), "../s.sh"),
            PathBuf::from("/ex/../s.sh")
        );
        assert_eq!(
            resolve_program(Path::new("/ex"), "make"),
            PathBuf::from("make")
        );
    }
}
