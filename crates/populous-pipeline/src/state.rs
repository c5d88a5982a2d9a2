//! What the pipeline remembers between runs, and who runs what now.
//!
//! - **The lock**: one file per pipeline and environment under the state
//!   directory, held with an exclusive `flock` for the whole run. The kernel
//!   drops it when the process dies, so a `kill -9` never leaves a stale lock.
//!   The file holds the holder's pid and build for the error message.
//! - **The record**: `NAME.state.json`, per environment: the builds that
//!   passed (newest last) and the data volume in use. It is written to a
//!   temporary file and renamed, so a crash leaves the old or the new record.
//!   Gates (`requires: stage`) read it.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};

/// How many passed builds are remembered per environment.
const KEEP: usize = 50;

/// An environment's record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnvRecord {
    /// Build strings that passed every role, oldest first.
    #[serde(default)]
    pub passed: Vec<String>,
    /// The data volume the environment's services use now (stage's import).
    #[serde(default)]
    pub volume: Option<String>,
    /// The build string running now, if the last run got as far as `run`.
    #[serde(default)]
    pub running: Option<String>,
}

/// The whole record of one pipeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineState {
    /// Per environment.
    #[serde(default)]
    pub environments: BTreeMap<String, EnvRecord>,
}

impl PipelineState {
    /// Whether `tag` passed `env`.
    pub fn passed(&self, env: &str, tag: &str) -> bool {
        self.environments
            .get(env)
            .is_some_and(|r| r.passed.iter().any(|t| t == tag))
    }

    /// Records that `tag` passed `env`.
    pub fn mark_passed(&mut self, env: &str, tag: &str) {
        let r = self.environments.entry(env.to_string()).or_default();
        r.passed.retain(|t| t != tag);
        r.passed.push(tag.to_string());
        let extra = r.passed.len().saturating_sub(KEEP);
        r.passed.drain(..extra);
    }

    /// The record of `env`, made if missing.
    pub fn env_mut(&mut self, env: &str) -> &mut EnvRecord {
        self.environments.entry(env.to_string()).or_default()
    }
}

/// Where a pipeline keeps its state and locks.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
    name: String,
}

impl StateDir {
    /// The state of pipeline `name` under `dir` (made if missing).
    pub fn new(dir: &Path, name: &str) -> Result<StateDir> {
        std::fs::create_dir_all(dir).map_err(|e| PipelineError::io("creating", dir, e))?;
        Ok(StateDir {
            dir: dir.to_path_buf(),
            name: name.to_string(),
        })
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join(format!("{}.state.json", self.name))
    }

    /// The lock file of an environment.
    pub fn lock_path(&self, env: &str) -> PathBuf {
        self.dir.join(format!("{}-{env}.lock", self.name))
    }

    /// Reads the record (empty if there is none yet).
    pub fn load(&self) -> Result<PipelineState> {
        let p = self.state_path();
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| PipelineError::Io {
                what: "reading the pipeline state",
                path: p.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{e}; move the file away to start from an empty record"),
                ),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PipelineState::default()),
            Err(e) => Err(PipelineError::io("reading", p, e)),
        }
    }

    /// Changes the record: read, `f`, write atomically. Callers hold their
    /// environment's lock; environments only change their own entry, and the
    /// read-modify-write is itself serialised by a lock on the state file.
    pub fn update(&self, f: impl FnOnce(&mut PipelineState)) -> Result<PipelineState> {
        let guard_path = self.dir.join(format!("{}.state.lock", self.name));
        let guard = open_lock(&guard_path)?;
        flock(&guard, true).map_err(|e| PipelineError::io("locking", &guard_path, e))?;
        let mut s = self.load()?;
        f(&mut s);
        let p = self.state_path();
        let tmp = p.with_extension("json.tmp");
        let body = serde_json::to_vec_pretty(&s).expect("the state serialises");
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &p)?;
            File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| PipelineError::io("writing", &p, e))?;
        Ok(s)
    }

    /// Takes environment `env`'s lock: at once, or waiting up to `wait`.
    pub fn lock(&self, env: &str, wait: Duration, about: &str) -> Result<EnvLock> {
        let path = self.lock_path(env);
        let mut file = open_lock(&path)?;
        let deadline = Instant::now() + wait;
        loop {
            match flock(&file, false) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        let mut holder = String::new();
                        let _ = file.read_to_string(&mut holder);
                        let holder = holder.trim();
                        return Err(PipelineError::Busy {
                            env: env.to_string(),
                            holder: if holder.is_empty() {
                                "holder unknown".into()
                            } else {
                                holder.to_string()
                            },
                        });
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(PipelineError::io("locking", &path, e)),
            }
        }
        let note = format!("pid {}, {about}\n", std::process::id());
        let write = |f: &mut File| -> std::io::Result<()> {
            f.set_len(0)?;
            f.rewind()?;
            f.write_all(note.as_bytes())
        };
        write(&mut file).map_err(|e| PipelineError::io("writing", &path, e))?;
        Ok(EnvLock { _file: file })
    }
}

