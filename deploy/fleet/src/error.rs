//! The crate's one error type.

/// What can go wrong while generating or load testing, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// `ENV` is not one of the three environments.
    #[error("unknown environment `{0}`: use development, staging or production")]
    UnknownEnvironment(String),
    /// A setting cannot be used.
    #[error("{what} is invalid: {why}")]
    Invalid {
        /// The setting (a variable or option name).
        what: String,
        /// Why, and what would do.
        why: String,
    },
    /// The nginx template failed to render (a bug in the template).
    #[error("rendering deploy/nginx/nginx.conf.template: {0}")]
    Template(#[source] minijinja::Error),
    /// Serialising manifests or reports.
    #[error("serialising {what}: {message}")]
    Serialize {
        /// What was being written.
        what: &'static str,
        /// The serialiser's message.
        message: String,
    },
    /// Reading or writing a file, or starting a program.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A program the load test runs failed.
    #[error("{program} failed: {message}")]
    Tool {
        /// The program.
        program: String,
        /// Its exit status and the end of what it printed.
        message: String,
    },
}

impl FleetError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> FleetError {
        let context = context.into();
        move |source| FleetError::Io { context, source }
    }
}
