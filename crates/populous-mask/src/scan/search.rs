//! Finding a set of needles in a buffer, fast enough to keep up with the
//! disk.
//!
//! Every needle is at least `m` bytes long, so an occurrence covers `m`
//! consecutive positions; looking at one position in `k = m - 7` and asking
//! whether the 8 bytes there are one of the first `k` 8-byte pieces
//! ("grams") of some needle cannot miss an occurrence. A bitset of the grams'
//! hashes (in the L2 cache) answers no for almost every position; a yes is
//! checked against an exact table of the grams, and each candidate needle is
//! compared whole. Measured on a masked 2.9 GB datadir with 4,000 sampled
//! emails and uuids, one core, data in memory: Aho-Corasick's DFA 300 MB/s
//! with its prefilter (random blob bytes keep triggering it), 570 MB/s
//! without; this filter several GB/s (see [`super`]). Sets with a needle
//! shorter than 8 bytes use the DFA, without prefilter.

use std::collections::BTreeSet;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

/// Bytes per gram.
const W: usize = 8;
/// Multipliers of the two hashes (odd, well mixed).
const K1: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xBF58_476D_1CE4_E5B9;
/// Marks an empty slot of the exact table.
const EMPTY: u32 = u32::MAX;

/// Finds which needles occur in a buffer.
#[derive(Debug)]
pub(super) enum Searcher {
    /// Every needle has at least [`W`] bytes.
    Grams(Grams),
    /// Some needle is shorter.
    Automaton(AhoCorasick),
}

/// The gram filter; see the module docs.
#[derive(Debug)]
pub(super) struct Grams {
    needles: Vec<Vec<u8>>,
    /// One position in `step` is looked at.
    step: usize,
    /// Bitset of hash1(gram).
    bits: Vec<u64>,
    bit_shift: u32,
    /// Open addressing on hash2(gram): index into `keys`, or [`EMPTY`].
    slots: Vec<u32>,
    slot_shift: u32,
    /// The distinct grams; `keys[i]`'s candidates are
    /// `cands[starts[i]..starts[i + 1]]`.
    keys: Vec<u64>,
    starts: Vec<u32>,
    /// (needle, offset of the gram in it).
    cands: Vec<(u32, u32)>,
}

fn gram(b: &[u8]) -> u64 {
    let mut a = [0u8; W];
    a.copy_from_slice(&b[..W]);
    u64::from_le_bytes(a)
}

impl Grams {
    fn new(needles: &[Vec<u8>]) -> Grams {
        let m = needles.iter().map(Vec::len).min().unwrap_or(W);
        let step = m - W + 1;
        let mut entries: Vec<(u64, u32, u32)> = Vec::with_capacity(needles.len() * step);
        for (n, needle) in needles.iter().enumerate() {
            for j in 0..step {
                entries.push((gram(&needle[j..]), n as u32, j as u32));
            }
        }
        entries.sort_unstable();
        entries.dedup();
        // About 1 bit in 32 set: few false yeses, and at most 1 MiB.
        let nbits = (entries.len() * 32)
            .next_power_of_two()
            .clamp(1 << 16, 1 << 23);
        let bit_shift = 64 - nbits.trailing_zeros();
        let mut bits = vec![0u64; nbits / 64];
        let (mut keys, mut starts, mut cands) = (Vec::new(), Vec::new(), Vec::new());
        for &(g, n, j) in &entries {
            if keys.last() != Some(&g) {
                keys.push(g);
                starts.push(cands.len() as u32);
                let h = (g.wrapping_mul(K1) >> bit_shift) as usize;
                bits[h >> 6] |= 1 << (h & 63);
            }
            cands.push((n, j));
        }
        starts.push(cands.len() as u32);
        let nslots = (keys.len() * 2).next_power_of_two().max(16);
        let slot_shift = 64 - nslots.trailing_zeros();
        let mut slots = vec![EMPTY; nslots];
        for (i, &g) in keys.iter().enumerate() {
            let mut s = (g.wrapping_mul(K2) >> slot_shift) as usize;
            while slots[s] != EMPTY {
                s = (s + 1) & (nslots - 1);
            }
            slots[s] = i as u32;
        }
        Grams {
            needles: needles.to_vec(),
            step,
            bits,
            bit_shift,
            slots,
            slot_shift,
            keys,
            starts,
            cands,
        }
    }

    /// The needles whose grams include `g`.
    fn candidates(&self, g: u64) -> &[(u32, u32)] {
        let mask = self.slots.len() - 1;
        let mut s = (g.wrapping_mul(K2) >> self.slot_shift) as usize;
        loop {
            let k = self.slots[s];
            if k == EMPTY {
                return &[];
            }
            if self.keys[k as usize] == g {
                let (a, b) = (self.starts[k as usize], self.starts[k as usize + 1]);
                return &self.cands[a as usize..b as usize];
            }
            s = (s + 1) & mask;
        }
    }

