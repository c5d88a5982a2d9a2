//! The REST API: tokens scope what a caller sees and may do, folder
//! policies hold even for admins, and bad requests get 4xx JSON answers.

use serde_json::{json, Value};

use crate::common::{api, api_config, clone, exchange, get, post, setup, Pool, Server};

/// Tokens see only their folders; policy binds even the admin token; the audit log says who.
pub fn tokens_scope_folders(pool: Pool) {
    let (lab, t) = setup(pool);
    let srv = Server::start(&lab.home(), api_config());
    let (dev, devprod, admin) = (
        Some(t["dev"].as_str()),
        Some(t["devprod"].as_str()),
        Some(t["admin"].as_str()),
    );

    // No token, a wrong token: 401.
    assert_eq!(get(&srv, "/v1/folders", None).0, 401);
    assert_eq!(get(&srv, "/v1/folders", Some("pop_nope")).0, 401);
    // A token sees only its folders.
    let (s, v) = get(&srv, "/v1/folders", dev);
    assert_eq!(s, 200);
    let names: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(names, ["dev"]);
    // Prod's volumes by name, by crafted name, by path traversal: nothing.
    for path in [
        "/v1/folders/prod/volumes",
        "/v1/folders/prod/volumes/db",
        "/v1/folders/prod/volumes/db/path",
        "/v1/folders/prod/volumes/db/snapshots",
    ] {
        let (s, v) = get(&srv, path, dev);
        assert_eq!(s, 404, "{path}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .expect("msg")
                .contains("cannot see"),
            "{v}"
        );
    }
    for path in [
        "/v1/folders/..%2Fprod/volumes",
        "/v1/folders/dev/volumes/..%2F..%2Fprod%2Fdb",
        "/v1/folders/dev/volumes/%2E%2E",
        "/v1/folders/dev%2F..%2Fprod/volumes/db",
    ] {
        let (s, v) = get(&srv, path, dev);
        assert!(s == 400 || s == 404, "{path}: {s} {v}");
        assert!(v.to_string().contains("error"), "{path}: {v}");
    }
    let (s, _) = clone(&srv, dev, "prod/db", "dev/x");
    assert_eq!(s, 404, "a dev-only token cannot read prod");
    // Admin-only endpoints.
    assert_eq!(get(&srv, "/v1/pools", dev).0, 403);
    assert_eq!(
        api(
            &srv,
            "POST",
            "/v1/folders",
            dev,
            json!({"pool": "p", "name": "x"})
        )
        .0,
        403
    );

    // A token covering dev and prod clones, because dev's policy allows it.
    let (s, v) = clone(&srv, devprod, "prod/db", "dev/x");
    assert_eq!(s, 201, "{v}");
    assert!(v["origin"]
        .as_str()
        .expect("origin")
        .starts_with("prod/db@auto-"));
    // ... but not into prod from dev: prod's policy allows any, the token covers both: OK;
    // stage's policy forbids cloning from prod, and the admin token does not override policy.
    let (s, v) = clone(&srv, admin, "prod/db", "stage/x");
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "policy_denied");
    // Offline is idempotent; import needs both folders in the token.
    let off = post(&srv, "/v1/folders/dev/volumes/x/offline", devprod).1;
    assert_eq!(off["changed"], true);
    let off = post(&srv, "/v1/folders/dev/volumes/x/offline", devprod).1;
    assert_eq!(off["changed"], false);
    assert_eq!(
        api(
            &srv,
            "POST",
            "/v1/folders/dev/volumes/x/import",
            devprod,
            json!({"to": "stage"})
        )
        .0,
        404
    );
    let (s, v) = api(
        &srv,
        "POST",
        "/v1/folders/dev/volumes/x/import",
        admin,
        json!({"to": "stage"}),
    );
    assert_eq!((s, v["folder"].as_str()), (200, Some("stage")), "{v}");
    // Rename stays inside the folder and needs a token that covers it.
    let rename = |tok, body: Value| {
        api(
            &srv,
            "POST",
            "/v1/folders/stage/volumes/x/rename",
            tok,
            body,
        )
    };
    assert_eq!(
        rename(dev, json!({"to": "y"})).0,
        404,
        "dev cannot see stage"
    );
    assert_eq!(rename(admin, json!({"to": "../y"})).0, 400);
    assert_eq!(rename(admin, json!({"to": "y", "force": true})).0, 400);
    let (s, v) = rename(admin, json!({"to": "golden"}));
    assert_eq!(
        (s, &v["changed"], &v["volume"]["name"]),
        (200, &json!(true), &json!("golden")),
        "{v}"
    );
    assert_eq!(v["replaced"], Value::Null, "{v}");

    // The audit log has who did what.
    let (s, v) = get(&srv, "/v1/audit", admin);
    assert_eq!(s, 200);
    let entries = v.as_array().expect("array");
    assert!(
        entries.iter().any(|e| e["actor"] == "token:devprod"
            && e["action"] == "clone"
            && e["outcome"] == "ok"),
        "{v}"
    );
    assert!(
        entries.iter().any(|e| e["actor"] == "token:admin"
            && e["outcome"]
                .as_str()
                .is_some_and(|o| o.contains("policy forbids"))),
        "{v}"
    );
}

