//! Access tokens and the audit log, kept in the same metadata store.
//!
//! A token is a random 256-bit secret shown once at creation. Only its SHA-256
//! is stored: the secret has full entropy, so a slow password hash would add
//! nothing. A token names the folders it may see and act on; an admin token
//! sees everything. Deciding what a request may do is the adapter's job (the
//! daemon); the engine only stores and verifies.
//!
//! Each folder a token names comes with a [`Scope`]: `read` (list, inspect,
//! be the source of a clone) or `write` (also create, destroy, snapshot,
//! take offline, rename, start a database, import into, and move a volume
//! out). Tokens stored before scopes existed name bare folders; the first is
//! read as `write` (the token's home) and the others as `read`, which is what
//! the documented `--folder dev --folder prod` meant.

use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::name::Name;

/// What a token may do in one folder.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// List, inspect, and be the source of a clone.
    Read,
    /// Everything `read` allows, and every change: create, destroy, snapshot,
    /// offline, online, rename, databases, imports in and out.
    Write,
}

impl Scope {
    /// Lowercase name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = Error;
    fn from_str(s: &str) -> Result<Scope> {
        match s {
            "read" => Ok(Scope::Read),
            "write" => Ok(Scope::Write),
            _ => Err(Error::InvalidInput {
                what: "scope",
                detail: format!("{s:?} is not a scope; expected read or write"),
            }),
        }
    }
}

/// A token as stored (without its secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    /// Unique token name, for people and the audit log.
    pub name: Name,
    /// Folders it covers, each with what it may do there.
    pub folders: std::collections::BTreeMap<Name, Scope>,
    /// Whether it may do everything, including pool and folder administration.
    pub admin: bool,
    /// When it was created.
    pub created_at: i64,
}

impl TokenInfo {
    /// What the token may do in `folder`, if anything (an admin token: write everywhere).
    pub fn scope(&self, folder: &str) -> Option<Scope> {
        if self.admin {
            return Some(Scope::Write);
        }
        self.folders
            .iter()
            .find(|(f, _)| f.as_str() == folder)
            .map(|(_, s)| *s)
    }

    /// True when the token may see `folder` (read or write).
    pub fn can_read(&self, folder: &str) -> bool {
        self.scope(folder).is_some()
    }

    /// True when the token may change `folder`.
    pub fn can_write(&self, folder: &str) -> bool {
        self.scope(folder) == Some(Scope::Write)
    }
}

