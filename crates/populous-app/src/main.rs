//! `populous-app`: the seed's app as a small binary of its own, for the app image.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use populous_app::{bind_and_serve, parse_size, shutdown_signal, version_string, ServeConfig};

#[derive(Parser, Debug)]
#[command(
    name = "populous-app",
    version,
    about = "The Populous skeleton app: REST service, data generator, generation bench"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Serve the REST API (/_ping, /populate, /imprint, /rows, /healthz, /metrics).
    ///
    /// Data generation and its benchmark are `populous generate` and `populous bench generate`.
    Serve(ServeArgs),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Database URL; the path names the database (default `populous`).
    #[arg(long, env = "POPULOUS_DB_URL")]
    db_url: String,
    /// Address to listen on.
    #[arg(long, env = "POPULOUS_LISTEN", default_value = "0.0.0.0:8080")]
    listen: String,
    /// File holding the version (e.g. `1.0.1`).
    #[arg(long, env = "POPULOUS_VERSION_FILE", default_value = "VERSION")]
    version_file: PathBuf,
    /// Build number, appended to the version as `-BUILD`.
    #[arg(long, env = "POPULOUS_BUILD", default_value = "0")]
    build: String,
    /// Time limit for one database operation, in seconds.
    #[arg(long, default_value_t = 5)]
    db_timeout: u64,
    /// Size of the /imprint blob and of /populate blobs (e.g. 64K).
    #[arg(long, default_value = "64K")]
    blob_size: String,
}

fn blob_size(s: &str) -> Result<usize> {
    let n = parse_size(s)?;
    if n > 1 << 30 {
        bail!("blob size {s} is over 1 GiB: the imprint column is a longblob, but rows that large make no sense here");
    }
    Ok(n as usize)
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The library's messages already carry their causes.
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    match cli.cmd {
        Cmd::Serve(a) => rt.block_on(serve_cmd(a)),
    }
}

async fn serve_cmd(a: ServeArgs) -> Result<()> {
    let version = version_string(&a.version_file, &a.build)?;
    let mut config = ServeConfig::new(a.db_url, version);
    config.db_timeout = Duration::from_secs(a.db_timeout.max(1));
    config.blob_size = blob_size(&a.blob_size)?;
    bind_and_serve(&a.listen, config, shutdown_signal()).await?;
    Ok(())
}
