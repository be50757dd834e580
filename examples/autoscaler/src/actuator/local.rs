//! `local`: the fleet of `scripts/deploy-scaling.sh local`, app processes on this machine behind
//! nginx. Instances are started, drained and stopped only through the fleet's own
//! `scripts/fleet/instance.sh` (deploy/README.md, "An instance's life"), so there is one
//! implementation of each step:
//!
//! - up: `instance.sh next-port`, then `instance.sh start PORT` (start, wait until ready,
//!   register in nginx's upstream and reload);
//! - down: `instance.sh stop PORT` for the newest instance (out of nginx's upstream first,
//!   wait until nginx has no request on it, then SIGTERM, SIGKILL after the grace period);
//! - an instance whose process died is stopped (taken out of the upstream) and replaced.
//!
//! Starts and stops run in the background: a tick never waits for an instance to boot. Each
//! tick's [`observe`](Actuator::observe) lists the instances (`instance.sh list`) and moves the
//! fleet on towards the last target.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::compose::tail;
use super::{Actuator, ActuatorStatus, BoxFuture, FleetView, Instance, Journal, Phase};
use crate::Error;

/// Where the fleet lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalConfig {
    /// The fleet's state directory (`CLIP_FLEET_DIR`).
    pub fleet_dir: PathBuf,
    /// The directory holding `instance.sh` (`AUTOSCALER_FLEET_SCRIPTS`, default the
    /// repository's `scripts/fleet`).
    pub scripts: PathBuf,
    /// Path of the instances' Prometheus page.
    pub metrics_path: String,
}

impl LocalConfig {
    /// The `scripts/fleet` directory of the repository this binary was built from.
    pub fn default_scripts() -> PathBuf {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fleet");
        path.canonicalize().unwrap_or(path)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Starting(Instant),
    Stopping(Instant),
}

#[derive(Debug, Default)]
struct Ops {
    running: BTreeMap<u16, Op>,
    /// Starts decided but without a port yet.
    pending_starts: u32,
    /// Whether a task is handing out ports to pending starts.
    allocating: bool,
    /// Failed starts in a row.
    start_failures: u32,
    /// No new start before this, after a failure.
    start_after: Option<Instant>,
}

/// A line of `instance.sh list`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    port: u16,
    state: String,
}

#[derive(Debug)]
struct Inner {
    config: LocalConfig,
    journal: Journal,
    ops: Mutex<Ops>,
}

/// Drives the local fleet through its scripts.
#[derive(Debug, Clone)]
pub struct Local {
    inner: Arc<Inner>,
}

/// The only variables of the autoscaler's environment the fleet's scripts see.
const PASSED_THROUGH: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR",
];

/// After a failed start, the next waits 2^failures seconds, at most this long: a broken app
/// binary or configuration is not restarted in a tight loop.
const MAX_START_BACKOFF: Duration = Duration::from_secs(60);

/// Longest any one script may run (its own timeouts are shorter: start 90 s, stop the grace
/// period plus 5 s).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(600);

impl Local {
    /// An actuator for the fleet in `config.fleet_dir`; fails when the fleet or its scripts are
    /// not there.
    pub fn new(config: LocalConfig) -> Result<Self, Error> {
        if !config.fleet_dir.join("fleet.env").is_file() {
            return Err(Error::actuator(
                "local",
                format!(
                    "no local fleet in {} (no fleet.env): start one with scripts/deploy-scaling.sh local development, \
                     or set CLIP_FLEET_DIR",
                    config.fleet_dir.display()
                ),
            ));
        }
        let script = config.scripts.join("instance.sh");
        if !script.is_file() {
            return Err(Error::actuator(
                "local",
                format!(
                    "{} is missing: set AUTOSCALER_FLEET_SCRIPTS to the repository's scripts/fleet",
                    script.display()
                ),
            ));
        }
        let detail = format!(
            "fleet {} through {}",
            config.fleet_dir.display(),
            script.display()
        );
        Ok(Self {
            inner: Arc::new(Inner {
                journal: Journal::new("local", detail),
                config,
                ops: Mutex::new(Ops::default()),
            }),
        })
    }
}

