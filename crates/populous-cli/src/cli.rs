//! The command line: every subcommand, its flags, and the help that teaches them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod bench;
mod clones;
mod source;

pub use bench::{BenchClone, BenchClones, BenchCmd, BenchDaemon, BenchDb};
pub use clones::{CloneArgs, IdleArgs, ResetArgs};
pub use source::{SourceAdd, SourceCmd};

/// Copy-on-write data volumes for CI/CD: give every build a full, isolated copy
/// of production data in seconds, whatever its size.
///
/// Populous keeps pools (copy-on-write filesystems), folders (one per
/// environment: prod, stage, dev), volumes, snapshots and clones, with their
/// lineage, in a crash-safe metadata store under --home.
///
/// A first session:
///
///   populous pool create main --image /var/lib/populous-main.img --size 8G
///   populous folder create main/prod
///   populous folder create main/dev
///   populous volume create prod/db
///   populous clone prod/db dev/db-build-28      # snapshot + clone, in milliseconds
///   populous volume inspect dev/db-build-28     # lineage: prod/db@auto-…
///   populous volume rm dev/db-build-28          # offline, kept (add --destroy to delete)
#[derive(Debug, Parser)]
#[command(
    name = "populous",
    version,
    propagate_version = true,
    max_term_width = 100,
    verbatim_doc_comment
)]
pub struct Cli {
    /// State directory: metadata, locks and image-pool mount points.
    #[arg(
        long,
        global = true,
        env = "POPULOUS_HOME",
        default_value = "/var/lib/populous"
    )]
    pub home: PathBuf,

    /// Print machine-readable JSON on stdout (errors as JSON on stderr).
    #[arg(long, global = true)]
    pub json: bool,

    /// Log verbosity: -v for info, -vv for debug. RUST_LOG overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Write logs as JSON lines (for log collectors).
    #[arg(long, global = true)]
    pub log_json: bool,

    #[command(subcommand)]
    pub command: Command,

    /// Whether --home (or $POPULOUS_HOME) was given, rather than defaulted.
    #[arg(skip)]
    pub home_given: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pools: copy-on-write filesystems that hold the data.
    #[command(subcommand)]
    Pool(PoolCmd),
    /// Folders: tenant spaces in a pool, one per environment; the unit of access control.
    #[command(subcommand)]
    Folder(FolderCmd),
    /// Volumes: writable trees addressed FOLDER/VOL.
    #[command(subcommand)]
    Volume(VolumeCmd),
    /// Snapshots: read-only points in time, FOLDER/VOL@SNAP.
    #[command(subcommand)]
    Snapshot(SnapshotCmd),
    /// Clone a volume or snapshot into a new writable volume (constant time on btrfs).
    ///
    /// Without @SNAP a snapshot named auto-<time> is taken first and kept, so the
    /// clone's lineage always points at a real point in time. On btrfs the time
    /// does not depend on the data; on XFS (one reflink per file) it grows with
    /// the number of files and extents, though not with their bytes. Cloning into
    /// another folder follows that folder's policy (see `populous folder policy`).
    ///
    ///   populous clone prod/db@nightly dev/db-pr-42
    ///   populous clone prod/db dev/db-build-28
    #[command(verbatim_doc_comment)]
    Clone(CloneArgs),
    /// Databases on volumes: MariaDB started on a volume (or a clone), its own socket and port.
    #[command(subcommand)]
    Db(DbCmd),
    /// Fill the seed's table with deterministic, realistic rows (the seed's "generatedata").
    ///
    ///   populous db start prod/db
    ///   populous generate --volume prod/db --size 2G
    ///   populous generate --db-url mysql://root@127.0.0.1:3306/populous --rows 100000 --seed 7
    ///
    /// The same seed gives the same rows whatever --threads is. A table that already has
    /// rows is refused unless --resume continues an earlier run with the same seed.
    #[command(verbatim_doc_comment)]
    Generate(GenerateArgs),
    /// Mask the database on a volume in place: deterministic, keyed, touching only the masked columns.
    ///
    ///   populous mask dev/db-build-28 --rules masking.yml --key-file /etc/populous/mask.key
    ///   populous mask verify dev/db-build-28 --rules masking.yml --key-file /etc/populous/mask.key
    ///
    /// Chunks of primary keys are masked on parallel connections, each chunk in one
    /// transaction recorded as done, so an interrupted run can be run again. Then the old
    /// values are scrubbed from the files: freed pages zeroed as they are freed, the undo
    /// log purged, index pages compacted in place (--no-compact skips it), a fresh redo
    /// log, a slow shutdown; prod's binary and relay logs are removed from the clone.
    /// Last, every file of the volume is searched for a sample of the originals
    /// (--scan-sample). Only when every rule has completed and the scan found nothing is
    /// the volume marked masked (rules hash, key id, scan), which folders with
    /// `--require-masked` demand; a scan that finds originals names the files and fails.
    /// A server running on the volume is stopped for the scan and started again.
    /// `verify` compares sampled rows with the origin snapshot.
    #[command(verbatim_doc_comment)]
    Mask(MaskCmd),
    /// Sources: a replica of an outside MariaDB/MySQL server on a volume, kept current.
    ///
    ///   populous source add prod --from mysql://repl@db1:3306 --password-file /etc/populous/repl.pw \
    ///       --volume replicas/prod --schedule '*/30 * * * *' --keep 4
    ///   populous source status prod
    ///   populous source snapshot prod           # now; `populous serve` runs the schedule
    ///   populous source clone prod dev/mine     # from the newest clean base
    ///
    /// `add` seeds a new volume without blocking the source (a physical copy with
    /// mariadb-backup when its datadir is on this host, else a logical mariadb-dump with
    /// its GTID position; --mode picks), starts a replica server on it (its own server_id,
    /// read_only) and replicates by GTID. The user needs REPLICATION SLAVE, and for the
    /// seed RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR and SELECT. The password is read
    /// from --password-file and never written to logs, the metadata or --json; the
    /// replication settings live outside the volume, so no snapshot or clone holds them.
    /// Each snapshot records its GTID and gets a clean base (started once without
    /// replication, shut down cleanly) from which clones come.
    #[command(subcommand, verbatim_doc_comment)]
    Source(SourceCmd),
    /// Check that metadata and filesystems agree; finish interrupted operations.
    ///
    /// Exits 0 when consistent, 1 otherwise. With --repair, removes directories in
    /// a pool's data area that no record owns.
    Check {
        /// Remove orphaned directories.
        #[arg(long)]
        repair: bool,
    },
    /// Run the daemon: the REST API and the Docker volume plugins.
    ///
    /// Configuration comes from --config (TOML; default <home>/populous.toml, optional).
    /// Each [[plugin]] there is a Docker volume driver locked to one folder:
    ///
    ///   [[plugin]]
    ///   driver = "populous-dev"     # docker volume create -d populous-dev ...
    ///   folder = "dev"
    ///   token_file = "/etc/populous/dev.token"   # lets it clone from the folders its token covers
    ///
    /// Each [[webhook]] receives volume events (create, reset, expire, destroy) as JSON
    /// POSTs signed with HMAC-SHA256, retried with backoff, at least once (also after a
    /// crash); `populous webhook ls` shows the deliveries (docs/daemon.md, Webhooks):
    ///
    ///   [[webhook]]
    ///   name = "ci"
    ///   url = "http://127.0.0.1:9000/populous"
    ///   secret_file = "/etc/populous/ci.hook-secret"
    ///
    /// Stops cleanly on SIGTERM or Ctrl-C, finishing requests in flight.
    #[command(verbatim_doc_comment)]
    Serve(ServeArgs),
    /// Access tokens for the REST API and the plugins, scoped to folders.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Webhooks of `populous serve`: the events recorded and their deliveries.
    #[command(subcommand)]
    Webhook(WebhookCmd),
    /// Show the audit log: who changed what, and when.
    Audit {
        /// How many entries, newest last.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Sample the app's /_ping at a fixed rate and record every answer (the seed's InfluxDB + Grafana).
    ///
    ///   populous probe --url http://127.0.0.1:8080/_ping --interval 5s --duration 10m --out prod.csv
    ///   populous probe --url http://…/_ping --interval 100ms --out run.jsonl --events-listen 127.0.0.1:9999
    ///   populous probe report prod.csv --chart prod.png
    ///
    /// Events (--mark clone@30s, or POST /event to --events-listen) split the run into phases.
    #[command(verbatim_doc_comment)]
    Probe(ProbeCmd),
    /// Benchmarks that compare against a baseline in the same run.
    #[command(subcommand)]
    Bench(BenchCmd),
    /// The CI pipeline: build, ship, run, mask, smoke and destroy, one environment at a time.
    #[command(subcommand)]
    Pipeline(PipelineCmd),
    /// The whole story on this machine, by itself: pool, plugins, swarm, pipeline, report.
    ///
    ///   populous demo                          # --size 2G --builds 2, report in ./populous-demo/
    ///   populous demo --size 256M --builds 1   # a quick one (about 6 minutes here)
    ///   populous demo --clean                  # remove everything the demo made
    ///
    /// Run as root on a machine with a running Docker engine. Step by step, it:
    ///  1. creates an image-file pool (btrfs) under --home with the folders prod (the source's
    ///     replica), golden (clones from prod), dev (clones masked data from golden) and stage
    ///     (imports from dev, requires masked data), a token per folder, a masking key, and
    ///     starts `populous serve` with the Docker volume plugins demo-stage and demo-dev and
    ///     its REST API on --api-port;
    ///  2. starts the local registry (127.0.0.1:5000) and a one-node swarm if they are not
    ///     there, builds the images, and deploys prod with a database of --size generated rows
    ///     OUTSIDE the pool, as most teams run it: a Docker volume of Docker's local driver,
    ///     with a binary log, its MariaDB on --prod-db-port;
    ///  3. starts a probe on prod's /_ping that runs until the end, with an event per phase;
    ///  4. adds prod as a source: a replication user, a physical seed of a replica on the pool
    ///     (prod/replica) from the container's datadir, replication; then a source snapshot
    ///     with its clean base, and the golden copy (a clone of it, masked) as golden/db;
    ///  5. for each build: `pipeline run` dev (clone golden/db, smoke, offline), stage
    ///     (import dev's clone, smoke), prod (rolling update, start-first, probe-watched);
    ///  6. runs dev once more with `mariadb-dump | mariadb` from prod instead of the clone:
    ///     the baseline.
    ///
    /// The report goes to --out: report.md (per-phase times, the clone against the dump,
    /// masking rows/s, prod's p50/p99 and failed requests per phase, the lineage and
    /// provenance of every volume), report.json, latency.png (phases shaded), probe.jsonl
    /// and the pipeline file it ran (populous-demo.yml). The terminal shows the same tables.
    ///
    /// At the end the services, their Docker volumes, networks and the daemon are stopped
    /// (--keep-running leaves prod and stage serving, with the daemon); the pool stays, to
    /// explore with `populous --home /var/lib/populous-demo volume ls --all`. Everything has
    /// the demo's own names (pipeline populous-demo, images populous-demo/*, ports 7181 and
    /// 18090-18093), so it runs beside another pipeline. Running it again first removes
    /// what an earlier (or interrupted) run left; what belongs to others and is in the way
    /// (a port, a plugin socket) is named, never touched. --clean removes services,
    /// networks, Docker volumes, daemon, pool, home, the report files and the demo's
    /// registry manifests, and says what it leaves (shared things it did not start).
    #[command(verbatim_doc_comment)]
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Size of prod's generated database (64 KiB rows), e.g. 256M or 2G.
    #[arg(long, default_value = "2G")]
    pub size: String,
    /// Builds taken through dev, stage and prod (build 1 is prod's first deployment).
    #[arg(long, default_value_t = 2)]
    pub builds: u32,
    /// Where the report goes.
    #[arg(long, default_value = "populous-demo")]
    pub out: PathBuf,
    /// Remove everything the demo made, and nothing else.
    #[arg(long)]
    pub clean: bool,
    /// Leave prod, stage and the daemon running at the end.
    #[arg(long)]
    pub keep_running: bool,
    /// Name of the demo's pipeline: prefix of its services, networks, images and drivers.
    #[arg(long, default_value = "populous-demo")]
    pub name: String,
    /// Port of the demo daemon's REST API (127.0.0.1).
    #[arg(long, default_value_t = 7181)]
    pub api_port: u16,
    /// Port of prod's app (its lb).
    #[arg(long, default_value_t = 18090)]
    pub prod_port: u16,
    /// Port of prod's MariaDB on this host (its database is outside the pool; the source replicates from it).
    #[arg(long, default_value_t = 18093)]
    pub prod_db_port: u16,
    /// Port of dev's app.
    #[arg(long, default_value_t = 18091)]
    pub dev_port: u16,
    /// Port of stage's app.
    #[arg(long, default_value_t = 18092)]
    pub stage_port: u16,
    /// Size of the pool's sparse image (default: 4 x --size + 4G, at least 8G).
    #[arg(long)]
    pub pool_size: Option<String>,
    /// The prod update fails when its p99 exceeds this times the idle p99.
    #[arg(long, default_value_t = 3.0)]
    pub max_p99_ratio: f64,
    /// The Populous checkout (scripts/, examples/populous/); found by default.
    #[arg(long)]
    pub repo: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum PipelineCmd {
    /// Run one environment's roles for one build, as the seed's Jenkins job ran its playbook.
    ///
    ///   populous pipeline run -f examples/populous/populous.yml --env golden --build-number 28
    ///   populous pipeline run -f examples/populous/populous.yml --env dev    --build-number 28
    ///   populous pipeline run -f examples/populous/populous.yml --env stage  --build-number 28
    ///   populous pipeline run -f examples/populous/populous.yml --env prod   --build-number 28
    ///
    /// The build string is VERSION-BUILD (e.g. 1.0.1-28). golden (nightly, say) clones
    /// prod's database volume, masks the clone and swaps it in as golden/db; dev clones
    /// golden/db (masked already), smoke-tests the app and takes the clone offline; stage
    /// imports that clone; prod gets a rolling update of the app image only, watched by a
    /// probe.
    /// Each environment runs only builds that passed the one it `requires`. A second run
    /// on the same environment is refused (or waits, with --wait). Prints a per-role
    /// timing table (--json for CI). Exit codes: 3 invalid file or request, 8 a gate
    /// refused, 10 engine/swarm/registry/daemon missing, 13 busy, 1 a role failed.
    #[command(verbatim_doc_comment)]
    Run(PipelineRunArgs),
}

#[derive(Debug, Args)]
pub struct PipelineRunArgs {
    /// The pipeline file (YAML).
    #[arg(short, long, default_value = "populous.yml")]
    pub file: PathBuf,
    /// The environment: exactly one (dev, stage or prod in the example).
    #[arg(long, required = true, value_delimiter = ',')]
    pub env: Vec<String>,
    /// The CI build number: the build string is VERSION-N.
    #[arg(long)]
    pub build_number: String,
    /// State (passed builds, locks, probe records); default <home>/pipeline.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Wait this long for another run on the same environment (default: refuse at once).
    #[arg(long)]
    pub wait: Option<humantime::Duration>,
    /// Run these roles instead of the environment's list, e.g. prod's first
    /// deployment: --roles build,ship,run,smoke.
    #[arg(long, value_delimiter = ',')]
    pub roles: Option<Vec<populous_pipeline::Role>>,
    /// How clone_of copies the data: clone (copy-on-write, the default) or dump
    /// (mariadb-dump | mariadb, the seed's baseline, for comparison).
    #[arg(long)]
    pub copy: Option<populous_pipeline::spec::CopyMethod>,
}

#[derive(Debug, Subcommand)]
pub enum PoolCmd {
    /// Create a pool: adopt a mounted btrfs/XFS directory (--path), or make an image file (--image).
    ///
    /// The backend follows the filesystem: btrfs uses subvolume snapshots, XFS
    /// uses reflinks. A filesystem without copy-on-write is refused unless you
    /// ask for --backend copy, which makes full copies (slow; a baseline).
    ///
    ///   populous pool create main --image /var/lib/populous-main.img --size 8G
    ///   populous pool create fast --path /mnt/btrfs
    ///   populous pool create x --image /srv/x.img --size 20G --fs xfs
    #[command(verbatim_doc_comment)]
    Create(PoolCreate),
    /// List pools with their backend, filesystem and free space.
    Ls,
    /// Remove an empty pool. Image pools are unmounted and their image deleted.
    Rm {
        /// Pool name.
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct PoolCreate {
    /// Pool name.
    pub name: String,
    /// Adopt this directory on an existing btrfs or reflink-capable XFS mount.
    #[arg(long, conflicts_with_all = ["image", "size", "fs"], required_unless_present = "image")]
    pub path: Option<PathBuf>,
    /// Create this image file, format it and loop-mount it under --home.
    #[arg(long, requires = "size")]
    pub image: Option<PathBuf>,
    /// Size of the image file (sparse), e.g. 8G.
    #[arg(long)]
    pub size: Option<String>,
    /// Filesystem for the image.
    #[arg(long, value_parser = ["btrfs", "xfs"], default_value = "btrfs")]
    pub fs: String,
    /// Force a backend instead of detecting it: btrfs, reflink or copy.
    #[arg(long, value_parser = ["btrfs", "reflink", "copy"])]
    pub backend: Option<String>,
}

#[derive(Debug, Args, Default)]
pub struct PolicyArgs {
    /// Folders this folder may clone from (repeat or comma-separate; `*` for
    /// any, '' for none). Left out: none.
    #[arg(long, value_delimiter = ',')]
    pub clone_from: Vec<String>,
    /// Folders this folder may import volumes from (repeat or comma-separate;
    /// `*` for any, '' for none). Left out: none.
    #[arg(long, value_delimiter = ',')]
    pub import_from: Vec<String>,
    /// Refuse clones and imports of data that has not been masked.
    #[arg(long)]
    pub require_masked: bool,
}

#[derive(Debug, Subcommand)]
pub enum FolderCmd {
    /// Create a folder in a pool. Without policy flags it takes no clone or
    /// import from another folder (deny by default); `*` allows any folder.
    ///
    ///   populous folder create main/prod
    ///   populous folder create main/dev --clone-from prod
    ///   populous folder create main/stage --import-from dev --require-masked
    ///   populous folder create main/sandbox --clone-from '*'
    #[command(verbatim_doc_comment)]
    Create {
        /// POOL/FOLDER.
        folder: String,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// List folders with their pool, policy and volume count.
    Ls,
    /// Remove an empty folder.
    Rm {
        /// Folder name.
        folder: String,
    },
    /// Replace a folder's policy (what it may clone or import from, and whether data must be masked).
    ///
    /// The whole policy is replaced: a list left out becomes none.
    ///
    ///   populous folder policy dev --clone-from prod
    ///   populous folder policy stage --import-from dev --require-masked
    ///   populous folder policy prod          # takes nothing from anyone
    #[command(verbatim_doc_comment)]
    Policy {
        /// Folder name.
        folder: String,
        #[command(flatten)]
        policy: PolicyArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum VolumeCmd {
    /// Create an empty online volume.
    Create {
        /// FOLDER/VOL.
        volume: String,
        /// Nominal size, e.g. 10G (recorded and shown; not enforced as a quota).
        #[arg(long)]
        size: Option<String>,
        /// Free-form description.
        #[arg(long)]
        description: Option<String>,
    },
    /// List volumes (online only, unless --all).
    Ls {
        /// Only this folder.
        folder: Option<String>,
        /// Include offline volumes.
        #[arg(long)]
        all: bool,
    },
    /// Show state, size used, origin, lineage, snapshots and provenance.
    Inspect {
        /// FOLDER/VOL.
        volume: String,
    },
    /// Print the host directory a consumer mounts (online volumes only).
    Path {
        /// FOLDER/VOL.
        volume: String,
    },
    /// Take a volume offline: kept, invisible to consumers, importable.
    Offline {
        /// FOLDER/VOL.
        volume: String,
    },
    /// Bring an offline volume back online.
    Online {
        /// FOLDER/VOL.
        volume: String,
    },
    /// Rename a volume inside its folder; with --replace, take the name of an existing one.
    ///
    /// --replace destroys the volume that has the name (with its snapshots) in the
    /// same step, so there is never a moment without a volume of that name. This
    /// refreshes a masked golden copy while others keep cloning it:
    ///   populous clone prod/db golden/db-next
    ///   populous mask golden/db-next --rules masking.yml --key-file mask.key
    ///   populous volume rename golden/db-next db --replace
    /// Clones made from the replaced volume are independent and keep working.
    #[command(verbatim_doc_comment)]
    Rename {
        /// FOLDER/VOL (not mounted).
        volume: String,
        /// The new name, in the same folder.
        new_name: String,
        /// Destroy a volume that already has the new name (it must not be mounted).
        #[arg(long)]
        replace: bool,
    },
    /// Move an offline volume (and its snapshots) into another folder, online there.
    ///
    ///   populous volume offline dev/db-build-28
    ///   populous volume import dev/db-build-28 --to stage
    #[command(verbatim_doc_comment)]
    Import {
        /// FOLDER/VOL (must be offline).
        volume: String,
        /// Destination folder (same pool).
        #[arg(long)]
        to: String,
        /// New name in the destination folder.
        #[arg(long = "as")]
        rename: Option<String>,
    },
    /// Forget a volume's recorded mounts whose consumers are gone (stale after a crash).
    ///
    /// Mounts are recorded by the Docker plugin and `populous db start`; a volume with
    /// mounts cannot be taken offline. If a container was removed while the daemon was
    /// down, its mount stays recorded: check with `volume inspect`, then release.
    Release {
        /// FOLDER/VOL.
        volume: String,
    },
    /// Take a volume offline (kept), or delete it with --destroy.
    Rm {
        /// FOLDER/VOL.
        volume: String,
        /// Delete the data for good.
        #[arg(long)]
        destroy: bool,
        /// With --destroy: also destroy its snapshots (clones made from them keep working).
        #[arg(long, requires = "destroy")]
        recursive: bool,
    },
    /// Set when a volume expires: then `populous serve` (or `volume reap`) destroys it,
    /// with its snapshots, its database server stopped first.
    ///
    ///   populous volume expire dev/db-pr-42 --in 2h
    ///   populous volume expire dev/db-pr-42 --at 2026-12-24T18:00:00Z
    ///   populous volume expire dev/db-pr-42 --never
    ///
    /// A protected volume is kept (protection wins), and so is one whose snapshots
    /// have clones, or a source's replica; `volume reap` says which and why.
    #[command(verbatim_doc_comment)]
    Expire {
        /// FOLDER/VOL.
        volume: String,
        /// From now, e.g. 90m, 2h, 7days.
        #[arg(long = "in", value_name = "DURATION", group = "when")]
        after: Option<String>,
        /// At a time (RFC 3339, UTC), e.g. 2026-12-24T18:00:00Z; a past time: at the next reap.
        #[arg(long, value_name = "TIME", group = "when")]
        at: Option<String>,
        /// Never (the default for a new volume).
        #[arg(long, group = "when")]
        never: bool,
    },
    /// Move a volume's expiry later (from now, if it is past already).
    Extend {
        /// FOLDER/VOL.
        volume: String,
        /// How much later, e.g. 1h.
        by: String,
    },
    /// Protect a volume from expiry: for good, or --for a lease.
    Protect {
        /// FOLDER/VOL.
        volume: String,
        /// The lease, e.g. 24h; after it the volume expires as usual.
        #[arg(long = "for", value_name = "DURATION")]
        lease: Option<String>,
    },
    /// Remove a volume's protection.
    Unprotect {
        /// FOLDER/VOL.
        volume: String,
    },
    /// Destroy the volumes whose expiry has come, or that were idle too long,
    /// now (what `populous serve` does every 10 s).
    Reap,
    /// Give a clone the data of its origin's newest snapshot (or --to one), in
    /// constant time: same name, lifecycle, port and login; its server restarts
    /// if it ran.
    ///
    ///   populous volume reset dev/db-pr-42
    ///   populous volume reset dev/db-pr-42 --to nightly-2026-12-01
    ///
    /// Refused while clients are connected (unless --force) and when clones of
    /// its own snapshots depend on it; its own snapshots go with the old data.
    #[command(verbatim_doc_comment)]
    Reset(ResetArgs),
    /// Destroy a volume once its server has had no client for a while.
    ///
    ///   populous volume idle dev/db-pr-42 30m
    ///   populous volume idle dev/db-pr-42 --never
    ///
    /// `populous serve` reads the server's status counters every 10 s; a volume
    /// without a running server counts as idle since its last client (or creation).
    #[command(verbatim_doc_comment)]
    Idle(IdleArgs),
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCmd {
    /// Take a read-only snapshot: FOLDER/VOL@SNAP.
    Create {
        /// FOLDER/VOL@SNAP.
        snapshot: String,
    },
    /// List a volume's snapshots with their clones.
    Ls {
        /// FOLDER/VOL.
        volume: String,
    },
    /// Destroy a snapshot. Clones made from it are independent and keep working.
    Rm {
        /// FOLDER/VOL@SNAP.
        snapshot: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCmd {
    /// Start MariaDB on a volume: initialise the datadir if the volume is empty, or serve
    /// the data already there (a clone). Waits until it answers, then prints the URL.
    ///
    ///   populous db start prod/db
    ///   populous db start dev/db-build-28 --port 3307
    #[command(verbatim_doc_comment)]
    Start {
        /// FOLDER/VOL (online).
        volume: String,
        /// TCP port on 127.0.0.1 (default: a free one).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Stop the server on a volume (SIGTERM; it flushes and exits).
    Stop {
        /// FOLDER/VOL.
        volume: String,
    },
    /// List databases on volumes, with their state, port and URL.
    Ls,
}

/// Where the database is: a URL, or a volume with a running `populous db`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct DbTarget {
    /// Database URL, e.g. mysql://root@127.0.0.1:3306/populous (the path names the database).
    #[arg(long, env = "POPULOUS_DB_URL")]
    pub db_url: Option<String>,
    /// A volume with a running `populous db start`; its database `populous` is used.
    #[arg(long)]
    pub volume: Option<String>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub target: DbTarget,
    /// Rows the table should hold when done.
    #[arg(long, conflicts_with = "size", required_unless_present = "size")]
    pub rows: Option<u64>,
    /// Approximate data size instead of a row count (e.g. 2G).
    #[arg(long)]
    pub size: Option<String>,
    /// Parallel connections.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Seed: the same seed gives the same rows.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Size of each row's imprint blob (e.g. 64K).
    #[arg(long, default_value = "64K")]
    pub blob_size: String,
    /// Continue an earlier run with the same seed and blob size.
    #[arg(long)]
    pub resume: bool,
    /// insert (multi-row prepared INSERT, the faster here) or load-data (LOAD DATA LOCAL INFILE).
    #[arg(long, default_value = "insert")]
    pub method: populous_app::LoadMethod,
}

#[derive(Debug, Args)]
pub struct BenchGenerate {
    #[command(flatten)]
    pub target: DbTarget,
    /// Rows per phase.
    #[arg(long, default_value_t = 4000)]
    pub rows: u64,
    /// Blob size (e.g. 64K).
    #[arg(long, default_value = "64K")]
    pub blob_size: String,
    /// Generator connections.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Generator method: insert or load-data.
    #[arg(long, default_value = "insert")]
    pub method: populous_app::LoadMethod,
    /// Rounds of (ceiling, generator); medians are reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct MaskCmd {
    /// `verify FOLDER/VOL`: prove that no original value of a masked column remains.
    #[command(subcommand)]
    pub verify: Option<MaskSub>,
    #[command(flatten)]
    pub args: Option<MaskArgs>,
}

#[derive(Debug, Subcommand)]
pub enum MaskSub {
    /// Sample rows of the origin snapshot and check the clone: no original remains,
    /// and every value equals the rule applied to the original.
    Verify(MaskVerifyArgs),
}

#[derive(Debug, Args)]
pub struct MaskArgs {
    /// FOLDER/VOL holding the database to mask.
    pub volume: String,
    /// Masking rules (YAML), per table.column.
    #[arg(long)]
    pub rules: PathBuf,
    /// The secret key (at least 16 bytes; hex or raw). Only its id is recorded.
    #[arg(long)]
    pub key_file: PathBuf,
    /// Parallel connections.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Skip compacting the masked tables' index pages. Only deleted records that were
    /// in the pages before masking need it; a scan will say if any are left.
    #[arg(long)]
    pub no_compact: bool,
    /// Original values to sample for the scan of the files.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    pub scan_sample: u32,
}

#[derive(Debug, Args)]
pub struct MaskVerifyArgs {
    /// FOLDER/VOL holding the masked database.
    pub volume: String,
    /// Masking rules (YAML).
    #[arg(long)]
    pub rules: PathBuf,
    /// The secret key the volume was masked with.
    #[arg(long)]
    pub key_file: PathBuf,
    /// The original data (default: the volume's origin snapshot).
    #[arg(long)]
    pub source: Option<String>,
    /// Rows to sample.
    #[arg(long, default_value_t = 1000)]
    pub sample: usize,
    /// Also search every file of the volume for originals sampled from the source
    /// (stop its server first for a proof: a running server's files are read as they are).
    #[arg(long)]
    pub scan: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ProbeCmd {
    /// `report FILE`: per-phase statistics and a latency chart from a probe file.
    #[command(subcommand)]
    pub report: Option<ProbeSub>,
    #[command(flatten)]
    pub args: Option<populous_probe::cli::ProbeArgs>,
}

#[derive(Debug, Subcommand)]
pub enum ProbeSub {
    /// Per-phase p50/p95/p99/max and errors, and a PNG/SVG chart with the phases shaded.
    Report(populous_probe::cli::ReportArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (default: <home>/populous.toml, if it exists).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Listen address of the REST API, overriding the configuration ("" turns it off).
    #[arg(long)]
    pub listen: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum WebhookCmd {
    /// The newest deliveries: event, hook, state, attempts, last error.
    Ls {
        /// How many, newest first.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a token and print its secret (shown once; only a hash is stored).
    ///
    /// A token may write some folders (create, destroy, snapshot, rename,
    /// start databases, move volumes in and out) and only read others (list,
    /// inspect, clone from). A Docker plugin's token_file uses the same rights
    /// beyond the plugin's own folder: --read to clone from a folder, --write
    /// to move volumes out of it with importVol.
    ///
    ///   populous token create ci-dev --write dev --read prod > dev.token
    ///   populous token create stage-plugin --write stage --write dev
    ///   populous token create ops --admin
    #[command(verbatim_doc_comment)]
    Create {
        /// Token name (for people and the audit log).
        name: String,
        /// A folder the token may change (repeat, or comma-separate).
        #[arg(long, value_delimiter = ',')]
        write: Vec<String>,
        /// A folder the token may only read: list, inspect, clone from (repeat, or comma-separate).
        #[arg(long, value_delimiter = ',')]
        read: Vec<String>,
        /// Before scopes: the first folder is written, the others only read
        /// (as tokens stored then are read). Prefer --write and --read.
        #[arg(long, value_delimiter = ',', hide = true, conflicts_with_all = ["write", "read"])]
        folder: Vec<String>,
        /// Cover every folder and allow pool and folder administration.
        #[arg(long, conflicts_with_all = ["write", "read", "folder"])]
        admin: bool,
    },
    /// List tokens (names and folders, never secrets).
    Ls,
    /// Revoke a token.
    Rm {
        /// Token name.
        name: String,
    },
}
