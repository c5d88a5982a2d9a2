//! Applying rules to values: the keyed PRF per column domain and the
//! transformers themselves.
//!
//! Every output is a pure function of (key, column domain, input value), so
//! the same value masks identically in every table, every run and every
//! thread — joins survive masking.

use std::collections::HashMap;
use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::fpe::Fpe;
use crate::key::hex;
use crate::rules::{RuleSet, Transform};
use crate::{MaskError, MaskKey};
use populous_words::mask::{CITIES, FIRST_NAMES, LAST_NAMES, STREET_NAMES, STREET_SUFFIXES};

type HmacSha256 = Hmac<Sha256>;

/// Labels that separate the PRF uses of the one key (first byte of the
/// HMAC message), so a value HMAC can never equal a derived FPE key.
const USE_VALUE: u8 = 1;
const USE_FPE_KEY: u8 = 2;

/// Bits of HMAC in the uniqueness tag of `unique: true` emails (24 base32 chars).
pub const EMAIL_TAG_BITS: u32 = 120;

/// Masks values for every column of a [`RuleSet`] under one [`MaskKey`].
/// Cheap to share between threads (`Sync`); look columns up once with
/// [`Masker::column`] in hot loops.
pub struct Masker {
    columns: Vec<ColumnMasker>,
    index: HashMap<String, HashMap<String, usize>>,
    key_id: String,
    rules_hash: String,
}

impl fmt::Debug for Masker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Masker")
            .field("key_id", &self.key_id)
            .field("rules_hash", &self.rules_hash)
            .field("columns", &self.columns)
            .finish()
    }
}

impl Masker {
    /// Prepares one keyed PRF (and, where needed, one keyed permutation)
    /// per masked column.
    pub fn new(rules: &RuleSet, key: &MaskKey) -> Masker {
        let mut columns = Vec::new();
        let mut index: HashMap<String, HashMap<String, usize>> = HashMap::new();
        for t in rules.tables() {
            for c in t.columns() {
                let mac = domain_mac(key, USE_VALUE, c.domain());
                let fpe_key: [u8; 32] = domain_mac(key, USE_FPE_KEY, c.domain())
                    .finalize()
                    .into_bytes()
                    .into();
                index
                    .entry(t.name().to_string())
                    .or_default()
                    .insert(c.name().to_string(), columns.len());
                columns.push(ColumnMasker {
                    table: t.name().to_string(),
                    column: c.name().to_string(),
                    transform: c.transform().clone(),
                    unique: c.unique(),
                    mac,
                    fpe: Fpe::new(fpe_key),
                });
            }
        }
        Masker {
            columns,
            index,
            key_id: key.key_id().to_string(),
            rules_hash: rules.hash().to_string(),
        }
    }

    /// The masker for `table.column`, if it has a rule.
    pub fn column(&self, table: &str, column: &str) -> Option<&ColumnMasker> {
        let i = *self.index.get(table)?.get(column)?;
        Some(&self.columns[i])
    }

    /// Masks one value of `table.column`. NULL stays NULL except for the
    /// `null` and `fixed` transformers.
    pub fn mask(
        &self,
        table: &str,
        column: &str,
        value: Option<&str>,
    ) -> Result<Option<String>, MaskError> {
        self.lookup(table, column)?.mask(value)
    }

    /// As [`Masker::mask`], for raw column bytes (as drivers return them).
    pub fn mask_bytes(
        &self,
        table: &str,
        column: &str,
        value: Option<&[u8]>,
    ) -> Result<Option<String>, MaskError> {
        self.lookup(table, column)?.mask_bytes(value)
    }

    fn lookup(&self, table: &str, column: &str) -> Result<&ColumnMasker, MaskError> {
        self.column(table, column).ok_or_else(|| MaskError::NoRule {
            table: table.to_string(),
            column: column.to_string(),
        })
    }

    /// The key's id (for provenance).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The rule-set hash (for provenance).
    pub fn rules_hash(&self) -> &str {
        &self.rules_hash
    }
}

fn domain_mac(key: &MaskKey, usage: u8, domain: &str) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(key.bytes()).expect("HMAC takes keys of any length");
    // Length-prefixed domain: the message (usage ‖ len ‖ domain ‖ value) is
    // parsed unambiguously, so no (domain, value) pair aliases another.
    m.update(&[usage]);
    m.update(&(domain.len() as u64).to_le_bytes());
    m.update(domain.as_bytes());
    m
}

