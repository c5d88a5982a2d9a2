//! Running async driver code from the sync API.

use std::future::Future;

use crate::{DbError, Result};

/// A fresh current-thread runtime with IO and timers.
pub(crate) fn new_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DbError::io("create a tokio runtime for", "the MariaDB client", e))
}

/// Runs `fut` to completion on a private runtime. Inside a tokio runtime the
/// work moves to a scoped thread, because nesting runtimes panics.
pub(crate) fn block_on<F>(fut: F) -> Result<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| {
            s.spawn(|| new_runtime().map(|rt| rt.block_on(fut)))
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    } else {
        Ok(new_runtime()?.block_on(fut))
    }
}
