//! # clip-health
//!
//! A health registry with liveness/readiness semantics, application/health+json reports, axum handlers and Prometheus /metrics.
//!
//! Not built yet: this crate is a placeholder of the workspace layout (see the crate README).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
