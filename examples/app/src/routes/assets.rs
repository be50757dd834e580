//! Image uploads (`POST /api/projects/{id}/assets`, multipart or a raw body, received by
//! `upload`), each queuing its renditions job; and the project's assets with
//! their URLs.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::extract::{Path, Query};
use super::projects::require_project;
use super::upload;
use crate::Error;
use crate::db::{Asset, NewAsset};
use crate::jobs::JobKind;
use crate::media_type;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;
use tokio_postgres::error::SqlState;

/// How many assets the list shows.
const MAX_LISTED: i64 = 200;

/// `POST /api/projects/{id}/assets?filename=..` (raw bodies name the file this way).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    filename: Option<String>,
}

/// An asset as the API shows it: with the paths that serve it.
#[derive(Debug, Serialize)]
pub struct AssetView {
    #[serde(flatten)]
    asset: Asset,
    /// The original, with HTTP Range support.
    media_url: String,
    /// The image origin path to give `cdn.image(..)` (renditions, transforms, negotiation).
    image_path: String,
}

impl From<Asset> for AssetView {
    fn from(asset: Asset) -> Self {
        AssetView {
            media_url: format!("/media/assets/{}", asset.id),
            image_path: image_path(&asset),
            asset,
        }
    }
}

/// The versioned `/img` path of an asset: its content hash makes it immutable.
pub fn image_path(asset: &Asset) -> String {
    format!("/img/{}/{}", asset.id, asset.sha256)
}

/// Streams the upload into storage and queues its job: 202 with the asset and the job.
pub async fn upload(
    State(app): State<AppState>,
    Path(project_id): Path<i64>,
    Query(query): Query<UploadQuery>,
    request: Request,
) -> ApiResult<Response> {
    require_project(&app, project_id).await?;
    let limit = app.config.http.max_upload_bytes as u64;
    let key = format!(
        "projects/{project_id}/assets/{}/original",
        uuid::Uuid::new_v4().simple()
    );
    let received = upload::receive(&app.storage, request, &key, limit, query.filename).await?;
    // The bytes say what they are better than the client does.
    let content_type = media_type::sniff(&received.head)
        .map(|f| f.mime_type().to_owned())
        .or(received.declared_type);
    let filename = received.filename;
    let stored = received.stored;
    let new = NewAsset {
        project_id,
        filename: &filename,
        content_type: content_type.as_deref(),
        size: i64::try_from(stored.size).unwrap_or(i64::MAX),
        sha256: &stored.sha256,
        storage_key: &key,
    };
    let max_attempts = i32::try_from(app.queue.config().max_attempts).unwrap_or(3);
    let created = app
        .db
        .create_asset_with_job(&new, JobKind::Image.as_str(), max_attempts)
        .await;
    let (asset, job_id) = match created {
        Ok(created) => created,
        Err(e) => {
            // The project was deleted meanwhile, or the database failed: no orphan file.
            let _ = app.storage.delete(&key).await;
            return Err(match e {
                Error::Query(q) if q.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => {
                    Problem::not_found(format!("project {project_id}"))
                }
                other => other.into(),
            });
        }
    };
    app.queue.notify_queued();
    let job_url = format!("/api/jobs/{job_id}");
    let body = serde_json::json!({
        "asset": AssetView::from(asset),
        "job": { "id": job_id, "state": "queued", "url": job_url },
    });
    Ok((
        StatusCode::ACCEPTED,
        [(LOCATION, job_url)],
        axum::Json(body),
    )
        .into_response())
}

/// The project's assets, newest first, with their renditions and URLs.
pub async fn list(State(app): State<AppState>, Path(project_id): Path<i64>) -> ApiResult<Response> {
    require_project(&app, project_id).await?;
    let assets = app.db.project_assets(project_id, MAX_LISTED).await?;
    let items: Vec<AssetView> = assets.into_iter().map(AssetView::from).collect();
    Ok(axum::Json(serde_json::json!({ "items": items })).into_response())
}
