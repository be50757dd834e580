//! Uploads (`POST /api/projects/{id}/assets`, multipart or a raw body) streamed into
//! storage, each queuing its renditions job; and the project's assets with their URLs.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::extract::{Path, Query};
use crate::Error;
use crate::db::{Asset, NewAsset};
use crate::jobs::JobKind;
use crate::media_type;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;
use crate::storage::UploadStream;
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
    if app.db.project(project_id).await?.is_none() {
        return Err(Problem::not_found(format!("project {project_id}")));
    }
    let limit = app.config.http.max_upload_bytes as u64;
    let key = format!(
        "projects/{project_id}/assets/{}/original",
        uuid::Uuid::new_v4().simple()
    );
    let is_multipart = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));

    let mut head = Vec::with_capacity(16);
    let (filename, declared_type, stored) = if is_multipart {
        let mut multipart = Multipart::from_request(request, &())
            .await
            .map_err(|r| Problem::new(r.status(), r.body_text()))?;
        let field = loop {
            match multipart.next_field().await {
                Ok(Some(field)) if field.file_name().is_some() || field.name() == Some("file") => {
                    break field;
                }
                Ok(Some(_)) => continue,
                Ok(None) => {
                    return Err(Problem::bad_request(
                        "the multipart body has no file: send it in a field named \"file\"",
                    ));
                }
                Err(e) => return Err(Problem::new(e.status(), e.body_text())),
            }
        };
        let filename = field.file_name().unwrap_or("upload").to_owned();
        let declared = field.content_type().map(str::to_owned);
        let body: UploadStream<'_> = field
            .map_err(move |e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => Error::TooLarge { limit },
                _ => Error::BadRequest(format!("the upload was interrupted: {}", e.body_text())),
            })
            .inspect_ok(|bytes| remember_head(&mut head, bytes))
            .boxed();
        let stored = app.storage.put(&key, body, limit).await;
        (filename, declared, stored)
    } else {
        let declared = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: UploadStream<'_> = raw_body(request.into_body(), limit)
            .inspect_ok(|bytes| remember_head(&mut head, bytes))
            .boxed();
        let stored = app.storage.put(&key, body, limit).await;
        (
            query.filename.unwrap_or_else(|| "upload".to_owned()),
            declared,
            stored,
        )
    };
    let stored = stored?;
    if stored.size == 0 {
        let _ = app.storage.delete(&key).await;
        return Err(Problem::bad_request("the upload is empty"));
    }
    // The bytes say what they are better than the client does.
    let content_type = media_type::sniff(&head)
        .map(|f| f.mime_type().to_owned())
        .or(declared_type);
    let filename: String = filename
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
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
    if app.db.project(project_id).await?.is_none() {
        return Err(Problem::not_found(format!("project {project_id}")));
    }
    let assets = app.db.project_assets(project_id, MAX_LISTED).await?;
    let items: Vec<AssetView> = assets.into_iter().map(AssetView::from).collect();
    Ok(axum::Json(serde_json::json!({ "items": items })).into_response())
}

/// The request body as an upload stream; the body limit layer's refusal is `TooLarge`.
fn raw_body(body: Body, limit: u64) -> impl futures_util::Stream<Item = Result<Bytes, Error>> {
    body.into_data_stream().map_err(move |e| {
        if is_length_limit(&e) {
            Error::TooLarge { limit }
        } else {
            Error::BadRequest(format!("the upload was interrupted: {e}"))
        }
    })
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Keeps the first bytes of an upload, to tell its format.
fn remember_head(head: &mut Vec<u8>, bytes: &Bytes) {
    let missing = head.capacity().saturating_sub(head.len());
    head.extend_from_slice(&bytes[..missing.min(bytes.len())]);
}
