//! Webhooks: volume events (create, reset, expire, destroy) POSTed as JSON,
//! signed with HMAC-SHA256, retried with backoff, every attempt recorded.
//!
//! Two halves that meet only in the store:
//! - emission ([`Outbox`]): a successful write that is an event (see
//!   [`crate::state::Daemon::write_event`]) appends it, with one pending
//!   delivery per webhook that wants its kind, in the same blocking task that
//!   writes the audit log: one SQLite insert, so a receiver, however slow or
//!   down, never delays a request. Then it wakes the deliverer.
//! - delivery ([`run`]): one background task sends due deliveries (each
//!   attempt its own task, a few at once, under a timeout), records each
//!   attempt's result, and sleeps until the next one is due or it is woken.
//!
//! Because the queue is the store, a `kill -9` loses nothing: the next daemon
//! sends what is pending. An attempt cut short by a crash or shutdown is
//! made again, so delivery is at least once; the event's id is stable for
//! receivers to deduplicate. Events are not ordered across retries.
//!
//! Secrets are read from files at start and kept only in [`Secret`], whose
//! `Debug` prints `***`; neither they nor the URL (which may hold a token in
//! its query) reach logs, metrics or the store, where a hook is its name.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::http::{header, Method, Request, Uri};
use hmac::{Hmac, Mac};
use hyper_util::rt::TokioIo;
use populous_engine::{Attempt, Delivery, Engine, EventKind, NewEvent};
use sha2::Sha256;
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::config::WebhookConfig;
use crate::state::Daemon;

/// The first retry's delay; each further one doubles it.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest delay between two attempts.
pub const MAX_RETRY: Duration = Duration::from_secs(300);
/// Connecting may take at most this (or the hook's timeout, if shorter).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts in flight at once: a few hanging receivers cannot hold every
/// connection, and nothing else waits on them.
const MAX_IN_FLIGHT: usize = 16;
/// Pending deliveries looked at per pass (those in flight come first).
const BATCH: usize = 256;
/// Finished events are kept this long (for `deliveries`), then pruned.
const KEEP: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often old events are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// After the store failed, wait this long before asking it again.
const STORE_RETRY: Duration = Duration::from_secs(5);

/// A webhook's key. `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Where a webhook's requests go, from its `http://` URL. `Debug` hides the
/// query, which may hold a token.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port`, to connect to and for the `Host` header.
    pub authority: String,
    /// Path and query of the request line.
    pub path: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = match self.path.split_once('?') {
            Some((p, _)) => format!("{p}?***"),
            None => self.path.clone(),
        };
        f.debug_struct("Target")
            .field("authority", &self.authority)
            .field("path", &path)
            .finish()
    }
}

impl Target {
    /// Parses `http://host[:port][/path][?query]`. Errors never repeat the
    /// URL: it may hold a token.
    pub fn parse(url: &str) -> Result<Target, String> {
        let uri: Uri = url.parse().map_err(|e| format!("url is not a URL ({e})"))?;
        if uri.scheme_str() != Some("http") {
            return Err("url must start with http:// (https is not supported)".into());
        }
        let Some(auth) = uri.authority() else {
            return Err("url has no host".into());
        };
        if auth.as_str().contains('@') {
            return Err(
                "url must not hold a user or password: requests are signed with secret_file".into(),
            );
        }
        if auth.host().is_empty() {
            return Err("url has no host".into());
        }
        let port = auth.port_u16().unwrap_or(80);
        Ok(Target {
            authority: format!("{}:{port}", auth.host()),
            path: uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        })
    }
}

/// A configured webhook, its secret read.
#[derive(Debug)]
pub struct Hook {
    /// Its name.
    pub name: String,
    /// Where it listens.
    pub target: Target,
    /// The signing key.
    pub secret: Secret,
    /// The kinds it receives.
    pub events: Vec<EventKind>,
    /// Time for one attempt.
    pub timeout: Duration,
    /// Attempts before giving up.
    pub max_attempts: u32,
}

