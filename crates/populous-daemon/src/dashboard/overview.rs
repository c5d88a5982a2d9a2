//! Pages of the whole: pools and folders, sources, the audit log.
//!
//! Each page asks the engine what the REST API's handler asks and filters
//! it the same way: folders by [`Caller::sees`](crate::extract::Caller),
//! sources by their replica's folder; pools are those holding a folder the
//! token sees (an admin token sees every pool).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use populous_engine::{AuditEntry, Name};

use super::html::{bytes, esc, seg, table, time};
use super::{message_page, Signed, U};
use crate::extract::Path;

fn error_page(s: &Signed, e: &crate::error::ApiError) -> Response {
    message_page(s, e.status, "Error", &e.message)
}

fn allowed(a: &populous_engine::Allowed) -> String {
    let l = a.to_list();
    if l.is_empty() {
        "<span class=\"muted\">none</span>".to_owned()
    } else {
        esc(&l.join(", "))
    }
}

/// Pools (space used and free) and folders (their policies).
pub(super) async fn pools(State(_): U, s: Signed) -> Response {
    let (pools, folders) = match s
        .daemon()
        .read(|e| Ok((e.pool_list()?, e.folder_list()?)))
        .await
    {
        Ok(x) => x,
        Err(e) => return error_page(&s, &e),
    };
    let c = &s.caller;
    let folders: Vec<_> = folders
        .into_iter()
        .filter(|f| c.sees(f.name.as_str()))
        .collect();
    let pool_rows: Vec<Vec<String>> = pools
        .iter()
        .filter(|p| c.0.admin || folders.iter().any(|f| f.pool == p.name))
        .map(|p| {
            let used = match (p.total_bytes, p.free_bytes) {
                (Some(t), Some(f)) => Some(t.saturating_sub(f)),
                _ => None,
            };
            let pct = match (used, p.total_bytes) {
                (Some(u), Some(t)) if t > 0 => format!(" ({:.0} %)", u as f64 * 100.0 / t as f64),
                _ => String::new(),
            };
            vec![
                esc(p.name.as_str()),
                esc(p.backend.as_str()),
                esc(&p.fs),
                if p.available {
                    "<span class=\"ok\">available</span>".into()
                } else {
                    "<span class=\"bad\">unavailable</span>".into()
                },
                format!("{}{pct}", bytes(used)),
                bytes(p.free_bytes),
                bytes(p.total_bytes),
                p.folders.to_string(),
            ]
        })
        .collect();
    let folder_rows: Vec<Vec<String>> = folders
        .iter()
        .map(|f| {
            vec![
                format!(
                    "<a href=\"/ui/volumes?folder={}\">{}</a>",
                    seg(f.name.as_str()),
                    esc(f.name.as_str())
                ),
                esc(f.pool.as_str()),
                f.volumes.to_string(),
                allowed(&f.policy.clone_from),
                allowed(&f.policy.import_from),
                if f.policy.require_masked { "yes" } else { "no" }.into(),
                esc(c.0.scope(f.name.as_str()).map_or("-", |x| x.as_str())),
            ]
        })
        .collect();
    let body = format!(
        "<h2>Pools</h2>{}<h2>Folders</h2>{}",
        table(
            &[
                "pool",
                "backend",
                "filesystem",
                "state",
                "used",
                "free",
                "size",
                "folders"
            ],
            &pool_rows
        ),
        table(
            &[
                "folder",
                "pool",
                "volumes",
                "clone from",
                "import from",
                "requires masked",
                "this token may",
            ],
            &folder_rows
        )
    );
    s.page("Pools and folders", &body)
}

