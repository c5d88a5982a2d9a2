//! Intents: the crash-safety protocol described in [`crate::engine`].
//!
//! An operation records an intent and tags rows with it in one transaction,
//! works on the filesystem, then clears the tags in another. A writer taking
//! the home lock first finishes whatever a dead process left tagged.

use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::{now, snap_path, vol_path, Engine};
use crate::error::{Error, Result};
use crate::store::state::OpKind;
use crate::store::{self, ops, pools, HomeLock};
use crate::sys;

impl Engine {
    /// Takes the writer lock and finishes whatever a dead process left half done.
    pub(super) fn begin(&mut self) -> Result<HomeLock> {
        let lock = store::lock(&self.home)?;
        self.reconcile()?;
        Ok(lock)
    }

    pub(super) fn tx(&mut self) -> Result<Transaction<'_>> {
        Ok(self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    /// Commits a new intent together with `tag`, which tags (or makes) the rows
    /// it covers; returns the intent's id and what `tag` returned.
    pub(super) fn intent<T>(
        &mut self,
        kind: OpKind,
        detail: &str,
        tag: impl FnOnce(&Connection, i64) -> Result<T>,
    ) -> Result<(i64, T)> {
        let tx = self.tx()?;
        let op = ops::insert(&tx, kind, detail, now())?;
        let tagged = tag(&tx, op)?;
        tx.commit()?;
        Ok((op, tagged))
    }

    /// Makes what `op` created live: its rows ready and online, the intent gone.
    pub(super) fn finish_op(&mut self, op: i64) -> Result<()> {
        let tx = self.tx()?;
        ops::finish(&tx, op)?;
        tx.commit()?;
        Ok(())
    }

    /// Removes everything tagged with `op` (filesystem first, then rows) and the intent.
    pub(super) fn undo_op(&mut self, op: i64) -> Result<()> {
        for t in ops::tagged(&self.db, op)? {
            let pool = pools::by_id(&self.db, t.pool_id)?;
            let root = self.pool_root(&pool)?;
            let path = if t.is_snapshot {
                snap_path(&root, t.id)
            } else {
                vol_path(&root, t.id)
            };
            pool.backend.backend().destroy(&path)?;
        }
        let tx = self.tx()?;
        ops::delete_tagged(&tx, op)?;
        tx.commit()?;
        Ok(())
    }

    /// Completes or rolls back every operation a dead process left behind.
    /// Returns how many there were. Runs under the home lock.
    pub(super) fn reconcile(&mut self) -> Result<u64> {
        let mut done = 0;
        for op in ops::all(&self.db)? {
            tracing::warn!(op = op.id, kind = %op.kind, "reconciling an interrupted operation");
            let result = OpKind::parse(&op.kind).and_then(|kind| match kind {
                OpKind::PoolCreate | OpKind::PoolRemove => {
                    self.finish_pool_teardown(op.id, &op.detail)
                }
                // Tagged rows of a create are rolled back, of a destroy rolled
                // forward: both mean removing them.
                OpKind::Create | OpKind::Destroy => self.undo_op(op.id),
            });
            match result {
                Ok(()) => done += 1,
                // A pool that is not mounted now cannot be cleaned, and an intent of
                // a kind this version does not know is not ours to guess at: keep it
                // for later rather than deleting rows whose directories may still exist.
                Err(e) => {
                    tracing::error!(op = op.id, error = %e, "cannot reconcile yet; will retry")
                }
            }
        }
        Ok(done)
    }

    /// Unmounts and deletes what a pool create made, or what a pool remove left.
    pub(super) fn finish_pool_teardown(&mut self, op: i64, detail: &str) -> Result<()> {
        let (image, mount_dir) = parse_teardown_detail(detail);
        if let Some(dir) = &mount_dir {
            sys::unmount(dir)?;
            match fs::remove_dir(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io("removing mount point", dir)(e))
                }
                _ => {}
            }
        }
        if let Some(image) = &image {
            match fs::remove_file(image) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io("removing image", image)(e))
                }
                _ => {}
            }
        }
        ops::delete(&self.db, op)
    }
}

/// The detail of a pool teardown intent: the image and the mount point, one a line.
pub(super) fn teardown_detail(image: Option<&Path>, mount_dir: &Path) -> String {
    format!(
        "{}\n{}",
        image
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
        mount_dir.to_string_lossy()
    )
}

fn parse_teardown_detail(detail: &str) -> (Option<PathBuf>, Option<PathBuf>) {
    let mut lines = detail.splitn(2, '\n');
    let nonempty = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(PathBuf::from);
    let image = nonempty(lines.next());
    let mount = nonempty(lines.next());
    (image, mount)
}
