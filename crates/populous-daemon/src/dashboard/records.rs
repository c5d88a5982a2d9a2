//! Pipelines and prod latency, read from the pipeline's state directory
//! (`<home>/pipeline`, where `populous pipeline run` and `populous demo`
//! keep it): `NAME.state.json` (per environment: the builds that passed,
//! the one running, the data volume) and `NAME-ENV-BUILD.probe.jsonl`, the
//! probe's record of a rolling update.
//!
//! An environment is shown to a token that may read the folder of the same
//! name (the pipeline's environments and the pool's folders share names);
//! an admin token sees every environment. A data volume is named only when
//! its folder is readable too.

use std::fmt::Write as _;
use std::path::{Path as FsPath, PathBuf};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use populous_pipeline::state::PipelineState;
use populous_probe::Record;
use serde::Deserialize;

use super::html::{esc, seg, table, time};
use super::svg::{line_chart, Band, Series};
use super::{message_page, Signed, U};
use crate::extract::Q;

/// One pipeline's record.
#[derive(Debug)]
struct PipelineFile {
    name: String,
    state: PipelineState,
    modified: Option<i64>,
}

/// One probe record of a pipeline run.
#[derive(Debug, Clone)]
pub(crate) struct ProbeFile {
    pub(crate) file: String,
    pub(crate) path: PathBuf,
    pub(crate) pipeline: String,
    pub(crate) env: String,
    pub(crate) build: String,
    pub(crate) modified: Option<i64>,
}

fn unix(t: SystemTime) -> Option<i64> {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs() as i64)
}

/// The pipelines and probe records in `dir` (a missing directory has none).
fn scan(dir: &FsPath) -> (Vec<PipelineFile>, Vec<ProbeFile>, Vec<String>) {
    let mut pipelines = Vec::new();
    let mut problems = Vec::new();
    let mut names: Vec<(String, PathBuf, Option<i64>)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            let modified = e
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(unix);
            names.push((file, e.path(), modified));
        }
    }
    names.sort();
    for (file, path, modified) in &names {
        let Some(name) = file.strip_suffix(".state.json") else {
            continue;
        };
        match std::fs::read(path).map(|b| serde_json::from_slice::<PipelineState>(&b)) {
            Ok(Ok(state)) => pipelines.push(PipelineFile {
                name: name.to_owned(),
                state,
                modified: *modified,
            }),
            Ok(Err(e)) => problems.push(format!("{file}: {e}")),
            Err(e) => problems.push(format!("{file}: {e}")),
        }
    }
    let mut probes = Vec::new();
    for (file, path, modified) in &names {
        let Some(stem) = file.strip_suffix(".probe.jsonl") else {
            continue;
        };
        // The longest NAME-ENV- prefix wins (env `prod` against `prod-eu`).
        let best = pipelines
            .iter()
            .flat_map(|p| {
                p.state
                    .environments
                    .keys()
                    .map(move |env| (p.name.as_str(), env.as_str()))
            })
            .filter_map(|(p, env)| {
                let build = stem.strip_prefix(&format!("{p}-{env}-"))?;
                Some((p, env, build))
            })
            .max_by_key(|(p, env, _)| p.len() + env.len());
        if let Some((p, env, build)) = best {
            probes.push(ProbeFile {
                file: file.clone(),
                path: path.clone(),
                pipeline: p.to_owned(),
                env: env.to_owned(),
                build: build.to_owned(),
                modified: *modified,
            });
        }
    }
    (pipelines, probes, problems)
}

fn sees_env(s: &Signed, env: &str) -> bool {
    s.caller.0.admin || s.caller.sees(env)
}

async fn scan_home(s: &Signed) -> (Vec<PipelineFile>, Vec<ProbeFile>, Vec<String>) {
    let dir = s.daemon().home().join("pipeline");
    tokio::task::spawn_blocking(move || scan(&dir))
        .await
        .unwrap_or_default()
}

