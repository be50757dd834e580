//! # clip-health
//!
//! A health registry with liveness/readiness semantics, `application/health+json` reports,
//! axum handlers (feature `axum`, on by default), Prometheus `/metrics`, a RED-metrics tower
//! layer and process metrics for the autoscaler.
//!
//! ```
//! use std::time::Duration;
//! use clip_health::{Criticality, HealthRegistry, Status};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let health = HealthRegistry::builder()
//!     .check("postgres", Criticality::Critical, Duration::from_secs(2), move || async move {
//!         Err::<(), _>("connection refused")
//!     })
//!     .check("cdn", Criticality::NonCritical, Duration::from_secs(1), || async { Status::Pass })
//!     .build();
//! let report = health.readiness().await;
//! assert_eq!(report.status, Status::Fail);
//! assert_eq!(report.http_status(), 503);
//! assert!(report.to_json().contains(r#""postgres:responseTime""#));
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// On docs.rs (nightly rustdoc), items behind a cargo feature say which one they need.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod check;
mod config;
mod error;
mod outcome;
pub mod process;
pub mod prometheus;
mod registry;
mod report;
mod slot;
mod status;
mod time;

pub use check::Check;
pub use config::HealthConfig;
pub use error::HealthError;
pub use outcome::CheckOutcome;
pub use registry::{HealthRegistry, HealthRegistryBuilder};
pub use report::{CheckResult, HEALTH_JSON, HealthReport};
pub use status::{Criticality, Status, aggregate};

#[cfg(feature = "axum")]
pub mod axum;
