//! The HTTP stack around the router, from tower-http and clip-health: `X-Instance-Id` and
//! security headers on every answer, the session-affinity cookie when asked, the liveness
//! fast path, request ids, tracing and compression.

pub mod admin;
pub mod client_ip;
pub mod overload;
pub mod rate_limit;

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{REFERRER_POLICY, SET_COOKIE, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use clip_health::axum::{LivenessLayer, RedLayer};
use tower::{Service, ServiceBuilder};
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::Error;
use crate::config::AppConfig;

/// The header naming the instance that answered.
pub const X_INSTANCE_ID: HeaderName = HeaderName::from_static("x-instance-id");

/// The cookie a load balancer can pin sessions on (`SESSION_AFFINITY=true`).
pub const AFFINITY_COOKIE: &str = "clip_instance";

/// The router wrapped in the stack, ready for `axum::serve`.
pub fn stack(
    router: Router,
    config: &AppConfig,
    red: &RedLayer,
) -> Result<
    impl Service<Request, Response = Response, Error = Infallible, Future: Send>
    + Clone
    + Send
    + 'static,
    Error,
> {
    let instance = HeaderValue::from_str(&config.server.instance_id).map_err(|_| {
        Error::config(
            "INSTANCE_ID",
            Some(config.server.instance_id.clone()),
            "must be visible ASCII (it is sent as the X-Instance-Id header)",
        )
    })?;
    let affinity = config
        .http
        .session_affinity
        .then(|| {
            HeaderValue::from_str(&format!(
                "{AFFINITY_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax",
                config.server.instance_id
            ))
            .ok()
        })
        .flatten()
        .map(|cookie| SetResponseHeaderLayer::if_not_present(SET_COOKIE, cookie));
    Ok(ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::overriding(X_INSTANCE_ID, instance))
        .layer(SetResponseHeaderLayer::if_not_present(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ))
        .option_layer(affinity)
        .layer(LivenessLayer::recording(red))
        // One body type below the liveness fast path, whatever the layers made of it.
        .map_response(|response: axum::http::Response<_>| response.map(Body::new))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(CompressionLayer::new())
        .service(router))
}
