//! The demo's setup steps, before the first pipeline run: preflight, the
//! pool with its folders, tokens and key, the daemon's config, the registry
//! and swarm, and the generated pipeline file.

use std::io::Write as _;
use std::path::Path;

use anyhow::{bail, Context, Result};
use populous_engine::size::format_size;
use populous_engine::{Allowed, Engine, FolderPolicy, FsKind, Name, Scope};
use populous_pipeline::Pipeline;

use super::{clean, registry, script, Demo, DemoState, PLUGINS, REGISTRY};

impl Demo {
    /// Root, Docker, and leftovers of an earlier run cleared; then nothing else in the way.
    pub(super) fn preflight(&mut self) -> Result<()> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            bail!("run the demo as root: it mounts a pool image, creates Docker plugin sockets and starts services");
        }
        let docker = populous_pipeline::docker::Docker::default();
        docker.run(&["info", "--format", "{{.ID}}"]).map_err(|e| {
            anyhow::anyhow!("the Docker engine does not answer ({e}): start dockerd and retry")
        })?;
        let found = clean::find(&self.n);
        if !found.is_empty() {
            let what = found.describe(&self.n);
            self.step("clearing what an earlier demo left", |d| {
                for w in &what {
                    d.ui.say(w);
                }
                clean::clean(&d.n, Some(&d.s.out), &d.ui, true).map(|_| ())
            })?;
        }
        let mut blocked = Vec::new();
        if found.foreign_home {
            blocked.push(format!(
                "{} exists and is not a demo home (no demo.json): give another --home, or remove it",
                self.n.home.display()
            ));
        }
        let ports = [
            ("127.0.0.1", self.s.api_port, "--api-port"),
            ("0.0.0.0", self.s.prod_port, "--prod-port"),
            ("0.0.0.0", self.s.prod_db_port, "--prod-db-port"),
            ("0.0.0.0", self.s.dev_port, "--dev-port"),
            ("0.0.0.0", self.s.stage_port, "--stage-port"),
        ];
        for (host, port, flag) in ports {
            if std::net::TcpListener::bind((host, port)).is_err() {
                blocked.push(format!(
                    "port {port} is in use by another program (choose another with {flag})"
                ));
            }
        }
        for env in PLUGINS {
            let sock = self.n.socket(env);
            if std::os::unix::net::UnixStream::connect(&sock).is_ok() {
                blocked.push(format!(
                    "{} answers: another daemon serves the driver {} (give the demo another --name)",
                    sock.display(),
                    self.n.driver(env)
                ));
            }
        }
        if !blocked.is_empty() {
            bail!("in the way of the demo:\n  {}", blocked.join("\n  "));
        }
        std::fs::create_dir_all(&self.n.home)
            .with_context(|| format!("creating {}", self.n.home.display()))?;
        std::fs::create_dir_all(&self.s.out)
            .with_context(|| format!("creating {}", self.s.out.display()))?;
        DemoState {
            out: Some(self.s.out.clone()),
            ..DemoState::default()
        }
        .save(&self.n)
    }

    pub(super) fn make_pool(&mut self) -> Result<()> {
        let mut e = Engine::open(&self.n.home)?;
        let pool = Name::new("pool", "main")?;
        let image = self.n.home.join("pool.img");
        let p = e.pool_create_image(&pool, &image, self.s.pool_size, FsKind::Btrfs, None)?;
        self.ui.say(&format!(
            "pool main: {} sparse image {}, {} backend, mounted at {}",
            format_size(self.s.pool_size),
            image.display(),
            p.backend,
            p.root.display()
        ));
        let f = |s: &str| Name::new("folder", s);
        let folders = [
            ("prod", FolderPolicy::default()),
            (
                "golden",
                FolderPolicy {
                    clone_from: Allowed::Only(vec![f("prod")?]),
                    import_from: Allowed::default(),
                    require_masked: false,
                },
            ),
            (
                "dev",
                FolderPolicy {
                    clone_from: Allowed::Only(vec![f("golden")?]),
                    import_from: Allowed::default(),
                    require_masked: true,
                },
            ),
            (
                "stage",
                FolderPolicy {
                    clone_from: Allowed::default(),
                    import_from: Allowed::Only(vec![f("dev")?]),
                    require_masked: true,
                },
            ),
        ];
        for (name, policy) in folders {
            e.folder_create(&format!("main/{name}").parse()?, &policy)?;
        }
        self.ui.say(
            "folders: prod (the source's replica of prod); golden clones from prod; dev clones masked data from golden; stage imports from dev and requires masked data",
        );
        std::fs::create_dir_all(self.n.home.join("tokens"))?;
        // Each environment writes its own folder and reads where its data
        // comes from; stage moves volumes out of dev (importVol), so it may write dev.
        let (r, w) = (Scope::Read, Scope::Write);
        let tokens = [
            ("prod", vec![("prod", w)]),
            ("golden", vec![("golden", w), ("prod", r)]),
            ("dev", vec![("dev", w), ("golden", r)]),
            ("stage", vec![("stage", w), ("dev", w)]),
        ];
        for (env, grants) in tokens {
            let grants = grants
                .iter()
                .map(|(c, s)| Ok((f(c)?, *s)))
                .collect::<Result<Vec<_>, populous_engine::Error>>()?;
            let (_, secret) = e.token_create(&Name::new("token", env)?, &grants)?;
            write_secret(&self.n.token_file(env), &secret)?;
        }
        self.ui.say(
            "tokens: prod (prod:write), golden (golden:write, prod:read), dev (dev:write, golden:read), stage (stage:write, dev:write)",
        );
        write_secret(&self.n.key_file(), &random_hex(32)?)?;
        Ok(())
    }

    pub(super) fn write_config(&self) -> Result<()> {
        let mut t = format!(
            "# Written by `populous demo`.\nlisten = \"127.0.0.1:{}\"\nplugin_dir = {}\n",
            self.s.api_port,
            toml_str(&self.n.plugin_dir)
        );
        for env in PLUGINS {
            t.push_str(&format!(
                "\n[[plugin]]\ndriver = \"{}\"\nfolder = \"{env}\"\nname_suffix = \"{}\"\ntoken_file = {}\n",
                self.n.driver(env),
                self.n.suffix(env),
                toml_str(&self.n.token_file(env))
            ));
        }
        populous_daemon::Config::parse(&t).map_err(|e| anyhow::anyhow!("{e}"))?;
        std::fs::write(self.n.config_file(), t)?;
        Ok(())
    }

    pub(super) fn registry_and_swarm(&mut self) -> Result<()> {
        let mut state = DemoState::load(&self.n).unwrap_or_default();
        if registry::answers() {
            self.ui.say(&format!("registry {REGISTRY} answers already"));
        } else {
            script(&self.n.repo, "registry.sh", &["start"])?;
            state.registry_started = true;
            state.save(&self.n)?;
            self.ui.say(&format!("started the registry on {REGISTRY}"));
        }
        let docker = populous_pipeline::docker::Docker::default();
        let swarm = docker.run(&["info", "--format", "{{.Swarm.LocalNodeState}}"])?;
        if swarm == "active" {
            self.ui.say("this engine is a swarm manager already");
        } else {
            script(&self.n.repo, "swarm.sh", &["init"])?;
            state.swarm_initialised = true;
            state.save(&self.n)?;
            self.ui.say("initialised a one-node swarm");
        }
        Ok(())
    }

    /// The pipeline file: examples/populous/populous.yml with the demo's names.
    pub(super) fn pipeline_file(&mut self) -> Result<Pipeline> {
        let path = self.s.out.join("populous-demo.yml");
        std::fs::write(&path, self.pipeline_yaml())?;
        self.report.files.push(path.display().to_string());
        Pipeline::load(&path).with_context(|| format!("the generated {}", path.display()))
    }

    pub(super) fn pipeline_yaml(&self) -> String {
        let q = |p: &Path| serde_json::to_string(&p.to_string_lossy()).unwrap_or_default();
        let ex = self.n.repo.join("examples/populous");
        let images = self.n.repo.join("scripts/images.sh");
        let app_bin = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join("populous-app")))
            .filter(|p| p.is_file())
            .map(|p| format!(", --app-bin, {}", q(&p)))
            .unwrap_or_default();
        let img = |role: &str, extra: &str| {
            format!(
                "    {role}: {{ repository: {name}/{role}, build: [{images}, --only, {role}, --no-verify, --prefix, {name}{extra}, --tag, \"{{tag}}\"] }}\n",
                name = self.n.name,
                images = q(&images),
            )
        };
        let env = |env: &str, port: u16| {
            format!(
                "    driver: {}\n    folder: {env}\n    name_suffix: \"{}\"\n    token: {{ file: {} }}\n    port: {port}\n",
                self.n.driver(env),
                self.n.suffix(env),
                q(&self.n.token_file(env))
            )
        };
        format!(
            "# Generated by `populous demo`: examples/populous/populous.yml with the demo's own\n\
             # names, drivers and ports, and prod's database outside the pool (Docker's local\n\
             # driver, a binary log): golden comes from source {source}, its replica on the pool.\n\
             # Reference: docs/pipeline.md.\n\
             name: {name}\n\
             registry: {REGISTRY}\n\
             populous:\n  api: http://127.0.0.1:{api}\n\
             app:\n  version_file: {version}\n  images:\n{app}{db}{lb}\
             environments:\n\
             \x20 golden:\n    roles: [refresh]\n    folder: golden\n    token: {{ file: {golden_token} }}\n\
             \x20   data: {{ from_source: {source}, volume: db }}\n\
             \x20   mask: {{ rules: {rules}, key_file: {key} }}\n\
             \x20 dev:\n    roles: [build, ship, run, mask, smoke, destroy]\n{dev}\
             \x20   data: {{ clone_of: golden/db, volume: \"db-{{build}}\" }}\n\
             \x20   mask: {{ rules: {rules}, key_file: {key} }}\n\
             \x20   smoke: {{ timeout: 180s }}\n\
             \x20 stage:\n    roles: [run, smoke]\n    requires: dev\n{stage}\
             \x20   data: {{ import_from: dev, volume: \"db-{{build}}\" }}\n\
             \x20   smoke: {{ timeout: 180s }}\n\
             \x20 prod:\n    roles: [run, smoke]\n    requires: stage\n{prod}\
             \x20   db: {{ args: [--log-bin=prod-bin, --server-id=1, --binlog-format=ROW], port: {prod_db_port} }}\n\
             \x20   data: {{ volume: db, seed_size: \"{size}\" }}\n\
             \x20   app: {{ replicas: 2, lb: true }}\n\
             \x20   update: {{ parallelism: 1, delay: 2s, order: start-first, monitor: 5s, rollback: true }}\n\
             \x20   probe: {{ interval: 100ms, idle: 10s, max_p99_ratio: {ratio} }}\n\
             \x20   smoke: {{ timeout: 120s }}\n",
            name = self.n.name,
            api = self.s.api_port,
            version = q(&ex.join("VERSION")),
            app = img("app", &format!(", --build, \"{{build}}\"{app_bin}")),
            db = img("db", ""),
            lb = img("lb", ""),
            dev = env("dev", self.s.dev_port),
            stage = env("stage", self.s.stage_port),
            prod = env("prod", self.s.prod_port).replacen(
                &format!("driver: {}", self.n.driver("prod")),
                &format!("driver: {}", populous_pipeline::spec::LOCAL_DRIVER),
                1
            ),
            prod_db_port = self.s.prod_db_port,
            source = super::source::SOURCE,
            rules = q(&ex.join("masking.yml")),
            key = q(&self.n.key_file()),
            golden_token = q(&self.n.token_file("golden")),
            size = self.s.size,
            ratio = self.s.max_p99_ratio,
        )
    }
}

fn toml_str(p: &Path) -> String {
    // A TOML basic string: JSON's escaping is valid TOML for these paths.
    serde_json::to_string(&p.to_string_lossy()).unwrap_or_default()
}

/// `bytes` random bytes in hex.
pub(super) fn random_hex(bytes: usize) -> Result<String> {
    let mut key = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut key))
        .context("reading /dev/urandom")?;
    Ok(key.iter().map(|b| format!("{b:02x}")).collect())
}

pub(super) fn write_secret(path: &Path, secret: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    writeln!(f, "{secret}")?;
    Ok(())
}
