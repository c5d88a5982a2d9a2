//! Per-server limits: memory, connections and CPU share.
//!
//! Memory is half InnoDB's buffer pool (`innodb_buffer_pool_size`), half
//! the rest of what a server uses (connections, sort buffers, the
//! dictionary); the whole is also the server's cgroup memory limit, so a
//! clone that outgrows it is stopped by the kernel instead of starving its
//! neighbours. Connections are `max_connections`; the CPU share is the
//! cgroup's weight (`cpu.weight` on cgroup v2, `cpu.shares` on v1, where
//! 1024 is one default share).
//!
//! The server joins its cgroups before `exec` (in the child, between fork
//! and exec), so everything it ever allocates is counted there. The
//! cgroups are made under the caller's own (as a delegated service would),
//! so a limit set on the caller still holds for its servers. Where the
//! kernel offers no writable cgroup hierarchy, the server options still
//! apply and [`Confinement::reason`] says why the rest did not.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{DbError, Result};

/// The least memory a server is given: InnoDB and the server's own
/// structures need about this much to start and answer.
pub const MIN_MEMORY: u64 = 96 << 20;

/// Limits for one server; `None` leaves each as MariaDB's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Bytes of memory (buffer pool: half of it; cgroup limit: all of it).
    pub memory: Option<u64>,
    /// `max_connections` (10 to 100000).
    pub connections: Option<u32>,
    /// CPU weight, 1 to 10000 (100: an ordinary process's share).
    pub cpu_weight: Option<u32>,
}

impl Limits {
    /// Checks the values: memory at least [`MIN_MEMORY`], connections and
    /// weight in range.
    pub fn check(&self) -> Result<()> {
        let bad = |detail: String| Err(DbError::BadLimit { detail });
        if let Some(m) = self.memory.filter(|m| *m < MIN_MEMORY) {
            return bad(format!(
                "memory {} MiB is too small for MariaDB: give at least {} MiB",
                m >> 20,
                MIN_MEMORY >> 20
            ));
        }
        // MariaDB's own range: it would raise a smaller value to 10 silently.
        if self
            .connections
            .is_some_and(|c| !(10..=100_000).contains(&c))
        {
            return bad("connections must be 10 to 100000 (MariaDB's range)".into());
        }
        if self.cpu_weight.is_some_and(|w| !(1..=10_000).contains(&w)) {
            return bad("the CPU weight must be 1 to 10000 (100: an ordinary share)".into());
        }
        Ok(())
    }

    /// The `mariadbd` options these limits set.
    pub fn server_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(m) = self.memory {
            // In MiB: InnoDB rounds the pool to its chunk size anyway.
            out.push(format!("--innodb-buffer-pool-size={}M", (m / 2) >> 20));
        }
        if let Some(c) = self.connections {
            out.push(format!("--max-connections={c}"));
        }
        out
    }

    /// Whether any limit needs a cgroup.
    fn needs_cgroup(&self) -> bool {
        self.memory.is_some() || self.cpu_weight.is_some()
    }
}

/// Where a server's cgroups are, or why it has none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confinement {
    /// The cgroup directories the server joined.
    pub cgroups: Vec<PathBuf>,
    /// Why the memory and CPU limits are not enforced by the kernel, if they are not.
    pub reason: Option<String>,
}

/// The cgroups to make for a server named `name` with `limits`, with the
/// files to write: prepared before the fork, joined in the child.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    dirs: Vec<PathBuf>,
    /// `cgroup.procs` of each dir, as C strings for the child.
    procs: Vec<CString>,
    reason: Option<String>,
}

const ROOT: &str = "/sys/fs/cgroup";

/// The caller's own cgroup path for a v1 controller (or v2 with `""`).
fn own_cgroup(controller: &str) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let hit = if controller.is_empty() {
            ctrls.is_empty()
        } else {
            ctrls.split(',').any(|c| c == controller)
        };
        hit.then(|| path.to_owned())
    })
}

fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|e| DbError::io("writing", path, e))
}

impl Plan {
    /// Makes the cgroups and sets their limits. A host without a writable
    /// hierarchy gives a plan with a reason and no cgroups.
    pub(crate) fn make(name: &str, limits: &Limits) -> Result<Plan> {
        if !limits.needs_cgroup() {
            return Ok(Plan::default());
        }
        let leaf = format!("populous-{name}");
        let v2 = Path::new(ROOT).join("cgroup.controllers").exists();
        let mut plan = Plan::default();
        let r = if v2 {
            plan.make_v2(&leaf, limits)
        } else {
            plan.make_v1(&leaf, limits)
        };
        if let Err(e) = r {
            plan.remove();
            plan = Plan {
                reason: Some(format!("no cgroup limits: {e}")),
                ..Plan::default()
            };
        }
        if let Some(reason) = &plan.reason {
            tracing::warn!(server = name, %reason, "memory and CPU limits not enforced by the kernel");
        }
        Ok(plan)
    }

