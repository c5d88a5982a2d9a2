//! Volumes: the list, one volume's page with its lineage graph, and the
//! actions a token may take (destroy, extend, protect, unprotect), each
//! behind a confirmation page whose form carries the session's CSRF token.
//!
//! Reads go through the API's checks ([`Caller::read`]) and redaction
//! ([`Caller::shown`]), so a folder the token may not read answers like one
//! that does not exist, and names elsewhere are `(hidden)`. Actions go
//! through [`Daemon::write`](crate::state::Daemon::write) with the same
//! engine call and audit action as the REST API, the actor being the token.

use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use populous_engine::{EventKind, Lifecycle, Name, Protection, Provenance, VolRef, VolumeInfo};
use serde::Deserialize;

use super::html::{bytes, esc, seg, table, time};
use super::{message_page, svg, Signed, U};
use crate::extract::{Caller, Path, Q};
use crate::webhooks::Emit;

fn not_found(s: &Signed) -> Response {
    message_page(
        s,
        StatusCode::NOT_FOUND,
        "Not found",
        "This volume does not exist or this token cannot see its folder.",
    )
}

fn vol_link(folder: &str, volume: &str) -> String {
    format!(
        "<a href=\"/ui/volumes/{}/{}\">{}/{}</a>",
        seg(folder),
        seg(volume),
        esc(folder),
        esc(volume)
    )
}

/// A `folder/volume[@snapshot]` reference, linked to its volume when it
/// names one (a hidden reference is plain text).
fn ref_link(r: &str) -> String {
    let vol = r.split_once('@').map_or(r, |(v, _)| v);
    match vol.split_once('/') {
        Some((f, v)) if Name::new("folder", f).is_ok() && Name::new("volume", v).is_ok() => {
            format!(
                "<a href=\"/ui/volumes/{}/{}\">{}</a>",
                seg(f),
                seg(v),
                esc(r)
            )
        }
        _ => esc(r),
    }
}

fn provenance(p: &Provenance) -> String {
    if !p.masked {
        return "<span class=\"muted\">not masked</span>".into();
    }
    let mut s = format!(
        "masked: rules {}, key {}",
        esc(p.mask_ruleset.as_deref().unwrap_or("?")),
        esc(p.mask_key_id.as_deref().unwrap_or("?"))
    );
    match &p.scan {
        Some(scan) if scan.passed() => {
            let _ = write!(
                s,
                "; <span class=\"ok\">scan passed</span> ({} values in {} files)",
                scan.sampled, scan.files
            );
        }
        Some(scan) => {
            let _ = write!(
                s,
                "; <span class=\"bad\">scan found {} originals</span>",
                scan.found
            );
        }
        None => s.push_str("; <span class=\"bad\">not scanned</span>"),
    }
    s
}

