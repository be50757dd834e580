//! The simulated service (capacity, latency, job throughput and its SLOs) and the judge that
//! stands between it and the autoscaler (metric lag, readiness delay, actuation delay).

use std::time::Duration;

/// The simulated service. See the [module documentation](super) for the formulas.
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
    /// A job waiting longer than this in the queue violates the job-wait SLO (5 minutes).
    pub job_wait_slo: Duration,
    /// Time from an instance's creation to its serving (60 s), before the readiness delay.
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
            job_wait_slo: Duration::from_secs(300),
            startup_delay: Duration::from_secs(60),
            tick: Duration::from_secs(15),
            initial_instances: 3,
        }
    }
}

/// The longest p95 the model reports (an overloaded service times out).
pub(crate) const P95_CAP_SECS: f64 = 30.0;

impl CapacityModel {
    /// p95 response time, seconds, at utilisation `u`: `base_p95 / (1 - u)`, capped at 30 s.
    pub fn p95_secs(&self, u: f64) -> f64 {
        if u < 1.0 {
            (self.base_p95.as_secs_f64() / (1.0 - u)).min(P95_CAP_SECS)
        } else {
            P95_CAP_SECS
        }
    }

    /// The utilisation at which the p95 reaches the SLO: `1 - base_p95 / slo_p95` (0.85).
    pub fn slo_knee(&self) -> f64 {
        1.0 - self.base_p95.as_secs_f64() / self.slo_p95.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// What stands between the service and the autoscaler, the same for every autoscaler: how old
/// the metrics are, how long a started instance waits for its readiness probe, and when a
/// decision takes effect.
#[derive(Debug, Clone, PartialEq)]
pub struct Judge {
    /// The autoscaler sees the metrics as they were this long ago (60 s: a 15 s scrape plus a
    /// rate window). Before the trace has run that long it sees the first tick's metrics (the
    /// load is taken as steady before the trace starts).
    pub metric_lag: Duration,
    /// After its start-up an instance serves only once its readiness probe passes
    /// (10 s: Kubernetes' default `periodSeconds`).
    pub readiness_delay: Duration,
    /// A decision takes effect at the next tick (an orchestrator acts on it later), not within
    /// the tick that made it.
    pub apply_next_tick: bool,
    /// Most samples a run keeps for charts; longer runs keep one per bucket of ticks (the
    /// bucket's peak), so a year at 1 s does not hold 31 million samples.
    pub max_samples: usize,
}

impl Default for Judge {
    fn default() -> Self {
        Self {
            metric_lag: Duration::from_secs(60),
            readiness_delay: Duration::from_secs(10),
            apply_next_tick: true,
            max_samples: 1 << 16,
        }
    }
}

impl Judge {
    /// No lag, no readiness delay, decisions applied within their tick: the simulator as it
    /// was before the judge, which flatters purely reactive autoscalers.
    pub fn instant() -> Self {
        Self {
            metric_lag: Duration::ZERO,
            readiness_delay: Duration::ZERO,
            apply_next_tick: false,
            ..Self::default()
        }
    }

    /// The default judge with another metric lag.
    pub fn with_lag(metric_lag: Duration) -> Self {
        Self {
            metric_lag,
            ..Self::default()
        }
    }
}
