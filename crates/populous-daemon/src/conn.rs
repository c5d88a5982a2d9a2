//! Serving HTTP/1.1 connections under limits, on TCP and unix sockets alike.
//!
//! `axum::serve` keeps a connection as long as the client likes: a request
//! head sent half-way, or a body that never comes, holds a task and a file
//! descriptor forever, and with the usual 1,024-file limit about a thousand
//! of them make the daemon unreachable. Here every listener:
//!
//! - closes a connection whose request head is not complete within
//!   `header_timeout` of the connection opening (or of the request's first
//!   byte on a kept-alive connection), and fails a request whose body does
//!   not arrive within `header_timeout` of its head;
//! - closes a kept-alive connection idle for `idle_timeout`;
//! - holds at most `max_connections` connections. At the cap, a new
//!   connection closes the one that has waited longest for a request (a
//!   half-sent head, an idle keep-alive); connections whose request is being
//!   served are never closed. When every connection is serving a request, the
//!   new one is answered 503 and closed at once.
//!
//! So a flood of idle or half-open connections churns itself out while a
//! client that sends its request promptly is served.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use axum::Router;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::state::Daemon;

/// The limits every listener applies (from the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time allowed for a request head, and then for its body.
    pub header_timeout: Duration,
    /// Time a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Connections held at once on one listener.
    pub max_connections: usize,
}

/// How long a new connection at the cap waits for the connection it evicts
/// to let go of its slot. The evicted task only has to wake up and drop.
const EVICTION_WAIT: Duration = Duration::from_secs(1);

/// A listener: TCP for the API, a unix socket per plugin.
pub trait Listen: Send + Sync + 'static {
    /// The accepted stream.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Accepts one connection.
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<Self::Io>>;
    /// Writes what fits without waiting (the refusal of a connection over the cap).
    fn try_write(io: &Self::Io, bytes: &[u8]);
}

impl Listen for TcpListener {
    type Io = tokio::net::TcpStream;
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<Self::Io>> {
        TcpListener::poll_accept(self, cx).map_ok(|(s, _)| s)
    }
    fn try_write(io: &Self::Io, bytes: &[u8]) {
        let _ = io.try_write(bytes);
    }
}

impl Listen for UnixListener {
    type Io = tokio::net::UnixStream;
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<Self::Io>> {
        UnixListener::poll_accept(self, cx).map_ok(|(s, _)| s)
    }
    fn try_write(io: &Self::Io, bytes: &[u8]) {
        let _ = io.try_write(bytes);
    }
}

/// Where a connection is in its request cycle.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request head to complete, since this instant.
    Head(Instant),
    /// Kept alive with no request under way, since this instant.
    Idle(Instant),
    /// A request is being served: no deadline of ours applies.
    Busy,
}

/// One connection's shared state: its phase, and the signals to its task.
#[derive(Debug)]
struct Conn {
    phase: Mutex<Phase>,
    /// The phase changed: the task recomputes its deadline.
    changed: Notify,
    /// Another connection needs this one's slot.
    evict: Notify,
    /// Already chosen for eviction (so two newcomers do not pick the same one).
    evicting: AtomicBool,
}

impl Conn {
    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, p: Phase) {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner()) = p;
        self.changed.notify_one();
    }

    /// Bytes arrived: an idle connection now has a request head under way.
    fn on_bytes(&self) {
        let mut phase = self.phase.lock().unwrap_or_else(|p| p.into_inner());
        if let Phase::Idle(_) = *phase {
            *phase = Phase::Head(Instant::now());
            drop(phase);
            self.changed.notify_one();
        }
    }

    /// When this connection is closed unless its phase changes, and why.
    fn deadline(&self, limits: &Limits) -> Option<(Instant, &'static str)> {
        match self.phase() {
            Phase::Head(t) => Some((t + limits.header_timeout, "header_timeout")),
            Phase::Idle(t) => Some((t + limits.idle_timeout, "idle_timeout")),
            Phase::Busy => None,
        }
    }

    /// The instant since which it has waited for a request, unless it is serving one.
    fn waiting_since(&self) -> Option<Instant> {
        match self.phase() {
            Phase::Head(t) | Phase::Idle(t) => Some(t),
            Phase::Busy => None,
        }
    }
}