/// The pipelines page: per pipeline and environment, the build running,
/// the builds that passed (newest first), the data volume, probe records.
pub(super) async fn pipelines(State(_): U, s: Signed) -> Response {
    let (pipelines, probes, problems) = scan_home(&s).await;
    let mut body = String::new();
    if pipelines.is_empty() {
        body.push_str(
            "<p class=\"muted\">No pipeline has run on this home yet \
             (<code>populous pipeline run</code> keeps its record in the home's <code>pipeline</code> directory).</p>",
        );
    }
    for p in &pipelines {
        let rows: Vec<Vec<String>> = p
            .state
            .environments
            .iter()
            .filter(|(env, _)| sees_env(&s, env))
            .map(|(env, r)| {
                let passed: Vec<String> = r.passed.iter().rev().take(5).map(|b| esc(b)).collect();
                let volume = match &r.volume {
                    Some(v) if sees_env(&s, v.split('/').next().unwrap_or_default()) => esc(v),
                    Some(_) => populous_engine::HIDDEN.into(),
                    None => "-".into(),
                };
                let runs: Vec<String> = probes
                    .iter()
                    .filter(|x| x.pipeline == p.name && &x.env == env)
                    .map(|x| {
                        format!(
                            "<a href=\"/ui/latency?record={}\">build {}</a> ({})",
                            seg(&x.file),
                            esc(&x.build),
                            time(x.modified)
                        )
                    })
                    .collect();
                vec![
                    esc(env),
                    esc(r.running.as_deref().unwrap_or("-")),
                    if passed.is_empty() {
                        "-".into()
                    } else {
                        passed.join(", ")
                    },
                    volume,
                    if runs.is_empty() {
                        "-".into()
                    } else {
                        runs.join("<br>")
                    },
                ]
            })
            .collect();
        let _ = write!(
            body,
            "<h2>Pipeline {}</h2><p class=\"muted\">record updated {}</p>{}",
            esc(&p.name),
            time(p.modified),
            table(
                &[
                    "environment",
                    "build running",
                    "passed (newest first)",
                    "data volume",
                    "probe records"
                ],
                &rows
            )
        );
    }
    for m in &problems {
        let _ = write!(body, "<p class=\"bad\">{}</p>", esc(m));
    }
    s.page("Pipelines", &body)
}

#[derive(Debug, Deserialize)]
pub(super) struct LatencyQuery {
    record: Option<String>,
}

/// The chart's data: p50 and p99 per time bucket (x in seconds), and the
/// phases as bands.
pub(crate) fn latency_series(records: &[Record]) -> (Vec<Series>, Vec<Band>) {
    let samples: Vec<(f64, f64)> = records
        .iter()
        .filter_map(|r| match r {
            Record::Sample(s) => Some((s.offset_ms(), s.latency_ms())),
            Record::Event(_) => None,
        })
        .collect();
    let end_ms = samples.iter().map(|s| s.0).fold(0.0f64, f64::max);
    let bucket = (end_ms / 100.0).max(250.0);
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    let mut i = 0;
    let mut sorted = samples.clone();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    while i < sorted.len() {
        let k = (sorted[i].0 / bucket).floor();
        let mut vals = Vec::new();
        while i < sorted.len() && (sorted[i].0 / bucket).floor() == k {
            vals.push(sorted[i].1);
            i += 1;
        }
        if let Some(p) = populous_probe::stats::Percentiles::from_values(&vals) {
            let x = (k + 0.5) * bucket / 1000.0;
            p50.push((x, p.p50));
            p99.push((x, p.p99));
        }
    }
    let bands = populous_probe::stats::phase_stats(records)
        .iter()
        .map(|ph| Band {
            label: ph.name.clone(),
            start: ph.start_ms / 1000.0,
            end: ph.end_ms.unwrap_or(end_ms) / 1000.0,
        })
        .collect();
    (
        vec![
            Series {
                name: "p50".into(),
                colour: "#1f77b4",
                points: p50,
            },
            Series {
                name: "p99".into(),
                colour: "#d62728",
                points: p99,
            },
        ],
        bands,
    )
}

