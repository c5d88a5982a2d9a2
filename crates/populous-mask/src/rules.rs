//! Masking rules: parsing the YAML, validating it with precise error paths,
//! and the canonical rule-set hash recorded as provenance.
//!
//! The YAML is walked by hand (from a generic `Value`) rather than through
//! `#[derive(Deserialize)]`: that is what lets every error name its dotted
//! path (`tables.main.columns.email: unknown transform "emial"; valid: …`)
//! and list the valid choices, which serde's derive messages do not.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_norway::{Mapping, Value};
use sha2::{Digest, Sha256};

use populous_sql::quote_ident;

use crate::key::hex;
use crate::MaskError;

/// The only schema version understood.
pub const RULES_VERSION: u64 = 1;

/// Transformer names, in the order they are listed in error messages.
pub const TRANSFORM_NAMES: &[&str] = &[
    "email",
    "person_name",
    "street",
    "zip",
    "city",
    "phone",
    "ssn",
    "credit_card",
    "uuid",
    "guid",
    "keyed_hash",
    "redact",
    "null",
    "keep_first_n",
    "fixed",
    "date_shift",
    "numeric_noise",
];

/// One transformer with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transform {
    /// `first.last<n>@example.com`; with `unique`, `first.last.<tag>@example.com`.
    Email,
    /// `First Last` from built-in lists.
    PersonName,
    /// `<number> <Name> <Suffix>` from built-in lists.
    Street,
    /// Same shape as the input: digits → digits, letters → letters, the rest kept.
    Zip,
    /// A city from a built-in list.
    City,
    /// Same format as the input; digits permuted by a keyed bijection.
    Phone,
    /// Nine digits stay a plausible SSN (area ≠ 000/666/9xx, group ≠ 00, serial ≠ 0000).
    Ssn,
    /// Luhn-valid, same digit count and separators, brand-realistic prefix.
    CreditCard,
    /// RFC 4122 v4-shaped UUID via a keyed bijection (`guid` is an alias).
    Uuid,
    /// Hex HMAC of the value, optionally cut to `length` hex digits.
    KeyedHash {
        /// Number of hex digits kept (1..=64); `None` keeps all 64.
        length: Option<usize>,
    },
    /// Every character replaced by `ch`; the length (in characters) is kept.
    Redact {
        /// Replacement character.
        ch: char,
    },
    /// Always SQL NULL.
    Null,
    /// First `n` characters kept, the rest replaced by `ch`.
    KeepFirstN {
        /// Characters kept.
        n: usize,
        /// Replacement character.
        ch: char,
    },
    /// A constant (also for NULL inputs).
    Fixed {
        /// The constant.
        value: String,
    },
    /// `YYYY-MM-DD` or DATETIME shifted by a keyed offset in ±`days` (never 0).
    DateShift {
        /// Maximum shift in days.
        days: u32,
    },
    /// The number moved by at most ±`percent`, keeping sign and decimal places.
    NumericNoise {
        /// The percentage in millionths of a percent (exact, for hashing).
        percent_micro: u64,
    },
}

