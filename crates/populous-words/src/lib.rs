//! Frozen word lists for realistic fake values: the masking transformers'
//! ([`mask`]) and the seed generator's ([`seed`]).
//!
//! They live in the workspace (not in a dependency such as `fake`) so no
//! dependency update can change a masked value or a generated row: both
//! pick words by index, so any change to a list changes every output. The
//! two sets differ on purpose (masked cities and streets come from other
//! lists than the seed's, so a masked one never looks unmasked) and both
//! are pinned by the test below; the runs they share are stored once
//! ([`shared`](crate::shared)) and spliced in by [`join`].
//!
//! No dependencies: a data crate that anything may use.

pub mod mask;
pub mod seed;
mod shared;

/// Concatenates `parts` into an array of exactly `N` words, at compile
/// time (a wrong `N` fails the build), so a list can splice in a shared run.
const fn join<const N: usize>(parts: &[&[&'static str]]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut n = 0;
    let mut p = 0;
    while p < parts.len() {
        let part = parts[p];
        let mut i = 0;
        while i < part.len() {
            out[n] = part[i];
            n += 1;
            i += 1;
        }
        p += 1;
    }
    assert!(n == N, "the parts do not add up to N words");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FNV-1a over the words, one per line: a cheap fingerprint that any
    /// edit, reorder or splice mistake changes.
    fn fingerprint(words: &[&str]) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for w in words {
            for b in w.bytes().chain([b'\n']) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        h
    }

    #[test]
    fn lists_are_frozen() {
        let pinned: &[(&[&str], usize, u64)] = &[
            (mask::FIRST_NAMES, 198, 0x6f05cccf972d6314),
            (mask::LAST_NAMES, 233, 0x1ed72eb04b71ebb6),
            (mask::STREET_NAMES, 91, 0xab6280b032b247be),
            (mask::STREET_SUFFIXES, 14, 0x043690e7c6482a77),
            (mask::CITIES, 94, 0xf558dfc114fa5656),
            (seed::FIRST_NAMES, 110, 0x1ef647e07c8c01af),
            (seed::LAST_NAMES, 108, 0xd9f0a03164d42e52),
            (seed::STREET_NAMES, 55, 0x47679fd36fcb7ea2),
            (seed::STREET_SUFFIXES, 13, 0x26285b78d3f8d2c8),
            (seed::CITIES, 99, 0xd0a17cc9b308b5d6),
            (seed::DOMAINS, 7, 0xc03d12b616bd2c71),
        ];
        for (i, (words, len, print)) in pinned.iter().enumerate() {
            assert_eq!(words.len(), *len, "list {i}");
            assert_eq!(fingerprint(words), *print, "list {i}");
        }
    }

    #[test]
    fn words_are_clean() {
        // Names go into email local parts: ASCII letters only.
        for list in [mask::FIRST_NAMES, mask::LAST_NAMES] {
            assert!(list
                .iter()
                .all(|w| w.bytes().all(|b| b.is_ascii_alphabetic())));
        }
        for list in [
            mask::STREET_NAMES,
            mask::CITIES,
            seed::CITIES,
            seed::DOMAINS,
        ] {
            assert!(list.iter().all(|w| !w.is_empty() && w.trim() == *w));
        }
    }
}
