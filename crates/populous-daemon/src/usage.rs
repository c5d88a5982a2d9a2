//! Volume usage, measured off the request path.
//!
//! `used_bytes` takes a walk of the volume's whole tree: a fifth of a second
//! for 100,000 files, and it grows with every file. Done on each inspect, a
//! tenant inspecting a big volume in a loop would hold the readers and the
//! cores that every other tenant's requests need. So an inspect answers at
//! once with the last measurement (`used_bytes`, `used_bytes_at`; `null`
//! before the first), and asks for a new one when that is missing or older
//! than `usage_refresh`. One background thread, at the lowest CPU and IO
//! priority, walks one volume at a time: each at most once per
//! `usage_refresh`, only volumes someone asked about, and never the same one
//! twice for concurrent asks.
//!
//! A measurement belongs to a volume's directory (its id on disk), so a new
//! generation under the same name (`rename --replace`) is never shown the
//! old one's figure. Entries of volumes that are gone are dropped after each
//! of the daemon's mutations and every `usage_refresh` (the CLI may destroy
//! volumes beside the daemon).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use populous_engine::{Engine, ErrorKind, VolRef, VolumeInfo, VolumeUsage};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

/// How often a volume is walked again, unless configured (`usage_refresh`).
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(60);

/// What the walker is asked to do.
#[derive(Debug)]
enum Job {
    /// Measure this volume.
    Measure(VolRef),
    /// Drop the entries of volumes that no longer exist.
    Prune,
}

/// What is known of one volume's usage.
#[derive(Debug, Default)]
struct Entry {
    /// The last measurement, if any.
    usage: Option<VolumeUsage>,
    /// When the last walk ended (measured or failed): the next waits `refresh`.
    walked: Option<Instant>,
    /// A walk is queued or under way.
    queued: bool,
}

/// What the handlers and the walker share.
#[derive(Debug)]
struct Shared {
    entries: Mutex<HashMap<VolRef, Entry>>,
    /// `refresh` in milliseconds (set from the configuration after start).
    refresh_ms: AtomicU64,
    /// A prune is queued: mutations in a burst ask for one, not one each.
    prune_queued: AtomicBool,
    walks: Counter,
    volumes: Gauge,
}

impl Shared {
    fn entries(&self) -> MutexGuard<'_, HashMap<VolRef, Entry>> {
        // Held only for map updates: a panic cannot leave an entry half made.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn refresh(&self) -> Duration {
        Duration::from_millis(self.refresh_ms.load(Ordering::Relaxed))
    }

    fn count(&self, entries: &HashMap<VolRef, Entry>) {
        self.volumes
            .set(i64::try_from(entries.len()).unwrap_or(i64::MAX));
    }
}

/// The daemon's usage cache and the handle of its one walker.
#[derive(Debug)]
pub struct Usage {
    shared: Arc<Shared>,
    jobs: mpsc::Sender<Job>,
}

impl Usage {
    /// Starts the walker on `home`. It stops when this is dropped (after the
    /// walk under way, if any). `walks` counts walks, `volumes` shows the
    /// number of volumes held.
    pub fn start(home: &Path, walks: Counter, volumes: Gauge) -> Usage {
        let shared = Arc::new(Shared {
            entries: Mutex::new(HashMap::new()),
            refresh_ms: AtomicU64::new(millis(DEFAULT_REFRESH)),
            prune_queued: AtomicBool::new(false),
            walks,
            volumes,
        });
        let (jobs, rx) = mpsc::channel();
        let walker = Walker {
            home: home.to_owned(),
            shared: Arc::clone(&shared),
            engine: None,
        };
        let spawned = std::thread::Builder::new()
            .name("populous-usage".into())
            .spawn(move || walker.run(&rx));
        if let Err(e) = spawned {
            // Inspects still answer, without usage; nothing else depends on it.
            tracing::error!(error = %e, "could not start the usage walker");
        }
        Usage { shared, jobs }
    }

    /// Sets how often a volume may be walked again.
    pub fn set_refresh(&self, refresh: Duration) {
        self.shared
            .refresh_ms
            .store(millis(refresh), Ordering::Relaxed);
    }