impl Transform {
    /// The canonical name (`guid` is reported as `uuid`).
    pub fn name(&self) -> &'static str {
        match self {
            Transform::Email => "email",
            Transform::PersonName => "person_name",
            Transform::Street => "street",
            Transform::Zip => "zip",
            Transform::City => "city",
            Transform::Phone => "phone",
            Transform::Ssn => "ssn",
            Transform::CreditCard => "credit_card",
            Transform::Uuid => "uuid",
            Transform::KeyedHash { .. } => "keyed_hash",
            Transform::Redact { .. } => "redact",
            Transform::Null => "null",
            Transform::KeepFirstN { .. } => "keep_first_n",
            Transform::Fixed { .. } => "fixed",
            Transform::DateShift { .. } => "date_shift",
            Transform::NumericNoise { .. } => "numeric_noise",
        }
    }

    /// Whether a search of the files for this column's originals proves
    /// anything: true where masked values live in another space than the
    /// originals (emails and uuids by a keyed bijection, cards, phones,
    /// hashes, redaction, constants). Names, streets, cities, zips, SSNs,
    /// dates and numbers are realistic fakes drawn from the originals' own
    /// space, so a file that holds such a value may hold a masked one.
    pub fn scannable(&self) -> bool {
        matches!(
            self,
            Transform::Email
                | Transform::Uuid
                | Transform::CreditCard
                | Transform::Phone
                | Transform::KeyedHash { .. }
                | Transform::Redact { .. }
                | Transform::Null
                | Transform::KeepFirstN { .. }
                | Transform::Fixed { .. }
        )
    }

    /// Whether the MariaDB layer can run this transformer server-side
    /// (see [`RuleSet::sql_expression`]). Keyed transformers never are: the
    /// key would have to travel in the SQL text and land in query logs.
    pub fn sql_able(&self) -> bool {
        matches!(
            self,
            Transform::Redact { .. }
                | Transform::Null
                | Transform::KeepFirstN { .. }
                | Transform::Fixed { .. }
        )
    }

    /// Canonical parameter text for the rule-set hash.
    fn canonical_params(&self) -> String {
        match self {
            Transform::KeyedHash { length } => match length {
                Some(l) => format!("length={l}"),
                None => "length=-".to_string(),
            },
            Transform::Redact { ch } => format!("char={}", lp(&ch.to_string())),
            Transform::KeepFirstN { n, ch } => format!("n={n} char={}", lp(&ch.to_string())),
            Transform::Fixed { value } => format!("value={}", lp(value)),
            Transform::DateShift { days } => format!("days={days}"),
            Transform::NumericNoise { percent_micro } => format!("percent_micro={percent_micro}"),
            _ => String::new(),
        }
    }
}

/// The rule for one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRule {
    name: String,
    transform: Transform,
    unique: bool,
    domain: String,
}

impl ColumnRule {
    /// Column name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Its transformer.
    pub fn transform(&self) -> &Transform {
        &self.transform
    }
    /// Whether the mapping must be injective (distinct inputs → distinct outputs).
    pub fn unique(&self) -> bool {
        self.unique
    }
    /// The HMAC domain: equal domains give equal outputs for equal inputs,
    /// across tables. Defaults to the transformer name so joins survive.
    pub fn domain(&self) -> &str {
        &self.domain
    }
}

/// The rules for one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRules {
    name: String,
    primary_key: Vec<String>,
    columns: Vec<ColumnRule>,
}

impl TableRules {
    /// Table name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Primary-key columns (for range-splitting the in-place UPDATEs).
    pub fn primary_key(&self) -> &[String] {
        &self.primary_key
    }
    /// Masked columns, sorted by name.
    pub fn columns(&self) -> &[ColumnRule] {
        &self.columns
    }
    /// The rule for `column`, if any.
    pub fn column(&self, column: &str) -> Option<&ColumnRule> {
        self.columns.iter().find(|c| c.name == column)
    }
}

/// A validated rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    version: u64,
    key_id: Option<String>,
    tables: Vec<TableRules>,
    hash: String,
}

impl RuleSet {
    /// Parses and validates rules.
    pub fn from_yaml(text: &str) -> Result<RuleSet, MaskError> {
        let doc: Value =
            serde_norway::from_str(text).map_err(|e| MaskError::Yaml(e.to_string()))?;
        parse_doc(&doc)
    }

    /// `sha256:<hex>` of a canonical serialization of the rules: independent
    /// of key order, whitespace, comments, YAML spelling (`guid` vs `uuid`,
    /// defaults written out or not). The `key_id` label is *not* included:
    /// provenance records the key id separately, so the same rules under a
    /// rotated key keep the same hash.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The rules' schema version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The `key_id` label from the YAML (which key these rules expect), if any.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// Tables, sorted by name.
    pub fn tables(&self) -> &[TableRules] {
        &self.tables
    }

    /// The rules for `table`, if any.
    pub fn table(&self, table: &str) -> Option<&TableRules> {
        self.tables.iter().find(|t| t.name == table)
    }

