//! The Docker engine, through the `docker` CLI: every call is an argument
//! vector (never a shell string), with `DOCKER_HOST` set per environment.
//!
//! Only what the pipeline needs: images, swarm services, volumes and
//! networks. Waiting is polling with a deadline on the engine's own state
//! (task states, `UpdateStatus`), never a fixed sleep.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::error::{PipelineError, Result};

/// One Docker endpoint.
#[derive(Debug, Clone, Default)]
pub struct Docker {
    host: Option<String>,
    /// The CLI to run: `docker`, or another program in unit tests.
    program: Option<String>,
}

/// How often engine state is polled while waiting.
const POLL: Duration = Duration::from_millis(250);

/// The state of a service's last update, from `docker service inspect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateStatus {
    /// `updating`, `paused`, `completed`, `rollback_started`, `rollback_paused`, `rollback_completed`.
    pub state: String,
    /// Docker's message, e.g. why it rolled back.
    pub message: String,
}

impl Docker {
    /// The engine at `host` (a `DOCKER_HOST` value), or the local one.
    pub fn new(host: Option<String>) -> Docker {
        Docker {
            host,
            program: None,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(self.program.as_deref().unwrap_or("docker"));
        c.args(args);
        if let Some(h) = &self.host {
            c.env("DOCKER_HOST", h);
        }
        c
    }

    /// Runs `docker ARGS`; stdout on success, an error with stderr's tail otherwise.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        tracing::debug!(?args, "docker");
        let out = self
            .command(args)
            .output()
            .map_err(|e| PipelineError::EngineDown {
                detail: format!("cannot run the docker CLI: {e}"),
            })?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
        Err(PipelineError::Docker {
            args: args.join(" "),
            stderr: tail(&String::from_utf8_lossy(&out.stderr), 8),
        })
    }

