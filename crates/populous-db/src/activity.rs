//! A server's client activity, from its own status counters.
//!
//! `Connections` counts every connection attempt since the server started,
//! `Threads_connected` the sessions open now, `Uptime` the seconds since the
//! start (a smaller one than before means a restart, which resets the
//! counters). The reading itself is one connection and one statement, so a
//! caller comparing two readings subtracts its own connection.

use mysql_async::prelude::Queryable;

use crate::{rt, DbError, Result};

/// One reading of a server's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Activity {
    /// `Connections`: connection attempts since the start, this reading's included.
    pub connections: u64,
    /// `Threads_connected`: sessions open now, this reading's included.
    pub threads_connected: u64,
    /// `Uptime`, seconds.
    pub uptime: u64,
}

impl Activity {
    /// Sessions open now besides the reader's own.
    pub fn clients(&self) -> u64 {
        self.threads_connected.saturating_sub(1)
    }

    /// Whether a client was connected at `self` or connected between
    /// `before` and `self` (both taken the same way, one connection each).
    pub fn active_since(&self, before: &Activity) -> bool {
        if self.clients() > 0 {
            return true;
        }
        if self.uptime < before.uptime {
            // Restarted: a start is not client activity; nobody is here now.
            return false;
        }
        self.connections.saturating_sub(before.connections) > 1
    }
}

/// Reads the counters of the server at `url` (Populous uses root's socket URL).
pub fn activity(url: &str) -> Result<Activity> {
    let opts = crate::parse_url(url)?;
    let target = crate::redact_url(url);
    rt::block_on(async move {
        let sql = |source| DbError::Sql {
            what: "reading the status counters",
            target: target.clone(),
            source,
        };
        let mut conn = mysql_async::Conn::new(opts).await.map_err(sql)?;
        let rows: std::result::Result<Vec<(String, String)>, _> = conn
            .query(
                "SHOW GLOBAL STATUS WHERE Variable_name IN \
                 ('Connections', 'Threads_connected', 'Uptime')",
            )
            .await;
        let _ = conn.disconnect().await;
        let rows = rows.map_err(sql)?;
        let get = |name: &str| {
            rows.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(Activity {
            connections: get("Connections"),
            threads_connected: get("Threads_connected"),
            uptime: get("Uptime"),
        })
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_between_readings() {
        let a = |connections, threads_connected, uptime| Activity {
            connections,
            threads_connected,
            uptime,
        };
        let check = |before: Activity, now: Activity, want: bool| {
            assert_eq!(now.active_since(&before), want, "{before:?} -> {now:?}");
        };
        // Only our own reading in between: idle.
        check(a(10, 1, 100), a(11, 1, 110), false);
        // Someone came and went.
        check(a(10, 1, 100), a(13, 1, 110), true);
        // Someone is here now.
        check(a(10, 1, 100), a(11, 2, 110), true);
        // A restart resets the counters: idle unless someone is here.
        check(a(50, 1, 100), a(3, 1, 5), false);
        check(a(50, 1, 100), a(3, 2, 5), true);
        assert_eq!(a(1, 1, 1).clients(), 0);
        assert_eq!(a(1, 0, 1).clients(), 0);
    }
}
