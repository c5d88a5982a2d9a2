//! Where a source is, and its password.

use std::path::Path;

use crate::{Result, SourceError};

/// `mysql://USER@HOST[:PORT]`: a source server and the account to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceUrl {
    /// Account name (with replication and backup privileges).
    pub user: String,
    /// Host name or address.
    pub host: String,
    /// TCP port (3306 when left out).
    pub port: u16,
}

impl std::fmt::Display for SourceUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mysql://{}@{}:{}", self.user, self.host, self.port)
    }
}

fn plain(what: &str, s: &str) -> Result<()> {
    // What reaches CHANGE MASTER TO and the tools' options: no quotes,
    // spaces, control characters or option syntax, whatever the escaping.
    let ok = !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-:[]".contains(c))
        && !s.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(SourceError::Invalid(format!(
            "invalid {what} {s:?} in the source URL: letters, digits and . _ - : [ ] only"
        )))
    }
}

impl std::str::FromStr for SourceUrl {
    type Err = SourceError;
    fn from_str(s: &str) -> Result<SourceUrl> {
        let bad = |why: &str| {
            SourceError::Invalid(format!(
                "invalid source URL {:?}: {why}; expected mysql://USER@HOST[:PORT]",
                populous_sql::redact_url(s)
            ))
        };
        let rest = s
            .strip_prefix("mysql://")
            .or_else(|| s.strip_prefix("mariadb://"))
            .ok_or_else(|| bad("it must start with mysql://"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('?') {
            return Err(bad("it takes no database or options"));
        }
        let (user, hostport) = rest.rsplit_once('@').ok_or_else(|| bad("no USER@"))?;
        if user.contains(':') {
            return Err(SourceError::Invalid(
                "the source URL must not hold a password: give it with --password-file".into(),
            ));
        }
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => (
                h,
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| bad("the port is 1 to 65535"))?,
            ),
            _ => (hostport, 3306),
        };
        plain("user", user)?;
        plain("host", host)?;
        Ok(SourceUrl {
            user: user.to_owned(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
        })
    }
}

/// A password, read from a file; shown as `***` by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    /// The first line of `path`, without its line end.
    pub fn from_file(path: &Path) -> Result<Password> {
        let text = std::fs::read_to_string(path).map_err(SourceError::io(format!(
            "reading the password file {}",
            path.display()
        )))?;
        let line = text.lines().next().unwrap_or("");
        Password::new(line).map_err(|_| {
            SourceError::Invalid(format!(
                "the password file {} is empty or its first line holds characters a password here cannot (a newline, a NUL)",
                path.display()
            ))
        })
    }

    /// A password given directly (tests, the API).
    pub fn new(s: &str) -> Result<Password> {
        if s.is_empty() || s.contains(['\n', '\r', '\0']) {
            return Err(SourceError::Invalid(
                "an empty or multi-line password".into(),
            ));
        }
        Ok(Password(s.to_owned()))
    }

    /// The secret itself: only for the driver and the tools' option files.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, want: std::result::Result<(&str, &str, u16), &str>) {
        match (input.parse::<SourceUrl>(), want) {
            (Ok(u), Ok((user, host, port))) => {
                assert_eq!(
                    (u.user.as_str(), u.host.as_str(), u.port),
                    (user, host, port),
                    "{input}"
                );
                // What is shown parses back to the same.
                assert_eq!(u.to_string().parse::<SourceUrl>().unwrap(), u);
            }
            (Err(e), Err(needle)) => {
                let m = e.to_string();
                assert!(m.contains(needle), "{input}: {m}");
                assert!(!m.contains("s3cret"), "{input}: the password leaks: {m}");
            }
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn urls() {
        check("mysql://repl@db1:3307", Ok(("repl", "db1", 3307)));
        check("mysql://repl@10.0.0.5", Ok(("repl", "10.0.0.5", 3306)));
        check(
            "mariadb://repl@127.0.0.1:3306/",
            Ok(("repl", "127.0.0.1", 3306)),
        );
        check("mysql://repl:s3cret@db1:3306", Err("--password-file"));
        check("postgres://repl@db1", Err("mysql://"));
        check("mysql://db1:3306", Err("USER@"));
        check("mysql://repl@db1:0", Err("port"));
        check("mysql://repl@db1:99999", Err("port"));
        check("mysql://repl@db1/app", Err("no database"));
        check("mysql://re'pl@db1", Err("invalid user"));
        check("mysql://repl@-oProxy", Err("invalid host"));
    }

    #[test]
    fn passwords_never_show() {
        let p = Password::new("s3cret#\"x").unwrap();
        assert_eq!(format!("{p:?}"), "Password(***)");
        assert_eq!(p.expose(), "s3cret#\"x");
        assert!(Password::new("a\nb").is_err() && Password::new("").is_err());
    }
}
