//! # clip-cdn
//!
//! CDN URLs and assets with retry, fallback to origin or local files, caching, preload and invalidation; and an image optimizer.
//!
//! Not built yet: this crate is a placeholder of the workspace layout (see the crate README).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
