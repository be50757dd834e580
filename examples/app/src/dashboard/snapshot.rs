//! `GET /api/admin/dashboard`: everything the dashboard draws, in one document the page
//! polls: this instance's status and recent samples, the pool, the CDN, the advisory
//! scaling verdict with its thresholds, and the autoscaler's status when it answers.

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::DashboardState;
use super::history::SAMPLE_EVERY;
use crate::routes::admin::status_of;

/// The dashboard's data.
pub async fn snapshot(State(dashboard): State<DashboardState>) -> Response {
    let app = &dashboard.app;
    let autoscaler = dashboard.autoscaler.view().await;
    let pool = app.db.pool();
    let (pool_health, pool_reason) = pool.health();
    let cdn = app.cdn.config();
    let body = json!({
        "instance": status_of(app),
        "sample_every_seconds": SAMPLE_EVERY.as_secs_f64(),
        "history": dashboard.history.samples(),
        "pool": {
            "stats": pool.stats(),
            "health": { "status": pool_health, "reason": pool_reason },
        },
        "cdn": {
            "stats": app.cdn.stats(),
            "enabled": cdn.enabled,
            "base_url": cdn.base_url,
            "healthy": app.cdn.cdn_healthy(),
            "image_cache": {
                "entries": app.img_cache.entry_count(),
                "bytes": app.img_cache.weighted_size(),
                "max_bytes": app.config.images.cache_max_bytes,
            },
        },
        "scaling": {
            "advice": app.scaling.report(),
            "thresholds": app.config.scaling,
        },
        "autoscaler": autoscaler,
    });
    ([(CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}
