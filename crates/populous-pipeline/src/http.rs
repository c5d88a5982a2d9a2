//! Plain HTTP for the pipeline: one way to make a client, and the polls that
//! wait for an app to answer (the smoke test, a new db's first answer).

use std::time::{Duration, Instant};

/// Polls `url` until it answers 200 with a JSON object whose `version` is `tag`.
pub fn smoke(url: &str, tag: &str, timeout: Duration) -> std::result::Result<String, String> {
    let polled = poll(url, timeout, |code, body| {
        match serde_json::from_str::<serde_json::Value>(body) {
            Ok(v) if code == 200 && v.is_object() => {
                let version = v["version"].as_str().unwrap_or_default();
                if version == tag {
                    return Ok(());
                }
                Err(format!("it serves version {version:?}, not {tag}"))
            }
            Ok(_) | Err(_) => {
                let snippet: String = body.chars().take(120).collect();
                Err(format!("it answered {code} {snippet:?}"))
            }
        }
    });
    match polled {
        Ok((secs, polls)) => Ok(format!(
            "{url} serves {tag} after {secs:.1} s ({polls} polls)"
        )),
        Err(last) => Err(format!(
            "{url} did not serve {tag} within {timeout:?}: {last}"
        )),
    }
}

/// Polls `url` until it answers 200.
pub(crate) fn wait_ok(url: &str, timeout: Duration) -> std::result::Result<(), String> {
    poll(url, timeout, |code, _| {
        if code == 200 {
            Ok(())
        } else {
            Err(format!("it answered {code}"))
        }
    })
    .map(drop)
    .map_err(|last| format!("{url} did not answer 200 within {timeout:?}: {last}"))
}

/// GETs `url` every 250 ms, on new connections, until `accept(status, body)`
/// says yes or `timeout` passes. Ok: seconds taken and polls made; Err: why
/// the last answer was refused.
fn poll(
    url: &str,
    timeout: Duration,
    accept: impl Fn(u16, &str) -> std::result::Result<(), String>,
) -> std::result::Result<(f64, u64), String> {
    let agent = http(Duration::from_secs(3), false);
    let t0 = Instant::now();
    let mut last = String::from("no answer yet");
    let mut polls = 0u64;
    while t0.elapsed() < timeout {
        polls += 1;
        match agent.get(url).call() {
            Ok(mut resp) => {
                let code = resp.status().as_u16();
                let body = resp.body_mut().read_to_string().unwrap_or_default();
                match accept(code, &body) {
                    Ok(()) => return Ok((t0.elapsed().as_secs_f64(), polls)),
                    Err(why) => last = why,
                }
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(last)
}

/// An HTTP client that returns every status as an answer (no redirects to
/// follow here); `keep_alive: false` opens a new connection per request, as
/// a client arriving through the lb would.
pub(crate) fn http(timeout: Duration, keep_alive: bool) -> ureq::Agent {
    let mut b = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false);
    if !keep_alive {
        b = b.max_idle_connections(0);
    }
    b.build().into()
}
