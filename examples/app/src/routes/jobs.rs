//! `GET /api/jobs/{id}`: a job's state, attempts, progress, error and result.

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::extract::Path;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// The job.
pub async fn show(State(app): State<AppState>, Path(id): Path<i64>) -> ApiResult<Response> {
    match app.queue.job(id).await? {
        Some(job) => Ok(axum::Json(job).into_response()),
        None => Err(Problem::not_found(format!("job {id}"))),
    }
}
