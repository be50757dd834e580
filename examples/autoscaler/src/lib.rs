//! # clip-autoscaler
//!
//! The Creator Clip autoscaler: every `AUTOSCALER_INTERVAL` it scrapes each ready instance's
//! `/metrics`, aggregates the fleet's metrics, asks clip-scaling-policy for a decision and
//! applies it through an [`actuator`] (`local`, `docker-compose`, `kubernetes`,
//! `dry-run`). One autoscaler per fleet leads ([`leader`]); its state survives restarts
//! ([`persist`]); `GET /status` shows everything it knows ([`status`]).
//!
//! ```no_run
//! # async fn run() -> Result<(), clip_autoscaler::Error> {
//! let config = clip_autoscaler::AutoscalerConfig::from_env()?;
//! let autoscaler = clip_autoscaler::Autoscaler::build(config).await?;
//! let app = clip_autoscaler::http::router(autoscaler.clone());
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:3002").await.unwrap();
//! tokio::spawn(async move { axum::serve(listener, app).await });
//! autoscaler.run(std::future::pending()).await
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod actuator;
pub mod aggregate;
mod autoscaler;
pub mod config;
pub mod decide;
mod error;
pub mod histogram;
pub mod http;
pub mod leader;
pub mod persist;
pub mod record;
pub mod sample;
pub mod scrape;
pub mod status;
pub mod telemetry;
pub mod time;

pub use autoscaler::{Autoscaler, OverrideRefusal};
pub use config::AutoscalerConfig;
pub use error::Error;
