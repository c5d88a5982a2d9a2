//! Escape attempts: every operation on REST and on the plugin sockets, with
//! every credential the demo and the docs set up, against every folder it
//! must not reach. Each attempt must be refused, and a refusal must leave the
//! metadata store (all but the audit log, which records the attempt) and
//! every file of the home and the pool exactly as they were.
//!
//! The home is the demo's: prod (takes nothing), golden (clones prod), dev
//! (clones masked data from golden), stage (imports masked data from dev);
//! tokens prod, golden (golden, reads prod), dev (dev, reads golden), stage
//! (stage and dev: it moves dev's volumes), and the docs' `dev-plugin`
//! (dev, reads prod); a Docker driver per folder with its token. A fifth
//! folder, qa, takes anything from anyone (`*`) and its token reads prod and
//! dev: there only the token's scope stands between qa and the others' data.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use populous_engine::{
    Allowed, CloneSource, Consistency, Engine, FolderPolicy, MaskScan, Scope, SnapRef, VolRef,
    VolumeOptions,
};
use populous_testkit::Lab;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::{api, n, plug, plugin_config, Pool, Server};

const FOLDERS: [&str; 5] = ["prod", "golden", "dev", "stage", "qa"];

/// Who may do what, as set up: folder -> scope, per credential.
type Grants = BTreeMap<&'static str, Scope>;

struct Home {
    lab: Lab,
    /// Token name -> (secret, grants).
    tokens: BTreeMap<&'static str, (String, Grants)>,
}

fn r(s: &str) -> VolRef {
    s.parse().expect("volume ref")
}

/// The demo's home: folders, volumes in every state, snapshots, tokens.
fn demo_home(pool: Pool) -> Home {
    let lab = pool.lab();
    let mut e = Engine::open(&lab.home()).expect("engine");
    pool.create(&mut e, &lab);
    let only = |f: &str| Allowed::Only(vec![n(f)]);
    for (folder, policy) in [
        ("prod", FolderPolicy::default()),
        (
            "golden",
            FolderPolicy {
                clone_from: only("prod"),
                ..FolderPolicy::default()
            },
        ),
        (
            "dev",
            FolderPolicy {
                clone_from: only("golden"),
                require_masked: true,
                ..FolderPolicy::default()
            },
        ),
        (
            "stage",
            FolderPolicy {
                import_from: only("dev"),
                require_masked: true,
                ..FolderPolicy::default()
            },
        ),
        ("qa", FolderPolicy::open()),
    ] {
        e.folder_create(&format!("p/{folder}").parse().expect("ref"), &policy)
            .expect("folder");
    }
    let opts = VolumeOptions::default();
    e.volume_create(&r("prod/db"), &opts).expect("prod/db");
    let p = e.volume_path(&r("prod/db")).expect("path");
    std::fs::write(p.join("secret"), "production data").expect("write");
    e.volume_create(&r("prod/old"), &opts).expect("prod/old");
    e.volume_set_online(&r("prod/old"), false).expect("offline");
    let snap = |s: &str| SnapRef {
        vol: r(s.split('@').next().expect("vol")),
        snapshot: n(s.split('@').nth(1).expect("snap")),
    };
    e.snapshot_create(&snap("prod/db@s1"), Consistency::Crash)
        .expect("snapshot");
    // golden/x: prod's masked copy; golden/raw: an unmasked clone.
    let scan = MaskScan {
        sampled: 10,
        found: 0,
        files: 3,
        at: 1,
    };
    for (to, masked) in [("golden/x", true), ("golden/raw", false)] {
        e.clone_volume(&CloneSource::Snapshot(snap("prod/db@s1")), &r(to), &opts)
            .expect("golden clone");
        if masked {
            e.volume_mark_masked(&r(to), "rules", "key", &scan)
                .expect("mask");
        }
    }
    e.snapshot_create(&snap("golden/x@g1"), Consistency::Crash)
        .expect("snapshot");
    for to in ["dev/x", "dev/off"] {
        e.clone_volume(&CloneSource::Snapshot(snap("golden/x@g1")), &r(to), &opts)
            .expect("dev clone");
    }
    e.volume_set_online(&r("dev/off"), false).expect("offline");
    e.snapshot_create(&snap("dev/x@d1"), Consistency::Crash)
        .expect("snapshot");
    e.volume_create(&r("stage/y"), &opts).expect("stage/y");
    e.volume_create(&r("stage/yoff"), &opts)
        .expect("stage/yoff");
    e.volume_set_online(&r("stage/yoff"), false)
        .expect("offline");
    e.volume_create(&r("qa/q"), &opts).expect("qa/q");
    e.volume_create(&r("qa/qoff"), &opts).expect("qa/qoff");
    e.volume_set_online(&r("qa/qoff"), false).expect("offline");
    e.mount_add(&r("prod/db"), "container-1").expect("mount");

    let (rd, wr) = (Scope::Read, Scope::Write);
    let mut tokens = BTreeMap::new();
    for (name, grants) in [
        ("prod", vec![("prod", wr)]),
        ("golden", vec![("golden", wr), ("prod", rd)]),
        ("dev", vec![("dev", wr), ("golden", rd)]),
        ("stage", vec![("stage", wr), ("dev", wr)]),
        ("dev-plugin", vec![("dev", wr), ("prod", rd)]),
        ("qa", vec![("qa", wr), ("prod", rd), ("dev", rd)]),
    ] {
        let list: Vec<_> = grants.iter().map(|(f, s)| (n(f), *s)).collect();
        let secret = e.token_create(&n(name), &list).expect("token").1;
        tokens.insert(name, (secret, grants.into_iter().collect()));
    }
    Home { lab, tokens }
}