    /// Like [`Docker::run`], but `Ok(None)` when the command fails (for "exists?" queries).
    pub fn try_run(&self, args: &[&str]) -> Result<Option<String>> {
        match self.run(args) {
            Ok(s) => Ok(Some(s)),
            Err(PipelineError::Docker { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Checks that the engine answers and is a swarm manager.
    pub fn check_swarm(&self) -> Result<()> {
        let state = self
            .run(&[
                "info",
                "--format",
                "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}",
            ])
            .map_err(|e| match e {
                PipelineError::Docker { stderr, .. } => {
                    PipelineError::EngineDown { detail: stderr }
                }
                e => e,
            })?;
        // `docker info` prints a client section even when the daemon is down.
        if state.is_empty() || state.contains("Cannot connect") {
            return Err(PipelineError::EngineDown { detail: state });
        }
        if state != "active true" {
            return Err(PipelineError::NoSwarm { state });
        }
        Ok(())
    }

    /// The id of a running container of a service on this node.
    pub fn service_container(&self, service: &str) -> Result<String> {
        let filter = format!("label=com.docker.swarm.service.name={service}");
        let ids = self.run(&["ps", "-q", "--filter", &filter])?;
        ids.lines()
            .next()
            .map(String::from)
            .ok_or_else(|| PipelineError::Docker {
                args: format!("ps --filter {filter}"),
                stderr: format!("no running container of service {service} on this node"),
            })
    }

    /// `docker FROM... | docker TO...`: the first command's output is the
    /// second's input, through this process (no shell). Returns the bytes
    /// piped. When no byte moves for `stall` (a full disk makes MariaDB wait
    /// for space forever), both are killed and the error says so.
    pub fn pipe(&self, from: &[&str], to: &[&str], stall: Duration) -> Result<u64> {
        use std::io::{Read, Write};
        use std::process::Stdio;
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::Arc;
        let fail = |args: &[&str], stderr: String| PipelineError::Docker {
            args: args.join(" "),
            stderr,
        };
        let mut a = self
            .command(from)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(from, e.to_string()))?;
        let mut b = match self
            .command(to)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(b) => b,
            Err(e) => {
                let _ = a.kill();
                let _ = a.wait();
                return Err(fail(to, e.to_string()));
            }
        };
        let mut out = a.stdout.take().expect("piped");
        let mut inp = b.stdin.take().expect("piped");
        let moved = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&moved);
        let copier = std::thread::spawn(move || -> std::io::Result<()> {
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = out.read(&mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                inp.write_all(&buf[..n])?;
                counter.fetch_add(n as u64, Ordering::Relaxed);
            }
        });
        let (mut seen, mut since) = (0, Instant::now());
        let mut stalled = false;
        while !copier.is_finished() {
            std::thread::sleep(POLL);
            let now = moved.load(Ordering::Relaxed);
            if now != seen {
                (seen, since) = (now, Instant::now());
            } else if since.elapsed() > stall {
                stalled = true;
                let _ = a.kill();
                let _ = b.kill();
                break;
            }
        }
        let copied = copier
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the copy thread panicked")));
        let ra = a
            .wait_with_output()
            .map_err(|e| fail(from, e.to_string()))?;
        let rb = b.wait_with_output().map_err(|e| fail(to, e.to_string()))?;
        let bytes = moved.load(Ordering::Relaxed);
        if stalled {
            return Err(fail(
                to,
                format!(
                    "the copy made no progress for {stall:?} after {bytes} bytes and was stopped: is the destination's disk (its pool) full? {}",
                    tail(&String::from_utf8_lossy(&rb.stderr), 4)
                ),
            ));
        }
        if !ra.status.success() {
            return Err(fail(from, tail(&String::from_utf8_lossy(&ra.stderr), 8)));
        }
        if !rb.status.success() {
            return Err(fail(to, tail(&String::from_utf8_lossy(&rb.stderr), 8)));
        }
        copied.map_err(|e| fail(to, format!("piping: {e}")))?;
        Ok(bytes)
    }

    /// Sets a replicated service's replica count (without waiting).
    pub fn scale(&self, service: &str, replicas: u32) -> Result<()> {
        let n = replicas.to_string();
        self.run(&[
            "service",
            "update",
            "--detach",
            "--quiet",
            "--replicas",
            &n,
            service,
        ])
        .map(drop)
    }

    /// Whether an image exists locally.
    pub fn image_exists(&self, image: &str) -> Result<bool> {
        Ok(self
            .try_run(&["image", "inspect", "--format", "{{.Id}}", image])?
            .is_some())
    }

    /// Whether a service exists.
    pub fn service_exists(&self, name: &str) -> Result<bool> {
        Ok(self
            .try_run(&["service", "inspect", "--format", "{{.ID}}", name])?
            .is_some())
    }

    /// The image a service runs (without the digest).
    pub fn service_image(&self, name: &str) -> Result<String> {
        let s = self.run(&[
            "service",
            "inspect",
            "--format",
            "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
            name,
        ])?;
        Ok(s.split('@').next().unwrap_or_default().to_string())
    }

    /// The service's last update status, if it ever had one.
    pub fn update_status(&self, name: &str) -> Result<Option<UpdateStatus>> {
        let s = self.run(&[
            "service",
            "inspect",
            "--format",
            "{{if .UpdateStatus}}{{.UpdateStatus.State}}|{{.UpdateStatus.Message}}{{end}}",
            name,
        ])?;
        Ok(s.split_once('|').map(|(a, b)| UpdateStatus {
            state: a.to_string(),
            message: b.to_string(),
        }))
    }

    /// Creates an attachable overlay network unless it exists.
    pub fn ensure_network(&self, name: &str) -> Result<bool> {
        if self
            .try_run(&["network", "inspect", "--format", "{{.ID}}", name])?
            .is_some()
        {
            return Ok(false);
        }
        self.run(&[
            "network",
            "create",
            "--driver",
            "overlay",
            "--attachable",
            name,
        ])?;
        Ok(true)
    }

    /// Whether `driver` has a volume `name`.
    ///
    /// Asks that driver only: `docker volume inspect NAME` asks every driver
    /// the engine has ever used, and dockerd retries each driver whose plugin
    /// is gone for 30 s (it remembers them until it restarts).
    pub fn volume_exists(&self, driver: &str, name: &str) -> Result<bool> {
        let d = format!("driver={driver}");
        let n = format!("name={name}");
        let out = self.run(&["volume", "ls", "-q", "--filter", &d, "--filter", &n])?;
        // The name filter matches substrings.
        Ok(out.lines().any(|l| l.trim() == name))
    }

    /// Removes a service and waits until its containers are gone (so that its
    /// volumes are unmounted). Returns whether it existed.
    pub fn remove_service(&self, name: &str, timeout: Duration) -> Result<bool> {
        if !self.service_exists(name)? {
            return Ok(false);
        }
        self.run(&["service", "rm", name])?;
        self.wait_no_containers(name, timeout)?;
        Ok(true)
    }

    /// Waits until no container of service `name` is left on this node.
    pub fn wait_no_containers(&self, name: &str, timeout: Duration) -> Result<()> {
        let filter = format!("label=com.docker.swarm.service.name={name}");
        let deadline = Instant::now() + timeout;
        loop {
            let ids = self.run(&["ps", "-aq", "--filter", &filter])?;
            if ids.is_empty() {
                return Ok(());
            }
            // Stopped ones are removed here rather than left to swarm's task
            // reaper, which takes seconds longer; a container still referencing
            // a volume keeps `docker volume rm` from working.
            let exited = self.run(&[
                "ps",
                "-aq",
                "--filter",
                &filter,
                "--filter",
                "status=exited",
            ])?;
            for id in exited.lines() {
                let _ = self.try_run(&["rm", id]);
            }
            if Instant::now() > deadline {
                return Err(PipelineError::Docker {
                    args: format!("service rm {name}"),
                    stderr: format!("its containers are still there after {timeout:?}: {ids}"),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits until `want` tasks of a service run (and are healthy if the
    /// image has a health check). Gives up early when tasks keep failing
    /// (3 failed or rejected tasks, e.g. "No such image"); the error gives
    /// the tasks' states and Docker's errors.
    pub fn wait_running(&self, name: &str, want: usize, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.run(&[
                "service",
                "ps",
                name,
                "--no-trunc",
                "--format",
                "{{.DesiredState}}|{{.CurrentState}}|{{.Error}}",
            ])?;
            let tasks: Vec<&str> = out.lines().collect();
            let running = tasks
                .iter()
                .filter(|l| l.starts_with("Running|Running"))
                .count();
            let failed: Vec<&&str> = tasks
                .iter()
                .filter(|l| l.contains("|Rejected") || l.contains("|Failed"))
                .collect();
            if running >= want && self.healthy_containers(name)? >= want {
                return Ok(());
            }
            let give_up = failed.len() >= 3;
            if give_up || Instant::now() > deadline {
                let why = if give_up {
                    format!("{} tasks failed", failed.len())
                } else {
                    format!("{running} of {want} tasks running after {timeout:?}")
                };
                return Err(PipelineError::Docker {
                    args: format!("service ps {name}"),
                    stderr: format!(
                        "{why}; latest tasks (desired|current|error): {}",
                        tasks.iter().take(3).copied().collect::<Vec<_>>().join("; ")
                    ),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Running containers of a service that are healthy or have no health check.
    fn healthy_containers(&self, name: &str) -> Result<usize> {
        let filter = format!("label=com.docker.swarm.service.name={name}");
        let out = self.run(&["ps", "--filter", &filter, "--format", "{{.Status}}"])?;
        Ok(out
            .lines()
            .filter(|s| {
                s.starts_with("Up")
                    && !s.contains("(health: starting)")
                    && !s.contains("(unhealthy)")
            })
            .count())
    }

    /// Waits for a service update to end: completed, paused or rolled back.
    pub fn wait_update(&self, name: &str, timeout: Duration) -> Result<UpdateStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.update_status(name)? {
                if matches!(
                    s.state.as_str(),
                    "completed" | "paused" | "rollback_completed" | "rollback_paused"
                ) {
                    return Ok(s);
                }
            }
            if Instant::now() > deadline {
                return Err(PipelineError::Docker {
                    args: format!("service update {name}"),
                    stderr: format!("the update has not ended after {timeout:?}"),
                });
            }
            std::thread::sleep(POLL);
        }
    }
}

/// The last `n` non-empty lines of `s`, joined with " | ".
/// Each line is cut at [`LINE_MAX`] characters: a failing `mariadb` echoes
/// its statement, which can be a multi-megabyte INSERT.
fn tail(s: &str, n: usize) -> String {
    let lines: Vec<String> = s
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.char_indices().nth(LINE_MAX) {
            Some((i, _)) => format!("{}…", &l[..i]),
            None => l.to_string(),
        })
        .collect();
    let from = lines.len().saturating_sub(n);
    lines[from..].join(" | ")
}

/// The longest line of a command's output kept in an error.
const LINE_MAX: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    /// `env PROGRAM ARGS`: runs the pipe's logic on ordinary programs.
    fn env() -> Docker {
        Docker {
            host: None,
            program: Some("env".into()),
        }
    }

    #[test]
    fn a_pipe_moves_the_bytes_and_reports_failures() {
        let d = env();
        let n = d
            .pipe(&["printf", "hello"], &["cat"], Duration::from_secs(5))
            .unwrap();
        assert_eq!(n, 5);
        let e = d
            .pipe(&["false"], &["cat"], Duration::from_secs(5))
            .unwrap_err()
            .to_string();
        assert!(e.contains("false"), "{e}");
    }

    #[test]
    fn a_stalled_pipe_is_stopped_with_a_reason() {
        let t = Instant::now();
        let e = env()
            .pipe(&["sleep", "30"], &["cat"], Duration::from_secs(1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no progress"), "{e}");
        assert!(e.contains("disk"), "{e}");
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "not stopped: {:?}",
            t.elapsed()
        );
    }

    #[test]
    fn tails_keep_the_last_lines() {
        assert_eq!(tail("a\n\nb\nc\n", 2), "b | c");
        assert_eq!(tail("", 3), "");
        let long = "x".repeat(10_000);
        assert_eq!(tail(&long, 1).chars().count(), LINE_MAX + 1);
    }
}
