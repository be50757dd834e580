//! `/img/{asset}/{version}`: the CDN's origin for uploaded images. Without a query it serves
//! the original; with a transform query in clip-cdn's canonical form (what
//! `cdn.image(..)` writes, checked by `cdn.verify_transform`: signed, or within the
//! allow-lists) it serves the pre-rendered rendition when one matches, else renders it on
//! the optimizer's bounded blocking pool.
//!
//! Without `fm`, the format follows `Accept` (WebP for clients that name it, else JPEG)
//! and the answer says `Vary: Accept`. ETags are strong and derived from the URL's content
//! version, the transform and the format, so a revalidation is a 304 before any lookup.
//! Versioned URLs are immutable for a year; `/img/{asset}` (no version) for
//! `API_CACHE_TTL`. Answers are kept in a bounded in-memory cache (`IMG_CACHE_MAX_BYTES`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use clip_cdn::Transform;
use clip_cdn::image::{Fit, Format, ImageOptions};
use sha2::{Digest, Sha256};

use super::extract::Path;
use super::media::{IMMUTABLE, etag_matches};
use crate::db::Asset;
use crate::media_type;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;
use crate::storage::hex;
use crate::telemetry;

/// A rendered (or read) answer, kept in the memory cache under its ETag.
#[derive(Clone, Debug)]
pub struct CachedImage {
    bytes: Bytes,
    content_type: &'static str,
}

impl CachedImage {
    /// Bytes it weighs in the cache.
    pub fn weight(&self) -> u32 {
        u32::try_from(self.bytes.len()).unwrap_or(u32::MAX)
    }
}

/// The in-memory cache of `/img` answers, keyed by ETag.
pub type ImageCache = moka::future::Cache<Arc<str>, CachedImage>;

/// A bounded cache of `max_bytes`.
pub fn image_cache(max_bytes: u64) -> ImageCache {
    moka::future::Cache::builder()
        .max_capacity(max_bytes)
        .weigher(|_, image: &CachedImage| image.weight())
        .build()
}

/// `GET /img/{asset}/{version}`.
pub async fn versioned(
    State(app): State<AppState>,
    Path((id, version)): Path<(i64, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    serve(&app, id, Some(version), &uri, &headers).await
}

/// `GET /img/{asset}`: the current version, cached for `API_CACHE_TTL` only.
pub async fn unversioned(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    serve(&app, id, None, &uri, &headers).await
}

/// What a request asks for, after verification and negotiation.
struct Wanted {
    transform: Transform,
    /// `None`: the original as it is.
    format: Option<Format>,
    negotiated: bool,
}

async fn serve(
    app: &AppState,
    id: i64,
    version: Option<String>,
    uri: &Uri,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let query = uri.query().unwrap_or("");
    let request = app
        .cdn
        .verify_transform(uri.path(), query)
        .map_err(|e| match e {
            clip_cdn::Error::BadSignature => Problem::new(StatusCode::FORBIDDEN, e.to_string()),
            other => Problem::bad_request(other.to_string()),
        })?;
    let wanted = negotiate(request.transform, headers);
    let cache_control = match version {
        Some(_) => HeaderValue::from_static(IMMUTABLE),
        None => HeaderValue::from_str(&format!(
            "public, max-age={}",
            app.config.http.api_cache_ttl.as_secs()
        ))
        .unwrap_or(HeaderValue::from_static("no-cache")),
    };

    // A versioned URL names its content: the ETag is known before any lookup.
    if let Some(version) = &version {
        let etag = etag(id, version, &wanted);
        if etag_matches(headers.get(IF_NONE_MATCH), &etag) {
            return Ok(not_modified(&etag, cache_control, wanted.negotiated));
        }
        if let Some(hit) = app.img_cache.get(etag.as_str()).await {
            metrics::counter!(telemetry::IMG_CACHE_HITS).increment(1);
            return Ok(answer(&etag, hit, cache_control, wanted.negotiated));
        }
    }
    let asset = app
        .db
        .asset(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("image {id}")))?;
    if version.as_ref().is_some_and(|v| *v != asset.sha256) {
        return Err(Problem::not_found(format!(
            "version {} of image {id}",
            version.unwrap_or_default()
        )));
    }
    let etag = etag(id, &asset.sha256, &wanted);
    if etag_matches(headers.get(IF_NONE_MATCH), &etag) {
        return Ok(not_modified(&etag, cache_control, wanted.negotiated));
    }
    let key: Arc<str> = etag.as_str().into();
    if let Some(hit) = app.img_cache.get(&key).await {
        metrics::counter!(telemetry::IMG_CACHE_HITS).increment(1);
        return Ok(answer(&etag, hit, cache_control, wanted.negotiated));
    }
    metrics::counter!(telemetry::IMG_CACHE_MISSES).increment(1);
    let image = produce(app, &asset, &wanted).await?;
    // Large originals would push out many renditions.
    if u64::from(image.weight()) <= app.config.images.cache_max_bytes / 16 {
        app.img_cache.insert(key, image.clone()).await;
    }
    Ok(answer(&etag, image, cache_control, wanted.negotiated))
}

/// The output format: `fm` when given; otherwise WebP for clients that name it, JPEG for
/// the others; none at all for the original.
fn negotiate(transform: Transform, headers: &HeaderMap) -> Wanted {
    if let Some(format) = transform.format {
        return Wanted {
            transform,
            format: Some(format),
            negotiated: false,
        };
    }
    if transform == Transform::default() {
        return Wanted {
            transform,
            format: None,
            negotiated: false,
        };
    }
    let accept = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = if media_type::names(accept, Format::WebP.mime_type()) {
        Format::WebP
    } else {
        Format::Jpeg
    };
    Wanted {
        transform,
        format: Some(format),
        negotiated: true,
    }
}

