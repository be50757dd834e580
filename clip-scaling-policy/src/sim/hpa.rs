//! A faithful Kubernetes HorizontalPodAutoscaler (autoscaling/v2, `pkg/controller/podautoscaler`)
//! as a baseline: the replica calculator per metric kind, the default `behavior`, its
//! stabilization window and rate limits.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use super::{Autoscaler, Fleet};
use crate::{MetricKind, Metrics, ScalingConfig};

/// What an HPA scales on. `None` leaves a metric out of the HPA's spec.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HpaTargets {
    /// Resource metric `cpu`, `averageUtilization` in percent.
    pub cpu_percent: Option<f64>,
    /// Resource metric `memory`, `averageUtilization` in percent.
    pub memory_percent: Option<f64>,
    /// Pods metric (requests per second per pod), `averageValue`.
    pub request_rate: Option<f64>,
    /// External metric (pending jobs, whole queue), `type: Value`: the literal form of the
    /// guide's "scale up above 50 pending jobs", served by a metrics adapter or KEDA.
    pub queue_length: Option<f64>,
}

impl HpaTargets {
    /// The guide's numbers, pinned: CPU 70 %, memory 80 %, 100 req/s per pod, 50 jobs.
    pub const GUIDE: HpaTargets = HpaTargets {
        cpu_percent: Some(70.0),
        memory_percent: Some(80.0),
        request_rate: Some(100.0),
        queue_length: Some(50.0),
    };

    /// A configuration's up thresholds as targets (its ignored metrics left out).
    pub fn from_config(config: &ScalingConfig) -> Self {
        let target = |kind: MetricKind| {
            let rule = config.rule(kind);
            rule.enabled.then_some(rule.up)
        };
        Self {
            cpu_percent: target(MetricKind::CpuPercent),
            memory_percent: target(MetricKind::MemoryPercent),
            request_rate: target(MetricKind::RequestRate),
            queue_length: target(MetricKind::QueueLength),
        }
    }

    /// The request-rate target moved to `per_pod`, the CPU target in proportion (70 % at 100
    /// req/s), so that CPU does not cap the setting: in the simulator CPU is request rate over
    /// capacity, and a fixed 70 % would act at 105 req/s whatever the request-rate target.
    pub fn with_request_rate(self, per_pod: f64) -> Self {
        let base_rate = HpaTargets::GUIDE.request_rate.unwrap_or(100.0);
        let base_cpu = HpaTargets::GUIDE.cpu_percent.unwrap_or(70.0);
        Self {
            request_rate: Some(per_pod),
            cpu_percent: self.cpu_percent.map(|_| base_cpu * per_pod / base_rate),
            ..self
        }
    }
}

/// How the calculator treats pods that are not ready for one metric (`groupPods`): for CPU
/// they are set aside as unready; for the other metrics a starting pod has no sample yet
/// (a rate needs two scrapes), so it is missing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum NotReady {
    Unready,
    Missing,
}

/// A scaling rule of the `behavior`: the larger of `percent` of the period's start count and
/// `pods`, per `period`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RateLimit {
    percent: f64,
    pods: u32,
    period: Duration,
}

/// The Kubernetes HorizontalPodAutoscaler algorithm with its default `behavior`:
///
/// - per metric, the replica calculator: `ceil(ratio * ready)` outside a 10 % tolerance; for
///   CPU, unready pods are set aside and count as idle on a scale-up; for the other pod
///   metrics, pods without a sample count as idle on a scale-up and at the target on a
///   scale-down; an External `Value` metric gives `ceil(value / target * ready)`; the highest
///   wins, and if a metric is missing no scale-down happens;
/// - scale-down stabilization: the highest recommendation of the last 300 s; none for up;
/// - rate limits per 15 s, from the count at the period's start (`current - added +
///   deleted`): up by max(100 %, 4 pods), down by 100 %;
/// - clamped to min..=max. No cooldowns.
#[derive(Debug, Clone)]
pub struct HpaBaseline {
    name: String,
    min: u32,
    max: u32,
    targets: HpaTargets,
    tolerance: f64,
    down_window: Duration,
    up: RateLimit,
    down: RateLimit,
    recommendations: VecDeque<(SystemTime, u32)>,
    /// Scale events `(time, change)` within the longest rate-limit period.
    changes: VecDeque<(SystemTime, i64)>,
}

