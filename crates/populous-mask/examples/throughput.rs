//! Masked values per second on one core for the seed's PII columns
//! (name, email, street, zip, city, guid), so the MariaDB layer knows its
//! client-side budget. Run with
//! `cargo run --release -p populous-mask --example throughput [N]`.

use std::hint::black_box;
use std::time::Instant;

use populous_mask::{MaskKey, Masker, RuleSet};

#[path = "../tests/support/mod.rs"]
mod support;

use support::{seed_rules, SIX};

/// Seed-like input for row `i` (shapes as in populous-app's generator).
fn input(column: &str, i: u64) -> String {
    let r = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    match column {
        "email" => format!(
            "first{}.last{}{}@example.org",
            r % 200,
            (r >> 8) % 300,
            r % 10_000
        ),
        "name" => format!("First{} Last{}", r % 200, (r >> 8) % 300),
        "street" => format!("{} Street{} Avenue", 1 + r % 9999, (r >> 16) % 100),
        "zip" => format!("{:05}", 501 + r % 99_450),
        "city" => format!("City{}", r % 150),
        _ => {
            let x = u128::from(r) << 64 | u128::from(i);
            let x = (x & !(0xf << 76) & !(0b11 << 62)) | (4 << 76) | (0b10 << 62);
            let h = format!("{x:032x}");
            format!(
                "{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            )
        }
    }
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300_000);
    let rules = RuleSet::from_yaml(seed_rules!()).expect("rules");
    let key = MaskKey::from_bytes(&[42; 32]).expect("key");
    let masker = Masker::new(&rules, &key);
    let mut total_secs = 0.0;
    println!("{n} values per column, one thread");
    for column in SIX {
        let inputs: Vec<String> = (0..n).map(|i| input(column, i)).collect();
        let c = masker.column("main", column).expect("column");
        let start = Instant::now();
        for v in &inputs {
            black_box(c.mask(Some(black_box(v))).expect("mask"));
        }
        let secs = start.elapsed().as_secs_f64();
        total_secs += secs;
        println!(
            "{column:>8}: {:>10.0} values/s ({:.0} ns/value)",
            n as f64 / secs,
            secs * 1e9 / n as f64
        );
    }
    println!(
        "all six: {:>10.0} rows/s on one core (client-side masking only)",
        n as f64 / total_secs
    );
}
