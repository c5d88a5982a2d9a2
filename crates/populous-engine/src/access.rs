//! Access tokens and the audit log, kept in the same metadata store.
//!
//! A token is a random 256-bit secret shown once at creation. Only its SHA-256
//! is stored: the secret has full entropy, so a slow password hash would add
//! nothing. A token names the folders it may see and act on; an admin token
//! sees everything. Deciding what a request may do is the adapter's job (the
//! daemon); the engine only stores and verifies.

use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::name::Name;

/// A token as stored (without its secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    /// Unique token name, for people and the audit log.
    pub name: Name,
    /// Folders it covers.
    pub folders: Vec<Name>,
    /// Whether it may do everything, including pool and folder administration.
    pub admin: bool,
    /// When it was created.
    pub created_at: i64,
}

impl TokenInfo {
    /// True when the token may act on `folder`.
    pub fn covers(&self, folder: &str) -> bool {
        self.admin || self.folders.iter().any(|f| f.as_str() == folder)
    }
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
    /// Creates a token and returns it with its secret, which is not stored and cannot be shown again.
    pub fn token_create(
        &mut self,
        name: &Name,
        folders: &[Name],
        admin: bool,
    ) -> Result<(TokenInfo, String)> {
        if folders.is_empty() && !admin {
            return Err(Error::InvalidInput {
                what: "token",
                detail: "a token covers at least one folder, or is an admin token".into(),
            });
        }
        let secret = format!(
            "pop_{}{}",
            crate::sys::random_token()?,
            crate::sys::random_token()?
        );
        let folder_list = folders
            .iter()
            .map(Name::as_str)
            .collect::<Vec<_>>()
            .join(",");
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
            folders: folders
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| Name::from_stored(s.to_owned()))
                .collect(),
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
