//! The guard of the admin endpoints: off (403) without `ADMIN_TOKEN`, never open; 403 from
//! outside `ADMIN_ALLOWED_NETWORKS` when set; 401 without the bearer token or with a wrong
//! one. Tokens are compared as SHA-256 digests in constant time (`subtle`), so neither the
//! position of a difference nor the token's length shows in the timing.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::client_ip::ClientIps;
use crate::config::AdminConfig;
use crate::problem::Problem;

/// What the guard checks.
#[derive(Clone, Debug)]
pub struct AdminGuard {
    token_digest: Option<[u8; 32]>,
    networks: Arc<[IpNet]>,
    clients: ClientIps,
}

impl AdminGuard {
    /// The guard of `config`, resolving clients with `clients`.
    pub fn new(config: &AdminConfig, clients: ClientIps) -> Self {
        Self {
            token_digest: config
                .token
                .as_ref()
                .map(|t| Sha256::digest(t.expose().as_bytes()).into()),
            networks: config.allowed_networks.as_slice().into(),
            clients,
        }
    }

    /// Whether a token is configured (the admin endpoints are on).
    pub fn enabled(&self) -> bool {
        self.token_digest.is_some()
    }

    /// Why `request` may not pass, if it may not.
    fn refusal(&self, request: &Request) -> Option<Refusal> {
        let Some(expected) = &self.token_digest else {
            return Some(Refusal::Off);
        };
        if !self.networks.is_empty() {
            let allowed = self
                .clients
                .of(request)
                .is_some_and(|ip| self.networks.iter().any(|n| n.contains(&ip)));
            if !allowed {
                return Some(Refusal::Network);
            }
        }
        let presented = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token);
        let valid = presented.is_some_and(|token| {
            let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            bool::from(digest.ct_eq(expected))
        });
        match (valid, presented) {
            (true, _) => None,
            (false, None) => Some(Refusal::NoToken),
            (false, Some(_)) => Some(Refusal::WrongToken),
        }
    }
}

/// Why the guard refuses a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Off,
    Network,
    NoToken,
    WrongToken,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, detail) = match self {
            Refusal::Off => (
                StatusCode::FORBIDDEN,
                "the admin endpoints are off: set ADMIN_TOKEN (or ADMIN_TOKEN_FILE) to turn them on",
            ),
            Refusal::Network => (
                StatusCode::FORBIDDEN,
                "the admin endpoints are not reachable from this network (ADMIN_ALLOWED_NETWORKS)",
            ),
            Refusal::NoToken => (
                StatusCode::UNAUTHORIZED,
                "send the admin token as `Authorization: Bearer <ADMIN_TOKEN>`",
            ),
            Refusal::WrongToken => (StatusCode::UNAUTHORIZED, "the bearer token is wrong"),
        };
        let mut response = Problem::new(status, detail).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="clip-admin""#),
            );
        }
        response
    }
}

/// The middleware (`axum::middleware::from_fn_with_state`).
pub async fn require_admin(
    State(guard): State<AdminGuard>,
    request: Request,
    next: Next,
) -> Response {
    match guard.refusal(&request) {
        None => next.run(request).await,
        Some(refusal) => refusal.into_response(),
    }
}

/// The middleware of pages that hold no data themselves and send the token with their own
/// requests (the dashboard's page): off without a token configured and 403 outside the
/// allowed networks, like every admin path, but no token needed to load the page.
pub async fn require_admin_network(
    State(guard): State<AdminGuard>,
    request: Request,
    next: Next,
) -> Response {
    match guard.refusal(&request) {
        Some(refusal @ (Refusal::Off | Refusal::Network)) => refusal.into_response(),
        _ => next.run(request).await,
    }
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
