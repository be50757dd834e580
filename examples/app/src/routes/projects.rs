//! `/api/projects`: create, list (keyset pages, newest first), show, delete.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::extract::{Json, Path, Query};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// Items per page unless `?limit=` says otherwise.
const DEFAULT_PAGE: u32 = 20;
/// The largest page.
const MAX_PAGE: u32 = 100;
/// The longest project name, in characters.
const MAX_NAME: usize = 200;

/// `POST /api/projects` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    name: String,
}

/// `GET /api/projects` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

/// Refuses with a 404 naming it unless project `id` exists (for the routes below a project).
pub(super) async fn require_project(app: &AppState, id: i64) -> ApiResult<()> {
    match app.db.project(id).await? {
        Some(_) => Ok(()),
        None => Err(Problem::not_found(format!("project {id}"))),
    }
}

/// Creates a project: 201 with the project and its `Location`.
pub async fn create(
    State(app): State<AppState>,
    Json(body): Json<NewProject>,
) -> ApiResult<Response> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("name must be 1 to {MAX_NAME} characters"),
        ));
    }
    let project = app.db.create_project(name).await?;
    let location = format!("/api/projects/{}", project.id);
    Ok((
        StatusCode::CREATED,
        [(LOCATION, location)],
        axum::Json(project),
    )
        .into_response())
}

/// One page of projects, newest first: `{"items": [..], "next_cursor": ".."}`.
pub async fn list(
    State(app): State<AppState>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Response> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Problem::bad_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let before =
        match query.cursor.as_deref() {
            None | Some("") => None,
            Some(cursor) => Some(cursor.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(
                || Problem::bad_request("cursor is not one this API gave (use next_cursor)"),
            )?),
        };
    let page = app.db.list_projects(before, limit).await?;
    Ok(axum::Json(page).into_response())
}

/// One project.
pub async fn show(State(app): State<AppState>, Path(id): Path<i64>) -> ApiResult<Response> {
    match app.db.project(id).await? {
        Some(project) => Ok(axum::Json(project).into_response()),
        None => Err(Problem::not_found(format!("project {id}"))),
    }
}

/// Deletes a project with its assets, jobs and stored files: 204.
pub async fn delete(State(app): State<AppState>, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    if !app.db.delete_project(id).await? {
        return Err(Problem::not_found(format!("project {id}")));
    }
    // The rows are gone; files left behind by a storage failure are only unreachable bytes.
    if let Err(e) = app.storage.delete_prefix(&format!("projects/{id}/")).await {
        tracing::warn!(project = id, error = %e, "project deleted, but its stored files were not");
    }
    Ok(StatusCode::NO_CONTENT)
}
