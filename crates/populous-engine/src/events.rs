//! Volume events and their deliveries: the outbox behind the daemon's webhooks.
//!
//! The engine only stores facts: an event (what happened to which volume, by
//! whom, when, with a stable random id) and, per webhook that wants it, a
//! delivery with its attempts. Who subscribes, how events are sent, signed
//! and retried is the daemon's business (`populous-daemon`'s `webhooks`).
//! Like the audit log these are single SQLite transactions that do not take
//! the writer lock: recording an event never waits for a long clone.
//!
//! Events live in the store, so an event appended before a `kill -9` is still
//! delivered by the next daemon: delivery is at least once, and the stable
//! id lets a receiver drop repeats.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::store::events::{self, DeliveryRow, EventRow};

/// What happened to a volume.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A volume was made: empty, as a clone or by import into its folder.
    Create,
    /// A volume was rewound to a snapshot of its origin.
    Reset,
    /// The reaper destroyed a volume whose expiry had come.
    Expire,
    /// A volume was destroyed on request.
    Destroy,
}

impl EventKind {
    /// Every kind, in a stable order.
    pub const ALL: [EventKind; 4] = [
        EventKind::Create,
        EventKind::Reset,
        EventKind::Expire,
        EventKind::Destroy,
    ];

    /// The name, as stored, sent and configured.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Create => "create",
            EventKind::Reset => "reset",
            EventKind::Expire => "expire",
            EventKind::Destroy => "destroy",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EventKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<EventKind> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::InvalidInput {
                what: "event kind",
                detail: format!("{s:?} is not an event; expected create, reset, expire or destroy"),
            })
    }
}

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// What happened.
    pub kind: EventKind,
    /// `folder/name` of the volume.
    pub volume: String,
    /// Who did it: a token name, `reaper`, `local`.
    pub actor: String,
    /// A small JSON object of particulars (e.g. what a clone came from).
    pub detail: serde_json::Value,
}

/// A recorded event: what a webhook's body carries.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Event {
    /// Stable and unique: the same on every delivery attempt of this event.
    pub id: String,
    /// What happened.
    pub kind: EventKind,
    /// Unix seconds.
    pub at: i64,
    /// `folder/name`.
    pub volume: String,
    /// Who did it.
    pub actor: String,
    /// Particulars.
    pub detail: serde_json::Value,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not yet delivered; attempts go on.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed; given up.
    Failed,
}

impl DeliveryState {
    /// The name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }
}

/// One event's delivery to one webhook.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Delivery {
    /// The event.
    pub event: Event,
    /// The webhook's name.
    pub hook: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the next attempt is due, Unix milliseconds (pending only).
    pub next_attempt_ms: i64,
    /// When it was delivered, Unix seconds.
    pub delivered_at: Option<i64>,
}

/// The result of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Delivered: no more attempts.
    Delivered,
    /// Failed; try again at `next_attempt_ms` (Unix milliseconds).
    Retry {
        /// Why it failed.
        error: String,
        /// When to try again.
        next_attempt_ms: i64,
    },
    /// Failed, and no more attempts will be made.
    GiveUp {
        /// Why the last attempt failed.
        error: String,
    },
}

/// Unix milliseconds now: when deliveries are due.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn event(r: EventRow) -> Result<Event> {
    let kind = r.kind.parse()?;
    // The detail was written by `event_append` from a JSON value; anything
    // else is carried as text rather than lose the event.
    let detail = serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::String(r.detail));
    Ok(Event {
        id: r.uid,
        kind,
        at: r.at,
        volume: r.volume,
        actor: r.actor,
        detail,
    })
}

fn delivery(r: DeliveryRow) -> Result<Delivery> {
    let state = match r.state.as_str() {
        "pending" => DeliveryState::Pending,
        "delivered" => DeliveryState::Delivered,
        "failed" => DeliveryState::Failed,
        other => {
            return Err(Error::InvalidInput {
                what: "delivery state",
                detail: format!("{other:?} in the store is not a delivery state"),
            })
        }
    };
    Ok(Delivery {
        event: event(r.event)?,
        hook: r.hook,
        state,
        attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
        last_error: r.last_error,
        next_attempt_ms: r.next_attempt_ms,
        delivered_at: r.delivered_at,
    })
}

impl Engine {
    /// Records `e` with a pending delivery, due now, to each of `hooks`, in
    /// one transaction; returns the event as it will be sent.
    pub fn event_append(&self, e: &NewEvent, hooks: &[&str]) -> Result<Event> {
        let row = EventRow {
            id: 0,
            uid: format!("evt_{}", crate::sys::random_token()?),
            at: crate::engine::now(),
            kind: e.kind.as_str().to_owned(),
            volume: e.volume.clone(),
            actor: e.actor.clone(),
            detail: e.detail.to_string(),
        };
        events::insert(self.db(), &row, hooks, now_ms())?;
        event(row)
    }