/// The `Authorization` scheme is case-insensitive; the secret is not.
pub fn bearer_scheme_any_case(pool: Pool) {
    let (lab, t) = setup(pool);
    let srv = Server::start(&lab.home(), api_config());
    let whoami = |header: &str| {
        let mut s = std::net::TcpStream::connect(srv.api()).expect("connect");
        let req = format!(
            "GET /v1/whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: {header}\r\n\r\n"
        );
        std::io::Write::write_all(&mut s, req.as_bytes()).expect("write");
        let mut out = String::new();
        std::io::Read::read_to_string(&mut s, &mut out).expect("read");
        out
    };
    let dev = &t["dev"];
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let out = whoami(&format!("{scheme} {dev}"));
        assert!(out.starts_with("HTTP/1.1 200"), "{scheme}: {out}");
        assert!(out.contains(r#""name":"dev""#), "{scheme}: {out}");
    }
    for bad in [
        format!("Basic {dev}"),
        format!("Bearer{dev}"),
        format!("Bearer {}", dev.to_uppercase()),
        "Bearer ".to_owned(),
    ] {
        let out = whoami(&bad);
        assert!(out.starts_with("HTTP/1.1 401"), "{bad}: {out}");
        assert!(out.contains(r#""code":"unauthorized""#), "{bad}: {out}");
    }
}

/// Malformed, oversized and unknown requests: 4xx with a JSON error, counted in the metrics.
pub fn bad_requests_are_4xx_with_json(pool: Pool) {
    let (lab, t) = setup(pool);
    let srv = Server::start(&lab.home(), api_config());
    let admin = Some(t["admin"].as_str());
    let raw = |path: &str, body: &[u8]| {
        let s = std::net::TcpStream::connect(srv.api()).expect("connect");
        exchange(s, "POST", path, admin, body)
    };
    for (body, status, code) in [
        (&b"{not json"[..], 400, "invalid_json"),
        (&b"[1,2,3]"[..], 400, "invalid_json"),
        (&br#"["prod/db", "dev/y"]"#[..], 400, "invalid_json"),
        (&br#"{"source": 5}"#[..], 400, "invalid_json"),
        (
            &br#"{"source": "prod/db", "target": "dev/y", "extra": 1}"#[..],
            400,
            "invalid_json",
        ),
        (
            &br#"{"source": "prod/../db", "target": "dev/y"}"#[..],
            400,
            "invalid_input",
        ),
    ] {
        let (s, v) = raw("/v1/clone", body);
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{}: {v}",
            String::from_utf8_lossy(body)
        );
    }
    let big = format!(
        r#"{{"source": "prod/db", "target": "dev/y", "description": "{}"}}"#,
        "x".repeat(10_000)
    );
    let (s, _) = raw("/v1/clone", big.as_bytes());
    assert_eq!(s, 413);
    let (s, v) = get(&srv, "/v1/nothing-here", admin);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("unknown_endpoint"))
    );
    let (s, v) = api(&srv, "DELETE", "/v1/clone", admin, Value::Null);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (405, Some("method_not_allowed")),
        "{v}"
    );
    // Query strings that do not parse are the API's JSON errors, not plain text.
    for path in [
        "/v1/folders/dev/volumes?all=maybe",
        "/v1/audit?limit=-1",
        "/v1/audit?limit=10001",
        "/v1/folders/dev/volumes/x?destroy=2",
        "/v1/folders/dev/volumes/x/db/start?port=0",
        "/v1/folders/dev/volumes/x/db/start?port=80",
        "/v1/folders/dev/volumes/x/db/start?port=65536",
    ] {
        let method = match path {
            p if p.contains("destroy") => "DELETE",
            p if p.contains("db/start") => "POST",
            _ => "GET",
        };
        let (s, v) = api(&srv, method, path, admin, Value::Null);
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (400, Some("invalid_input")),
            "{method} {path}: {v}"
        );
    }
    assert_eq!(get(&srv, "/v1/audit?limit=0", admin).1, json!([]));
    // Pool bodies are checked before the engine sees them: clear 4xx, not I/O failures.
    for (body, status) in [
        (json!({"name": "q", "path": "relative/dir"}), 400),
        (json!({"name": "q", "path": "/nonexistent/populous"}), 404),
        (json!({"name": "q", "path": "/tmp", "size": "8G"}), 400),
        (json!({"name": "q", "image": "/tmp/q.img"}), 400),
        (json!({"name": "q", "image": "q.img", "size": "8G"}), 400),
    ] {
        let (s, v) = api(&srv, "POST", "/v1/pools", admin, body.clone());
        assert_eq!(s, status, "{body}: {v}");
        assert!(v["error"]["code"].is_string(), "{body}: {v}");
    }
    // Path segments that are not UTF-8 once decoded: JSON too.
    let (s, v) = get(&srv, "/v1/folders/%FF/volumes", admin);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_input")),
        "{v}"
    );
    // The daemon is still healthy, and counted all of it.
    assert_eq!(get(&srv, "/healthz", None).0, 200);
    let (s, m) = get(&srv, "/metrics", None);
    assert_eq!(s, 200);
    let m = m.as_str().expect("text");
    assert!(
        m.contains(r#"populous_requests_total{surface="api",route="/v1/clone",status="400"} 6"#),
        "{m}"
    );
    let (s, doc) = get(&srv, "/v1/openapi.json", None);
    assert_eq!(s, 200);
    assert!(doc["paths"]["/v1/clone"]["post"].is_object());
}
