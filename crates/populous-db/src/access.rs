//! Who may log in to a server over TCP.
//!
//! A developer's own `db start` keeps MariaDB's passwordless `root` on
//! 127.0.0.1 ([`TcpAccess::Root`]): the host is theirs. A self-service clone
//! ([`TcpAccess::Users`]) must not: anyone on the host could read it. Its
//! server then has no `root` (nor anonymous user) for any host but
//! `localhost`, which with `--skip-name-resolve` means the unix socket only,
//! in a run dir only the server's user (and root) can enter; over TCP only
//! the named users log in, each with its own password.
//!
//! Passwords are never kept: a user is made from its [`PasswordHash`], the
//! `mysql_native_password` form MariaDB stores itself (`*` and the hex of
//! SHA1(SHA1(password))), so a clone whose data is replaced (a reset) gets
//! the same login back without anyone knowing the password but its owner.

use std::fmt;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use crate::{DbError, Result};

/// How a server is reached over TCP.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TcpAccess {
    /// `root` without a password from 127.0.0.1 (made if missing).
    #[default]
    Root,
    /// Only these users, with their passwords; `root` only over the socket.
    Users(Vec<DbUser>),
}

/// A login over TCP, from any host the server listens to.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbUser {
    /// The user name (see [`DbUser::new`]).
    pub name: String,
    /// Its password, as MariaDB stores it.
    pub password_hash: PasswordHash,
}

impl fmt::Debug for DbUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbUser")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The longest user name MariaDB takes.
pub const USER_NAME_MAX: usize = 80;

impl DbUser {
    /// A user `name` (ASCII letters, digits, `_` and `-`, at most
    /// [`USER_NAME_MAX`]) with the password whose hash is `password_hash`.
    pub fn new(name: &str, password_hash: PasswordHash) -> Result<DbUser> {
        let ok = !name.is_empty()
            && name.len() <= USER_NAME_MAX
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok || name == "root" {
            return Err(DbError::BadUserName {
                name: name.to_owned(),
            });
        }
        Ok(DbUser {
            name: name.to_owned(),
            password_hash,
        })
    }
}

/// A `mysql_native_password` hash: `*` and 40 upper-case hex digits.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PasswordHash(String);

impl PasswordHash {
    /// The hash of `password`.
    pub fn of(password: &str) -> PasswordHash {
        let once = Sha1::digest(password.as_bytes());
        let twice = Sha1::digest(once);
        let hex: String = twice.iter().map(|b| format!("{b:02X}")).collect();
        PasswordHash(format!("*{hex}"))
    }

    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PasswordHash {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        let ok = s.len() == 41
            && s.starts_with('*')
            && s[1..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
        if ok {
            Ok(PasswordHash(s))
        } else {
            Err("a password hash is '*' and 40 upper-case hex digits".to_owned())
        }
    }
}

impl From<PasswordHash> for String {
    fn from(h: PasswordHash) -> String {
        h.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// A new random password: 24 letters and digits (about 143 bits).
pub fn random_password() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 24)
}

/// Makes the server's accounts match `users` over the socket connection
/// `conn`: every `root` and anonymous account but `localhost` dropped, each
/// user made (or its password and grants set again).
pub(crate) async fn apply(conn: &mut Conn, users: &[DbUser], target: &str) -> Result<()> {
    let sql = |what: &'static str| {
        let target = target.to_owned();
        move |source| DbError::Sql {
            what,
            target,
            source,
        }
    };
    let open: Vec<(String, String)> = conn
        .query(
            "SELECT User, Host FROM mysql.user \
             WHERE (User = 'root' OR User = '') AND Host <> 'localhost'",
        )
        .await
        .map_err(sql("listing root's accounts"))?;
    for (user, host) in open {
        conn.query_drop(format!(
            "DROP USER {}@{}",
            quote_str(&user),
            quote_str(&host)
        ))
        .await
        .map_err(sql("dropping a root account reachable over TCP"))?;
    }
    for u in users {
        let who = format!("{}@'%'", quote_str(&u.name));
        let hash = quote_str(u.password_hash.as_str());
        conn.query_drop(format!(
            "CREATE USER IF NOT EXISTS {who} IDENTIFIED BY PASSWORD {hash}; \
             ALTER USER {who} IDENTIFIED BY PASSWORD {hash}; \
             GRANT ALL PRIVILEGES ON *.* TO {who}"
        ))
        .await
        .map_err(sql("creating the clone's user"))?;
    }
    Ok(())
}

/// Makes `users` the logins of the running server whose socket is
/// `socket` (a warm clone being claimed), as [`TcpAccess::Users`] does at a
/// start.
pub fn grant_logins(socket: &std::path::Path, users: &[DbUser]) -> Result<()> {
    let target = socket.display().to_string();
    let opts = crate::server::socket_opts(socket);
    crate::rt::block_on(async move {
        let mut conn = Conn::new(opts).await.map_err(|source| DbError::Sql {
            what: "connecting over the socket",
            target: target.clone(),
            source,
        })?;
        let r = apply(&mut conn, users, &target).await;
        let _ = conn.disconnect().await;
        r
    })?
}

/// A string literal: quotes and backslashes escaped.
fn quote_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_mariadbs_password_function() {
        // SELECT PASSWORD('secret') on MariaDB 10.11.
        assert_eq!(
            PasswordHash::of("secret").as_str(),
            "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7"
        );
        let back: PasswordHash =
            serde_json::from_str(&serde_json::to_string(&PasswordHash::of("x")).unwrap()).unwrap();
        assert_eq!(back, PasswordHash::of("x"));
        assert!(serde_json::from_str::<PasswordHash>("\"*abc\"").is_err());
        assert!(!format!("{:?}", PasswordHash::of("x")).contains('*'));
    }

    #[test]
    fn user_names() {
        let h = || PasswordHash::of("p");
        for ok in ["app", "build-28", "a_b", &"x".repeat(USER_NAME_MAX)] {
            assert!(DbUser::new(ok, h()).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "root",
            "a b",
            "a'b",
            "é",
            &"x".repeat(USER_NAME_MAX + 1),
        ] {
            assert!(DbUser::new(bad, h()).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_random_and_long() {
        let (a, b) = (random_password(), random_password());
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn literals_are_quoted() {
        assert_eq!(quote_str("a'b\\"), "'a\\'b\\\\'");
    }
}
