//! The HTML pages (`/`, `/projects/{id}`; templates in [`crate::pages`]) and the static files
//! they link (`/static/{name}`).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::IF_NONE_MATCH;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::extract::{Path, Query};
use crate::pages::{home, project as project_page, queries};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;
use crate::static_files;

/// Project cards per page of `/`.
const CARDS_PER_PAGE: i64 = 24;
/// Images shown on a project page.
const IMAGES_PER_PAGE: i64 = 120;

/// `GET /` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HomeQuery {
    /// Show projects older than this id (the "Older projects" link).
    before: Option<i64>,
}

/// `GET /`: the newest projects.
pub async fn home(
    State(app): State<AppState>,
    Query(query): Query<HomeQuery>,
) -> ApiResult<Response> {
    let cards = queries::project_cards(&app.db, query.before, CARDS_PER_PAGE).await?;
    let markup = home::render(
        &app.cdn,
        &app.config.server.instance_id,
        &cards,
        query.before.is_none(),
    );
    Ok(Html(markup.into_string()).into_response())
}

/// `GET /projects/{id}`: a project and its images.
pub async fn project(State(app): State<AppState>, Path(id): Path<i64>) -> ApiResult<Response> {
    let project = app
        .db
        .project(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("project {id}")))?;
    let (images, total) = tokio::try_join!(
        queries::gallery(&app.db, id, IMAGES_PER_PAGE),
        queries::image_count(&app.db, id),
    )?;
    let markup = project_page::render(
        &app.cdn,
        &app.config.server.instance_id,
        &project,
        &images,
        total,
    );
    Ok(Html(markup.into_string()).into_response())
}

/// `GET /static/{name}` query.
#[derive(Debug, Deserialize)]
pub struct StaticQuery {
    /// The content digest the page linked.
    v: Option<String>,
}

/// `GET /static/{name}`: a stylesheet, script or icon of the pages.
pub async fn static_file(
    Path(name): Path<String>,
    Query(query): Query<StaticQuery>,
    headers: HeaderMap,
) -> Response {
    static_files::response(
        &name,
        query.v.as_deref(),
        headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()),
    )
}
