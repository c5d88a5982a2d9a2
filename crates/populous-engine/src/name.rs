//! Names and references: the only way user input reaches the filesystem.
//!
//! Every pool, folder, volume and snapshot name is checked against
//! `[A-Za-z0-9][A-Za-z0-9._-]{0,63}` before anything else happens. A name that
//! passes cannot contain `/`, cannot be `.` or `..` and cannot start with `-`,
//! so no name can make a path leave the pool or look like a command-line flag.
//! On disk the engine addresses objects by numeric id anyway; names live only
//! in the metadata.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Longest accepted name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// A validated object name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    /// Checks `s` and wraps it. `what` names the kind of object for the error message.
    pub fn new(what: &'static str, s: &str) -> Result<Self> {
        if let Some(reason) = name_problem(s) {
            return Err(Error::InvalidName {
                what,
                name: s.chars().take(100).collect(),
                reason,
            });
        }
        Ok(Name(s.to_owned()))
    }

    /// Wraps a name read back from the metadata store, which only ever holds
    /// names that passed [`Name::new`] on the way in.
    pub(crate) fn from_stored(s: String) -> Self {
        Name(s)
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Returns why `s` is not a valid name, or `None` if it is.
fn name_problem(s: &str) -> Option<&'static str> {
    let bytes = s.as_bytes();
    let first = match bytes.first() {
        None => return Some("it is empty"),
        Some(b) => *b,
    };
    if bytes.len() > MAX_NAME_LEN {
        return Some("it is longer than 64 characters");
    }
    if !first.is_ascii_alphanumeric() {
        return Some("it must start with a letter or a digit");
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Some("only letters, digits, '.', '_' and '-' are allowed");
    }
    None
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// `FOLDER/VOL`: a volume addressed by its folder.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VolRef {
    /// The folder that holds the volume.
    pub folder: Name,
    /// The volume's name inside the folder.
    pub volume: Name,
}

/// `FOLDER/VOL@SNAP`: a snapshot of a volume.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SnapRef {
    /// The volume the snapshot belongs to.
    pub vol: VolRef,
    /// The snapshot's name, unique per volume.
    pub snapshot: Name,
}

/// `POOL/FOLDER`: where a folder is created.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FolderRef {
    /// The pool that holds the folder.
    pub pool: Name,
    /// The folder's name, unique across all pools.
    pub folder: Name,
}

fn split_two<'a>(s: &'a str, sep: char, shape: &'static str) -> Result<(&'a str, &'a str)> {
    match s.split_once(sep) {
        Some((a, b)) => Ok((a, b)),
        None => Err(Error::InvalidReference {
            input: s.chars().take(100).collect(),
            expected: shape,
        }),
    }
}

impl FromStr for VolRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let (folder, volume) = split_two(s, '/', "FOLDER/VOLUME")?;
        Ok(VolRef {
            folder: Name::new("folder", folder)?,
            volume: Name::new("volume", volume)?,
        })
    }
}

impl FromStr for SnapRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let (vol, snap) = split_two(s, '@', "FOLDER/VOLUME@SNAPSHOT")?;
        Ok(SnapRef {
            vol: vol.parse()?,
            snapshot: Name::new("snapshot", snap)?,
        })
    }
}

impl FromStr for FolderRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let (pool, folder) = split_two(s, '/', "POOL/FOLDER")?;
        Ok(FolderRef {
            pool: Name::new("pool", pool)?,
            folder: Name::new("folder", folder)?,
        })
    }
}

/// `FOLDER/VOL` or `FOLDER/VOL@SNAP`: the source of a clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CloneSource {
    /// Clone the volume's current state; a snapshot is taken first.
    Volume(VolRef),
    /// Clone an existing snapshot.
    Snapshot(SnapRef),
}

impl FromStr for CloneSource {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        if s.contains('@') {
            Ok(CloneSource::Snapshot(s.parse()?))
        } else {
            Ok(CloneSource::Volume(s.parse()?))
        }
    }
}

impl fmt::Display for VolRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.folder, self.volume)
    }
}

impl fmt::Display for SnapRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.vol, self.snapshot)
    }
}

impl fmt::Display for FolderRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.pool, self.folder)
    }
}

/// Written as `folder/volume`, as people type it.
impl serde::Serialize for VolRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(input: &str, ok: bool) {
        assert_eq!(
            Name::new("volume", input).is_ok(),
            ok,
            "name {input:?} should be {}",
            if ok { "accepted" } else { "rejected" }
        );
    }

    #[test]
    fn names() {
        for good in ["a", "db", "db-1", "A.b_c-9", "0", &"x".repeat(64)] {
            check(good, true);
        }
        for bad in [
            "",
            ".",
            "..",
            "-rf",
            "_x",
            ".hidden",
            "a/b",
            "../etc",
            "a b",
            "a\0b",
            "é",
            "a\n",
            &"x".repeat(65),
        ] {
            check(bad, false);
        }
    }

    #[test]
    fn references() {
        let s: SnapRef = "prod/db@s1".parse().expect("valid");
        assert_eq!(s.to_string(), "prod/db@s1");
        assert!("prod/db/x".parse::<VolRef>().is_err());
        assert!("prod".parse::<VolRef>().is_err());
        assert!("prod/../x".parse::<VolRef>().is_err());
        assert!("prod/db@".parse::<SnapRef>().is_err());
        assert!("prod/db@a@b".parse::<SnapRef>().is_err());
        assert!(matches!(
            "prod/db".parse::<CloneSource>(),
            Ok(CloneSource::Volume(_))
        ));
        assert!(matches!(
            "prod/db@s".parse::<CloneSource>(),
            Ok(CloneSource::Snapshot(_))
        ));
    }

    proptest! {
        /// Whatever the input, an accepted name is one path component that stays put.
        #[test]
        fn accepted_names_never_escape(s in "\\PC{0,80}") {
            if let Ok(n) = Name::new("volume", &s) {
                let p = std::path::Path::new("/pool").join(n.as_str());
                prop_assert_eq!(p.parent(), Some(std::path::Path::new("/pool")));
                prop_assert!(n.as_str() != "." && n.as_str() != "..");
                prop_assert!(!n.as_str().starts_with('-'));
            }
        }

        #[test]
        fn valid_names_roundtrip(s in "[A-Za-z0-9][A-Za-z0-9._-]{0,63}") {
            let n = Name::new("volume", &s).expect("valid");
            prop_assert_eq!(n.as_str(), s.as_str());
        }
    }
}
