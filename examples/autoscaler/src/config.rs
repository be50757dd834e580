//! The autoscaler's settings, from the environment (`AutoscalerConfig::from_env`). The policy's
//! thresholds and cooldowns are clip-scaling-policy's own variables (`MIN_INSTANCES`,
//! `CPU_THRESHOLD`, `SCALE_UP_COOLDOWN`, ...); the rest is listed in the README.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clip_scaling_policy::ScalingConfig;

use crate::Error;
use crate::actuator::Targets;
use crate::actuator::compose::ComposeConfig;
use crate::actuator::kubernetes::KubernetesConfig;
use crate::actuator::local::LocalConfig;
use crate::leader::LockSpec;

/// Which actuator, with its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActuatorConfig {
    /// Processes on this machine behind nginx (`local`).
    Local(LocalConfig),
    /// A Docker Compose service (`docker-compose`).
    Compose(ComposeConfig, Targets),
    /// A Kubernetes Deployment (`kubernetes`).
    Kubernetes(KubernetesConfig),
    /// Nothing changes (`dry-run`).
    DryRun(Targets),
}

/// Everything the autoscaler is configured with.
#[derive(Debug, Clone)]
pub struct AutoscalerConfig {
    /// Where `/status`, `/override`, `/health` and `/metrics` listen (`AUTOSCALER_HOST`,
    /// default 0.0.0.0; `AUTOSCALER_PORT`, default 3002).
    pub listen: SocketAddr,
    /// Time between ticks (`AUTOSCALER_INTERVAL`, seconds, default 15).
    pub interval: Duration,
    /// Longest an instance's scrape may take (`AUTOSCALER_SCRAPE_TIMEOUT`, seconds; default
    /// the smaller of 5 s and half the interval).
    pub scrape_timeout: Duration,
    /// Bearer token of `POST /override` (`AUTOSCALER_TOKEN` or `AUTOSCALER_TOKEN_FILE`);
    /// without it, overrides are refused.
    pub token: Option<String>,
    /// The state file (`AUTOSCALER_STATE_FILE`; default `CLIP_FLEET_DIR/autoscaler-state.json`
    /// for `local`, else `./autoscaler-state.json`).
    pub state_file: PathBuf,
    /// The leader lock: PostgreSQL with `AUTOSCALER_DATABASE_URL` (or `DATABASE_URL`, or
    /// `DATABASE_URL_FILE`), else `AUTOSCALER_LOCK_FILE` (default beside the state file).
    pub lock: LockSpec,
    /// The actuator (`AUTOSCALER_ACTUATOR`: `local`, `docker-compose`, `kubernetes`, `dry-run`).
    pub actuator: ActuatorConfig,
    /// The policy's configuration (its own variables).
    pub scaling: ScalingConfig,
    /// Scaling events kept (`AUTOSCALER_EVENTS`, default 50).
    pub events_kept: usize,
    /// Longest override accepted (`AUTOSCALER_OVERRIDE_MAX`, seconds, default 86400).
    pub override_max: Duration,
}

