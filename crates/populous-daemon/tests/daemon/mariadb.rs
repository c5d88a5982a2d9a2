//! MariaDB through the REST API: start a server on a volume, snapshot it
//! application-consistently, and stop it; a running server holds its volume.

use serde_json::{json, Value};

use crate::common::{api, api_config, clone, get, post, setup, Pool, Server};

/// A datadir-less clone is refused; a fresh volume starts, snapshots (app-consistent) and stops.
pub fn db_start_snapshot_stop(pool: Pool) {
    let (lab, t) = setup(pool);
    let srv = Server::start(&lab.home(), api_config());
    let (dev, devprod) = (Some(t["dev"].as_str()), Some(t["devprod"].as_str()));
    // A clone of prod/db holds a plain file, not a datadir: refused, with the reason.
    let (s, v) = clone(&srv, devprod, "prod/db", "dev/c");
    assert_eq!(s, 201, "{v}");
    let (s, v) = post(&srv, "/v1/folders/dev/volumes/c/db/start", dev);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("wrong_state")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("not a MariaDB datadir"),
        "{v}"
    );
    let (s, v) = api(
        &srv,
        "POST",
        "/v1/folders/dev/volumes",
        dev,
        json!({"name": "d"}),
    );
    assert_eq!(s, 201, "{v}");
    let (s, v) = post(&srv, "/v1/folders/dev/volumes/d/db/start", dev);
    assert_eq!((s, v["changed"].as_bool()), (200, Some(true)), "{v}");
    let stop = |srv: &Server| post(srv, "/v1/folders/dev/volumes/d/db/stop", dev);
    // Whatever happens next, the server is stopped at the end of the test.
    struct StopOnDrop<'a>(&'a Server, &'a dyn Fn(&Server) -> (u16, Value));
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            let _ = (self.1)(self.0);
        }
    }
    let _guard = StopOnDrop(&srv, &stop);
    let (s, v) = post(&srv, "/v1/folders/dev/volumes/d/db/start", dev);
    assert_eq!((s, v["changed"].as_bool()), (200, Some(false)), "{v}");
    assert!(v["url"]
        .as_str()
        .expect("url")
        .starts_with("mysql://root@127.0.0.1:"));
    let (_, list) = get(&srv, "/v1/db", dev);
    assert_eq!(list[0]["volume"], "dev/d", "{list}");
    assert_eq!(list[0]["running"], true);
    let (s, snap) = api(
        &srv,
        "POST",
        "/v1/folders/dev/volumes/d/snapshots",
        dev,
        json!({"name": "s1"}),
    );
    assert_eq!(
        (s, snap["consistency"].as_str()),
        (201, Some("app")),
        "{snap}"
    );
    // The running server holds its volume.
    let (s, v) = post(&srv, "/v1/folders/dev/volumes/d/offline", dev);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("wrong_state")),
        "{v}"
    );
    // Prod's token-less view: a dev token cannot start prod's database.
    assert_eq!(
        post(&srv, "/v1/folders/prod/volumes/db/db/start", dev).0,
        404
    );
    let (s, v) = stop(&srv);
    assert_eq!((s, v["changed"].as_bool()), (200, Some(true)), "{v}");
    let (s, v) = post(&srv, "/v1/folders/dev/volumes/d/offline", dev);
    assert_eq!((s, v["changed"].as_bool()), (200, Some(true)), "{v}");
}
