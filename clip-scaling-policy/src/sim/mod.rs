//! Trace simulator: replays a load trace through an autoscaler over a simple capacity model
//! and reports cost (instance-hours), SLO violations, scaling actions and reversals.
//!
//! # The capacity model
//!
//! Every `tick` (15 s), with `R` requests/s and `A` jobs/s arriving and `n` ready instances:
//! - utilisation `u = R / (n * requests_per_instance)`;
//! - CPU `= 100 * min(u, 1)` %, memory `= 25 + 30 * min(u, 1)` %;
//! - request rate per instance `= R / n`;
//! - p95 response time `= base_p95 / (1 - u)` (an M/M/1-like queueing curve), capped at 30 s,
//!   and 30 s when `u >= 1`;
//! - queue `q += (A - n * jobs_per_instance) * tick`, never below 0.
//!
//! A new instance serves after `startup_delay`; a removed one stops at once (starting ones are
//! removed first). A tick violates the SLO when demand exceeds ready capacity (`u > 1`) or the
//! p95 is above `slo_p95`. The autoscaler sees the metrics of the tick and its decision is
//! applied at once.
//!
//! ```
//! use clip_scaling_policy::sim::{self, CapacityModel, HpaBaseline, PolicyAutoscaler, Shape, Trace};
//! use clip_scaling_policy::{ScalingConfig, ScalingPolicy};
//!
//! let trace = Trace::builtin(Shape::Spike, 86_400.0, 15.0); // a day, a point every 15 s
//! let model = CapacityModel::default();
//! let config = ScalingConfig::default();
//! let mut ours = PolicyAutoscaler::new(ScalingPolicy::new(config.clone())?, 3);
//! let ours = sim::simulate(&trace, &model, &mut ours);
//! let hpa = sim::simulate(&trace, &model, &mut HpaBaseline::new(&config));
//! assert!(ours.report.slo_violation_minutes < hpa.report.slo_violation_minutes);
//! println!("{}\n{}\n{}", sim::Report::HEADER, ours.report, hpa.report);
//! # Ok::<(), clip_scaling_policy::ScalingError>(())
//! ```

mod autoscaler;
mod svg;
mod trace;

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, UNIX_EPOCH};

pub use autoscaler::{Autoscaler, Fleet, HpaBaseline, PolicyAutoscaler};
pub use svg::render_svg;
pub use trace::{MAX_TRACE_SECS, Shape, Trace, TracePoint};

use crate::Metrics;

/// The simulated service. See the [module documentation](self) for the formulas.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityModel {
    /// Requests per second one ready instance serves at 100 % CPU (150).
    pub requests_per_instance: f64,
    /// Queue jobs per second one ready instance processes (0.5).
    pub jobs_per_instance: f64,
    /// p95 response time of an idle instance (300 ms).
    pub base_p95: Duration,
    /// The p95 response time above which a tick violates the SLO (2 s, the guide's).
    pub slo_p95: Duration,
    /// Time from a scale-up to the new instance serving (60 s).
    pub startup_delay: Duration,
    /// Simulation step and decision interval (15 s; at least 1 s).
    pub tick: Duration,
    /// Instances at the start (3, all ready).
    pub initial_instances: u32,
}

impl Default for CapacityModel {
    fn default() -> Self {
        Self {
            requests_per_instance: 150.0,
            jobs_per_instance: 0.5,
            base_p95: Duration::from_millis(300),
            slo_p95: Duration::from_secs(2),
            startup_delay: Duration::from_secs(60),
            tick: Duration::from_secs(15),
            initial_instances: 3,
        }
    }
}

/// The longest p95 the model reports (an overloaded service times out).
const P95_CAP_SECS: f64 = 30.0;

/// One tick of a run, for charts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Seconds since the start.
    pub at_secs: f64,
    /// Requests per second arriving.
    pub request_rate: f64,
    /// Instances, ready or starting.
    pub instances: u32,
    /// Ready instances.
    pub ready: u32,
    /// Whether this tick violated the SLO.
    pub violation: bool,
}

/// The outcome of one simulated run.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The autoscaler's name.
    pub autoscaler: String,
    /// The trace's name.
    pub trace: String,
    /// Simulated time.
    pub simulated: Duration,
    /// Instance-hours paid for (ready or starting).
    pub instance_hours: f64,
    /// Minutes where demand exceeded ready capacity or p95 exceeded the SLO.
    pub slo_violation_minutes: f64,
    /// Decisions that changed the instance count.
    pub scaling_actions: u32,
    /// Scaling actions in the opposite direction of the previous one.
    pub reversals: u32,
    /// Highest instance count.
    pub peak_instances: u32,
    /// Decisions taken.
    pub decisions: u64,
}

impl Report {
    /// Column headings matching the `Display` rows (a Markdown table header, two lines).
    pub const HEADER: &'static str = "\
| trace    | autoscaler | instance-hours | SLO-violation min | actions | reversals | peak |
|----------|------------|---------------:|------------------:|--------:|----------:|-----:|";
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "| {:<8} | {:<10} | {:>14.1} | {:>17.1} | {:>7} | {:>9} | {:>4} |",
            self.trace,
            self.autoscaler,
            self.instance_hours,
            self.slo_violation_minutes,
            self.scaling_actions,
            self.reversals,
            self.peak_instances
        )
    }
}

