//! Volume usage over the REST API: an inspect answers from the daemon's
//! cache without walking the volume, one background walk fills it (once for
//! any number of asks), it is measured again only after `usage_refresh`, and
//! a destroyed volume leaves the cache.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{api, api_config, get, setup, Pool, Server};

const DB: &str = "/v1/folders/prod/volumes/db";

/// Polls `what` until it gives `Some`; fails the test after 60 s (a hung
/// walker, not a slow one: there is no latency asserted here).
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn inspect(srv: &Server, token: &str) -> Value {
    let (s, v) = get(srv, DB, Some(token));
    assert_eq!(s, 200, "{v}");
    v
}

/// The value of a metric (no labels) in the metrics text.
fn metric(srv: &Server, name: &str) -> u64 {
    let (s, m) = get(srv, "/metrics", None);
    assert_eq!(s, 200);
    let text = m.as_str().expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// The first inspect answers `null` at once and asks for a walk; the walk
/// fills the cache; data written afterwards does not change the answer
/// until `usage_refresh` has passed, however often the volume is inspected,
/// because no inspect walks: one walk in all.
pub fn inspect_answers_from_the_cache(pool: Pool) {
    let (lab, t) = setup(pool);
    let mut config = api_config();
    config.usage_refresh = Duration::from_secs(3600);
    let srv = Server::start(&lab.home(), config);
    let tok = &t["devprod"];

    let first = inspect(&srv, tok);
    assert_eq!(
        (&first["used_bytes"], &first["used_bytes_at"]),
        (&Value::Null, &Value::Null),
        "not measured yet: {first}"
    );
    let measured = eventually("a measurement", || {
        let v = inspect(&srv, tok);
        v["used_bytes"].as_u64().map(|u| (u, v))
    });
    let (used, v) = measured;
    assert!(used > 0, "prod/db holds a file: {v}");
    assert!(v["used_bytes_at"].as_i64().is_some(), "{v}");

    let dir = std::path::PathBuf::from(v["path"].as_str().expect("path"));
    std::fs::write(dir.join("more"), vec![7u8; 4 << 20]).expect("write");
    for _ in 0..20 {
        let again = inspect(&srv, tok);
        assert_eq!(again["used_bytes"], json!(used), "answered from the cache");
        assert_eq!(again["used_bytes_at"], v["used_bytes_at"]);
    }
    assert_eq!(metric(&srv, "populous_usage_walks_total"), 1);
    assert_eq!(metric(&srv, "populous_usage_volumes"), 1);
}

/// After `usage_refresh` an inspect asks for a new walk, which sees new
/// data; a destroyed volume leaves the cache, and a new volume of the same
/// name starts unmeasured.
pub fn refresh_and_removal(pool: Pool) {
    let (lab, t) = setup(pool);
    let mut config = api_config();
    config.usage_refresh = Duration::from_millis(200);
    let srv = Server::start(&lab.home(), config);
    let tok = &t["devprod"];

    inspect(&srv, tok);
    let (before, v) = eventually("a measurement", || {
        let v = inspect(&srv, tok);
        v["used_bytes"].as_u64().map(|u| (u, v))
    });
    let dir = std::path::PathBuf::from(v["path"].as_str().expect("path"));
    std::fs::write(dir.join("more"), vec![7u8; 4 << 20]).expect("write");
    eventually("a new measurement with the new data", || {
        let u = inspect(&srv, tok)["used_bytes"].as_u64()?;
        (u >= before + (4 << 20)).then_some(())
    });
    assert!(metric(&srv, "populous_usage_walks_total") >= 2);

    let (s, v) = api(
        &srv,
        "DELETE",
        &format!("{DB}?destroy=true"),
        Some(&t["admin"]),
        Value::Null,
    );
    assert_eq!(s, 200, "{v}");
    eventually("the destroyed volume's entry to go", || {
        (metric(&srv, "populous_usage_volumes") == 0).then_some(())
    });
    let (s, v) = api(
        &srv,
        "POST",
        "/v1/folders/prod/volumes",
        Some(&t["admin"]),
        json!({"name": "db"}),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        inspect(&srv, tok)["used_bytes"],
        Value::Null,
        "a new volume"
    );
}
