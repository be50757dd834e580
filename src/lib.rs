//! # clip: the Creator Clip scaling toolkit
//!
//! One dependency for services that want all four crates; each crate also stands on its own.
//!
//! - [`pool`]: a pooled executor over bb8 with stats, graceful degradation and read replicas
//!   ([`clip_pool`]).
//! - [`cdn`]: CDN URLs and assets with retry, fallback and cache, and the image optimizer
//!   ([`clip_cdn`]).
//! - [`scaling`]: the pure scaling-decision engine and its trace simulator
//!   ([`clip_scaling_policy`]).
//! - [`health`]: health registry, liveness and readiness, `/metrics` ([`clip_health`]).

pub use clip_cdn as cdn;
pub use clip_health as health;
pub use clip_pool as pool;
pub use clip_scaling_policy as scaling;
