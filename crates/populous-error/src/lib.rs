//! The classes of failure that every Populous library reports.
//!
//! Each library keeps its own `thiserror` enum with messages that state facts,
//! and answers [`HasKind::kind`] with one of these classes. Adapters map a
//! class, never a variant or a message, to what their users see: the CLI to an
//! exit code, the daemon to an HTTP status, the plugin to Docker's `Err`. So a
//! new error variant needs no change in any adapter, and the same failure has
//! the same exit code and status whichever crate it came from.

/// A coarse class of failure, stable across versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The input was malformed: a bad name, size, option or file.
    InvalidInput,
    /// The object does not exist.
    NotFound,
    /// An object of that name already exists.
    AlreadyExists,
    /// The object is in the wrong state for the operation (e.g. importing an online volume).
    WrongState,
    /// Other objects depend on this one.
    HasDependents,
    /// A policy (folder policy, a pipeline gate) forbids the operation.
    PolicyDenied,
    /// The caller may not do this: a token's scope, or a path this process
    /// may not write.
    Forbidden,
    /// The pool ran out of space.
    NoSpace,
    /// Something the operation needs is not there or not usable: an unmounted
    /// pool, a stopped Docker engine or registry.
    Unavailable,
    /// The filesystem or server cannot do what is asked.
    Unsupported,
    /// An external tool is missing.
    MissingTool,
    /// Another run holds what this one needs (a pipeline environment).
    Busy,
    /// A step the user asked for ran and failed: an external command, a smoke test.
    Failed,
    /// Anything else: I/O, the metadata store, a bug.
    Internal,
}

impl ErrorKind {
    /// Every kind, for tables and tests.
    pub const ALL: [ErrorKind; 14] = [
        ErrorKind::InvalidInput,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::WrongState,
        ErrorKind::HasDependents,
        ErrorKind::PolicyDenied,
        ErrorKind::Forbidden,
        ErrorKind::NoSpace,
        ErrorKind::Unavailable,
        ErrorKind::Unsupported,
        ErrorKind::MissingTool,
        ErrorKind::Busy,
        ErrorKind::Failed,
        ErrorKind::Internal,
    ];

    /// The stable snake_case name (`not_found`), as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::WrongState => "wrong_state",
            ErrorKind::HasDependents => "has_dependents",
            ErrorKind::PolicyDenied => "policy_denied",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NoSpace => "no_space",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::MissingTool => "missing_tool",
            ErrorKind::Busy => "busy",
            ErrorKind::Failed => "failed",
            ErrorKind::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error that knows its class. Every library error type implements it.
pub trait HasKind {
    /// The stable class of this error.
    fn kind(&self) -> ErrorKind;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_serde() {
        for k in ErrorKind::ALL {
            let v = serde_json::to_value(k).unwrap();
            assert_eq!(v.as_str(), Some(k.as_str()), "{k:?}");
        }
    }
}