/// A strong ETag: a digest of the image, its content version, the transform and the
/// format. Renders are deterministic for a given optimizer version, which the digest includes.
fn etag(id: i64, version: &str, wanted: &Wanted) -> String {
    let t = &wanted.transform;
    let described = format!(
        "{id}|{version}|{:?}|{:?}|{:?}|{}|{:?}|{:?}|clip-cdn-{}",
        t.width,
        t.height,
        t.quality,
        t.progressive,
        fit_name(t.fit),
        wanted.format.map(Format::extension),
        env!("CARGO_PKG_VERSION"),
    );
    format!("\"{}\"", &hex(&Sha256::digest(described.as_bytes()))[..32])
}

fn fit_name(fit: Fit) -> &'static str {
    match fit {
        Fit::Inside => "inside",
        Fit::Cover => "cover",
        Fit::Fill => "fill",
    }
}

/// Reads the original or a stored rendition, or renders the transform.
async fn produce(app: &AppState, asset: &Asset, wanted: &Wanted) -> ApiResult<CachedImage> {
    let limit = app.config.http.max_upload_bytes as u64;
    let Some(format) = wanted.format else {
        let bytes = app.storage.read_all(&asset.storage_key, limit).await?;
        let content_type =
            media_type::sniff(&bytes).map_or("application/octet-stream", Format::mime_type);
        return Ok(CachedImage {
            bytes,
            content_type,
        });
    };
    if let Some(key) = stored_rendition(asset, &wanted.transform, format) {
        let bytes = app.storage.read_all(key, limit).await?;
        return Ok(CachedImage {
            bytes,
            content_type: format.mime_type(),
        });
    }
    let source = app.storage.read_all(&asset.storage_key, limit).await?;
    let source_format = media_type::sniff(&source).ok_or_else(|| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the upload is not an image the optimizer reads (JPEG, PNG, WebP, GIF)",
        )
    })?;
    let options = ImageOptions {
        format,
        ..wanted.transform.to_options(source_format)
    };
    let out = app
        .optimizer
        .optimize(source, options)
        .await
        .map_err(render_problem)?;
    Ok(CachedImage {
        bytes: out.bytes.into(),
        content_type: out.format.mime_type(),
    })
}

/// The answer to a failed render: stopping workers and a full optimizer queue are this
/// server's state (503, worth a retry in a second); anything else is about the image (422).
fn render_problem(e: clip_cdn::Error) -> Problem {
    let retry = std::time::Duration::from_secs(1);
    match e {
        clip_cdn::Error::WorkerStopped(_) => {
            Problem::unavailable("the image workers are stopping; retry", retry)
        }
        busy @ clip_cdn::Error::Busy { .. } => Problem::unavailable(busy.to_string(), retry),
        other => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, other.to_string()),
    }
}

/// The stored rendition a plain width + format transform asks for, if its job made it.
fn stored_rendition<'a>(asset: &'a Asset, t: &Transform, format: Format) -> Option<&'a str> {
    let plain = t.height.is_none()
        && t.quality
            .is_none_or(|q| q == ImageOptions::default().quality)
        && !t.progressive
        && t.fit == Fit::Inside;
    let width = i32::try_from(t.width?).ok()?;
    plain
        .then(|| {
            asset
                .renditions
                .iter()
                .find(|r| r.width == width && r.format == format.extension())
        })
        .flatten()
        .map(|r| r.storage_key.as_str())
}

fn not_modified(etag: &str, cache_control: HeaderValue, negotiated: bool) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    set_validators(response.headers_mut(), etag, cache_control, negotiated);
    response
}

fn answer(
    etag: &str,
    image: CachedImage,
    cache_control: HeaderValue,
    negotiated: bool,
) -> Response {
    let mut response = (
        [(CONTENT_TYPE, HeaderValue::from_static(image.content_type))],
        image.bytes,
    )
        .into_response();
    set_validators(response.headers_mut(), etag, cache_control, negotiated);
    response
}

fn set_validators(
    headers: &mut HeaderMap,
    etag: &str,
    cache_control: HeaderValue,
    negotiated: bool,
) {
    if let Ok(v) = HeaderValue::from_str(etag) {
        headers.insert(ETAG, v);
    }
    headers.insert(CACHE_CONTROL, cache_control);
    if negotiated {
        headers.insert(VARY, HeaderValue::from_static("Accept"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::RETRY_AFTER;
    use clip_cdn::image::Optimizer;

    /// clip-cdn's optimizer answers a full queue at once with `Busy`: the client should
    /// retry, not be told its image is unprocessable.
    #[tokio::test]
    async fn a_full_optimizer_queue_is_a_503_to_retry() {
        let photo = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/images/Dune.jpg"),
        )
        .expect("the test photo");
        // A 3 MP PNG holds the one slot far longer than the next call takes to be refused.
        let slow = ImageOptions {
            width: Some(2200),
            enlarge: true,
            format: Format::Png,
            ..ImageOptions::default()
        };
        let optimizer = Optimizer::new(1).max_queued(0);
        let holder = tokio::spawn({
            let (optimizer, photo, slow) = (optimizer.clone(), photo.clone(), slow.clone());
            async move { optimizer.optimize(photo, slow).await }
        });
        while optimizer.available() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let busy = optimizer
            .optimize(photo, slow)
            .await
            .expect_err("no free slot and no queue");
        assert!(matches!(busy, clip_cdn::Error::Busy { .. }), "{busy:?}");
        let response = render_problem(busy).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(RETRY_AFTER));
        assert!(holder.await.expect("the holding job").is_ok());

        let unreadable = render_problem(clip_cdn::Error::UnknownFormat).into_response();
        assert_eq!(unreadable.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}
