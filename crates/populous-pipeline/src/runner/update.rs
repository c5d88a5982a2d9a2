//! prod's rolling update of the app image, watched by the probe: an idle
//! baseline, then `docker service update` under the file's policy, and the
//! figures that decide whether the update held its latency.

use std::path::PathBuf;

use super::services::as_strs;
use super::{Run, UpdateFigures};
use crate::error::Result;
use crate::spec::Role;

impl Run<'_> {
    /// prod: a rolling update of the app image, watched by the probe.
    pub(super) fn rolling_update(&self) -> Result<(String, Option<UpdateFigures>)> {
        let n = &self.names;
        let image = self.p.app_image(&self.tag);
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
