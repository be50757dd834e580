//! Upkeep every instance runs: requeueing jobs whose worker died (expired leases), sampling
//! the fleet-wide queue length for `/metrics` and the health check, and sweeping what
//! interrupted uploads left in storage.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::queue::Queue;
use crate::storage::Storage;
use crate::telemetry::{self, FailureReason};

/// How often the queue length is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// How often storage is swept.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Starts the upkeep task; it ends when `stop` is cancelled.
pub fn spawn_maintenance(
    queue: Queue,
    storage: Storage,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let reap_every = (queue.config().lease_timeout / 4)
        .clamp(Duration::from_millis(100), Duration::from_secs(5));
    let pending = metrics::gauge!(telemetry::JOBS_PENDING);
    tokio::spawn(async move {
        let mut reap = tokio::time::interval(reap_every);
        let mut sample = tokio::time::interval(SAMPLE_EVERY);
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        for tick in [&mut reap, &mut sample, &mut sweep] {
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = reap.tick() => match queue.requeue_expired().await {
                    Ok(expired) if expired.is_empty() => {}
                    Ok(expired) => {
                        let dead = expired.iter().filter(|(_, dead)| *dead).count();
                        tracing::warn!(jobs = expired.len(), dead, "jobs of a worker that stopped answering were queued again (or buried when out of attempts)");
                        for (kind, _) in expired {
                            telemetry::failed(kind.as_str(), FailureReason::LeaseExpired);
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "lease reaper: database unavailable"),
                },
                _ = sample.tick() => match queue.sample_pending().await {
                    Ok(n) => pending.set(n as f64),
                    Err(e) => tracing::debug!(error = %e, "queue length: database unavailable"),
                },
                _ = sweep.tick() => match storage.sweep().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(pieces = n, "swept what interrupted uploads left in storage"),
                    Err(e) => tracing::debug!(error = %e, "storage sweep failed; next time"),
                },
            }
        }
    })
}
