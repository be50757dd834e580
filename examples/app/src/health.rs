//! The health registry (clip-health) with the app's checks: the database through the pool
//! (critical: no database, not ready), the job queue and the CDN (non-critical: they
//! degrade the service, they do not stop it). Checks refresh in the background, so probes
//! never wait on a dependency. Object storage has no check: a probe per second would be a
//! billed request per second on S3; uploads and reads report its failures themselves.

use std::time::Duration;

use clip_cdn::Cdn;
use clip_health::{Check, CheckOutcome, Criticality, HealthRegistry};
use clip_pool::PoolHealth;

use crate::config::AppConfig;
use crate::db::Db;
use crate::jobs::Queue;

/// How often checks run in the background.
const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// The registry with its checks; readiness fails until `mark_started`.
pub fn registry(app: &AppConfig, db: &Db, queue: &Queue, cdn: &Cdn) -> HealthRegistry {
    let mut config = app.health.clone();
    // Operators holding the admin token see check details too.
    if config.details_token.is_none() {
        config.details_token = app.admin.token.as_ref().map(|t| t.expose().to_owned());
    }
    // The guide's scale-up threshold of the queue.
    let queue_warn_above = app.scaling.queue_length.up;
    let instance_id = app.server.instance_id.as_str();
    let pool = db.clone();
    let jobs = queue.clone();
    let assets = cdn.clone();
    let registry = HealthRegistry::builder()
        .config(config)
        .version(env!("CARGO_PKG_VERSION"))
        .service_id(instance_id)
        .description("clip-app: the Creator Clip server")
        .require_startup()
        .with_check(
            Check::new(
                "postgres",
                Criticality::Critical,
                Duration::from_secs(2),
                move || {
                    let db = pool.clone();
                    async move { postgres(&db).await }
                },
            )
            .component_type("datastore")
            .measurement("connections"),
        )
        .with_check(
            Check::new(
                "queue",
                Criticality::NonCritical,
                Duration::from_secs(1),
                move || {
                    let pending = jobs.pending();
                    async move { queue_length(pending, queue_warn_above) }
                },
            )
            .component_type("component")
            .measurement("length"),
        )
        .with_check(
            Check::new(
                "cdn",
                Criticality::NonCritical,
                Duration::from_secs(1),
                move || {
                    let cdn = assets.clone();
                    async move { cdn_state(&cdn) }
                },
            )
            .component_type("component"),
        )
        .build();
    registry.spawn_background_refresh(REFRESH_EVERY);
    registry
}

async fn postgres(db: &Db) -> CheckOutcome {
    let probe = db
        .read(async |c| c.query_one("SELECT 1", &[]).await.map(|_| ()))
        .await;
    let stats = db.pool().stats();
    let (health, why) = db.pool().health();
    let outcome = match (probe, health) {
        (Err(e), _) => CheckOutcome::fail(e.to_string()),
        (Ok(()), PoolHealth::Healthy) => CheckOutcome::pass(),
        (Ok(()), _) => CheckOutcome::warn(why),
    };
    outcome.observed(stats.in_use, "connections in use")
}

fn queue_length(pending: Option<u64>, warn_above: f64) -> CheckOutcome {
    match pending {
        None => CheckOutcome::warn("queue length unknown: the database did not answer"),
        Some(n) if n as f64 > warn_above => {
            CheckOutcome::warn(format!("{n} jobs waiting, above {warn_above}")).observed(n, "jobs")
        }
        Some(n) => CheckOutcome::pass().observed(n, "jobs"),
    }
}

fn cdn_state(cdn: &Cdn) -> CheckOutcome {
    if !cdn.config().cdn_active() {
        // Off by configuration: assets come from this origin, nothing is degraded.
        return CheckOutcome::pass();
    }
    if cdn.cdn_healthy() {
        CheckOutcome::pass()
    } else {
        CheckOutcome::warn("the CDN's circuit is open: pages link the origin until it recovers")
    }
}
