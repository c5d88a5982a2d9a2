//! Running async driver code from the sync API: `populous_sql`'s bridge,
//! with its one failure (no runtime) as a [`DbError`].

use std::future::Future;

use crate::{DbError, Result};

fn no_runtime(e: std::io::Error) -> DbError {
    DbError::io("create a tokio runtime for", "the MariaDB client", e)
}

/// A fresh current-thread runtime with IO and timers.
pub(crate) fn new_runtime() -> Result<tokio::runtime::Runtime> {
    populous_sql::new_runtime().map_err(no_runtime)
}

/// Runs `fut` to completion on a private runtime. Inside a tokio runtime the
/// work moves to a scoped thread, because nesting runtimes panics.
pub(crate) fn block_on<F>(fut: F) -> Result<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    populous_sql::block_on(fut).map_err(no_runtime)
}
