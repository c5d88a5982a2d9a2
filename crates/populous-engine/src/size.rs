//! Byte sizes as people write them: `512M`, `8G`, `10GiB`, `4096`.
//!
//! Suffixes are binary (K = 1024), as `truncate` and `dd` read them.

use crate::error::{Error, Result};

/// Parses a size such as `8G`, `512MiB` or `1048576` into bytes.
pub fn parse_size(s: &str) -> Result<u64> {
    let bad = |detail: &str| Error::InvalidInput {
        what: "size",
        detail: format!("{s:?}: {detail} (examples: 512M, 8G, 10GiB)"),
    };
    let t = s.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if digits_end == 0 {
        return Err(bad("it must start with a number"));
    }
    let n: u64 = t[..digits_end]
        .parse()
        .map_err(|_| bad("the number is too large"))?;
    let unit = t[digits_end..].trim();
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(bad("unknown unit")),
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| bad("the size is too large"))
}

/// Formats bytes with a binary unit, e.g. `1.5 GiB`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
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
        check("8G", Some(8 << 30));
        check("10GiB", Some(10 << 30));
        check("1t", Some(1 << 40));
        check("", None);
        check("G", None);
        check("-1G", None);
        check("1.5G", None);
        check("99999999999T", None);
        check("3 furlongs", None);
        assert_eq!(format_size(1536 << 20), "1.5 GiB");
        assert_eq!(format_size(12), "12 B");
    }
}
