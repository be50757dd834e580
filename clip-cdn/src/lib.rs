//! # clip-cdn
//!
//! CDN URLs and assets for the Creator Clip backend, and an image optimizer faster than
//! `vipsthumbnail`.
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
//!   retries, per-host circuit breakers and coalesced misses.
//! - [`image::optimize`] resizes and re-encodes images (feature `optimizer`, on by default;
//!   without it the crate builds no C library).
#![warn(missing_docs)]
// On docs.rs (nightly rustdoc), items behind a cargo feature or a target say which one they
// need (`image::optimize` and `image::Optimizer`: feature `optimizer`).
#![cfg_attr(docsrs, feature(doc_cfg))]

mod breaker;
mod cdn;
mod config;
mod error;
pub mod image;
mod image_url;
mod manifest;
mod retry;
mod sign;
mod stats;
mod transform;
mod url_path;

pub use breaker::BreakerState;
pub use cdn::{Asset, Cdn};
pub use config::{CdnConfig, DEFAULT_QUALITIES, DEFAULT_WIDTHS};
pub use error::{Error, Result};
pub use image_url::ImageUrl;
pub use manifest::{Manifest, ManifestEntry, content_hash};
pub use stats::{CdnStats, PreloadReport, Source};
pub use transform::{Transform, TransformRequest};