impl HpaBaseline {
    /// A baseline on `config`'s bounds, with its up thresholds as targets. For a comparison
    /// prefer [`HpaBaseline::kubernetes_default`], which does not move when the policy's
    /// configuration does.
    pub fn new(config: &ScalingConfig) -> Self {
        Self::with_targets(
            config.min_instances,
            config.max_instances,
            HpaTargets::from_config(config),
        )
    }

    /// The baseline pinned to the guide's numbers (3..=20 pods, [`HpaTargets::GUIDE`]) and
    /// Kubernetes' default `behavior`, whatever the environment says.
    pub fn kubernetes_default() -> Self {
        Self::with_targets(3, 20, HpaTargets::GUIDE)
    }

    /// A baseline on `min..=max` pods with these targets and the default `behavior`.
    pub fn with_targets(min: u32, max: u32, targets: HpaTargets) -> Self {
        let period = Duration::from_secs(15);
        Self {
            name: "hpa".to_string(),
            min,
            max,
            targets,
            tolerance: 0.1,
            down_window: Duration::from_secs(300),
            up: RateLimit {
                percent: 100.0,
                pods: 4,
                period,
            },
            down: RateLimit {
                percent: 100.0,
                pods: 0,
                period,
            },
            recommendations: VecDeque::new(),
            changes: VecDeque::new(),
        }
    }

    /// The same baseline reported under another name (say `hpa-tuned`).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The targets in force.
    pub fn targets(&self) -> HpaTargets {
        self.targets
    }

    /// The highest count any metric asks for (`computeReplicasForMetrics`); the current count
    /// when no metric can be computed, or when one cannot and the others would scale down.
    fn desired(&self, metrics: &Metrics, fleet: Fleet) -> u32 {
        let t = &self.targets;
        let plain = [
            (MetricKind::CpuPercent, t.cpu_percent, NotReady::Unready),
            (
                MetricKind::MemoryPercent,
                t.memory_percent,
                NotReady::Missing,
            ),
            (MetricKind::RequestRate, t.request_rate, NotReady::Missing),
        ];
        let mut desired: Option<u32> = None;
        let mut invalid = 0;
        let mut want = |replicas: Option<u32>| match replicas {
            Some(r) => desired = Some(desired.map_or(r, |d| d.max(r))),
            None => invalid += 1,
        };
        for (kind, target, not_ready) in plain {
            if let Some(target) = target {
                want(self.plain_metric(valid(metrics.get(kind)), target, not_ready, fleet));
            }
        }
        if let Some(target) = t.queue_length {
            want(self.external_value(valid(metrics.queue_length), target, fleet));
        }
        match desired {
            Some(d) if invalid == 0 || d >= fleet.instances => d,
            _ => fleet.instances,
        }
    }

