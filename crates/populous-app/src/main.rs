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
    /// Exit 0 if the local server's /healthz answers 200 within the timeout, 1 otherwise.
    ///
    /// For the image's HEALTHCHECK (a FROM-scratch image has no curl): Docker, and
    /// Swarm's health-gated rolling updates, run it inside the container.
    Health(HealthArgs),
}

#[derive(Args, Debug)]
struct HealthArgs {
    /// The address the server listens on; its port is probed on 127.0.0.1.
    #[arg(long, env = "POPULOUS_LISTEN", default_value = "0.0.0.0:8080")]
    listen: String,
    /// Time limit for the whole check, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
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
        Cmd::Health(a) => health(&a),
    }
}

/// One `GET /healthz` over a plain TCP connection: no HTTP client in the image.
fn health(a: &HealthArgs) -> Result<()> {
    use std::io::{Read, Write};
    let port = a
        .listen
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .with_context(|| format!("no port in the listen address {:?}", a.listen))?;
    let timeout = Duration::from_millis(a.timeout_ms.max(1));
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .with_context(|| format!("sending GET /healthz to {addr}"))?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head)
        .with_context(|| format!("reading the answer of {addr}"))?;
    let status = String::from_utf8_lossy(&head[9..12]).into_owned();
    if status != "200" {
        bail!("GET http://{addr}/healthz answered {status}");
    }
    Ok(())
}

async fn serve_cmd(a: ServeArgs) -> Result<()> {
    let version = version_string(&a.version_file, &a.build)?;
    let mut config = ServeConfig::new(a.db_url, version);
    config.db_timeout = Duration::from_secs(a.db_timeout.max(1));
    config.blob_size = blob_size(&a.blob_size)?;
    bind_and_serve(&a.listen, config, shutdown_signal()).await?;
    Ok(())
}
