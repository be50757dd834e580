//! # clip-cdn
//!
//! CDN URLs and assets with retry, fallback to origin or local files, caching, preload
//! and invalidation; and an image optimizer ([`image`]) faster than `vipsthumbnail`.
#![warn(missing_docs)]

mod error;
pub mod image;

pub use error::{Error, Result};
