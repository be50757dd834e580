//! Per-endpoint rate limits (GCRA, from `governor` through `tower_governor`), keyed by the
//! client address of [`ClientIps`]; refused requests get 429 with `Retry-After`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use governor::middleware::NoOpMiddleware;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::KeyExtractor;
use tower_governor::{GovernorError, GovernorLayer};

use super::client_ip::ClientIps;
use crate::Error;
use crate::config::Rate;
use crate::problem::Problem;
use crate::telemetry;

/// The key of a request: its client address (unspecified when the server gave no peer).
#[derive(Clone, Debug)]
pub struct ClientKey(pub ClientIps);

impl KeyExtractor for ClientKey {
    type Key = IpAddr;

    fn extract<T>(&self, req: &Request<T>) -> Result<IpAddr, GovernorError> {
        Ok(self.0.of(req).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
    }
}

/// The limiter of one endpoint group.
pub type Limiter = GovernorLayer<ClientKey, NoOpMiddleware, Body>;

/// One group's configuration; kept to purge idle clients from its table.
pub type LimiterConfig = Arc<GovernorConfig<ClientKey, NoOpMiddleware>>;

/// A limiter allowing `rate` per client (the group's name is for the error), with its
/// configuration.
pub fn limiter(
    group: &str,
    rate: Rate,
    clients: &ClientIps,
) -> Result<(Limiter, LimiterConfig), Error> {
    let period = Duration::from_nanos((1_000_000_000 / u64::from(rate.per_second.max(1))).max(1));
    let config = GovernorConfigBuilder::default()
        .key_extractor(ClientKey(clients.clone()))
        .period(period)
        .burst_size(rate.burst)
        .finish()
        .map(Arc::new)
        .ok_or_else(|| {
            Error::config(
                format!("RATE_LIMIT_{group}_BURST"),
                Some(rate.burst.to_string()),
                "the rate and the burst must be at least 1",
            )
        })?;
    let layer = GovernorLayer::new(config.clone()).error_handler(too_many_requests);
    Ok((layer, config))
}

fn too_many_requests(error: GovernorError) -> Response {
    match error {
        GovernorError::TooManyRequests { wait_time, .. } => {
            telemetry::shed("rate_limit");
            Problem::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "too many requests from this client; slow down and retry after the delay given",
            )
            .retry_after(Duration::from_secs(wait_time.max(1)))
            .into_response()
        }
        other => {
            tracing::error!(error = %other, "rate limiter failed");
            Problem::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal error in the rate limiter",
            )
            .into_response()
        }
    }
}