fn protection(l: &Lifecycle) -> String {
    match l.protection {
        Protection::None => "-".into(),
        Protection::Until { until } => format!("until {}", time(Some(until))),
        Protection::Forever => "forever".into(),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    folder: Option<String>,
    page: Option<usize>,
}

/// Volumes per page of the list: an inspection (for provenance) costs a
/// few queries, so a page inspects only what it shows.
pub(crate) const PER_PAGE: usize = 50;

/// The volumes of the folders the token sees (or of `?folder=`): how many
/// there are, and page `page` of them inspected (state, size, origin,
/// lifecycle, provenance).
fn listed(
    e: &populous_engine::Engine,
    folders: &[Name],
    page: usize,
) -> populous_engine::Result<(usize, Vec<VolumeInfo>)> {
    let mut all = Vec::new();
    for f in folders {
        all.extend(e.volume_list(Some(f), false)?);
    }
    let total = all.len();
    let shown = all
        .into_iter()
        .skip(page * PER_PAGE)
        .take(PER_PAGE)
        .map(|v| {
            e.volume_inspect(&VolRef {
                folder: v.folder,
                volume: v.name,
            })
        })
        .collect::<populous_engine::Result<Vec<_>>>()?;
    Ok((total, shown))
}

/// The volumes page.
pub(super) async fn list(State(_): U, s: Signed, Q(q): Q<ListQuery>) -> Response {
    let c = s.caller.clone();
    let wanted = q.folder.clone();
    let folders = match s.daemon().read(|e| e.folder_list()).await {
        Ok(f) => f,
        Err(e) => return message_page(&s, e.status, "Error", &e.message),
    };
    let folders: Vec<Name> = folders
        .into_iter()
        .map(|f| f.name)
        .filter(|f| c.sees(f.as_str()))
        .filter(|f| wanted.as_deref().is_none_or(|w| w == f.as_str()))
        .collect();
    if wanted.is_some() && folders.is_empty() {
        return message_page(
            &s,
            StatusCode::NOT_FOUND,
            "Not found",
            "This folder does not exist or this token cannot see it.",
        );
    }
    let page = q.page.unwrap_or(0);
    let (total, mut vols) = match s.daemon().read(move |e| listed(e, &folders, page)).await {
        Ok(v) => v,
        Err(e) => return message_page(&s, e.status, "Error", &e.message),
    };
    let rows: Vec<Vec<String>> = vols
        .iter_mut()
        .map(|v| {
            s.daemon().usage.fill(v);
            v.redact(|f| c.sees(f));
            vec![
                vol_link(v.folder.as_str(), v.name.as_str()),
                esc(v.state.as_str()),
                bytes(v.size_bytes),
                bytes(v.used_bytes),
                v.origin.as_deref().map_or("-".into(), ref_link),
                v.snapshots.len().to_string(),
                time(v.lifecycle.expires_at),
                protection(&v.lifecycle),
                provenance(&v.provenance),
                time(Some(v.created_at)),
            ]
        })
        .collect();
    let title = match &q.folder {
        Some(f) => format!("Volumes in {f}"),
        None => "Volumes".into(),
    };
    let pages = total.div_ceil(PER_PAGE).max(1);
    let mut nav = String::new();
    if pages > 1 {
        let folder_q = q
            .folder
            .as_deref()
            .map_or(String::new(), |f| format!("folder={}&amp;", seg(f)));
        nav.push_str("<p class=\"pages\">Page: ");
        for p in 0..pages {
            if p == page {
                let _ = write!(nav, "<b>{}</b> ", p + 1);
            } else {
                let _ = write!(
                    nav,
                    "<a href=\"/ui/volumes?{folder_q}page={p}\">{}</a> ",
                    p + 1
                );
            }
        }
        nav.push_str("</p>");
    }
    let body = format!(
        "<p>{total} volumes; {} to {} shown.</p>{nav}{}",
        (page * PER_PAGE + 1).min(total),
        page * PER_PAGE + rows.len(),
        table(
            &[
                "volume",
                "state",
                "size",
                "used",
                "origin",
                "snapshots",
                "expires",
                "protected",
                "provenance",
                "created",
            ],
            &rows
        )
    );
    s.page(&title, &body)
}

fn parse_ref(f: &str, v: &str) -> Option<VolRef> {
    Some(VolRef {
        folder: Name::new("folder", f).ok()?,
        volume: Name::new("volume", v).ok()?,
    })
}

/// One volume: its facts, its lineage as a graph, its snapshots and their
/// clones, and the actions this token may take.
pub(super) async fn detail(
    State(_): U,
    s: Signed,
    Path((f, v)): Path<(String, String)>,
) -> Response {
    let Some(r) = parse_ref(&f, &v) else {
        return not_found(&s);
    };
    if s.caller.read(&r.folder).is_err() {
        return not_found(&s);
    }
    let mut info = match s.daemon().read(move |e| e.volume_inspect(&r)).await {
        Ok(i) => i,
        Err(e) if e.status == StatusCode::NOT_FOUND => return not_found(&s),
        Err(e) => return message_page(&s, e.status, "Error", &e.message),
    };
    s.daemon().usage.fill(&mut info);
    let info = s.caller.shown(info);
    let me = format!("{}/{}", info.folder, info.name);
    let mut body = table(
        &[
            "folder",
            "pool",
            "state",
            "size",
            "used",
            "origin",
            "expires",
            "protected",
            "provenance",
            "created",
        ],
        &[vec![
            esc(info.folder.as_str()),
            esc(info.pool.as_str()),
            esc(info.state.as_str()),
            bytes(info.size_bytes),
            bytes(info.used_bytes),
            info.origin.as_deref().map_or("-".into(), ref_link),
            time(info.lifecycle.expires_at),
            protection(&info.lifecycle),
            provenance(&info.provenance),
            time(Some(info.created_at)),
        ]],
    );
    if let Some(d) = &info.description {
        let _ = write!(body, "<p>{}</p>", esc(d));
    }
    body.push_str("<h2>Lineage</h2>");
    let graph = svg::lineage(&me, &info.lineage, &info.snapshots);
    body.push_str(&graph.svg(&format!("lineage of {me}")));
    let steps: Vec<Vec<String>> = info
        .lineage
        .iter()
        .map(|l| {
            vec![
                ref_link(&l.snapshot),
                if l.snapshot == populous_engine::HIDDEN {
                    "-"
                } else if l.exists {
                    "yes"
                } else {
                    "gone"
                }
                .into(),
                time(l.taken_at),
            ]
        })
        .collect();
    if !steps.is_empty() {
        body.push_str("<p class=\"muted\">Ancestry, nearest first:</p>");
        body.push_str(&table(&["snapshot", "exists", "taken"], &steps));
    }
    body.push_str("<h2>Snapshots</h2>");
    let snaps: Vec<Vec<String>> = info
        .snapshots
        .iter()
        .map(|x| {
            vec![
                esc(x.name.as_str()),
                esc(x.consistency.as_str()),
                provenance(&x.provenance),
                if x.clones.is_empty() {
                    "-".into()
                } else {
                    x.clones
                        .iter()
                        .map(|c| ref_link(c))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                time(Some(x.created_at)),
            ]
        })
        .collect();
    body.push_str(&table(
        &["snapshot", "consistency", "provenance", "clones", "taken"],
        &snaps,
    ));
    if !info.labels.is_empty() {
        let labels: Vec<Vec<String>> = info
            .labels
            .iter()
            .map(|(k, v)| vec![esc(k), esc(v)])
            .collect();
        body.push_str("<h2>Labels</h2>");
        body.push_str(&table(&["label", "value"], &labels));
    }
    if !info.mounts.is_empty() {
        let _ = write!(body, "<p>Mounted by: {}</p>", esc(&info.mounts.join(", ")));
    }
    if s.caller.0.can_write(info.folder.as_str()) {
        let links: Vec<String> = Action::ALL
            .iter()
            .map(|a| {
                format!(
                    "<a class=\"action\" href=\"/ui/volumes/{}/{}/{}\">{}</a>",
                    seg(info.folder.as_str()),
                    seg(info.name.as_str()),
                    a.slug(),
                    a.label()
                )
            })
            .collect();
        let _ = write!(body, "<h2>Actions</h2><p>{}</p>", links.join(" · "));
    }
    s.page(&format!("Volume {me}"), &body)
}

/// What the dashboard can do to a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Destroy,
    Reset,
    Extend,
    Protect,
    Unprotect,
}

impl Action {
    const ALL: [Action; 5] = [
        Action::Destroy,
        Action::Reset,
        Action::Extend,
        Action::Protect,
        Action::Unprotect,
    ];
    fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.slug() == s)
    }
    fn slug(self) -> &'static str {
        match self {
            Action::Destroy => "destroy",
            Action::Reset => "reset",
            Action::Extend => "extend",
            Action::Protect => "protect",
            Action::Unprotect => "unprotect",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Action::Destroy => "Destroy",
            Action::Reset => "Reset to the origin's newest snapshot",
            Action::Extend => "Extend expiry",
            Action::Protect => "Protect",
            Action::Unprotect => "Unprotect",
        }
    }
    /// The audit log's action, as the REST API and CLI name it.
    fn audited(self) -> &'static str {
        match self {
            Action::Destroy => "volume destroy",
            Action::Reset => "volume reset",
            Action::Extend => "volume extend",
            Action::Protect => "volume protect",
            Action::Unprotect => "volume unprotect",
        }
    }
}

