//! End to end with the real Docker engine on this machine: `populous serve`
//! as a process, three plugin drivers (prod, dev, stage) on
//! /run/docker/plugins, `docker volume create -o importVolAsClone=…`,
//! `docker run` with a FROM-scratch busybox image, offline on rm, import into
//! another folder's driver, and a daemon killed with SIGKILL and restarted
//! while a container holds a mount. Named `loopdev_docker_…`: root, loop
//! devices and a running Docker engine.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

mod common;

use common::{image_pool, json, ok, ok_all};
use populous_testkit::Lab;
use serde_json::Value;

const IMAGE: &str = "populous-test-busybox:1";

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().expect("docker")
}

fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds a FROM-scratch image with Debian's static busybox (nothing is pulled).
fn ensure_image(lab: &Lab) {
    if docker(&["image", "inspect", IMAGE]).status.success() {
        return;
    }
    let ctx = lab.path().join("image");
    std::fs::create_dir_all(&ctx).expect("mkdir");
    std::fs::copy("/bin/busybox", ctx.join("busybox")).expect("busybox-static is installed");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nCMD [\"/bin/sh\"]\n",
    )
    .expect("Dockerfile");
    docker_ok(&["build", "-q", "-t", IMAGE, ctx.to_str().expect("utf-8")]);
}

/// `populous serve` as a child process; killed on drop. Containers and Docker
/// volumes the test made are removed first, while the plugin still answers.
struct Daemon {
    child: Option<Child>,
    home: PathBuf,
    config: PathBuf,
    containers: Vec<String>,
    volumes: Vec<(String, String)>,
    sockets: Vec<PathBuf>,
}

impl Daemon {
    fn start(home: &Path, config: &Path) -> Daemon {
        let mut d = Daemon {
            child: None,
            home: home.to_owned(),
            config: config.to_owned(),
            containers: Vec::new(),
            volumes: Vec::new(),
            sockets: Vec::new(),
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let (child, _, sockets) = common::serve(&self.home, &self.config);
        assert_eq!(sockets.len(), 3, "{sockets:?}");
        self.sockets = sockets;
        self.child = Some(child);
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = docker(&["rm", "-f", c]);
        }
        for (_, v) in &self.volumes {
            let _ = docker(&["volume", "rm", "-f", v]);
        }
        self.kill9();
        // SIGKILL leaves the sockets behind; Docker must not find dead drivers there.
        for s in &self.sockets {
            let _ = std::fs::remove_file(s);
        }
    }
}