/// The prepared masker of one column.
#[derive(Clone)]
pub struct ColumnMasker {
    table: String,
    column: String,
    transform: Transform,
    unique: bool,
    mac: HmacSha256,
    fpe: Fpe,
}

impl fmt::Debug for ColumnMasker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The HMAC state and permutation key are key material: never shown.
        f.debug_struct("ColumnMasker")
            .field("table", &self.table)
            .field("column", &self.column)
            .field("transform", &self.transform)
            .field("unique", &self.unique)
            .finish_non_exhaustive()
    }
}

impl ColumnMasker {
    /// The column's transformer.
    pub fn transform(&self) -> &Transform {
        &self.transform
    }

    /// Masks one value. NULL stays NULL and the empty string stays empty
    /// (neither carries personal data), except for `null` and `fixed`.
    pub fn mask(&self, value: Option<&str>) -> Result<Option<String>, MaskError> {
        match (&self.transform, value) {
            (Transform::Null, _) => Ok(None),
            (Transform::Fixed { value }, _) => Ok(Some(value.clone())),
            (_, None) => Ok(None),
            (_, Some("")) => Ok(Some(String::new())),
            (_, Some(v)) => self.apply(v).map(Some),
        }
    }

    /// As [`ColumnMasker::mask`], for raw bytes. `keyed_hash`, `null` and
    /// `fixed` accept any bytes; the others need UTF-8 text.
    pub fn mask_bytes(&self, value: Option<&[u8]>) -> Result<Option<String>, MaskError> {
        match (&self.transform, value) {
            (Transform::KeyedHash { length }, Some(b)) if !b.is_empty() => {
                Ok(Some(self.keyed_hash(b, *length)))
            }
            (_, Some(b)) => {
                let s = std::str::from_utf8(b)
                    .map_err(|_| self.input_err("value is not valid UTF-8"))?;
                self.mask(Some(s))
            }
            (_, None) => self.mask(None),
        }
    }

    fn input_err(&self, reason: &str) -> MaskError {
        MaskError::Input {
            table: self.table.clone(),
            column: self.column.clone(),
            transform: self.transform.name(),
            reason: reason.to_string(),
        }
    }

    fn prf(&self, input: &[u8]) -> [u8; 32] {
        let mut m = self.mac.clone();
        m.update(input);
        m.finalize().into_bytes().into()
    }

    fn apply(&self, v: &str) -> Result<String, MaskError> {
        Ok(match &self.transform {
            Transform::Email => self.email(v),
            Transform::PersonName => {
                let d = self.prf(v.as_bytes());
                format!(
                    "{} {}",
                    pick(FIRST_NAMES, word(&d, 0)),
                    pick(LAST_NAMES, word(&d, 1))
                )
            }
            Transform::Street => {
                let d = self.prf(v.as_bytes());
                format!(
                    "{} {} {}",
                    1 + word(&d, 0) % 9999,
                    pick(STREET_NAMES, word(&d, 1)),
                    pick(STREET_SUFFIXES, word(&d, 2))
                )
            }
            Transform::City => pick(CITIES, word(&self.prf(v.as_bytes()), 0)).to_string(),
            Transform::Zip => self.shape(v, true),
            Transform::Phone => self.shape(v, false),
            Transform::Ssn => self.ssn(v),
            Transform::CreditCard => self.credit_card(v)?,
            Transform::Uuid => self.uuid(v)?,
            Transform::KeyedHash { length } => self.keyed_hash(v.as_bytes(), *length),
            Transform::Redact { ch } => v.chars().map(|_| *ch).collect(),
            Transform::KeepFirstN { n, ch } => v
                .chars()
                .enumerate()
                .map(|(i, c)| if i < *n { c } else { *ch })
                .collect(),
            Transform::DateShift { days } => self.date_shift(v, *days)?,
            Transform::NumericNoise { percent_micro } => self.numeric_noise(v, *percent_micro)?,
            Transform::Null | Transform::Fixed { .. } => unreachable!("handled in mask()"),
        })
    }