/// Sources whose replica the token may read: their snapshots and how old
/// the newest is (the replica's own lag is on each source's page).
pub(super) async fn sources(State(_): U, s: Signed) -> Response {
    let all = match s.daemon().read(|e| e.source_list()).await {
        Ok(x) => x,
        Err(e) => return error_page(&s, &e),
    };
    let now = populous_engine::now();
    let rows: Vec<Vec<String>> = all
        .iter()
        .filter(|x| s.caller.sees(x.volume.folder.as_str()))
        .map(|x| {
            let newest = x.snapshots.iter().map(|n| n.taken_at).max();
            vec![
                format!(
                    "<a href=\"/ui/sources/{}\">{}</a>",
                    seg(x.name.as_str()),
                    esc(x.name.as_str())
                ),
                format!(
                    "<a href=\"/ui/volumes/{}/{}\">{}</a>",
                    seg(x.volume.folder.as_str()),
                    seg(x.volume.volume.as_str()),
                    esc(&x.volume.to_string())
                ),
                esc(&x.url),
                esc(x.mode.as_str()),
                esc(x.schedule.as_deref().unwrap_or("-")),
                x.keep.to_string(),
                x.snapshots.len().to_string(),
                newest.map_or("-".into(), |t| format!("{} s ago", now - t)),
            ]
        })
        .collect();
    let body = if rows.is_empty() {
        "<p class=\"muted\">No source this token may see.</p>".to_owned()
    } else {
        table(
            &[
                "source",
                "replica volume",
                "from",
                "mode",
                "schedule",
                "keep",
                "snapshots",
                "newest snapshot",
            ],
            &rows,
        )
    };
    s.page("Sources", &body)
}

/// One source: replication threads and lag (asked over the network, as
/// `GET /v1/sources/{source}` does) and its snapshots with their positions.
pub(super) async fn source(State(_): U, s: Signed, Path(name): Path<String>) -> Response {
    let not_found = |s: &Signed| {
        message_page(
            s,
            StatusCode::NOT_FOUND,
            "Not found",
            "This source does not exist or this token cannot see it.",
        )
    };
    let Ok(n) = Name::new("source", &name) else {
        return not_found(&s);
    };
    let n2 = n.clone();
    let Ok(info) = s.daemon().read(move |e| e.source_get(&n2)).await else {
        return not_found(&s);
    };
    if !s.caller.sees(info.volume.folder.as_str()) {
        return not_found(&s);
    }
    let home = s.daemon().home().to_owned();
    let st = tokio::task::spawn_blocking(move || {
        let engine = populous_engine::Engine::open(&home)?;
        populous_ops::source::status(&engine, &n)
    })
    .await;
    let mut body = String::new();
    match st {
        Ok(Ok(st)) => {
            let (io, sql, lag, err) = match &st.replica {
                Some(r) => (
                    format!("{:?}", r.io_thread),
                    format!("{:?}", r.sql_thread),
                    r.lag_seconds.map_or("-".into(), |l| format!("{l} s")),
                    r.last_error.clone().unwrap_or_default(),
                ),
                None => ("-".into(), "-".into(), "-".into(), String::new()),
            };
            body.push_str(&table(
                &[
                    "replica running",
                    "IO thread",
                    "SQL thread",
                    "lag",
                    "transactions behind",
                    "last error",
                    "source error",
                ],
                &[vec![
                    if st.running { "yes" } else { "no" }.into(),
                    esc(&io),
                    esc(&sql),
                    esc(&lag),
                    st.gtid_distance.map_or("-".into(), |d| d.to_string()),
                    esc(&err),
                    esc(st.source_error.as_deref().unwrap_or("")),
                ]],
            ));
        }
        Ok(Err(e)) => body.push_str(&format!(
            "<p class=\"bad\">status: {}</p>",
            esc(&e.to_string())
        )),
        Err(e) => body.push_str(&format!(
            "<p class=\"bad\">status: {}</p>",
            esc(&e.to_string())
        )),
    }
    let rows: Vec<Vec<String>> = info
        .snapshots
        .iter()
        .rev()
        .map(|x| {
            vec![
                esc(&x.snapshot),
                esc(&x.gtid),
                esc(x.base.as_deref().unwrap_or("-")),
                time(Some(x.taken_at)),
            ]
        })
        .collect();
    body.push_str("<h2>Snapshots (newest first)</h2>");
    body.push_str(&table(&["snapshot", "GTID", "clean base", "taken"], &rows));
    s.page(&format!("Source {}", info.name), &body)
}

