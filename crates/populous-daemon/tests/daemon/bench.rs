//! Figures, not checks: run with `--ignored --nocapture`. Latency of a
//! tenant's cheap reads while another tenant loads the read path with
//! inspections of a big volume, or while a flood of half-open connections
//! holds every slot; each against a baseline in the same run.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use populous_engine::{Engine, VolumeOptions};

use crate::common::{api_config, get, n, setup, Pool, Server};
use crate::limits::{ensure_open_files, FLOOD, HALF_HEAD};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// p50, p99 and max of a set of latencies.
#[derive(Debug, Clone, Copy)]
struct Figures {
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl Figures {
    fn of(mut lat: Vec<Duration>) -> Figures {
        lat.sort();
        Figures {
            p50: percentile(&lat, 0.5),
            p99: percentile(&lat, 0.99),
            max: lat[lat.len() - 1],
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn ratio(a: Duration, b: Duration) -> String {
    format!("{:.2}x", a.as_secs_f64() / b.as_secs_f64())
}

/// `n` rounds of each path with `token`, interleaved; figures per path.
fn measure(srv: &Server, token: &str, paths: &[&str], n: usize) -> Vec<Figures> {
    let mut lat = vec![Vec::with_capacity(n); paths.len()];
    for _ in 0..n {
        for (i, p) in paths.iter().enumerate() {
            let start = Instant::now();
            let (s, v) = get(srv, p, Some(token));
            lat[i].push(start.elapsed());
            assert_eq!(s, 200, "{p}: {v}");
        }
    }
    lat.into_iter().map(Figures::of).collect()
}

fn report(label: &str, paths: &[&str], base: &[Figures], load: &[Figures]) {
    println!("{label}:");
    println!("| request | baseline p50 | p99 | max | under load p50 | p99 | max | p50 ratio | p99 ratio |");
    for (i, p) in paths.iter().enumerate() {
        let (b, l) = (base[i], load[i]);
        println!(
            "| GET {p} | {} | {} | {} | {} | {} | {} | {} | {} |",
            ms(b.p50),
            ms(b.p99),
            ms(b.max),
            ms(l.p50),
            ms(l.p99),
            ms(l.max),
            ratio(l.p50, b.p50),
            ratio(l.p99, b.p99)
        );
    }
}

/// Issue 14's "no tenant starves another": a prod-only token's `whoami` and
/// `GET /v1/folders/prod/volumes`, alone, then while 4 clients of a dev
/// token inspect `dev/bigtree` (100,000 files) in a loop; then alone again
/// while 1,100 half-open connections are held.
pub fn no_tenant_starves_another(pool: Pool) {
    const FILES: usize = 100_000;
    const ROUNDS: usize = 2_000;
    let (lab, t) = setup(pool);
    let big = "dev/bigtree".parse().expect("ref");
    let prod = {
        let mut e = Engine::open(&lab.home()).expect("engine");
        e.volume_create(&big, &VolumeOptions::default())
            .expect("bigtree");
        let dir = e.volume_path(&big).expect("path");
        for d in 0..(FILES / 1000) {
            let sub = dir.join(format!("d{d}"));
            std::fs::create_dir(&sub).expect("dir");
            for f in 0..1000 {
                std::fs::write(sub.join(format!("f{f}")), [0u8; 64]).expect("file");
            }
        }
        let start = Instant::now();
        let u = e.volume_usage(&big).expect("usage");
        println!(
            "one walk of dev/bigtree ({FILES} files, {} bytes): {}",
            u.used_bytes.unwrap_or(0),
            ms(start.elapsed())
        );
        e.token_create(&n("prod"), &[(n("prod"), populous_engine::Scope::Write)])
            .expect("token")
            .1
    };
    let mut config = api_config();
    // The half-open connections must be churned out by the cap, not the timeout.
    config.header_timeout = Duration::from_secs(600);
    let srv = Arc::new(Server::start(&lab.home(), config));
    let paths = ["/v1/whoami", "/v1/folders/prod/volumes"];
    let base = measure(&srv, &prod, &paths, ROUNDS);

    let stop = Arc::new(AtomicBool::new(false));
    let loaders: Vec<_> = (0..4)
        .map(|_| {
            let (srv, stop, tok) = (Arc::clone(&srv), Arc::clone(&stop), t["dev"].clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                let mut measured = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let (s, v) = get(&srv, "/v1/folders/dev/volumes/bigtree", Some(&tok));
                    assert_eq!(s, 200, "{v}");
                    n += 1;
                    measured += u64::from(v["used_bytes"].is_u64());
                }
                (n, measured)
            })
        })
        .collect();
    let start = Instant::now();
    let load = measure(&srv, &prod, &paths, ROUNDS);
    stop.store(true, Ordering::Relaxed);
    let (inspections, measured) = loaders
        .into_iter()
        .map(|h| h.join().expect("loader"))
        .fold((0, 0), |(a, b), (n, m)| (a + n, b + m));
    let took = start.elapsed();
    report(
        "4 parallel inspect loops of dev/bigtree (dev token)",
        &paths,
        &base,
        &load,
    );
    let (_, m) = get(&srv, "/metrics", None);
    let walks = m
        .as_str()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("populous_usage_walks_total "))
        })
        .unwrap_or("populous_usage_walks_total ?")
        .to_owned();
    println!(
        "inspections: {inspections} in {took:?} ({:.0}/s), {measured} answered with used_bytes; {walks}",
        inspections as f64 / took.as_secs_f64()
    );

    // Half-open connections: more than the usual 1,024 open files, 4x the cap.
    ensure_open_files(4096);
    let flood: Vec<TcpStream> = (0..FLOOD)
        .map(|_| {
            let mut s = TcpStream::connect(srv.api()).expect("connect");
            s.write_all(HALF_HEAD).expect("half a head");
            s
        })
        .collect();
    let mut lat = Vec::new();
    let mut ok = 0;
    for _ in 0..200 {
        let start = Instant::now();
        let (s, _) = get(&srv, "/v1/whoami", Some(&prod));
        lat.push(start.elapsed());
        ok += usize::from(s == 200);
    }
    let f = Figures::of(lat);
    println!(
        "{FLOOD} half-open connections held: whoami {ok}/200 answered 200, p50 {} p99 {} max {} (baseline p50 {}, p99 {}; ratios {} / {})",
        ms(f.p50),
        ms(f.p99),
        ms(f.max),
        ms(base[0].p50),
        ms(base[0].p99),
        ratio(f.p50, base[0].p50),
        ratio(f.p99, base[0].p99)
    );
    drop(flood);
}