impl AutoscalerConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// Reads the settings through `lookup` (a variable name to its value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let scaling = ScalingConfig::from_lookup(&lookup)?;

        let host: IpAddr = match get("AUTOSCALER_HOST") {
            Some(h) => h.parse().map_err(|_| {
                Error::config(
                    "AUTOSCALER_HOST",
                    h,
                    "an IP address such as 0.0.0.0 or 127.0.0.1",
                )
            })?,
            None => IpAddr::from([0, 0, 0, 0]),
        };
        let port: u16 = match get("AUTOSCALER_PORT") {
            Some(p) => p
                .parse()
                .map_err(|_| Error::config("AUTOSCALER_PORT", p, "a TCP port number"))?,
            None => 3002,
        };
        let interval = seconds(&get, "AUTOSCALER_INTERVAL")?.unwrap_or(Duration::from_secs(15));
        let scrape_timeout = seconds(&get, "AUTOSCALER_SCRAPE_TIMEOUT")?
            .unwrap_or_else(|| (interval / 2).min(Duration::from_secs(5)));

        let token = match (get("AUTOSCALER_TOKEN"), get("AUTOSCALER_TOKEN_FILE")) {
            (Some(t), _) => Some(t),
            (None, Some(path)) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|e| {
                        Error::config(
                            "AUTOSCALER_TOKEN_FILE",
                            &path,
                            format!("a readable file ({e})"),
                        )
                    })?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        if token.as_deref().is_some_and(|t| t.len() < 16) {
            return Err(Error::config(
                "AUTOSCALER_TOKEN",
                "(hidden)",
                "at least 16 characters (e.g. openssl rand -hex 24)",
            ));
        }

        let metrics_path = get("AUTOSCALER_METRICS_PATH").unwrap_or_else(|| "/metrics".into());
        let readiness_path =
            get("AUTOSCALER_READINESS_PATH").unwrap_or_else(|| "/api/health/ready".into());
        let targets = |default: &str| {
            Targets::parse(
                &get("AUTOSCALER_TARGETS").unwrap_or_else(|| default.to_owned()),
                &metrics_path,
                &readiness_path,
            )
        };
        let fleet_dir = get("CLIP_FLEET_DIR").map(PathBuf::from);
        let kind = get("AUTOSCALER_ACTUATOR").unwrap_or_else(|| "dry-run".into());
        let actuator = match kind.as_str() {
            "local" => ActuatorConfig::Local(LocalConfig {
                fleet_dir: fleet_dir.clone().ok_or_else(|| {
                    Error::config(
                        "CLIP_FLEET_DIR",
                        "",
                        "the local fleet's directory (set by scripts/deploy-scaling.sh local)",
                    )
                })?,
                scripts: get("AUTOSCALER_FLEET_SCRIPTS")
                    .map(PathBuf::from)
                    .unwrap_or_else(LocalConfig::default_scripts),
                metrics_path: metrics_path.clone(),
            }),
            "docker-compose" | "compose" => {
                let defaults = ComposeConfig::default();
                ActuatorConfig::Compose(
                    ComposeConfig {
                        docker: get("AUTOSCALER_DOCKER").map_or(defaults.docker, PathBuf::from),
                        file: get("AUTOSCALER_COMPOSE_FILE").map_or(defaults.file, PathBuf::from),
                        service: get("AUTOSCALER_COMPOSE_SERVICE").unwrap_or(defaults.service),
                        nginx_service: match lookup("AUTOSCALER_COMPOSE_NGINX") {
                            Some(v) if v.trim().is_empty() => None,
                            Some(v) => Some(v.trim().to_owned()),
                            None => defaults.nginx_service,
                        },
                        timeout: defaults.timeout,
                    },
                    targets("dns+http://app:3000")?,
                )
            }
            "kubernetes" | "k8s" => {
                let defaults = KubernetesConfig::default();
                ActuatorConfig::Kubernetes(KubernetesConfig {
                    namespace: get("KUBERNETES_NAMESPACE").unwrap_or(defaults.namespace),
                    deployment: get("AUTOSCALER_DEPLOYMENT").unwrap_or(defaults.deployment),
                    port: match get("AUTOSCALER_INSTANCE_PORT") {
                        Some(p) => p.parse().map_err(|_| {
                            Error::config("AUTOSCALER_INSTANCE_PORT", p, "a TCP port number")
                        })?,
                        None => defaults.port,
                    },
                    kubeconfig: get("KUBECONFIG").map(PathBuf::from),
                    metrics_path: metrics_path.clone(),
                })
            }
            "dry-run" | "dry_run" | "none" => {
                let t = targets("")?;
                if t.is_empty() {
                    return Err(Error::config(
                        "AUTOSCALER_TARGETS",
                        "",
                        "the instances to observe in dry-run, e.g. http://127.0.0.1:4001,http://127.0.0.1:4002",
                    ));
                }
                ActuatorConfig::DryRun(t)
            }
            other => {
                return Err(Error::config(
                    "AUTOSCALER_ACTUATOR",
                    other,
                    "local, docker-compose, kubernetes or dry-run",
                ));
            }
        };

        let state_file = get("AUTOSCALER_STATE_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| match (&actuator, &fleet_dir) {
                (ActuatorConfig::Local(_), Some(dir)) => dir.join("autoscaler-state.json"),
                _ => PathBuf::from("autoscaler-state.json"),
            });
        let database_url = match (
            get("AUTOSCALER_DATABASE_URL").or_else(|| get("DATABASE_URL")),
            get("DATABASE_URL_FILE"),
        ) {
            (Some(url), _) => Some(url),
            (None, Some(path)) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|e| {
                        Error::config("DATABASE_URL_FILE", &path, format!("a readable file ({e})"))
                    })?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let fleet = get("AUTOSCALER_FLEET_NAME").unwrap_or_else(|| "default".into());
        let lock = match database_url {
            Some(url) => LockSpec::Postgres {
                url,
                key: format!("clip-autoscaler/{fleet}"),
            },
            None => LockSpec::File(
                get("AUTOSCALER_LOCK_FILE")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| match (&actuator, &fleet_dir) {
                        (ActuatorConfig::Local(_), Some(dir)) => dir.join("autoscaler.lock"),
                        _ => state_file.with_extension("lock"),
                    }),
            ),
        };
        let events_kept = match get("AUTOSCALER_EVENTS") {
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| {
                    Error::config("AUTOSCALER_EVENTS", v, "a whole number from 1 to 10000")
                })?,
            None => 50,
        };
        let override_max =
            seconds(&get, "AUTOSCALER_OVERRIDE_MAX")?.unwrap_or(Duration::from_secs(86_400));
        Ok(Self {
            listen: SocketAddr::new(host, port),
            interval,
            scrape_timeout,
            token,
            state_file,
            lock,
            actuator,
            scaling,
            events_kept,
            override_max,
        })
    }
}

