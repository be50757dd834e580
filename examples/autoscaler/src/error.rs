//! The autoscaler's one error type: each message says what failed and what to do.

use std::path::PathBuf;

/// Everything that can go wrong in the autoscaler.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is missing or malformed; the message names the variable.
    #[error("{variable}={value:?} is invalid: {expected}")]
    Config {
        /// The environment variable.
        variable: &'static str,
        /// What it was set to.
        value: String,
        /// What it should be.
        expected: String,
    },
    /// The scaling policy refused its configuration (the message names the variable).
    #[error(transparent)]
    Policy(#[from] clip_scaling_policy::ScalingError),
    /// A file the autoscaler needs could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What it tried to do ("read", "write", "lock", ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// The persisted state is not the autoscaler's JSON; it was moved aside.
    #[error("{path} is not a state file this autoscaler can read ({reason}); moved to {moved_to}")]
    CorruptState {
        /// The state file.
        path: PathBuf,
        /// Why it could not be read.
        reason: String,
        /// Where it was moved, so nothing is lost.
        moved_to: PathBuf,
    },
    /// The actuator could not observe or change the fleet.
    #[error("{actuator} actuator: {message}")]
    Actuator {
        /// Which actuator (`local`, `docker-compose`, `kubernetes`, `dry-run`).
        actuator: &'static str,
        /// What failed, and what to do.
        message: String,
    },
    /// A Horizontal Pod Autoscaler already scales the Deployment this autoscaler would scale.
    #[error(
        "HorizontalPodAutoscaler {hpa} in namespace {namespace} already scales deployment {deployment}: \
         two autoscalers would fight over its replicas. Delete the HPA (kubectl -n {namespace} delete hpa {hpa}) \
         or stop this autoscaler and let the HPA own it"
    )]
    HpaConflict {
        /// The HPA's name.
        hpa: String,
        /// Its namespace.
        namespace: String,
        /// The Deployment both would scale.
        deployment: String,
    },
    /// The leader lock could not be taken or kept.
    #[error("leader lock: {0}")]
    Lock(String),
    /// The HTTP server could not start.
    #[error(
        "cannot listen on {addr}: {source} (is another autoscaler running? set AUTOSCALER_PORT)"
    )]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// The system's error.
        source: std::io::Error,
    },
}

impl Error {
    /// An actuator failure with its message.
    pub(crate) fn actuator(actuator: &'static str, message: impl Into<String>) -> Self {
        Error::Actuator {
            actuator,
            message: message.into(),
        }
    }

    /// A malformed setting.
    pub(crate) fn config(
        variable: &'static str,
        value: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        Error::Config {
            variable,
            value: value.into(),
            expected: expected.into(),
        }
    }
}
