//! The demo's repositories in the local registry.

use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::{Names, REGISTRY};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Whether the registry answers.
pub fn answers() -> bool {
    agent()
        .get(&format!("http://{REGISTRY}/v2/"))
        .call()
        .is_ok_and(|r| r.status().as_u16() == 200)
}

/// Deletes every manifest of the demo's repositories; returns how many.
/// Manifests are per repository, so no other repository loses a tag.
pub fn delete_repositories(n: &Names) -> Result<usize> {
    if !answers() {
        return Ok(0);
    }
    let a = agent();
    let mut deleted = 0;
    for repo in n.repositories() {
        let url = format!("http://{REGISTRY}/v2/{repo}/tags/list");
        let mut resp = a.get(&url).call().with_context(|| format!("GET {url}"))?;
        if resp.status().as_u16() == 404 {
            continue;
        }
        let body: serde_json::Value = serde_json::from_str(&resp.body_mut().read_to_string()?)
            .with_context(|| format!("GET {url}: not JSON"))?;
        let tags: Vec<String> = body["tags"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let mut digests = std::collections::BTreeSet::new();
        for tag in tags {
            let url = format!("http://{REGISTRY}/v2/{repo}/manifests/{tag}");
            let r = a
                .head(&url)
                .header(
                    "Accept",
                    "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
                )
                .call()
                .with_context(|| format!("HEAD {url}"))?;
            if let Some(d) = r
                .headers()
                .get("Docker-Content-Digest")
                .and_then(|v| v.to_str().ok())
            {
                digests.insert(d.to_string());
            }
        }
        for d in digests {
            let url = format!("http://{REGISTRY}/v2/{repo}/manifests/{d}");
            let r = a
                .delete(&url)
                .call()
                .with_context(|| format!("DELETE {url}"))?;
            match r.status().as_u16() {
                200..=299 | 404 => deleted += 1,
                code => bail!("DELETE {url} answered {code}"),
            }
        }
    }
    Ok(deleted)
}
