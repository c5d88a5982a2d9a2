//! Helpers shared by the CLI's test binaries: run `populous` on a home.

#![allow(dead_code)] // each test binary uses its own subset

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use populous_testkit::Lab;
use serde_json::Value;

/// `populous --home HOME`, with no fault injection or log filter inherited.
pub fn populous(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_populous"));
    c.arg("--home")
        .arg(home)
        .env_remove("POPULOUS_FAULT")
        .env_remove("RUST_LOG");
    c
}

/// Runs `populous ARGS` and returns its output, whatever the exit status.
pub fn run(home: &Path, args: &[&str]) -> Output {
    populous(home)
        .args(args)
        .output()
        .expect("running populous")
}

/// Runs `populous ARGS`, which must succeed; returns stdout.
pub fn ok(home: &Path, args: &[&str]) -> String {
    let out = run(home, args);
    assert!(
        out.status.success(),
        "populous {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs each `populous ARGS` in turn; each must succeed.
pub fn ok_all(home: &Path, commands: &[&[&str]]) {
    for args in commands {
        ok(home, args);
    }
}

/// The lab's home with pool `p` on a new image file of `size` in the lab
/// (`extra` adds options, e.g. `--fs xfs`): root and loop devices.
pub fn image_pool(lab: &Lab, size: &str, extra: &[&str]) -> PathBuf {
    let home = lab.home();
    let img = lab.path().join("pool.img");
    let img = img.to_str().expect("utf-8");
    let mut args = vec!["pool", "create", "p", "--image", img, "--size", size];
    args.extend_from_slice(extra);
    ok(&home, &args);
    home
}

/// Runs `populous --json ARGS`, which must succeed; returns the parsed stdout.
pub fn json(home: &Path, args: &[&str]) -> Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    serde_json::from_str(&ok(home, &a)).expect("valid JSON on stdout")
}

/// `populous serve --config CONFIG` as a child process, once its listeners
/// are up (its first stdout line says so): the child, the REST API address
/// (if any) and the plugin sockets.
pub fn serve(home: &Path, config: &Path) -> (Child, Option<String>, Vec<PathBuf>) {
    let mut child = populous(home)
        .args(["--json", "serve", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn populous serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    let bound: Value = serde_json::from_str(&line).expect("bound JSON");
    let sockets = bound["sockets"]
        .as_array()
        .expect("sockets")
        .iter()
        .filter_map(|s| s.as_str())
        .map(PathBuf::from)
        .collect();
    (child, bound["api"].as_str().map(String::from), sockets)
}

/// SQL through the `mariadb` client on a server's socket (database
/// `populous`); returns tab-separated output.
pub fn sql(socket: &str, query: &str) -> String {
    let out = Command::new("mariadb")
        .args([
            "--socket", socket, "-u", "root", "-N", "-B", "populous", "-e", query,
        ])
        .output()
        .expect("the mariadb client is installed (scripts/install-deps.sh)");
    assert!(
        out.status.success(),
        "{query}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Stops every server the test started, even when it panics.
pub struct Servers {
    /// The Populous home.
    pub home: PathBuf,
    /// `FOLDER/VOL` of each started server.
    pub volumes: Vec<String>,
}

impl Servers {
    /// `populous db start VOLUME`; its JSON answer.
    pub fn start(&mut self, volume: &str) -> Value {
        let v = json(&self.home, &["db", "start", volume]);
        self.volumes.push(volume.to_owned());
        v
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for v in &self.volumes {
            let _ = run(&self.home, &["db", "stop", v]);
        }
    }
}

/// The names of folder `folder`'s volumes (`volume ls FOLDER`).
pub fn volume_names(home: &Path, folder: &str) -> Vec<String> {
    json(home, &["volume", "ls", folder])
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v["name"].as_str().expect("name").to_owned())
        .collect()
}