#[test]
fn loopdev_docker_plugin_end_to_end() {
    let lab = Lab::new();
    ensure_image(&lab);
    let home = image_pool(&lab, "512M", &[]);
    let h = home.as_path();
    ok_all(
        h,
        &[
            &["folder", "create", "p/prod"],
            &["folder", "create", "p/dev", "--clone-from", "prod"],
            &[
                "folder",
                "create",
                "p/stage",
                "--import-from",
                "dev",
                "--clone-from",
                "stage",
            ],
            &["volume", "create", "prod/db"],
        ],
    );
    let prod = PathBuf::from(ok(h, &["volume", "path", "prod/db"]).trim());
    std::fs::write(prod.join("hello"), "prod data\n").expect("write");
    let dev_token = ok(
        h,
        &[
            "token",
            "create",
            "dev-plugin",
            "--write",
            "dev",
            "--read",
            "prod",
        ],
    );
    let stage_token = ok(
        h,
        &["token", "create", "stage-plugin", "--write", "stage,dev"],
    );
    std::fs::write(lab.path().join("dev.token"), dev_token.trim()).expect("token");
    std::fs::write(lab.path().join("stage.token"), stage_token.trim()).expect("token");

    // Fixed driver names: dockerd remembers every driver it has used until it
    // restarts and retries a gone one for 30 s on lookups; a new name per run
    // would pile such drivers up, the same name is revived by the next run.
    let tag = "dockertest".to_string();
    let (d_prod, d_dev, d_stage) = (
        format!("{tag}-prod"),
        format!("{tag}-dev"),
        format!("{tag}-stage"),
    );
    let config = lab.path().join("populous.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"\"\n\
             [[plugin]]\ndriver = \"{d_prod}\"\nfolder = \"prod\"\nname_suffix = \".{tag}prod\"\n\
             [[plugin]]\ndriver = \"{d_dev}\"\nfolder = \"dev\"\nname_suffix = \".{tag}dev\"\ntoken_file = \"{}\"\n\
             [[plugin]]\ndriver = \"{d_stage}\"\nfolder = \"stage\"\nname_suffix = \".{tag}stage\"\ntoken_file = \"{}\"\n",
            lab.path().join("dev.token").display(),
            lab.path().join("stage.token").display()
        ),
    )
    .expect("config");
    let mut daemon = Daemon::start(h, &config);
    let dev_vol = format!("db1.{tag}dev");
    let stage_vol = format!("db1.{tag}stage");
    daemon.volumes.push((d_dev.clone(), dev_vol.clone()));
    daemon.volumes.push((d_stage.clone(), stage_vol.clone()));

    // dev: clone prod's volume through the plugin, and use it from a container.
    docker_ok(&[
        "volume",
        "create",
        "-d",
        &d_dev,
        "-o",
        "importVolAsClone=prod/db",
        &dev_vol,
    ]);
    let out = docker_ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{dev_vol}:/data"),
        IMAGE,
        "sh",
        "-c",
        "cat /data/hello && echo 'written in dev' > /data/dev.txt",
    ]);
    assert_eq!(out, "prod data\n");
    assert!(
        !prod.join("dev.txt").exists(),
        "the clone's writes stay out of prod"
    );
    let inspect: Value =
        serde_json::from_str(&docker_ok(&["volume", "inspect", &dev_vol])).expect("inspect");
    assert!(
        inspect[0]["Status"]["origin"]
            .as_str()
            .expect("origin")
            .starts_with("prod/db@"),
        "{inspect}"
    );

    // Isolation: the dev driver cannot reach stage, and bad names are refused with Docker's own error path.
    for (source, name, needle) in [
        ("stage/x", "x", "may not read folder stage"),
        ("../prod/db", "y", "expected FOLDER/VOLUME"),
    ] {
        let opt = format!("importVolAsClone={source}");
        let name = format!("{name}.{tag}dev");
        let out = docker(&["volume", "create", "-d", &d_dev, "-o", &opt, &name]);
        assert!(!out.status.success(), "{source}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{source}: {out:?}"
        );
    }

    // docker volume rm takes the clone offline: kept, invisible to Docker.
    docker_ok(&["volume", "rm", &dev_vol]);
    let v = json(h, &["volume", "inspect", "dev/db1"]);
    assert_eq!(v["state"], "offline");
    // Filtered by driver: an unfiltered `volume ls` asks every driver dockerd
    // remembers, and each one whose plugin is gone costs seconds of retries.
    assert!(
        !docker_ok(&["volume", "ls", "-q", "--filter", &format!("driver={d_dev}")])
            .lines()
            .any(|l| l == dev_vol)
    );

    // stage: import the offline dev clone through stage's own driver.
    docker_ok(&[
        "volume",
        "create",
        "-d",
        &d_stage,
        "-o",
        "importVol=dev/db1",
        &stage_vol,
    ]);
    let v = json(h, &["volume", "inspect", "stage/db1"]);
    assert_eq!(v["state"], "online");
    assert!(v["origin"]
        .as_str()
        .expect("origin")
        .starts_with("prod/db@"));

    // A container holds the stage volume while the daemon is killed and restarted.
    let cid = docker_ok(&[
        "run",
        "-d",
        "-v",
        &format!("{stage_vol}:/data"),
        IMAGE,
        "sleep",
        "600",
    ])
    .trim()
    .to_owned();
    daemon.containers.push(cid.clone());
    let v = json(h, &["volume", "inspect", "stage/db1"]);
    assert_eq!(v["mounts"].as_array().expect("mounts").len(), 1, "{v}");
    daemon.kill9();
    daemon.spawn();
    let out = docker_ok(&["exec", &cid, "cat", "/data/dev.txt"]);
    assert_eq!(
        out, "written in dev\n",
        "the container kept its data across the restart"
    );
    let out = docker(&["volume", "rm", &stage_vol]);
    assert!(
        !out.status.success(),
        "Docker refuses to remove a volume in use"
    );
    docker_ok(&["rm", "-f", &cid]);
    daemon.containers.clear();
    let v = json(h, &["volume", "inspect", "stage/db1"]);
    assert_eq!(
        v["mounts"],
        Value::Array(vec![]),
        "the restarted daemon got the unmount: {v}"
    );
    docker_ok(&["volume", "rm", &stage_vol]);
    let v = json(h, &["volume", "inspect", "stage/db1"]);
    assert_eq!(v["state"], "offline");
    daemon.volumes.clear();

    // The audit log recorded the plugins' work.
    let audit = ok(h, &["audit", "--limit", "100"]);
    assert!(
        audit.contains(&format!("plugin:{d_dev}")) && audit.contains("clone"),
        "{audit}"
    );
    drop(daemon);
    let report = json(h, &["check"]);
    assert_eq!(report["orphans"], Value::Array(vec![]));
}
