//! The one error type of the app: start-up failures (each naming what to fix) and the
//! failures a request or a job can meet. [`crate::problem`] turns it into an HTTP answer.

use clip_pool::PoolError;
use clip_pool::postgres::PgError;

/// Everything that can go wrong in the app.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A variable is unusable (named as it was set).
    #[error("invalid {variable}{}: {reason}", value.as_ref().map(|v| format!("={v:?}")).unwrap_or_default())]
    Config {
        /// The variable, as it was spelt.
        variable: String,
        /// The value, when it is not a secret.
        value: Option<String>,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A `DB_*` variable is unusable.
    #[error(transparent)]
    PoolConfig(clip_pool::ConfigError),
    /// A `CDN_*` variable is unusable, or the image optimizer refused an input.
    #[error(transparent)]
    Cdn(clip_cdn::Error),
    /// A `HEALTH_*` variable is unusable.
    #[error(transparent)]
    Health(clip_health::HealthError),
    /// A scaling threshold is unusable.
    #[error(transparent)]
    Scaling(clip_scaling_policy::ScalingError),
    /// The embedded PostgreSQL could not start.
    #[error(
        "the embedded PostgreSQL in {dir} did not start: {source} (set DATABASE_URL to use a server of your own)"
    )]
    Embedded {
        /// Its directory (`CLIP_DATA_DIR`).
        dir: String,
        /// Why.
        #[source]
        source: clip_pool::launcher::LauncherError,
    },
    /// No connection to the database at start-up.
    #[error(transparent)]
    Connect(#[from] clip_pool::BuildError),
    /// The migrations did not apply.
    #[error("migrating the database failed: {0}")]
    Migration(String),
    /// The database is down or the pool exhausted: worth a retry.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A query failed (a bug or a schema mismatch, not an outage).
    #[error("database query failed: {0}")]
    Query(#[source] PgError),
    /// The storage backend failed.
    #[error("storage failed: {0}")]
    Storage(String),
    /// What the request names does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A byte range outside the object.
    #[error("range not satisfiable: the object has {size} bytes")]
    RangeNotSatisfiable {
        /// The object's size.
        size: u64,
    },
    /// A body above its limit.
    #[error("the body is larger than {limit} bytes")]
    TooLarge {
        /// The limit in force.
        limit: u64,
    },
    /// The request is malformed; the text says how.
    #[error("{0}")]
    BadRequest(String),
    /// ffmpeg or ffprobe is missing, unusable, or failed in a way no input explains.
    #[error("{0}")]
    Ffmpeg(String),
    /// A file or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A configuration error naming `variable`.
    pub(crate) fn config(
        variable: impl Into<String>,
        value: Option<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::Config {
            variable: variable.into(),
            value,
            reason: reason.into(),
        }
    }

    /// An I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Error::Io { context, source }
    }

    /// Whether retrying later may succeed (an outage rather than a bad request or a bug).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Unavailable(_) | Error::Storage(_) | Error::Io { .. }
        )
    }
}

impl From<PoolError<PgError>> for Error {
    fn from(e: PoolError<PgError>) -> Self {
        match e {
            PoolError::Query(e) if is_connection_lost(&e) => Error::Unavailable(e.to_string()),
            PoolError::Query(e) => Error::Query(e),
            unavailable => Error::Unavailable(unavailable.to_string()),
        }
    }
}

/// A query that failed because the server went away (killed, restarted) mid-call: an
/// outage, not a bug in the query.
fn is_connection_lost(e: &PgError) -> bool {
    use clip_pool::postgres::tokio_postgres::error::SqlState;
    match e.code() {
        Some(code) => {
            *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
                || code.code().starts_with("08")
        }
        None => e.as_db_error().is_none(),
    }
}
