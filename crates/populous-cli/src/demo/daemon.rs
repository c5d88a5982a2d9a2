//! The demo's `populous serve`, a child in its own session (so that Ctrl-C on
//! the demo does not take the plugins away from running services).

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::Names;

fn pid_file(n: &Names) -> PathBuf {
    n.home.join("daemon.pid")
}

fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(s) => s
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|st| st != "Z" && st != "X"),
        Err(_) => false,
    }
}

/// The daemon's pid if the pid file names a live `populous ... serve` of this home.
pub fn running_pid(n: &Names) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file(n))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = cmd
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let home = n.home.to_string_lossy();
    let ours = args.iter().any(|a| a == "serve") && args.iter().any(|a| *a == home);
    (ours && alive(pid)).then_some(pid)
}

fn api_answers(listen: &str) -> bool {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .http_status_as_error(false)
        .build()
        .into();
    agent
        .get(&format!("http://{listen}/healthz"))
        .call()
        .is_ok_and(|r| r.status().as_u16() == 200)
}

/// Starts `populous --home HOME serve` (config in HOME/populous.toml) and
/// waits until its API and every plugin socket answer.
pub fn start(n: &Names) -> Result<u32> {
    let text = std::fs::read_to_string(n.config_file())?;
    let config = populous_daemon::Config::parse(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", n.config_file().display()))?;
    let log_path = n.home.join("daemon.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let mut c = Command::new(std::env::current_exe().context("finding this executable")?);
    c.arg("--home")
        .arg(&n.home)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe and touches no memory.
    unsafe {
        c.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = c.spawn().context("starting populous serve")?;
    let pid = child.id();
    std::fs::write(pid_file(n), format!("{pid}\n"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            bail!(
                "populous serve exited at start ({status}); its log {}:\n{}",
                log_path.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let sockets = config.plugins.iter().all(|p| {
            config
                .plugin_dir
                .join(format!("{}.sock", p.driver))
                .exists()
        });
        if sockets && api_answers(&config.listen) {
            return Ok(pid);
        }
        if Instant::now() > deadline {
            bail!(
                "populous serve (pid {pid}) did not answer on {} within 30 s; log {}",
                config.listen,
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGTERM, then waits (SIGKILL after 60 s).
pub fn stop(n: &Names, pid: u32) -> Result<()> {
    let pid_t = pid as libc::pid_t;
    // SAFETY: plain syscalls on a pid we checked is our daemon.
    unsafe {
        libc::kill(pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while alive(pid) {
        // Reaps it when it is our child; harmless otherwise.
        // SAFETY: waitpid with a null status pointer and WNOHANG never blocks or writes.
        unsafe {
            libc::waitpid(pid_t, std::ptr::null_mut(), libc::WNOHANG);
        }
        if Instant::now() > deadline {
            // SAFETY: a plain syscall on the pid checked above.
            unsafe {
                libc::kill(pid_t, libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(200));
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_file(pid_file(n));
    Ok(())
}
