//! `populous pipeline run` end to end on the real Docker engine, a
//! single-node swarm, the local registry (Debian's docker-registry), the
//! images from scripts/images.sh and `populous serve` with three plugin
//! drivers on a btrfs image pool. Named `loopdev_docker_…`: root, loop
//! devices, Docker.
//!
//! One test walks the seed's scenario in order (prod's first deployment with
//! a generated DB; dev, stage and prod for build 2 and again for build 3),
//! then the refusals and failures: several environments at once, a build that
//! did not pass stage, a failed smoke that leaves prod untouched, a busy
//! environment, an update that never gets healthy and is rolled back, and a
//! registry that does not answer. Everything it creates on the engine
//! carries the test's own name and is removed on drop, even after a panic.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

mod common;

use common::populous;
use populous_pipeline::state::{EnvLock, StateDir};
use populous_testkit::Lab;
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().expect("docker")
}

fn script(name: &str, args: &[&str]) -> std::process::Output {
    Command::new(repo_root().join("scripts").join(name))
        .args(args)
        .output()
        .expect("script")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// The registry and the swarm, as the machine had them: what the test
/// started, it stops again.
struct Machine {
    stop_registry: bool,
    leave_swarm: bool,
}

impl Machine {
    fn prepare() -> Machine {
        let stop_registry = !script("registry.sh", &["status"]).status.success();
        let swarm = docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
        let leave_swarm = String::from_utf8_lossy(&swarm.stdout).trim() != "active";
        let m = Machine {
            stop_registry,
            leave_swarm,
        };
        for (s, a) in [("registry.sh", "start"), ("swarm.sh", "init")] {
            let out = script(s, &[a]);
            assert!(
                out.status.success(),
                "scripts/{s} {a}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        m
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        if self.stop_registry {
            let _ = script("registry.sh", &["stop"]);
        }
        if self.leave_swarm {
            let _ = docker(&["swarm", "leave", "--force"]);
        }
    }
}

/// `populous serve`, and everything on the engine named after the test:
/// services, networks and Docker volumes go first (while the plugins still
/// answer), then the daemon.
struct Stack {
    name: String,
    child: Child,
    api: String,
    sockets: Vec<PathBuf>,
}

impl Stack {
    fn start(home: &Path, config: &Path, name: &str) -> Stack {
        let (child, api, sockets) = common::serve(home, config);
        Stack {
            name: name.to_string(),
            api: api.expect("api address"),
            sockets,
            child,
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let label = format!("label=org.populous.pipeline={}", self.name);
        let services = docker(&["service", "ls", "-q", "--filter", &label]);
        for s in String::from_utf8_lossy(&services.stdout).split_whitespace() {
            let _ = docker(&["service", "rm", s]);
        }
        // lb services carry no label: their names do.
        for env in ["prod", "stage", "dev"] {
            let _ = docker(&["service", "rm", &format!("{}-{env}-lb", self.name)]);
        }
        // Wait (bounded) for the containers to go, so the volumes unmount.
        let filter = format!("name={}-", self.name);
        for _ in 0..240 {
            let ps = docker(&["ps", "-aq", "--filter", &filter]);
            if String::from_utf8_lossy(&ps.stdout).trim().is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        for env in ["prod", "stage", "dev"] {
            let _ = docker(&["network", "rm", &format!("{}-{env}", self.name)]);
        }
        let vols = docker(&["volume", "ls", "-q"]);
        for v in String::from_utf8_lossy(&vols.stdout).split_whitespace() {
            if v.ends_with(&format!(".{}", self.name)) || v.contains(&format!(".{}-", self.name)) {
                let _ = docker(&["volume", "rm", "-f", v]);
            }
        }
        // The images the test built and pulled, under its own repositories
        // (the registry keeps its manifests: fixed names, so they do not pile up).
        for reference in [
            format!("{}/*", self.name),
            format!("127.0.0.1:5000/{}/*", self.name),
        ] {
            let filter = format!("reference={reference}");
            let tags = docker(&[
                "image",
                "ls",
                "--filter",
                &filter,
                "--format",
                "{{.Repository}}:{{.Tag}}",
            ]);
            let tags = String::from_utf8_lossy(&tags.stdout).into_owned();
            // By name, never by id: an id can carry another repository's tag too.
            let mut args = vec!["image", "rm"];
            args.extend(tags.split_whitespace().filter(|t| !t.ends_with(":<none>")));
            if args.len() > 2 {
                let _ = docker(&args);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for s in &self.sockets {
            let _ = std::fs::remove_file(s);
        }
    }
}

struct Ports {
    prod: u16,
    dev: u16,
    stage: u16,
}

/// The pipeline file, from the example's shape, with the test's names.
fn pipeline_yaml(name: &str, api: &str, ports: &Ports, key: &Path, variant: &str) -> String {
    let root = repo_root();
    let images = root.join("scripts/images.sh");
    let img = |what: &str, build: bool| {
        let b = if build { r#", --build, "{build}""# } else { "" };
        format!(
            r#"      repository: {name}/{what}
      build: [{}, --only, {what}, --no-verify, --prefix, {name}{b}, --tag, "{{tag}}"]"#,
            images.display()
        )
    };
    let dev_smoke = if variant == "bad-smoke" {
        "{ path: /no-such-page, timeout: 8s }"
    } else {
        "{ timeout: 180s }"
    };
    let prod_requires = if variant == "no-gate" {
        ""
    } else {
        "    requires: stage\n"
    };
    // prod outside any pool (Docker's local driver, a binary log, a host
    // port), and the golden copy from the source that replicates it.
    let (prod_driver, golden_data) = match variant.strip_prefix("outside:") {
        Some(db_port) => (
            format!(
                "local\n    db: {{ args: [--log-bin=prod-bin, --server-id=1, --binlog-format=ROW], port: {db_port} }}"
            ),
            "from_source: prod",
        ),
        None => (format!("{name}-prod"), "clone_of: prod/db"),
    };
    let registry = if variant == "no-registry" {
        format!("127.0.0.1:{}", free_port())
    } else {
        "127.0.0.1:5000".into()
    };
    format!(
        r#"name: {name}
registry: {registry}
populous: {{ api: "http://{api}" }}
app:
  version_file: {version}
  images:
    app:
{app}
    db:
{db}
    lb:
{lb}
environments:
  golden:
    roles: [refresh]
    folder: golden
    token: {{ env: PT_GOLDEN_TOKEN }}
    data: {{ {golden_data}, volume: db }}
    mask: {{ rules: {rules}, key_file: {key} }}
  dev:
    roles: [build, ship, run, mask, smoke, destroy]
    driver: {name}-dev
    folder: dev
    name_suffix: .{name}-dev
    token: {{ env: PT_DEV_TOKEN }}
    port: {dev}
    data: {{ clone_of: golden/db, volume: "db-{{build}}" }}
    mask: {{ rules: {rules}, key_file: {key} }}
    smoke: {dev_smoke}
  stage:
    roles: [run, smoke]
    requires: dev
    driver: {name}-stage
    folder: stage
    name_suffix: .{name}-stage
    token: {{ env: PT_STAGE_TOKEN }}
    port: {stage}
    data: {{ import_from: dev, volume: "db-{{build}}" }}
    smoke: {{ timeout: 180s }}
  prod:
    roles: [run, smoke]
{prod_requires}    driver: {prod_driver}
    folder: prod
    name_suffix: .{name}-prod
    token: {{ env: PT_PROD_TOKEN }}
    port: {prod}
    data: {{ volume: db, seed_size: 32M }}
    app: {{ replicas: 2, lb: true }}
    update: {{ parallelism: 1, delay: 1s, order: start-first, monitor: 4s }}
    probe: {{ interval: 100ms, idle: 3s, max_p99_ratio: 1000 }}
    smoke: {{ timeout: 120s }}
"#,
        version = root.join("examples/populous/VERSION").display(),
        app = img("app", true),
        db = img("db", false),
        lb = img("lb", false),
        rules = root.join("examples/populous/masking.yml").display(),
        key = key.display(),
        dev = ports.dev,
        stage = ports.stage,
        prod = ports.prod,
    )
}

/// One pipeline run: exit code, the JSON report on stdout, stderr.
struct Ran {
    code: i32,
    report: Value,
    stderr: String,
}

impl Ran {
    fn role(&self, role: &str) -> &Value {
        self.report["roles"]
            .as_array()
            .and_then(|r| r.iter().find(|x| x["role"] == role))
            .unwrap_or_else(|| panic!("no role {role} in {}", self.report))
    }

    fn passed(&self) {
        assert_eq!(
            self.code, 0,
            "the run failed: {}\n{}",
            self.report, self.stderr
        );
        assert_eq!(self.report["ok"], true, "{}", self.report);
        for r in self.report["roles"].as_array().expect("roles") {
            assert_eq!(r["outcome"], "ok", "{r}");
        }
    }
}

fn get(url: &str) -> Option<Value> {
    let out = Command::new("curl")
        .args(["-fsS", "--max-time", "5", url])
        .output()
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

/// Holds `env`'s lock the way a run does, with `about` as the holder's note.
fn hold_env_lock(state: &Path, name: &str, env: &str, about: &str) -> EnvLock {
    StateDir::new(state, name)
        .and_then(|s| s.lock(env, std::time::Duration::ZERO, about))
        .expect("the test could not take the lock")
}

/// The tests share the registry, the swarm and dockerd's memory of drivers:
/// one at a time.
static DOCKER: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn loopdev_docker_pipeline_end_to_end() {
    let _one = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new();
    let _machine = Machine::prepare();
    let home = lab.home();
    let h = home.as_path();
    // A fixed name: dockerd remembers every volume driver it has used until
    // it restarts, and retries a gone one for 30 s on lookups, so a new name
    // per run would pile such drivers up; the same name is revived next run.
    let name = "pipetest".to_string();
    let img = lab.path().join("pool.img");
    let ok = |args: &[&str]| {
        let out = populous(h).args(args).output().expect("populous");
        assert!(
            out.status.success(),
            "populous {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    ok(&[
        "pool",
        "create",
        "main",
        "--image",
        img.to_str().expect("utf-8"),
        "--size",
        "3G",
    ]);
    ok(&["folder", "create", "main/prod"]);
    // golden holds prod's masked copy; dev clones only masked data, from golden.
    ok(&["folder", "create", "main/golden", "--clone-from", "prod"]);
    ok(&[
        "folder",
        "create",
        "main/dev",
        "--clone-from",
        "golden",
        "--require-masked",
    ]);
    ok(&[
        "folder",
        "create",
        "main/stage",
        "--import-from",
        "dev",
        "--require-masked",
    ]);
    let tokens = [
        ("prod", ok(&["token", "create", "prod", "--write", "prod"])),
        (
            "dev",
            ok(&[
                "token", "create", "dev", "--write", "dev", "--read", "golden",
            ]),
        ),
        (
            "stage",
            ok(&["token", "create", "stage", "--write", "stage,dev"]),
        ),
    ];
    let golden_token = ok(&[
        "token", "create", "golden", "--write", "golden", "--read", "prod",
    ]);
    let mut config = String::from("listen = \"127.0.0.1:0\"\n");
    for (env, token) in &tokens {
        let f = lab.path().join(format!("{env}.token"));
        std::fs::write(&f, token).expect("token");
        config.push_str(&format!(
            "[[plugin]]\ndriver = \"{name}-{env}\"\nfolder = \"{env}\"\nname_suffix = \".{name}-{env}\"\ntoken_file = \"{}\"\n",
            f.display()
        ));
    }
    let config_file = lab.path().join("populous.toml");
    std::fs::write(&config_file, config).expect("config");
    let stack = Stack::start(h, &config_file, &name);
    let key = lab.path().join("mask.key");
    std::fs::write(
        &key,
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
    )
    .expect("key");
    let ports = Ports {
        prod: free_port(),
        dev: free_port(),
        stage: free_port(),
    };
    let write_file = |variant: &str| {
        let f = lab.path().join(format!("populous-{variant}.yml"));
        std::fs::write(&f, pipeline_yaml(&name, &stack.api, &ports, &key, variant))
            .expect("pipeline file");
        f
    };
    let main_file = write_file("main");
    let state = lab.path().join("state");
    let run = |file: &Path, env: &str, build: &str, extra: &[&str]| -> Ran {
        let out = populous(h)
            .args(["--json", "pipeline", "run", "-f"])
            .arg(file)
            .args(["--env", env, "--build-number", build, "--state-dir"])
            .arg(&state)
            .args(extra)
            .env("PT_DEV_TOKEN", &tokens[1].1)
            .env("PT_STAGE_TOKEN", &tokens[2].1)
            .env("PT_PROD_TOKEN", &tokens[0].1)
            .env("PT_GOLDEN_TOKEN", &golden_token)
            .output()
            .expect("populous pipeline run");
        let stdout = String::from_utf8_lossy(&out.stdout);
        Ran {
            code: out.status.code().unwrap_or(-1),
            report: serde_json::from_str(&stdout).unwrap_or(Value::Null),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    let prod_url = format!("http://127.0.0.1:{}/_ping", ports.prod);
    let prod_version = || get(&prod_url).map(|v| v["version"].clone());
    let inspect = |vol: &str| {
        let out = populous(h)
            .args(["--json", "volume", "inspect", vol])
            .output()
            .expect("inspect");
        out.status
            .success()
            .then(|| serde_json::from_slice::<Value>(&out.stdout).expect("json"))
    };

    // 1. prod's first deployment, with a generated database.
    let r = run(
        &main_file,
        "prod",
        "1",
        &["--roles", "build,ship,run,smoke"],
    );
    r.passed();
    let detail = r.role("run")["detail"].as_str().expect("detail");
    assert!(
        detail.contains("new volume prod/db") && detail.contains("seeded"),
        "{detail}"
    );
    assert_eq!(prod_version(), Some(Value::from("1.0.1-1")));

    // Before the first refresh there is no golden copy, and dev says so
    // (its policy would not let it clone unmasked prod data anyway).
    let r = run(&main_file, "dev", "2", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("golden/db"), "{}", r.stderr);

    for build in ["2", "3"] {
        let tag = format!("1.0.1-{build}");
        // 2. golden: a new masked clone of prod takes golden/db's name.
        let r = run(&main_file, "golden", build, &[]);
        r.passed();
        let detail = r.role("refresh")["detail"].as_str().expect("detail");
        let first = if build == "2" {
            "the first generation"
        } else {
            "replaced the previous generation"
        };
        assert!(
            detail.contains("clone of prod/db@") && detail.contains(first),
            "{detail}"
        );
        let g = inspect("golden/db").expect("the golden copy");
        assert_eq!(g["provenance"]["masked"], true, "{g}");
        assert!(inspect("golden/db-next").is_none(), "no half-made copy");

        // 3. dev: a clone of the golden copy, already masked, smoke-tested, offline at the end.
        let r = run(&main_file, "dev", build, &[]);
        r.passed();
        assert!(
            r.role("run")["detail"]
                .as_str()
                .is_some_and(|d| d.contains("cloned golden/db")),
            "{}",
            r.report
        );
        assert!(
            r.role("mask")["detail"]
                .as_str()
                .is_some_and(|d| d.contains("already masked") && d.contains("golden/db@")),
            "{}",
            r.report
        );
        assert!(
            r.role("smoke")["detail"]
                .as_str()
                .is_some_and(|d| d.contains(&tag)),
            "{}",
            r.report
        );
        let vol = format!("dev/db-{build}");
        let v = inspect(&vol).expect("the dev clone is kept");
        assert_eq!(v["state"], "offline", "{v}");
        assert_eq!(v["provenance"]["masked"], true, "not marked masked: {v}");

        // 3. stage: imports that clone (stage requires masked data); the previous one goes.
        let r = run(&main_file, "stage", build, &[]);
        r.passed();
        assert!(inspect(&vol).is_none(), "{vol} was moved, not copied");
        let staged = inspect(&format!("stage/db-{build}")).expect("imported into stage");
        assert_eq!(staged["state"], "online", "{staged}");
        if build == "3" {
            assert!(
                inspect("stage/db-2").is_none(),
                "stage destroys its previous clone"
            );
        }

        // 4. prod: a rolling update of the app, watched: no request fails.
        let r = run(&main_file, "prod", build, &[]);
        r.passed();
        let u = &r.report["update"];
        assert_eq!(u["failed"], 0, "{u}");
        assert!(u["update_requests"].as_u64().unwrap_or(0) > 20, "{u}");
        let versions: Vec<&str> = u["versions"]
            .as_array()
            .expect("versions")
            .iter()
            .filter_map(|v| v[0].as_str())
            .collect();
        assert!(versions.contains(&tag.as_str()), "{u}");
        assert_eq!(prod_version(), Some(Value::from(tag.as_str())));
    }

    // The baseline: dev filled by mariadb-dump | mariadb. The golden copy
    // runs no server, so the dump reads prod's db, and the mask role masks.
    let r = run(&main_file, "dev", "4", &["--copy", "dump"]);
    r.passed();
    let detail = r.role("run")["detail"].as_str().expect("detail");
    assert!(
        detail.contains("mariadb-dump | mariadb")
            && detail.starts_with("copied prod/db (the source of golden/db"),
        "{detail}"
    );
    let detail = r.role("mask")["detail"].as_str().expect("detail");
    assert!(
        detail.contains("masked") && !detail.contains("already"),
        "{detail}"
    );
    assert_eq!(
        inspect("dev/db-4").expect("kept")["provenance"]["masked"],
        true
    );

    // Exactly one environment.
    let r = run(&main_file, "dev,stage", "4", &[]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("exactly one environment"), "{}", r.stderr);

    // A build that did not pass stage never reaches prod.
    let r = run(&main_file, "prod", "4", &[]);
    assert_eq!(r.code, 8, "{}", r.stderr);
    assert!(r.stderr.contains("has not passed stage"), "{}", r.stderr);
    assert_eq!(prod_version(), Some(Value::from("1.0.1-3")));

    // A failed smoke in dev stops the build there: stage and prod refuse it.
    let bad_smoke = write_file("bad-smoke");
    let r = run(&bad_smoke, "dev", "5", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.role("smoke")["outcome"], "failed", "{}", r.report);
    assert_eq!(r.role("destroy")["outcome"], "skipped", "{}", r.report);
    for env in ["stage", "prod"] {
        let r = run(&main_file, env, "5", &[]);
        assert_eq!(r.code, 8, "{env}: {}", r.stderr);
    }
    assert_eq!(prod_version(), Some(Value::from("1.0.1-3")));
    // The failed dev run left its services; the next dev run replaces them.

    // A second run on a busy environment is refused, naming the holder.
    {
        let _held = hold_env_lock(&state, &name, "prod", "build test-holder");
        let r = run(&main_file, "prod", "3", &[]);
        assert_eq!(r.code, 13, "{}", r.stderr);
        assert!(
            r.stderr.contains("holds environment prod") && r.stderr.contains("test-holder"),
            "{}",
            r.stderr
        );
    }

    // An update whose tasks never get healthy is rolled back; prod keeps serving.
    let bad = lab.path().join("bad-app");
    std::fs::create_dir_all(&bad).expect("mkdir");
    std::fs::write(
        bad.join("Dockerfile"),
        format!(
            "FROM 127.0.0.1:5000/{name}/app:1.0.1-3\n\
         HEALTHCHECK --interval=1s --timeout=1s --start-period=1s --retries=1 \
         CMD [\"/usr/local/bin/populous-app\", \"health\", \"--listen\", \"127.0.0.1:1\"]\n"
        ),
    )
    .expect("Dockerfile");
    let no_gate = write_file("no-gate");
    let text = std::fs::read_to_string(&no_gate).expect("read");
    let app_build = text
        .lines()
        .find(|l| l.contains("--only, app"))
        .expect("app build line")
        .to_string();
    std::fs::write(
        &no_gate,
        text.replace(&app_build, &format!("      context: {}", bad.display())),
    )
    .expect("write");
    let r = run(&no_gate, "prod", "6", &["--roles", "build,ship,run,smoke"]);
    assert_eq!(r.code, 1, "{}\n{}", r.report, r.stderr);
    assert!(
        r.role("run")["detail"]
            .as_str()
            .is_some_and(|d| d.contains("rolled back")),
        "{}",
        r.report
    );
    assert_eq!(prod_version(), Some(Value::from("1.0.1-3")));

    // No registry: a clear error naming what does not answer; prod untouched.
    let no_registry = write_file("no-registry");
    let r = run(&no_registry, "prod", "3", &[]);
    assert_eq!(r.code, 10, "{}", r.stderr);
    assert!(
        r.stderr.contains("the registry 127.0.0.1:") && r.stderr.contains("does not answer"),
        "{}",
        r.stderr
    );
    assert_eq!(prod_version(), Some(Value::from("1.0.1-3")));
    drop(stack);
}

/// Removes the test's source (its replica server stops) even after a panic.
struct SourceGone<'a>(&'a Path);

impl Drop for SourceGone<'_> {
    fn drop(&mut self) {
        let _ = populous(self.0).args(["source", "rm", "prod"]).output();
    }
}

/// prod as most teams run it: its database outside any pool, on Docker's
/// local driver, with a binary log. A source seeds a replica on the pool from
/// the container's datadir (physical), the golden copy comes from the
/// source's clean snapshot, and dev clones it as before.
#[test]
fn loopdev_docker_pipeline_prod_outside_the_pool() {
    let _one = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new();
    let _machine = Machine::prepare();
    let home = lab.home();
    let h = home.as_path();
    let name = "pipesrc".to_string();
    let img = lab.path().join("pool.img");
    let ok = |args: &[&str]| common::ok(h, args);
    ok(&[
        "pool",
        "create",
        "main",
        "--image",
        img.to_str().expect("utf-8"),
        "--size",
        "3G",
    ]);
    ok(&["folder", "create", "main/prod"]);
    ok(&["folder", "create", "main/golden", "--clone-from", "prod"]);
    ok(&[
        "folder",
        "create",
        "main/dev",
        "--clone-from",
        "golden",
        "--require-masked",
    ]);
    ok(&["folder", "create", "main/stage"]);
    let dev_token = ok(&[
        "token", "create", "dev", "--write", "dev", "--read", "golden",
    ]);
    let golden_token = ok(&[
        "token", "create", "golden", "--write", "golden", "--read", "prod",
    ]);
    let prod_token = ok(&["token", "create", "prod", "--write", "prod"]);
    let dev_file = lab.path().join("dev.token");
    std::fs::write(&dev_file, &dev_token).expect("token");
    let config_file = lab.path().join("populous.toml");
    std::fs::write(
        &config_file,
        format!(
            "listen = \"127.0.0.1:0\"\n[[plugin]]\ndriver = \"{name}-dev\"\nfolder = \"dev\"\nname_suffix = \".{name}-dev\"\ntoken_file = \"{}\"\n",
            dev_file.display()
        ),
    )
    .expect("config");
    let stack = Stack::start(h, &config_file, &name);
    let _source = SourceGone(h);
    let key = lab.path().join("mask.key");
    std::fs::write(
        &key,
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
    )
    .expect("key");
    let ports = Ports {
        prod: free_port(),
        dev: free_port(),
        stage: free_port(),
    };
    let db_port = free_port();
    let file = lab.path().join("populous-outside.yml");
    std::fs::write(
        &file,
        pipeline_yaml(
            &name,
            &stack.api,
            &ports,
            &key,
            &format!("outside:{db_port}"),
        ),
    )
    .expect("pipeline file");
    let state = lab.path().join("state");
    let run = |env: &str, build: &str, extra: &[&str]| -> Ran {
        let out = populous(h)
            .args(["--json", "pipeline", "run", "-f"])
            .arg(&file)
            .args(["--env", env, "--build-number", build, "--state-dir"])
            .arg(&state)
            .args(extra)
            .env("PT_DEV_TOKEN", &dev_token)
            .env("PT_PROD_TOKEN", &prod_token)
            .env("PT_GOLDEN_TOKEN", &golden_token)
            .env("PT_STAGE_TOKEN", "unused")
            .output()
            .expect("populous pipeline run");
        Ran {
            code: out.status.code().unwrap_or(-1),
            report: serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };

    // 1. prod's first deployment: a Docker volume of the local driver, not the pool.
    let r = run("prod", "1", &["--roles", "build,ship,run,smoke"]);
    r.passed();
    let detail = r.role("run")["detail"].as_str().expect("detail");
    assert!(
        detail.contains("outside any pool") && detail.contains("seeded"),
        "{detail}"
    );
    let prod_volume = format!("db.{name}-prod");
    let driver = docker(&[
        "volume",
        "inspect",
        "--format",
        "{{.Driver}} {{.Mountpoint}}",
        &prod_volume,
    ]);
    let driver = String::from_utf8_lossy(&driver.stdout).trim().to_owned();
    let (driver, datadir) = driver.split_once(' ').expect("driver and mountpoint");
    assert_eq!(driver, "local");
    assert_eq!(
        common::json(h, &["volume", "ls", "prod"]),
        serde_json::json!([]),
        "prod's database is on no pool"
    );

    // 2. A replication user on prod, then the source: physical, from the
    // container's datadir on this host.
    let prod_sql = |sql: &str| {
        let out = Command::new("mariadb")
            .args([
                "--no-defaults",
                "--protocol=TCP",
                "-h",
                "127.0.0.1",
                "-u",
                "root",
                "-N",
                "-B",
            ])
            .arg(format!("-P{db_port}"))
            .args(["-e", sql])
            .output()
            .expect("mariadb client");
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    prod_sql(
        "CREATE USER repl@'%' IDENTIFIED BY 'Pipe-src-pw-1'; GRANT REPLICATION SLAVE, RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SELECT, SHOW VIEW, EVENT, TRIGGER ON *.* TO repl@'%';",
    );
    let pw = lab.path().join("repl.pw");
    std::fs::write(&pw, "Pipe-src-pw-1\n").expect("pw");
    let from = format!("mysql://repl@127.0.0.1:{db_port}");
    let added = common::json(
        h,
        &[
            "source",
            "add",
            "prod",
            "--from",
            &from,
            "--password-file",
            pw.to_str().expect("utf-8"),
            "--volume",
            "prod/replica",
            "--datadir",
            datadir,
        ],
    );
    assert_eq!(added["mode"], "physical", "{added}");
    let prod_rows: u64 = prod_sql("SELECT COUNT(*) FROM populous.main")
        .parse()
        .expect("count");
    assert!(prod_rows > 0);
    let snap = common::json(h, &["source", "snapshot", "prod"]);
    assert!(snap["base"].is_string(), "{snap}");

    // 3. The golden copy from the source's clean base, masked; dev clones it.
    let r = run("golden", "2", &[]);
    r.passed();
    let detail = r.role("refresh")["detail"].as_str().expect("detail");
    assert!(detail.contains("prod/replica"), "{detail}");
    let golden = common::json(h, &["volume", "inspect", "golden/db"]);
    assert_eq!(golden["provenance"]["masked"], true, "{golden}");
    let r = run("dev", "2", &[]);
    r.passed();
    // The replica holds exactly prod's rows, and prod never saw the pool.
    let status = common::json(h, &["source", "status", "prod"]);
    assert_eq!(status["gtid_distance"], 0, "{status}");
}