    /// A MariaDB expression computing the masked value server-side, for the
    /// transformers that need no key (redact, null, fixed, keep_first_n);
    /// `None` for the others and for unknown columns. NULL stays NULL
    /// exactly as in [`crate::Masker::mask`] (fixed/null excepted). String
    /// constants are written as `CONVERT(X'…' USING utf8mb4)` so the result
    /// does not depend on `sql_mode` (NO_BACKSLASH_ESCAPES) and cannot inject.
    pub fn sql_expression(&self, table: &str, column: &str) -> Option<String> {
        let rule = self.table(table)?.column(column)?;
        let col = quote_ident(column);
        match &rule.transform {
            Transform::Null => Some("NULL".to_string()),
            Transform::Fixed { value } => Some(sql_string(value)),
            Transform::Redact { ch } => Some(format!(
                "REPEAT({}, CHAR_LENGTH({col}))",
                sql_string(&ch.to_string())
            )),
            Transform::KeepFirstN { n, ch } => Some(format!(
                "CONCAT(LEFT({col}, {n}), REPEAT({}, GREATEST(CHAR_LENGTH({col}) - {n}, 0)))",
                sql_string(&ch.to_string())
            )),
            _ => None,
        }
    }

    fn canonical(&self) -> String {
        let mut s = format!("populous-mask-rules\nversion {}\n", self.version);
        for t in &self.tables {
            let pk: Vec<String> = t.primary_key.iter().map(|c| lp(c)).collect();
            let _ = writeln!(s, "table {} pk {}", lp(&t.name), pk.join(","));
            for c in &t.columns {
                let _ = writeln!(
                    s,
                    "column {} {} transform {} unique {} domain {} {}",
                    lp(&t.name),
                    lp(&c.name),
                    c.transform.name(),
                    u8::from(c.unique),
                    lp(&c.domain),
                    c.transform.canonical_params()
                );
            }
        }
        s
    }
}

/// Length-prefixed string, so no name can forge the canonical text's structure.
fn lp(s: &str) -> String {
    format!("{}:{s}", s.len())
}

fn sql_string(s: &str) -> String {
    format!("CONVERT(X'{}' USING utf8mb4)", hex(s.as_bytes()))
}

fn err(path: &str, message: impl Into<String>) -> MaskError {
    MaskError::Rule {
        path: path.to_string(),
        message: message.into(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The mapping's entries with string keys, rejecting keys not in `allowed`.
fn entries<'a>(
    map: &'a Mapping,
    path: &str,
    allowed: Option<&[&str]>,
) -> Result<BTreeMap<&'a str, &'a Value>, MaskError> {
    let mut out = BTreeMap::new();
    for (k, v) in map {
        let Some(k) = k.as_str() else {
            return Err(err(path, "keys must be strings"));
        };
        if let Some(allowed) = allowed {
            if !allowed.contains(&k) {
                return Err(err(
                    &join(path, k),
                    format!("unknown key \"{k}\"; valid: {}", allowed.join(", ")),
                ));
            }
        }
        out.insert(k, v);
    }
    Ok(out)
}

fn as_mapping<'a>(v: &'a Value, path: &str) -> Result<&'a Mapping, MaskError> {
    v.as_mapping()
        .ok_or_else(|| err(path, format!("expected a mapping, found {}", kind(v))))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn parse_doc(doc: &Value) -> Result<RuleSet, MaskError> {
    let top = entries(
        as_mapping(doc, "(top level)")?,
        "",
        Some(&["version", "key_id", "tables"]),
    )?;
    let version = match top.get("version") {
        None => return Err(err("version", "missing; write `version: 1`")),
        Some(v) => v.as_u64().filter(|&n| n == RULES_VERSION).ok_or_else(|| {
            err(
                "version",
                format!("unsupported version; only {RULES_VERSION} is known"),
            )
        })?,
    };
    let key_id = match top.get("key_id") {
        None => None,
        Some(v) => Some(
            v.as_str()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    err(
                        "key_id",
                        "expected a non-empty string (the key's id, never the key)",
                    )
                })?
                .to_string(),
        ),
    };
    let tables_v = top.get("tables").ok_or_else(|| err("tables", "missing"))?;
    let tables_map = entries(as_mapping(tables_v, "tables")?, "tables", None)?;
    if tables_map.is_empty() {
        // An empty rule set would let an unmasked clone pass as "masked".
        return Err(err("tables", "must list at least one table"));
    }
    let mut tables = Vec::new();
    for (tname, tv) in tables_map {
        let tpath = join("tables", tname);
        tables.push(parse_table(tname, tv, &tpath)?);
    }
    let mut rules = RuleSet {
        version,
        key_id,
        tables,
        hash: String::new(),
    };
    let digest = Sha256::digest(rules.canonical().as_bytes());
    rules.hash = format!("sha256:{}", hex(&digest));
    Ok(rules)
}

