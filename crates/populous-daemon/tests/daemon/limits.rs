//! Connection limits: a flood of half-open connections does not lock out a
//! client that sends its request, half-sent requests and idle connections are
//! closed on time, on the TCP API and on a plugin's unix socket alike.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use populous_daemon::Config;
use serde_json::json;

use crate::common::{call, get, plugins_config, setup, Pool, Server};

/// Raises this process's open-file limit to at least `n` (the soft limit up
/// to the hard one); fails the test when the hard limit is lower.
pub fn ensure_open_files(n: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write only the struct on this frame.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < n {
            assert!(
                lim.rlim_max >= n,
                "this test needs {n} open files; the hard limit is {}",
                lim.rlim_max
            );
            lim.rlim_cur = n;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
    }
}

/// A request head cut short: no blank line, so the server waits for more.
pub const HALF_HEAD: &[u8] = b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Bea";

/// The number of half-open connections of the flood: more than the 1,024
/// files a daemon usually may open, and 4x the default cap.
pub const FLOOD: usize = 1_100;

/// The value of a counter in the metrics text.
fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn metrics(srv: &Server) -> String {
    let (s, m) = get(srv, "/metrics", None);
    assert_eq!(s, 200);
    m.as_str().expect("metrics text").to_owned()
}

/// 1,100 half-open connections on each listener, with the default cap (256)
/// and a header timeout far longer than the test: a client that sends its
/// request is still served, because the newest connections evict the ones
/// that have waited longest for a request.
pub fn flood_of_half_open_connections(pool: Pool) {
    // Both pool variants may flood at once: 2 x (1,100 clients + 256 held), and the rest.
    ensure_open_files(4096);
    let (lab, t) = setup(pool);
    let mut config = plugins_config(&lab, &t);
    config.listen = "127.0.0.1:0".into();
    config.header_timeout = Duration::from_secs(600);
    assert_eq!(config.max_connections, Config::default().max_connections);
    let cap = config.max_connections;
    let srv = Server::start(&lab.home(), config);

    let flood: Vec<TcpStream> = (0..FLOOD)
        .map(|_| {
            let mut s = TcpStream::connect(srv.api()).expect("connect");
            s.write_all(HALF_HEAD).expect("half a head");
            s
        })
        .collect();
    let start = Instant::now();
    let (s, v) = get(&srv, "/v1/whoami", Some(&t["dev"]));
    assert_eq!((s, &v["name"]), (200, &json!("dev")), "{v}");
    let took = start.elapsed();
    let m = metrics(&srv);
    let evicted = metric(
        &m,
        r#"populous_connection_events_total{surface="api",event="evicted"} "#,
    );
    assert!(
        evicted >= (FLOOD - cap) as u64,
        "{evicted} evicted of {FLOOD} over a cap of {cap}; whoami took {took:?}\n{m}"
    );
    // The evicted connections are closed, not left hanging: the oldest reads EOF.
    let mut oldest = &flood[0];
    oldest
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    assert_eq!(oldest.read(&mut [0u8; 64]).expect("EOF, not a timeout"), 0);
    drop(flood);

    let sock = srv.sockets[0].clone();
    let flood: Vec<UnixStream> = (0..FLOOD)
        .map(|_| {
            let mut s = UnixStream::connect(&sock).expect("connect");
            s.write_all(b"POST /VolumeDriver.List HTTP/1.1\r\nHost: x\r\nContent-Le")
                .expect("half a head");
            s
        })
        .collect();
    assert_eq!(
        call(&sock, "Plugin.Activate", json!({}))["Implements"][0],
        "VolumeDriver"
    );
    let m = metrics(&srv);
    let evicted = metric(
        &m,
        r#"populous_connection_events_total{surface="pd",event="evicted"} "#,
    );
    assert!(evicted >= (FLOOD - cap) as u64, "{evicted}\n{m}");
    drop(flood);
}

/// Reads one HTTP answer (head and Content-Length body) off a kept-alive
/// connection, without waiting for the connection to close.
fn read_answer(s: &mut impl Read) -> String {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).expect("answer head"), 1, "closed early");
        raw.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("content-length");
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("answer body");
    raw.extend_from_slice(&body);
    String::from_utf8_lossy(&raw).into_owned()
}

/// How long until the server closes `s` (reads up to EOF; the read timeout
/// only fails a test whose server never closes).
fn time_to_close(mut s: impl Read, since: Instant) -> Duration {
    let mut sink = Vec::new();
    s.read_to_end(&mut sink)
        .expect("the server closes the connection");
    since.elapsed()
}

