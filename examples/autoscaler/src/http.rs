//! The HTTP surface on `AUTOSCALER_PORT`: `GET /status`, `POST /override` (bearer token),
//! `GET /health`, `GET /metrics`.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::autoscaler::{Autoscaler, OverrideRefusal};

/// The router of an autoscaler.
pub fn router(autoscaler: Autoscaler) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/override", post(set_override))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(autoscaler)
}

async fn status(State(a): State<Autoscaler>) -> Response {
    axum::Json(a.status()).into_response()
}

async fn health(State(a): State<Autoscaler>) -> Response {
    let role = if a.is_leader() { "leader" } else { "passive" };
    (
        [(header::CONTENT_TYPE, "application/health+json")],
        json!({ "status": "pass", "role": role }).to_string(),
    )
        .into_response()
}

async fn metrics(State(a): State<Autoscaler>) -> Response {
    match a.render_metrics() {
        Some(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        None => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "another metrics recorder was installed in this process; its exporter serves the autoscaler's metrics",
        ),
    }
}

/// `POST /override` body: set with `target`, `reason`, `expires_in_seconds`; clear with
/// `{"clear": true}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideRequest {
    target: Option<u32>,
    reason: Option<String>,
    expires_in_seconds: Option<f64>,
    #[serde(default)]
    clear: bool,
}

async fn set_override(State(a): State<Autoscaler>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(expected) = a.config().token.as_deref() else {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "overrides are disabled: start the autoscaler with AUTOSCALER_TOKEN or AUTOSCALER_TOKEN_FILE",
        );
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Constant time in the token's content (its length is not a secret worth hiding).
    if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        let mut r = problem(
            StatusCode::UNAUTHORIZED,
            "POST /override needs the header Authorization: Bearer <AUTOSCALER_TOKEN>",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return r;
    }
    let request: OverrideRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!(
                    "the body must be JSON {{\"target\": N, \"reason\": \"...\", \"expires_in_seconds\": S}} \
                     or {{\"clear\": true}}: {e}"
                ),
            );
        }
    };
    let outcome = if request.clear {
        a.clear_override().map(|()| json!({ "override": null }))
    } else {
        match (
            request.target,
            request.reason.as_deref(),
            request.expires_in_seconds,
        ) {
            (Some(target), Some(reason), Some(seconds)) => {
                match Duration::try_from_secs_f64(seconds) {
                    Ok(d) => a
                        .set_override(target, reason, d)
                        .map(|o| json!({ "override": o })),
                    Err(_) => Err(OverrideRefusal::Invalid(
                        "expires_in_seconds must be a positive number of seconds".into(),
                    )),
                }
            }
            _ => Err(OverrideRefusal::Invalid(
                "an override needs target, reason and expires_in_seconds (or clear: true)".into(),
            )),
        }
    };
    match outcome {
        Ok(body) => axum::Json(body).into_response(),
        Err(OverrideRefusal::Passive) => problem(
            StatusCode::CONFLICT,
            "this autoscaler is passive (another one holds the leader lock): send the override to the leader",
        ),
        Err(OverrideRefusal::Invalid(why)) => problem(StatusCode::UNPROCESSABLE_ENTITY, &why),
        Err(OverrideRefusal::NotSaved(why)) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!(
                "the override is in force but was not saved, so a restart would lose it: {why}"
            ),
        ),
    }
}

/// An `application/problem+json` answer.
fn problem(status: StatusCode, detail: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        json!({
            "title": status.canonical_reason().unwrap_or("error"),
            "status": status.as_u16(),
            "detail": detail,
        })
        .to_string(),
    )
        .into_response()
}
