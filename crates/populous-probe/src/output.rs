//! Probe files: writing records as CSV or JSON lines while probing, and
//! reading them back for reports.
//!
//! The format follows the file name: `*.csv` is CSV with a header row,
//! `*.jsonl` (or `*.ndjson`) is one JSON object per line. Both hold the same
//! records, in the order they completed (a slow request is written when it
//! finishes, so sort by `offset_ms` or `seq` for schedule order; the report
//! does this).
//!
//! CSV columns: `kind,time,offset_ms,seq,status,http_code,latency_ms,
//! response_time_ms,served_by,version,error,name,source`. `kind` is `sample`
//! or `event`; sample rows leave `name`/`source` empty, event rows leave the
//! sample columns empty. JSON lines carry the same fields, with a `kind`
//! field and without the empty ones. `time` is RFC 3339 UTC with
//! microseconds, `offset_ms` is milliseconds since the run started, `status`
//! is the HTTP code or `timeout`/`connect`/`invalid-json`/`transport`/`skipped`.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::record::{duration_ms_micros, ms_to_duration, Event, Record, Sample};
use crate::ProbeError;

/// The two file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl FileFormat {
    /// Picks the format from the file extension (`csv`, `jsonl`, `ndjson`).
    pub fn from_path(path: &Path) -> Result<Self, ProbeError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => Ok(FileFormat::Csv),
            Some("jsonl") | Some("ndjson") => Ok(FileFormat::JsonLines),
            _ => Err(ProbeError::UnknownFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// The flat shape shared by both formats.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Row {
    kind: String,
    time: String,
    offset_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latency_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response_time_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    served_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
}

const CSV_HEADER: [&str; 13] = [
    "kind",
    "time",
    "offset_ms",
    "seq",
    "status",
    "http_code",
    "latency_ms",
    "response_time_ms",
    "served_by",
    "version",
    "error",
    "name",
    "source",
];

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

impl Row {
    fn from_record(record: &Record) -> Row {
        match record {
            Record::Sample(s) => Row {
                kind: "sample".into(),
                time: format_time(s.time),
                offset_ms: duration_ms_micros(s.offset),
                seq: Some(s.seq),
                status: Some(s.status.label()),
                http_code: s.http_code,
                latency_ms: Some(duration_ms_micros(s.latency)),
                response_time_ms: s.response_time_ms,
                served_by: s.served_by.clone(),
                version: s.version.clone(),
                error: s.error.clone(),
                name: None,
                source: None,
            },
            Record::Event(e) => Row {
                kind: "event".into(),
                time: format_time(e.time),
                offset_ms: duration_ms_micros(e.offset),
                name: Some(e.name.clone()),
                source: Some(e.source.to_string()),
                ..Row::default()
            },
        }
    }

    /// CSV fields in header order; `csv` cannot skip columns, so every
    /// optional value becomes an empty field.
    fn csv_fields(&self) -> [String; 13] {
        [
            self.kind.clone(),
            self.time.clone(),
            self.offset_ms.to_string(),
            opt(&self.seq),
            opt(&self.status),
            opt(&self.http_code),
            opt(&self.latency_ms),
            opt(&self.response_time_ms),
            opt(&self.served_by),
            opt(&self.version),
            opt(&self.error),
            opt(&self.name),
            opt(&self.source),
        ]
    }

    fn into_record(self) -> Result<Record, String> {
        let time = parse_time(&self.time)?;
        let offset =
            ms_to_duration(self.offset_ms).ok_or_else(|| "offset_ms is negative".to_string())?;
        match self.kind.as_str() {
            "sample" => {
                let status = self
                    .status
                    .as_deref()
                    .ok_or("a sample without status")?
                    .parse()?;
                let latency = self
                    .latency_ms
                    .and_then(ms_to_duration)
                    .ok_or("a sample without a valid latency_ms")?;
                Ok(Record::Sample(Sample {
                    seq: self.seq.ok_or("a sample without seq")?,
                    time,
                    offset,
                    status,
                    http_code: self.http_code,
                    latency,
                    response_time_ms: self.response_time_ms,
                    served_by: self.served_by,
                    version: self.version,
                    error: self.error,
                }))
            }
            "event" => Ok(Record::Event(Event {
                time,
                offset,
                name: self.name.ok_or("an event without name")?,
                source: self.source.as_deref().unwrap_or("mark").parse()?,
            })),
            other => Err(format!("unknown record kind {other:?}")),
        }
    }
}

fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

fn parse_time(s: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339_weak(s).map_err(|e| format!("bad time {s:?}: {e}"))
}

enum Sink {
    Csv(Box<csv::Writer<File>>),
    Json(BufWriter<File>),
}

