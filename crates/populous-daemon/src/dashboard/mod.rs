//! The web dashboard, served by `populous serve` on the REST API's listener
//! under `/ui`: server-rendered pages, no JavaScript of its own, charts as
//! inline SVG.
//!
//! - Sign-in: a form posts a token's secret; the daemon checks it exactly as
//!   the API checks a bearer token ([`Daemon::authenticate`]) and opens a
//!   session: a random id in an `HttpOnly; SameSite=Strict; Path=/ui` cookie,
//!   mapped here, in memory, to the token's *name* (never its secret) with an
//!   expiry. Every request reads the token again by name, so a revoked or
//!   changed token takes effect at once. Without a valid session every page
//!   answers the sign-in form, never data.
//! - Scope: pages reuse the API's caller ([`Caller`]) and its checks, so a
//!   token sees exactly its folders, with names elsewhere `(hidden)`.
//! - Cross-site requests: every form that changes something carries the
//!   session's CSRF token, checked on POST; the cookie is `SameSite=Strict`;
//!   an `Origin` header, when present, must name this host.
//!
//! Pages: [`overview`] (pools and folders, sources, audit), [`volumes`]
//! (list, detail with the lineage graph, confirmed actions), [`records`]
//! (pipelines and the probe's latency chart, read from the pipeline's state
//! directory). [`html`] escapes and frames; [`svg`] draws.

pub mod html;
mod overview;
mod records;
pub mod svg;
mod volumes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rand::Rng;

use crate::extract::Caller;
use crate::state::Daemon;
use html::{attr, esc, page, Who};

/// The session cookie's name.
pub const COOKIE: &str = "populous_session";
/// How long a session lasts after sign-in.
const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// Sessions held at once; the oldest goes first beyond this.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
#[derive(Debug, Clone)]
struct Session {
    /// The token's name: its rights are read again on every request.
    token: populous_engine::Name,
    /// When that token was made: a token revoked and made again under the
    /// same name (another secret) does not inherit the session.
    token_created: i64,
    /// The CSRF token every state-changing form carries.
    csrf: String,
    /// When the session ends.
    expires: Instant,
}

/// The dashboard's state: the daemon and the sessions.
#[derive(Debug)]
pub struct Ui {
    daemon: Arc<Daemon>,
    sessions: Mutex<HashMap<String, Session>>,
}

type U = State<Arc<Ui>>;

impl Ui {
    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // Held only for a lookup or an insert: a panic cannot leave it half changed.
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open_session(&self, token: &populous_engine::TokenInfo) -> (String, String) {
        let id = random_hex();
        let csrf = random_hex();
        let mut s = self.sessions();
        let now = Instant::now();
        s.retain(|_, v| v.expires > now);
        if s.len() >= MAX_SESSIONS {
            if let Some(oldest) = s
                .iter()
                .min_by_key(|(_, v)| v.expires)
                .map(|(k, _)| k.clone())
            {
                s.remove(&oldest);
            }
        }
        s.insert(
            id.clone(),
            Session {
                token: token.name.clone(),
                token_created: token.created_at,
                csrf: csrf.clone(),
                expires: now + SESSION_TTL,
            },
        );
        (id, csrf)
    }
}

/// 256 random bits as hex, from the operating system's generator.
fn random_hex() -> String {
    let b: [u8; 32] = rand::rng().random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The dashboard's router (`/` and `/ui/...`), to merge with the API's.
pub fn router(daemon: Arc<Daemon>) -> Router {
    let ui = Arc::new(Ui {
        daemon,
        sessions: Mutex::new(HashMap::new()),
    });
    Router::new()
        .route("/", get(|| async { redirect("/ui") }))
        .route("/ui", get(overview::pools))
        .route("/ui/", get(overview::pools))
        .route("/ui/style.css", get(style))
        .route("/ui/login", get(login_form).post(login))
        .route("/ui/logout", axum::routing::post(logout))
        .route("/ui/pools", get(overview::pools))
        .route("/ui/sources", get(overview::sources))
        .route("/ui/sources/{source}", get(overview::source))
        .route("/ui/audit", get(overview::audit))
        .route("/ui/volumes", get(volumes::list))
        .route("/ui/volumes/{folder}/{volume}", get(volumes::detail))
        .route(
            "/ui/volumes/{folder}/{volume}/{action}",
            get(volumes::confirm).post(volumes::act),
        )
        .route("/ui/pipelines", get(records::pipelines))
        .route("/ui/latency", get(records::latency))
        .with_state(ui)
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        html::CSS,
    )
        .into_response()
}

/// An HTML answer with the headers every page carries: no caching, no
/// framing, no inline script or style, no referrer outside this site.
pub(crate) fn html_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    for (k, v) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Not `no-referrer`: with it, Chromium sends `Origin: null` on the pages' own forms.
        (header::REFERRER_POLICY, "same-origin"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    r
}

fn redirect(to: &'static str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(to));
    r
}

/// The sign-in page (200, or 401 after a failed attempt).
fn login_page(status: StatusCode, message: Option<&str>) -> Response {
    let msg = message.map_or(String::new(), |m| {
        format!("<p class=\"bad\">{}</p>", esc(m))
    });
    let body = format!(
        "{msg}<form class=\"box\" method=\"post\" action=\"/ui/login\" id=\"login\">\
         <p>Sign in with a Populous token (<code>populous token create</code>). \
         The dashboard shows exactly the folders the token may read.</p>\
         <label>Token <input type=\"password\" name=\"token\" autocomplete=\"off\" required size=\"50\"></label> \
         <button type=\"submit\">Sign in</button></form>"
    );
    html_response(status, page("Sign in", None, &body))
}

