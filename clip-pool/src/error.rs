//! Errors of the pool: configuration, acquisition, connection, and the caller's own.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A configuration value that cannot be used, naming the variable to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The variable is present but unusable, or breaks an invariant with another one.
    #[error("invalid {variable}{}: {reason}", if value.is_empty() { String::new() } else { format!("={value:?}") })]
    Invalid {
        /// The variable's name, without the `VITE_` prefix.
        variable: &'static str,
        /// The raw value, empty when the problem is an invariant between values.
        value: String,
        /// What is wrong and what is expected.
        reason: String,
    },
}

/// What `Pool::execute` returns when it cannot give the caller a result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError<E> {
    /// No connection became free within the acquire timeout: the pool is exhausted.
    #[error(
        "no database connection within {waited:?} ({waiting} callers waiting, all {max_connections} \
         connections busy): raise DB_MAX_CONNECTIONS, shorten the work done per connection, or add \
         instances"
    )]
    Timeout {
        /// How long this call waited.
        waited: Duration,
        /// How many calls were waiting for a connection when this one gave up.
        waiting: usize,
        /// The pool's ceiling at the time.
        max_connections: u32,
    },
    /// No connection could be opened: the database is down, unreachable, or refuses us.
    // The cause is in the message, so it is not also a `source` (one message per failure).
    #[error("cannot connect to the database: {0}")]
    Connect(ConnectError),
    /// The caller's closure failed; the connection went back to the pool, its session reset.
    #[error(transparent)]
    Query(E),
    /// The closure failed because its connection broke while it ran (server restart or
    /// crash, network cut, a server that stopped answering, a primary demoted to read-only):
    /// the closure's own error, with the connection closed. Whether a `COMMIT` that failed
    /// this way took effect is unknown: retry only what is idempotent.
    #[error(transparent)]
    ConnectionLost(E),
}

impl<E> PoolError<E> {
    /// True when the error comes from the database being unavailable or the pool being
    /// exhausted, rather than from the caller's own query: the case for a degraded answer.
    pub fn is_unavailable(&self) -> bool {
        !matches!(self, PoolError::Query(_))
    }

    /// The closure's own error, for [`PoolError::Query`] and [`PoolError::ConnectionLost`].
    pub fn query_error(&self) -> Option<&E> {
        match self {
            PoolError::Query(e) | PoolError::ConnectionLost(e) => Some(e),
            _ => None,
        }
    }

    /// Maps the caller's error type, keeping the pool's own variants.
    pub fn map_query<F>(self, f: impl FnOnce(E) -> F) -> PoolError<F> {
        match self {
            PoolError::Timeout {
                waited,
                waiting,
                max_connections,
            } => PoolError::Timeout {
                waited,
                waiting,
                max_connections,
            },
            PoolError::Connect(e) => PoolError::Connect(e),
            PoolError::Query(e) => PoolError::Query(f(e)),
            PoolError::ConnectionLost(e) => PoolError::ConnectionLost(f(e)),
        }
    }
}

/// The real error of a failed connection attempt, shared by every caller it failed.
///
/// Cheap to clone; [`ConnectError::downcast_ref`] reaches the manager's own error type (for
/// PostgreSQL, [`crate::postgres::PgConnectError`]).
#[derive(Clone)]
pub struct ConnectError {
    inner: Arc<dyn StdError + Send + Sync + 'static>,
}

impl ConnectError {
    /// Wraps a manager's connection error.
    pub fn new(error: impl StdError + Send + Sync + 'static) -> Self {
        Self {
            inner: Arc::new(error),
        }
    }

    /// The manager's own error, when it is of type `T`.
    pub fn downcast_ref<T: StdError + 'static>(&self) -> Option<&T> {
        self.inner.downcast_ref::<T>()
    }

    /// The wrapped error.
    pub fn get_ref(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.inner
    }
}

impl fmt::Debug for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.inner, f)
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.inner, f)
    }
}

impl StdError for ConnectError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner.source()
    }
}

/// A connection attempt that did not finish within the connect timeout.
#[derive(Debug, Clone, thiserror::Error)]
#[error("connection attempt timed out after {0:?}: the server is unreachable or overloaded")]
pub struct ConnectTimeout(pub Duration);