/// Prod latency: the probe's p50 and p99 over time, phases shaded, from
/// the newest probe record the token may see (or `?record=`). While the
/// record is being written, the page reloads itself every 5 s.
pub(super) async fn latency(State(_): U, s: Signed, Q(q): Q<LatencyQuery>) -> Response {
    let (_, probes, _) = scan_home(&s).await;
    let mut visible: Vec<ProbeFile> = probes
        .into_iter()
        .filter(|p| sees_env(&s, &p.env))
        .collect();
    visible.sort_by_key(|p| std::cmp::Reverse(p.modified));
    let chosen = match &q.record {
        Some(r) => match visible.iter().find(|p| &p.file == r) {
            Some(p) => Some(p.clone()),
            None => {
                return message_page(
                    &s,
                    StatusCode::NOT_FOUND,
                    "Not found",
                    "No such probe record, or this token cannot see its environment.",
                )
            }
        },
        None => visible.first().cloned(),
    };
    let Some(p) = chosen else {
        return s.page(
            "Prod latency",
            "<p class=\"muted\">No probe record this token may see: a pipeline's rolling update \
             with a <code>probe</code> writes one into the home's <code>pipeline</code> directory.</p>",
        );
    };
    let path = p.path.clone();
    let records = tokio::task::spawn_blocking(move || populous_probe::read_records(&path)).await;
    let records = match records {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return message_page(
                &s,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                &e.to_string(),
            )
        }
        Err(e) => {
            return message_page(
                &s,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                &e.to_string(),
            )
        }
    };
    let (series, bands) = latency_series(&records);
    let title = format!("{} {} build {}", p.pipeline, p.env, p.build);
    let mut body = format!(
        "<p>{} (recorded until {})</p>{}",
        esc(&title),
        time(p.modified),
        line_chart(
            &format!("response time of {title}"),
            "seconds since the probe started",
            "latency (ms)",
            &series,
            &bands
        )
    );
    let rows: Vec<Vec<String>> = populous_probe::stats::phase_stats(&records)
        .iter()
        .map(|ph| {
            let pct = |f: fn(&populous_probe::stats::Percentiles) -> f64| {
                ph.latency_ms
                    .as_ref()
                    .map_or("-".into(), |x| format!("{:.2}", f(x)))
            };
            vec![
                esc(&ph.name),
                format!("{:.1}", ph.start_ms / 1000.0),
                ph.count.to_string(),
                if ph.errors == 0 {
                    "0".into()
                } else {
                    format!("<span class=\"bad\">{}</span>", ph.errors)
                },
                pct(|x| x.p50),
                pct(|x| x.p99),
                pct(|x| x.max),
            ]
        })
        .collect();
    body.push_str(&table(
        &[
            "phase", "from (s)", "requests", "failed", "p50 ms", "p99 ms", "max ms",
        ],
        &rows,
    ));
    if visible.len() > 1 {
        body.push_str("<h2>Other records</h2><ul>");
        for o in &visible {
            let _ = write!(
                body,
                "<li><a href=\"/ui/latency?record={}\">{} {} build {}</a> ({})</li>",
                seg(&o.file),
                esc(&o.pipeline),
                esc(&o.env),
                esc(&o.build),
                time(o.modified)
            );
        }
        body.push_str("</ul>");
    }
    let mut r = s.page("Prod latency", &body);
    let live = p
        .modified
        .is_some_and(|m| populous_engine::now() - m < Duration::from_secs(30).as_secs() as i64);
    if live {
        r.headers_mut()
            .insert("refresh", HeaderValue::from_static("5"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use populous_probe::{Event, EventSource, Sample, Status};

    fn sample(seq: u64, ms: u64, lat: u64) -> Record {
        Record::Sample(Sample {
            seq,
            time: SystemTime::UNIX_EPOCH + Duration::from_millis(ms),
            offset: Duration::from_millis(ms),
            status: Status::Http(200),
            http_code: Some(200),
            latency: Duration::from_millis(lat),
            response_time_ms: None,
            served_by: None,
            version: None,
            error: None,
        })
    }

    #[test]
    fn series_and_phases_from_a_record() {
        let mut recs: Vec<Record> = (0..40).map(|i| sample(i, i * 100, 1 + i % 3)).collect();
        recs.push(Record::Event(Event {
            time: SystemTime::UNIX_EPOCH + Duration::from_millis(2000),
            offset: Duration::from_millis(2000),
            name: "update".into(),
            source: EventSource::Api,
        }));
        let (series, bands) = latency_series(&recs);
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].points.len(), 16, "{:?}", series[0].points);
        assert!(series[1]
            .points
            .iter()
            .zip(&series[0].points)
            .all(|(a, b)| a.1 >= b.1));
        let names: Vec<&str> = bands.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(names, ["start", "update"]);
        assert_eq!(bands[1].start, 2.0);
        assert_eq!(bands[1].end, 3.9);
    }

    #[test]
    fn scan_finds_pipelines_and_their_probe_records() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("populous.state.json"),
            r#"{"environments":{"prod":{"passed":["1","2"]},"prod-eu":{}}}"#,
        )
        .unwrap();
        std::fs::write(d.path().join("populous-prod-2.probe.jsonl"), "").unwrap();
        std::fs::write(d.path().join("populous-prod-eu-7.probe.jsonl"), "").unwrap();
        std::fs::write(d.path().join("other-x-1.probe.jsonl"), "").unwrap();
        std::fs::write(d.path().join("bad.state.json"), "{").unwrap();
        let (p, probes, problems) = scan(d.path());
        assert_eq!(p.len(), 1);
        let got: Vec<(&str, &str)> = probes
            .iter()
            .map(|x| (x.env.as_str(), x.build.as_str()))
            .collect();
        assert_eq!(got, [("prod", "2"), ("prod-eu", "7")]);
        assert_eq!(problems.len(), 1);
        assert!(scan(&d.path().join("missing")).0.is_empty());
    }
}