/// Everything a refusal must leave alone: every row of every table but the
/// audit log, and every file and directory of the home and the pool (type,
/// size, mode, modification time and content).
fn state(lab: &Lab, pool_root: &Path) -> String {
    let mut out = String::new();
    let db = rusqlite::Connection::open_with_flags(
        lab.home().join("populous.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open store");
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .expect("tables")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("names");
    for t in tables.iter().filter(|t| *t != "audit") {
        // The audit log's own counter moves with every record too.
        let sql = if t == "sqlite_sequence" {
            "SELECT * FROM sqlite_sequence WHERE name != 'audit'".to_owned()
        } else {
            format!("SELECT * FROM \"{t}\"")
        };
        let mut st = db.prepare(&sql).expect("select");
        let cols = st.column_count();
        let rows: Vec<String> = st
            .query_map([], |row| {
                (0..cols)
                    .map(|i| {
                        row.get::<_, rusqlite::types::Value>(i)
                            .map(|v| format!("{v:?}"))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(|v| v.join("|"))
            })
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("row");
        out.push_str(&format!("table {t}: {}\n", rows.join("; ")));
    }
    for root in [lab.home(), pool_root.to_owned()] {
        walk(&root, &mut out);
    }
    out
}

fn walk(dir: &Path, out: &mut String) {
    use std::os::unix::fs::MetadataExt;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|s| s.to_str()).unwrap_or("");
        // The store's own files change with every audit record: compared by rows above.
        if name.starts_with("populous.db") || name == "plugins" {
            continue;
        }
        let m = std::fs::symlink_metadata(&p).expect("metadata");
        out.push_str(&format!(
            "{} {:o} {} {}.{}",
            p.display(),
            m.mode(),
            m.len(),
            m.mtime(),
            m.mtime_nsec()
        ));
        if m.is_file() {
            let data = std::fs::read(&p).expect("read");
            out.push_str(&format!(" {:x}", Sha256::digest(&data)));
        }
        out.push('\n');
        if m.is_dir() {
            walk(&p, out);
        }
    }
}

/// One attempt: what it is, and the answer's status and body.
struct Attempt {
    what: String,
    status: u16,
    body: Value,
}

/// Runs attempts one by one; each must be refused and change nothing.
struct Checker<'a> {
    lab: &'a Lab,
    pool_root: PathBuf,
    before: String,
    attempts: usize,
    escapes: Vec<String>,
}

