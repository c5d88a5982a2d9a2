//! The environment's services on the swarm: the db, the app (global, or
//! replicas with an update policy) and the lb in front of replicas; their
//! data volume through the environment's volume driver.

use std::time::{Duration, Instant};

use super::{Run, SERVICE_START, SERVICE_STOP};
use crate::error::Result;
use crate::spec::Role;

impl Run<'_> {
    pub(super) fn start_services(&self) -> Result<()> {
        let n = &self.names;
        let db_image = self.p.db_image(&self.tag);
        let app_image = self.p.app_image(&self.tag);
        let mount = format!(
            "type=volume,source={},target=/var/lib/mysql,volume-driver={}",
            self.docker_volume, self.env.driver
        );
        self.say(Role::Run, &format!("service {} ({db_image})", n.db));
        let mut db = owned(&[
            "--replicas",
            "1",
            "--stop-grace-period",
            "60s",
            "--mount",
            &mount,
        ]);
        if let Some(port) = self.env.db.port {
            db.extend([
                "--publish".into(),
                format!("published={port},target=3306,mode=host"),
            ]);
        }
        self.create_service(&n.db, db, true, &db_image, &self.env.db.args)?;

        let db_url = format!("POPULOUS_DB_URL=mysql://root@{}:3306/populous", n.db);
        let mut app = owned(&["--env", &db_url, "--stop-grace-period", "20s"]);
        let publish = format!("published={},target=8080,mode=host", self.env.port);
        match self.env.app.replicas {
            Some(r) => {
                app.extend(["--replicas".into(), r.to_string()]);
                app.extend(self.update_policy());
            }
            // One task per node: the host port allows no overlap, so stop-first.
            None => app.extend(owned(&["--mode", "global", "--update-order", "stop-first"])),
        }
        if self.plan.lb_repository.is_none() {
            app.extend(["--publish".into(), publish.clone()]);
        }
        self.say(Role::Run, &format!("service {} ({app_image})", n.app));
        self.create_service(&n.app, app, true, &app_image, &[])?;

        if let Some(lb_repository) = &self.plan.lb_repository {
            let lb_image = self.p.image_at(lb_repository, &self.tag);
            let target = format!("POPULOUS_LB_SERVICE={}", n.app);
            self.say(
                Role::Run,
                &format!("service {} ({lb_image}) on :{}", n.lb, self.env.port),
            );
            let lb = owned(&["--env", &target, "--publish", &publish]);
            self.create_service(&n.lb, lb, false, &lb_image, &[])?;
        }
        let t = Instant::now();
        self.docker.wait_running(&n.db, 1, SERVICE_START)?;
        self.say(
            Role::Run,
            &format!("{} running after {:.1} s", n.db, t.elapsed().as_secs_f64()),
        );
        self.docker.wait_running(
            &n.app,
            self.env.app.replicas.unwrap_or(1) as usize,
            SERVICE_START,
        )?;
        self.say(
            Role::Run,
            &format!("{} healthy after {:.1} s", n.app, t.elapsed().as_secs_f64()),
        );
        if self.plan.lb_repository.is_some() {
            self.docker.wait_running(&n.lb, 1, SERVICE_START)?;
        }
        Ok(())
    }

    /// `docker service create` of `name` on the environment's network, then
    /// `more` options, the run's labels when `labelled`, `image` and its
    /// arguments `image_args`. DNS round robin, no virtual IP: ports are published
    /// in host mode, and the lb finds the app's tasks by DNS.
    fn create_service(
        &self,
        name: &str,
        more: Vec<String>,
        labelled: bool,
        image: &str,
        image_args: &[String],
    ) -> Result<()> {
        let mut args = owned(&[
            "service",
            "create",
            "--detach",
            "--quiet",
            "--name",
            name,
            "--network",
            &self.names.net,
            "--endpoint-mode",
            "dnsrr",
        ]);
        args.extend(more);
        if labelled {
            for l in [
                format!("org.populous.pipeline={}", self.p.file.name),
                format!("org.populous.env={}", self.env_name),
                format!("org.populous.build={}", self.tag),
            ] {
                args.extend(["--label".into(), l]);
            }
        }
        args.push(image.to_string());
        args.extend(image_args.iter().cloned());
        self.docker.run(&as_strs(&args)).map(drop)
    }

    /// `docker volume create --driver DRIVER [--opt O]... --name VOLUME`.
    pub(super) fn create_volume(&self, opts: &[&str]) -> Result<()> {
        let mut args = vec!["volume", "create", "--driver", &self.env.driver];
        for o in opts {
            args.extend(["--opt", o]);
        }
        args.extend(["--name", &self.docker_volume]);
        self.docker.run(&args).map(drop)
    }

    /// Removes the environment's services (lb, app, db) and waits for their containers.
    pub(super) fn remove_services(&self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for s in [&self.names.lb, &self.names.app, &self.names.db] {
            if self.docker.service_exists(s)? {
                removed.push(s.clone());
            }
        }
        if removed.is_empty() {
            return Ok(removed);
        }
        // One `service rm` for all: their tasks stop in parallel.
        let mut args = vec!["service", "rm"];
        args.extend(removed.iter().map(String::as_str));
        self.docker.run(&args)?;
        for s in &removed {
            self.docker.wait_no_containers(s, SERVICE_STOP)?;
        }
        self.hooks.say(
            &self.env_name,
            None,
            &format!("removed services {}", removed.join(", ")),
        );
        Ok(removed)
    }

    /// The app service's update and rollback policy, as `docker service` flags.
    pub(super) fn update_policy(&self) -> Vec<String> {
        let u = &self.env.update;
        let (par, delay, monitor) = (u.parallelism.to_string(), secs(u.delay), secs(u.monitor));
        let action = if u.rollback { "rollback" } else { "pause" };
        [
            "--update-parallelism",
            &par,
            "--update-delay",
            &delay,
            "--update-order",
            &u.order,
            "--update-monitor",
            &monitor,
            "--update-failure-action",
            action,
            "--rollback-parallelism",
            &par,
            "--rollback-order",
            &u.order,
            "--rollback-monitor",
            &monitor,
        ]
        .map(String::from)
        .into()
    }
}

/// A duration as `docker service` takes it.
fn secs(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// Owned arguments from `&str`s.
fn owned(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// `&str`s of owned arguments, for [`crate::docker::Docker::run`].
pub(super) fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_milliseconds() {
        assert_eq!(secs(Duration::from_secs(2)), "2000ms");
    }
}
