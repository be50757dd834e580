//! The pool's metrics through the `metrics` facade, with handles made once per pool.

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

use crate::PoolStats;

/// Handles labelled with the pool's name; the hot path only records into them.
pub(crate) struct PoolMetrics {
    pub acquire_seconds: Histogram,
    pub timeouts: Counter,
    pub leak_warnings: Counter,
    connections: Gauge,
    idle: Gauge,
    in_use: Gauge,
    waiting: Gauge,
    max: Gauge,
    utilization: Gauge,
    health: Gauge,
    acquisitions: Counter,
    connect_errors: Counter,
    query_errors: Counter,
    created: Counter,
    closed: Counter,
}

impl PoolMetrics {
    pub fn new(pool: &str) -> Self {
        let pool = pool.to_owned();
        Self {
            acquire_seconds: histogram!("clip_pool_acquire_seconds", "pool" => pool.clone()),
            timeouts: counter!("clip_pool_timeouts_total", "pool" => pool.clone()),
            leak_warnings: counter!("clip_pool_leak_warnings_total", "pool" => pool.clone()),
            connections: gauge!("clip_pool_connections", "pool" => pool.clone()),
            idle: gauge!("clip_pool_connections_idle", "pool" => pool.clone()),
            in_use: gauge!("clip_pool_connections_in_use", "pool" => pool.clone()),
            waiting: gauge!("clip_pool_waiting", "pool" => pool.clone()),
            max: gauge!("clip_pool_connections_max", "pool" => pool.clone()),
            utilization: gauge!("clip_pool_utilization_ratio", "pool" => pool.clone()),
            health: gauge!("clip_pool_health", "pool" => pool.clone()),
            acquisitions: counter!("clip_pool_acquisitions_total", "pool" => pool.clone()),
            connect_errors: counter!("clip_pool_connect_errors_total", "pool" => pool.clone()),
            query_errors: counter!("clip_pool_query_errors_total", "pool" => pool.clone()),
            created: counter!("clip_pool_connections_created_total", "pool" => pool.clone()),
            closed: counter!("clip_pool_connections_closed_total", "pool" => pool),
        }
    }

    /// Publishes a snapshot (maintenance task): gauges, and counters as absolute totals so
    /// the hot path never touches them.
    pub fn publish(&self, s: &PoolStats) {
        self.connections.set(s.connections);
        self.idle.set(s.idle);
        self.in_use.set(s.in_use);
        self.waiting.set(s.waiting);
        self.max.set(s.max_connections);
        self.utilization.set(s.utilization);
        self.health.set(s.health as u8);
        self.acquisitions.absolute(s.acquisitions);
        self.connect_errors.absolute(s.connect_errors);
        self.query_errors.absolute(s.query_errors);
        self.created.absolute(s.connections_created);
        self.closed.absolute(s.connections_closed);
    }
}
