//! `populous bench daemon`: the daemon under load, as a child process:
//! plugin clone time against size (over the socket, and through `docker
//! volume create` with `--docker`), the REST API's clone and list with many
//! volumes present, and the daemon's RSS.

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use populous_engine::size::{format_size, parse_size};
use populous_engine::{Engine, FsKind, VolRef, VolumeOptions};
use serde::Serialize;

use crate::bench::{bar, fill, median, ms, n, Cleanup};
use crate::cli::BenchDaemon;

#[derive(Debug, Serialize)]
struct DaemonResult {
    small_bytes: u64,
    large_bytes: u64,
    /// plugin `VolumeDriver.Create` with cloneOf, over the socket, medians (ms)
    plugin_clone_small_ms: f64,
    plugin_clone_large_ms: f64,
    plugin_large_over_small: f64,
    /// `docker volume create -o cloneOf=…`, medians (ms), with --docker
    docker_clone_small_ms: Option<f64>,
    docker_clone_large_ms: Option<f64>,
    docker_large_over_small: Option<f64>,
    volumes_present: usize,
    api_clone_ms: f64,
    api_list_ms: f64,
    rss_idle_start_kib: u64,
    rss_after_load_kib: u64,
}

/// Kills the daemon child and removes its sockets even if the bench fails.
struct Child(std::process::Child, Vec<PathBuf>);

impl Drop for Child {
    fn drop(&mut self) {
        // SAFETY: signalling our own child process by pid.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let _ = self.0.wait();
        for s in &self.1 {
            let _ = fs::remove_file(s);
        }
    }
}

fn rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn timed(runs: usize, mut f: impl FnMut(usize) -> Result<()>) -> Result<f64> {
    let mut t = Vec::with_capacity(runs);
    for i in 0..runs {
        let start = Instant::now();
        f(i)?;
        t.push(ms(start.elapsed()));
    }
    Ok(median(&mut t))
}

