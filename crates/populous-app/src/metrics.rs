//! Prometheus text-format metrics, kept by hand (a few counters and histograms).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, &b) in BUCKETS.iter().enumerate() {
            if secs <= b {
                self.counts[i] += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, &b) in BUCKETS.iter().enumerate() {
            let c = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {c}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    ping_row: Histogram,
    db_up: Option<bool>,
}

/// The app's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one request.
    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        let mut m = self.lock();
        *m.requests
            .entry((route.to_string(), method.to_string(), status))
            .or_default() += 1;
        m.latency
            .entry(route.to_string())
            .or_default()
            .observe(took.as_secs_f64());
    }

    /// Records the row-fetch time of one `/_ping`.
    pub fn ping_row(&self, took: Duration) {
        self.lock().ping_row.observe(took.as_secs_f64());
    }

    /// Records whether the last database operation reached the server.
    pub fn db_up(&self, up: bool) {
        self.lock().db_up = Some(up);
    }

    /// Requests counted for `route` with `status` (all methods).
    pub fn count(&self, route: &str, status: u16) -> u64 {
        self.lock()
            .requests
            .iter()
            .filter(|((r, _, s), _)| r == route && *s == status)
            .map(|(_, n)| n)
            .sum()
    }

    /// The metrics in Prometheus text format 0.0.4.
    pub fn render(&self, version: &str, served_by: &str) -> String {
        let m = self.lock();
        let mut out = String::new();
        out.push_str("# HELP populous_build_info Version and host of this app instance.\n");
        out.push_str("# TYPE populous_build_info gauge\n");
        let _ = writeln!(
            out,
            "populous_build_info{{version=\"{}\",served_by=\"{}\"}} 1",
            escape_label(version),
            escape_label(served_by)
        );
        out.push_str(
            "# HELP populous_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE populous_http_requests_total counter\n");
        for ((route, method, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "populous_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                escape_label(route),
                escape_label(method)
            );
        }
        out.push_str(
            "# HELP populous_http_request_duration_seconds HTTP request latency by route.\n",
        );
        out.push_str("# TYPE populous_http_request_duration_seconds histogram\n");
        for (route, h) in &m.latency {
            h.render(
                &mut out,
                "populous_http_request_duration_seconds",
                &format!("route=\"{}\"", escape_label(route)),
            );
        }
        out.push_str(
            "# HELP populous_ping_row_fetch_seconds Time /_ping took to fetch its random row.\n",
        );
        out.push_str("# TYPE populous_ping_row_fetch_seconds histogram\n");
        m.ping_row
            .render(&mut out, "populous_ping_row_fetch_seconds", "");
        out.push_str(
            "# HELP populous_db_up Whether the last database operation reached the server.\n",
        );
        out.push_str("# TYPE populous_db_up gauge\n");
        let up = match m.db_up {
            Some(true) => 1,
            _ => 0,
        };
        let _ = writeln!(out, "populous_db_up {up}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.request("/_ping", "GET", 200, Duration::from_millis(3));
        m.request("/_ping", "GET", 200, Duration::from_millis(30));
        m.request("/rows/{id}", "GET", 404, Duration::from_millis(1));
        m.ping_row(Duration::from_millis(2));
        m.db_up(true);
        let text = m.render("1.0.1-28", "host");
        assert!(text.contains(
            "populous_http_requests_total{route=\"/_ping\",method=\"GET\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "populous_http_request_duration_seconds_bucket{route=\"/_ping\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "populous_http_request_duration_seconds_bucket{route=\"/_ping\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains("populous_ping_row_fetch_seconds_count 1"));
        assert!(text.contains("populous_db_up 1"));
        assert_eq!(m.count("/rows/{id}", 404), 1);
    }
}
