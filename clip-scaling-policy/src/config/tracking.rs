//! The tracking mode's settings (`SCALING_MODE=tracking`, `TRACKING_*`) and their validation.

use std::time::Duration;

use crate::ScalingError;

/// How the policy decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum ScalingMode {
    /// The production guide's rules: up when ANY metric is above its threshold, down when ALL
    /// are below theirs, with cooldowns. The default.
    #[default]
    Guide,
    /// Target tracking: the fleet follows an estimate of demand sized to a utilisation setpoint
    /// (see [`TrackingConfig`]).
    Tracking,
}

impl ScalingMode {
    /// `guide` or `tracking`, as `SCALING_MODE` spells it (and the simulator reports it).
    pub fn name(self) -> &'static str {
        match self {
            ScalingMode::Guide => "guide",
            ScalingMode::Tracking => "tracking",
        }
    }
}

/// The tracking mode's settings. [`Default`] suits a service whose instance serves 150 req/s
/// at 100 % CPU with a p95 knee near 85 % (the simulator's model): a setpoint of 76 %, which
/// leaves room for noise and the 2 to 3 minutes new capacity needs. Set the targets to yours.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TrackingConfig {
    /// `TRACKING_CPU_TARGET` (76): the fleet-average CPU, percent, the fleet is sized to.
    pub cpu_target: f64,
    /// `TRACKING_REQUEST_RATE_TARGET` (114): requests per second per ready instance the fleet
    /// is sized to.
    pub request_rate_target: f64,
    /// `TRACKING_SCALE_DOWN_TOLERANCE` (10): percent below the current count the estimate must
    /// fall before a scale-down (none is needed for a scale-up).
    pub scale_down_tolerance_percent: f64,
    /// `TRACKING_WINDOW` (300 s, at most 720): the fleet follows the highest estimate of this
    /// window, so noise does not move it and a scale-down waits for the window to agree.
    pub window: Duration,
    /// `TRACKING_LEAD_TIME` (90 s): from a decision to new capacity serving (the orchestrator
    /// acting, start-up, readiness). The estimate looks this far ahead of now, plus the
    /// metrics' own age.
    pub lead_time: Duration,
    /// `TRACKING_JOBS_PER_INSTANCE` (0.5): queue jobs per second one instance processes.
    pub jobs_per_instance: f64,
    /// `TRACKING_JOB_WAIT_SLO` (300 s): no job should wait longer in the queue.
    pub job_wait_slo: Duration,
    /// `TRACKING_LATENCY_GUARD` (90): percent of the p95 SLO (`RESPONSE_TIME_THRESHOLD_MS`)
    /// above which the latency guard adds capacity even if the load metrics look fine.
    pub latency_guard_percent: f64,
    /// `TRACKING_SEASONAL` (true): pre-scale ahead of a rise seen at the same time on each of
    /// the last two days. It only ever adds capacity.
    pub seasonal: bool,
}

impl Default for TrackingConfig {
    fn default() -> Self {
        Self {
            cpu_target: 76.0,
            request_rate_target: 114.0,
            scale_down_tolerance_percent: 10.0,
            window: Duration::from_secs(300),
            lead_time: Duration::from_secs(90),
            jobs_per_instance: 0.5,
            job_wait_slo: Duration::from_secs(300),
            latency_guard_percent: 90.0,
            seasonal: true,
        }
    }
}

/// The longest `TRACKING_WINDOW`: what the state's fixed-size history holds.
const MAX_WINDOW: Duration = Duration::from_secs(720);

impl TrackingConfig {
    /// Checks the settings; the error names the variable to fix.
    pub fn validate(&self) -> Result<(), ScalingError> {
        let positive = |variable: &'static str, v: f64, expected: &'static str| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(ScalingError::OutOfRange {
                    variable,
                    value: v.to_string(),
                    expected,
                })
            }
        };
        positive(
            "TRACKING_CPU_TARGET",
            self.cpu_target,
            "a percentage above 0, at most 100",
        )?;
        if self.cpu_target > 100.0 {
            return Err(ScalingError::OutOfRange {
                variable: "TRACKING_CPU_TARGET",
                value: self.cpu_target.to_string(),
                expected: "a percentage above 0, at most 100",
            });
        }
        positive(
            "TRACKING_REQUEST_RATE_TARGET",
            self.request_rate_target,
            "requests per second per instance, above 0",
        )?;
        positive(
            "TRACKING_JOBS_PER_INSTANCE",
            self.jobs_per_instance,
            "jobs per second per instance, above 0",
        )?;
        let tolerance = self.scale_down_tolerance_percent;
        if !(0.0..100.0).contains(&tolerance) {
            return Err(ScalingError::OutOfRange {
                variable: "TRACKING_SCALE_DOWN_TOLERANCE",
                value: tolerance.to_string(),
                expected: "a percentage from 0 to below 100",
            });
        }
        let guard = self.latency_guard_percent;
        if !(guard > 0.0 && guard <= 100.0) {
            return Err(ScalingError::OutOfRange {
                variable: "TRACKING_LATENCY_GUARD",
                value: guard.to_string(),
                expected: "a percentage of the p95 SLO above 0, at most 100",
            });
        }
        if self.window < Duration::from_secs(15) || self.window > MAX_WINDOW {
            return Err(ScalingError::OutOfRange {
                variable: "TRACKING_WINDOW",
                value: format!("{}", self.window.as_secs_f64()),
                expected: "15 to 720 seconds (the state keeps 12 minutes of history)",
            });
        }
        if self.job_wait_slo.is_zero() {
            return Err(ScalingError::OutOfRange {
                variable: "TRACKING_JOB_WAIT_SLO",
                value: "0".into(),
                expected: "a number of seconds above 0",
            });
        }
        Ok(())
    }
}