async fn login_form() -> Response {
    login_page(StatusCode::OK, None)
}

/// A page for an error the user can read (nothing in it comes from another folder).
pub(crate) fn message_page(s: &Signed, status: StatusCode, title: &str, text: &str) -> Response {
    html_response(
        status,
        page(
            title,
            Some(s.who()),
            &format!(
                "<p>{}</p><p><a href=\"/ui/volumes\">Back to volumes</a></p>",
                esc(text)
            ),
        ),
    )
}

/// The parsed `application/x-www-form-urlencoded` body of a form.
pub(crate) fn parse_form(body: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// Whether an `Origin` header, when there is one, names this very host.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    match origin.to_str() {
        Ok(o) => {
            let rest = o
                .strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"));
            rest == Some(host)
        }
        Err(_) => false,
    }
}

/// Equality that takes the same time wherever the strings differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

async fn login(State(ui): U, headers: HeaderMap, body: Bytes) -> Response {
    if !same_origin(&headers) {
        return login_page(StatusCode::FORBIDDEN, Some("refused: a cross-site sign-in"));
    }
    let form = parse_form(&body);
    let secret = form
        .get("token")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    if secret.is_empty() {
        return login_page(StatusCode::UNAUTHORIZED, Some("give a token"));
    }
    let info = match ui.daemon.authenticate(secret).await {
        Ok(i) => i,
        Err(_) => return login_page(StatusCode::UNAUTHORIZED, Some("unknown token")),
    };
    tracing::info!(token = %info.name, "dashboard sign-in");
    let (id, _) = ui.open_session(&info);
    let mut r = redirect("/ui/volumes");
    let cookie = format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/ui; Max-Age={}",
        SESSION_TTL.as_secs()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn logout(s: Signed, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = s.check_post(&headers, &body) {
        return *r;
    }
    s.ui.sessions().remove(&s.id);
    let mut r = redirect("/ui/login");
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "populous_session=; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=0",
        ),
    );
    r
}

/// A request with a valid session: the caller as the API knows it.
#[derive(Debug)]
pub(crate) struct Signed {
    pub(crate) ui: Arc<Ui>,
    pub(crate) caller: Caller,
    id: String,
    csrf: String,
}

impl Signed {
    pub(crate) fn daemon(&self) -> &Arc<Daemon> {
        &self.ui.daemon
    }

    pub(crate) fn who(&self) -> Who<'_> {
        Who {
            token: self.caller.0.name.as_str(),
            csrf: &self.csrf,
        }
    }

    /// The hidden field every state-changing form carries.
    pub(crate) fn csrf_field(&self) -> String {
        format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
            attr(&self.csrf)
        )
    }

    /// Checks a POST: same origin (if said) and the session's CSRF token.
    /// Returns the form.
    pub(crate) fn check_post(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<HashMap<String, String>, Box<Response>> {
        let form = parse_form(body);
        let token_ok = form.get("csrf").is_some_and(|t| same_secret(t, &self.csrf));
        if !same_origin(headers) || !token_ok {
            tracing::warn!(token = %self.caller.0.name, "dashboard: a POST without a valid CSRF token or from another origin, refused");
            return Err(Box::new(message_page(
                self,
                StatusCode::FORBIDDEN,
                "Refused",
                "This request did not come from a dashboard form (missing or wrong CSRF token, or another origin): nothing was changed.",
            )));
        }
        Ok(form)
    }

    /// A page with the frame of a signed-in user.
    pub(crate) fn page(&self, title: &str, body: &str) -> Response {
        html_response(StatusCode::OK, page(title, Some(self.who()), body))
    }
}

impl FromRequestParts<Arc<Ui>> for Signed {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, ui: &Arc<Ui>) -> Result<Self, Response> {
        let signed_out = || login_page(StatusCode::OK, None);
        let Some(id) = session_id(&parts.headers) else {
            return Err(signed_out());
        };
        let session = {
            let mut s = ui.sessions();
            match s.get(&id) {
                Some(v) if v.expires > Instant::now() => v.clone(),
                Some(_) => {
                    s.remove(&id);
                    return Err(signed_out());
                }
                None => return Err(signed_out()),
            }
        };
        // The token's rights now: a revoked token ends the session.
        let (name, created) = (session.token.clone(), session.token_created);
        let token = ui
            .daemon
            .read(move |e| {
                Ok(e.token_list()?
                    .into_iter()
                    .find(|t| t.name == name && t.created_at == created))
            })
            .await
            .ok()
            .flatten();
        let Some(token) = token else {
            ui.sessions().remove(&id);
            return Err(signed_out());
        };
        Ok(Signed {
            ui: Arc::clone(ui),
            caller: Caller(token),
            id,
            csrf: session.csrf,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode() {
        let f = parse_form(b"token=a%2Bb+c&csrf=x%zz&empty=&k");
        assert_eq!(f["token"], "a+b c");
        assert_eq!(f["csrf"], "x%zz");
        assert_eq!(f["empty"], "");
        assert_eq!(f["k"], "");
        assert_eq!(parse_form(b"a=%4")["a"], "%4");
    }

    #[test]
    fn origins_must_be_this_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:7171"));
        assert!(
            same_origin(&h),
            "no Origin: a same-origin form in older browsers"
        );
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:7171"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
    }

    #[test]
    fn cookies_and_secrets() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; populous_session=abc; b=2"),
        );
        assert_eq!(session_id(&h).as_deref(), Some("abc"));
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("a", "ab"));
        let (a, b) = (random_hex(), random_hex());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
