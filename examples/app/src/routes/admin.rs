//! The admin JSON APIs (behind [`crate::http::admin`]): pool and database figures, CDN and
//! image cache figures, the advisory scaling verdict, and this instance's status.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::config::DatabaseConfig;
use crate::problem::ApiResult;
use crate::state::AppState;

/// `GET /api/admin/db-stats`: the pool's stats and verdict, and the server's view.
pub async fn db_stats(State(app): State<AppState>) -> ApiResult<Response> {
    let pool = app.db.pool();
    let (health, reason) = pool.health();
    // The pool's figures must show even while the database is down.
    let server = app
        .db
        .read(async |c| {
            c.query_one(
                "SELECT current_setting('server_version'),
                        (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()),
                        pg_database_size(current_database())",
                &[],
            )
            .await
        })
        .await
        .map(|row| {
            json!({
                "version": row.get::<_, String>(0),
                "connections": row.get::<_, i64>(1),
                "database_bytes": row.get::<_, i64>(2),
            })
        })
        .unwrap_or_else(|e| json!({ "error": e.to_string() }));
    Ok(axum::Json(json!({
        "pool": pool.stats(),
        "health": { "status": health, "reason": reason },
        "config": pool.config(),
        "server": server,
    }))
    .into_response())
}

/// `GET /api/admin/cdn-stats`: the CDN manager's stats and the `/img` cache.
pub async fn cdn_stats(State(app): State<AppState>) -> ApiResult<Response> {
    let config = app.cdn.config();
    app.img_cache.run_pending_tasks().await;
    Ok(axum::Json(json!({
        "cdn": app.cdn.stats(),
        "enabled": config.enabled,
        "base_url": config.base_url,
        "healthy": app.cdn.cdn_healthy(),
        "image_optimization": config.image_optimization,
        "image_cache": {
            "entries": app.img_cache.entry_count(),
            "bytes": app.img_cache.weighted_size(),
            "max_bytes": app.config.images.cache_max_bytes,
        },
        "optimizer_slots_free": app.optimizer.available(),
    }))
    .into_response())
}

/// `GET /api/admin/scaling`: the policy's verdict on this instance's metrics, its reasons,
/// recent changes, and the thresholds in force.
pub async fn scaling(State(app): State<AppState>) -> ApiResult<Response> {
    let report = app.scaling.report();
    Ok(axum::Json(json!({
        "advice": report,
        "thresholds": app.config.scaling,
    }))
    .into_response())
}

/// What `/status` shows.
#[derive(Debug, Serialize)]
pub struct Status {
    /// `INSTANCE_ID`.
    pub instance: String,
    /// The app's version.
    pub version: &'static str,
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// Whether shutdown has begun (readiness fails).
    pub draining: bool,
    /// Requests being handled (health and metrics aside).
    pub requests_in_flight: usize,
    /// `MAX_CONCURRENT_REQUESTS`.
    pub max_concurrent_requests: usize,
    /// Jobs running on this instance.
    pub jobs_running: usize,
    /// Jobs waiting fleet-wide, as last sampled.
    pub jobs_pending: Option<u64>,
    /// `IMAGE_WORKERS`.
    pub image_workers: usize,
    /// The storage backend.
    pub storage: String,
    /// The database (password redacted).
    pub database: String,
    /// The pool's figures.
    pub pool: clip_pool::PoolStats,
    /// Whether the CDN serves (else pages link the origin).
    pub cdn_healthy: bool,
}

/// The status of this instance.
pub fn status_of(app: &AppState) -> Status {
    Status {
        instance: app.config.server.instance_id.clone(),
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: app.started.elapsed().as_secs(),
        draining: app.health.is_draining(),
        requests_in_flight: app.requests_in_flight(),
        max_concurrent_requests: app.config.http.max_concurrent_requests,
        jobs_running: app.queue.running_here(),
        jobs_pending: app.queue.pending(),
        image_workers: app.config.jobs.image_workers,
        storage: app.storage.describe(),
        database: match &app.config.database {
            DatabaseConfig::Url(url) => clip_pool::postgres::redact(url),
            DatabaseConfig::Embedded { data_dir } => format!("embedded ({})", data_dir.display()),
        },
        pool: app.db.pool().stats(),
        cdn_healthy: app.cdn.cdn_healthy(),
    }
}

/// `GET /status`.
pub async fn status(State(app): State<AppState>) -> ApiResult<Response> {
    Ok(axum::Json(status_of(&app)).into_response())
}
