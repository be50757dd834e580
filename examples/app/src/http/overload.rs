//! Overload protection of the app's routes: at most `MAX_CONCURRENT_REQUESTS` in flight
//! (tower's global concurrency limit), the rest shed at once with 503 and `Retry-After`
//! (tower's `LoadShed`: never an unbounded queue), and requests still running after
//! `REQUEST_TIMEOUT` answered 503 (tower-http's timeout). Health and metrics routes are
//! outside it, so probes and scrapes still answer under overload.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::{BoxError, ServiceBuilder};
use tower_http::timeout::TimeoutLayer;

use crate::problem::Problem;
use crate::telemetry;

/// `router` with the layers: every route shares one semaphore of `in_flight` permits.
pub fn protect<S>(router: Router<S>, in_flight: Arc<Semaphore>, timeout: Duration) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(shed))
            .layer(LoadShedLayer::new())
            .layer(GlobalConcurrencyLimitLayer::with_semaphore(in_flight))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                timeout,
            )),
    )
}

/// The answer to a request the concurrency limit refused.
async fn shed(error: BoxError) -> Response {
    if error.is::<tower::load_shed::error::Overloaded>() {
        telemetry::shed("overload");
        Problem::unavailable(
            "the server is at its limit of concurrent requests (MAX_CONCURRENT_REQUESTS); retry shortly",
            Duration::from_secs(1),
        )
        .into_response()
    } else {
        tracing::error!(%error, "unexpected error from the overload layers");
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
    }
}
