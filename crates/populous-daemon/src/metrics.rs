//! Prometheus metrics: requests by surface, route and status, their latency,
//! connection events (accepted, evicted, refused, timed out), the usage
//! walker's walks and volumes, and webhook deliveries by hook, event kind and
//! result, with the deliveries pending.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of one request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `api` or the plugin's driver name.
    pub surface: String,
    /// The matched route, e.g. `/v1/folders/{folder}/volumes`.
    pub route: String,
    /// HTTP status code.
    pub status: u16,
}

/// Route labels for latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// `api` or the plugin's driver name.
    pub surface: String,
    /// The matched route.
    pub route: String,
}

/// Labels of a connection event.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionLabels {
    /// `api` or the plugin's driver name.
    pub surface: String,
    /// `accepted`, `evicted` (closed for a newcomer at the cap), `refused`
    /// (at the cap, every connection busy), `header_timeout`, `idle_timeout`.
    pub event: String,
}

/// Labels of the reaper's counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReapLabels {
    /// `destroyed`, `kept_protected`, `kept` or `failed`.
    pub action: String,
}

/// Labels of a webhook delivery attempt.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    /// The webhook's name (never its URL, which may hold a token).
    pub hook: String,
    /// `create`, `reset`, `expire` or `destroy`.
    pub kind: String,
    /// `delivered`, `failed_attempt` (retried later) or `gave_up` (the last attempt failed).
    pub result: String,
}

/// Labels of a source's gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// The source's name.
    pub source: String,
}

/// The daemon's metrics registry.
pub struct Metrics {
    /// Per-source gauges by metric name (see [`crate::sources`]).
    sources: Vec<(&'static str, Family<SourceLabels, Gauge>)>,
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    connections: Family<ConnectionLabels, Counter>,
    /// Expired volumes by what the reaper did ([`crate::reaper`]).
    reaped: Family<ReapLabels, Counter>,
    /// Walks of a volume's tree by the usage walker ([`crate::usage`]).
    pub usage_walks: Counter,
    /// Volumes whose usage the daemon holds.
    pub usage_volumes: Gauge,
    /// Webhook delivery attempts ([`crate::webhooks`]).
    webhook_deliveries: Family<WebhookLabels, Counter>,
    /// Webhook deliveries not yet delivered nor given up.
    pub webhook_pending: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("populous");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register("requests", "Requests served", requests.clone());
        registry.register(
            "request_duration_seconds",
            "Request latency",
            latency.clone(),
        );
        let reaped = Family::<ReapLabels, Counter>::default();
        registry.register(
            "reaped_volumes",
            "Expired volumes the reaper destroyed or kept, by action",
            reaped.clone(),
        );
        let connections = Family::<ConnectionLabels, Counter>::default();
        registry.register(
            "connection_events",
            "Connections accepted, and closed by the daemon's limits",
            connections.clone(),
        );
        let usage_walks = Counter::default();
        registry.register(
            "usage_walks",
            "Walks of a volume's tree to measure its usage (one at a time, in the background)",
            usage_walks.clone(),
        );
        let usage_volumes = Gauge::default();
        registry.register(
            "usage_volumes",
            "Volumes whose usage the daemon holds (measured or asked for)",
            usage_volumes.clone(),
        );
        let webhook_deliveries = Family::<WebhookLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts by hook, event kind and result",
            webhook_deliveries.clone(),
        );
        let webhook_pending = Gauge::default();
        registry.register(
            "webhook_pending_deliveries",
            "Webhook deliveries waiting for their (next) attempt",
            webhook_pending.clone(),
        );
        let mut sources = Vec::new();
        for (name, help) in [
            (
                "source_replicating",
                "1 when both replication threads of the source's replica run",
            ),
            (
                "source_lag_seconds",
                "Seconds_Behind_Master of the source's replica (-1: unknown)",
            ),
            (
                "source_unapplied_transactions",
                "Transactions the replica received and has not applied",
            ),
            (
                "source_last_snapshot_age_seconds",
                "Seconds since the source's newest snapshot",
            ),
        ] {
            let family = Family::<SourceLabels, Gauge>::default();
            registry.register(name, help, family.clone());
            sources.push((name, family));
        }
        Metrics {
            reaped,
            sources,
            registry,
            requests,
            latency,
            connections,
            usage_walks,
            usage_volumes,
            webhook_deliveries,
            webhook_pending,
        }
    }
}

impl Metrics {
    /// Records one request.
    pub fn observe(&self, surface: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                surface: surface.into(),
                route: route.into(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                surface: surface.into(),
                route: route.into(),
            })
            .observe(seconds);
    }

    /// Records a connection event (see [`ConnectionLabels`]).
    pub fn connection(&self, surface: &str, event: &str) {
        self.connections
            .get_or_create(&ConnectionLabels {
                surface: surface.into(),
                event: event.into(),
            })
            .inc();
    }

    /// Counts one expired volume the reaper handled.
    pub fn reaped(&self, action: &str) {
        self.reaped
            .get_or_create(&ReapLabels {
                action: action.into(),
            })
            .inc();
    }

    /// Counts one webhook delivery attempt (see [`WebhookLabels`]).
    pub fn webhook_delivery(&self, hook: &str, kind: &str, result: &str) {
        self.webhook_deliveries
            .get_or_create(&WebhookLabels {
                hook: hook.into(),
                kind: kind.into(),
                result: result.into(),
            })
            .inc();
    }

    /// The gauge `name` of source `source`.
    pub fn source_gauge(&self, name: &str, source: &str) -> Gauge {
        self.sources
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| {
                f.get_or_create(&SourceLabels {
                    source: source.to_owned(),
                })
                .clone()
            })
            .unwrap_or_default()
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if prometheus_client::encoding::text::encode(&mut s, &self.registry).is_err() {
            s.clear();
        }
        s
    }
}

/// Middleware state: which surface this router serves.
#[derive(Clone, Debug)]
pub struct Surface {
    /// The daemon.
    pub daemon: Arc<crate::state::Daemon>,
    /// `api` or a driver name.
    pub name: Arc<str>,
}

/// Axum middleware that records every request.
pub async fn track(State(s): State<Surface>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let start = Instant::now();
    let resp = next.run(req).await;
    s.daemon.metrics.observe(
        &s.name,
        &route,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}
