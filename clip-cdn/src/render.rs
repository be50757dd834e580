//! The origin's side of an image URL in one call: [`Cdn::render`] turns a verified
//! transform request and the source's bytes into the response body and its headers.
//!
//! ```no_run
//! # async fn handler(cdn: clip_cdn::Cdn, images: clip_cdn::image::Optimizer,
//! #                  path: &str, query: &str) -> Result<(), clip_cdn::Error> {
//! // 1. Verify the query before touching storage: a refused one costs no I/O.
//! let request = cdn.verify_transform(path, query)?; // Err: e.http_status() is 400 or 403
//! // 2. Read the source (your storage; 404 if it is missing).
//! let bytes = tokio::fs::read(format!("public{path}")).await.unwrap_or_default();
//! // 3. Render: resized and re-encoded (or the original when the query asks for no
//! //    transform), with Content-Type, Cache-Control and nosniff to send.
//! let rendition = cdn.render(&request, bytes, &images).await?; // Err: e.http_status()
//! for (name, value) in rendition.headers() { /* set the response header */ }
//! # Ok(()) }
//! ```

use bytes::Bytes;

use crate::Cdn;
use crate::error::Result;
use crate::image::{Format, Optimizer, source_format};
use crate::transform::TransformRequest;

/// `Cache-Control` of a URL carrying the manifest's version: a new file gets a new URL,
/// so this one may be cached for good.
pub const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `Cache-Control` of a URL without a version (a path the manifest does not list): the
/// file behind it may change under the same URL, so caches keep it an hour.
pub const CACHE_UNVERSIONED: &str = "public, max-age=3600";

/// An image response: the body and what to send with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    /// The encoded image.
    pub bytes: Bytes,
    /// Its MIME type (`image/webp`, ...), from what was produced, not from the file name.
    pub content_type: &'static str,
    /// [`CACHE_IMMUTABLE`] for a versioned URL, [`CACHE_UNVERSIONED`] otherwise.
    pub cache_control: &'static str,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Rendition {
    /// The response headers: `Content-Type`, `Cache-Control`, and
    /// `X-Content-Type-Options: nosniff` (browsers must take the type as sent). With
    /// axum: `(rendition.headers(), rendition.bytes)` is a response.
    pub fn headers(&self) -> [(&'static str, &'static str); 3] {
        [
            ("content-type", self.content_type),
            ("cache-control", self.cache_control),
            ("x-content-type-options", "nosniff"),
        ]
    }
}

impl Cdn {
    /// Renders `source` as `request` asks, on `optimizer` (blocking threads, bounded, with
    /// a bounded queue): the transform's width, height, fit, quality and format (the
    /// source's own format when it names none), or the original bytes when it asks for no
    /// transform. `request` must come from [`Cdn::verify_transform`] for the same path.
    ///
    /// The source must be an image the optimizer reads (JPEG, PNG, WebP, GIF; found from
    /// its bytes, not its name); animations come back whole. Errors map to HTTP statuses
    /// with [`Error::http_status`](crate::Error::http_status): 413 for images above the
    /// pixel or memory limits, 422 for bytes that are not a readable image, 503 when the
    /// optimizer's queue is full.
    pub async fn render(
        &self,
        request: &TransformRequest,
        source: impl Into<Bytes>,
        optimizer: &Optimizer,
    ) -> Result<Rendition> {
        let source = source.into();
        let cache_control = if request.version.is_some() {
            CACHE_IMMUTABLE
        } else {
            CACHE_UNVERSIONED
        };
        let (format, width, height) = source_format(&source)?;
        if request.transform.is_identity() {
            return Ok(Rendition {
                bytes: source,
                content_type: format.mime_type(),
                cache_control,
                width,
                height,
            });
        }
        let options = request.transform.to_options(match format {
            // A GIF is passed through; asking for "its own format" must not ask for GIF output.
            Format::Gif => Format::WebP,
            other => other,
        });
        let out = optimizer.optimize(source, options).await?;
        Ok(Rendition {
            content_type: out.format.mime_type(),
            bytes: Bytes::from(out.bytes),
            cache_control,
            width: out.width,
            height: out.height,
        })
    }
}
