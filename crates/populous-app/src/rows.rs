//! Deterministic rows: row `i` of seed `s` is always the same, whichever
//! thread makes it and in whatever order.
//!
//! Each row draws from its own ChaCha8 stream: the key comes from the seed,
//! the stream number is the row index. ChaCha8's output is fixed by its
//! specification, and the few helpers below use only `next_u32`/`next_u64`/
//! `fill_bytes`, so the data does not change with `rand` versions.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use populous_words::seed::{
    CITIES, DOMAINS, FIRST_NAMES, LAST_NAMES, STREET_NAMES, STREET_SUFFIXES,
};

use crate::schema::FIRST_ID;

/// Default size of the `imprint` blob: 64 KiB, as in the seed.
pub const DEFAULT_BLOB_SIZE: usize = 64 * 1024;

/// Highest row index whose id still fits `int unsigned`.
pub const MAX_INDEX: u64 = u32::MAX as u64 - FIRST_ID;

/// One row of `main`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// `id` (= `FIRST_ID + index` for generated rows).
    pub id: u32,
    /// `guid`: a version-4 UUID.
    pub guid: String,
    /// `pid`.
    pub pid: i64,
    /// `street`.
    pub street: String,
    /// `zip`.
    pub zip: String,
    /// `city`.
    pub city: String,
    /// `email`.
    pub email: String,
    /// `name`.
    pub name: String,
    /// `imprint`: random bytes.
    pub imprint: Vec<u8>,
}

impl Row {
    /// Bytes of column data in this row (what MB/s counts).
    pub fn payload_len(&self) -> usize {
        4 + self.guid.len()
            + 8
            + self.street.len()
            + self.zip.len()
            + self.city.len()
            + self.email.len()
            + self.name.len()
            + self.imprint.len()
    }
}

/// Makes rows from a seed.
#[derive(Debug, Clone)]
pub struct RowGenerator {
    base: ChaCha8Rng,
    blob_size: usize,
}

fn pick<'a>(rng: &mut ChaCha8Rng, list: &[&'a str]) -> &'a str {
    list[(rng.next_u32() as usize) % list.len()]
}

fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    rng.next_u64() % n
}

impl RowGenerator {
    /// A generator for `seed`, with `imprint` blobs of `blob_size` bytes.
    pub fn new(seed: u64, blob_size: usize) -> Self {
        RowGenerator {
            base: ChaCha8Rng::seed_from_u64(seed),
            blob_size,
        }
    }

    /// Blob size in bytes.
    pub fn blob_size(&self) -> usize {
        self.blob_size
    }

    /// Row `index`, with id `FIRST_ID + index`. `index` must be at most [`MAX_INDEX`].
    pub fn row(&self, index: u64) -> Row {
        let mut rng = self.base.clone();
        rng.set_stream(index);
        let mut g = [0u8; 16];
        rng.fill_bytes(&mut g);
        let guid = uuid::Builder::from_random_bytes(g)
            .into_uuid()
            .hyphenated()
            .to_string();
        let first = pick(&mut rng, FIRST_NAMES);
        let last = pick(&mut rng, LAST_NAMES);
        let street = format!(
            "{} {} {}",
            1 + below(&mut rng, 9999),
            pick(&mut rng, STREET_NAMES),
            pick(&mut rng, STREET_SUFFIXES)
        );
        let zip = format!("{:05}", 501 + below(&mut rng, 99_450));
        let city = pick(&mut rng, CITIES).to_string();
        let email = format!(
            "{}.{}{}@{}",
            first.to_ascii_lowercase(),
            last.to_ascii_lowercase(),
            below(&mut rng, 10_000),
            pick(&mut rng, DOMAINS)
        );
        let pid = 1 + below(&mut rng, 1_000_000_000_000) as i64;
        let mut imprint = vec![0u8; self.blob_size];
        rng.fill_bytes(&mut imprint);
        Row {
            id: (FIRST_ID + index) as u32,
            guid,
            pid,
            street,
            zip,
            city,
            email,
            name: format!("{first} {last}"),
            imprint,
        }
    }

