//! Trace simulator: replays a load trace through an autoscaler over a simple capacity model
//! and reports cost (instance-hours), SLO violations (latency, and job wait), scaling actions
//! and reversals.
//!
//! # The capacity model
//!
//! Every `tick` (15 s), with `R` requests/s and `A` jobs/s arriving and `n` ready instances:
//! - utilisation `u = R / (n * requests_per_instance)`;
//! - CPU `= 100 * min(u, 1)` %, memory `= 25 + 30 * min(u, 1)` %;
//! - request rate per instance `= R / n`;
//! - p95 response time `= base_p95 / (1 - u)` (an M/M/1-like queueing curve), capped at 30 s,
//!   and 30 s when `u >= 1`;
//! - jobs join a first-in, first-out queue, which `n * jobs_per_instance` jobs/s drain.
//!
//! A tick violates the latency SLO when demand exceeds ready capacity (`u > 1`) or the p95 is
//! above `slo_p95`, and the job-wait SLO when, at its end, a job has waited longer than
//! `job_wait_slo` (5 minutes).
//!
//! # The judge
//!
//! What stands between the service and the autoscaler is the same for every autoscaler
//! ([`Judge`]): the autoscaler sees the metrics as they were `metric_lag` ago (60 s by
//! default), while the fleet counts (asked for, ready) are current, as an orchestrator reports
//! them; its decision takes effect at the next tick; a new instance serves after
//! `startup_delay` (60 s) plus the judge's `readiness_delay` (10 s); a removed one stops at
//! once (starting ones are removed first). So from a load change to new capacity serving:
//! 60 s lag + 15 s to act + 70 s = 2.4 minutes, as in a real cluster.
//!
//! ```
//! use clip_scaling_policy::sim::{self, CapacityModel, HpaBaseline, Shape, Trace};
//!
//! let trace = Trace::builtin(Shape::Spike, 86_400.0, 15.0); // a day, a point every 15 s
//! let model = CapacityModel::default();
//! let hpa = sim::simulate(&trace, &model, &mut HpaBaseline::kubernetes_default());
//! println!("{}\n{}", sim::Report::HEADER, hpa.report);
//! assert!(hpa.report.slo_violation_minutes > 0.0); // bursts outrun a reactive autoscaler
//! ```

mod autoscaler;
pub mod compare;
pub mod heldout;
mod hpa;
mod jobs;
mod model;
mod report;
mod run;
mod svg;
mod trace;

pub use autoscaler::{Autoscaler, FixedFleet, Fleet, PolicyAutoscaler};
pub use hpa::{HpaBaseline, HpaTargets};
pub use model::{CapacityModel, Judge};
pub use report::{Figures, Report, Run, Sample, Summary};
pub use run::{simulate, simulate_with};
pub use svg::render_svg;
pub use trace::{MAX_TRACE_SECS, Shape, Trace, TracePoint};
