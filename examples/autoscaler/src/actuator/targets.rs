//! Instances named by configuration (`AUTOSCALER_TARGETS`), for the actuators that cannot list
//! them themselves: `http://host:port` is one instance; `dns+http://host:port` is every address
//! the name resolves to, looked up each tick (Docker's DNS answers one address per replica of a
//! Compose service).

use std::net::SocketAddr;

use super::{Instance, Phase};
use crate::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Static(String),
    Dns { host: String, port: u16 },
}

/// The configured instances.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Targets {
    targets: Vec<Target>,
    metrics_path: String,
    readiness_path: String,
}

impl Targets {
    /// Parses a comma-separated list of `http://host:port` and `dns+http://host:port`.
    pub fn parse(list: &str, metrics_path: &str, readiness_path: &str) -> Result<Self, Error> {
        let bad = |entry: &str| {
            Error::config(
                "AUTOSCALER_TARGETS",
                list,
                format!("`{entry}` is not http://host:port or dns+http://host:port"),
            )
        };
        let mut targets = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if let Some(rest) = entry.strip_prefix("dns+http://") {
                let (host, port) = rest
                    .trim_end_matches('/')
                    .rsplit_once(':')
                    .ok_or_else(|| bad(entry))?;
                let port = port.parse().map_err(|_| bad(entry))?;
                if host.is_empty() {
                    return Err(bad(entry));
                }
                targets.push(Target::Dns {
                    host: host.to_owned(),
                    port,
                });
            } else if let Some(rest) = entry.strip_prefix("http://") {
                if rest.trim_end_matches('/').is_empty() {
                    return Err(bad(entry));
                }
                targets.push(Target::Static(entry.trim_end_matches('/').to_owned()));
            } else {
                return Err(bad(entry));
            }
        }
        Ok(Self {
            targets,
            metrics_path: metrics_path.to_owned(),
            readiness_path: readiness_path.to_owned(),
        })
    }

    /// Whether no target is configured.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The instances now, readiness unknown. A name that does not resolve contributes none
    /// (a Compose service scaled to zero), and says so in the log.
    pub async fn resolve(&self) -> Vec<Instance> {
        let mut out = Vec::new();
        for t in &self.targets {
            match t {
                Target::Static(base) => {
                    out.push(self.instance(base.trim_start_matches("http://"), base))
                }
                Target::Dns { host, port } => {
                    match tokio::net::lookup_host((host.as_str(), *port)).await {
                        Ok(addrs) => {
                            let mut addrs: Vec<SocketAddr> = addrs.collect();
                            addrs.sort();
                            addrs.dedup();
                            for a in addrs {
                                out.push(self.instance(&a.to_string(), &format!("http://{a}")));
                            }
                        }
                        Err(e) => tracing::warn!(
                            "AUTOSCALER_TARGETS: {host}:{port} does not resolve: {e}"
                        ),
                    }
                }
            }
        }
        out
    }

    fn instance(&self, id: &str, base: &str) -> Instance {
        Instance {
            id: id.to_owned(),
            metrics_url: format!("{base}{}", self.metrics_path),
            readiness_url: format!("{base}{}", self.readiness_path),
            phase: Phase::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_static_and_dns_targets_and_names_a_bad_one() {
        let t = Targets::parse(
            "http://127.0.0.1:4001, dns+http://app:3000",
            "/metrics",
            "/ready",
        )
        .unwrap();
        assert_eq!(t.targets.len(), 2);
        let err = Targets::parse("127.0.0.1:4001", "/metrics", "/ready")
            .unwrap_err()
            .to_string();
        assert!(err.contains("AUTOSCALER_TARGETS"), "{err}");
        assert!(Targets::parse("dns+http://app", "/m", "/r").is_err());
    }

    #[tokio::test]
    async fn a_dns_target_is_every_address_of_the_name() {
        let t = Targets::parse("dns+http://localhost:3000", "/metrics", "/ready").unwrap();
        let instances = t.resolve().await;
        assert!(!instances.is_empty());
        assert!(
            instances
                .iter()
                .all(|i| i.metrics_url.ends_with(":3000/metrics"))
        );
    }
}
