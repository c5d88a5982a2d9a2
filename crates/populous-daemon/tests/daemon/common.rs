//! The fixtures every daemon test shares: a daemon in a thread, raw HTTP
//! over TCP and unix sockets, and a home with one pool, three folders and
//! three tokens, on whichever kind of pool the test asks for.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use populous_daemon::config::PluginConfig;
use populous_daemon::{Config, Daemon};
use populous_engine::{
    Allowed, BackendKind, Engine, FolderPolicy, FsKind, Name, Scope, VolumeOptions,
};
use populous_testkit::Lab;
use serde_json::Value;

/// What the test home's pool `p` lives on.
#[derive(Debug, Clone, Copy)]
pub enum Pool {
    /// A copy-backend pool on a plain directory in `TMPDIR`: no root, no mount.
    Copy,
    /// A btrfs image pool that the engine formats and loop-mounts: root.
    Btrfs,
}

impl Pool {
    /// A scratch directory suited to the pool: `TMPDIR` when nothing is mounted.
    pub fn lab(self) -> Lab {
        match self {
            Pool::Copy => Lab::in_temp_dir(),
            Pool::Btrfs => Lab::new(),
        }
    }

    /// Creates pool `p` in the lab's home.
    pub fn create(self, e: &mut Engine, lab: &Lab) {
        match self {
            Pool::Copy => {
                let dir = lab.path().join("pool");
                std::fs::create_dir(&dir).expect("pool directory");
                e.pool_adopt(&n("p"), &dir, Some(BackendKind::Copy))
                    .expect("copy pool");
            }
            Pool::Btrfs => {
                let image = lab.path().join("p.img");
                e.pool_create_image(&n("p"), &image, 512 << 20, FsKind::Btrfs, None)
                    .expect("btrfs image pool");
            }
        }
    }
}

/// A daemon running in a thread; stopped (gracefully) on drop.
pub struct Server {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    api: Option<SocketAddr>,
    pub sockets: Vec<PathBuf>,
}

impl Server {
    pub fn start(home: &Path, config: Config) -> Server {
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

    pub fn api(&self) -> SocketAddr {
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

pub fn exchange(
    s: impl Read + Write,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, Value) {
    let a = populous_daemon::client::exchange(s, method, path, token, body).expect("HTTP exchange");
    (a.status, a.body)
}

/// One REST call; a `Value::Null` body sends no body.
pub fn api(
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

/// `POST path` without a body.
pub fn post(srv: &Server, path: &str, token: Option<&str>) -> (u16, Value) {
    api(srv, "POST", path, token, Value::Null)
}

/// `GET path`.
pub fn get(srv: &Server, path: &str, token: Option<&str>) -> (u16, Value) {
    api(srv, "GET", path, token, Value::Null)
}

/// `POST /v1/clone` of `source` to `target`.
pub fn clone(srv: &Server, token: Option<&str>, source: &str, target: &str) -> (u16, Value) {
    let body = serde_json::json!({"source": source, "target": target});
    api(srv, "POST", "/v1/clone", token, body)
}

/// One plugin request with a raw body.
pub fn plug(sock: &Path, method: &str, body: &[u8]) -> (u16, Value) {
    let s = UnixStream::connect(sock).expect("connect plugin socket");
    exchange(s, "POST", &format!("/{method}"), None, body)
}

/// One plugin request that must answer 200.
pub fn call(sock: &Path, method: &str, body: Value) -> Value {
    let (status, v) = plug(sock, method, body.to_string().as_bytes());
    assert_eq!(status, 200, "{method}: {v}");
    v
}

/// One plugin request about volume `name` that must answer 200.
pub fn named(sock: &Path, method: &str, name: &str) -> Value {
    call(sock, method, serde_json::json!({ "Name": name }))
}

/// The `Err` text of a plugin answer (which must have one).
pub fn err_text(v: &Value) -> &str {
    v["Err"].as_str().expect("Err")
}

pub fn n(s: &str) -> Name {
    Name::new("test", s).expect("valid")
}

/// A lab whose home has pool p (on `pool`), folders prod/dev/stage (dev clones
/// from prod, stage imports from dev), prod/db holding a file, and tokens:
/// admin, dev (dev:write), devprod (dev:write, prod:read).
pub fn setup(pool: Pool) -> (Lab, BTreeMap<&'static str, String>) {
    let lab = pool.lab();
    let mut e = Engine::open(&lab.home()).expect("engine");
    pool.create(&mut e, &lab);
    let pol = |clone: &str, import: &str| FolderPolicy {
        clone_from: Allowed::Only(vec![n(clone)]),
        import_from: Allowed::Only(vec![n(import)]),
        require_masked: false,
    };
    for (folder, policy) in [
        ("p/prod", FolderPolicy::open()),
        ("p/dev", pol("prod", "prod")),
        ("p/stage", pol("stage", "dev")),
    ] {
        e.folder_create(&folder.parse().expect("ref"), &policy)
            .expect(folder);
    }
    let db = "prod/db".parse().expect("ref");
    e.volume_create(&db, &VolumeOptions::default()).expect("db");
    let p = e.volume_path(&db).expect("path");
    std::fs::write(p.join("hello"), "prod data").expect("write");
    let mut tokens = BTreeMap::new();
    let admin = e.token_create_admin(&n("admin")).expect("token").1;
    tokens.insert("admin", admin);
    for (name, grants) in [
        ("dev", &[("dev", Scope::Write)][..]),
        (
            "devprod",
            &[("dev", Scope::Write), ("prod", Scope::Read)][..],
        ),
    ] {
        let grants: Vec<(Name, Scope)> = grants.iter().map(|(f, s)| (n(f), *s)).collect();
        let secret = e.token_create(&n(name), &grants).expect("token").1;
        tokens.insert(name, secret);
    }
    (lab, tokens)
}

pub fn api_config() -> Config {
    Config {
        listen: "127.0.0.1:0".into(),
        max_body_bytes: 4096,
        ..Config::default()
    }
}

pub fn plugin_config(
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

/// Two drivers on dev with suffix `.dev`: `pd` with the devprod token, `pd-notoken` without.
pub fn plugins_config(lab: &Lab, t: &BTreeMap<&str, String>) -> Config {
    Config {
        listen: String::new(),
        plugin_dir: lab.path().join("plugins"),
        max_body_bytes: 4096,
        plugins: vec![
            plugin_config(lab, "pd", "dev", ".dev", Some(&t["devprod"])),
            plugin_config(lab, "pd-notoken", "dev", ".dev", None),
        ],
        ..Config::default()
    }
}