    /// Pending deliveries, soonest due first, at most `limit`.
    pub fn deliveries_pending(&self, limit: usize) -> Result<Vec<Delivery>> {
        events::pending(self.db(), limit)?
            .into_iter()
            .map(delivery)
            .collect()
    }

    /// How many deliveries are pending.
    pub fn deliveries_pending_count(&self) -> Result<u64> {
        events::pending_count(self.db())
    }

    /// The newest `limit` deliveries, newest first.
    pub fn deliveries_recent(&self, limit: usize) -> Result<Vec<Delivery>> {
        events::recent(self.db(), limit)?
            .into_iter()
            .map(delivery)
            .collect()
    }

    /// Records one attempt to deliver event `event_id` (its stable id) to
    /// `hook`. False when that delivery is not pending (any more).
    pub fn delivery_record(&self, event_id: &str, hook: &str, attempt: &Attempt) -> Result<bool> {
        let Some(id) = events::id_of(self.db(), event_id)? else {
            return Ok(false);
        };
        let (state, error, next, at) = match attempt {
            Attempt::Delivered => (
                DeliveryState::Delivered,
                None,
                0,
                Some(crate::engine::now()),
            ),
            Attempt::Retry {
                error,
                next_attempt_ms,
            } => (
                DeliveryState::Pending,
                Some(error.as_str()),
                *next_attempt_ms,
                None,
            ),
            Attempt::GiveUp { error } => (DeliveryState::Failed, Some(error.as_str()), 0, None),
        };
        events::record(self.db(), id, hook, state.as_str(), error, next, at)
    }

    /// Forgets events older than `before` (Unix seconds) once none of their
    /// deliveries is pending; returns how many.
    pub fn events_prune(&self, before: i64) -> Result<usize> {
        events::prune(self.db(), before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_bad_ones_are_refused() {
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>().expect("kind"), k);
            assert_eq!(
                serde_json::to_value(k).expect("json"),
                serde_json::Value::String(k.as_str().into())
            );
        }
        let e = "created".parse::<EventKind>().expect_err("not a kind");
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
    }

    #[test]
    fn outbox_survives_reopening_and_records_attempts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ev = {
            let e = Engine::open(dir.path()).expect("engine");
            let new = NewEvent {
                kind: EventKind::Create,
                volume: "dev/a".into(),
                actor: "ci".into(),
                detail: serde_json::json!({"from": "prod/db"}),
            };
            e.event_append(&new, &["a", "b"]).expect("append")
        };
        // A new connection (a restarted daemon) sees both deliveries pending.
        let e = Engine::open(dir.path()).expect("engine");
        let p = e.deliveries_pending(10).expect("pending");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].event, ev);
        assert!(ev.id.starts_with("evt_") && ev.id.len() == 36, "{}", ev.id);
        let retry = Attempt::Retry {
            error: "HTTP 500".into(),
            next_attempt_ms: i64::MAX,
        };
        assert!(e.delivery_record(&ev.id, "a", &retry).expect("record"));
        assert!(e
            .delivery_record(&ev.id, "b", &Attempt::Delivered)
            .expect("record"));
        // Finished deliveries take no more attempts.
        assert!(!e
            .delivery_record(&ev.id, "b", &Attempt::Delivered)
            .expect("record"));
        assert_eq!(e.deliveries_pending_count().expect("count"), 1);
        let p = e.deliveries_pending(10).expect("pending");
        assert_eq!((p[0].hook.as_str(), p[0].attempts), ("a", 1));
        assert_eq!(p[0].last_error.as_deref(), Some("HTTP 500"));
        // Not pruned while a delivery is pending; pruned once none is.
        assert_eq!(e.events_prune(i64::MAX).expect("prune"), 0);
        let give_up = Attempt::GiveUp {
            error: "HTTP 500".into(),
        };
        assert!(e.delivery_record(&ev.id, "a", &give_up).expect("record"));
        let all = e.deliveries_recent(10).expect("recent");
        let states: Vec<_> = all.iter().map(|d| (d.hook.as_str(), d.state)).collect();
        assert_eq!(
            states,
            [
                ("a", DeliveryState::Failed),
                ("b", DeliveryState::Delivered)
            ]
        );
        assert_eq!(e.events_prune(i64::MAX).expect("prune"), 1);
        assert!(e.deliveries_recent(10).expect("recent").is_empty());
    }
}
