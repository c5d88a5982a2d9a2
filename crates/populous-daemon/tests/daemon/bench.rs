//! Figures, not checks: run with `--ignored --nocapture`. Latency of a cheap
//! read (`whoami`) while other clients load the read path with inspections.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{api_config, get, setup, Pool, Server};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// p50/p99 of `GET /v1/whoami` (token dev) alone, then while 4 clients of
/// token devprod inspect `prod/db` (3,000 files) in a loop.
pub fn whoami_under_inspect_load(pool: Pool) {
    let (lab, t) = setup(pool);
    // Inspect sums the volume's usage: give it enough files that this costs
    // what it does on a real data directory.
    let dir = populous_engine::Engine::open(&lab.home())
        .expect("engine")
        .volume_path(&"prod/db".parse().expect("ref"))
        .expect("path");
    for i in 0..3000 {
        std::fs::write(dir.join(format!("f{i}")), [0u8; 512]).expect("file");
    }
    let srv = Arc::new(Server::start(&lab.home(), api_config()));
    let dev = t["dev"].clone();
    let measure = |label: &str| {
        let mut lat = Vec::with_capacity(400);
        for _ in 0..400 {
            let start = Instant::now();
            let (s, _) = get(&srv, "/v1/whoami", Some(&dev));
            lat.push(start.elapsed());
            assert_eq!(s, 200);
        }
        lat.sort();
        println!(
            "{label}: whoami p50 {:?} p99 {:?} max {:?}",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            lat[lat.len() - 1]
        );
    };
    measure("idle");
    let stop = Arc::new(AtomicBool::new(false));
    let loaders: Vec<_> = (0..4)
        .map(|_| {
            let (srv, stop, tok) = (Arc::clone(&srv), Arc::clone(&stop), t["devprod"].clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let (s, v) = get(&srv, "/v1/folders/prod/volumes/db", Some(&tok));
                    assert_eq!(s, 200, "{v}");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let start = Instant::now();
    measure("4 inspect loops");
    stop.store(true, Ordering::Relaxed);
    let inspections: u64 = loaders.into_iter().map(|h| h.join().expect("loader")).sum();
    println!(
        "inspections: {inspections} in {:?} ({:.0}/s)",
        start.elapsed(),
        inspections as f64 / start.elapsed().as_secs_f64()
    );
}
