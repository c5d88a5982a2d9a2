//! Errors of the masking library.
//!
//! Messages never contain the value being masked nor the key: both are
//! secrets, and errors end up in logs.

use std::path::PathBuf;

use populous_error::{ErrorKind, HasKind};

/// Anything that can go wrong while loading rules or keys, or masking a value.
#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    /// The rules are not valid YAML at all.
    #[error("rules are not valid YAML: {0}")]
    Yaml(String),
    /// The YAML parsed, but a rule is wrong; `path` is dotted (`tables.main.columns.email`).
    #[error("{path}: {message}")]
    Rule {
        /// Dotted path of the offending node.
        path: String,
        /// What is wrong there.
        message: String,
    },
    /// The key file could not be read.
    #[error("cannot read mask key file {path}: {source}")]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The key is unusable (too short, missing variable, ...).
    #[error("invalid mask key: {0}")]
    Key(String),
    /// `mask` was called for a column that has no rule.
    #[error("no masking rule for {table}.{column}")]
    NoRule {
        /// Table asked for.
        table: String,
        /// Column asked for.
        column: String,
    },
    /// The value cannot be transformed (wrong shape for the transformer).
    /// The value itself is deliberately not included.
    #[error("{table}.{column}: cannot apply {transform}: {reason}")]
    Input {
        /// Table of the value.
        table: String,
        /// Column of the value.
        column: String,
        /// Transformer name.
        transform: &'static str,
        /// Why (never contains the value).
        reason: String,
    },
}

impl MaskError {
    /// The class of this failure: rules, keys and values are the caller's
    /// to fix, so always [`ErrorKind::InvalidInput`].
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

impl HasKind for MaskError {
    fn kind(&self) -> ErrorKind {
        MaskError::kind(self)
    }
}
