//! Populous masking: deterministic, keyed, uniqueness-preserving masking of
//! personal data in database clones (DESIGN §6). The rules, keys and
//! transformers are pure (no I/O); [`db`] applies them in place to a MariaDB
//! database (a clone), chunk by chunk and resumably, and verifies a masked
//! clone against its source.
//!
//! # Rules
//!
//! ```yaml
//! version: 1
//! key_id: prod-2026-11          # a label; the key itself comes from a file or env
//! tables:
//!   main:
//!     primary_key: id            # or [a, b]
//!     columns:
//!       email:  { transform: email, unique: true }
//!       name:   { transform: person_name }
//!       pid:    { transform: numeric_noise, percent: 5 }
//!       city:   city             # shorthand for { transform: city }
//! ```
//!
//! Every column accepts `transform`, `unique` (default false) and `domain`
//! (default: the transformer name — equal domains mask equal values equally
//! across tables, so joins survive; give a column its own domain to
//! decorrelate it). Parameters: `keyed_hash.length` (1..=64 hex digits),
//! `redact.char`, `keep_first_n.n` + `.char` (default `*`), `fixed.value`,
//! `date_shift.days`, `numeric_noise.percent` (0 < p <= 100). Unknown keys,
//! unknown transformers and missing parameters are errors naming the dotted
//! path. YAML is read with `serde_norway`, the maintained fork of
//! `serde_yaml` (which is archived and unmaintained), same API.
//!
//! # Determinism
//!
//! Outputs are HMAC-SHA256(key, usage ‖ len(domain) ‖ domain ‖ value) (or a
//! keyed permutation whose key is derived the same way), so they depend only
//! on key, domain and value. Realistic values come from the frozen word lists
//! of `populous-words`, so that no dependency update can change them.
//!
//! # Uniqueness
//!
//! `unique: true` is accepted only for transformers that guarantee distinct
//! outputs for distinct inputs:
//!
//! * **uuid**: the 122 free bits of an RFC 4122 UUID go through a keyed
//!   10-round Feistel permutation and come out as a v4 UUID. A permutation
//!   is injective by construction — no probability involved — among inputs
//!   of the same version. (Mapping *all* 128-bit strings into the 2^122 v4
//!   UUIDs cannot be injective; inputs of different versions or non-RFC
//!   variants are separated only by the PRF: ~n²/2^123, i.e. ~1e-19 at 1e9.)
//! * **zip, phone, ssn**: shape-preserving keyed permutations (Feistel with
//!   cycle walking) of the digits (and, for zip, letters); the rest of the
//!   string is kept, so these are injective by construction for every input
//!   — and always, not only with `unique: true`. SSNs that are valid stay
//!   valid.
//! * **email**: the local part carries a 120-bit HMAC tag in base32
//!   (`first.last.<24 chars>@example.com`). Arbitrary-length strings cannot
//!   be mapped injectively into fixed-length outputs, so this relies on the
//!   PRF: by the birthday bound, P(any collision among n values) <=
//!   n²/2^121, which is **3.8e-19 at n = 1e9** (the names add ~15 more
//!   bits). A collision would also be caught by the column's UNIQUE index.
//! * **keyed_hash**: 256 bits (or `length >= 32` hex = 128 bits: <= 1.5e-21
//!   at 1e9).
//!
//! Non-unique emails look like `first.last<n>@example.{com,org,net}`.
//!
//! # Server-side transformers
//!
//! `redact`, `null`, `fixed` and `keep_first_n` need no key and have a SQL
//! form ([`RuleSet::sql_expression`], [`Transform::sql_able`]); keyed ones
//! never run in SQL, because the key would travel in query text and logs.

pub mod db;
mod error;
mod fpe;
mod key;
mod masker;
mod rules;
pub mod scan;

pub use error::MaskError;
pub use key::{MaskKey, MIN_KEY_BYTES};
pub use masker::{ColumnMasker, Masker, EMAIL_TAG_BITS};
pub use rules::{ColumnRule, RuleSet, TableRules, Transform, RULES_VERSION, TRANSFORM_NAMES};