    /// `calcPlainMetricReplicas` for a fleet-average `value` over the ready pods.
    fn plain_metric(
        &self,
        value: Option<f64>,
        target: f64,
        not_ready: NotReady,
        fleet: Fleet,
    ) -> Option<u32> {
        let value = value?;
        if fleet.ready == 0 {
            // "did not receive metrics for any ready pods"
            return None;
        }
        let current = fleet.instances;
        let ready = f64::from(fleet.ready);
        let starting = f64::from(fleet.instances.saturating_sub(fleet.ready));
        let (unready, missing) = match not_ready {
            NotReady::Unready => (starting, 0.0),
            NotReady::Missing => (0.0, starting),
        };
        let ratio = value / target;
        let scale_up_with_unready = unready > 0.0 && ratio > 1.0;
        if !scale_up_with_unready && missing == 0.0 {
            if (1.0 - ratio).abs() <= self.tolerance {
                return Some(current);
            }
            return Some(ceil_count(ratio * ready));
        }
        let mut sum = value * ready;
        let mut pods = ready;
        if missing > 0.0 && ratio != 1.0 {
            // On a scale-down missing pods count at the target, on a scale-up as idle.
            if ratio < 1.0 {
                sum += target * missing;
            }
            pods += missing;
        }
        if scale_up_with_unready {
            pods += unready;
        }
        let new_ratio = sum / (target * pods);
        let flips = (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0);
        if (1.0 - new_ratio).abs() <= self.tolerance || flips {
            return Some(current);
        }
        let replicas = ceil_count(new_ratio * pods);
        if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
            return Some(current);
        }
        Some(replicas)
    }

    /// `GetExternalMetricReplicas` with a `Value` target: `ceil(value / target * ready)`.
    fn external_value(&self, value: Option<f64>, target: f64, fleet: Fleet) -> Option<u32> {
        let ratio = value? / target;
        if (1.0 - ratio).abs() <= self.tolerance {
            return Some(fleet.instances);
        }
        Some(ceil_count(ratio * f64::from(fleet.ready)))
    }

    /// Replicas added (`up`) or deleted in the `period` before `now`.
    fn changed_in_period(&self, up: bool, period: Duration, now: SystemTime) -> u32 {
        let total: i64 = self
            .changes
            .iter()
            .filter(|(at, c)| within(*at, period, now) && (*c > 0) == up)
            .map(|(_, c)| c.abs())
            .sum();
        u32::try_from(total).unwrap_or(u32::MAX)
    }

    /// The count at the start of `period`: `current - added + deleted`.
    fn period_start(&self, current: u32, period: Duration, now: SystemTime) -> u32 {
        current
            .saturating_sub(self.changed_in_period(true, period, now))
            .saturating_add(self.changed_in_period(false, period, now))
    }
}

impl Autoscaler for HpaBaseline {
    fn name(&self) -> &str {
        &self.name
    }

    fn decide(&mut self, metrics: &Metrics, fleet: Fleet, now: SystemTime) -> u32 {
        let current = fleet.instances;
        let desired = self.desired(metrics, fleet);
        while self
            .recommendations
            .front()
            .is_some_and(|(at, _)| !within(*at, self.down_window, now))
        {
            self.recommendations.pop_front();
        }
        // Stabilization: no lower than the highest recommendation of the window.
        let highest = self
            .recommendations
            .iter()
            .map(|(_, r)| *r)
            .fold(desired, u32::max);
        self.recommendations.push_back((now, desired));
        let mut target = if desired < current {
            highest.min(current)
        } else {
            desired
        };
        if target > current {
            let start = self.period_start(current, self.up.period, now);
            let by_percent = (f64::from(start) * (1.0 + self.up.percent / 100.0)).ceil();
            let limit = ceil_count(by_percent).max(start.saturating_add(self.up.pods));
            target = target.min(limit.max(current));
        } else if target < current {
            let start = self.period_start(current, self.down.period, now);
            let by_percent = (f64::from(start) * (1.0 - self.down.percent / 100.0)).max(0.0);
            let limit = (by_percent as u32).min(start.saturating_sub(self.down.pods));
            target = target.max(limit.min(current));
        }
        let target = target.clamp(self.min, self.max);
        let longest = self.up.period.max(self.down.period);
        while self
            .changes
            .front()
            .is_some_and(|(at, _)| !within(*at, longest, now))
        {
            self.changes.pop_front();
        }
        if target != current {
            self.changes
                .push_back((now, i64::from(target) - i64::from(current)));
        }
        target
    }
}

/// A finite, non-negative metric value; anything else is a metric HPA could not read.
fn valid(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite() && *v >= 0.0)
}

/// `ceil` into a replica count, saturating.
fn ceil_count(x: f64) -> u32 {
    x.ceil() as u32
}

fn within(at: SystemTime, window: Duration, now: SystemTime) -> bool {
    now.duration_since(at).map_or(true, |age| age < window)
}
