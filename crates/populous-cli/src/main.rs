//! `populous`: the command-line adapter over the volume engine.
//!
//! Parsing lives in [`cli`], each subcommand's few lines in [`commands`],
//! printing in [`output`], and the one mapping from engine errors to exit
//! codes in [`exit_code`].

mod bench;
mod cli;
mod commands;
mod db;
mod demo;
mod hints;
mod mask;
mod output;
mod pipeline;

use clap::{CommandFactory, FromArgMatches};
use populous_engine::ErrorKind;

/// Exit codes, one per error kind; documented in `docs/cli.md`.
fn exit_code(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::Internal => 1,
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
        ErrorKind::Failed => 1,
    }
}

/// Exit codes of `populous pipeline`: the same numbers for the same meaning,
/// plus 13 for an environment another run holds.
fn pipeline_exit(kind: populous_pipeline::ErrorKind) -> (String, i32) {
    use populous_pipeline::ErrorKind as P;
    let (name, code) = match kind {
        P::Invalid => ("invalid_input", 3),
        P::Refused => ("policy_denied", 8),
        P::Unavailable => ("unavailable", 10),
        P::Busy => ("busy", 13),
        P::Failed => ("failed", 1),
    };
    (name.to_string(), code)
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
        let kind = err
            .chain()
            .find_map(|e| {
                e.downcast_ref::<populous_engine::Error>()
                    .map(|e| e.kind())
                    .or_else(|| {
                        use populous_db::{volume::VolumeDbError, DbError};
                        let db = match e.downcast_ref::<VolumeDbError>() {
                            Some(VolumeDbError::Engine(e)) => return Some(e.kind()),
                            Some(VolumeDbError::Db(d)) => Some(d),
                            None => e.downcast_ref::<DbError>(),
                        };
                        if e.downcast_ref::<populous_mask::MaskError>().is_some() {
                            // Rules, keys and inputs: the user's to fix.
                            return Some(ErrorKind::InvalidInput);
                        }
                        if let Some(m) = e.downcast_ref::<populous_mask::db::MaskDbError>() {
                            use populous_mask::db::MaskDbError as M;
                            return Some(match m {
                                M::MissingTable { .. }
                                | M::MissingColumn { .. }
                                | M::PrimaryKey { .. }
                                | M::BadUrl { .. }
                                | M::Options(_) => ErrorKind::InvalidInput,
                                // The database holds an earlier run's state
                                // that this request contradicts.
                                M::KeyMismatch { .. }
                                | M::ChunkLayout { .. }
                                | M::IndexRestore { .. } => ErrorKind::WrongState,
                                _ => ErrorKind::Internal,
                            });
                        }
                        match db {
                            Some(DbError::NotInstalled { .. }) => Some(ErrorKind::MissingTool),
                            Some(DbError::NotADatadir { .. }) => Some(ErrorKind::WrongState),
                            Some(_) => Some(ErrorKind::Internal),
                            None => None,
                        }
                    })
            })
            .unwrap_or(ErrorKind::Internal);
        let (kind_name, code) = match err.downcast_ref::<pipeline::PipelineFailed>() {
            Some(p) => pipeline_exit(p.0.kind()),
            None => (
                serde_json::to_value(kind)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                exit_code(kind),
            ),
        };
        // Context and causes, each once: library messages often already include their cause.
        let mut message = err.to_string();
        for cause in err.chain().skip(1) {
            let c = cause.to_string();
            if !message.contains(&c) {
                message.push_str(": ");
                message.push_str(&c);
            }
        }
        let engine_error = err
            .chain()
            .find_map(|e| e.downcast_ref::<populous_engine::Error>());
        message.extend(engine_error.and_then(hints::hint));
        if json {
            let v = serde_json::json!({"error": {"kind": kind_name, "message": message}});
            eprintln!("{v}");
        } else {
            eprintln!("error: {message}");
        }
        std::process::exit(code);
    }
}
