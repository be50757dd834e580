//! Policy configuration: the guide's defaults and validation. Reading it from the environment
//! is in [`env`]; the tracking mode's settings are in [`tracking`].

mod env;
mod tracking;

pub use tracking::{ScalingMode, TrackingConfig};

use std::time::Duration;

use crate::{MetricKind, ScalingError};

/// Up and down thresholds of one metric, forming its hysteresis band.
///
/// Scale-up fires when the value is strictly above `up`; the metric allows a scale-down when the
/// value is strictly below `down`. p95 thresholds are in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MetricRule {
    /// Scale up when the value is above this.
    pub up: f64,
    /// Scale down only when the value (and every other metric's) is below this.
    pub down: f64,
    /// When false the metric is ignored entirely: it neither triggers a scale-up nor is required
    /// for a scale-down (for services that have no queue, say).
    pub enabled: bool,
}

impl MetricRule {
    const fn new(up: f64, down: f64) -> Self {
        Self {
            up,
            down,
            enabled: true,
        }
    }

    /// The middle of the band: a scale-down sizes the fleet so the metric lands here.
    pub fn midpoint(&self) -> f64 {
        (self.up + self.down) / 2.0
    }
}

/// How far one scaling period may move the fleet, as Kubernetes' HPA `behavior` policies:
/// the larger of `max_percent` of the count at the start of the period and `max_instances`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StepPolicy {
    /// Largest change per period as a percentage of the count at the start of the period.
    pub max_percent: u32,
    /// Largest change per period in instances.
    pub max_instances: u32,
    /// The period the limit applies to.
    pub period: Duration,
}

impl StepPolicy {
    /// Largest change allowed from `start` instances within one period.
    pub fn allowed_change(&self, start: u32) -> u32 {
        let by_percent = u64::from(start) * u64::from(self.max_percent) / 100;
        let by_percent = u32::try_from(by_percent).unwrap_or(u32::MAX);
        by_percent.max(self.max_instances)
    }
}

/// Everything the policy needs to decide. [`Default`] is the production guide's settings.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ScalingConfig {
    /// `AUTO_SCALING_ENABLED` (true). When false every decision is Hold (an override still applies).
    pub enabled: bool,
    /// `MIN_INSTANCES` (3).
    pub min_instances: u32,
    /// `MAX_INSTANCES` (20).
    pub max_instances: u32,
    /// `CPU_THRESHOLD` (70) / `CPU_SCALE_DOWN_THRESHOLD` (35), percent.
    pub cpu: MetricRule,
    /// `MEMORY_THRESHOLD` (80) / `MEMORY_SCALE_DOWN_THRESHOLD` (40), percent.
    pub memory: MetricRule,
    /// `REQUEST_RATE_THRESHOLD` (100) / `REQUEST_RATE_SCALE_DOWN_THRESHOLD` (30), req/s per instance.
    pub request_rate: MetricRule,
    /// `QUEUE_LENGTH_THRESHOLD` (50) / `QUEUE_LENGTH_SCALE_DOWN_THRESHOLD` (10), pending jobs.
    pub queue_length: MetricRule,
    /// `RESPONSE_TIME_THRESHOLD_MS` (2000) / `RESPONSE_TIME_SCALE_DOWN_THRESHOLD_MS` (500); stored
    /// in seconds.
    pub p95_response_time: MetricRule,
    /// `SCALE_UP_COOLDOWN` (60 s): no scale-up within this of the last scale-up.
    pub scale_up_cooldown: Duration,
    /// `SCALE_DOWN_COOLDOWN` (300 s): no scale-down within this of the last scaling event.
    pub scale_down_cooldown: Duration,
    /// `SCALE_DOWN_STABILIZATION` (300 s): a scale-down goes no lower than the highest
    /// recommendation seen within this window.
    pub scale_down_stabilization: Duration,
    /// `SCALE_UP_MAX_PERCENT` (100), `SCALE_UP_MAX_INSTANCES` (4), `SCALE_UP_PERIOD` (15 s).
    pub scale_up_step: StepPolicy,
    /// `SCALE_DOWN_MAX_PERCENT` (50), `SCALE_DOWN_MAX_INSTANCES` (1), `SCALE_DOWN_PERIOD` (60 s).
    pub scale_down_step: StepPolicy,
    /// `INSTANCE_WARMUP` (30 s): when the caller does not report readiness, instances added by a
    /// scale-up count as not ready for this long.
    pub warmup: Duration,
    /// `METRICS_MAX_AGE` (60 s): a sample older than this is stale and cannot cause a scale-down.
    pub max_metric_age: Duration,
    /// `SCALING_MODE` (`guide`): the guide's rules, or target tracking.
    #[cfg_attr(feature = "serde", serde(default))]
    pub mode: ScalingMode,
    /// The tracking mode's settings (`TRACKING_*`), used when `mode` is `Tracking`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub tracking: TrackingConfig,
}