/// A positive number of seconds (fractions allowed: tests tick every second or faster).
fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<Duration>, Error> {
    let Some(v) = get(name) else { return Ok(None) };
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .map(Some)
        .ok_or_else(|| Error::config(name, v, "a positive number of seconds"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<AutoscalerConfig, Error> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        AutoscalerConfig::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_and_errors_that_name_the_variable() {
        let c = config(&[("AUTOSCALER_TARGETS", "http://127.0.0.1:4001")]).unwrap();
        assert_eq!(c.listen.port(), 3002);
        assert_eq!(c.interval, Duration::from_secs(15));
        assert_eq!(c.scrape_timeout, Duration::from_secs(5));
        assert!(matches!(c.actuator, ActuatorConfig::DryRun(_)));
        assert!(matches!(c.lock, LockSpec::File(_)));

        for (vars, variable) in [
            (vec![("AUTOSCALER_ACTUATOR", "helm")], "AUTOSCALER_ACTUATOR"),
            (vec![("AUTOSCALER_ACTUATOR", "local")], "CLIP_FLEET_DIR"),
            (vec![("AUTOSCALER_INTERVAL", "0")], "AUTOSCALER_INTERVAL"),
            (vec![("AUTOSCALER_PORT", "http")], "AUTOSCALER_PORT"),
            (vec![("AUTOSCALER_TOKEN", "short")], "AUTOSCALER_TOKEN"),
            (vec![("CPU_THRESHOLD", "lots")], "CPU_THRESHOLD"),
            (vec![], "AUTOSCALER_TARGETS"),
        ] {
            let mut vars = vars;
            if variable != "AUTOSCALER_TARGETS" {
                vars.push(("AUTOSCALER_TARGETS", "http://127.0.0.1:4001"));
            }
            let err = config(&vars).unwrap_err().to_string();
            assert!(err.contains(variable), "{variable}: {err}");
        }
    }

    #[test]
    fn a_database_url_elects_through_postgres_and_the_token_is_never_vite() {
        let c = config(&[
            ("AUTOSCALER_TARGETS", "http://127.0.0.1:4001"),
            ("DATABASE_URL", "postgres://clip@127.0.0.1/clip"),
            ("VITE_AUTOSCALER_TOKEN", "0123456789abcdef0123"),
        ])
        .unwrap();
        assert!(matches!(c.lock, LockSpec::Postgres { .. }));
        assert_eq!(c.token, None);
    }
}