/// Runs the daemon benchmark.
pub fn run(args: &BenchDaemon, json: bool) -> Result<()> {
    use populous_daemon::client::{api_call, plugin_call};
    use serde_json::json;
    let mut sizes = args
        .sizes
        .iter()
        .map(|s| parse_size(s))
        .collect::<Result<Vec<_>, _>>()?;
    sizes.sort_unstable();
    anyhow::ensure!(sizes.len() == 2, "give two --sizes: small,large");
    let (small, large) = (sizes[0], sizes[1]);
    let work = args
        .dir
        .join(format!("populous-bench-daemon-{}", std::process::id()));
    fs::create_dir_all(&work)?;
    let _cleanup = Cleanup::new(work.clone());
    let home = work.join("home");
    let mut engine = Engine::open(&home)?;
    engine.pool_create_image(
        &n("pool", "bench")?,
        &work.join("bench.img"),
        (small + large) * 3 / 2 + (2 << 30),
        FsKind::Btrfs,
        None,
    )?;
    engine.folder_create(&"bench/bench".parse()?, &Default::default())?;
    for (name, size) in [("small", small), ("large", large)] {
        let v: VolRef = format!("bench/{name}").parse()?;
        engine.volume_create(&v, &VolumeOptions::default())?;
        let pb = bar(size, &format!("fill {}", format_size(size)), true);
        fill(&engine.volume_path(&v)?, size, &pb)?;
        pb.finish_and_clear();
    }
    let (_, admin) = engine.token_create_admin(&n("token", "bench-admin")?)?;
    // A fixed name: dockerd keeps every driver it has used, and a gone one
    // slows lookups by 30 s each; the next bench run revives this one.
    let driver = "populous-bench".to_string();
    let plugin_dir = if args.docker {
        PathBuf::from("/run/docker/plugins")
    } else {
        work.join("plugins")
    };
    let config = work.join("populous.toml");
    fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nplugin_dir = \"{}\"\n[[plugin]]\ndriver = \"{driver}\"\nfolder = \"bench\"\n",
            plugin_dir.display()
        ),
    )?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .arg("--home")
        .arg(&home)
        .args(["--json", "serve", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().context("daemon stdout")?),
        &mut line,
    )?;
    let bound: serde_json::Value = serde_json::from_str(&line).context("daemon did not start")?;
    let socket = PathBuf::from(bound["sockets"][0].as_str().context("no plugin socket")?);
    let api: std::net::SocketAddr = bound["api"].as_str().context("no api address")?.parse()?;
    let pid = child.id();
    let child = Child(child, vec![socket.clone()]);
    let rss_idle_start_kib = rss_kib(pid);

    let plugin = |src: &str, runs: usize, tag: &str| {
        timed(runs, |i| {
            let a = plugin_call(
                &socket,
                "VolumeDriver.Create",
                &json!({"Name": format!("{tag}-{i}"), "Opts": {"cloneOf": src}}),
            )?;
            anyhow::ensure!(a.body["Err"] == "", "plugin create failed: {}", a.body);
            Ok(())
        })
    };
    let plugin_clone_small_ms = plugin("small", args.runs, "ps")?;
    let plugin_clone_large_ms = plugin("large", args.runs, "pl")?;
    let (mut docker_small, mut docker_large) = (None, None);
    if args.docker {
        let docker = |src: &str, tag: &str| {
            timed(args.runs, |i| {
                let out = std::process::Command::new("docker")
                    .args([
                        "volume",
                        "create",
                        "-d",
                        &driver,
                        "-o",
                        &format!("cloneOf={src}"),
                    ])
                    .arg(format!("{tag}-{i}"))
                    .output()?;
                anyhow::ensure!(
                    out.status.success(),
                    "docker volume create: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                Ok(())
            })
        };
        docker_small = Some(docker("small", "ds")?);
        docker_large = Some(docker("large", "dl")?);
        for tag in ["ds", "dl"] {
            for i in 0..args.runs {
                let _ = std::process::Command::new("docker")
                    .args(["volume", "rm", &format!("{tag}-{i}")])
                    .output();
            }
        }
    }
    let pb = bar(args.volumes as u64, "volumes", false);
    for i in 0..args.volumes {
        engine.volume_create(
            &format!("bench/v{i:05}").parse()?,
            &VolumeOptions::default(),
        )?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    let token = Some(admin.as_str());
    let api_clone_ms = timed(args.runs, |i| {
        let body = json!({"source": "bench/small", "target": format!("bench/api-{i}")});
        let a = api_call(api, "POST", "/v1/clone", token, Some(&body))?;
        anyhow::ensure!(a.status == 201, "API clone: {}", a.body);
        Ok(())
    })?;
    let api_list_ms = timed(args.runs.max(20), |_| {
        let a = api_call(api, "GET", "/v1/folders/bench/volumes", token, None)?;
        anyhow::ensure!(
            a.body.as_array().is_some_and(|v| v.len() >= args.volumes),
            "API list: {}",
            a.status
        );
        Ok(())
    })?;
    let r = DaemonResult {
        small_bytes: small,
        large_bytes: large,
        plugin_clone_small_ms,
        plugin_clone_large_ms,
        plugin_large_over_small: plugin_clone_large_ms / plugin_clone_small_ms,
        docker_clone_small_ms: docker_small,
        docker_clone_large_ms: docker_large,
        docker_large_over_small: docker_small.zip(docker_large).map(|(s, l)| l / s),
        volumes_present: args.volumes + 2 + 2 * args.runs,
        api_clone_ms,
        api_list_ms,
        rss_idle_start_kib,
        rss_after_load_kib: rss_kib(pid),
    };
    drop(child);
    if json {
        return crate::output::json(&r);
    }
    println!(
        "plugin Create cloneOf, {}: {:.2} ms; {}: {:.2} ms; large/small = {:.2}",
        format_size(small),
        r.plugin_clone_small_ms,
        format_size(large),
        r.plugin_clone_large_ms,
        r.plugin_large_over_small
    );
    if let (Some(s), Some(l)) = (r.docker_clone_small_ms, r.docker_clone_large_ms) {
        println!(
            "docker volume create -o cloneOf, {}: {s:.1} ms; {}: {l:.1} ms; large/small = {:.2}",
            format_size(small),
            format_size(large),
            l / s
        );
    }
    println!(
        "with {} volumes: API clone {:.2} ms, API list {:.2} ms (medians)",
        r.volumes_present, r.api_clone_ms, r.api_list_ms
    );
    println!(
        "daemon RSS: {:.1} MiB idle at start, {:.1} MiB after the load (target <= 50 MB idle)",
        r.rss_idle_start_kib as f64 / 1024.0,
        r.rss_after_load_kib as f64 / 1024.0
    );
    Ok(())
}
