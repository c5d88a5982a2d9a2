//! The operations layer: every user-visible operation, implemented once.
//!
//! The engine knows volumes, `populous-db` knows MariaDB servers and
//! `populous-mask` knows how to mask rows; an operation that a user asks for
//! often needs more than one of them. A clone of a volume whose database is
//! running must quiesce the server around the snapshot; masking must start a
//! server, mask, stop it and record provenance. Those compositions live here,
//! and only here, so the CLI, the REST API, the Docker plugin and the pipeline
//! cannot drift apart: each adapter parses its input into a typed request,
//! makes one call into this crate and maps the [`Error`]'s kind once.
//!
//! - [`db`]: MariaDB servers on volumes (`db start|stop|ls`); [`db_io`]: the
//!   I/O settings (btrfs `NOCOW`, InnoDB's flush method, doublewrite) each
//!   pool backend gets, in one place.
//! - [`snapshot`] and [`clone`]: application-consistent when a server runs on
//!   the volume, crash-consistent otherwise (and recorded as such).
//! - [`volume`]: create a volume empty, as a clone or by import, as one
//!   operation, with Docker's create-is-reuse semantics in [`volume::ensure`].
//! - [`mask`]: mask a volume's database and record it in its provenance;
//!   verify a masked volume against its origin.
//! - [`dbclone`]: self-service clones: a clone with its server running and
//!   a login of its own in one call; a reset of its data that keeps it.
//! - [`warm`]: warm clones: running clones of an origin's newest snapshot
//!   waiting in a folder, claimed by a request for a running clone.
//! - [`lifecycle`]: the reaper of expired volumes (protection wins; those
//!   others depend on stay).
//! - [`source`]: a replica of an outside server on a volume: add (seed and
//!   replicate), status, snapshots holding a known GTID, clean bases to clone.
//!
//! Nothing here speaks a wire format or names a CLI flag: errors state facts,
//! and adapters add their own hints.

pub mod datadir;
pub mod db;
pub mod db_io;
pub mod dbclone;
mod error;
pub mod lifecycle;
pub mod mask;
mod snapshot;
pub mod source;
pub mod volume;
pub mod warm;

pub use error::{Error, Result};
pub use populous_error::{ErrorKind, HasKind};
pub use snapshot::{clone, snapshot};
