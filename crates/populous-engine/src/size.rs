//! Byte sizes as people write them: `512M`, `8G`, `10GiB`, `1.5G`, `4096`.
//!
//! Suffixes are binary (K = 1024), as `truncate` and `dd` read them. The
//! parser and printer live in `populous-units`; this module maps its error
//! into the engine's [`Error::InvalidInput`].

use crate::error::{Error, Result};

pub use populous_units::format_size;

/// Parses a size such as `8G`, `512MiB`, `1.5G` or `1048576` into bytes.
pub fn parse_size(s: &str) -> Result<u64> {
    populous_units::parse_size(s).map_err(|e| Error::InvalidInput {
        what: "size",
        detail: format!(
            "{:?}: {} ({})",
            e.input,
            e.problem,
            populous_units::EXAMPLES
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, want: Option<u64>) {
        assert_eq!(parse_size(input).ok(), want, "parse_size({input:?})");
    }

    #[test]
    fn sizes() {
        check("4096", Some(4096));
        check("512M", Some(512 << 20));
        check("10GiB", Some(10 << 30));
        check("1.5G", Some(3 << 29));
        check("", None);
        check("-1G", None);
        check("99999999999T", None);
        let e = parse_size("3 furlongs").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        assert_eq!(
            e.to_string(),
            "invalid size: \"3 furlongs\": unknown unit \"furlongs\": use K, M, G or T \
             (powers of 1024), optionally followed by B or iB (examples: 512M, 8G, 10GiB, 1.5G)"
        );
        assert_eq!(format_size(1536 << 20), "1.5 GiB");
    }
}
