//! MySQL/MariaDB helpers shared by app, db and mask: identifier quoting,
//! URL redaction, and the blocking bridge from sync APIs to the async
//! `mysql_async` driver.
//!
//! They lived as three copies each; one home means one behaviour for the
//! quoting rule (a name can never break out of its backticks), for what a
//! log may show of a URL (never the password), and for how a sync call
//! waits on async driver code (never by nesting runtimes, which panics).

mod bridge;

pub use bridge::{block_on, new_runtime, off_runtime};

/// Quotes an identifier with backticks, doubling any backtick inside, so
/// any name (even one with backticks or spaces) stays one identifier.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Whether the server (or the socket) failed because a disk is full:
/// `ER_DISK_FULL` (1021), `ER_RECORD_FILE_FULL` (1114, InnoDB cannot grow
/// its tablespace), an OS error 28 (ENOSPC) quoted in the message, or a
/// local I/O error of kind `StorageFull`.
pub fn is_disk_full(e: &mysql_async::Error) -> bool {
    match e {
        mysql_async::Error::Server(se) => {
            se.code == 1021
                || se.code == 1114
                || se.message.contains("No space left")
                || se.message.contains("errno: 28")
                || se.message.contains("error 28 ")
        }
        mysql_async::Error::Io(mysql_async::IoError::Io(io)) => {
            io.kind() == std::io::ErrorKind::StorageFull
        }
        _ => false,
    }
}

/// The URL with any password replaced by `***`, for messages and logs.
/// Anything that is not `scheme://user:password@host…` comes back as is.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(f: fn(&str) -> String, cases: &[(&str, &str)]) {
        for (input, want) in cases {
            assert_eq!(f(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn idents_are_quoted() {
        check(
            quote_ident,
            &[
                ("main", "`main`"),
                ("a`b", "`a``b`"),
                ("``", "``````"),
                ("", "``"),
                ("with space", "`with space`"),
            ],
        );
    }

    #[test]
    fn urls_lose_their_password_only() {
        check(
            redact_url,
            &[
                (
                    "mysql://root:secret@127.0.0.1:3306/db",
                    "mysql://root:***@127.0.0.1:3306/db",
                ),
                (
                    "mysql://root:pw@127.0.0.1:3306/",
                    "mysql://root:***@127.0.0.1:3306/",
                ),
                (
                    "mysql://root@127.0.0.1:3306/",
                    "mysql://root@127.0.0.1:3306/",
                ),
                ("mysql://127.0.0.1:3306/db", "mysql://127.0.0.1:3306/db"),
                // An '@' in the password: the host is after the last one.
                ("mysql://u:p@ss@h:1/d", "mysql://u:***@h:1/d"),
                // An '@' after the authority is not userinfo.
                ("mysql://h:1/d?x=a@b", "mysql://h:1/d?x=a@b"),
                ("nonsense", "nonsense"),
            ],
        );
    }

    /// Reads one backtick-quoted identifier back, as the server does.
    fn unquote(q: &str) -> Option<String> {
        q.strip_prefix('`')?
            .strip_suffix('`')
            .filter(|inner| !inner.replace("``", "").contains('`'))
            .map(|inner| inner.replace("``", "`"))
    }

    proptest! {
        #[test]
        fn quoting_round_trips(name in "[a-z` ]{0,12}") {
            prop_assert_eq!(unquote(&quote_ident(&name)), Some(name));
        }

        #[test]
        fn no_password_survives(user in "[a-z]{1,8}", pw in "[A-Za-z0-9!@#]{1,12}") {
            let url = format!("mysql://{user}:{pw}@db.local:3306/x");
            let shown = redact_url(&url);
            prop_assert_eq!(shown, format!("mysql://{user}:***@db.local:3306/x"));
        }
    }
}