/// Stored form: `dev:write,prod:read`. Bare names come from before scopes:
/// the first is the token's home (`write`), the rest are `read`.
fn grants_text(grants: &std::collections::BTreeMap<Name, Scope>) -> String {
    grants
        .iter()
        .map(|(f, s)| format!("{f}:{}", s.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

fn grants_from(text: &str) -> std::collections::BTreeMap<Name, Scope> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .enumerate()
        .map(|(i, entry)| match entry.split_once(':') {
            // An unknown scope in the store can only come from a newer
            // version: reading it as `read` never grants more than meant.
            Some((f, s)) => (
                Name::from_stored(f.to_owned()),
                s.parse().unwrap_or(Scope::Read),
            ),
            None if i == 0 => (Name::from_stored(entry.to_owned()), Scope::Write),
            None => (Name::from_stored(entry.to_owned()), Scope::Read),
        })
        .collect()
}

/// One audit record.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEntry {
    /// Unix seconds.
    pub at: i64,
    /// Who: a token name, or `local` for the CLI.
    pub actor: String,
    /// What was asked, e.g. `clone`.
    pub action: String,
    /// On what, e.g. `prod/db -> dev/x`.
    pub target: String,
    /// `ok`, or the error kind and message.
    pub outcome: String,
}

fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Engine {
    /// Creates a token with `scope` on each of `folders` and returns it with
    /// its secret, which is not stored and cannot be shown again. A folder
    /// named twice gets the wider scope.
    pub fn token_create(
        &mut self,
        name: &Name,
        folders: &[(Name, Scope)],
    ) -> Result<(TokenInfo, String)> {
        if folders.is_empty() {
            return Err(Error::InvalidInput {
                what: "token",
                detail: "a token covers at least one folder, or is an admin token".into(),
            });
        }
        let mut grants = std::collections::BTreeMap::new();
        for (f, s) in folders {
            let e = grants.entry(f.clone()).or_insert(*s);
            *e = (*e).max(*s);
        }
        self.token_insert(name, &grants, false)
    }

    /// Creates an admin token: every folder, and pool and folder administration.
    pub fn token_create_admin(&mut self, name: &Name) -> Result<(TokenInfo, String)> {
        self.token_insert(name, &std::collections::BTreeMap::new(), true)
    }

    fn token_insert(
        &mut self,
        name: &Name,
        grants: &std::collections::BTreeMap<Name, Scope>,
        admin: bool,
    ) -> Result<(TokenInfo, String)> {
        let secret = format!(
            "pop_{}{}",
            crate::sys::random_token()?,
            crate::sys::random_token()?
        );
        let folder_list = grants_text(grants);
        let inserted = self.db().execute(
            "INSERT OR IGNORE INTO tokens (name, hash, folders, admin, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name.as_str(), hash(&secret), folder_list, admin as i64, crate::engine::now()],
        )?;
        if inserted == 0 {
            return Err(Error::AlreadyExists {
                what: "token",
                name: name.to_string(),
                hint: String::new(),
                case: crate::error::Case::General,
            });
        }
        let info = self.token_get(name)?;
        Ok((info, secret))
    }

    fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenInfo> {
        let folders: String = r.get(1)?;
        Ok(TokenInfo {
            name: Name::from_stored(r.get(0)?),
            folders: grants_from(&folders),
            admin: r.get::<_, i64>(2)? != 0,
            created_at: r.get(3)?,
        })
    }

    fn token_get(&self, name: &Name) -> Result<TokenInfo> {
        self.db()
            .query_row(
                "SELECT name, folders, admin, created_at FROM tokens WHERE name = ?1",
                [name.as_str()],
                Self::token_row,
            )
            .optional()?
            .ok_or_else(|| Error::NotFound {
                what: "token",
                name: name.to_string(),
                hint: String::new(),
            })
    }

    /// Returns the token whose secret this is, or `None`.
    pub fn token_verify(&self, secret: &str) -> Result<Option<TokenInfo>> {
        Ok(self
            .db()
            .query_row(
                "SELECT name, folders, admin, created_at FROM tokens WHERE hash = ?1",
                [hash(secret)],
                Self::token_row,
            )
            .optional()?)
    }

    /// All tokens, without secrets.
    pub fn token_list(&self) -> Result<Vec<TokenInfo>> {
        let mut st = self
            .db()
            .prepare("SELECT name, folders, admin, created_at FROM tokens ORDER BY name")?;
        let rows = st.query_map([], Self::token_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Revokes a token.
    pub fn token_remove(&mut self, name: &Name) -> Result<()> {
        if self
            .db()
            .execute("DELETE FROM tokens WHERE name = ?1", [name.as_str()])?
            == 0
        {
            return Err(Error::NotFound {
                what: "token",
                name: name.to_string(),
                hint: String::new(),
            });
        }
        Ok(())
    }

    /// Appends to the audit log.
    pub fn audit(&self, actor: &str, action: &str, target: &str, outcome: &str) -> Result<()> {
        self.db().execute(
            "INSERT INTO audit (at, actor, action, target, outcome) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![crate::engine::now(), actor, action, target, outcome],
        )?;
        Ok(())
    }

    /// The newest `limit` audit entries, oldest first.
    pub fn audit_list(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        let mut st = self.db().prepare(
            "SELECT at, actor, action, target, outcome FROM \
               (SELECT * FROM audit ORDER BY id DESC LIMIT ?1) ORDER BY id",
        )?;
        let rows = st.query_map([limit as i64], |r| {
            Ok(AuditEntry {
                at: r.get(0)?,
                actor: r.get(1)?,
                action: r.get(2)?,
                target: r.get(3)?,
                outcome: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_grants() {
        let check = |text: &str, want: &[(&str, Scope)]| {
            let got = grants_from(text);
            let want: std::collections::BTreeMap<Name, Scope> = want
                .iter()
                .map(|(f, s)| (Name::from_stored((*f).to_owned()), *s))
                .collect();
            assert_eq!(got, want, "{text}");
            // What is written reads back the same.
            assert_eq!(grants_from(&grants_text(&got)), got, "{text}");
        };
        check(
            "dev:write,prod:read",
            &[("dev", Scope::Write), ("prod", Scope::Read)],
        );
        // Before scopes: the first folder is the home, the others are read.
        check(
            "dev,prod,golden",
            &[
                ("dev", Scope::Write),
                ("prod", Scope::Read),
                ("golden", Scope::Read),
            ],
        );
        check("dev", &[("dev", Scope::Write)]);
        check("", &[]);
        check("dev:admin", &[("dev", Scope::Read)]);
    }
}
