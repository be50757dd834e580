//! PostgreSQL on tokio-postgres: [`connect`] a [`PgPool`] from a URL, with TLS per
//! `sslmode` and `sslrootcert` as libpq 16 (rustls), connect timeout, TCP keepalive and
//! `TCP_USER_TIMEOUT` by default, a per-connection statement cache, transactions that keep
//! it ([`PgConnection::begin`]), a session reset between borrowers, server-side cancellation
//! of abandoned calls, and a transaction-pooler mode for pgbouncer / Supavisor
//! (`pgbouncer=true`, implied by port 6543).

mod connection;
mod manager;
mod options;
mod release;
mod session;
mod tls;
mod transaction;

pub use connection::{PgConnection, PgError};
pub use manager::{ConnectFailure, PgConnectError, PgManager};
pub use options::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_KEEPALIVES_IDLE, DEFAULT_KEEPALIVES_INTERVAL,
    DEFAULT_KEEPALIVES_RETRIES, DEFAULT_STATEMENT_CACHE, DEFAULT_TCP_USER_TIMEOUT, PgOptions,
    RootCerts, SUPABASE_TRANSACTION_POOLER_PORT, SslMode, StatementMode, redact,
};
pub use tokio_postgres;
pub use transaction::PgTransaction;

use std::sync::Arc;

use crate::release::Release;
use crate::{BuildError, ConfigError, Manager, Pool, PoolConfig, ReplicatedPool};

/// When the pool's manager is a [`PgManager`] (however the pool was built), hands it the
/// pool's per-connection settings and returns the reset-and-cancel hook.
pub(crate) fn adapt<M: Manager>(
    manager: &mut M,
    config: &PoolConfig,
) -> Option<Arc<dyn Release<M::Connection>>> {
    let pg = (manager as &mut dyn std::any::Any).downcast_mut::<PgManager>()?;
    pg.adapt_to(config);
    Some(Arc::new(release::PgRelease {
        policy: config.reset,
        patience: config.connect_timeout,
    }))
}

/// A pool of PostgreSQL connections.
pub type PgPool = Pool<PgManager>;

/// Builds a pool for `url` and opens `min_connections` first, so bad credentials, an unknown
/// host or a TLS failure are reported now, as that error.
pub async fn connect(url: &str, config: PoolConfig) -> Result<PgPool, BuildError> {
    Pool::new(PgManager::new(url)?, config).await
}

/// Builds a pool for `url` without connecting (the service may start before its database).
/// Must be called inside a tokio runtime.
pub fn connect_lazy(url: &str, config: PoolConfig) -> Result<PgPool, ConfigError> {
    Pool::new_lazy(PgManager::new(url)?, config)
}

/// A primary pool (connected now) and one lazily connected pool per replica URL, named
/// `replica-0`, `replica-1`, ... Replicas share `config` but wait at most one second for
/// a connection before the read falls back to the primary (their connection attempts keep
/// the full `connect_timeout`). Only the primary closes a connection on SQLSTATE 25006
/// (read-only): on a replica that is what it is.
pub async fn connect_replicated(
    primary_url: &str,
    replica_urls: &[&str],
    config: PoolConfig,
) -> Result<ReplicatedPool<PgManager>, BuildError> {
    let primary = connect(primary_url, config.clone()).await?;
    let mut replicas = Vec::with_capacity(replica_urls.len());
    for (i, url) in replica_urls.iter().enumerate() {
        let cfg = PoolConfig {
            name: format!("replica-{i}"),
            acquire_timeout: config
                .acquire_timeout
                .min(std::time::Duration::from_secs(1)),
            ..config.clone()
        };
        replicas.push(Pool::new_lazy(PgManager::new(url)?.for_replica(), cfg)?);
    }
    Ok(ReplicatedPool::new(primary, replicas))
}
