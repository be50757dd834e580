//! # clip-fleet
//!
//! What the deployment of Creator Clip is generated from, so that no number is typed twice:
//!
//! - [`profile`]: the three environments (development, staging, production) and what each sizes;
//! - [`nginx`]: the load balancer's configuration for every deploy mode, from one template;
//! - [`kubernetes`]: the Kubernetes manifests as typed `k8s-openapi` objects, with the HPA's
//!   thresholds and behaviour taken from `clip_scaling_policy::ScalingConfig`;
//! - [`loadtest`]: the load-test driver behind `scripts/load-test.sh`: phases run by `oha` at
//!   a constant rate with latency correction, reports in Markdown and self-contained HTML.
//!
//! The `clip-fleet` binary exposes each as a subcommand; the shell scripts under `scripts/`
//! call it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod kubernetes;
pub mod loadtest;
pub mod net;
pub mod nginx;
pub mod profile;

pub use error::FleetError;
pub use profile::{Environment, Profile};

/// Where the fleet runs: the `MODE` of `scripts/deploy-scaling.sh MODE ENV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Processes on this machine, no containers.
    Local,
    /// `deploy/docker-compose.scale.yml`.
    DockerCompose,
    /// `deploy/kubernetes/scaling-config.yaml`.
    Kubernetes,
}

impl Mode {
    /// The name used on command lines.
    pub fn name(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::DockerCompose => "docker-compose",
            Self::Kubernetes => "kubernetes",
        }
    }
}