    fn find(&self, buf: &[u8], len: usize, out: &mut BTreeSet<usize>) {
        let mut i = 0;
        while i + W <= buf.len() {
            let g = gram(&buf[i..]);
            let h = (g.wrapping_mul(K1) >> self.bit_shift) as usize;
            if self.bits[h >> 6] & (1 << (h & 63)) != 0 {
                for &(n, j) in self.candidates(g) {
                    let needle = &self.needles[n as usize];
                    let Some(s) = i.checked_sub(j as usize) else {
                        continue;
                    };
                    if s < len && buf.get(s..s + needle.len()) == Some(needle.as_slice()) {
                        out.insert(n as usize);
                    }
                }
            }
            i += self.step;
        }
    }
}

impl Searcher {
    /// A searcher for `needles` (not empty).
    pub(super) fn new(needles: &[Vec<u8>]) -> std::io::Result<Searcher> {
        if needles.iter().all(|n| n.len() >= W) {
            return Ok(Searcher::Grams(Grams::new(needles)));
        }
        AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::DFA))
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(needles)
            .map(Searcher::Automaton)
            .map_err(std::io::Error::other)
    }

    /// Adds to `out` the needles that start in `buf[..len]` (and end in
    /// `buf`: the bytes after `len` are the overlap with the next piece).
    pub(super) fn find(&self, buf: &[u8], len: usize, out: &mut BTreeSet<usize>) {
        match self {
            Searcher::Grams(g) => g.find(buf, len, out),
            Searcher::Automaton(ac) => out.extend(
                ac.find_overlapping_iter(buf)
                    .filter(|m| m.start() < len)
                    .map(|m| m.pattern().as_usize()),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a plain search finds: every needle that starts in `buf[..len]`.
    fn naive(needles: &[Vec<u8>], buf: &[u8], len: usize) -> BTreeSet<usize> {
        needles
            .iter()
            .enumerate()
            .filter(|(_, n)| (0..len).any(|s| buf.get(s..s + n.len()) == Some(n.as_slice())))
            .map(|(i, _)| i)
            .collect()
    }

    fn check(needles: &[Vec<u8>], buf: &[u8], len: usize) {
        let mut got = BTreeSet::new();
        Searcher::new(needles).unwrap().find(buf, len, &mut got);
        assert_eq!(got, naive(needles, buf, len));
    }

    #[test]
    fn grams_find_every_needle_at_every_offset() {
        let needles: Vec<Vec<u8>> = [
            "alice.smith42@example.com",
            "0b7e1c2a-5f3d-4e6b-8a9c-1d2e3f4a5b6c",
            "bob@ex.org",
            // A needle inside another one, and one sharing its first gram.
            "smith42@example.com",
            "alice.smith42@example.net",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        assert!(matches!(
            Searcher::new(&needles).unwrap(),
            Searcher::Grams(_)
        ));
        for n in &needles {
            for at in 0..40 {
                let mut buf = vec![0u8; at];
                buf.extend_from_slice(n);
                buf.extend(vec![b'x'; 13]);
                check(&needles, &buf, buf.len());
                // Starting in the overlap only: not this piece's.
                check(&needles, &buf, at);
                // Cut short: not there.
                check(&needles, &buf[..at + n.len() - 1], at + 1);
            }
        }
    }

    #[test]
    fn short_needles_use_the_automaton_and_find_overlaps() {
        let needles = vec![
            b"abcdef".to_vec(),
            b"cdefgh".to_vec(),
            b"longer-needle".to_vec(),
        ];
        assert!(matches!(
            Searcher::new(&needles).unwrap(),
            Searcher::Automaton(_)
        ));
        check(&needles, b"..abcdefgh..longer-needle", 25);
        check(&needles, b"..abcdefgh..longer-needle", 3);
    }

    #[test]
    fn random_bytes_with_planted_needles() {
        // xorshift: the same bytes every run.
        let mut x: u64 = 88172645463325252;
        let mut bytes = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Letters and digits too: as likely as can be to trip the filter.
                    b"abcdefghij0123456789.@-"[(x % 23) as usize]
                })
                .collect()
        };
        let needles: Vec<Vec<u8>> = (0..500).map(|k| bytes(10 + k % 30)).collect();
        let mut buf = bytes(20_000);
        for (k, n) in needles.iter().enumerate().step_by(7) {
            let at = (k * 193) % (buf.len() - n.len());
            buf[at..at + n.len()].copy_from_slice(n);
        }
        assert!(naive(&needles, &buf, buf.len()).len() > 50);
        check(&needles, &buf, buf.len());
        check(&needles, &buf, 10_000);
    }
}
