//! The scaling dashboard, `/admin/scaling`: this instance's CPU and memory, requests and
//! p95, database pool, job queue and CDN as live charts; the scaling policy's verdict with
//! its triggers and recent changes; and the autoscaler's view of the fleet (instances, last
//! decision, scaling events) when it answers at `AUTOSCALER_URL`.
//!
//! The page itself holds no data: the admin guard lets it through without the token when
//! the admin endpoints are on (and the caller's network is allowed), and its script asks
//! for the token, keeps it in `sessionStorage` and sends it as a bearer token when it polls
//! `/api/admin/dashboard` (behind the full guard) every few seconds. The charts are SVG
//! drawn by `dashboard.js`, a small script of our own: no chart library, nothing loaded
//! from outside the app.

mod autoscaler;
mod config;
mod history;
mod page;
mod snapshot;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

pub use autoscaler::{Autoscaler, AutoscalerView};
pub use config::{DEFAULT_AUTOSCALER_URL, DashboardConfig};
pub use history::{History, KEEP, SAMPLE_EVERY, Sample};
pub use page::page;

use crate::scaling::RequestWindow;
use crate::state::AppState;
use crate::static_files::StaticFile;

/// The dashboard's stylesheet and script.
pub const ASSETS: &[StaticFile] = &[
    StaticFile {
        name: "dashboard.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("assets/dashboard.css"),
    },
    StaticFile {
        name: "dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/dashboard.js"),
    },
];

/// What the data endpoint reads.
#[derive(Clone, Debug)]
pub struct DashboardState {
    app: AppState,
    history: Arc<History>,
    autoscaler: Arc<Autoscaler>,
}

/// `GET /api/admin/dashboard` (to put behind the admin guard). Starts sampling `app`
/// (requests from `window`) for as long as the router lives.
pub fn data_routes<S: Clone + Send + Sync + 'static>(
    app: &AppState,
    window: Arc<RequestWindow>,
) -> Router<S> {
    let state = DashboardState {
        history: History::start(app.clone(), window),
        autoscaler: Arc::new(Autoscaler::new(
            app.config.dashboard.autoscaler_url.as_ref(),
        )),
        app: app.clone(),
    };
    Router::new()
        .route("/api/admin/dashboard", get(snapshot::snapshot))
        .with_state(state)
}