/// The stream, watched for the first bytes of each request.
struct Watched<I> {
    io: I,
    conn: Arc<Conn>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.on_bytes();
        }
        r
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// A request body that fails once its deadline passes, so a handler
/// waiting for a body that never comes answers (400) instead of hanging.
struct Timed {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl Body for Timed {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(r) => Poll::Ready(r.map(|r| r.map_err(Into::into))),
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the request body did not arrive in time (header_timeout)",
                )
                .into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One listener's connections: the slots, and who holds them.
#[derive(Debug)]
struct Registry {
    slots: Arc<Semaphore>,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next: AtomicU64,
}

impl Registry {
    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the connection that has waited longest for a request to close;
    /// false when every connection is serving one.
    fn evict_one(&self) -> bool {
        let conns = self.conns();
        let victim = conns
            .values()
            .filter(|c| !c.evicting.load(Ordering::Relaxed))
            .filter_map(|c| c.waiting_since().map(|t| (t, c)))
            .min_by_key(|(t, _)| *t);
        match victim {
            Some((_, c)) => {
                c.evicting.store(true, Ordering::Relaxed);
                c.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Removes a finished connection from the registry, then frees its slot.
struct Slot {
    registry: Arc<Registry>,
    id: u64,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.conns().remove(&self.id);
    }
}

/// What one listener serves, and how it refuses a connection over the cap.
#[derive(Debug, Clone)]
pub struct Site {
    /// The router.
    pub app: Router,
    /// `api` or the driver's name, for metrics and logs.
    pub surface: Arc<str>,
    /// The whole HTTP answer written to a connection refused at the cap.
    pub refusal: Bytes,
    /// The daemon (for metrics).
    pub daemon: Arc<Daemon>,
}

/// The HTTP answer to a connection refused at the cap, with `body` as JSON.
pub fn refusal(body: &serde_json::Value, content_type: &str) -> Bytes {
    let body = body.to_string();
    Bytes::from(format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    ))
}

/// Serves `listener` until `stop` turns true, then lets requests in flight finish.
pub async fn serve<L: Listen>(
    listener: L,
    site: Site,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let registry = Arc::new(Registry {
        slots: Arc::new(Semaphore::new(limits.max_connections)),
        conns: Mutex::new(HashMap::new()),
        next: AtomicU64::new(0),
    });
    loop {
        let accepted = tokio::select! {
            r = std::future::poll_fn(|cx| listener.poll_accept(cx)) => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        let io = match accepted {
            Ok(io) => io,
            Err(e) => {
                // EMFILE and the like: back off rather than spin, and keep serving.
                tracing::warn!(surface = %site.surface, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let event = |what: &str| site.daemon.metrics.connection(&site.surface, what);
        let permit = match Arc::clone(&registry.slots).try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) if registry.evict_one() => {
                event("evicted");
                tokio::time::timeout(EVICTION_WAIT, Arc::clone(&registry.slots).acquire_owned())
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
            Err(_) => None,
        };
        let Some(permit) = permit else {
            event("refused");
            tracing::debug!(surface = %site.surface, "connection refused: every slot serves a request");
            L::try_write(&io, &site.refusal);
            continue;
        };
        event("accepted");
        let conn = Arc::new(Conn {
            phase: Mutex::new(Phase::Head(Instant::now())),
            changed: Notify::new(),
            evict: Notify::new(),
            evicting: AtomicBool::new(false),
        });
        let id = registry.next.fetch_add(1, Ordering::Relaxed);
        registry.conns().insert(id, Arc::clone(&conn));
        let slot = Slot {
            registry: Arc::clone(&registry),
            id,
            _permit: permit,
        };
        tokio::spawn(drive(io, conn, site.clone(), limits, stop.clone(), slot));
    }
    // Every connection holds a permit until its task ends: having them all
    // back means every request in flight has been answered.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = registry.slots.acquire_many(all).await;
}

/// Serves one connection, closing it at its deadline, on eviction, or (gracefully) at shutdown.
async fn drive<I: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    io: I,
    conn: Arc<Conn>,
    site: Site,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    _slot: Slot,
) {
    let header_timeout = limits.header_timeout;
    let service = {
        let conn = Arc::clone(&conn);
        let app = site.app.clone();
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let conn = Arc::clone(&conn);
            let mut app = app.clone();
            conn.set(Phase::Busy);
            let req = req.map(|inner| Timed {
                inner,
                deadline: Box::pin(tokio::time::sleep(header_timeout)),
            });
            async move {
                let resp = tower_service::Service::call(&mut app, req).await;
                // Answered: from here the connection waits for its next request.
                conn.set(Phase::Idle(Instant::now()));
                resp
            }
        })
    };
    let watched = TokioIo::new(Watched {
        io,
        conn: Arc::clone(&conn),
    });
    let http = hyper::server::conn::http1::Builder::new()
        // Our own deadlines replace hyper's, which cannot tell a kept-alive
        // connection from a half-sent request.
        .header_read_timeout(None)
        .serve_connection(watched, service);
    tokio::pin!(http);
    let mut stopping = false;
    loop {
        let deadline = conn.deadline(&limits);
        let expiry = async {
            match deadline {
                Some((at, _)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = http.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(surface = %site.surface, error = %e, "connection ended with an error");
                }
                return;
            }
            () = conn.changed.notified() => {}
            () = conn.evict.notified() => {
                // A request may have arrived since it was chosen: serve it.
                if conn.waiting_since().is_some() {
                    return;
                }
                conn.evicting.store(false, Ordering::Relaxed);
            }
            () = expiry => {
                if let Some((at, why)) = conn.deadline(&limits) {
                    if at <= Instant::now() {
                        site.daemon.metrics.connection(&site.surface, why);
                        tracing::debug!(surface = %site.surface, reason = why, "connection closed");
                        return;
                    }
                }
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                // Idle connections close now, busy ones after their answer.
                stopping = true;
                http.as_mut().graceful_shutdown();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(phases: &[Phase]) -> (Registry, Vec<Arc<Conn>>) {
        let conns: Vec<Arc<Conn>> = phases
            .iter()
            .map(|&p| {
                Arc::new(Conn {
                    phase: Mutex::new(p),
                    changed: Notify::new(),
                    evict: Notify::new(),
                    evicting: AtomicBool::new(false),
                })
            })
            .collect();
        let r = Registry {
            slots: Arc::new(Semaphore::new(phases.len())),
            conns: Mutex::new(
                conns
                    .iter()
                    .cloned()
                    .enumerate()
                    .map(|(i, c)| (i as u64, c))
                    .collect(),
            ),
            next: AtomicU64::new(phases.len() as u64),
        };
        (r, conns)
    }

    /// Eviction takes the connection that has waited longest for a request,
    /// each one once, and never one that is serving a request.
    #[test]
    fn evicts_the_longest_waiting_never_a_busy_one() {
        let t = Instant::now();
        let s = Duration::from_secs(1);
        let (r, c) = registry(&[
            Phase::Busy,
            Phase::Head(t + 2 * s),
            Phase::Idle(t + s),
            Phase::Busy,
        ]);
        let evicting = |c: &[Arc<Conn>]| -> Vec<bool> {
            c.iter()
                .map(|c| c.evicting.load(Ordering::Relaxed))
                .collect()
        };
        assert!(r.evict_one());
        assert_eq!(evicting(&c), [false, false, true, false]);
        assert!(r.evict_one());
        assert_eq!(evicting(&c), [false, true, true, false]);
        assert!(!r.evict_one(), "only busy connections are left");
    }

    /// A connection's deadline follows its phase; the first byte of a request
    /// on an idle connection starts the header clock.
    #[test]
    fn deadlines_follow_the_phase() {
        let limits = Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1,
        };
        let t = Instant::now();
        let (_r, c) = registry(&[Phase::Idle(t)]);
        assert_eq!(
            c[0].deadline(&limits),
            Some((t + limits.idle_timeout, "idle_timeout"))
        );
        c[0].on_bytes();
        let (at, why) = c[0].deadline(&limits).expect("a deadline");
        assert_eq!(why, "header_timeout");
        assert!(at >= t + limits.header_timeout && at < t + limits.idle_timeout);
        c[0].on_bytes();
        assert_eq!(
            c[0].deadline(&limits),
            Some((at, why)),
            "more bytes do not extend it"
        );
        c[0].set(Phase::Busy);
        assert_eq!(c[0].deadline(&limits), None);
    }
}