/// Reads each webhook's secret; the error names the hook and the file, never the secret.
pub fn load(config: &[WebhookConfig]) -> Result<Vec<Hook>, String> {
    config
        .iter()
        .map(|c| {
            let text = std::fs::read_to_string(&c.secret_file).map_err(|e| {
                format!(
                    "webhook {}: cannot read secret_file {}: {e}",
                    c.name,
                    c.secret_file.display()
                )
            })?;
            // A file written by `echo` ends in a newline that is not part of the key.
            let secret = text.trim();
            if secret.is_empty() {
                return Err(format!(
                    "webhook {}: secret_file {} is empty",
                    c.name,
                    c.secret_file.display()
                ));
            }
            Ok(Hook {
                name: c.name.clone(),
                target: Target::parse(&c.url).map_err(|e| format!("webhook {}: {e}", c.name))?,
                secret: Secret(secret.as_bytes().to_vec()),
                events: c.events.clone(),
                timeout: c.timeout,
                max_attempts: c.max_attempts,
            })
        })
        .collect()
}

/// `sha256=<hex>`: HMAC-SHA256 of `body` under `secret`, as sent in `X-Populous-Signature`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// The delay before the attempt after `failed` failed ones: 1 s, 2 s, 4 s …, at most [`MAX_RETRY`].
pub fn backoff(failed: u32) -> Duration {
    let doublings = failed.saturating_sub(1).min(16);
    (FIRST_RETRY * 2u32.pow(doublings)).min(MAX_RETRY)
}

/// An event a successful write is, to be recorded by [`Outbox::record`].
#[derive(Debug, Clone)]
pub struct Emit {
    /// What happened.
    pub kind: EventKind,
    /// `folder/name`.
    pub volume: String,
    /// Particulars (a JSON object).
    pub detail: serde_json::Value,
}

impl Emit {
    /// An event of `kind` on `volume`, with no particulars.
    pub fn new(kind: EventKind, volume: impl std::fmt::Display) -> Emit {
        Emit {
            kind,
            volume: volume.to_string(),
            detail: serde_json::json!({}),
        }
    }

    /// With particulars.
    pub fn detail(mut self, detail: serde_json::Value) -> Emit {
        self.detail = detail;
        self
    }
}

/// The emitting half: who wants which kind, and the deliverer's bell.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Each hook's name and the kinds it wants.
    subscriptions: RwLock<Vec<(String, Vec<EventKind>)>>,
    /// Rung after an append; holds one permit, so a ring while the
    /// deliverer is busy is not lost.
    wake: Notify,
}

impl Outbox {
    /// Sets who receives what (at start, from the configured hooks).
    pub fn subscribe(&self, hooks: &[Hook]) {
        let subs = hooks
            .iter()
            .map(|h| (h.name.clone(), h.events.clone()))
            .collect();
        *self
            .subscriptions
            .write()
            .unwrap_or_else(|p| p.into_inner()) = subs;
    }

    /// Appends `emit` for every hook that wants its kind (nothing when none
    /// does) and wakes the deliverer. A failure is logged, never returned:
    /// the write it describes has happened.
    pub fn record(&self, engine: &Engine, actor: &str, emit: Emit) {
        let hooks: Vec<String> = self
            .subscriptions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, kinds)| kinds.contains(&emit.kind))
            .map(|(n, _)| n.clone())
            .collect();
        if hooks.is_empty() {
            return;
        }
        let names: Vec<&str> = hooks.iter().map(String::as_str).collect();
        let new = NewEvent {
            kind: emit.kind,
            volume: emit.volume,
            actor: actor.to_owned(),
            detail: emit.detail,
        };
        match engine.event_append(&new, &names) {
            Ok(e) => {
                tracing::debug!(event = %e.id, kind = %e.kind, volume = %e.volume, "webhook event recorded");
                self.wake.notify_one();
            }
            Err(e) => {
                tracing::error!(error = %e, kind = %new.kind, volume = %new.volume, "could not record a webhook event")
            }
        }
    }
}

/// The deliverer's own store connection: its reads and writes never queue
/// behind a clone holding the daemon's writer.
#[derive(Clone)]
struct Store(Arc<Mutex<Engine>>);

