//! The router: one file per area, each endpoint with its body limit and rate limit, the
//! overload protection around the app's routes, and the health routes (outside it).

pub mod admin;
pub mod assets;
mod extract;
pub mod img;
pub mod jobs;
pub mod media;
pub mod pages;
pub mod projects;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::middleware::{from_fn_with_state, map_response};
use axum::routing::{MethodRouter, get};
use clip_health::axum::RedLayer;
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::limit::RequestBodyLimitLayer;

use crate::Error;
use crate::dashboard;
use crate::http::admin::{AdminGuard, require_admin, require_admin_network};
use crate::http::client_ip::ClientIps;
use crate::http::overload;
use crate::http::rate_limit::{Limiter, LimiterConfig, limiter};
use crate::problem::{Problem, normalize};
use crate::scaling::{RequestWindow, count_requests};
use crate::state::AppState;

/// The router and the rate limiters' tables (to purge idle clients from).
pub struct Routes {
    /// Every route of the app.
    pub router: Router,
    /// The limiters' configurations.
    pub limiters: Vec<LimiterConfig>,
}

/// Builds every route of the app.
pub fn router(
    app: &AppState,
    prometheus: Option<PrometheusHandle>,
    red: &RedLayer,
    window: Arc<RequestWindow>,
) -> Result<Routes, Error> {
    let config = &app.config;
    let clients = ClientIps::new(
        &config.http.trusted_proxies,
        config.http.load_balancer_enabled,
    );
    let mut limiters = Vec::new();
    let mut group = |name: &str, rate| -> Result<Option<Limiter>, Error> {
        if !config.rate_limits.enabled {
            return Ok(None);
        }
        let (layer, table) = limiter(name, rate, &clients)?;
        limiters.push(table);
        Ok(Some(layer))
    };
    let limits = &config.rate_limits;
    let api = group("API", limits.api)?;
    let uploads = group("UPLOAD", limits.uploads)?;
    let images = group("IMG", limits.images)?;
    let admin = group("ADMIN", limits.admin)?;
    let pages = group("PAGES", limits.pages)?;
    let json_body = RequestBodyLimitLayer::new(config.http.max_json_body_bytes);
    let upload_body = RequestBodyLimitLayer::new(config.http.max_upload_bytes);

    let guard = AdminGuard::new(&config.admin, clients.clone());
    let admin_routes = Router::new()
        .route("/api/admin/db-stats", get(admin::db_stats))
        .route("/api/admin/cdn-stats", get(admin::cdn_stats))
        .route("/api/admin/scaling", get(admin::scaling))
        .route("/status", get(admin::status))
        .merge(dashboard::data_routes(app, window.clone()))
        .route_layer(from_fn_with_state(guard.clone(), require_admin));
    // The dashboard's page holds no figures; its script sends the token with its requests.
    let admin_pages = Router::new()
        .route("/admin/scaling", get(dashboard::page))
        .route_layer(from_fn_with_state(guard, require_admin_network));
    let admin_pages = match &admin {
        Some(limit) => admin_pages.route_layer(limit.clone()),
        None => admin_pages,
    };
    let admin_routes = match admin {
        Some(limit) => admin_routes.route_layer(limit),
        None => admin_routes,
    };

    let app_routes = Router::new()
        .route(
            "/api/projects",
            limited(get(projects::list).post(projects::create), &api).layer(json_body),
        )
        .route(
            "/api/projects/{id}",
            limited(get(projects::show).delete(projects::delete), &api),
        )
        .route(
            "/api/projects/{id}/assets",
            limited(get(assets::list), &api)
                .merge(limited(axum::routing::post(assets::upload), &uploads).layer(upload_body)),
        )
        .route("/api/jobs/{id}", limited(get(jobs::show), &api))
        .route("/img/{id}", limited(get(img::unversioned), &images))
        .route("/img/{id}/{version}", limited(get(img::versioned), &images))
        .route("/media/assets/{id}", limited(get(media::asset), &images))
        .route("/", limited(get(pages::home), &pages))
        .route("/projects/{id}", limited(get(pages::project), &pages))
        .route("/static/{name}", limited(get(pages::static_file), &pages))
        .merge(admin_routes)
        .merge(admin_pages)
        .fallback(not_found)
        .layer(DefaultBodyLimit::disable());
    let app_routes = overload::protect(
        app_routes,
        app.in_flight.clone(),
        config.http.request_timeout,
    )
    .with_state(app.clone());

    let router = app_routes
        .merge(clip_health::axum::router(app.health.clone(), prometheus))
        .layer(map_response(normalize))
        .layer(from_fn_with_state(window, count_requests))
        .layer(red.clone());
    Ok(Routes { router, limiters })
}

/// `route` with the group's rate limit, when limits are on.
fn limited(route: MethodRouter<AppState>, limit: &Option<Limiter>) -> MethodRouter<AppState> {
    match limit {
        Some(limit) => route.route_layer(limit.clone()),
        None => route,
    }
}

async fn not_found(method: Method, uri: Uri) -> Problem {
    Problem::not_found(format!("no route for {method} {}", uri.path()))
}