/// Where an action may go: a volume of a folder the token may change.
/// Anything else answers as not found (no read) or forbidden (read only).
fn writable(s: &Signed, f: &str, v: &str, action: &str) -> Result<(VolRef, Action), Box<Response>> {
    let (Some(r), Some(a)) = (parse_ref(f, v), Action::parse(action)) else {
        return Err(Box::new(not_found(s)));
    };
    let c: &Caller = &s.caller;
    if c.read(&r.folder).is_err() {
        return Err(Box::new(not_found(s)));
    }
    if let Err(e) = c.write(&r.folder) {
        return Err(Box::new(message_page(s, e.status, "Forbidden", &e.message)));
    }
    Ok((r, a))
}

/// Durations offered for an extension or a protection lease.
const LEASES: [&str; 4] = ["1h", "1d", "7d", "30d"];

/// The confirmation page: what will happen, and a form that does it.
pub(super) async fn confirm(
    State(_): U,
    s: Signed,
    Path((f, v, action)): Path<(String, String, String)>,
) -> Response {
    let (r, a) = match writable(&s, &f, &v, &action) {
        Ok(x) => x,
        Err(resp) => return *resp,
    };
    let r2 = r.clone();
    if let Err(e) = s.daemon().read(move |e| e.volume_lifecycle(&r2)).await {
        return if e.status == StatusCode::NOT_FOUND {
            not_found(&s)
        } else {
            message_page(&s, e.status, "Error", &e.message)
        };
    }
    let choices = |name: &str, first: Option<&str>| {
        let mut o = format!("<select name=\"{name}\">");
        if let Some(f) = first {
            let _ = write!(o, "<option value=\"\">{}</option>", esc(f));
        }
        for l in LEASES {
            let _ = write!(o, "<option value=\"{l}\">{l}</option>");
        }
        o.push_str("</select>");
        o
    };
    let (question, extra, class) = match a {
        Action::Destroy => (
            format!("Destroy {r}? Its data is gone for good."),
            String::new(),
            "danger",
        ),
        Action::Reset => (
            format!(
                "Reset {r} to the newest snapshot of its origin? Its own changes and \
                 snapshots are gone; name, port and login stay. Refused while clients \
                 are connected."
            ),
            String::new(),
            "danger",
        ),
        Action::Extend => (
            format!("Extend the expiry of {r}?"),
            format!("<label>by {}</label> ", choices("by", None)),
            "",
        ),
        Action::Protect => (
            format!("Protect {r} from expiry?"),
            format!(
                "<label>for {}</label> ",
                choices("for", Some("until unprotected"))
            ),
            "",
        ),
        Action::Unprotect => (format!("Remove the protection of {r}?"), String::new(), ""),
    };
    let body = format!(
        "<form class=\"warn\" method=\"post\" action=\"/ui/volumes/{}/{}/{}\"><p>{}</p>{}{}\
         <button type=\"submit\" class=\"{class}\" id=\"confirm\">Confirm</button> \
         <a href=\"/ui/volumes/{0}/{1}\">Cancel</a></form>",
        seg(r.folder.as_str()),
        seg(r.volume.as_str()),
        a.slug(),
        esc(&question),
        s.csrf_field(),
        extra,
    );
    s.page(a.label(), &body)
}

