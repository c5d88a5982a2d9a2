//! Running async driver code from the sync APIs.
//!
//! The libraries expose blocking functions (the CLI and the tests are
//! sync), while `mysql_async` is async. Each call gets a private
//! current-thread runtime; a caller already inside a tokio runtime (the
//! daemon) has its work moved to a scoped thread first, because blocking a
//! runtime thread on another runtime panics.

use std::future::Future;

/// A fresh current-thread runtime with IO and timers.
pub fn new_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Runs `f` on a scoped thread when called from inside a tokio runtime
/// (whose thread must not block on another runtime), else right here.
/// A panic in `f` is resumed in the caller.
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| {
            s.spawn(f)
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    } else {
        f()
    }
}

/// Runs `fut` to completion on a private runtime, off any runtime the
/// caller is on. Fails only when no runtime can be created.
pub fn block_on<F>(fut: F) -> std::io::Result<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    off_runtime(|| new_runtime().map(|rt| rt.block_on(fut)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_from_sync_code() {
        assert_eq!(block_on(async { 6 * 7 }).unwrap(), 42);
    }

    #[test]
    fn blocks_from_inside_a_runtime_without_panicking() {
        let rt = new_runtime().unwrap();
        let got = rt.block_on(async { block_on(async { "inner" }).unwrap() });
        assert_eq!(got, "inner");
        let here = std::thread::current().id();
        let ran_on = rt.block_on(async { off_runtime(|| std::thread::current().id()) });
        assert_ne!(
            ran_on, here,
            "inside a runtime the work moves to another thread"
        );
        assert_eq!(off_runtime(|| std::thread::current().id()), here);
    }
}