fn parse_table(name: &str, v: &Value, path: &str) -> Result<TableRules, MaskError> {
    let m = entries(
        as_mapping(v, path)?,
        path,
        Some(&["primary_key", "columns"]),
    )?;
    let pk_path = join(path, "primary_key");
    let primary_key = match m.get("primary_key") {
        None => {
            return Err(err(
                &pk_path,
                "missing (the masking runs by primary-key ranges)",
            ))
        }
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        Some(Value::Sequence(seq)) if !seq.is_empty() => seq
            .iter()
            .map(|c| {
                c.as_str()
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| err(&pk_path, "expected column names"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(err(
                &pk_path,
                "expected a column name or a list of column names",
            ))
        }
    };
    let cpath = join(path, "columns");
    let cols_v = m.get("columns").ok_or_else(|| err(&cpath, "missing"))?;
    let cols = entries(as_mapping(cols_v, &cpath)?, &cpath, None)?;
    if cols.is_empty() {
        return Err(err(&cpath, "must list at least one column"));
    }
    let mut columns = Vec::new();
    for (cname, cv) in cols {
        let colpath = join(&cpath, cname);
        if primary_key.iter().any(|p| p == cname) {
            // Masking the key we page by would move rows between ranges mid-run.
            return Err(err(&colpath, "a primary-key column cannot be masked"));
        }
        columns.push(parse_column(cname, cv, &colpath)?);
    }
    Ok(TableRules {
        name: name.to_string(),
        primary_key,
        columns,
    })
}

/// Keys every column rule may carry, whatever its transformer.
const COMMON_KEYS: &[&str] = &["transform", "unique", "domain"];

fn params_of(name: &str) -> &'static [&'static str] {
    match name {
        "keyed_hash" => &["length"],
        "redact" => &["char"],
        "keep_first_n" => &["n", "char"],
        "fixed" => &["value"],
        "date_shift" => &["days"],
        "numeric_noise" => &["percent"],
        _ => &[],
    }
}

fn parse_column(name: &str, v: &Value, path: &str) -> Result<ColumnRule, MaskError> {
    // Shorthand: `email: email`.
    let owned;
    let map = match v {
        Value::String(s) => {
            let mut m = Mapping::new();
            m.insert(Value::String("transform".into()), Value::String(s.clone()));
            owned = m;
            &owned
        }
        _ => as_mapping(v, path)?,
    };
    let all = entries(map, path, None)?;
    let tname = match all.get("transform") {
        None => return Err(err(path, "missing \"transform\"")),
        Some(t) => t.as_str().ok_or_else(|| {
            err(
                &join(path, "transform"),
                format!("expected a string, found {}", kind(t)),
            )
        })?,
    };
    if !TRANSFORM_NAMES.contains(&tname) {
        return Err(err(
            path,
            format!(
                "unknown transform \"{tname}\"; valid: {}",
                TRANSFORM_NAMES.join(", ")
            ),
        ));
    }
    let params = params_of(tname);
    let allowed: Vec<&str> = COMMON_KEYS.iter().chain(params).copied().collect();
    let m = entries(map, path, Some(&allowed))?;

    let get_uint = |key: &str, min: u64, max: u64| -> Result<Option<u64>, MaskError> {
        match m.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|n| (min..=max).contains(n))
                .map(Some)
                .ok_or_else(|| {
                    err(
                        &join(path, key),
                        format!("expected an integer in {min}..={max}"),
                    )
                }),
        }
    };
    let need = |key: &str| err(path, format!("transform {tname} needs \"{key}\""));
    let get_char = || -> Result<char, MaskError> {
        match m.get("char") {
            None => Ok('*'),
            Some(v) => {
                let s = v.as_str().unwrap_or("");
                let mut it = s.chars();
                match (it.next(), it.next()) {
                    (Some(c), None) => Ok(c),
                    _ => Err(err(&join(path, "char"), "expected exactly one character")),
                }
            }
        }
    };

    let transform = match tname {
        "email" => Transform::Email,
        "person_name" => Transform::PersonName,
        "street" => Transform::Street,
        "zip" => Transform::Zip,
        "city" => Transform::City,
        "phone" => Transform::Phone,
        "ssn" => Transform::Ssn,
        "credit_card" => Transform::CreditCard,
        "uuid" | "guid" => Transform::Uuid,
        "keyed_hash" => Transform::KeyedHash {
            length: get_uint("length", 1, 64)?.map(|l| l as usize),
        },
        "redact" => Transform::Redact { ch: get_char()? },
        "null" => Transform::Null,
        "keep_first_n" => Transform::KeepFirstN {
            n: get_uint("n", 0, 1 << 20)?.ok_or_else(|| need("n"))? as usize,
            ch: get_char()?,
        },
        "fixed" => {
            let v = m.get("value").ok_or_else(|| need("value"))?;
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(err(
                        &join(path, "value"),
                        "expected a string, number or boolean (use transform null for NULL)",
                    ))
                }
            };
            Transform::Fixed { value }
        }
        "date_shift" => Transform::DateShift {
            days: get_uint("days", 1, 36_500)?.ok_or_else(|| need("days"))? as u32,
        },
        "numeric_noise" => {
            let v = m.get("percent").ok_or_else(|| need("percent"))?;
            let p = v
                .as_f64()
                .filter(|p| p.is_finite() && *p > 0.0 && *p <= 100.0)
                .ok_or_else(|| err(&join(path, "percent"), "expected a number in (0, 100]"))?;
            let percent_micro = (p * 1e6).round() as u64;
            if percent_micro == 0 {
                return Err(err(
                    &join(path, "percent"),
                    "too small (resolution is 1e-6 %)",
                ));
            }
            Transform::NumericNoise { percent_micro }
        }
        _ => unreachable!("checked against TRANSFORM_NAMES"),
    };

    let unique = match m.get("unique") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(err(&join(path, "unique"), "expected true or false")),
    };
    if unique {
        check_unique(&transform, &join(path, "unique"))?;
    }
    let domain = match m.get("domain") {
        None => transform.name().to_string(),
        Some(v) => v
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| err(&join(path, "domain"), "expected a non-empty string"))?
            .to_string(),
    };
    Ok(ColumnRule {
        name: name.to_string(),
        transform,
        unique,
        domain,
    })
}