/// A run: its report and its timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The totals.
    pub report: Report,
    /// One sample per tick.
    pub samples: Vec<Sample>,
}

/// Replays `trace` through `autoscaler` over `model` (at most [`MAX_TRACE_SECS`] of it).
pub fn simulate(trace: &Trace, model: &CapacityModel, autoscaler: &mut dyn Autoscaler) -> Run {
    let tick = model.tick.as_secs_f64().max(1.0);
    // A hand-built trace may hold times a CSV one may not (NaN, infinite, longer than a year):
    // replay at most a year of it, from 0 when its start is not a number.
    let start = trace
        .points
        .first()
        .map_or(0.0, |p| p.at_secs)
        .clamp(-MAX_TRACE_SECS, MAX_TRACE_SECS);
    let start = if start.is_nan() { 0.0 } else { start };
    let duration = trace.duration_secs().clamp(0.0, MAX_TRACE_SECS);
    let duration = if duration.is_nan() { 0.0 } else { duration };
    let ticks = (duration / tick).floor() as u64 + 1;
    let epoch = UNIX_EPOCH + Duration::from_secs(1_700_000_000);

    let mut ready = model.initial_instances;
    // Instances starting, with the second they become ready, in order.
    let mut starting: VecDeque<(f64, u32)> = VecDeque::new();
    let mut queue = 0.0;
    let mut next_point = 0;
    let mut load = trace.points.first().copied();
    let mut report = Report {
        autoscaler: autoscaler.name().to_string(),
        trace: trace.name.clone(),
        simulated: Duration::from_secs_f64(ticks as f64 * tick),
        instance_hours: 0.0,
        slo_violation_minutes: 0.0,
        scaling_actions: 0,
        reversals: 0,
        peak_instances: model.initial_instances,
        decisions: 0,
    };
    let mut last_direction: Option<bool> = None;
    let mut samples = Vec::with_capacity(ticks.min(1 << 20) as usize);

    for i in 0..ticks {
        let elapsed = i as f64 * tick;
        let t = start + elapsed;
        while let Some(p) = trace.points.get(next_point).filter(|p| p.at_secs <= t) {
            load = Some(*p);
            next_point += 1;
        }
        while starting.front().is_some_and(|(at, _)| *at <= t) {
            if let Some((_, n)) = starting.pop_front() {
                ready += n;
            }
        }
        let instances = ready + starting.iter().map(|(_, n)| n).sum::<u32>();
        let (rate, arrivals) = load.map_or((0.0, 0.0), |p| (p.request_rate, p.queue_arrivals));

        let capacity = f64::from(ready) * model.requests_per_instance;
        let u = if capacity > 0.0 {
            rate / capacity
        } else {
            f64::INFINITY
        };
        let p95 = if u < 1.0 {
            (model.base_p95.as_secs_f64() / (1.0 - u)).min(P95_CAP_SECS)
        } else {
            P95_CAP_SECS
        };
        queue = (queue + (arrivals - f64::from(ready) * model.jobs_per_instance) * tick).max(0.0);
        let busy = u.min(1.0);
        let metrics = Metrics {
            cpu_percent: Some(100.0 * busy),
            memory_percent: Some(25.0 + 30.0 * busy),
            request_rate: Some(if ready > 0 {
                rate / f64::from(ready)
            } else {
                rate
            }),
            queue_length: Some(queue),
            p95_response_time: Some(Duration::from_secs_f64(p95)),
        };
        let violation = u > 1.0 || p95 > model.slo_p95.as_secs_f64();
        report.instance_hours += f64::from(instances) * tick / 3_600.0;
        if violation {
            report.slo_violation_minutes += tick / 60.0;
        }
        samples.push(Sample {
            at_secs: elapsed,
            request_rate: rate,
            instances,
            ready,
            violation,
        });

        let now = epoch + Duration::from_secs_f64(elapsed);
        let target = autoscaler.decide(&metrics, Fleet { instances, ready }, now);
        report.decisions += 1;
        if target != instances {
            let up = target > instances;
            report.scaling_actions += 1;
            if last_direction.is_some_and(|d| d != up) {
                report.reversals += 1;
            }
            last_direction = Some(up);
            if up {
                starting.push_back((t + model.startup_delay.as_secs_f64(), target - instances));
            } else {
                let mut remove = instances - target;
                // Starting instances go first: they serve nobody yet.
                while remove > 0 {
                    match starting.back_mut() {
                        Some((_, n)) if *n > remove => {
                            *n -= remove;
                            remove = 0;
                        }
                        Some((_, n)) => {
                            remove -= *n;
                            starting.pop_back();
                        }
                        None => {
                            ready = ready.saturating_sub(remove);
                            remove = 0;
                        }
                    }
                }
            }
            report.peak_instances = report.peak_instances.max(target);
        }
    }
    Run { report, samples }
}