impl Inner {
    fn ops(&self) -> std::sync::MutexGuard<'_, Ops> {
        self.ops.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn script(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(self.config.scripts.join("instance.sh"));
        // Instances inherit the script's environment. They get theirs from the fleet's files
        // (app.env, fleet.env), as when the deploy starts them; the autoscaler's own settings
        // (its test thresholds, its token file) must not leak into them.
        cmd.env_clear();
        for name in PASSED_THROUGH {
            if let Some(value) = std::env::var_os(name) {
                cmd.env(name, value);
            }
        }
        cmd.args(args)
            .env("CLIP_FLEET_DIR", &self.config.fleet_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs `instance.sh ARGS`; its stdout, or an error with the end of its stderr.
    async fn run(&self, args: &[&str]) -> Result<String, Error> {
        let shown = format!("instance.sh {}", args.join(" "));
        let out = tokio::time::timeout(SCRIPT_TIMEOUT, self.script(args).output())
            .await
            .map_err(|_| {
                Error::actuator(
                    "local",
                    format!("{shown} ran longer than {SCRIPT_TIMEOUT:?}"),
                )
            })?
            .map_err(|e| Error::actuator("local", format!("cannot run {shown}: {e}")))?;
        if !out.status.success() {
            return Err(Error::actuator(
                "local",
                format!("{shown} failed ({}): {}", out.status, tail(&out.stderr)),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    async fn list(&self) -> Result<Vec<Listed>, Error> {
        let out = self.run(&["list"]).await?;
        Ok(out
            .lines()
            .filter_map(|line| {
                let mut f = line.split_whitespace();
                let port = f.next()?.parse().ok()?;
                let _pid = f.next()?;
                let state = f.next()?.to_owned();
                Some(Listed { port, state })
            })
            .collect())
    }

    fn pid_file_exists(&self, port: u16) -> bool {
        self.config
            .fleet_dir
            .join(format!("instances/{port}.pid"))
            .exists()
    }

    /// Moves the fleet towards the desired count, given what `instance.sh list` says.
    fn reconcile(self: &Arc<Self>, listed: &[Listed]) {
        let desired = self.journal.desired();
        let mut ops = self.ops();
        let mut stops = Vec::new();
        for l in listed {
            if l.state == "dead" && !ops.running.contains_key(&l.port) {
                ops.running.insert(l.port, Op::Stopping(Instant::now()));
                stops.push((l.port, "its process died"));
            }
        }
        let mut serving: Vec<u16> = listed
            .iter()
            .filter(|l| l.state == "ready" && !ops.running.contains_key(&l.port))
            .map(|l| l.port)
            .collect();
        let starting = ops
            .running
            .values()
            .filter(|o| matches!(o, Op::Starting(_)))
            .count() as u32
            + ops.pending_starts;
        let alive = serving.len() as u32 + starting;
        let mut allocate = false;
        if let Some(desired) = desired {
            let backing_off = ops.start_after.is_some_and(|t| Instant::now() < t);
            if desired > alive && !backing_off {
                ops.pending_starts += desired - alive;
                if !ops.allocating {
                    ops.allocating = true;
                    allocate = true;
                }
            } else if desired < alive {
                let mut surplus = alive - desired;
                let cancelled = surplus.min(ops.pending_starts);
                ops.pending_starts -= cancelled;
                surplus -= cancelled;
                // The newest instances (highest ports) go first; starts under way finish.
                serving.sort_unstable_by(|a, b| b.cmp(a));
                for port in serving.into_iter().take(surplus as usize) {
                    ops.running.insert(port, Op::Stopping(Instant::now()));
                    stops.push((port, "scale down"));
                }
            }
        }
        drop(ops);
        for (port, why) in stops {
            let me = self.clone();
            tokio::spawn(async move { me.stop(port, why).await });
        }
        if allocate {
            let me = self.clone();
            tokio::spawn(async move { me.allocate_ports().await });
        }
    }

    /// Gives each pending start a port (`instance.sh next-port`) and starts it. Ports are
    /// handed out one at a time, each once its pid file exists, so that `next-port` never
    /// returns the same port twice.
    async fn allocate_ports(self: Arc<Self>) {
        loop {
            {
                let mut ops = self.ops();
                if ops.pending_starts == 0 {
                    ops.allocating = false;
                    return;
                }
                ops.pending_starts -= 1;
            }
            let port = match self
                .run(&["next-port"])
                .await
                .map(|o| o.trim().parse::<u16>())
            {
                Ok(Ok(port)) => port,
                Ok(Err(_)) | Err(_) => {
                    self.journal
                        .error("instance.sh next-port gave no port; the next tick tries again");
                    let mut ops = self.ops();
                    ops.pending_starts = 0;
                    ops.allocating = false;
                    return;
                }
            };
            self.ops()
                .running
                .insert(port, Op::Starting(Instant::now()));
            let me = self.clone();
            let start = tokio::spawn(async move { me.start(port).await });
            // Until its pid file is written, next-port would give this port again.
            let deadline = Instant::now() + Duration::from_secs(10);
            while !self.pid_file_exists(port) && !start.is_finished() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    async fn start(&self, port: u16) {
        let began = Instant::now();
        let port_text = port.to_string();
        let result = self.run(&["start", &port_text]).await;
        let mut ops = self.ops();
        ops.running.remove(&port);
        match result {
            Ok(_) => {
                ops.start_failures = 0;
                ops.start_after = None;
                drop(ops);
                self.journal.action(format!(
                    "started instance {port}: ready behind nginx after {:.1} s",
                    began.elapsed().as_secs_f64()
                ));
            }
            Err(e) => {
                ops.start_failures = ops.start_failures.saturating_add(1);
                let wait =
                    Duration::from_secs(1u64 << ops.start_failures.min(6)).min(MAX_START_BACKOFF);
                ops.start_after = Some(Instant::now() + wait);
                drop(ops);
                self.journal
                    .error(format!("{e}; next start in {} s", wait.as_secs()));
            }
        }
    }

    async fn stop(&self, port: u16, why: &str) {
        let began = Instant::now();
        let port_text = port.to_string();
        match self.run(&["stop", &port_text]).await {
            Ok(_) => self.journal.action(format!(
                "stopped instance {port} ({why}): drained and exited after {:.1} s",
                began.elapsed().as_secs_f64()
            )),
            Err(e) => self.journal.error(e.to_string()),
        }
        self.ops().running.remove(&port);
    }

    fn view(&self, listed: &[Listed]) -> FleetView {
        let ops = self.ops();
        let instance = |port: u16, phase: Phase| Instance {
            id: format!("local-{port}"),
            metrics_url: format!("http://127.0.0.1:{port}{}", self.config.metrics_path),
            readiness_url: format!("http://127.0.0.1:{port}/api/health/ready"),
            phase,
        };
        let mut instances: Vec<Instance> = listed
            .iter()
            .map(|l| {
                let phase = match (ops.running.get(&l.port), l.state.as_str()) {
                    (Some(Op::Starting(_)), _) => Phase::Starting,
                    (Some(Op::Stopping(_)), _) => Phase::Draining,
                    (None, "ready") => Phase::Ready,
                    (None, "draining") => Phase::Draining,
                    (None, _) => Phase::Dead,
                };
                instance(l.port, phase)
            })
            .collect();
        for (&port, op) in &ops.running {
            if matches!(op, Op::Starting(_)) && !listed.iter().any(|l| l.port == port) {
                instances.push(instance(port, Phase::Starting));
            }
        }
        FleetView {
            instances,
            pending: ops.pending_starts,
        }
    }
}

impl Actuator for Local {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn observe(&self) -> BoxFuture<'_, Result<FleetView, Error>> {
        Box::pin(async move {
            let listed = self.inner.list().await?;
            self.inner.reconcile(&listed);
            Ok(self.inner.view(&listed))
        })
    }

    fn scale_to(&self, target: u32) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            if self.inner.journal.desired() == Some(target) {
                return Ok(());
            }
            self.inner.journal.set_desired(target);
            let listed = self.inner.list().await?;
            self.inner.reconcile(&listed);
            Ok(())
        })
    }

    fn status(&self) -> ActuatorStatus {
        let operations = self
            .inner
            .ops()
            .running
            .iter()
            .map(|(port, op)| match op {
                Op::Starting(t) => format!("starting {port} ({:.1} s)", t.elapsed().as_secs_f64()),
                Op::Stopping(t) => format!("stopping {port} ({:.1} s)", t.elapsed().as_secs_f64()),
            })
            .collect();
        self.inner.journal.snapshot(operations)
    }
}
