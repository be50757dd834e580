//! `docker-compose`: resizes the Compose service with
//! `docker compose -f FILE up -d --scale SERVICE=N --no-recreate` (running containers are kept
//! as they are), then has nginx re-resolve the service (`exec -T nginx nginx -s reload`).
//! Instances are found through Docker's DNS (`AUTOSCALER_TARGETS=dns+http://app:3000`).
//!
//! Compose removes containers with SIGTERM and the service's stop grace period; the app fails
//! its readiness at once and nginx retries idempotent requests on the next instance. For a drain
//! before the signal, use the `local` actuator's nginx-first order or Kubernetes' preStop hook.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Actuator, ActuatorStatus, BoxFuture, FleetView, Journal, Targets};
use crate::Error;

/// How the Compose project is driven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeConfig {
    /// The docker CLI (`AUTOSCALER_DOCKER`, default `docker`, found through `PATH`).
    pub docker: PathBuf,
    /// The Compose file (`AUTOSCALER_COMPOSE_FILE`, default `deploy/docker-compose.scale.yml`).
    pub file: PathBuf,
    /// The service to scale (`AUTOSCALER_COMPOSE_SERVICE`, default `app`).
    pub service: String,
    /// The nginx service reloaded after a resize (`AUTOSCALER_COMPOSE_NGINX`, default `nginx`;
    /// empty: none).
    pub nginx_service: Option<String>,
    /// Longest a docker command may run.
    pub timeout: Duration,
}

impl Default for ComposeConfig {
    fn default() -> Self {
        Self {
            docker: "docker".into(),
            file: "deploy/docker-compose.scale.yml".into(),
            service: "app".into(),
            nginx_service: Some("nginx".into()),
            timeout: Duration::from_secs(300),
        }
    }
}

/// Drives a Compose service.
#[derive(Debug)]
pub struct Compose {
    config: ComposeConfig,
    targets: Targets,
    journal: Journal,
    /// The count last applied, else the count last observed.
    known: Mutex<Option<u32>>,
    /// One resize at a time.
    running: tokio::sync::Mutex<()>,
}

impl Compose {
    /// An actuator for `config`, finding instances through `targets`.
    pub fn new(config: ComposeConfig, targets: Targets) -> Self {
        let detail = format!(
            "service {} of {} (docker: {})",
            config.service,
            config.file.display(),
            config.docker.display()
        );
        Self {
            config,
            targets,
            journal: Journal::new("docker-compose", detail),
            known: Mutex::new(None),
            running: tokio::sync::Mutex::new(()),
        }
    }

    async fn docker(&self, args: &[String]) -> Result<(), Error> {
        let shown = format!("{} {}", self.config.docker.display(), args.join(" "));
        let child = tokio::process::Command::new(&self.config.docker)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(self.config.timeout, child)
            .await
            .map_err(|_| {
                Error::actuator(
                    "docker-compose",
                    format!("`{shown}` did not finish within {:?}", self.config.timeout),
                )
            })?
            .map_err(|e| {
                Error::actuator(
                    "docker-compose",
                    format!("cannot run `{shown}`: {e} (is the docker CLI installed? set AUTOSCALER_DOCKER)"),
                )
            })?;
        if !out.status.success() {
            return Err(Error::actuator(
                "docker-compose",
                format!("`{shown}` failed ({}): {}", out.status, tail(&out.stderr)),
            ));
        }
        Ok(())
    }

    fn compose_args(&self, rest: &[&str]) -> Vec<String> {
        let mut args = vec![
            "compose".to_owned(),
            "-f".to_owned(),
            self.config.file.display().to_string(),
        ];
        args.extend(rest.iter().map(|s| (*s).to_owned()));
        args
    }
}

impl Actuator for Compose {
    fn kind(&self) -> &'static str {
        "docker-compose"
    }

    fn observe(&self) -> BoxFuture<'_, Result<FleetView, Error>> {
        Box::pin(async move {
            let instances = self.targets.resolve().await;
            let listed = u32::try_from(instances.len()).unwrap_or(u32::MAX);
            let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            let applied = *known.get_or_insert(listed);
            // Containers asked for but not in Docker's DNS yet are starting.
            Ok(FleetView {
                instances,
                pending: applied.saturating_sub(listed),
            })
        })
    }

    fn scale_to(&self, target: u32) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            let _one_at_a_time = self.running.lock().await;
            self.journal.set_desired(target);
            if *self.known.lock().unwrap_or_else(|p| p.into_inner()) == Some(target) {
                return Ok(());
            }
            let started = Instant::now();
            let scale = format!("{}={target}", self.config.service);
            let result = self
                .docker(&self.compose_args(&["up", "-d", "--scale", &scale, "--no-recreate"]))
                .await;
            if let Err(e) = result {
                self.journal.error(e.to_string());
                return Err(e);
            }
            *self.known.lock().unwrap_or_else(|p| p.into_inner()) = Some(target);
            if let Some(nginx) = &self.config.nginx_service {
                let reload = self
                    .docker(&self.compose_args(&["exec", "-T", nginx, "nginx", "-s", "reload"]))
                    .await;
                if let Err(e) = reload {
                    self.journal
                        .error(format!("scaled to {target}, but nginx did not reload: {e}"));
                    return Err(e);
                }
            }
            self.journal.action(format!(
                "scaled {} to {target} in {:.1} s",
                self.config.service,
                started.elapsed().as_secs_f64()
            ));
            Ok(())
        })
    }

    fn status(&self) -> ActuatorStatus {
        self.journal.snapshot(Vec::new())
    }
}

/// The end of a command's output, for an error message.
pub(crate) fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(5);
    let tail = lines[start..].join(" | ");
    if tail.is_empty() {
        "no output".into()
    } else {
        tail
    }
}