/// Writes records to a probe file, flushing after each one so that a
/// killed probe loses nothing already measured.
pub struct RecordWriter {
    path: PathBuf,
    sink: Sink,
}

impl std::fmt::Debug for RecordWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RecordWriter {
    /// Creates `path` (which must not exist yet) in the format its extension
    /// names.
    pub fn create(path: &Path) -> Result<Self, ProbeError> {
        Self::open(path, false)
    }

    /// Like [`RecordWriter::create`] but replaces an existing file.
    pub fn create_or_truncate(path: &Path) -> Result<Self, ProbeError> {
        Self::open(path, true)
    }

    fn open(path: &Path, truncate: bool) -> Result<Self, ProbeError> {
        let format = FileFormat::from_path(path)?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true);
        if truncate {
            opts.create(true).truncate(true);
        } else {
            opts.create_new(true);
        }
        let file = opts.open(path).map_err(|source| ProbeError::CreateOutput {
            path: path.to_path_buf(),
            source,
        })?;
        let mut writer = RecordWriter {
            path: path.to_path_buf(),
            sink: match format {
                FileFormat::Csv => Sink::Csv(Box::new(csv::Writer::from_writer(file))),
                FileFormat::JsonLines => Sink::Json(BufWriter::new(file)),
            },
        };
        if let Sink::Csv(w) = &mut writer.sink {
            let res = w.write_record(CSV_HEADER).and_then(|()| Ok(w.flush()?));
            res.map_err(|e| writer.write_error(e.to_string()))?;
        }
        Ok(writer)
    }

    fn write_error(&self, reason: String) -> ProbeError {
        ProbeError::WriteOutput {
            path: self.path.clone(),
            reason,
        }
    }

    /// Appends one record and flushes it to the file.
    pub fn write(&mut self, record: &Record) -> Result<(), ProbeError> {
        let row = Row::from_record(record);
        let res = match &mut self.sink {
            Sink::Csv(w) => w
                .write_record(row.csv_fields())
                .map_err(|e| e.to_string())
                .and_then(|()| w.flush().map_err(|e| e.to_string())),
            Sink::Json(w) => serde_json::to_writer(&mut *w, &row)
                .map_err(|e| e.to_string())
                .and_then(|()| w.write_all(b"\n").map_err(|e| e.to_string()))
                .and_then(|()| w.flush().map_err(|e| e.to_string())),
        };
        res.map_err(|reason| self.write_error(reason))
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Writes a whole list of records to a new file (replacing an old one):
/// handy for tests and for converting between CSV and JSON lines.
pub fn write_records(path: &Path, records: &[Record]) -> Result<(), ProbeError> {
    let mut w = RecordWriter::create_or_truncate(path)?;
    for r in records {
        w.write(r)?;
    }
    Ok(())
}

/// Reads a probe file (CSV or JSON lines, by extension) and returns its
/// records sorted by offset (events before samples at the same offset).
pub fn read_records(path: &Path) -> Result<Vec<Record>, ProbeError> {
    let format = FileFormat::from_path(path)?;
    let read_err = |source| ProbeError::ReadInput {
        path: path.to_path_buf(),
        source,
    };
    let parse_err = |line: u64, reason: String| ProbeError::ParseInput {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let file = File::open(path).map_err(read_err)?;
    let mut records = Vec::new();
    match format {
        FileFormat::Csv => {
            let mut rdr = csv::ReaderBuilder::new()
                .has_headers(true)
                .from_reader(BufReader::new(file));
            for (i, row) in rdr.deserialize::<Row>().enumerate() {
                let line = i as u64 + 2;
                let row = row.map_err(|e| parse_err(line, e.to_string()))?;
                records.push(row.into_record().map_err(|e| parse_err(line, e))?);
            }
        }
        FileFormat::JsonLines => {
            for (i, line) in BufReader::new(file).lines().enumerate() {
                let n = i as u64 + 1;
                let line = line.map_err(read_err)?;
                if line.trim().is_empty() {
                    continue;
                }
                let row: Row =
                    serde_json::from_str(&line).map_err(|e| parse_err(n, e.to_string()))?;
                records.push(row.into_record().map_err(|e| parse_err(n, e))?);
            }
        }
    }
    sort_records(&mut records);
    Ok(records)
}

/// Sorts records by offset; at equal offsets events come first (an event
/// opens the phase the simultaneous sample belongs to), then by `seq`.
pub fn sort_records(records: &mut [Record]) {
    records.sort_by(|a, b| {
        let key = |r: &Record| match r {
            Record::Event(_) => (r.offset(), 0u8, 0u64),
            Record::Sample(s) => (r.offset(), 1u8, s.seq),
        };
        key(a).cmp(&key(b))
    });
}
