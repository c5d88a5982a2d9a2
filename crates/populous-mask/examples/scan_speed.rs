//! Where the scan's time goes: reading the files versus searching them.
//!
//! `cargo run --release -p populous-mask --example scan_speed -- DIR MODE`
//! with MODE `read` (read every file in pieces on every core, no search),
//! `scan` (`scan_dir` with 4,000 made-up needles shaped like the sample:
//! emails and uuids), or `mem` (the automata on 256 MiB of DIR's files held
//! in memory: the search alone).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

fn needles() -> Vec<Vec<u8>> {
    // A small deterministic generator: the shapes matter, not the values.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"];
    let mut out = Vec::new();
    for i in 0..2000 {
        let n = names[(next() % names.len() as u64) as usize];
        let m = names[(next() % names.len() as u64) as usize];
        out.push(format!("{n}.{m}{}@example{}.com", next() % 10000, i % 7).into_bytes());
        let h = next();
        let l = next();
        out.push(
            format!(
                "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                h >> 32,
                h & 0xffff,
                l & 0xfff,
                (l >> 12) & 0xfff,
                l >> 16
            )
            .into_bytes(),
        );
    }
    out
}

fn files(dir: &Path, out: &mut Vec<(PathBuf, u64)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            files(&e.path(), out);
        } else if t.is_file() {
            out.push((e.path(), e.metadata().unwrap().len()));
        }
    }
}

fn read_all(dir: &Path, chunk: usize) -> u64 {
    let mut fs = Vec::new();
    files(dir, &mut fs);
    let pieces: Vec<(usize, u64)> = fs
        .iter()
        .enumerate()
        .flat_map(|(i, (_, s))| (0..s.div_ceil(chunk as u64)).map(move |k| (i, k * chunk as u64)))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut buf = vec![0u8; chunk];
                    let mut total = 0u64;
                    loop {
                        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&(i, off)) = pieces.get(n) else {
                            return total;
                        };
                        let f = std::fs::File::open(&fs[i].0).unwrap();
                        use std::os::unix::fs::FileExt;
                        let mut got = 0;
                        while got < chunk {
                            let r = f.read_at(&mut buf[got..], off + got as u64).unwrap();
                            if r == 0 {
                                break;
                            }
                            got += r;
                        }
                        total += got as u64;
                    }
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(&args[1]);
    let mode = args[2].as_str();
    let t = Instant::now();
    match mode {
        "read" => {
            let chunk: usize = args.get(3).map_or(16 << 20, |c| c.parse().unwrap());
            let bytes = read_all(&dir, chunk);
            let s = t.elapsed().as_secs_f64();
            println!(
                "read {bytes} bytes in {s:.2} s: {:.0} MB/s",
                bytes as f64 / s / 1e6
            );
        }
        "scan" => {
            let f = populous_mask::scan::scan_dir(&dir, &needles()).unwrap();
            let s = t.elapsed().as_secs_f64();
            println!(
                "scanned {} bytes in {s:.2} s: {:.0} MB/s, found {}",
                f.bytes_scanned,
                f.bytes_scanned as f64 / s / 1e6,
                f.found
            );
        }
        "mem" => {
            let mut fs = Vec::new();
            files(&dir, &mut fs);
            let mut data = Vec::new();
            for (p, _) in &fs {
                std::fs::File::open(p)
                    .unwrap()
                    .take((256 << 20) - data.len() as u64)
                    .read_to_end(&mut data)
                    .unwrap();
                if data.len() >= 256 << 20 {
                    break;
                }
            }
            let ns = needles();
            for (name, kind, mk, pre) in [
                (
                    "dfa standard",
                    Some(AhoCorasickKind::DFA),
                    MatchKind::Standard,
                    true,
                ),
                (
                    "dfa standard nopre",
                    Some(AhoCorasickKind::DFA),
                    MatchKind::Standard,
                    false,
                ),
                (
                    "dfa leftmost",
                    Some(AhoCorasickKind::DFA),
                    MatchKind::LeftmostFirst,
                    true,
                ),
                (
                    "contiguous nfa",
                    Some(AhoCorasickKind::ContiguousNFA),
                    MatchKind::Standard,
                    true,
                ),
                ("auto", None, MatchKind::Standard, true),
            ] {
                let ac = AhoCorasick::builder()
                    .kind(kind)
                    .match_kind(mk)
                    .prefilter(pre)
                    .build(&ns)
                    .unwrap();
                let t = Instant::now();
                let n = ac.find_iter(data.as_slice()).count();
                let s = t.elapsed().as_secs_f64();
                println!(
                    "{name:>20}: {:.0} MB/s on one core ({n} matches, {} MB heap)",
                    data.len() as f64 / s / 1e6,
                    ac.memory_usage() >> 20
                );
            }
        }
        _ => panic!("mode: read, scan or mem"),
    }
}
