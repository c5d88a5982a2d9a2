//! Keyed bijections (format-preserving permutations) used where the output
//! must be injective *by construction*: uuid (122 free bits), and digit /
//! letter strings (zip, phone, ssn).
//!
//! Construction: an alternating (possibly unbalanced) Feistel network over
//! `k` bits, 10 rounds as in NIST FF1, whose round function is
//! SHA-256(round key ‖ tweak ‖ round ‖ k ‖ half) — a keyed-prefix hash over
//! a fixed-length, single-block message, which is a PRF (length extension
//! does not apply to fixed-length inputs) and costs one SHA-256 compression
//! (hardware-accelerated where the CPU has SHA extensions). A Feistel
//! network is a permutation whatever its round function, so injectivity
//! does not depend on any probability. Domains that are not a power of two
//! use cycle walking: apply the permutation until the result lands back in
//! the domain — the restriction of a permutation to a subset by cycle
//! walking is again a permutation of that subset.

use sha2::{Digest, Sha256};

/// Feistel rounds; FF1 uses 10, and the domains here are at least 4 bits.
const ROUNDS: u8 = 10;

/// A keyed permutation family (one per column domain).
#[derive(Clone)]
pub(crate) struct Fpe {
    key: [u8; 32],
}

impl Fpe {
    pub(crate) fn new(key: [u8; 32]) -> Fpe {
        Fpe { key }
    }

    fn round(&self, tweak: u64, round: u8, bits: u32, half: u64, out_bits: u32) -> u64 {
        // 32 + 8 + 1 + 1 + 8 = 50 bytes: one SHA-256 block after padding.
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(tweak.to_le_bytes());
        h.update([round, bits as u8]);
        h.update(half.to_le_bytes());
        let d = h.finalize();
        let v = u64::from_le_bytes(d[..8].try_into().expect("8 bytes"));
        v & mask(out_bits)
    }

    /// A permutation of `0..2^bits` (2 <= bits <= 128), chosen by `tweak`.
    pub(crate) fn permute_bits(&self, x: u128, bits: u32, tweak: u64) -> u128 {
        debug_assert!((2..=128).contains(&bits));
        let mut a_bits = bits / 2;
        let mut b_bits = bits - a_bits;
        let mut a = (x >> b_bits) as u64 & mask(a_bits);
        let mut b = x as u64 & mask(b_bits);
        for r in 0..ROUNDS {
            // (A, B) -> (B, A ^ F(B)): invertible for any F, widths swap.
            let c = a ^ self.round(tweak, r, bits, b, a_bits);
            a = b;
            b = c;
            std::mem::swap(&mut a_bits, &mut b_bits);
        }
        (u128::from(a) << b_bits) | u128::from(b)
    }

    /// A permutation of `0..n` (n >= 2) by cycle walking; if `class` is
    /// given, additionally of each class `{x : class(x) == c}`, which keeps
    /// valid values valid (and invalid ones invalid) while staying injective.
    pub(crate) fn permute_range(
        &self,
        x: u128,
        n: u128,
        tweak: u64,
        class: Option<&dyn Fn(u128) -> bool>,
    ) -> u128 {
        debug_assert!(x < n && n >= 2);
        let bits = (128 - (n - 1).leading_zeros()).max(2);
        let want = class.map(|c| c(x));
        let mut y = x;
        loop {
            y = self.permute_bits(y, bits, tweak);
            let same_class = match (want, class) {
                (Some(w), Some(c)) => c(y) == w,
                _ => true,
            };
            if y < n && same_class {
                return y;
            }
        }
    }
}

fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn permute_bits_is_a_bijection_on_small_domains() {
        let f = Fpe::new([7; 32]);
        for bits in 2..=12 {
            let n = 1u128 << bits;
            let outs: HashSet<u128> = (0..n).map(|x| f.permute_bits(x, bits, 3)).collect();
            assert_eq!(outs.len() as u128, n, "bits={bits}");
            assert!(outs.iter().all(|&y| y < n));
        }
    }

    #[test]
    fn permute_range_is_a_bijection_with_classes() {
        let f = Fpe::new([9; 32]);
        let n = 1000u128;
        let class = |v: u128| v % 7 == 0;
        let outs: HashSet<u128> = (0..n)
            .map(|x| {
                let y = f.permute_range(x, n, 1, Some(&class));
                assert_eq!(class(x), class(y));
                y
            })
            .collect();
        assert_eq!(outs.len(), 1000);
    }

    #[test]
    fn tweak_and_key_change_the_permutation() {
        let f = Fpe::new([1; 32]);
        let g = Fpe::new([2; 32]);
        let a: Vec<u128> = (0..64).map(|x| f.permute_bits(x, 40, 0)).collect();
        let b: Vec<u128> = (0..64).map(|x| f.permute_bits(x, 40, 1)).collect();
        let c: Vec<u128> = (0..64).map(|x| g.permute_bits(x, 40, 0)).collect();
        assert_ne!(a, b);
        assert_ne!(a, c);
    }
}