/// A half-sent head, a silent connection and a stalled body are closed after
/// the header timeout; a kept-alive connection serves several requests and
/// is closed after the (longer) idle timeout.
pub fn timeouts_close_slow_connections(pool: Pool) {
    let (lab, t) = setup(pool);
    let header = Duration::from_secs(1);
    let idle = Duration::from_secs(3);
    let mut config = plugins_config(&lab, &t);
    config.listen = "127.0.0.1:0".into();
    config.header_timeout = header;
    config.idle_timeout = idle;
    let srv = Server::start(&lab.home(), config);
    let api = srv.api();
    let sock = srv.sockets[0].clone();
    let safety = Some(Duration::from_secs(30));
    let dev = t["dev"].clone();

    let tcp = move || {
        let s = TcpStream::connect(api).expect("connect");
        s.set_read_timeout(safety).expect("timeout");
        s
    };
    let half_sent = std::thread::spawn(move || {
        let mut s = tcp();
        let start = Instant::now();
        s.write_all(HALF_HEAD).expect("half a head");
        time_to_close(s, start)
    });
    let silent = std::thread::spawn(move || time_to_close(tcp(), Instant::now()));
    let plugin_half_sent = std::thread::spawn(move || {
        let mut s = UnixStream::connect(&sock).expect("connect");
        s.set_read_timeout(safety).expect("timeout");
        let start = Instant::now();
        s.write_all(b"POST /Plugin.Activate HTTP/1.1\r\n")
            .expect("half a head");
        time_to_close(s, start)
    });
    let stalled_body = {
        let dev = dev.clone();
        std::thread::spawn(move || {
            let mut s = tcp();
            let start = Instant::now();
            let head = format!(
                "POST /v1/clone HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {dev}\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{{\"sou"
            );
            s.write_all(head.as_bytes())
                .expect("head and a bit of body");
            let answer = read_answer(&mut s);
            (answer, start.elapsed())
        })
    };
    let kept_alive = std::thread::spawn(move || {
        let mut s = tcp();
        let req =
            format!("GET /v1/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {dev}\r\n\r\n");
        for _ in 0..3 {
            s.write_all(req.as_bytes()).expect("request");
            let a = read_answer(&mut s);
            assert!(a.starts_with("HTTP/1.1 200"), "{a}");
        }
        time_to_close(s, Instant::now())
    });

    let margin = Duration::from_secs(2);
    for (what, h) in [
        ("half-sent head", half_sent),
        ("silent connection", silent),
        ("half-sent head on the plugin socket", plugin_half_sent),
    ] {
        let took = h.join().expect(what);
        assert!(
            took >= header && took < header + margin,
            "{what}: closed after {took:?}, header_timeout {header:?}"
        );
    }
    let (answer, took) = stalled_body.join().expect("stalled body");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("did not arrive in time"), "{answer}");
    assert!(took >= header && took < header + margin, "{took:?}");
    let took = kept_alive.join().expect("kept alive");
    assert!(
        took >= idle && took < idle + margin,
        "idle connection closed after {took:?}, idle_timeout {idle:?}"
    );
    let m = metrics(&srv);
    assert!(
        metric(
            &m,
            r#"populous_connection_events_total{surface="api",event="header_timeout"} "#
        ) >= 2,
        "{m}"
    );
    assert!(
        metric(
            &m,
            r#"populous_connection_events_total{surface="pd",event="header_timeout"} "#
        ) >= 1,
        "{m}"
    );
    assert!(
        metric(
            &m,
            r#"populous_connection_events_total{surface="api",event="idle_timeout"} "#
        ) >= 1,
        "{m}"
    );
}

/// When every connection at the cap is serving a request, a new one is
/// answered 503 in the surface's error shape and closed at once; the slots
/// come back when those requests end.
pub fn cap_refuses_when_every_connection_is_busy(pool: Pool) {
    let (lab, t) = setup(pool);
    let mut config = plugins_config(&lab, &t);
    config.listen = "127.0.0.1:0".into();
    config.max_connections = 2;
    config.header_timeout = Duration::from_secs(2);
    let srv = Server::start(&lab.home(), config);
    let dev = &t["dev"];
    // Two requests whose body never comes. `Expect: 100-continue` makes the
    // server say when its handler starts reading the body: from then on the
    // connection is serving a request, and cannot be evicted.
    let busy: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(srv.api()).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(30)))
                .expect("timeout");
            let head = format!(
                "POST /v1/clone HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {dev}\r\nContent-Type: application/json\r\nContent-Length: 40\r\nExpect: 100-continue\r\n\r\n"
            );
            s.write_all(head.as_bytes()).expect("head");
            let mut line = [0u8; 25];
            s.read_exact(&mut line).expect("100 Continue");
            assert_eq!(&line, b"HTTP/1.1 100 Continue\r\n\r\n");
            s
        })
        .collect();
    // A third connection: refused straight away, with the API's JSON error.
    let mut third = TcpStream::connect(srv.api()).expect("connect");
    third
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut answer = String::new();
    third.read_to_string(&mut answer).expect("refusal");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains(r#""code":"unavailable""#), "{answer}");
    // The busy requests fail on their body timeout; then there is room again.
    for mut s in busy {
        let a = read_answer(&mut s);
        assert!(a.starts_with("HTTP/1.1 400"), "{a}");
    }
    let (s, v) = get(&srv, "/v1/whoami", Some(dev));
    assert_eq!((s, &v["name"]), (200, &json!("dev")), "{v}");
    let m = metrics(&srv);
    assert!(
        metric(
            &m,
            r#"populous_connection_events_total{surface="api",event="refused"} "#
        ) >= 1,
        "{m}"
    );
}
