//! Fault injection, to prove crash safety.
//!
//! Every multi-step operation calls [`point`] between its steps. When the
//! environment variable `POPULOUS_FAULT` names that point, the process kills
//! itself with SIGKILL right there, exactly as `kill -9` or a power cut would:
//! no destructor runs, no transaction is finished. Tests then start a fresh
//! process and check that reconciliation left metadata and filesystem in
//! agreement. The variable is read at each point, so production code pays one
//! environment lookup per step and nothing else.

/// The variable that names the point at which to die.
pub const FAULT_ENV: &str = "POPULOUS_FAULT";

/// Dies here if `POPULOUS_FAULT` names `name`.
pub fn point(name: &str) {
    if let Some(v) = std::env::var_os(FAULT_ENV) {
        if v.to_str().is_some_and(|v| v.split(',').any(|p| p == name)) {
            tracing::warn!(point = name, "fault injection: killing this process");
            // SAFETY: raising a signal on ourselves has no memory-safety preconditions.
            unsafe {
                libc::raise(libc::SIGKILL);
            }
        }
    }
}

/// Every point the engine defines, for tests that want to visit them all.
pub const POINTS: &[&str] = &[
    "pool_create.after_intent",
    "pool_create.after_mkfs",
    "pool_create.after_mount",
    "volume_create.after_intent",
    "volume_create.after_fs",
    "snapshot_create.after_intent",
    "snapshot_create.after_fs",
    "clone.after_intent",
    "clone.after_snapshot",
    "clone.after_fs",
    "volume_destroy.after_intent",
    "volume_destroy.after_fs",
    "snapshot_destroy.after_intent",
    "snapshot_destroy.after_fs",
    "import.before_commit",
    "rename.before_commit",
    "rename.after_commit",
];
