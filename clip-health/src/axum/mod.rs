//! axum routes for the health registry: liveness, readiness, the full report and `/metrics`.
//!
//! | route | answers | calls dependencies |
//! |---|---|---|
//! | `GET /health`, `GET /lb-health` | liveness: always `200 {"status":"pass"}` | never |
//! | `GET /api/health/ready` | readiness: critical checks, draining, startup; 200 or 503 | critical checks (cached) |
//! | `GET /api/health/started` | startup (Kubernetes `startupProbe`): 503 until [`HealthRegistry::mark_started`], then 200 | never |
//! | `GET /api/health` | full report; details only with `Authorization: Bearer <token>` | all checks (cached) |
//! | `GET /metrics` | Prometheus text (only when a `PrometheusHandle` is given): the recorder's metrics, then `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_start_time_seconds` | never |
//!
//! Health answers are `application/health+json` with `Cache-Control: no-store` (a cached
//! "pass" in a proxy would hide an outage).
//!
//! [`LivenessLayer`] answers the two liveness routes before routing (same answer, same RED
//! series), for servers where probes are a large share of the requests.

use axum::Router;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::process::ProcessMetrics;
use crate::{HEALTH_JSON, HealthRegistry, HealthReport};

mod auth;
mod liveness;
mod red;

pub use liveness::{Liveness, LivenessFuture, LivenessLayer};
pub use red::{RedFuture, RedLayer, RedService};

const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
const HEALTH_JSON_VALUE: HeaderValue = HeaderValue::from_static(HEALTH_JSON);
/// Liveness never depends on anything, so its body is a constant.
const LIVE_BODY: &str = r#"{"status":"pass"}"#;

/// The health routes (and `/metrics` when `prometheus` is given), ready to merge into an app.
///
/// It is a `Router<()>`: merge it into your app after your own `with_state(..)`, e.g.
/// `Router::new().route(..).with_state(app_state).merge(clip_health::axum::router(..))`.
///
/// Routes: `/health`, `/lb-health`, `/api/health/ready`, `/api/health/started`, `/api/health`
/// and `/metrics` (see the [module docs](self)):
///
/// ```
/// # use std::time::Duration;
/// # use clip_health::{Criticality, HealthRegistry};
/// let health = HealthRegistry::builder()
///     .check("postgres", Criticality::Critical, Duration::from_secs(2), || async { Ok::<(), String>(()) })
///     .build();
/// let app: axum::Router = axum::Router::new()
///     .route("/clips", axum::routing::get(|| async { "[]" }))
///     .merge(clip_health::axum::router(health.clone(), None));
/// # let _ = app;
/// ```
pub fn router(health: HealthRegistry, prometheus: Option<PrometheusHandle>) -> Router {
    let routes = Router::new()
        .route("/health", get(liveness))
        .route("/lb-health", get(liveness))
        .route("/api/health", get(full_report))
        .route("/api/health/ready", get(readiness))
        .route("/api/health/started", get(startup))
        .with_state(health);
    match prometheus {
        Some(handle) => {
            let state = (handle, ProcessMetrics::shared());
            routes.route("/metrics", get(metrics).with_state(state))
        }
        None => routes,
    }
}

async fn liveness() -> Response {
    (
        [(CONTENT_TYPE, HEALTH_JSON_VALUE), (CACHE_CONTROL, NO_STORE)],
        LIVE_BODY,
    )
        .into_response()
}

async fn readiness(State(health): State<HealthRegistry>, headers: HeaderMap) -> Response {
    let report = health.readiness().await;
    health_response(&health, &headers, &report)
}

async fn startup(State(health): State<HealthRegistry>, headers: HeaderMap) -> Response {
    health_response(&health, &headers, &health.startup())
}

async fn full_report(State(health): State<HealthRegistry>, headers: HeaderMap) -> Response {
    let report = health.report().await;
    health_response(&health, &headers, &report)
}

/// Serves `report`, reduced to its status unless the caller presents the details token.
fn health_response(
    health: &HealthRegistry,
    headers: &HeaderMap,
    report: &HealthReport,
) -> Response {
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(auth::bearer_token);
    let authorised = match (&health.config().details_token, presented) {
        (Some(expected), Some(presented)) => {
            auth::constant_time_eq(expected.as_bytes(), presented.as_bytes())
        }
        _ => false,
    };
    let body = if authorised {
        report.to_json()
    } else {
        report.status_only().to_json()
    };
    let status =
        StatusCode::from_u16(report.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    (
        status,
        [(CONTENT_TYPE, HEALTH_JSON_VALUE), (CACHE_CONTROL, NO_STORE)],
        body,
    )
        .into_response()
}

/// Refreshes the process gauges (which reads the CPU window, never restarts it), renders every
/// metric of the recorder, then the process collector's series. All of it runs on the blocking
/// pool: rendering thousands of series takes milliseconds, which must not stall the async
/// worker that also answers the load balancer's liveness probes.
async fn metrics(
    State((handle, process)): State<(PrometheusHandle, &'static ProcessMetrics)>,
) -> Response {
    let rendered = tokio::task::spawn_blocking(move || {
        let sample = process.record();
        let mut text = handle.render();
        sample.write_prometheus(&mut text);
        text
    })
    .await;
    match rendered {
        Ok(text) => (
            [
                (
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                ),
                (CACHE_CONTROL, NO_STORE),
            ],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering /metrics failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "rendering the metrics failed (see the server log); the next scrape will retry\n",
            )
                .into_response()
        }
    }
}