    fn email(&self, v: &str) -> String {
        let d = self.prf(v.as_bytes());
        let first = pick(FIRST_NAMES, word(&d, 0)).to_ascii_lowercase();
        let last = pick(LAST_NAMES, word(&d, 1)).to_ascii_lowercase();
        if self.unique {
            // Bytes 16..31 are disjoint from the name picks: 120 HMAC bits,
            // injectively encoded (see crate docs, "Uniqueness").
            format!("{first}.{last}.{}@example.com", base32(&d[16..31]))
        } else {
            const DOMAINS: &[&str] = &["example.com", "example.org", "example.net"];
            format!(
                "{first}.{last}{}@{}",
                word(&d, 2) % 10_000,
                pick(DOMAINS, word(&d, 3))
            )
        }
    }

    fn keyed_hash(&self, b: &[u8], length: Option<usize>) -> String {
        let mut h = hex(&self.prf(b));
        if let Some(l) = length {
            h.truncate(l);
        }
        h
    }

    /// Shape-preserving keyed bijection: digits stay digits, ASCII letters
    /// (if `letters`) stay letters of the same case, everything else is
    /// kept. Since the skeleton is kept and the digits/letters are permuted
    /// bijectively, the whole map is injective.
    fn shape(&self, v: &str, letters: bool) -> String {
        let mut chars: Vec<char> = v.chars().collect();
        let slots: Vec<usize> = (0..chars.len())
            .filter(|&i| chars[i].is_ascii_digit() || (letters && chars[i].is_ascii_alphabetic()))
            .collect();
        // Chunks of at most 2^100 values keep the Feistel halves within u64.
        let limit: u128 = 1 << 100;
        let mut start = 0;
        let mut chunk_no: u64 = 0;
        let mut prev_plain: u128 = 0;
        while start < slots.len() {
            let mut end = start;
            let mut n: u128 = 1;
            while end < slots.len() && n * radix(chars[slots[end]]) <= limit {
                n *= radix(chars[slots[end]]);
                end += 1;
            }
            let chunk = &slots[start..end];
            let x = chunk
                .iter()
                .fold(0u128, |acc, &i| acc * radix(chars[i]) + digit_of(chars[i]));
            // Tweaking a chunk by the plaintext of the one before keeps the
            // whole map invertible (decrypt left to right) while making long
            // values' chunks depend on each other.
            let tweak =
                chunk_no ^ ((prev_plain as u64) << 8) ^ ((prev_plain >> 64) as u64).rotate_left(31);
            let mut y = self.fpe.permute_range(x, n, tweak, None);
            for &i in chunk.iter().rev() {
                let r = radix(chars[i]);
                chars[i] = char_of(chars[i], (y % r) as u8);
                y /= r;
            }
            prev_plain = x;
            chunk_no += 1;
            start = end;
        }
        chars.into_iter().collect()
    }

    fn ssn(&self, v: &str) -> String {
        let slots: Vec<usize> = v
            .char_indices()
            .filter(|(_, c)| c.is_ascii_digit())
            .map(|(i, _)| i)
            .collect();
        if slots.len() != 9 {
            return self.shape(v, false);
        }
        let b = v.as_bytes();
        let x = slots
            .iter()
            .fold(0u128, |a, &i| a * 10 + u128::from(b[i] - b'0'));
        // Valid SSNs map to valid SSNs (and invalid to invalid: injective).
        let valid = |s: u128| {
            let area = s / 1_000_000;
            let group = (s / 10_000) % 100;
            let serial = s % 10_000;
            (1..900).contains(&area) && area != 666 && group != 0 && serial != 0
        };
        let mut y = self.fpe.permute_range(x, 1_000_000_000, 0, Some(&valid));
        let mut out = b.to_vec();
        for &i in slots.iter().rev() {
            out[i] = b'0' + (y % 10) as u8;
            y /= 10;
        }
        String::from_utf8(out).expect("only ASCII digits replaced")
    }

    fn credit_card(&self, v: &str) -> Result<String, MaskError> {
        let digits: String = v.chars().filter(char::is_ascii_digit).collect();
        let len = digits.len();
        if !(12..=19).contains(&len) {
            return Err(self.input_err("a card number has 12 to 19 digits"));
        }
        // Depends on the digits only, so "4111 1111 …" and "41111111…" agree.
        let d = self.prf(digits.as_bytes());
        let prefixes: &[&str] = match digits.as_bytes()[0] {
            b'3' => &["34", "37"],
            b'2' | b'5' => &["51", "52", "53", "54", "55"],
            b'6' => &["6011", "65"],
            _ => &["4"],
        };
        let mut out: Vec<u8> = pick(prefixes, word(&d, 3)).bytes().collect();
        // 128 PRF bits give 38 decimal digits: enough for the longest body.
        let mut r = u128::from_le_bytes(d[..16].try_into().expect("16 bytes"));
        while out.len() < len - 1 {
            out.push(b'0' + (r % 10) as u8);
            r /= 10;
        }
        out.push(luhn_check_digit(&out));
        let mut it = out.into_iter();
        Ok(v.chars()
            .map(|c| {
                if c.is_ascii_digit() {
                    char::from(it.next().expect("same digit count"))
                } else {
                    c
                }
            })
            .collect())
    }

