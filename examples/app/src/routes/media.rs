//! `/media/...`: stored files served as they are, with HTTP Range (206, `Accept-Ranges`,
//! 416), strong `ETag` and 304, streamed from storage without holding the file in memory.
//! [`serve_file`] is the one place this happens; the video clips of a later issue reuse it.

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
    IF_RANGE, RANGE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::extract::Path;
use crate::Error;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;
use crate::storage::Storage;

/// `Cache-Control` of content that never changes under its URL.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// What to serve and how to label it.
#[derive(Debug)]
pub struct ServedFile<'a> {
    /// The storage key.
    pub key: &'a str,
    /// The strong validator, quoted (`"<sha256>"`).
    pub etag: &'a str,
    /// The `Content-Type`.
    pub content_type: &'a str,
    /// The `Cache-Control`.
    pub cache_control: &'static str,
}

/// `GET /media/assets/{id}`: an uploaded original.
pub async fn asset(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let asset = app
        .db
        .asset(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("asset {id}")))?;
    let etag = format!("\"{}\"", asset.sha256);
    let file = ServedFile {
        key: &asset.storage_key,
        etag: &etag,
        content_type: asset
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream"),
        cache_control: IMMUTABLE,
    };
    serve_file(&app.storage, &file, &headers).await
}

/// Serves a stored file: 304 when `If-None-Match` matches, 206 for one satisfiable range
/// (unless `If-Range` names another version), 416 for an unsatisfiable one, else 200.
pub async fn serve_file(
    storage: &Storage,
    file: &ServedFile<'_>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let etag = HeaderValue::from_str(file.etag).map_err(|_| Error::Storage("bad etag".into()))?;
    let cache_control = HeaderValue::from_static(file.cache_control);
    if etag_matches(headers.get(IF_NONE_MATCH), file.etag) {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(ETAG, etag), (CACHE_CONTROL, cache_control)],
        )
            .into_response());
    }
    let stored = storage.open(file.key).await?;
    let size = stored.size;
    let range = requested_range(headers, file.etag, size)?;
    let content_type = HeaderValue::from_str(file.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let mut response_headers = HeaderMap::new();
    response_headers.insert(CONTENT_TYPE, content_type);
    response_headers.insert(ETAG, etag);
    response_headers.insert(CACHE_CONTROL, cache_control);
    response_headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if size == 0 {
        response_headers.insert(CONTENT_LENGTH, HeaderValue::from(0));
        return Ok((StatusCode::OK, response_headers, Body::empty()).into_response());
    }
    let (status, span) = match range {
        Some(span) => {
            let content_range = format!("bytes {}-{}/{size}", span.start(), span.end());
            if let Ok(v) = HeaderValue::from_str(&content_range) {
                response_headers.insert(CONTENT_RANGE, v);
            }
            (StatusCode::PARTIAL_CONTENT, span)
        }
        None => (StatusCode::OK, 0..=size - 1),
    };
    response_headers.insert(
        CONTENT_LENGTH,
        HeaderValue::from(span.end() - span.start() + 1),
    );
    let body = storage.read(&stored, span).await?;
    Ok((status, response_headers, Body::from_stream(body)).into_response())
}

/// The single range to serve, if the request asks for one and `If-Range` allows it. Several
/// ranges are answered with the whole file (as RFC 9110 permits).
fn requested_range(
    headers: &HeaderMap,
    etag: &str,
    size: u64,
) -> Result<Option<std::ops::RangeInclusive<u64>>, Error> {
    let Some(range) = headers.get(RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    if let Some(if_range) = headers.get(IF_RANGE).and_then(|v| v.to_str().ok())
        && if_range.trim() != etag
    {
        return Ok(None);
    }
    let ranges = http_range_header::parse_range_header(range)
        .and_then(|parsed| parsed.validate(size))
        .map_err(|_| Error::RangeNotSatisfiable { size })?;
    Ok(match ranges.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    })
}

/// Whether an `If-None-Match` value names `etag` (or is `*`).
pub fn etag_matches(header: Option<&HeaderValue>, etag: &str) -> bool {
    header.and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == etag || t == "*")
    })
}