    /// Appends rows `range` to `out` in `LOAD DATA` text form (tab-separated,
    /// backslash-escaped, newline-terminated); returns their payload bytes.
    pub fn write_tsv(&self, range: std::ops::Range<u64>, out: &mut Vec<u8>) -> u64 {
        let mut payload = 0u64;
        for index in range {
            let r = self.row(index);
            payload += r.payload_len() as u64;
            out.extend_from_slice(r.id.to_string().as_bytes());
            out.push(b'\t');
            out.extend_from_slice(r.guid.as_bytes());
            out.push(b'\t');
            out.extend_from_slice(r.pid.to_string().as_bytes());
            for field in [&r.street, &r.zip, &r.city, &r.email, &r.name] {
                out.push(b'\t');
                escape_into(out, field.as_bytes());
            }
            out.push(b'\t');
            escape_into(out, &r.imprint);
            out.push(b'\n');
        }
        payload
    }
}

/// The columns `write_tsv` emits, in order.
pub const TSV_COLUMNS: &str = "id, guid, pid, street, zip, city, email, name, imprint";

/// Escapes `data` for `LOAD DATA … FIELDS ESCAPED BY '\\'`.
pub fn escape_into(out: &mut Vec<u8>, data: &[u8]) {
    out.reserve(data.len() + data.len() / 64);
    let mut start = 0;
    for (i, &b) in data.iter().enumerate() {
        let esc = match b {
            b'\\' => b'\\',
            b'\t' => b't',
            b'\n' => b'n',
            0 => b'0',
            _ => continue,
        };
        out.extend_from_slice(&data[start..i]);
        out.push(b'\\');
        out.push(esc);
        start = i + 1;
    }
    out.extend_from_slice(&data[start..]);
}

/// A deterministic blob of `size` bytes (what `GET /imprint` serves).
pub fn imprint(size: usize) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(0x1A9B_0517);
    let mut v = vec![0u8; size];
    rng.fill_bytes(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_row_any_order() {
        let g = RowGenerator::new(7, 1024);
        let a: Vec<Row> = (0..50).map(|i| g.row(i)).collect();
        let b: Vec<Row> = (0..50).rev().map(|i| g.clone().row(i)).collect();
        let b: Vec<Row> = b.into_iter().rev().collect();
        assert_eq!(a, b);
        assert_ne!(a[0], a[1]);
        assert_ne!(RowGenerator::new(8, 1024).row(0), a[0]);
        assert_eq!(a[3].id as u64, FIRST_ID + 3);
        assert_eq!(a[3].imprint.len(), 1024);
    }

    #[test]
    fn rows_are_plausible() {
        let g = RowGenerator::new(1, 0);
        for i in 0..200 {
            let r = g.row(i);
            assert_eq!(r.guid.len(), 36);
            assert_eq!(uuid::Uuid::parse_str(&r.guid).unwrap().get_version_num(), 4);
            assert_eq!(r.zip.len(), 5);
            assert!(r.email.contains('@'));
            assert!(r.name.contains(' '));
            assert!(r.street.len() <= 255 && r.pid > 0);
        }
    }

    #[test]
    fn the_stream_is_pinned() {
        // Guards against a dependency change silently changing generated data.
        let r = RowGenerator::new(42, 4).row(0);
        let again = RowGenerator::new(42, 4).row(0);
        assert_eq!(r, again);
        assert_eq!(r.id, 10_000_000);
        assert_eq!(r.guid, PINNED_GUID);
    }
    const PINNED_GUID: &str = "a15b5d39-b5bf-40ae-8891-7925c63f45f3";

    #[test]
    fn escaping_round_trips() {
        let data = b"a\tb\nc\\d\0e".to_vec();
        let mut out = Vec::new();
        escape_into(&mut out, &data);
        assert_eq!(out, b"a\\tb\\nc\\\\d\\0e");
        let mut back = Vec::new();
        let mut it = out.iter();
        while let Some(&b) = it.next() {
            if b == b'\\' {
                back.push(match it.next().unwrap() {
                    b't' => b'\t',
                    b'n' => b'\n',
                    b'0' => 0,
                    other => *other,
                });
            } else {
                back.push(b);
            }
        }
        assert_eq!(back, data);
    }

    #[test]
    fn tsv_has_one_line_per_row() {
        let g = RowGenerator::new(3, 4096);
        let mut out = Vec::new();
        let payload = g.write_tsv(0..10, &mut out);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 10);
        assert!(payload >= 10 * 4096);
    }
}