/// `unique: true` is accepted only where the construction guarantees it
/// (see the crate docs, "Uniqueness").
fn check_unique(t: &Transform, path: &str) -> Result<(), MaskError> {
    match t {
        Transform::Email | Transform::Uuid | Transform::Zip | Transform::Phone | Transform::Ssn => {
            Ok(())
        }
        Transform::KeyedHash { length: Some(l) } if *l < 32 => Err(err(
            path,
            "keyed_hash with unique: true needs length >= 32 (128 bits); shorter hashes collide",
        )),
        Transform::KeyedHash { .. } => Ok(()),
        other => Err(err(
            path,
            format!(
                "transform {} cannot guarantee distinct outputs; unique is supported for \
                 email, uuid, zip, phone, ssn, keyed_hash",
                other.name()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The canonical text is what provenance hashes: pin it, so a change is
    /// a deliberate, visible one.
    #[test]
    fn canonical_text_is_pinned() {
        let r = RuleSet::from_yaml(
            "version: 1\ntables: {t: {primary_key: [id], columns: {c: {transform: keep_first_n, n: 3}, a: email}}}",
        )
        .unwrap();
        assert_eq!(
            r.canonical(),
            "populous-mask-rules\nversion 1\ntable 1:t pk 2:id\n\
             column 1:t 1:a transform email unique 0 domain 5:email \n\
             column 1:t 1:c transform keep_first_n unique 0 domain 12:keep_first_n n=3 char=1:*\n"
        );
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let e = RuleSet::from_yaml("version: 1\nversion: 1\ntables: {}").unwrap_err();
        assert!(e.to_string().contains("duplicate"), "{e}");
    }
}
