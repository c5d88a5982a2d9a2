//! Helpers shared by the CLI's test binaries: run `populous` on a home.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::Path;
use std::process::{Command, Output};

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

/// Runs `populous --json ARGS`, which must succeed; returns the parsed stdout.
pub fn json(home: &Path, args: &[&str]) -> Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    serde_json::from_str(&ok(home, &a)).expect("valid JSON on stdout")
}
