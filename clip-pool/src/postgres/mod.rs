//! PostgreSQL on tokio-postgres: [`connect`] a [`PgPool`] from a URL, with TLS per
//! `sslmode` (rustls; `sslrootcert` for a provider's CA), connect timeout and TCP keepalive
//! by default, a per-connection statement cache, and a transaction-pooler mode for
//! pgbouncer / Supavisor (`pgbouncer=true`, implied by port 6543).

mod connection;
mod manager;
mod options;
mod tls;

pub use connection::{PgConnection, PgError};
pub use manager::{ConnectFailure, PgConnectError, PgManager};
pub use options::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_KEEPALIVES_IDLE, DEFAULT_STATEMENT_CACHE, PgOptions,
    RootCerts, SUPABASE_TRANSACTION_POOLER_PORT, SslMode, StatementMode, redact,
};
pub use tokio_postgres;

use crate::{BuildError, ConfigError, Pool, PoolConfig, ReplicatedPool};

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
/// a connection before the read falls back to the primary.
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
        replicas.push(connect_lazy(url, cfg)?);
    }
    Ok(ReplicatedPool::new(primary, replicas))
}
