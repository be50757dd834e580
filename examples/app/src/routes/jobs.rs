//! `GET /api/jobs/{id}`: a job's state, attempts, progress, error and result;
//! `DELETE /api/jobs/{id}`: cancels it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::extract::Path;
use crate::jobs::queue::Cancelled;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// The job.
pub async fn show(State(app): State<AppState>, Path(id): Path<i64>) -> ApiResult<Response> {
    match app.queue.job(id).await? {
        Some(job) => Ok(axum::Json(job).into_response()),
        None => Err(Problem::not_found(format!("job {id}"))),
    }
}

/// Cancels the job, whichever instance runs it: a queued job at once (200 with the job); a
/// running one is stopped by its worker within `JOB_POLL_INTERVAL` or so, its partial
/// output removed (202 with the job; it reads `cancelled` once stopped); 409 when the job
/// already ended.
pub async fn cancel(State(app): State<AppState>, Path(id): Path<i64>) -> ApiResult<Response> {
    let status = match app.queue.cancel(id).await? {
        Cancelled::NotFound => return Err(Problem::not_found(format!("job {id}"))),
        Cancelled::AlreadyEnded(state) => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                format!("job {id} already ended ({state}): there is nothing to cancel"),
            ));
        }
        Cancelled::Now => StatusCode::OK,
        Cancelled::Requested => StatusCode::ACCEPTED,
    };
    let job = app
        .queue
        .job(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("job {id}")))?;
    Ok((status, axum::Json(job)).into_response())
}
