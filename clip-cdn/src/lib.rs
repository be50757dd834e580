//! # clip-cdn
//!
//! CDN URLs and assets for a Rust web backend, and an image optimizer (faster than sharp
//! and `vipsthumbnail` per CPU-second, at better quality: see the README).
//!
//! ```no_run
//! # async fn demo() -> Result<(), clip_cdn::Error> {
//! use clip_cdn::image::Format;
//! let cdn = clip_cdn::Cdn::new(clip_cdn::CdnConfig::from_env()?)?;
//! let url = cdn.url("/images/thumbnail.jpg"); // CDN URL, or origin when off/down
//! let html = cdn.image("/images/thumbnail.jpg").width(300).height(200).quality(85)
//!     .format(Format::WebP).progressive(true).to_html();
//! let asset = cdn.fetch("/images/thumbnail.jpg").await?; // retry, fallback, cache
//! # Ok(()) }
//! ```
//!
//! - [`Cdn::url`] and [`Cdn::image`] build URLs: versioned by the [`Manifest`]'s content
//!   hash, on the CDN while it is enabled and healthy, on the origin otherwise; image
//!   transform URLs are signed (HMAC-SHA256) or limited to allow-lists.
//! - [`Cdn::fetch`] gets bytes: memory cache, then CDN -> origin -> local directory, with
//!   retries, a circuit breaker per source (fed by fetches and a background health
//!   probe) and coalesced misses.
//! - [`Cdn::verify_transform`] and [`Cdn::render`] serve transform URLs on the origin:
//!   only the exact URL `Cdn::image` writes, rendered with the right type and cache lifetime.
//! - [`image::optimize`] resizes and re-encodes images, within limits checked from the
//!   header (pixels, JPEG scans, memory).
#![warn(missing_docs)]
// On docs.rs (nightly rustdoc), items behind a cargo feature or a target say which one they
// need.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod breaker;
mod cdn;
mod config;
mod error;
pub mod image;
mod image_url;
mod inflight;
mod manifest;
mod render;
mod retry;
mod sign;
mod stats;
mod transform;
mod url_path;

pub use breaker::BreakerState;
pub use cdn::{Asset, Cdn};
pub use config::{CdnConfig, DEFAULT_QUALITIES, DEFAULT_RATIOS, DEFAULT_WIDTHS};
pub use error::{Error, Result};
pub use image_url::ImageUrl;
pub use manifest::{Manifest, ManifestEntry, content_hash};
pub use render::{CACHE_IMMUTABLE, CACHE_UNVERSIONED, Rendition};
pub use stats::{CdnStats, PreloadReport, Source};
pub use transform::{Transform, TransformRequest};

/// JavaScript that does what the inline `onerror` of `to_html` does, for pages whose
/// Content-Security-Policy forbids inline handlers (`script-src 'self'`): serve it from
/// your origin (e.g. as `/clip-cdn-fallback.js`, `text/javascript`), include it in
/// `<head>`, and set `CDN_INLINE_ONERROR=false`. It loads a failed image from the origin
/// URL in its `data-fallback-src` attribute.
pub const FALLBACK_SCRIPT: &str = include_str!("fallback.js");
