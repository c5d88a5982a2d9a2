//! The local events endpoint: `POST /event` while a probe runs.
//!
//! A pipeline step marks a phase boundary with either
//! `curl -X POST 'http://127.0.0.1:PORT/event?name=update%20started'` or
//! `curl -X POST -d '{"name":"update started"}' http://127.0.0.1:PORT/event`.
//! The event is timestamped when it arrives. Answers: `200 {"recorded":NAME}`,
//! `400` for a missing/empty/overlong name or bad JSON, `404` for other
//! paths, `405` for other methods, `413` for bodies over 64 KiB. Bind it to
//! 127.0.0.1: there is no authentication.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::probe::Msg;
use crate::record::EventSource;
use crate::ProbeError;

const MAX_BODY: u64 = 64 * 1024;
const MAX_NAME: usize = 256;

/// A running events endpoint.
pub(crate) struct EventListener {
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    handle: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EventListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventListener")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl EventListener {
    pub(crate) fn start(addr: SocketAddr, tx: Sender<Msg>) -> Result<Self, ProbeError> {
        let err = |reason: String| ProbeError::EventsListen {
            addr: addr.to_string(),
            reason,
        };
        let server = tiny_http::Server::http(addr).map_err(|e| err(e.to_string()))?;
        let local = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| err("not an ip socket".into()))?;
        let server = Arc::new(server);
        let srv = Arc::clone(&server);
        let handle = std::thread::Builder::new()
            .name("probe-events".into())
            .spawn(move || {
                for req in srv.incoming_requests() {
                    handle_request(req, &tx);
                }
            })
            .map_err(ProbeError::Thread)?;
        Ok(EventListener {
            server,
            addr: local,
            handle: Some(handle),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for EventListener {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn respond(req: tiny_http::Request, code: u16, body: &serde_json::Value) {
    let header = tiny_http::Header::from_bytes("Content-Type", "application/json")
        .expect("static header is valid");
    let resp = tiny_http::Response::from_string(body.to_string())
        .with_status_code(code)
        .with_header(header);
    // The client may have gone away; nothing to do about it.
    let _ = req.respond(resp);
}

fn handle_request(mut req: tiny_http::Request, tx: &Sender<Msg>) {
    let at = Instant::now();
    let url = req.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    if path != "/event" {
        let msg = "not found: POST /event with {\"name\":\"...\"} or ?name=...";
        return respond(req, 404, &serde_json::json!({ "error": msg }));
    }
    if *req.method() != tiny_http::Method::Post {
        let msg = "method not allowed: use POST /event";
        return respond(req, 405, &serde_json::json!({ "error": msg }));
    }
    let mut name = query_param(query, "name");
    if name.is_none() {
        let mut body = Vec::new();
        if let Err(e) = req.as_reader().take(MAX_BODY + 1).read_to_end(&mut body) {
            let msg = format!("cannot read the request body: {e}");
            return respond(req, 400, &serde_json::json!({ "error": msg }));
        }
        if body.len() as u64 > MAX_BODY {
            let msg = "body too large: send at most 64 KiB";
            return respond(req, 413, &serde_json::json!({ "error": msg }));
        }
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(v) => name = v.get("name").and_then(|n| n.as_str()).map(str::to_string),
            Err(e) => {
                let msg =
                    format!("body is not json ({e}): send {{\"name\":\"...\"}} or use ?name=...");
                return respond(req, 400, &serde_json::json!({ "error": msg }));
            }
        }
    }
    let name = name.map(|n| n.trim().to_string()).unwrap_or_default();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        let msg = "the event needs a name of 1 to 256 characters: {\"name\":\"...\"} or ?name=...";
        return respond(req, 400, &serde_json::json!({ "error": msg }));
    }
    if tx
        .send(Msg::Event {
            name: name.clone(),
            source: EventSource::Http,
            at,
        })
        .is_err()
    {
        let msg = "the probe has already stopped";
        return respond(req, 409, &serde_json::json!({ "error": msg }));
    }
    respond(req, 200, &serde_json::json!({ "recorded": name }));
}

/// The decoded value of `key` in a query string.
fn query_param(query: &str, key: &str) -> Option<String> {
    // `%XX` escapes and `+` as space; invalid escapes stay as they are.
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query() {
        assert_eq!(
            query_param("a=1&name=update%20started", "name").as_deref(),
            Some("update started")
        );
        assert_eq!(query_param("name=a+b", "name").as_deref(), Some("a b"));
        assert_eq!(query_param("name=100%", "name").as_deref(), Some("100%"));
        assert_eq!(query_param("name=%4", "name").as_deref(), Some("%4"));
        assert_eq!(query_param("other=x", "name"), None);
    }
}