    /// Fills `info`'s usage from the last measurement of its directory, and
    /// asks for a new one when there is none or it is older than the refresh
    /// interval. Never waits for a walk.
    pub fn fill(&self, info: &mut VolumeInfo) {
        let r = VolRef {
            folder: info.folder.clone(),
            volume: info.name.clone(),
        };
        let refresh = self.shared.refresh();
        let mut entries = self.shared.entries();
        let entry = entries.entry(r.clone()).or_default();
        let current = entry.usage.as_ref().filter(|u| u.path == info.path);
        if let Some(u) = current {
            info.used_bytes = u.used_bytes;
            info.used_bytes_at = u.used_bytes.map(|_| u.measured_at);
        }
        let due = match (current, entry.walked) {
            // Never walked, or the figure is another generation's.
            (None, _) if entry.usage.is_some() => true,
            (_, None) => true,
            (_, Some(t)) => t.elapsed() >= refresh,
        };
        if due && !entry.queued {
            entry.queued = true;
            if self.jobs.send(Job::Measure(r.clone())).is_err() {
                // No walker: do not pretend one is coming.
                entry.queued = false;
            }
        }
        self.shared.count(&entries);
    }

    /// Something may have been destroyed or renamed: drop entries of volumes
    /// that are gone (in the background; several calls make one prune).
    pub fn changed(&self) {
        if !self.shared.prune_queued.swap(true, Ordering::Relaxed)
            && self.jobs.send(Job::Prune).is_err()
        {
            self.shared.prune_queued.store(false, Ordering::Relaxed);
        }
    }

    /// The volumes whose usage is held (measured or asked for).
    pub fn volumes(&self) -> usize {
        self.shared.entries().len()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// The background thread: its own engine (a reader connection of its own,
/// so walks never take one from requests), one job at a time.
struct Walker {
    home: PathBuf,
    shared: Arc<Shared>,
    engine: Option<Engine>,
}

impl Walker {
    fn run(mut self, jobs: &mpsc::Receiver<Job>) {
        lower_priority();
        let mut pruned = Instant::now();
        loop {
            match jobs.recv_timeout(self.shared.refresh()) {
                Ok(Job::Measure(r)) => self.measure(&r),
                Ok(Job::Prune) | Err(RecvTimeoutError::Timeout) => {
                    self.prune();
                    pruned = Instant::now();
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
            // Steady asks must not put off pruning for good.
            if pruned.elapsed() >= self.shared.refresh() {
                self.prune();
                pruned = Instant::now();
            }
        }
    }

    /// The engine, opened on first use and again after a failure to open.
    fn engine(&mut self) -> Option<&Engine> {
        if self.engine.is_none() {
            match Engine::open(&self.home) {
                Ok(e) => self.engine = Some(e),
                Err(e) => tracing::warn!(error = %e, "usage walker: cannot open the engine"),
            }
        }
        self.engine.as_ref()
    }

    fn measure(&mut self, r: &VolRef) {
        let result = self.engine().map(|e| e.volume_usage(r));
        let shared = Arc::clone(&self.shared);
        if result.is_some() {
            shared.walks.inc();
        }
        let mut entries = shared.entries();
        match result {
            Some(Err(e)) if e.kind() == ErrorKind::NotFound => {
                entries.remove(r);
            }
            Some(Ok(u)) => {
                let entry = entries.entry(r.clone()).or_default();
                entry.usage = Some(u);
                entry.walked = Some(Instant::now());
                entry.queued = false;
            }
            other => {
                if let Some(Err(e)) = other {
                    tracing::warn!(volume = %r, error = %e, "usage walker: cannot measure");
                }
                let entry = entries.entry(r.clone()).or_default();
                entry.walked = Some(Instant::now());
                entry.queued = false;
            }
        }
        shared.count(&entries);
    }

    fn prune(&mut self) {
        self.shared.prune_queued.store(false, Ordering::Relaxed);
        if self.shared.entries().is_empty() {
            return;
        }
        let Some(engine) = self.engine() else { return };
        let live: HashSet<VolRef> = match engine.volume_list(None, true) {
            Ok(list) => list
                .into_iter()
                .map(|v| VolRef {
                    folder: v.folder,
                    volume: v.name,
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "usage walker: cannot list volumes");
                return;
            }
        };
        let mut entries = self.shared.entries();
        // A queued walk finds out for itself (NotFound drops the entry).
        entries.retain(|r, e| e.queued || live.contains(r));
        self.shared.count(&entries);
    }
}

/// Walks yield to everything else: nice 19 and the idle IO class, for this
/// thread only (Linux keeps both per thread). Best effort: a walk at normal
/// priority is slower for others, not wrong.
fn lower_priority() {
    const IOPRIO_CLASS_IDLE: libc::c_long = 3;
    const IOPRIO_CLASS_SHIFT: libc::c_long = 13;
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    // SAFETY: both calls take plain integers; `who` 0 is the calling thread.
    unsafe {
        if libc::setpriority(libc::PRIO_PROCESS, 0, 19) != 0 {
            tracing::debug!("usage walker: could not lower its CPU priority");
        }
        if libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0 as libc::c_long,
            IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT,
        ) != 0
        {
            tracing::debug!("usage walker: could not lower its IO priority");
        }
    }
}
