//! Populous volume engine.
//!
//! Pools hold folders, folders hold volumes, volumes have snapshots, and
//! clones are writable volumes made from snapshots, all by the kernel's
//! copy-on-write. The engine is a library with no wire format: the `populous`
//! CLI and the daemon are thin adapters over [`Engine`].
//!
//! Module map:
//! - [`name`]: validated names and `folder/volume@snapshot` references;
//! - [`access`]: access tokens and the audit log;
//! - [`events`]: volume events and their webhook deliveries (the outbox);
//! - [`engine`]: the operations and their crash-safety protocol;
//! - [`store`]: the SQLite metadata store: schema, every statement behind
//!   typed functions, and the writer lock;
//! - [`attr`]: btrfs's `NOCOW` inode flag, read and set;
//! - [`backend`]: btrfs, reflink and copy, behind one trait;
//! - [`sys`]: filesystem detection, image files and loop mounts;
//! - [`model`]: what operations return;
//! - [`fault`]: fault-injection points for crash tests;
//! - [`size`]: parsing and printing byte sizes.

pub mod access;
pub mod attr;
pub mod backend;
pub mod engine;
pub mod error;
pub mod events;
pub mod fault;
pub mod model;
pub mod name;
pub mod size;
pub mod store;
pub mod sys;

pub use access::{AuditEntry, Scope, TokenInfo};
pub use backend::BackendKind;
pub use engine::{
    now, Due, DueVolume, Engine, Lifecycle, NewSource, Protection, SourceInfo, SourceMode,
    SourceSnapshot,
};
pub use error::{Case, Error, ErrorKind, HasKind, Result};
pub use events::{Attempt, Delivery, DeliveryState, Event, EventKind, NewEvent};
pub use model::*;
pub use name::{CloneSource, FolderRef, Name, SnapRef, VolRef};
pub use sys::FsKind;
