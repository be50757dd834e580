//! # clip-scaling-policy
//!
//! A pure, explainable scaling-decision engine (no async, no I/O, no clock: the caller passes
//! `now`) and a trace simulator to compare it with an HPA-style baseline.
//!
//! ```
//! use std::time::SystemTime;
//! use clip_scaling_policy::{Action, Metrics, ScalingConfig, ScalingPolicy, ScalingState};
//!
//! let policy = ScalingPolicy::new(ScalingConfig::default())?; // the guide's defaults
//! let mut state = ScalingState::new(3);
//! let now = SystemTime::now();
//! let m = Metrics { cpu_percent: Some(85.0), ..Metrics::default() };
//! let d = policy.decide(&m, &state, now);
//! assert_eq!(d.action, Action::ScaleUp);
//! assert_eq!(d.target, 4); // ceil(3 * 85 / 70)
//! assert_eq!(
//!     d.to_string(),
//!     "scale up 3 -> 4: cpu 85.0% > 70.0% (wants 4); \
//!      missing or invalid (never a reason to scale down): memory, request_rate, queue_length, p95"
//! );
//! state.record(&d, now);
//! # Ok::<(), clip_scaling_policy::ScalingError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// On docs.rs (nightly rustdoc), items behind a cargo feature say which one they need.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod decision;
mod demand_history;
mod error;
mod manual_override;
mod metrics;
mod policy;
pub mod sim;
mod state;
mod tracking;

pub use config::{MetricRule, ScalingConfig, ScalingMode, StepPolicy, TrackingConfig};
pub use decision::{
    Action, CooldownLimit, Decision, Direction, Driver, Limits, Reading, Reasons, Rule,
    TrackingReasons, Verdict,
};
pub use error::ScalingError;
pub use manual_override::Override;
pub use metrics::{MetricKind, Metrics};
pub use policy::ScalingPolicy;
pub use state::{DEFAULT_EVENT_CAPACITY, ScalingEvent, ScalingState};
