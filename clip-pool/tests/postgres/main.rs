//! clip-pool against real PostgreSQL servers that the tests start on loopback.

mod basics;
mod failures;
mod persistent;
mod pooler;
mod recovery;
mod replicas;
mod tls;

use std::time::Duration;

use clip_pool::PoolConfig;

/// A small, quick configuration for tests.
pub fn config(max: u32) -> PoolConfig {
    PoolConfig {
        min_connections: 1,
        pool_size: max.min(4),
        max_connections: max,
        acquire_timeout: Duration::from_secs(2),
        maintenance_interval: Duration::from_millis(100),
        ..PoolConfig::default()
    }
}

/// `n` connections opened at start and kept: floor, target and ceiling alike.
pub fn fixed(n: u32) -> PoolConfig {
    PoolConfig {
        min_connections: n,
        pool_size: n,
        ..config(n)
    }
}
