//! Byte sizes as people write them: `512M`, `8G`, `10GiB`, `1.5G`, `4096`.
//!
//! One parser and one printer for the whole workspace (the engine, the app
//! and the pipeline). Units are binary multiples, as `truncate` and `dd` read
//! them: `K` = 1024, `M` = 1024², `G` = 1024³, `T` = 1024⁴. Each may be
//! written bare, with `B` or with `iB` (`G`, `GB`, `GiB`), in any case, with
//! or without a space after the number; no unit (or `B`) means bytes.
//! Decimals are accepted and rounded to the nearest byte (`1.5M` = 1572864).

/// Examples of valid sizes, quoted in every error message.
pub const EXAMPLES: &str = "examples: 512M, 8G, 10GiB, 1.5G";

/// A size that did not parse: the input and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid size {input:?}: {problem} ({EXAMPLES})")]
pub struct SizeError {
    /// What was given.
    pub input: String,
    /// What is wrong with it.
    pub problem: SizeProblem,
}

/// What is wrong with a size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SizeProblem {
    /// Nothing but whitespace was given.
    #[error("it is empty")]
    Empty,
    /// The size starts with `-`.
    #[error("sizes cannot be negative")]
    Negative,
    /// The size does not start with a digit, or has a `.` without digits after it.
    #[error("it must start with a number such as 8 or 1.5")]
    NoNumber,
    /// The text after the number is not a unit.
    #[error(
        "unknown unit {0:?}: use K, M, G or T (powers of 1024), optionally followed by B or iB"
    )]
    UnknownUnit(String),
    /// The size does not fit in 64 bits.
    #[error("it is too large: at most 16 EiB (2^64 - 1 bytes) fits")]
    TooLarge,
}

/// Parses a size such as `8G`, `512MiB`, `1.5g` or `1048576` into bytes.
pub fn parse_size(input: &str) -> Result<u64, SizeError> {
    parse(input.trim()).map_err(|problem| SizeError {
        input: input.to_owned(),
        problem,
    })
}

fn parse(s: &str) -> Result<u64, SizeProblem> {
    if s.is_empty() {
        return Err(SizeProblem::Empty);
    }
    if s.starts_with('-') {
        return Err(SizeProblem::Negative);
    }
    let int_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if int_end == 0 {
        return Err(SizeProblem::NoNumber);
    }
    let (int, rest) = s.split_at(int_end);
    let (frac, unit) = match rest.strip_prefix('.') {
        Some(after) => {
            let frac_end = after
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after.len());
            if frac_end == 0 {
                return Err(SizeProblem::NoNumber);
            }
            after.split_at(frac_end)
        }
        None => ("", rest),
    };
    let unit = unit.trim_start();
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(SizeProblem::UnknownUnit(unit.to_owned())),
    };
    let whole: u64 = int.parse().map_err(|_| SizeProblem::TooLarge)?;
    let bytes = whole.checked_mul(1 << shift).ok_or(SizeProblem::TooLarge)?;
    bytes
        .checked_add(frac_bytes(frac, shift))
        .ok_or(SizeProblem::TooLarge)
}

/// `0.<frac>` of `1 << shift` bytes, rounded to the nearest byte (halves up).
///
/// In integers, so there is no float error. Digits past the 24th are dropped
/// to stay in `u128`: for units up to T (2^40 < 10^13) they are worth less
/// than 10^-11 of a byte.
fn frac_bytes(frac: &str, shift: u32) -> u64 {
    let frac = &frac[..frac.len().min(24)];
    if frac.is_empty() {
        return 0;
    }
    let num: u128 = frac.parse().expect("only ASCII digits");
    let den = 10u128.pow(frac.len() as u32);
    let scaled = num << shift;
    // Below 1 << shift <= 2^40, so it fits in u64.
    ((scaled + den / 2) / den) as u64
}

