//! The image registry's HTTP API (v2): whether it answers, and whether it
//! holds a build's image, asked before anything is created on the engine.

use std::time::Duration;

use crate::error::{PipelineError, Result};
use crate::http::http;

/// Checks that the registry answers its API root (200, or 401 with auth).
pub fn check_registry(registry: &str) -> Result<()> {
    let url = format!("http://{registry}/v2/");
    let agent = http(Duration::from_secs(5), true);
    match agent.get(&url).call() {
        Ok(r) if matches!(r.status().as_u16(), 200 | 401) => Ok(()),
        Ok(r) => Err(PipelineError::RegistryDown {
            registry: registry.to_string(),
            detail: format!("GET {url} answered {}", r.status()),
        }),
        Err(e) => Err(PipelineError::RegistryDown {
            registry: registry.to_string(),
            detail: format!("GET {url}: {e}"),
        }),
    }
}

/// Whether the registry holds `repo:tag`.
pub fn registry_has(registry: &str, repo: &str, tag: &str) -> Result<bool> {
    let url = format!("http://{registry}/v2/{repo}/manifests/{tag}");
    let agent = http(Duration::from_secs(10), true);
    let down = |detail: String| PipelineError::RegistryDown {
        registry: registry.to_string(),
        detail,
    };
    let r = agent
        .head(&url)
        .header(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json",
        )
        .call()
        .map_err(|e| down(format!("HEAD {url}: {e}")))?;
    match r.status().as_u16() {
        200 => Ok(true),
        404 => Ok(false),
        code => Err(down(format!("HEAD {url} answered {code}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_registry_is_named() {
        // Port 9 (discard) on loopback: nothing listens there.
        let e = check_registry("127.0.0.1:9").unwrap_err().to_string();
        assert!(
            e.starts_with("the registry 127.0.0.1:9 does not answer ("),
            "{e}"
        );
        assert!(!e.contains("scripts/"), "{e}");
    }
}