/// The folders an audit target names: `dev/x`, `prod/db@s -> dev/c`,
/// `dev/x -> stage`, `dev/x -> y (replace)`.
fn target_folders(target: &str) -> Vec<&str> {
    target
        .split(" -> ")
        .filter_map(|part| part.split_whitespace().next())
        .map(|r| r.split_once('/').map_or(r, |(f, _)| f))
        .collect()
}

/// Whether a folder token may see an audit entry: it is about volumes
/// (volumes, snapshots, clones, databases) and every folder it names is
/// one the token reads. Pools, folders, tokens and sources are an admin's.
pub(crate) fn audit_visible(e: &AuditEntry, sees: impl Fn(&str) -> bool) -> bool {
    let about_volumes = ["volume ", "snapshot ", "clone", "db "]
        .iter()
        .any(|p| e.action.starts_with(p));
    // A rename's second name is a volume's, in the same folder.
    let target = if e.action == "volume rename" {
        e.target.split(" -> ").next().unwrap_or_default()
    } else {
        e.target.as_str()
    };
    about_volumes && target_folders(target).iter().all(|f| sees(f))
}

/// Who did what, newest first: an admin token sees all; a folder token
/// only entries about its folders.
pub(super) async fn audit(State(_): U, s: Signed) -> Response {
    let admin = s.caller.0.admin;
    let limit = if admin { 500 } else { 5_000 };
    let all = match s.daemon().read(move |e| e.audit_list(limit)).await {
        Ok(x) => x,
        Err(e) => return error_page(&s, &e),
    };
    let rows: Vec<Vec<String>> = all
        .iter()
        .rev()
        .filter(|e| admin || audit_visible(e, |f| s.caller.sees(f)))
        .take(500)
        .map(|e| {
            let outcome = if e.outcome == "ok" {
                "<span class=\"ok\">ok</span>".to_owned()
            } else {
                format!("<span class=\"bad\">{}</span>", esc(&e.outcome))
            };
            vec![
                time(Some(e.at)),
                esc(&e.actor),
                esc(&e.action),
                esc(&e.target),
                outcome,
            ]
        })
        .collect();
    let note = if admin {
        "<p class=\"muted\">Every entry (the newest 500).</p>"
    } else {
        "<p class=\"muted\">Entries about this token's folders only.</p>"
    };
    let body = format!(
        "{note}{}",
        table(&["when", "who", "what", "target", "outcome"], &rows)
    );
    s.page("Audit", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str, target: &str) -> AuditEntry {
        AuditEntry {
            at: 0,
            actor: "token:t".into(),
            action: action.into(),
            target: target.into(),
            outcome: "ok".into(),
        }
    }

    #[test]
    fn folder_tokens_see_entries_about_their_folders_only() {
        let dev = |f: &str| f == "dev";
        assert!(audit_visible(&entry("volume destroy", "dev/x"), dev));
        assert!(audit_visible(&entry("clone", "dev/a@s -> dev/b"), dev));
        assert!(audit_visible(
            &entry("volume rename", "dev/a -> b (replace)"),
            dev
        ));
        assert!(!audit_visible(&entry("clone", "prod/db@s -> dev/b"), dev));
        assert!(!audit_visible(
            &entry("volume import", "dev/x -> stage"),
            dev
        ));
        assert!(!audit_visible(&entry("volume destroy", "prod/db"), dev));
        assert!(!audit_visible(&entry("folder create", "dev"), dev));
        assert!(!audit_visible(&entry("pool rm", "dev"), dev));
    }
}