    fn uuid(&self, v: &str) -> Result<String, MaskError> {
        let bad = || self.input_err("not a UUID (32 hex digits, optionally 8-4-4-4-12 and braced)");
        let (inner, braced) = match v.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(s) => (s, true),
            None => (v, false),
        };
        let hyphens = inner.len() == 36;
        let ib = inner.as_bytes();
        if hyphens {
            if [8, 13, 18, 23].iter().any(|&i| ib[i] != b'-') {
                return Err(bad());
            }
        } else if inner.len() != 32 {
            return Err(bad());
        }
        let mut x: u128 = 0;
        let mut upper = false;
        for (i, &c) in ib.iter().enumerate() {
            if hyphens && [8, 13, 18, 23].contains(&i) {
                continue;
            }
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => {
                    upper = true;
                    c - b'A' + 10
                }
                _ => return Err(bad()),
            };
            x = (x << 4) | u128::from(d);
        }
        const LO62: u128 = (1 << 62) - 1;
        let free = if (x >> 62) & 0b11 == 0b10 {
            // RFC 4122 variant: 122 free bits around the version nibble and
            // variant bits; a keyed permutation of them is a bijection onto
            // the v4 UUIDs (tweaked by the input version).
            let hi = x >> 80;
            let mid = (x >> 64) & 0xfff;
            let free = (hi << 74) | (mid << 62) | (x & LO62);
            let version = ((x >> 76) & 0xf) as u64;
            self.fpe.permute_bits(free, 122, version)
        } else {
            // Other variants (nil, NCS, Microsoft): no 122-bit bijection
            // exists from 126+ bits; fall back to 122 HMAC bits.
            let d = self.prf(&x.to_be_bytes());
            u128::from_be_bytes(d[..16].try_into().expect("16 bytes")) >> 6
        };
        let hi = free >> 74;
        let mid = (free >> 62) & 0xfff;
        let y = (hi << 80) | (4 << 76) | (mid << 64) | (0b10 << 62) | (free & LO62);
        let mut s = String::with_capacity(38);
        if braced {
            s.push('{');
        }
        let digits = if upper {
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        for i in 0..32 {
            if hyphens && [8, 12, 16, 20].contains(&i) {
                s.push('-');
            }
            s.push(char::from(digits[((y >> (124 - 4 * i)) & 0xf) as usize]));
        }
        if braced {
            s.push('}');
        }
        Ok(s)
    }

    fn date_shift(&self, v: &str, days: u32) -> Result<String, MaskError> {
        let b = v.as_bytes();
        let bad = || self.input_err("expected YYYY-MM-DD, optionally followed by a time");
        if b.len() < 10
            || b[4] != b'-'
            || b[7] != b'-'
            || (b.len() > 10 && b[10] != b' ' && b[10] != b'T')
        {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| -> Result<i64, MaskError> {
            let s = &v[r];
            if s.bytes().all(|c| c.is_ascii_digit()) {
                Ok(s.parse().expect("digits"))
            } else {
                Err(bad())
            }
        };
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if (y, m, d) == (0, 0, 0) {
            // MariaDB's zero date carries nothing to hide.
            return Ok(v.to_string());
        }
        if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
            return Err(self.input_err("not a valid calendar date"));
        }
        let h = self.prf(v.as_bytes());
        let days = i64::from(days);
        let r = (word(&h, 0) % (2 * days as u64)) as i64;
        // [-days, -1] ∪ [1, days]: never 0, so every date moves.
        let offset = if r < days { r - days } else { r - days + 1 };
        let (ny, nm, nd) = civil_from_days(days_from_civil(y, m, d) + offset);
        if !(1..=9999).contains(&ny) {
            return Err(self.input_err("shifted date leaves years 1..9999"));
        }
        Ok(format!("{ny:04}-{nm:02}-{nd:02}{}", &v[10..]))
    }

    fn numeric_noise(&self, v: &str, percent_micro: u64) -> Result<String, MaskError> {
        let bad =
            || self.input_err("expected a decimal number like -12 or 3.50 (at most 29 digits)");
        let (sign, rest) = match v.as_bytes()[0] {
            b'-' => ("-", &v[1..]),
            b'+' => ("+", &v[1..]),
            _ => ("", v),
        };
        let (int, frac) = match rest.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (rest, None),
        };
        let frac_s = frac.unwrap_or("");
        let ndigits = int.len() + frac_s.len();
        if ndigits == 0
            || ndigits > 29
            || !int
                .bytes()
                .chain(frac_s.bytes())
                .all(|c| c.is_ascii_digit())
        {
            return Err(bad());
        }
        let mut x: i128 = int
            .bytes()
            .chain(frac_s.bytes())
            .fold(0, |a, c| a * 10 + i128::from(c - b'0'));
        if sign == "-" {
            x = -x;
        }
        let p = i128::from(percent_micro);
        let r = u128::from(word(&self.prf(v.as_bytes()), 0)) % (2 * p as u128 + 1);
        let m = r as i128 - p;
        // m / 1e8 is a fraction of at most ±percent/100; truncation toward
        // zero keeps |change| <= |x| * percent / 100, so the sign never flips.
        let y = x + x * m / 100_000_000;
        let mut digits = y.unsigned_abs().to_string();
        let scale = frac_s.len();
        if digits.len() <= scale {
            digits = format!("{}{digits}", "0".repeat(scale + 1 - digits.len()));
        }
        let (ip, fp) = digits.split_at(digits.len() - scale);
        let out_sign = if y < 0 {
            "-"
        } else if sign == "+" {
            "+"
        } else {
            ""
        };
        Ok(match frac {
            Some(_) => format!("{out_sign}{ip}.{fp}"),
            None => format!("{out_sign}{ip}"),
        })
    }
}

