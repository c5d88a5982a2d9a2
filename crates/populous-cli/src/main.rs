//! `populous`: the command-line adapter over the volume engine.
//!
//! Parsing lives in [`cli`], each subcommand's few lines in [`commands`],
//! printing in [`output`], and the one mapping from engine errors to exit
//! codes in [`exit_code`].

mod bench;
mod bench_clones;
mod bench_daemon;
mod bench_db;
mod bench_db_io;
mod bench_mask;
mod bench_mask_rate;
mod bench_source;
mod cli;
mod clones;
mod commands;
mod db;
mod demo;
mod hints;
mod mask;
mod output;
mod pipeline;
mod source;

use clap::{CommandFactory, FromArgMatches};
use populous_error::{ErrorKind, HasKind};

/// Exit codes, one per error kind; documented in `docs/cli.md`.
fn exit_code(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::Internal | ErrorKind::Failed => 1,
        ErrorKind::InvalidInput => 3,
        ErrorKind::NotFound => 4,
        ErrorKind::AlreadyExists => 5,
        ErrorKind::WrongState => 6,
        ErrorKind::HasDependents => 7,
        ErrorKind::PolicyDenied => 8,
        ErrorKind::NoSpace => 9,
        ErrorKind::Unavailable => 10,
        ErrorKind::Unsupported => 11,
        ErrorKind::MissingTool => 12,
        ErrorKind::Busy => 13,
        ErrorKind::Forbidden => 14,
    }
}

/// The kind of the first error in the chain that knows its kind: every
/// library error does ([`HasKind`]); anything else (clap, I/O in the CLI
/// itself) is internal.
fn kind_of(err: &anyhow::Error) -> ErrorKind {
    fn known<E: HasKind + std::error::Error + 'static>(
        e: &(dyn std::error::Error + 'static),
    ) -> Option<ErrorKind> {
        e.downcast_ref::<E>().map(HasKind::kind)
    }
    err.chain()
        .find_map(|e| {
            known::<populous_ops::Error>(e)
                .or_else(|| known::<populous_engine::Error>(e))
                .or_else(|| known::<populous_db::DbError>(e))
                .or_else(|| known::<populous_pipeline::PipelineError>(e))
                .or_else(|| known::<populous_app::AppError>(e))
                .or_else(|| known::<populous_probe::ProbeError>(e))
                .or_else(|| known::<populous_source::SourceError>(e))
        })
        .unwrap_or(ErrorKind::Internal)
}

fn init_logging(verbose: u8, json: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.without_time().with_target(false).init();
    }
}

fn main() {
    let matches = cli::Cli::command().get_matches();
    let mut cli = cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    cli.home_given = matches.value_source("home") != Some(clap::parser::ValueSource::DefaultValue);
    init_logging(cli.verbose, cli.log_json);
    let json = cli.json;
    if let Err(err) = commands::run(cli) {
        let kind = kind_of(&err);
        // Context and causes, each once: library messages often already include their cause.
        let mut message = err.to_string();
        for cause in err.chain().skip(1) {
            let c = cause.to_string();
            if !message.contains(&c) {
                message.push_str(": ");
                message.push_str(&c);
            }
        }
        message.extend(hints::for_chain(&err));
        if json {
            let v = serde_json::json!({"error": {"kind": kind.as_str(), "message": message}});
            eprintln!("{v}");
        } else {
            eprintln!("error: {message}");
        }
        std::process::exit(exit_code(kind));
    }
}
