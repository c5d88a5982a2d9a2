//! The daemon over real sockets: the REST API over TCP and the Docker plugin
//! protocol over a unix socket, spoken as raw HTTP/1.1 the way dockerd does,
//! on a real image pool. Tests needing root and loop devices are `loopdev::…`.

// Helpers take `json!` literals by value: clearer call sites in tests.
#![allow(clippy::needless_pass_by_value)]

mod loopdev {
    use std::collections::BTreeMap;
    use std::io::{Read, Write};
    use std::net::SocketAddr;
    use std::os::unix::net::UnixStream;
    use std::path::{Path, PathBuf};
    use std::sync::mpsc;

    use populous_daemon::config::PluginConfig;
    use populous_daemon::{Config, Daemon};
    use populous_engine::{Engine, FolderPolicy, FsKind, Name, VolumeOptions};
    use populous_testkit::Lab;
    use serde_json::{json, Value};

    /// A daemon running in a thread; stopped (gracefully) on drop.
    struct Server {
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        thread: Option<std::thread::JoinHandle<()>>,
        api: Option<SocketAddr>,
        sockets: Vec<PathBuf>,
    }

    impl Server {
        fn start(home: &Path, config: Config) -> Server {
            let (tx, rx) = mpsc::channel();
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let home = home.to_owned();
            let thread = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let daemon = Daemon::open(&home).expect("open daemon");
                    let shutdown = async move {
                        let _ = stop_rx.await;
                    };
                    let tx2 = tx.clone();
                    if let Err(e) = populous_daemon::serve(daemon, config, shutdown, move |b| {
                        let _ = tx2.send(Ok((b.api_addr, b.sockets.clone())));
                    })
                    .await
                    {
                        let _ = tx.send(Err(e.to_string()));
                    }
                });
            });
            let (api, sockets) = rx.recv().expect("server thread").expect("server started");
            Server {
                stop: Some(stop_tx),
                thread: Some(thread),
                api,
                sockets,
            }
        }

        fn api(&self) -> SocketAddr {
            self.api.expect("api enabled")
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            if let Some(s) = self.stop.take() {
                let _ = s.send(());
            }
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn exchange(
        s: impl Read + Write,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> (u16, Value) {
        let a =
            populous_daemon::client::exchange(s, method, path, token, body).expect("HTTP exchange");
        (a.status, a.body)
    }

    fn api(
        srv: &Server,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let s = std::net::TcpStream::connect(srv.api()).expect("connect api");
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        exchange(s, method, path, token, &bytes)
    }

    fn plug(sock: &Path, method: &str, body: &[u8]) -> (u16, Value) {
        let s = UnixStream::connect(sock).expect("connect plugin socket");
        exchange(s, "POST", &format!("/{method}"), None, body)
    }

    fn call(sock: &Path, method: &str, body: Value) -> Value {
        let (status, v) = plug(sock, method, body.to_string().as_bytes());
        assert_eq!(status, 200, "{method}: {v}");
        v
    }

    fn n(s: &str) -> Name {
        Name::new("test", s).expect("valid")
    }

    /// A home with pool p, folders prod/dev/stage (dev clones from prod, stage imports from dev),
    /// prod/db holding a file, and tokens: admin, dev (dev), devprod (dev+prod).
    fn setup(lab: &Lab) -> BTreeMap<&'static str, String> {
        let mut e = Engine::open(&lab.home()).expect("engine");
        e.pool_create_image(
            &n("p"),
            &lab.path().join("p.img"),
            512 << 20,
            FsKind::Btrfs,
            None,
        )
        .expect("pool");
        let pol = |clone: Option<&str>, import: Option<&str>| FolderPolicy {
            clone_from: clone.map(|c| vec![n(c)]),
            import_from: import.map(|c| vec![n(c)]),
            require_masked: false,
        };
        e.folder_create(&"p/prod".parse().expect("ref"), &FolderPolicy::default())
            .expect("prod");
        e.folder_create(
            &"p/dev".parse().expect("ref"),
            &pol(Some("prod"), Some("prod")),
        )
        .expect("dev");
        e.folder_create(
            &"p/stage".parse().expect("ref"),
            &pol(Some("stage"), Some("dev")),
        )
        .expect("stage");
        e.volume_create(&"prod/db".parse().expect("ref"), &VolumeOptions::default())
            .expect("db");
        let p = e
            .volume_path(&"prod/db".parse().expect("ref"))
            .expect("path");
        std::fs::write(p.join("hello"), "prod data").expect("write");
        let mut tokens = BTreeMap::new();
        tokens.insert(
            "admin",
            e.token_create(&n("admin"), &[], true).expect("token").1,
        );
        tokens.insert(
            "dev",
            e.token_create(&n("dev"), &[n("dev")], false)
                .expect("token")
                .1,
        );
        tokens.insert(
            "devprod",
            e.token_create(&n("devprod"), &[n("dev"), n("prod")], false)
                .expect("token")
                .1,
        );
        tokens
    }

    fn api_config() -> Config {
        Config {
            listen: "127.0.0.1:0".into(),
            max_body_bytes: 4096,
            ..Config::default()
        }
    }

    #[test]
    fn api_tokens_scope_folders() {
        let lab = Lab::new();
        let t = setup(&lab);
        let srv = Server::start(&lab.home(), api_config());
        let (dev, devprod, admin) = (
            Some(t["dev"].as_str()),
            Some(t["devprod"].as_str()),
            Some(t["admin"].as_str()),
        );

        // No token, a wrong token: 401.
        assert_eq!(api(&srv, "GET", "/v1/folders", None, Value::Null).0, 401);
        assert_eq!(
            api(&srv, "GET", "/v1/folders", Some("pop_nope"), Value::Null).0,
            401
        );
        // A token sees only its folders.
        let (s, v) = api(&srv, "GET", "/v1/folders", dev, Value::Null);
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
            let (s, v) = api(&srv, "GET", path, dev, Value::Null);
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
            let (s, v) = api(&srv, "GET", path, dev, Value::Null);
            assert!(s == 400 || s == 404, "{path}: {s} {v}");
            assert!(v.to_string().contains("error"), "{path}: {v}");
        }
        let (s, _) = api(
            &srv,
            "POST",
            "/v1/clone",
            dev,
            json!({"source": "prod/db", "target": "dev/x"}),
        );
        assert_eq!(s, 404, "a dev-only token cannot read prod");
        // Admin-only endpoints.
        assert_eq!(api(&srv, "GET", "/v1/pools", dev, Value::Null).0, 403);
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
        let (s, v) = api(
            &srv,
            "POST",
            "/v1/clone",
            devprod,
            json!({"source": "prod/db", "target": "dev/x"}),
        );
        assert_eq!(s, 201, "{v}");
        assert!(v["origin"]
            .as_str()
            .expect("origin")
            .starts_with("prod/db@auto-"));
        // ... but not into prod from dev: prod's policy allows any, the token covers both: OK;
        // stage's policy forbids cloning from prod, and the admin token does not override policy.
        let (s, v) = api(
            &srv,
            "POST",
            "/v1/clone",
            admin,
            json!({"source": "prod/db", "target": "stage/x"}),
        );
        assert_eq!(s, 403, "{v}");
        assert_eq!(v["error"]["code"], "policy_denied");
        // Offline is idempotent; import needs both folders in the token.
        let off = api(
            &srv,
            "POST",
            "/v1/folders/dev/volumes/x/offline",
            devprod,
            Value::Null,
        )
        .1;
        assert_eq!(off["changed"], true);
        let off = api(
            &srv,
            "POST",
            "/v1/folders/dev/volumes/x/offline",
            devprod,
            Value::Null,
        )
        .1;
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
        let (s, v) = api(&srv, "GET", "/v1/audit", admin, Value::Null);
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

    #[test]
    fn api_bad_requests_are_4xx_with_json() {
        let lab = Lab::new();
        let t = setup(&lab);
        let srv = Server::start(&lab.home(), api_config());
        let admin = Some(t["admin"].as_str());
        let raw = |path: &str, body: &[u8]| {
            let s = std::net::TcpStream::connect(srv.api()).expect("connect");
            exchange(s, "POST", path, admin, body)
        };
        for (body, status, code) in [
            (&b"{not json"[..], 400, "invalid_json"),
            (&b"[1,2,3]"[..], 400, "invalid_json"),
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
        let (s, v) = api(&srv, "GET", "/v1/nothing-here", admin, Value::Null);
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (404, Some("unknown_endpoint"))
        );
        assert_eq!(api(&srv, "DELETE", "/v1/clone", admin, Value::Null).0, 405);
        // The daemon is still healthy, and counted all of it.
        assert_eq!(api(&srv, "GET", "/healthz", None, Value::Null).0, 200);
        let (s, m) = api(&srv, "GET", "/metrics", None, Value::Null);
        assert_eq!(s, 200);
        let m = m.as_str().expect("text");
        assert!(
            m.contains(
                r#"populous_requests_total{surface="api",route="/v1/clone",status="400"} 5"#
            ),
            "{m}"
        );
        let (s, doc) = api(&srv, "GET", "/v1/openapi.json", None, Value::Null);
        assert_eq!(s, 200);
        assert!(doc["paths"]["/v1/clone"]["post"].is_object());
    }

    #[test]
    fn api_db_start_snapshot_stop() {
        let lab = Lab::new();
        let t = setup(&lab);
        let srv = Server::start(&lab.home(), api_config());
        let (dev, devprod) = (Some(t["dev"].as_str()), Some(t["devprod"].as_str()));
        // A clone of prod/db holds a plain file, not a datadir: refused, with the reason.
        let (s, v) = api(
            &srv,
            "POST",
            "/v1/clone",
            devprod,
            json!({"source": "prod/db", "target": "dev/c"}),
        );
        assert_eq!(s, 201, "{v}");
        let (s, v) = api(
            &srv,
            "POST",
            "/v1/folders/dev/volumes/c/db/start",
            dev,
            Value::Null,
        );
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
        let (s, v) = api(
            &srv,
            "POST",
            "/v1/folders/dev/volumes/d/db/start",
            dev,
            Value::Null,
        );
        assert_eq!((s, v["changed"].as_bool()), (200, Some(true)), "{v}");
        let stop = |srv: &Server| {
            api(
                srv,
                "POST",
                "/v1/folders/dev/volumes/d/db/stop",
                dev,
                Value::Null,
            )
        };
        // Whatever happens next, the server is stopped at the end of the test.
        struct StopOnDrop<'a>(&'a Server, &'a dyn Fn(&Server) -> (u16, Value));
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                let _ = (self.1)(self.0);
            }
        }
        let _guard = StopOnDrop(&srv, &stop);
        let (s, v) = api(
            &srv,
            "POST",
            "/v1/folders/dev/volumes/d/db/start",
            dev,
            Value::Null,
        );
        assert_eq!((s, v["changed"].as_bool()), (200, Some(false)), "{v}");
        assert!(v["url"]
            .as_str()
            .expect("url")
            .starts_with("mysql://root@127.0.0.1:"));
        let (_, list) = api(&srv, "GET", "/v1/db", dev, Value::Null);
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
        let (s, v) = api(
            &srv,
            "POST",
            "/v1/folders/dev/volumes/d/offline",
            dev,
            Value::Null,
        );
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("wrong_state")),
            "{v}"
        );
        // Prod's token-less view: a dev token cannot start prod's database.
        assert_eq!(
            api(
                &srv,
                "POST",
                "/v1/folders/prod/volumes/db/db/start",
                dev,
                Value::Null
            )
            .0,
            404
        );
        let (s, v) = stop(&srv);
        assert_eq!((s, v["changed"].as_bool()), (200, Some(true)), "{v}");
        let (s, v) = api(
            &srv,
            "POST",
            "/v1/folders/dev/volumes/d/offline",
            dev,
            Value::Null,
        );
        assert_eq!((s, v["changed"].as_bool()), (200, Some(true)), "{v}");
    }

    fn plugin_config(
        lab: &Lab,
        driver: &str,
        folder: &str,
        suffix: &str,
        token: Option<&str>,
    ) -> PluginConfig {
        let token_file = token.map(|t| {
            let f = lab.path().join(format!("{driver}.token"));
            std::fs::write(&f, t).expect("token file");
            f
        });
        PluginConfig {
            driver: driver.into(),
            folder: folder.into(),
            name_suffix: suffix.into(),
            token_file,
            defaults: BTreeMap::new(),
            overrides: BTreeMap::new(),
        }
    }

    fn plugins_config(lab: &Lab, t: &BTreeMap<&str, String>) -> Config {
        Config {
            listen: String::new(),
            plugin_dir: lab.path().join("plugins"),
            max_body_bytes: 4096,
            plugins: vec![
                plugin_config(lab, "pd", "dev", ".dev", Some(&t["devprod"])),
                plugin_config(lab, "pd-notoken", "dev", ".dev", None),
            ],
        }
    }

    #[test]
    fn plugin_protocol_every_endpoint() {
        let lab = Lab::new();
        let t = setup(&lab);
        let srv = Server::start(&lab.home(), plugins_config(&lab, &t));
        let sock = srv.sockets[0].clone();
        let other = srv.sockets[1].clone();

        assert_eq!(
            call(&sock, "Plugin.Activate", Value::Null)["Implements"][0],
            "VolumeDriver"
        );
        assert_eq!(
            plug(&sock, "Plugin.Activate", b"").0,
            200,
            "an empty body is fine"
        );
        assert_eq!(
            call(&sock, "VolumeDriver.Capabilities", json!({}))["Capabilities"]["Scope"],
            "local"
        );
        assert_eq!(
            call(&sock, "VolumeDriver.List", json!({}))["Volumes"],
            json!([])
        );

        // Create: empty, clone across folders (policy + token), help, refusals.
        assert_eq!(
            call(&sock, "VolumeDriver.Create", json!({"Name": "a.dev"}))["Err"],
            ""
        );
        let v = call(
            &sock,
            "VolumeDriver.Create",
            json!({"Name": "c.dev", "Opts": {"importVolAsClone": "prod/db", "destroyOnRm": "true"}}),
        );
        assert_eq!(v["Err"], "", "{v}");
        for (opts, needle) in [
            (json!({"help": ""}), "Populous volume options"),
            (json!({"perfPolicy": "x"}), "not supported"),
            (json!({"bogus": "1"}), "unknown option"),
            (
                json!({"importVolAsClone": "stage/x"}),
                "may not read folder stage",
            ),
            (json!({"folder": "prod"}), "locked to folder dev"),
            (json!({"cloneOf": "nope.dev"}), "does not exist"),
        ] {
            let v = call(
                &sock,
                "VolumeDriver.Create",
                json!({"Name": "z.dev", "Opts": opts}),
            );
            assert!(
                v["Err"].as_str().expect("Err").contains(needle),
                "{opts}: {v}"
            );
        }
        let v = call(&sock, "VolumeDriver.Create", json!({"Name": "nosuffix"}));
        assert!(
            v["Err"]
                .as_str()
                .expect("Err")
                .contains("must end in \".dev\""),
            "{v}"
        );
        let v = call(&sock, "VolumeDriver.Create", json!({"Name": "../x.dev"}));
        assert!(
            v["Err"]
                .as_str()
                .expect("Err")
                .contains("invalid volume name"),
            "{v}"
        );
        // Without a token, the same driver config cannot read prod.
        let v = call(
            &other,
            "VolumeDriver.Create",
            json!({"Name": "c2.dev", "Opts": {"importVolAsClone": "prod/db"}}),
        );
        assert!(
            v["Err"]
                .as_str()
                .expect("Err")
                .contains("may not read folder prod"),
            "{v}"
        );
        // Create of an existing name is reuse.
        assert_eq!(
            call(&sock, "VolumeDriver.Create", json!({"Name": "c.dev"}))["Err"],
            ""
        );

        // Get, List, Path.
        let g = call(&sock, "VolumeDriver.Get", json!({"Name": "c.dev"}));
        assert_eq!(g["Volume"]["Status"]["folder"], "dev");
        assert!(g["Volume"]["Status"]["origin"]
            .as_str()
            .expect("origin")
            .starts_with("prod/db@"));
        let mp = PathBuf::from(g["Volume"]["Mountpoint"].as_str().expect("mountpoint"));
        assert_eq!(
            std::fs::read_to_string(mp.join("hello")).expect("cloned data"),
            "prod data"
        );
        let names: Vec<String> = call(&sock, "VolumeDriver.List", json!({}))["Volumes"]
            .as_array()
            .expect("array")
            .iter()
            .map(|v| v["Name"].as_str().expect("name").to_owned())
            .collect();
        assert_eq!(names, ["a.dev", "c.dev"]);
        assert_eq!(
            call(&sock, "VolumeDriver.Path", json!({"Name": "c.dev"}))["Mountpoint"],
            g["Volume"]["Mountpoint"]
        );

        // Mount counting per ID: the volume stays busy until the last unmount.
        for id in ["ctr1", "ctr2", "ctr1"] {
            let m = call(
                &sock,
                "VolumeDriver.Mount",
                json!({"Name": "c.dev", "ID": id}),
            );
            assert_eq!(m["Mountpoint"], g["Volume"]["Mountpoint"]);
        }
        assert_eq!(
            call(&sock, "VolumeDriver.Get", json!({"Name": "c.dev"}))["Volume"]["Status"]["mounts"],
            2
        );
        let r = call(&sock, "VolumeDriver.Remove", json!({"Name": "c.dev"}));
        assert!(r["Err"].as_str().expect("Err").contains("mounted"), "{r}");
        call(
            &sock,
            "VolumeDriver.Unmount",
            json!({"Name": "c.dev", "ID": "ctr1"}),
        );
        assert_eq!(
            call(&sock, "VolumeDriver.Get", json!({"Name": "c.dev"}))["Volume"]["Status"]["mounts"],
            1
        );
        call(
            &sock,
            "VolumeDriver.Unmount",
            json!({"Name": "c.dev", "ID": "ctr2"}),
        );

        // Remove: offline by default (kept, invisible), destroyed with destroyOnRm.
        assert_eq!(
            call(&sock, "VolumeDriver.Remove", json!({"Name": "a.dev"}))["Err"],
            ""
        );
        let g = call(&sock, "VolumeDriver.Get", json!({"Name": "a.dev"}));
        assert!(
            g["Err"].as_str().expect("Err").contains("no such volume"),
            "{g}"
        );
        let e = Engine::open(&lab.home()).expect("engine");
        assert_eq!(
            e.volume_inspect(&"dev/a".parse().expect("ref"))
                .expect("kept")
                .state,
            populous_engine::VolumeState::Offline
        );
        assert_eq!(
            call(&sock, "VolumeDriver.Remove", json!({"Name": "c.dev"}))["Err"],
            ""
        );
        assert!(
            e.volume_inspect(&"dev/c".parse().expect("ref")).is_err(),
            "destroyOnRm destroyed it"
        );
        assert_eq!(
            call(&sock, "VolumeDriver.Remove", json!({"Name": "c.dev"}))["Err"],
            "",
            "removing twice is fine"
        );
        // Create of an offline name brings it back.
        assert_eq!(
            call(&sock, "VolumeDriver.Create", json!({"Name": "a.dev"}))["Err"],
            ""
        );
        assert_eq!(
            call(&sock, "VolumeDriver.Get", json!({"Name": "a.dev"}))["Err"],
            ""
        );

        // Protocol errors: 4xx with Err, never a crash.
        let (s, v) = plug(&sock, "VolumeDriver.Create", b"{\"Name\": ");
        assert_eq!(s, 400);
        assert!(v["Err"].as_str().expect("Err").contains("malformed"), "{v}");
        assert_eq!(plug(&sock, "VolumeDriver.Mount", b"[]").0, 400);
        assert_eq!(plug(&sock, "VolumeDriver.Nope", b"{}").0, 404);
        assert_eq!(
            plug(&sock, "VolumeDriver.Create", &vec![b' '; 10_000]).0,
            413
        );
        assert_eq!(
            call(&sock, "Plugin.Activate", json!({}))["Implements"][0],
            "VolumeDriver"
        );
    }

    #[test]
    fn plugin_mounts_survive_a_restart() {
        let lab = Lab::new();
        let t = setup(&lab);
        let cfg = plugins_config(&lab, &t);
        let srv = Server::start(&lab.home(), cfg.clone());
        let sock = srv.sockets[0].clone();
        call(
            &sock,
            "VolumeDriver.Create",
            json!({"Name": "m.dev", "Opts": {"cloneOf": "nothing.dev"}}),
        );
        assert_eq!(
            call(&sock, "VolumeDriver.Create", json!({"Name": "m.dev"}))["Err"],
            ""
        );
        call(
            &sock,
            "VolumeDriver.Mount",
            json!({"Name": "m.dev", "ID": "running-container"}),
        );
        drop(srv);
        assert!(!sock.exists(), "a clean stop removes the socket");
        let srv = Server::start(&lab.home(), cfg);
        let sock = srv.sockets[0].clone();
        let g = call(&sock, "VolumeDriver.Get", json!({"Name": "m.dev"}));
        assert_eq!(g["Volume"]["Status"]["mounts"], 1, "{g}");
        assert!(
            call(&sock, "VolumeDriver.Remove", json!({"Name": "m.dev"}))["Err"]
                .as_str()
                .expect("Err")
                .contains("mounted")
        );
        call(
            &sock,
            "VolumeDriver.Unmount",
            json!({"Name": "m.dev", "ID": "running-container"}),
        );
        assert_eq!(
            call(&sock, "VolumeDriver.Remove", json!({"Name": "m.dev"}))["Err"],
            ""
        );
    }

    /// Whatever the body, every endpoint answers (no 5xx, no dropped connection).
    #[test]
    fn plugin_never_fails_on_garbage() {
        use proptest::prelude::*;
        let lab = Lab::new();
        let t = setup(&lab);
        let srv = Server::start(&lab.home(), plugins_config(&lab, &t));
        let sock = srv.sockets[0].clone();
        let eps = [
            "Plugin.Activate",
            "VolumeDriver.Create",
            "VolumeDriver.Remove",
            "VolumeDriver.Mount",
            "VolumeDriver.Unmount",
            "VolumeDriver.Path",
            "VolumeDriver.Get",
            "VolumeDriver.List",
        ];
        // Random bytes, and JSON-looking bodies with random names and options.
        let garbage = proptest::collection::vec(any::<u8>(), 0..300);
        let jsonish = ("\\PC{0,40}", "\\PC{0,20}", "\\PC{0,20}").prop_map(|(name, k, v)| {
            json!({"Name": name, "ID": k, "Opts": {k: v}})
                .to_string()
                .into_bytes()
        });
        let bodies = prop_oneof![garbage, jsonish];
        let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
            cases: 200,
            ..Default::default()
        });
        runner
            .run(&(bodies, 0usize..eps.len()), |(body, which)| {
                let (s, _) = plug(&sock, eps[which], &body);
                prop_assert!(
                    s < 500,
                    "status {} for {:?}",
                    s,
                    String::from_utf8_lossy(&body)
                );
                Ok(())
            })
            .expect("no request makes the plugin fail");
        // Still serving normally afterwards.
        assert_eq!(
            call(&sock, "Plugin.Activate", json!({}))["Implements"][0],
            "VolumeDriver"
        );
    }
}
