//! `populous pipeline run`: parses the request, shows the runner's progress
//! (lines and a bar) and prints its report.

use std::path::Path;

use anyhow::Result;
use populous_pipeline::{Outcome, Pipeline, Role, RunOptions, RunReport};

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::PipelineRunArgs;
use crate::output;

/// Progress lines on stderr, and a bar for long steps (masking).
#[derive(Default)]
struct CliHooks {
    bar: std::cell::RefCell<Option<ProgressBar>>,
}

impl populous_pipeline::Hooks for CliHooks {
    fn say(&self, env: &str, role: Option<Role>, msg: &str) {
        if let Some(bar) = self.bar.borrow_mut().take() {
            bar.finish_and_clear();
        }
        match role {
            Some(r) => eprintln!("[{env}] {r}: {msg}"),
            None => eprintln!("[{env}] {msg}"),
        }
    }

    fn progress(&self, env: &str, role: Role, done: u64, total: u64, unit: &str) {
        let mut bar = self.bar.borrow_mut();
        let bar = bar.get_or_insert_with(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template(&format!(
                    "[{env}] {role}: {{wide_bar}} {{pos}}/{{len}} {unit}"
                ))
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b
        });
        bar.set_length(total);
        bar.set_position(done);
    }
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
        home: home.to_owned(),
    };
    let hooks = CliHooks::default();
    let Outcome { report, error } = populous_pipeline::run(&p, &opts, &hooks);
    if let Some(bar) = hooks.bar.borrow_mut().take() {
        bar.finish_and_clear();
    }
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