fn seconds(choice: Option<&String>) -> Result<Option<i64>, String> {
    match choice.map(String::as_str) {
        None | Some("") => Ok(None),
        Some(c) if LEASES.contains(&c) => humantime::parse_duration(c)
            .map(|d| Some(d.as_secs() as i64))
            .map_err(|e| e.to_string()),
        Some(c) => Err(format!("{c:?} is not one of {}", LEASES.join(", "))),
    }
}

/// Does a confirmed action: CSRF and origin first, then the token's right
/// to change the folder, then the engine call through the audited writer.
pub(super) async fn act(
    State(_): U,
    s: Signed,
    Path((f, v, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match s.check_post(&headers, &body) {
        Ok(f) => f,
        Err(resp) => return *resp,
    };
    let (r, a) = match writable(&s, &f, &v, &action) {
        Ok(x) => x,
        Err(resp) => return *resp,
    };
    let actor = s.caller.actor();
    let target = r.to_string();
    let d = s.daemon();
    let done = match a {
        // The same call as `DELETE /v1/folders/{f}/volumes/{v}?destroy=true`.
        Action::Destroy => {
            let emit = Emit::new(EventKind::Destroy, &r);
            d.write_event(&actor, a.audited(), target.clone(), emit, move |e| {
                e.volume_remove(&r, true, false)
            })
            .await
            .map(|_| format!("Destroyed {target}."))
        }
        // The same call as `POST /v1/folders/{f}/volumes/{v}/reset`.
        Action::Reset => {
            let emit = Emit::new(EventKind::Reset, &r);
            d.write_event(&actor, a.audited(), target.clone(), emit, move |e| {
                populous_ops::dbclone::reset(
                    e,
                    &r,
                    &populous_ops::dbclone::ResetTo::Newest,
                    populous_ops::dbclone::Clients::Refuse,
                )
            })
            .await
            .map(|x| format!("Reset {target} to {}.", x.snapshot))
        }
        Action::Extend => {
            let by = match seconds(form.get("by")) {
                Ok(Some(x)) => x,
                Ok(None) => {
                    return message_page(
                        &s,
                        StatusCode::BAD_REQUEST,
                        "Error",
                        "choose how long to extend by",
                    )
                }
                Err(m) => return message_page(&s, StatusCode::BAD_REQUEST, "Error", &m),
            };
            d.write(&actor, a.audited(), target.clone(), move |e| {
                e.volume_extend(&r, by)
            })
            .await
            .map(|o| format!("{target} now expires {}.", time(o.value.expires_at)))
        }
        Action::Protect => {
            let until = match seconds(form.get("for")) {
                Ok(x) => x.map(|x| populous_engine::now() + x),
                Err(m) => return message_page(&s, StatusCode::BAD_REQUEST, "Error", &m),
            };
            d.write(&actor, a.audited(), target.clone(), move |e| {
                e.volume_protect(&r, until)
            })
            .await
            .map(|o| format!("{target} is protected {}.", protection(&o.value)))
        }
        Action::Unprotect => d
            .write(&actor, a.audited(), target.clone(), move |e| {
                e.volume_unprotect(&r)
            })
            .await
            .map(|_| format!("{target} is no longer protected.")),
    };
    match done {
        Ok(m) => s.page(
            "Done",
            &format!(
                "<p class=\"ok\" id=\"done\">{}</p><p><a href=\"/ui/volumes\">Volumes</a> · \
                 <a href=\"/ui/audit\">Audit</a></p>",
                esc(&m)
            ),
        ),
        Err(e) => message_page(&s, e.status, "Not done", &e.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_link_to_volumes_and_hidden_ones_do_not() {
        assert_eq!(
            ref_link("dev/a@s1"),
            "<a href=\"/ui/volumes/dev/a\">dev/a@s1</a>"
        );
        assert_eq!(ref_link(populous_engine::HIDDEN), "(hidden)");
        assert_eq!(ref_link("<x>/y"), "&lt;x&gt;/y");
    }

    #[test]
    fn leases_are_from_the_list_only() {
        assert_eq!(seconds(Some(&"1h".to_owned())), Ok(Some(3600)));
        assert_eq!(seconds(Some(&String::new())), Ok(None));
        assert!(seconds(Some(&"999y".to_owned())).is_err());
        assert_eq!(Action::parse("destroy"), Some(Action::Destroy));
        assert_eq!(Action::parse("rm"), None);
    }
}