    fn add(&mut self, dir: PathBuf) -> Result<()> {
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(DbError::io("creating the cgroup", &dir, e)),
        }
        let procs = dir.join("cgroup.procs");
        self.procs.push(
            CString::new(procs.as_os_str().as_bytes()).map_err(|_| {
                DbError::io("naming", &procs, std::io::ErrorKind::InvalidInput.into())
            })?,
        );
        self.dirs.push(dir);
        Ok(())
    }

    fn make_v1(&mut self, leaf: &str, l: &Limits) -> Result<()> {
        if let Some(m) = l.memory {
            let own = own_cgroup("memory").unwrap_or_default();
            let dir = Path::new(ROOT)
                .join("memory")
                .join(own.trim_start_matches('/'))
                .join(leaf);
            self.add(dir.clone())?;
            write(&dir.join("memory.limit_in_bytes"), &m.to_string())?;
        }
        if let Some(w) = l.cpu_weight {
            let own = own_cgroup("cpu").unwrap_or_default();
            let dir = Path::new(ROOT)
                .join("cpu")
                .join(own.trim_start_matches('/'))
                .join(leaf);
            self.add(dir.clone())?;
            // v1 shares: 1024 is the default share, as weight 100 is on v2.
            write(
                &dir.join("cpu.shares"),
                &(u64::from(w) * 1024 / 100).max(2).to_string(),
            )?;
        }
        Ok(())
    }

    fn make_v2(&mut self, leaf: &str, l: &Limits) -> Result<()> {
        let own = own_cgroup("").unwrap_or_default();
        if own != "/" {
            // v2 lets no cgroup with processes in it hand controllers down.
            self.reason = Some(format!(
                "this process's cgroup ({own}) cannot delegate controllers on cgroup v2"
            ));
            return Ok(());
        }
        let parent = Path::new(ROOT).join("populous");
        match std::fs::create_dir(&parent) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(DbError::io("creating the cgroup", &parent, e)),
        }
        write(
            &Path::new(ROOT).join("cgroup.subtree_control"),
            "+memory +cpu",
        )?;
        write(&parent.join("cgroup.subtree_control"), "+memory +cpu")?;
        let dir = parent.join(leaf);
        self.add(dir.clone())?;
        if let Some(m) = l.memory {
            write(&dir.join("memory.max"), &m.to_string())?;
        }
        if let Some(w) = l.cpu_weight {
            write(&dir.join("cpu.weight"), &w.to_string())?;
        }
        Ok(())
    }

    /// What the server got.
    pub(crate) fn confinement(&self) -> Confinement {
        Confinement {
            cgroups: self.dirs.clone(),
            reason: self.reason.clone(),
        }
    }

    /// Joins the cgroups: run in the child between fork and exec, so it
    /// only opens and writes (no allocation).
    pub(crate) fn join_in_child(&self) -> std::io::Result<()> {
        use nix::fcntl::{open, OFlag};
        use nix::sys::stat::Mode;
        for p in &self.procs {
            let fd = open(p.as_c_str(), OFlag::O_WRONLY, Mode::empty())?;
            // "0" is the writing process itself.
            nix::unistd::write(&fd, b"0")?;
        }
        Ok(())
    }

    /// Removes the cgroups (they must be empty: the server is gone).
    pub(crate) fn remove(&self) {
        remove(&self.dirs);
    }
}

/// Removes a stopped server's cgroups.
pub fn remove(dirs: &[PathBuf]) {
    for d in dirs {
        let _ = std::fs::remove_dir(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_and_spelled() {
        let l = Limits {
            memory: Some(256 << 20),
            connections: Some(20),
            cpu_weight: Some(50),
        };
        assert!(l.check().is_ok());
        assert_eq!(
            l.server_args(),
            ["--innodb-buffer-pool-size=128M", "--max-connections=20"]
        );
        assert!(Limits::default().server_args().is_empty());
        for bad in [
            Limits {
                memory: Some(32 << 20),
                ..Limits::default()
            },
            Limits {
                connections: Some(9),
                ..Limits::default()
            },
            Limits {
                cpu_weight: Some(0),
                ..Limits::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
        let e = Limits {
            memory: Some(32 << 20),
            ..Limits::default()
        }
        .check()
        .unwrap_err()
        .to_string();
        assert!(e.contains("too small for MariaDB"), "{e}");
    }

    #[test]
    fn no_limits_need_no_cgroup() {
        let p = Plan::make("x", &Limits::default()).unwrap();
        assert_eq!(p.confinement(), Confinement::default());
    }
}