fn word(d: &[u8; 32], i: usize) -> u64 {
    u64::from_le_bytes(d[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
}

fn pick<'a>(list: &[&'a str], r: u64) -> &'a str {
    // 64 random bits modulo a list of a few hundred: bias below 2^-55.
    list[(r % list.len() as u64) as usize]
}

fn radix(c: char) -> u128 {
    if c.is_ascii_digit() {
        10
    } else {
        26
    }
}

fn digit_of(c: char) -> u128 {
    match c {
        '0'..='9' => u128::from(c as u8 - b'0'),
        'a'..='z' => u128::from(c as u8 - b'a'),
        _ => u128::from(c as u8 - b'A'),
    }
}

fn char_of(template: char, d: u8) -> char {
    char::from(match template {
        '0'..='9' => b'0' + d,
        'a'..='z' => b'a' + d,
        _ => b'A' + d,
    })
}

/// RFC 4648 base32, lowercase, no padding (`bytes.len()` a multiple of 5).
fn base32(bytes: &[u8]) -> String {
    const ALPHA: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut s = String::with_capacity(bytes.len() * 8 / 5);
    for group in bytes.chunks(5) {
        let mut v: u64 = 0;
        for &b in group {
            v = (v << 8) | u64::from(b);
        }
        for i in (0..8).rev() {
            s.push(char::from(ALPHA[((v >> (5 * i)) & 31) as usize]));
        }
    }
    s
}

/// The digit that makes `body ‖ digit` pass the Luhn check.
pub(crate) fn luhn_check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &c)| {
            let d = u32::from(c - b'0');
            if i % 2 == 0 {
                let dd = d * 2;
                if dd > 9 {
                    dd - 9
                } else {
                    dd
                }
            } else {
                d
            }
        })
        .sum();
    b'0' + ((10 - sum % 10) % 10) as u8
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in -800_000..800_000i64 {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(
            civil_from_days(days_from_civil(2024, 2, 29) + 1),
            (2024, 3, 1)
        );
    }

    #[test]
    fn luhn_known() {
        // 4111 1111 1111 1111 is the classic Visa test number.
        assert_eq!(luhn_check_digit(b"411111111111111"), b'1');
        assert_eq!(luhn_check_digit(b"7992739871"), b'3');
    }

    #[test]
    fn base32_known() {
        assert_eq!(base32(b"fooba"), "mzxw6ytb");
    }
}
