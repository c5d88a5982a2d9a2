//! A minimal blocking HTTP/1.1 client for the daemon's own sockets.
//!
//! Docker speaks to plugins over unix sockets, which common HTTP clients do
//! not reach; tests, benchmarks and the CLI use this to speak to the plugin
//! socket and the REST API exactly as dockerd and scripts do: one request
//! per connection, `Connection: close`, a JSON body.

use std::io::{Read, Write};
use std::path::Path;

/// An HTTP answer: status and body (parsed as JSON when it is JSON, else a string).
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// The body.
    pub body: serde_json::Value,
}

/// Sends one request on `stream` and reads the whole answer.
pub fn exchange(
    mut stream: impl Read + Write,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> std::io::Result<Answer> {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
    // One write: a server that answers without reading the body may close early.
    let mut all = req.into_bytes();
    all.extend_from_slice(body);
    stream.write_all(&all)?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => raw.extend_from_slice(&buf[..k]),
            // The answer arrived before the reset (a server closing with our body unread).
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !raw.is_empty() => break,
            Err(e) => return Err(e),
        }
    }
    parse(&raw)
}

fn parse(raw: &[u8]) -> std::io::Result<Answer> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let text = String::from_utf8_lossy(raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| bad("no HTTP header in the answer"))?;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no HTTP status in the answer"))?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    let body = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
    Ok(Answer { status, body })
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest.get(n + 2..).unwrap_or("");
    }
    out
}

/// POSTs a plugin call (`VolumeDriver.Create`, …) to a plugin socket.
pub fn plugin_call(
    socket: &Path,
    method: &str,
    body: &serde_json::Value,
) -> std::io::Result<Answer> {
    let s = std::os::unix::net::UnixStream::connect(socket)?;
    exchange(
        s,
        "POST",
        &format!("/{method}"),
        None,
        body.to_string().as_bytes(),
    )
}

/// One REST call over TCP.
pub fn api_call(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> std::io::Result<Answer> {
    let s = std::net::TcpStream::connect(addr)?;
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    exchange(s, method, path, token, &bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_answers() {
        let a = super::parse(b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\n{\"a\":1}\n")
            .expect("valid");
        assert_eq!((a.status, a.body["a"].as_i64()), (200, Some(1)));
        let a = super::parse(
            b"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        )
        .expect("valid");
        assert_eq!((a.status, a.body.as_str()), (404, Some("abc")));
        assert!(super::parse(b"garbage").is_err());
    }
}
