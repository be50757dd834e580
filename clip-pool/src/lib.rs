//! # clip-pool
//!
//! A pooled executor over [bb8]: lend a connection to an async closure, get the connection
//! back whatever happens, and know at any time how the pool is doing.
//!
//! ```no_run
//! # async fn demo(url: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let cfg = clip_pool::PoolConfig::from_env()?;               // DB_* / VITE_DB_* variables
//! let pool = clip_pool::postgres::connect(url, cfg).await?;    // PgPool = Pool<PgManager>
//! let n: i32 = pool
//!     .execute(async |c| c.query_one("SELECT 1", &[]).await.map(|r| r.get(0)))
//!     .await?;
//! let s: clip_pool::PoolStats = pool.stats();                  // atomic loads, no lock
//! # let _ = (n, s); Ok(()) }
//! ```
//!
//! - **Sizing**: `min_connections` opened before the pool is handed out, `pool_size` kept
//!   as the steady target, growth to `max_connections` under load, surplus closed after
//!   `idle_timeout`; max lifetime; leak warnings ([`PoolConfig`]).
//! - **Failure**: `execute` never waits past the acquire timeout; while the database is
//!   down it fails at once with the real connection error; dead connections are evicted
//!   and the pool recovers by itself; a call dropped mid-query never hands its connection
//!   to the next caller, and its statement is cancelled on the server ([`PoolError`]).
//! - **Clean sessions**: what a borrower leaves open is rolled back before the next one
//!   ([`ResetPolicy`]; `full` resets the whole session).
//! - **Observability**: [`PoolStats`], a health verdict ([`PoolHealth`]: utilization under
//!   80 % and waits under 100 ms read healthy) and `clip_pool_*` metrics through the
//!   `metrics` facade.
//! - **Replicas**: [`ReplicatedPool`] sends reads to healthy replicas, writes to the primary.
//! - **PostgreSQL** (feature `postgres`, default): TLS with `sslmode` and `sslrootcert` as
//!   libpq 16, statement cache, transactions that keep it, server-side cancellation,
//!   statement timeout, transaction-pooler mode ([`postgres`]).
//! - **Local PostgreSQL** (feature `launcher`): throwaway clusters for tests and demos.
#![warn(missing_docs)]
// On docs.rs (nightly rustdoc), items behind a cargo feature say which one they need.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod error;
mod histogram;
mod managed;
mod metrics;
mod monitor;
mod pool;
mod release;
mod replica;
mod shared;
mod stats;

#[cfg(feature = "launcher")]
pub mod launcher;
#[cfg(feature = "postgres")]
pub mod postgres;

pub use config::{PoolConfig, ResetPolicy};
pub use error::{ConfigError, ConnectError, ConnectTimeout, PoolError};
pub use pool::Pool;
pub use replica::{ReplicatedPool, ReplicatedStats};
pub use stats::{
    EXHAUSTED_UTILIZATION, HEALTHY_AVG_WAIT, HEALTHY_UTILIZATION, PoolHealth, PoolStats, WaitStats,
};

/// A [`bb8::ManageConnection`] whose error is a real error type: what [`Pool`] accepts.
/// Implemented for every such manager; never implement it by hand.
pub trait Manager: bb8::ManageConnection<Error: std::error::Error + Send + Sync + 'static> {}

impl<T> Manager for T where
    T: bb8::ManageConnection<Error: std::error::Error + Send + Sync + 'static>
{
}

/// Why a pool could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The configuration (or connection URL) is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Not one of the first connections could be opened.
    // The cause is in the message, so it is not also a `source` (one message per failure).
    #[error("cannot connect to the database: {0}")]
    Connect(ConnectError),
}

impl From<ConnectError> for BuildError {
    fn from(e: ConnectError) -> Self {
        BuildError::Connect(e)
    }
}
