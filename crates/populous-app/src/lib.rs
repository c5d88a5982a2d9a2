//! The seed's "Populous" skeleton application, in Rust.
//!
//! - [`server`]: the REST service over one MariaDB table `main` — `GET /_ping`
//!   (one random row; `{"version","served_by","response_time_ms"}`),
//!   `POST /populate?rows=N`, `GET /imprint`, `GET /rows/{id}`,
//!   `GET /rows?guid=…`, `GET /healthz`, `GET /metrics`.
//! - [`mod@generate`]: deterministic, parallel filling of `main`
//!   (`LOAD DATA LOCAL INFILE` or multi-row `INSERT`), with resume.
//! - [`mod@bench`]: the generator's throughput against the server-side
//!   `INSERT … SELECT FROM seq_0_to_N` ceiling, in one run.
//! - [`rows`]: the row generator itself; [`schema`]: the seed's table.
//!
//! The database driver is `mysql_async` (see `populous-db` for why).
//!
//! # Load methods
//!
//! Multi-row prepared `INSERT … VALUES (…),(…)` with binary parameters is
//! the default (`--method insert`); `LOAD DATA LOCAL INFILE` fed from memory
//! is kept behind `--method load-data`. Measured with `bench-generate` on the
//! shared 2-core test VM, MariaDB 10.11 (128M buffer pool), 64 KiB blobs,
//! 2 connections, medians of 3–5 rounds in the same run:
//!
//! | method | rows/phase | generator | `INSERT … SELECT` ceiling | ratio |
//! |---|---|---|---|---|
//! | insert | 16000 (≈1 GB) | 4541 rows/s, 298 MB/s | 6546 rows/s, 430 MB/s | 0.70 |
//! | insert | 4000 | 4394 rows/s, 289 MB/s | 6447 rows/s, 423 MB/s | 0.68 |
//! | load-data | 4000 | 1302 rows/s, 86 MB/s | 6799 rows/s, 446 MB/s | 0.18 |
//!
//! With 1 connection insert reached 0.56, with 4 connections 0.70. When the
//! VM was busy with other work, single rounds ranged 0.4–1.2.
//!
//! Why: `LOAD DATA` reads the escaped blob text byte by byte (loading the
//! same 4000 rows as one 262 MB file with the `mariadb` client took 6 s,
//! against 0.7 s for the ceiling), while binary parameters are copied as
//! they are. The generator also sets `SET NAMES binary` on its connections:
//! a perf profile of `mariadbd` showed that with the default utf8mb4 the
//! server scanned each blob parameter for its character repertoire
//! (`my_string_metadata_get`, a fifth of its CPU); without it the insert
//! path was ≈ 20% slower. Rerun
//! `populous-app bench-generate` (several rounds, medians) on other
//! hardware; on a shared 2-core VM the client and the server compete for
//! the same cores, which the server-only ceiling does not pay for.

pub mod bench;
mod error;
pub mod generate;
pub mod metrics;
pub mod rows;
pub mod schema;
pub mod server;

pub use bench::{bench_generate, BenchOptions, BenchReport};
pub use error::{AppError, Result};
pub use generate::{
    generate, generate_blocking, Amount, GenerateOptions, GenerateReport, LoadMethod, Progress,
};
pub use rows::{Row, RowGenerator, DEFAULT_BLOB_SIZE};
pub use schema::{parse_size, table_checksum, DbTarget, TableChecksum, FIRST_ID};
pub use server::{bind_and_serve, serve, shutdown_signal, version_string, ServeConfig};
