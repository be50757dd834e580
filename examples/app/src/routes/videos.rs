//! Videos and their clips:
//!
//! - `POST /api/projects/{id}/videos`: a video upload (MP4, MOV, WebM, MKV; multipart or a
//!   raw body, `VIDEO_MAX_BYTES` at most) streamed into storage; 201 with the video.
//! - `GET /api/projects/{id}/videos`: the project's videos, newest first.
//! - `GET /api/videos/{id}`: a video with its clips, their URLs and posters.
//! - `POST /api/videos/{id}/clips`: a clip job, `{"clips": [{"start": 1, "end": 4}]}` or
//!   `{"auto": {"count": 3, "seconds": 5}}`; 202 with the job to watch at `/api/jobs/{id}`.
//! - `GET /media/videos/{id}`, `GET /media/clips/{id}`: the files, with HTTP Range
//!   ([`super::media::serve_file`]), so a `<video>` element seeks.

use axum::extract::{Request, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use clip_cdn::Cdn;
use clip_cdn::image::Format;
use serde::{Deserialize, Serialize};
use tokio_postgres::error::SqlState;

use super::extract::{Json, Path, Query};
use super::media::{IMMUTABLE, ServedFile, serve_file};
use super::projects::require_project;
use super::upload;
use crate::Error;
use crate::db::{Clip, NewVideo, Video};
use crate::jobs::JobKind;
use crate::jobs::video::{ClipRequest, Payload};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// Videos listed per project, at most.
const MAX_LISTED: i64 = 200;
/// The display width of a poster in the API's `srcset` (CSS pixels).
pub const POSTER_WIDTH: u32 = 640;

/// `?filename=` of a raw-body upload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    filename: Option<String>,
}

/// A video as the API shows it.
#[derive(Debug, Serialize)]
pub struct VideoView {
    #[serde(flatten)]
    video: Video,
    /// The original, with HTTP Range support.
    media_url: String,
    /// Where to ask for clips (`POST`).
    clips_url: String,
}

impl From<Video> for VideoView {
    fn from(video: Video) -> Self {
        VideoView {
            media_url: format!("/media/videos/{}", video.id),
            clips_url: format!("/api/videos/{}/clips", video.id),
            video,
        }
    }
}

/// A clip as the API shows it: its URL and its poster's, through the CDN.
#[derive(Debug, Serialize)]
pub struct ClipView {
    #[serde(flatten)]
    clip: Clip,
    /// The MP4, with HTTP Range support.
    url: String,
    /// The poster's URLs.
    poster_urls: Option<PosterUrls>,
}

/// A poster's URLs: what a `<video poster>` takes, and `srcset`s for a `<picture>`.
#[derive(Debug, Serialize)]
pub struct PosterUrls {
    /// The path to give `cdn.image(..)`.
    pub image_path: String,
    /// JPEG at [`POSTER_WIDTH`] (every browser shows it).
    pub jpeg: String,
    /// WebP at [`POSTER_WIDTH`].
    pub webp: String,
    /// WebP widths for a `<picture><source>`.
    pub srcset_webp: String,
    /// JPEG widths for the `<img>`.
    pub srcset_jpeg: String,
}

impl PosterUrls {
    /// The URLs of `clip`'s poster, if it has one.
    pub fn of(cdn: &Cdn, clip: &Clip) -> Option<Self> {
        let poster = clip.poster.as_ref()?;
        let image_path = format!("/img/{}/{}", poster.asset_id, poster.sha256);
        let at = |format| cdn.image(&image_path).width(POSTER_WIDTH).format(format);
        Some(PosterUrls {
            jpeg: at(Format::Jpeg).url(),
            webp: at(Format::WebP).url(),
            srcset_webp: at(Format::WebP).srcset(),
            srcset_jpeg: at(Format::Jpeg).srcset(),
            image_path,
        })
    }
}

impl ClipView {
    fn new(cdn: &Cdn, clip: Clip) -> Self {
        ClipView {
            url: clip_url(&clip),
            poster_urls: PosterUrls::of(cdn, &clip),
            clip,
        }
    }
}

/// Where a clip's MP4 is served.
pub fn clip_url(clip: &Clip) -> String {
    format!("/media/clips/{}", clip.id)
}

/// The media type of a video from its first bytes: MP4 and MOV (an `ftyp` box), WebM and
/// MKV (an EBML header naming its doctype).
fn video_type(head: &[u8]) -> Option<&'static str> {
    match head {
        [_, _, _, _, b'f', b't', b'y', b'p', brand @ ..] => Some(if brand.starts_with(b"qt  ") {
            "video/quicktime"
        } else {
            "video/mp4"
        }),
        [0x1A, 0x45, 0xDF, 0xA3, rest @ ..] => Some(if rest.windows(4).any(|w| w == b"webm") {
            "video/webm"
        } else {
            "video/x-matroska"
        }),
        _ => None,
    }
}