impl Store {
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> populous_engine::Result<T> + Send + 'static,
    ) -> Result<T, String> {
        let me = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            let e = me.lock().unwrap_or_else(|p| p.into_inner());
            f(&e).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

/// Sends pending deliveries until `stop` turns true. Returns at once when no
/// webhook is configured (nothing is then recorded either).
pub async fn run(daemon: Arc<Daemon>, hooks: Vec<Hook>, mut stop: watch::Receiver<bool>) {
    if hooks.is_empty() {
        return;
    }
    let hooks: HashMap<String, Arc<Hook>> = hooks
        .into_iter()
        .map(|h| (h.name.clone(), Arc::new(h)))
        .collect();
    let home = daemon.home().to_owned();
    let store = match tokio::task::spawn_blocking(move || Engine::open(&home)).await {
        Ok(Ok(e)) => Store(Arc::new(Mutex::new(e))),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "webhooks: cannot open the store; no deliveries");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "webhooks: cannot open the store; no deliveries");
            return;
        }
    };
    let mut flying: JoinSet<(Delivery, Result<(), String>)> = JoinSet::new();
    // Deliveries in flight, by task: not started twice, and freed even if a task panics.
    let mut busy: HashMap<tokio::task::Id, (String, String)> = HashMap::new();
    let mut pruned: Option<Instant> = None;
    loop {
        if pruned.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            pruned = Some(Instant::now());
            let before = populous_engine::now() - KEEP.as_secs() as i64;
            if let Err(e) = store.call(move |e| e.events_prune(before)).await {
                tracing::warn!(error = %e, "webhooks: cannot prune old events");
            }
        }
        let now = populous_engine::events::now_ms();
        let pending = store
            .call(|e| Ok((e.deliveries_pending(BATCH)?, e.deliveries_pending_count()?)))
            .await;
        let mut next: Option<i64> = None;
        match pending {
            Ok((pending, count)) => {
                daemon
                    .metrics
                    .webhook_pending
                    .set(i64::try_from(count).unwrap_or(i64::MAX));
                let flying_keys: HashSet<&(String, String)> = busy.values().collect();
                let mut start = Vec::new();
                for d in pending {
                    let key = (d.event.id.clone(), d.hook.clone());
                    // A hook no longer configured keeps its deliveries pending, unsent.
                    let Some(hook) = hooks.get(&d.hook) else {
                        continue;
                    };
                    if flying_keys.contains(&key) {
                        continue;
                    }
                    if d.next_attempt_ms > now {
                        next = Some(next.map_or(d.next_attempt_ms, |n| n.min(d.next_attempt_ms)));
                    } else if busy.len() + start.len() < MAX_IN_FLIGHT {
                        start.push((key, Arc::clone(hook), d));
                    }
                    // Else: due but at the cap; a finishing attempt wakes us.
                }
                for (key, hook, d) in start {
                    let task = flying.spawn(async move {
                        let r = send(&hook, &d).await;
                        (d, r)
                    });
                    busy.insert(task.id(), key);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "webhooks: cannot list pending deliveries");
                next = Some(now + STORE_RETRY.as_millis() as i64);
            }
        }
        let sleep = next.map(|n| Duration::from_millis(u64::try_from(n - now).unwrap_or(0)));
        tokio::select! {
            _ = stop.changed() => return,
            _ = daemon.webhooks.wake.notified() => {}
            Some(done) = flying.join_next_with_id(), if !flying.is_empty() => {
                match done {
                    Ok((id, (d, r))) => {
                        busy.remove(&id);
                        finish(&daemon, &store, &hooks, d, r).await;
                    }
                    Err(e) => {
                        busy.remove(&e.id());
                        tracing::error!(error = %e, "webhooks: a delivery attempt failed unexpectedly");
                    }
                }
            }
            _ = async {
                match sleep {
                    Some(s) => tokio::time::sleep(s).await,
                    None => std::future::pending().await,
                }
            } => {}
        }
    }
}

