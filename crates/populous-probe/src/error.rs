//! The error type of the probe library.
//!
//! Every message is lowercase, says what failed and, where the user can do
//! something about it, what to do next.

use std::path::PathBuf;

/// Everything that can go wrong while probing, reading a probe file or
/// drawing a chart.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The URL to probe is unusable.
    #[error("invalid probe url {url:?}: {reason}; give a full http:// url such as http://127.0.0.1:8080/_ping")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A duration such as `5s` could not be parsed.
    #[error("invalid duration {input:?}: {reason}; write it like 500ms, 5s, 10m or 1h30m")]
    InvalidDuration {
        /// The text as given.
        input: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A `--mark NAME@OFFSET` could not be parsed.
    #[error("invalid mark {input:?}: {reason}; write it as NAME@OFFSET, for example clone@30s")]
    InvalidMark {
        /// The text as given.
        input: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The probe configuration is inconsistent.
    #[error("invalid probe configuration: {0}")]
    InvalidConfig(String),
    /// The output or input file has an extension the probe does not know.
    #[error("cannot tell the file format of {path}: name it *.csv or *.jsonl")]
    UnknownFormat {
        /// The offending path.
        path: PathBuf,
    },
    /// The chart file has an extension the probe cannot draw.
    #[error("cannot tell the chart format of {path}: name it *.png or *.svg")]
    UnknownChartFormat {
        /// The offending path.
        path: PathBuf,
    },
    /// The output file could not be created.
    #[error("cannot create output file {path}: {source}; check that the directory exists, is writable and that the file does not exist yet")]
    CreateOutput {
        /// The output path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Writing a record to the output file failed.
    #[error("cannot write to output file {path}: {reason}; check free disk space")]
    WriteOutput {
        /// The output path.
        path: PathBuf,
        /// Why it failed.
        reason: String,
    },
    /// A probe file could not be opened or read.
    #[error("cannot read probe file {path}: {source}")]
    ReadInput {
        /// The input path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A probe file contains a line that is not a probe record.
    #[error("{path} line {line}: {reason}; is this a file written by the populous probe?")]
    ParseInput {
        /// The input path.
        path: PathBuf,
        /// 1-based line number (for CSV, the header is line 1).
        line: u64,
        /// What was wrong.
        reason: String,
    },
    /// The local events endpoint could not be opened.
    #[error("cannot listen for events on {addr}: {reason}; pick a free port or leave the events endpoint out")]
    EventsListen {
        /// The address that was asked for.
        addr: String,
        /// Why binding failed.
        reason: String,
    },
    /// InfluxDB could not be reached or refused a request at start-up.
    #[error("influxdb at {url}: {reason}")]
    Influx {
        /// The InfluxDB base URL.
        url: String,
        /// What failed and what to do.
        reason: String,
    },
    /// Drawing the chart failed.
    #[error("cannot draw chart {path}: {reason}")]
    Chart {
        /// The chart path.
        path: PathBuf,
        /// Why drawing failed.
        reason: String,
    },
    /// Writing the report to its destination failed.
    #[error("cannot write the report: {0}")]
    Report(#[source] std::io::Error),
    /// A probe thread could not be started.
    #[error("cannot start a probe thread: {0}; the system may be out of threads or memory")]
    Thread(#[source] std::io::Error),
    /// The probe thread panicked (a bug).
    #[error("the probe thread panicked; this is a bug in populous-probe, please report it")]
    Panicked,
}

impl ProbeError {
    /// The stable class of this error.
    pub fn kind(&self) -> populous_error::ErrorKind {
        use populous_error::ErrorKind as K;
        match self {
            ProbeError::InvalidUrl { .. }
            | ProbeError::InvalidDuration { .. }
            | ProbeError::InvalidMark { .. }
            | ProbeError::InvalidConfig(_)
            | ProbeError::UnknownFormat { .. }
            | ProbeError::UnknownChartFormat { .. }
            | ProbeError::ParseInput { .. } => K::InvalidInput,
            ProbeError::ReadInput { source, .. }
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                K::NotFound
            }
            ProbeError::CreateOutput { .. } | ProbeError::EventsListen { .. } => K::InvalidInput,
            ProbeError::Influx { .. } => K::Unavailable,
            ProbeError::ReadInput { .. }
            | ProbeError::WriteOutput { .. }
            | ProbeError::Chart { .. }
            | ProbeError::Report(_)
            | ProbeError::Thread(_)
            | ProbeError::Panicked => K::Internal,
        }
    }
}

impl populous_error::HasKind for ProbeError {
    fn kind(&self) -> populous_error::ErrorKind {
        ProbeError::kind(self)
    }
}
