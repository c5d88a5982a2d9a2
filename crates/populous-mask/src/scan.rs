//! Searching every file of a volume for original values.
//!
//! After masking, no original value of a masked column may be left in any
//! file of the volume: table and index pages, undo and redo logs, binary and
//! relay logs, Aria files, anything. [`scan_dir`] proves it for a sample: it
//! reads every regular file under a directory once, with one Aho-Corasick
//! automaton over all the sampled originals, and reports per file how many
//! distinct originals it holds. Files are streamed, so a volume of any size
//! needs constant memory; symbolic links are not followed (a datadir holds
//! none that matter, and following one could leave the volume).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use aho_corasick::AhoCorasick;
use serde::Serialize;

/// A file that holds originals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileFinding {
    /// The file, relative to the scanned directory.
    pub path: PathBuf,
    /// How many distinct originals it holds.
    pub originals: usize,
}

/// What a scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScanFindings {
    /// How many distinct originals were searched for.
    pub sampled: usize,
    /// How many of them were found in at least one file.
    pub found: usize,
    /// Files read.
    pub files_scanned: usize,
    /// Bytes read.
    pub bytes_scanned: u64,
    /// The files that hold originals, most first.
    pub files: Vec<FileFinding>,
}

impl ScanFindings {
    /// No original was found anywhere.
    pub fn passed(&self) -> bool {
        self.found == 0
    }
}

/// Searches every regular file under `dir` for `needles`.
pub fn scan_dir(dir: &Path, needles: &[Vec<u8>]) -> std::io::Result<ScanFindings> {
    let mut findings = ScanFindings {
        sampled: needles.len(),
        ..ScanFindings::default()
    };
    if needles.is_empty() {
        return Ok(findings);
    }
    let ac = AhoCorasick::new(needles).map_err(std::io::Error::other)?;
    let mut found = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let ty = entry.file_type()?;
            if ty.is_dir() {
                stack.push(entry.path());
            } else if ty.is_file() {
                let path = entry.path();
                let mut here = BTreeSet::new();
                let file = File::open(&path)?;
                findings.bytes_scanned += file.metadata()?.len();
                for m in ac.stream_find_iter(BufReader::with_capacity(1 << 20, file)) {
                    here.insert(m?.pattern().as_usize());
                }
                findings.files_scanned += 1;
                if !here.is_empty() {
                    findings.files.push(FileFinding {
                        path: path.strip_prefix(dir).unwrap_or(&path).to_path_buf(),
                        originals: here.len(),
                    });
                    found.extend(here);
                }
            }
        }
    }
    findings.found = found.len();
    findings
        .files
        .sort_by(|a, b| b.originals.cmp(&a.originals).then(a.path.cmp(&b.path)));
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_needles_per_file_across_buffer_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let big = {
            // A needle straddling the 1 MiB read buffer's edge.
            let mut v = vec![0u8; (1 << 20) - 5];
            v.extend_from_slice(b"alice@example.com");
            v.extend(vec![0u8; 100]);
            v
        };
        std::fs::write(dir.path().join("ibdata1"), &big).unwrap();
        std::fs::create_dir(dir.path().join("db")).unwrap();
        std::fs::write(
            dir.path().join("db/t.ibd"),
            b"..bob@example.org..alice@example.com..bob@example.org",
        )
        .unwrap();
        std::fs::write(dir.path().join("clean"), b"nothing here").unwrap();
        let needles = vec![
            b"alice@example.com".to_vec(),
            b"bob@example.org".to_vec(),
            b"carol@example.net".to_vec(),
        ];
        let f = scan_dir(dir.path(), &needles).unwrap();
        assert_eq!((f.sampled, f.found, f.files_scanned), (3, 2, 3));
        assert!(!f.passed());
        assert_eq!(
            f.files,
            vec![
                FileFinding {
                    path: "db/t.ibd".into(),
                    originals: 2
                },
                FileFinding {
                    path: "ibdata1".into(),
                    originals: 1
                },
            ]
        );
    }

    #[test]
    fn nothing_sampled_or_nothing_found_passes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"masked values only").unwrap();
        assert!(scan_dir(dir.path(), &[]).unwrap().passed());
        let f = scan_dir(dir.path(), &[b"original".to_vec()]).unwrap();
        assert!(f.passed());
        assert_eq!(f.files_scanned, 1);
    }
}