/// `POST /api/projects/{id}/videos`: streams the video into storage; 201 with the video.
/// What it holds is checked by ffprobe when a clip job first reads it.
pub async fn upload(
    State(app): State<AppState>,
    Path(project_id): Path<i64>,
    Query(query): Query<UploadQuery>,
    request: Request,
) -> ApiResult<Response> {
    require_project(&app, project_id).await?;
    let key = format!(
        "projects/{project_id}/videos/{}/original",
        uuid::Uuid::new_v4().simple()
    );
    let limit = app.config.video.max_bytes;
    let received = upload::receive(&app.storage, request, &key, limit, query.filename).await?;
    let content_type = video_type(&received.head)
        .map(str::to_owned)
        .or(received.declared_type);
    let new = NewVideo {
        project_id,
        filename: &received.filename,
        content_type: content_type.as_deref(),
        size: i64::try_from(received.stored.size).unwrap_or(i64::MAX),
        sha256: &received.stored.sha256,
        storage_key: &key,
    };
    let video = match app.db.create_video(&new).await {
        Ok(video) => video,
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
    let location = format!("/api/videos/{}", video.id);
    Ok((
        StatusCode::CREATED,
        [(LOCATION, location)],
        axum::Json(serde_json::json!({ "video": VideoView::from(video) })),
    )
        .into_response())
}

/// `GET /api/projects/{id}/videos`: the project's videos, newest first.
pub async fn list(State(app): State<AppState>, Path(project_id): Path<i64>) -> ApiResult<Response> {
    require_project(&app, project_id).await?;
    let videos = app.db.project_videos(project_id, MAX_LISTED).await?;
    let items: Vec<VideoView> = videos.into_iter().map(VideoView::from).collect();
    Ok(axum::Json(serde_json::json!({ "items": items })).into_response())
}

/// `GET /api/videos/{id}`: the video and its clips.
pub async fn show(State(app): State<AppState>, Path(id): Path<i64>) -> ApiResult<Response> {
    let (video, clips) = tokio::try_join!(app.db.video(id), app.db.video_clips(id))?;
    let video = video.ok_or_else(|| Problem::not_found(format!("video {id}")))?;
    let clips: Vec<ClipView> = clips
        .into_iter()
        .map(|clip| ClipView::new(&app.cdn, clip))
        .collect();
    Ok(axum::Json(serde_json::json!({
        "video": VideoView::from(video),
        "clips": clips,
    }))
    .into_response())
}

/// `POST /api/videos/{id}/clips`: queues a clip job; 202 with the job.
pub async fn request_clips(
    State(app): State<AppState>,
    Path(video_id): Path<i64>,
    Json(request): Json<ClipRequest>,
) -> ApiResult<Response> {
    request
        .check(&app.config.video)
        .map_err(|why| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, why))?;
    let video = app
        .db
        .video(video_id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("video {video_id}")))?;
    let payload = serde_json::to_value(Payload {
        video_id,
        project_id: video.project_id,
        request,
    })
    .map_err(|e| Error::BadRequest(format!("the request cannot be stored: {e}")))?;
    let job_id = app
        .queue
        .enqueue(JobKind::Video, video.project_id, &payload)
        .await?;
    let job_url = format!("/api/jobs/{job_id}");
    Ok((
        StatusCode::ACCEPTED,
        [(LOCATION, job_url.clone())],
        axum::Json(serde_json::json!({
            "job": { "id": job_id, "state": "queued", "url": job_url },
        })),
    )
        .into_response())
}

/// `GET /media/videos/{id}`: the uploaded video.
pub async fn original(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let video = app
        .db
        .video(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("video {id}")))?;
    let etag = format!("\"{}\"", video.sha256);
    let file = ServedFile {
        key: &video.storage_key,
        etag: &etag,
        content_type: video
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream"),
        cache_control: IMMUTABLE,
    };
    serve_file(&app.storage, &file, &headers).await
}

/// `GET /media/clips/{id}`: a clip's MP4.
pub async fn clip(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let clip = app
        .db
        .clip(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("clip {id}")))?;
    let etag = format!("\"{}\"", clip.sha256);
    let file = ServedFile {
        key: &clip.storage_key,
        etag: &etag,
        content_type: "video/mp4",
        cache_control: IMMUTABLE,
    };
    serve_file(&app.storage, &file, &headers).await
}

#[cfg(test)]
mod tests {
    use super::video_type;

    #[test]
    fn tells_video_containers_from_their_first_bytes() {
        assert_eq!(
            video_type(b"\0\0\0\x20ftypisom\0\0\x02\0"),
            Some("video/mp4")
        );
        assert_eq!(
            video_type(b"\0\0\0\x14ftypqt  \0\0\x02\0"),
            Some("video/quicktime")
        );
        assert_eq!(
            video_type(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm"),
            Some("video/webm")
        );
        assert_eq!(
            video_type(b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska"),
            Some("video/x-matroska")
        );
        assert_eq!(video_type(b"\xff\xd8\xff\xe0"), None);
        assert_eq!(video_type(b""), None);
    }
}
