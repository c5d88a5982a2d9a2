//! `populous pipeline run`: parses the request, supplies masking and progress
//! output to the runner in populous-pipeline, and prints its report.

use std::path::Path;

use anyhow::Result;
use populous_engine::{Engine, VolRef};
use populous_pipeline::{Outcome, Pipeline, Role, RunOptions, RunReport};

use crate::cli::PipelineRunArgs;
use crate::output;
use populous_mask::db::MaskOptions;
use populous_ops::mask::{MaskSpec, Masked};

struct CliHooks<'a> {
    home: &'a Path,
}

impl populous_pipeline::Hooks for CliHooks<'_> {
    fn say(&self, env: &str, role: Option<Role>, msg: &str) {
        match role {
            Some(r) => eprintln!("[{env}] {r}: {msg}"),
            None => eprintln!("[{env}] {msg}"),
        }
    }

    fn mask(
        &self,
        volume: &str,
        rules: &Path,
        key_file: &Path,
        threads: usize,
    ) -> Result<String, String> {
        mask_for_pipeline(self.home, volume, rules, key_file, threads, |f| f())
            .map(|m| m.summary())
            .map_err(|e| format!("{e:#}"))
    }
}

/// The pipeline's mask role on this machine's pool: `wrap` runs the masking
/// (the demo suspends its progress display around it).
pub fn mask_for_pipeline(
    home: &Path,
    volume: &str,
    rules: &Path,
    key_file: &Path,
    threads: usize,
    wrap: impl FnOnce(&mut dyn FnMut() -> Result<Masked>) -> Result<Masked>,
) -> Result<Masked> {
    let mut engine = Engine::open(home)?;
    let r: VolRef = volume.parse()?;
    let spec = MaskSpec::load(rules, key_file)?;
    let opts = MaskOptions {
        threads,
        ..MaskOptions::default()
    };
    wrap(&mut || {
        let (bar, feed) = crate::mask::progress_bar();
        let masked = populous_ops::mask::mask(&mut engine, &r, &spec, &opts, feed);
        bar.finish_and_clear();
        Ok(masked?)
    })
}

/// `populous pipeline run -f FILE --env ENV --build-number N`.
pub fn run(home: &Path, a: &PipelineRunArgs, json: bool) -> Result<()> {
    let env = match a.env.as_slice() {
        [one] => one.clone(),
        [] => unreachable!("clap requires --env"),
        many => {
            return Err(populous_pipeline::PipelineError::Usage(format!(
                "name exactly one environment with --env, not {}: run them one after the other (dev, then stage, then prod), as each gates the next",
                many.join(", ")
            ))
            .into())
        }
    };
    let p = Pipeline::load(&a.file)?;
    let opts = RunOptions {
        env,
        build: a.build_number.clone(),
        state_dir: a.state_dir.clone().unwrap_or_else(|| home.join("pipeline")),
        wait: a.wait.map(Into::into).unwrap_or_default(),
        roles: a.roles.clone(),
        copy: a.copy,
    };
    let Outcome { report, error } = populous_pipeline::run(&p, &opts, &CliHooks { home });
    if json {
        output::json(&report)?;
    } else {
        print_table(&report);
    }
    match error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

fn print_table(r: &RunReport) {
    println!(
        "pipeline {} env {} build {} ({}): {} in {:.1} s",
        r.pipeline,
        r.env,
        r.build,
        r.tag,
        if r.ok { "passed" } else { "FAILED" },
        r.seconds
    );
    if r.roles.is_empty() {
        return;
    }
    println!("{:<8} {:<8} {:>9}  detail", "role", "outcome", "seconds");
    for role in &r.roles {
        println!(
            "{:<8} {:<8} {:>9.2}  {}",
            role.role.to_string(),
            role.outcome,
            role.seconds,
            role.detail
        );
    }
    if let Some(u) = &r.update {
        println!(
            "probe: idle {} requests p50 {:.2} ms p99 {:.2} ms; update {} requests p50 {:.2} ms p99 {:.2} ms ({:.2}x), {} failed; versions {}; record {}",
            u.idle_requests,
            u.idle_p50_ms,
            u.idle_p99_ms,
            u.update_requests,
            u.update_p50_ms,
            u.update_p99_ms,
            u.p99_ratio,
            u.failed,
            u.versions
                .iter()
                .map(|(v, n)| format!("{v} x{n}"))
                .collect::<Vec<_>>()
                .join(", "),
            u.probe_file.display()
        );
    }
}