impl<'a> Checker<'a> {
    fn new(lab: &'a Lab, pool_root: &Path) -> Checker<'a> {
        Checker {
            lab,
            before: state(lab, pool_root),
            pool_root: pool_root.to_owned(),
            attempts: 0,
            escapes: Vec::new(),
        }
    }

    /// Fails naming every attempt that got through or changed something.
    fn assert_none_escaped(&self, what: &str) {
        assert!(
            self.escapes.is_empty(),
            "{what}: {} of {} attempts got through:\n{}",
            self.escapes.len(),
            self.attempts,
            self.escapes.join("\n")
        );
    }

    fn check(&mut self, a: Attempt, plugin: bool) {
        self.attempts += 1;
        let refused = if plugin {
            // Docker refusals are 200 with Err set; protocol errors are 4xx.
            a.body["Err"].as_str().is_some_and(|e| !e.is_empty())
        } else {
            (400..500).contains(&a.status) && a.body["error"]["code"].is_string()
        };
        if !refused {
            self.escapes
                .push(format!("{}: {} {}", a.what, a.status, a.body));
            // Later attempts are judged against the new state, not this one.
            self.before = state(self.lab, &self.pool_root);
            return;
        }
        let after = state(self.lab, &self.pool_root);
        if after != self.before {
            self.escapes.push(format!(
                "{}: refused ({} {}) but changed state:\n{}",
                a.what,
                a.status,
                a.body,
                diff(&self.before, &after)
            ));
            self.before = after;
        }
    }
}

fn diff(a: &str, b: &str) -> String {
    let (la, lb): (BTreeSet<&str>, BTreeSet<&str>) = (a.lines().collect(), b.lines().collect());
    la.symmetric_difference(&lb)
        .map(|l| format!("  {}{l}", if la.contains(l) { "-" } else { "+" }))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A volume of each folder, online and offline, with a snapshot where there is one.
fn volumes(folder: &str) -> (&'static str, &'static str, &'static str) {
    match folder {
        "prod" => ("db", "old", "s1"),
        "golden" => ("x", "raw", "g1"),
        "dev" => ("x", "off", "d1"),
        "stage" => ("y", "yoff", "none"),
        _ => ("q", "qoff", "none"),
    }
}

/// A REST call: (what, method, path, body, the scope it needs on which folders).
struct Call {
    method: &'static str,
    path: String,
    body: Value,
    needs: Vec<(String, Scope)>,
}

/// Every REST operation on folder `f`, with what it needs there.
fn rest_calls(f: &str) -> Vec<Call> {
    let (on, off, snap) = volumes(f);
    let vol = format!("/v1/folders/{f}/volumes/{on}");
    let offv = format!("/v1/folders/{f}/volumes/{off}");
    let read = vec![(f.to_owned(), Scope::Read)];
    let write = vec![(f.to_owned(), Scope::Write)];
    let c = |method, path: String, body: Value, needs: &Vec<(String, Scope)>| Call {
        method,
        path,
        body,
        needs: needs.clone(),
    };
    let mut calls = vec![
        c(
            "GET",
            format!("/v1/folders/{f}/volumes"),
            Value::Null,
            &read,
        ),
        c(
            "GET",
            format!("/v1/folders/{f}/volumes?all=true"),
            Value::Null,
            &read,
        ),
        c("GET", vol.clone(), Value::Null, &read),
        c("GET", format!("{vol}/path"), Value::Null, &read),
        c("GET", format!("{vol}/snapshots"), Value::Null, &read),
        c(
            "POST",
            format!("/v1/folders/{f}/volumes"),
            json!({"name": "planted"}),
            &write,
        ),
        c("DELETE", vol.clone(), Value::Null, &write),
        c(
            "DELETE",
            format!("{vol}?destroy=true&recursive=true"),
            Value::Null,
            &write,
        ),
        c(
            "DELETE",
            format!("{offv}?destroy=true"),
            Value::Null,
            &write,
        ),
        c("POST", format!("{vol}/offline"), Value::Null, &write),
        c("POST", format!("{offv}/online"), Value::Null, &write),
        c(
            "POST",
            format!("{vol}/rename"),
            json!({"to": "renamed"}),
            &write,
        ),
        c(
            "POST",
            format!("{offv}/rename"),
            json!({"to": on, "replace": true}),
            &write,
        ),
        c(
            "POST",
            format!("{vol}/snapshots"),
            json!({"name": "planted"}),
            &write,
        ),
        c(
            "DELETE",
            format!("{vol}/snapshots/{snap}"),
            Value::Null,
            &write,
        ),
        c("POST", format!("{vol}/db/start"), Value::Null, &write),
        c("POST", format!("{vol}/db/stop"), Value::Null, &write),
    ];
    for to in FOLDERS.iter().filter(|t| **t != f) {
        // A move out of f into `to`: write on both.
        let both = vec![
            (f.to_owned(), Scope::Write),
            ((*to).to_owned(), Scope::Write),
        ];
        for v in [&offv, &vol] {
            calls.push(c("POST", format!("{v}/import"), json!({"to": to}), &both));
        }
        // A clone out of f into `to`, and into f out of `to`.
        let (to_on, _, to_snap) = volumes(to);
        for src in [format!("{f}/{on}"), format!("{f}/{on}@{snap}")] {
            calls.push(c(
                "POST",
                "/v1/clone".into(),
                json!({"source": src, "target": format!("{to}/planted")}),
                &vec![
                    (f.to_owned(), Scope::Read),
                    ((*to).to_owned(), Scope::Write),
                ],
            ));
        }
        calls.push(c(
            "POST",
            "/v1/clone".into(),
            json!({"source": format!("{to}/{to_on}@{to_snap}"), "target": format!("{f}/planted")}),
            &vec![
                ((*to).to_owned(), Scope::Read),
                (f.to_owned(), Scope::Write),
            ],
        ));
    }
    calls
}

/// Calls only an admin token may make.
fn admin_calls(pool_root: &Path) -> Vec<Call> {
    let c = |method, path: &str, body: Value| Call {
        method,
        path: path.to_owned(),
        body,
        needs: vec![("*admin".to_owned(), Scope::Write)],
    };
    vec![
        c("GET", "/v1/pools", Value::Null),
        c(
            "POST",
            "/v1/pools",
            json!({"name": "mine", "path": pool_root}),
        ),
        c("DELETE", "/v1/pools/p", Value::Null),
        c("GET", "/v1/audit", Value::Null),
        c("POST", "/v1/folders", json!({"pool": "p", "name": "mine"})),
        c("DELETE", "/v1/folders/stage", Value::Null),
        c(
            "PUT",
            "/v1/folders/prod/policy",
            json!({"clone_from": ["*"]}),
        ),
        c(
            "PUT",
            "/v1/folders/dev/policy",
            json!({"clone_from": ["prod"]}),
        ),
    ]
}

fn allowed(grants: &Grants, needs: &[(String, Scope)]) -> bool {
    needs.iter().all(|(f, s)| {
        grants
            .iter()
            .any(|(g, have)| *g == f.as_str() && *have >= *s)
    })
}

/// Every REST operation with every token, on every folder it may not reach:
/// refused, nothing changed. Names outside a token's folders never appear in
/// what it may read.
pub fn rest_escape_attempts(pool: Pool) {
    let home = demo_home(pool);
    let pool_root = pool_root(&home.lab);
    let srv = Server::start(&home.lab.home(), crate::common::api_config());
    let mut ch = Checker::new(&home.lab, &pool_root);
    let mut allowed_reads = 0;
    for (name, (secret, grants)) in &home.tokens {
        let mut calls: Vec<Call> = FOLDERS.iter().flat_map(|f| rest_calls(f)).collect();
        calls.extend(admin_calls(&pool_root));
        for call in calls {
            if allowed(grants, &call.needs) {
                // Reads it may make: nothing of another tenant in the answer.
                if call.method == "GET" {
                    let (s, body) = api(&srv, "GET", &call.path, Some(secret), Value::Null);
                    assert_eq!(
                        s, 200,
                        "{name} GET {}: {body}; escapes so far: {:#?}",
                        call.path, ch.escapes
                    );
                    let text = body.to_string();
                    for f in FOLDERS.iter().filter(|f| !grants.contains_key(**f)) {
                        assert!(
                            !text.contains(&format!("\"{f}/")) && !text.contains(&format!("/{f}/")),
                            "token {name} sees folder {f} in GET {}: {text}",
                            call.path
                        );
                    }
                    allowed_reads += 1;
                }
                continue;
            }
            let (status, body) = api(
                &srv,
                call.method,
                &call.path,
                Some(secret),
                call.body.clone(),
            );
            ch.check(
                Attempt {
                    what: format!("token {name}: {} {} {}", call.method, call.path, call.body),
                    status,
                    body,
                },
                false,
            );
        }
    }
    // Allowed by scope, refused by policy: every cross-folder clone or import a policy forbids.
    for (name, token, src, dst) in [
        ("golden", "golden", "prod/db@s1", "golden/planted"), // allowed: control
        ("dev", "dev", "golden/raw", "dev/planted"),          // unmasked
        ("stage", "stage", "dev/x@d1", "stage/planted"),      // stage clones nothing
        ("dev-plugin", "dev-plugin", "prod/db@s1", "dev/planted"), // dev clones golden only
    ] {
        let secret = &home.tokens[token].0;
        let (status, body) = crate::common::clone(&srv, Some(secret), src, dst);
        if name == "golden" {
            assert_eq!(status, 201, "the control clone works: {body}");
            ch.before = state(&home.lab, &pool_root);
            continue;
        }
        ch.check(
            Attempt {
                what: format!("token {name}: clone {src} -> {dst}"),
                status,
                body,
            },
            false,
        );
    }
    assert!(allowed_reads > 20, "reads checked: {allowed_reads}");
    ch.assert_none_escaped("escape attempts");
    eprintln!("REST: {} escape attempts, 0 successes; {allowed_reads} allowed reads without foreign names", ch.attempts);
}

fn pool_root(lab: &Lab) -> PathBuf {
    let e = Engine::open(&lab.home()).expect("engine");
    e.pool_list().expect("pools")[0].root.clone()
}

/// Every create option of the plugin protocol, with each folder's driver,
/// against every other folder's volumes: refused, nothing changed (neither
/// the source, nor a snapshot, nor an offline flag). Other calls cannot
/// leave the driver's folder, and Get shows no other tenant's names.
pub fn plugin_escape_attempts(pool: Pool) {
    let home = demo_home(pool);
    let pool_root = pool_root(&home.lab);
    let lab = &home.lab;
    let drivers = [
        ("pl-prod", "prod", "prod"),
        ("pl-golden", "golden", "golden"),
        ("pl-dev", "dev", "dev"),
        ("pl-stage", "stage", "stage"),
        ("pl-qa", "qa", "qa"),
        // The docs' dev driver: its token also reads prod.
        ("populous-dev", "dev", "dev-plugin"),
    ];
    let config = populous_daemon::Config {
        listen: String::new(),
        plugin_dir: lab.path().join("plugins"),
        plugins: drivers
            .iter()
            .map(|(d, f, t)| plugin_config(lab, d, f, &format!(".{d}"), Some(&home.tokens[t].0)))
            .collect(),
        ..populous_daemon::Config::default()
    };
    let srv = Server::start(&lab.home(), config);
    let mut ch = Checker::new(lab, &pool_root);
    // What a driver may legitimately create: skipped here, tested by the plugin tests.
    let legit: BTreeSet<(&str, String)> = [
        ("pl-dev", "importVolAsClone=golden/x"),
        ("pl-dev", "importVolAsClone=golden/x,snapshot=g1"),
        ("pl-dev", "createSnapshot=true,importVolAsClone=golden/x"),
        ("pl-golden", "importVolAsClone=prod/db"),
        ("pl-golden", "importVolAsClone=prod/db,snapshot=s1"),
        ("pl-golden", "createSnapshot=true,importVolAsClone=prod/db"),
        ("pl-golden", "importVolAsClone=prod/old"),
        ("pl-golden", "createSnapshot=true,importVolAsClone=prod/old"),
        ("pl-qa", "importVolAsClone=prod/db"),
        ("pl-qa", "importVolAsClone=prod/db,snapshot=s1"),
        ("pl-qa", "createSnapshot=true,importVolAsClone=prod/db"),
        ("pl-qa", "importVolAsClone=prod/old"),
        ("pl-qa", "createSnapshot=true,importVolAsClone=prod/old"),
        ("pl-qa", "importVolAsClone=dev/x"),
        ("pl-qa", "importVolAsClone=dev/x,snapshot=d1"),
        ("pl-qa", "createSnapshot=true,importVolAsClone=dev/x"),
        ("pl-qa", "importVolAsClone=dev/off"),
        ("pl-qa", "createSnapshot=true,importVolAsClone=dev/off"),
        ("pl-stage", "importVol=dev/off"),
        ("pl-stage", "forceImport=true,importVol=dev/off"),
        // Stage may move dev's volumes; forceImport takes an unmounted one even online.
        ("pl-stage", "forceImport=true,importVol=dev/x"),
    ]
    .map(|(d, k)| (d, k.to_owned()))
    .into_iter()
    .collect();
    for (i, (driver, folder, token)) in drivers.iter().enumerate() {
        let sock = &srv.sockets[i];
        let grants = &home.tokens[token].1;
        let suffix = format!(".{driver}");
        let mut options: Vec<BTreeMap<&str, String>> = Vec::new();
        for f in FOLDERS.iter().filter(|f| *f != folder) {
            let (on, off, snap) = volumes(f);
            for v in [on, off] {
                let from = format!("{f}/{v}");
                for extra in [vec![], vec![("forceImport", "true".to_owned())]] {
                    let mut o: BTreeMap<&str, String> = [("importVol", from.clone())].into();
                    o.extend(extra);
                    options.push(o);
                }
                for extra in [
                    vec![],
                    vec![("snapshot", snap.to_owned())],
                    vec![("createSnapshot", "true".to_owned())],
                ] {
                    let mut o: BTreeMap<&str, String> = [("importVolAsClone", from.clone())].into();
                    o.extend(extra);
                    options.push(o);
                }
            }
            // Create in another folder, or clone another folder's volume by its own name.
            options.push([("folder", (*f).to_owned())].into());
            options.push([("cloneOf", format!("{on}.pl-{f}"))].into());
            options.push([("cloneOf", format!("../{f}/{on}"))].into());
        }
        for o in options {
            let key = o
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            if legit.contains(&(*driver, key.clone())) {
                continue;
            }
            let body = json!({"Name": format!("planted{suffix}"), "Opts": o});
            let (status, body) = plug(sock, "VolumeDriver.Create", body.to_string().as_bytes());
            ch.check(
                Attempt {
                    what: format!("driver {driver} (token {token}): Create -o {key}"),
                    status,
                    body,
                },
                true,
            );
        }
        // Every other call, with names that try to leave the folder.
        for name in ["../prod/db", "prod/db", "../db.pl-prod", "/x", ".", ".."]
            .iter()
            .flat_map(|n| [(*n).to_owned(), format!("{n}{suffix}")])
        {
            for method in ["Remove", "Mount", "Unmount", "Path", "Get", "Create"] {
                let body = json!({"Name": name, "ID": "c1"});
                let (status, body) = plug(
                    sock,
                    &format!("VolumeDriver.{method}"),
                    body.to_string().as_bytes(),
                );
                ch.check(
                    Attempt {
                        what: format!("driver {driver}: {method} {name:?}"),
                        status,
                        body,
                    },
                    true,
                );
            }
        }
        // What it may read names nothing outside its reach.
        let (on, _, _) = volumes(folder);
        let (s, v) = plug(
            sock,
            "VolumeDriver.Get",
            json!({"Name": format!("{on}{suffix}")})
                .to_string()
                .as_bytes(),
        );
        assert_eq!((s, v["Err"].as_str()), (200, Some("")), "{driver} Get: {v}");
        let text = v.to_string();
        for f in FOLDERS
            .iter()
            .filter(|f| *f != folder && !grants.contains_key(**f))
        {
            assert!(
                !text.contains(&format!("{f}/")),
                "driver {driver} sees {f}: {text}"
            );
        }
    }
    ch.assert_none_escaped("escape attempts");
    eprintln!("plugin: {} escape attempts, 0 successes", ch.attempts);
}
