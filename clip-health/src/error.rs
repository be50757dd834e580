//! The crate's error type.

/// What can go wrong while configuring clip-health, building its registry or installing its
/// metrics recorder.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// An environment variable holds a value that cannot be used.
    #[error("environment variable {var}={value:?} is invalid: {reason}")]
    InvalidEnv {
        /// The variable's name as it was read (with its `VITE_` prefix if it had one).
        var: String,
        /// The offending value (secrets are replaced by `<redacted>`).
        value: String,
        /// What is wrong and what is expected instead.
        reason: String,
    },
    /// A `*_FILE` variable names a file that cannot be read.
    #[error(
        "cannot read the secret file {path} named by {var}: {source}; check the path and its permissions"
    )]
    SecretFile {
        /// The variable's name.
        var: String,
        /// The path it holds.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A check cannot be registered as it is (see `HealthRegistryBuilder::try_build`).
    #[error("health check {name:?} is invalid: {reason}")]
    InvalidCheck {
        /// The check's name.
        name: String,
        /// What is wrong and what is expected instead.
        reason: String,
    },
    /// The Prometheus recorder could not be built or installed.
    #[error(
        "cannot set up the Prometheus recorder: {0}; a process has one global metrics recorder, install it once at startup"
    )]
    Metrics(#[from] metrics_exporter_prometheus::BuildError),
}