/// Records an attempt's result, counts it and logs a failure.
async fn finish(
    daemon: &Daemon,
    store: &Store,
    hooks: &HashMap<String, Arc<Hook>>,
    d: Delivery,
    result: Result<(), String>,
) {
    let attempts = d.attempts.saturating_add(1);
    let max = hooks.get(&d.hook).map_or(1, |h| h.max_attempts);
    let (attempt, label) = match result {
        Ok(()) => (Attempt::Delivered, "delivered"),
        Err(error) if attempts >= max => (Attempt::GiveUp { error }, "gave_up"),
        Err(error) => {
            let delay = backoff(attempts).as_millis() as i64;
            let next_attempt_ms = populous_engine::events::now_ms() + delay;
            (
                Attempt::Retry {
                    error,
                    next_attempt_ms,
                },
                "failed_attempt",
            )
        }
    };
    match &attempt {
        Attempt::Delivered => {
            tracing::info!(hook = %d.hook, event = %d.event.id, kind = %d.event.kind, attempts, "webhook delivered")
        }
        Attempt::Retry { error, .. } => {
            tracing::warn!(hook = %d.hook, event = %d.event.id, kind = %d.event.kind, attempts, error = %error, retry_in = ?backoff(attempts), "webhook attempt failed")
        }
        Attempt::GiveUp { error } => {
            tracing::error!(hook = %d.hook, event = %d.event.id, kind = %d.event.kind, attempts, error = %error, "webhook delivery given up")
        }
    }
    let (id, hook) = (d.event.id.clone(), d.hook.clone());
    if let Err(e) = store
        .call(move |e| e.delivery_record(&id, &hook, &attempt))
        .await
    {
        // The delivery stays pending as it was: it is sent again (at least once).
        tracing::error!(hook = %d.hook, event = %d.event.id, error = %e, "webhooks: cannot record an attempt");
    }
    // Counted once recorded: a scrape never shows a delivery the store does not.
    daemon
        .metrics
        .webhook_delivery(&d.hook, d.event.kind.as_str(), label);
}

/// One attempt: POST the event to the hook, under its timeout. Ok on 2xx.
async fn send(hook: &Hook, d: &Delivery) -> Result<(), String> {
    let body = serde_json::to_string(&d.event).map_err(|e| format!("encoding the event: {e}"))?;
    let request = Request::builder()
        .method(Method::POST)
        .uri(hook.target.path.as_str())
        .header(header::HOST, hook.target.authority.as_str())
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::USER_AGENT,
            concat!("populous/", env!("CARGO_PKG_VERSION")),
        )
        // One request per connection: nothing to keep alive between rare events.
        .header(header::CONNECTION, "close")
        .header("X-Populous-Event", d.event.kind.as_str())
        .header("X-Populous-Delivery", d.event.id.as_str())
        .header("X-Populous-Attempt", (d.attempts + 1).to_string())
        .header(
            "X-Populous-Signature",
            signature(&hook.secret.0, body.as_bytes()),
        )
        .body(body)
        .map_err(|e| format!("building the request: {e}"))?;
    match tokio::time::timeout(hook.timeout, exchange(hook, request)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no answer within {}",
            humantime::format_duration(hook.timeout)
        )),
    }
}

async fn exchange(hook: &Hook, request: Request<String>) -> Result<(), String> {
    let connect = TcpStream::connect(hook.target.authority.as_str());
    let stream = tokio::time::timeout(CONNECT_TIMEOUT.min(hook.timeout), connect)
        .await
        .map_err(|_| "connecting timed out".to_owned())?
        .map_err(|e| format!("connecting: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let mut conn = std::pin::pin!(conn);
    let mut send = std::pin::pin!(sender.send_request(request));
    // The connection must be driven while the request waits for its answer.
    let answer = tokio::select! {
        biased;
        r = &mut send => r,
        // The connection ended: the answer, or why there is none, is ready.
        _ = &mut conn => send.await,
    }
    .map_err(|e| format!("HTTP: {e}"))?;
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", status.as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_from_urls() {
        assert_eq!(
            Target::parse("http://127.0.0.1:9000/hook?x=1").expect("url"),
            Target {
                authority: "127.0.0.1:9000".into(),
                path: "/hook?x=1".into()
            }
        );
        assert_eq!(
            Target::parse("http://example.invalid").expect("url"),
            Target {
                authority: "example.invalid:80".into(),
                path: "/".into()
            }
        );
        let t = Target::parse("http://h/p?token=abc").expect("url");
        assert!(!format!("{t:?}").contains("abc"), "{t:?}");
        for bad in ["https://x/", "x/y", "http://u:pw@x/", "ftp://x"] {
            let e = Target::parse(bad).expect_err(bad);
            assert!(!e.contains("pw"), "{e}");
        }
    }

    #[test]
    fn signature_is_hmac_sha256_of_the_body() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(format!("{:?}", Secret(b"Jefe".to_vec())), "***");
    }

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        let d: Vec<u64> = (1..=12).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(d, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(backoff(u32::MAX), MAX_RETRY);
    }
}
