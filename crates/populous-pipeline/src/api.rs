//! The one client of the Populous daemon's REST API that the pipeline uses:
//! an environment's volumes (look up, destroy, rename) and clones, each call
//! with the environment's token. The token's source is the pipeline file's
//! `token` (an environment variable or a file), never the file itself.

use std::time::Duration;

use serde_json::Value;

use crate::error::{PipelineError, Result};
use crate::http::http;
use crate::spec::TokenSource;

/// The REST API as one environment (its folder and token) sees it.
#[derive(Debug, Clone)]
pub struct PopulousApi {
    /// `http://host:port`, without a trailing `/`.
    base: String,
    /// The environment's folder.
    folder: String,
    /// The environment's token.
    token: String,
}

impl PopulousApi {
    /// The API at `base` (`populous.api`), for `folder`, with `token`.
    pub fn new(base: &str, folder: &str, token: String) -> PopulousApi {
        PopulousApi {
            base: base.trim_end_matches('/').to_string(),
            folder: folder.to_string(),
            token,
        }
    }

    /// The URL of volume `vol` of the folder.
    fn volume_url(&self, vol: &str) -> String {
        format!("{}/v1/folders/{}/volumes/{vol}", self.base, self.folder)
    }

    /// The volume's record, or `None` if there is no such volume.
    pub fn volume(&self, vol: &str) -> Result<Option<Value>> {
        match self.call("GET", &self.volume_url(vol), None)? {
            (404, _, _) => Ok(None),
            (code, text, what) => json(code, &text, what).map(Some),
        }
    }

    /// Destroys volume `vol` of the folder; a volume already gone is fine.
    pub fn destroy(&self, vol: &str) -> Result<()> {
        let url = format!("{}?destroy=true", self.volume_url(vol));
        match self.call("DELETE", &url, None)? {
            (code, _, _) if (200..300).contains(&code) || code == 404 => Ok(()),
            (code, text, what) => Err(PipelineError::Api {
                what,
                detail: format!("{code}: {text}"),
            }),
        }
    }

    /// Clones `source` (`FOLDER/VOL`) to `name` in the folder; the new volume's record.
    pub fn clone_volume(&self, source: &str, name: &str) -> Result<Value> {
        let body =
            serde_json::json!({"source": source, "target": format!("{}/{name}", self.folder)});
        self.post(&format!("{}/v1/clone", self.base), &body)
    }

    /// `FOLDER/VOL@clean` of the newest clean base of Populous source `source`.
    pub fn newest_clean_base(&self, source: &str) -> Result<String> {
        let url = format!("{}/v1/sources/{source}", self.base);
        let (code, text, what) = self.call("GET", &url, None)?;
        let status = json(code, &text, what.clone())?;
        newest_clean_base(&status).ok_or_else(|| PipelineError::Api {
            what,
            detail: format!("source {source} has no snapshot with a clean base yet: take one (`populous source snapshot {source}`) or wait for its schedule"),
        })
    }

    /// Renames `vol` to `to`, replacing a volume of that name when `replace`;
    /// the answer (`replaced` names what was replaced).
    pub fn rename(&self, vol: &str, to: &str, replace: bool) -> Result<Value> {
        let body = serde_json::json!({"to": to, "replace": replace});
        self.post(&format!("{}/rename", self.volume_url(vol)), &body)
    }

    /// POSTs `body`; the answer's JSON.
    fn post(&self, url: &str, body: &Value) -> Result<Value> {
        let (code, text, what) = self.call("POST", url, Some(body))?;
        json(code, &text, what)
    }

    /// One REST call with the token: the status, the body, and what to name
    /// the request in an error (`GET URL`).
    fn call(&self, method: &str, url: &str, body: Option<&Value>) -> Result<(u16, String, String)> {
        let auth = format!("Bearer {}", self.token);
        let agent = http(Duration::from_secs(60), true);
        let sent = match (method, body) {
            ("GET", None) => agent.get(url).header("Authorization", &auth).call(),
            ("DELETE", None) => agent.delete(url).header("Authorization", &auth).call(),
            ("POST", Some(b)) => agent
                .post(url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(b.to_string()),
            _ => unreachable!("this client sends GET, DELETE, and POST with a body"),
        };
        let mut resp = sent.map_err(|e| down(url, &e))?;
        let code = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        Ok((code, text, format!("{method} {url}")))
    }
}

/// A 2xx answer's JSON, or an error naming the request.
/// The newest clean base in a source's status, as `FOLDER/VOL@clean`.
fn newest_clean_base(status: &Value) -> Option<String> {
    status["source"]["snapshots"]
        .as_array()?
        .iter()
        .rev()
        .find_map(|s| s["base"].as_str())
        .map(|b| format!("{b}@clean"))
}

fn json(code: u16, text: &str, what: String) -> Result<Value> {
    if !(200..300).contains(&code) {
        return Err(PipelineError::Api {
            what,
            detail: format!("{code}: {text}"),
        });
    }
    serde_json::from_str(text).map_err(|e| PipelineError::Api {
        what,
        detail: format!("not JSON: {e}"),
    })
}

fn down(url: &str, e: &ureq::Error) -> PipelineError {
    PipelineError::Api {
        what: url.to_string(),
        detail: format!("{e}: is `populous serve` running with its REST API there (populous.api in the pipeline file)?"),
    }
}

/// Environment `env`'s token, from its source.
pub fn read_token(env: &str, src: &TokenSource) -> Result<String> {
    let t = match src {
        TokenSource::Env(var) => std::env::var(var).map_err(|_| {
            PipelineError::Usage(format!(
                "environment {env}'s Populous token: ${var} is not set (create one with `populous token create`)"
            ))
        })?,
        TokenSource::File(path) => std::fs::read_to_string(path).map_err(|e| {
            PipelineError::Usage(format!(
                "environment {env}'s Populous token file {}: {e}",
                path.display()
            ))
        })?,
    };
    let t = t.trim().to_string();
    if t.is_empty() {
        return Err(PipelineError::Usage(format!(
            "environment {env}'s Populous token is empty"
        )));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_from_the_environment_or_a_file() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("t");
        std::fs::write(&f, "secret\n").unwrap();
        assert_eq!(read_token("dev", &TokenSource::File(f)).unwrap(), "secret");
        let e = read_token("dev", &TokenSource::Env("POPULOUS_TEST_NO_SUCH_VAR".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("$POPULOUS_TEST_NO_SUCH_VAR is not set"), "{e}");
    }

    #[test]
    fn the_newest_clean_base() {
        let status = serde_json::json!({"source": {"snapshots": [
            {"snapshot": "replicas/prod@s1", "base": "replicas/prod-s1"},
            {"snapshot": "replicas/prod@s2", "base": "replicas/prod-s2"},
            {"snapshot": "replicas/prod@s3", "base": null},
        ]}});
        assert_eq!(
            newest_clean_base(&status).as_deref(),
            Some("replicas/prod-s2@clean")
        );
        assert_eq!(
            newest_clean_base(&serde_json::json!({"source": {"snapshots": []}})),
            None
        );
    }

    #[test]
    fn urls_name_the_folder() {
        let api = PopulousApi::new("http://127.0.0.1:7171/", "dev", "t".into());
        assert_eq!(
            api.volume_url("db-28"),
            "http://127.0.0.1:7171/v1/folders/dev/volumes/db-28"
        );
    }
}