/// Formats bytes with a binary unit and one decimal, e.g. `1.5 GiB`, or
/// `12 B` below 1 KiB. [`parse_size`] reads the result back to within 5%.
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
    use proptest::prelude::*;

    /// `want`: `Ok(bytes)`, or `Err(problem)` for the expected failure.
    fn check(input: &str, want: &Result<u64, SizeProblem>) {
        let got = parse_size(input).map_err(|e| e.problem);
        assert_eq!(&got, want, "parse_size({input:?})");
    }

    #[test]
    fn integers_and_units() {
        for (input, want) in [
            ("0", 0),
            ("4096", 4096),
            ("100B", 100),
            (" 64K ", 64 << 10),
            ("64k", 64 << 10),
            ("64KB", 64 << 10),
            ("64KiB", 64 << 10),
            ("64kib", 64 << 10),
            ("512M", 512 << 20),
            ("512 MiB", 512 << 20),
            ("8G", 8 << 30),
            ("10GiB", 10 << 30),
            ("2gb", 2 << 30),
            ("1t", 1 << 40),
            ("1TiB", 1 << 40),
            ("18446744073709551615", u64::MAX),
            ("16777215T", 16_777_215 << 40),
            ("16777215.99999999T", u64::MAX - 10_994),
        ] {
            check(input, &Ok(want));
        }
    }

    #[test]
    fn decimals_round_to_the_nearest_byte() {
        for (input, want) in [
            ("1.5G", 3 << 29),
            ("1.5M", 1_572_864),
            ("0.5K", 512),
            ("0.25 KiB", 256),
            ("1.0", 1),
            ("1.5", 2),
            ("1.4", 1),
            ("0.001K", 1),
            ("0.0004K", 0),
            ("2.000000000000000000000000000001G", 2 << 30),
            ("0.1T", 109_951_162_778),
        ] {
            check(input, &Ok(want));
        }
    }

    #[test]
    fn mistakes_are_named() {
        use SizeProblem::*;
        for (input, want) in [
            ("", Empty),
            ("   ", Empty),
            ("-1G", Negative),
            ("-0", Negative),
            ("G", NoNumber),
            (".5G", NoNumber),
            ("1.G", NoNumber),
            ("+1G", NoNumber),
            ("2X", UnknownUnit("X".into())),
            ("3 furlongs", UnknownUnit("furlongs".into())),
            ("1.2.3G", UnknownUnit(".3G".into())),
            ("1_000", UnknownUnit("_000".into())),
            ("1GG", UnknownUnit("GG".into())),
            ("1PiB", UnknownUnit("PiB".into())),
            ("18446744073709551616", TooLarge),
            ("99999999999T", TooLarge),
            ("16777216T", TooLarge),
            ("16777215.9999999999999T", TooLarge),
        ] {
            check(input, &Err(want));
        }
    }

    #[test]
    fn messages_say_what_failed_and_give_examples() {
        let e = parse_size("3 furlongs").unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid size \"3 furlongs\": unknown unit \"furlongs\": use K, M, G or T \
             (powers of 1024), optionally followed by B or iB (examples: 512M, 8G, 10GiB, 1.5G)"
        );
        let e = parse_size("-1G").unwrap_err().to_string();
        assert!(
            e.starts_with("invalid size \"-1G\": sizes cannot be negative ("),
            "{e}"
        );
    }

    #[test]
    fn formats() {
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(12), "12 B");
        assert_eq!(format_size(1023), "1023 B");
        assert_eq!(format_size(1024), "1.0 KiB");
        assert_eq!(format_size(1536 << 20), "1.5 GiB");
        assert_eq!(format_size(3 << 40), "3.0 TiB");
    }

    proptest! {
        #[test]
        fn plain_numbers_are_bytes(n: u64) {
            prop_assert_eq!(parse_size(&n.to_string()), Ok(n));
        }

        #[test]
        fn units_are_binary_multiples(k in 0u64..1 << 24, case in 0usize..6) {
            let g = ["G", "g", "GB", "GiB", "gib", " G"][case];
            prop_assert_eq!(parse_size(&format!("{k}{g}")), Ok(k << 30));
            prop_assert_eq!(parse_size(&format!("{k}K")), Ok(k << 10));
            prop_assert_eq!(parse_size(&format!("{k}T")), Ok(k << 40));
        }

        #[test]
        fn halves_are_exact(k in 0u64..1 << 20) {
            prop_assert_eq!(parse_size(&format!("{k}.5M")), Ok((k << 20) + (1 << 19)));
        }

        #[test]
        fn formatted_sizes_parse_back_within_five_percent(n in 0u64..1 << 60) {
            let back = parse_size(&format_size(n)).unwrap();
            prop_assert!(back.abs_diff(n) <= n / 20 + 1, "{} -> {} -> {}", n, format_size(n), back);
        }
    }
}