impl Default for ScalingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_instances: 3,
            max_instances: 20,
            cpu: MetricRule::new(70.0, 35.0),
            memory: MetricRule::new(80.0, 40.0),
            request_rate: MetricRule::new(100.0, 30.0),
            queue_length: MetricRule::new(50.0, 10.0),
            p95_response_time: MetricRule::new(2.0, 0.5),
            scale_up_cooldown: Duration::from_secs(60),
            scale_down_cooldown: Duration::from_secs(300),
            scale_down_stabilization: Duration::from_secs(300),
            scale_up_step: StepPolicy {
                max_percent: 100,
                max_instances: 4,
                period: Duration::from_secs(15),
            },
            scale_down_step: StepPolicy {
                max_percent: 50,
                max_instances: 1,
                period: Duration::from_secs(60),
            },
            warmup: Duration::from_secs(30),
            max_metric_age: Duration::from_secs(60),
            mode: ScalingMode::Guide,
            tracking: TrackingConfig::default(),
        }
    }
}

/// (up variable, down variable) per metric, in [`MetricKind::ALL`] order.
const THRESHOLD_VARIABLES: [(&str, &str); 5] = [
    ("CPU_THRESHOLD", "CPU_SCALE_DOWN_THRESHOLD"),
    ("MEMORY_THRESHOLD", "MEMORY_SCALE_DOWN_THRESHOLD"),
    (
        "REQUEST_RATE_THRESHOLD",
        "REQUEST_RATE_SCALE_DOWN_THRESHOLD",
    ),
    (
        "QUEUE_LENGTH_THRESHOLD",
        "QUEUE_LENGTH_SCALE_DOWN_THRESHOLD",
    ),
    (
        "RESPONSE_TIME_THRESHOLD_MS",
        "RESPONSE_TIME_SCALE_DOWN_THRESHOLD_MS",
    ),
];

impl ScalingConfig {
    /// Checks the configuration can drive a fleet; the error names the variable to fix.
    ///
    /// Refused: `MAX_INSTANCES=0`, `MIN_INSTANCES=0` (scale-to-zero is not supported),
    /// min above max, a non-finite or non-positive up threshold, a down threshold at or above its
    /// up threshold (an empty hysteresis band), and a scale-up step policy that allows no step.
    pub fn validate(&self) -> Result<(), ScalingError> {
        if self.max_instances == 0 {
            return Err(ScalingError::OutOfRange {
                variable: "MAX_INSTANCES",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        if self.min_instances == 0 {
            return Err(ScalingError::OutOfRange {
                variable: "MIN_INSTANCES",
                value: "0".into(),
                expected: "at least 1 (scale-to-zero is not supported)",
            });
        }
        if self.min_instances > self.max_instances {
            return Err(ScalingError::MinAboveMax {
                min: self.min_instances,
                max: self.max_instances,
            });
        }
        for (kind, (up_var, down_var)) in MetricKind::ALL.into_iter().zip(THRESHOLD_VARIABLES) {
            let rule = self.rule(kind);
            // Back in the variable's unit, rounded to a microsecond so 0.7 s reads 700, not
            // 700.0000000000001.
            let shown = |v: f64| {
                if kind == MetricKind::P95ResponseTime {
                    (v * 1e6).round() / 1e3
                } else {
                    v
                }
            };
            if !(rule.up.is_finite() && rule.up > 0.0) {
                return Err(ScalingError::OutOfRange {
                    variable: up_var,
                    value: shown(rule.up).to_string(),
                    expected: "a finite number above 0",
                });
            }
            if !(rule.down.is_finite() && rule.down >= 0.0) {
                return Err(ScalingError::OutOfRange {
                    variable: down_var,
                    value: shown(rule.down).to_string(),
                    expected: "a finite number, 0 or more",
                });
            }
            if rule.down >= rule.up {
                return Err(ScalingError::EmptyHysteresisBand {
                    up_variable: up_var,
                    up: shown(rule.up),
                    down_variable: down_var,
                    down: shown(rule.down),
                });
            }
        }
        if MetricKind::ALL.iter().all(|k| !self.rule(*k).enabled) {
            return Err(ScalingError::OutOfRange {
                variable: "SCALING_IGNORE_METRICS",
                value: "every metric".into(),
                expected: "at most four of the five metrics (the policy needs one to decide on)",
            });
        }
        if self.scale_up_step.max_percent == 0 && self.scale_up_step.max_instances == 0 {
            return Err(ScalingError::OutOfRange {
                variable: "SCALE_UP_MAX_INSTANCES",
                value: "0".into(),
                expected: "at least 1 when SCALE_UP_MAX_PERCENT is 0 (else the fleet can never grow)",
            });
        }
        if self.mode == ScalingMode::Tracking {
            self.tracking.validate()?;
        }
        Ok(())
    }

    /// The thresholds of one metric.
    pub fn rule(&self, kind: MetricKind) -> &MetricRule {
        match kind {
            MetricKind::CpuPercent => &self.cpu,
            MetricKind::MemoryPercent => &self.memory,
            MetricKind::RequestRate => &self.request_rate,
            MetricKind::QueueLength => &self.queue_length,
            MetricKind::P95ResponseTime => &self.p95_response_time,
        }
    }

    /// The thresholds of one metric, to change them.
    pub fn rule_mut(&mut self, kind: MetricKind) -> &mut MetricRule {
        match kind {
            MetricKind::CpuPercent => &mut self.cpu,
            MetricKind::MemoryPercent => &mut self.memory,
            MetricKind::RequestRate => &mut self.request_rate,
            MetricKind::QueueLength => &mut self.queue_length,
            MetricKind::P95ResponseTime => &mut self.p95_response_time,
        }
    }
}
