//! The secret masking key.
//!
//! The key comes from a file or an environment variable, never from the
//! rules. Only its *id* (a fingerprint) may be logged or stored as
//! provenance; `Debug` prints the id and nothing else, and there is
//! deliberately no `Display` or accessor for the raw bytes outside the crate.

use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::MaskError;

/// Fewer bytes than this make brute-forcing the key (and thus un-masking
/// low-entropy columns such as zips) realistic.
pub const MIN_KEY_BYTES: usize = 16;

/// A secret key for deterministic masking.
#[derive(Clone)]
pub struct MaskKey {
    bytes: Vec<u8>,
    id: String,
}

impl MaskKey {
    /// A key from raw bytes (at least [`MIN_KEY_BYTES`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<MaskKey, MaskError> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(MaskError::Key(format!(
                "key has {} bytes, need at least {MIN_KEY_BYTES}",
                bytes.len()
            )));
        }
        let mut h = Sha256::new();
        h.update(b"populous-key-id");
        h.update(bytes);
        let digest = h.finalize();
        Ok(MaskKey {
            bytes: bytes.to_vec(),
            id: hex(&digest[..8]),
        })
    }

    /// A key from a file. If the file (ignoring surrounding whitespace) is
    /// an even number of at least 32 hex digits, it is hex-decoded — keys are
    /// usually generated with `openssl rand -hex 32`; otherwise the raw bytes
    /// are the key.
    pub fn from_file(path: &Path) -> Result<MaskKey, MaskError> {
        let raw = std::fs::read(path).map_err(|source| MaskError::KeyFile {
            path: path.to_path_buf(),
            source,
        })?;
        MaskKey::from_text_or_bytes(&raw)
    }

    /// A key from the environment variable `name` (hex or raw, as for files).
    pub fn from_env(name: &str) -> Result<MaskKey, MaskError> {
        let v = std::env::var_os(name)
            .ok_or_else(|| MaskError::Key(format!("environment variable {name} is not set")))?;
        MaskKey::from_text_or_bytes(v.as_encoded_bytes())
    }

    fn from_text_or_bytes(raw: &[u8]) -> Result<MaskKey, MaskError> {
        let trimmed = raw.trim_ascii();
        if trimmed.len() >= 32
            && trimmed.len() % 2 == 0
            && trimmed.iter().all(u8::is_ascii_hexdigit)
        {
            let decoded: Vec<u8> = trimmed
                .chunks(2)
                .map(|p| (hex_val(p[0]) << 4) | hex_val(p[1]))
                .collect();
            return MaskKey::from_bytes(&decoded);
        }
        MaskKey::from_bytes(raw)
    }

    /// The key's public id: the first 16 hex digits of
    /// SHA-256(`"populous-key-id"` ‖ key). Safe to log and to store.
    pub fn key_id(&self) -> &str {
        &self.id
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for MaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the bytes: Debug output ends up in logs and panics.
        f.debug_struct("MaskKey")
            .field("key_id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Drop for MaskKey {
    fn drop(&mut self) {
        // Best effort, without a `zeroize` dependency: shorten the key's life
        // in freed memory; `black_box` keeps the writes from being elided.
        self.bytes.fill(0);
        std::hint::black_box(&mut self.bytes);
    }
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}