/// An exclusive `flock` on `file`: waiting for it, or failing with
/// `WouldBlock` at once. Released when the file is closed.
fn flock(file: &File, wait: bool) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let op = if wait {
        libc::LOCK_EX
    } else {
        libc::LOCK_EX | libc::LOCK_NB
    };
    loop {
        // SAFETY: flock on a file descriptor we own for the call's duration.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn open_lock(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| PipelineError::io("opening", path, e))
}

/// A held environment lock; dropped (or the process gone), it is free.
#[derive(Debug)]
pub struct EnvLock {
    _file: File,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_note() {
        let d = tempfile::tempdir().unwrap();
        let s = StateDir::new(d.path(), "populous").unwrap();
        let held = s.lock("prod", Duration::ZERO, "build 1.0.1-28").unwrap();
        let e = s
            .lock("prod", Duration::from_millis(300), "build 1.0.1-29")
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("environment prod"), "{msg}");
        assert!(msg.contains("1.0.1-28"), "{msg}");
        assert!(msg.contains(&std::process::id().to_string()), "{msg}");
        // Another environment is free.
        let _dev = s.lock("dev", Duration::ZERO, "build 1.0.1-29").unwrap();
        drop(held);
        s.lock("prod", Duration::ZERO, "build 1.0.1-29").unwrap();
    }

    #[test]
    fn the_record_survives_and_gates() {
        let d = tempfile::tempdir().unwrap();
        let s = StateDir::new(d.path(), "populous").unwrap();
        assert!(!s.load().unwrap().passed("stage", "1.0.1-28"));
        s.update(|st| {
            st.mark_passed("stage", "1.0.1-28");
            st.env_mut("stage").volume = Some("db-28".into());
        })
        .unwrap();
        let st = StateDir::new(d.path(), "populous").unwrap().load().unwrap();
        assert!(st.passed("stage", "1.0.1-28"));
        assert!(!st.passed("prod", "1.0.1-28"));
        assert_eq!(st.environments["stage"].volume.as_deref(), Some("db-28"));
        // Bounded history, newest kept.
        s.update(|st| {
            for i in 0..(KEEP + 10) {
                st.mark_passed("dev", &format!("1.0.1-{i}"));
            }
        })
        .unwrap();
        let st = s.load().unwrap();
        assert_eq!(st.environments["dev"].passed.len(), KEEP);
        assert!(st.passed("dev", &format!("1.0.1-{}", KEEP + 9)));
        assert!(!st.passed("dev", "1.0.1-0"));
    }

    #[test]
    fn a_corrupt_record_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        let s = StateDir::new(d.path(), "p").unwrap();
        std::fs::write(d.path().join("p.state.json"), b"{not json").unwrap();
        let e = s.load().unwrap_err().to_string();
        assert!(e.contains("move the file away"), "{e}");
    }
}
