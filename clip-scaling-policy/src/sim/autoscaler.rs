//! The autoscalers a simulation can drive: our policy, and a faithful Kubernetes HPA baseline.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use crate::{MetricKind, Metrics, ScalingConfig, ScalingPolicy, ScalingState, StepPolicy};

/// The fleet as the autoscaler sees it at a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fleet {
    /// Instances, ready or starting.
    pub instances: u32,
    /// Ready instances (the metrics are averages over these).
    pub ready: u32,
}

/// Something that picks an instance count from metrics, once per simulation tick.
pub trait Autoscaler {
    /// Name for reports.
    fn name(&self) -> &str;
    /// The instance count wanted after this tick.
    fn decide(&mut self, metrics: &Metrics, fleet: Fleet, now: SystemTime) -> u32;
}

/// Our [`ScalingPolicy`] with its [`ScalingState`], told the real fleet every tick.
#[derive(Debug, Clone)]
pub struct PolicyAutoscaler {
    policy: ScalingPolicy,
    state: ScalingState,
}

impl PolicyAutoscaler {
    /// Drives `policy`, starting from `instances`.
    pub fn new(policy: ScalingPolicy, instances: u32) -> Self {
        Self {
            policy,
            state: ScalingState::new(instances),
        }
    }

    /// The state after the run (events, cooldown clocks).
    pub fn state(&self) -> &ScalingState {
        &self.state
    }
}

impl Autoscaler for PolicyAutoscaler {
    fn name(&self) -> &str {
        "policy"
    }

    fn decide(&mut self, metrics: &Metrics, fleet: Fleet, now: SystemTime) -> u32 {
        self.state.set_current(fleet.instances);
        self.state.set_ready(Some(fleet.ready));
        let d = self.policy.decide(metrics, &self.state, now);
        self.state.record(&d, now);
        d.target
    }
}

/// The Kubernetes HorizontalPodAutoscaler (autoscaling/v2) algorithm with its default
/// `behavior`, on the guide's CPU, memory and request-rate thresholds as targets:
///
/// - per metric, `desired = ceil(ready * value / target)`, unchanged within a 10 % tolerance;
///   when scaling up, not-ready pods count as idle (so they temper the ratio); the highest wins;
/// - scale-down stabilization: the highest desired count of the last 300 s; none for scale-up;
/// - rate limits per 15 s: up by max(100 %, 4 pods), down by 100 %;
/// - clamped to min..=max. No cooldowns, and no queue or latency metric (those need KEDA).
#[derive(Debug, Clone)]
pub struct HpaBaseline {
    min: u32,
    max: u32,
    targets: [(MetricKind, f64); 3],
    tolerance: f64,
    down_window: Duration,
    up: StepPolicy,
    down: StepPolicy,
    recommendations: VecDeque<(SystemTime, u32)>,
    changes: VecDeque<(SystemTime, i64)>,
}

impl HpaBaseline {
    /// A baseline using `config`'s bounds and up thresholds as HPA targets.
    pub fn new(config: &ScalingConfig) -> Self {
        let period = Duration::from_secs(15);
        Self {
            min: config.min_instances,
            max: config.max_instances,
            targets: [
                (MetricKind::CpuPercent, config.cpu.up),
                (MetricKind::MemoryPercent, config.memory.up),
                (MetricKind::RequestRate, config.request_rate.up),
            ],
            tolerance: 0.1,
            down_window: Duration::from_secs(300),
            up: StepPolicy {
                max_percent: 100,
                max_instances: 4,
                period,
            },
            down: StepPolicy {
                max_percent: 100,
                max_instances: 0,
                period,
            },
            recommendations: VecDeque::new(),
            changes: VecDeque::new(),
        }
    }

    fn desired(&self, metrics: &Metrics, fleet: Fleet) -> u32 {
        let ready = f64::from(fleet.ready.max(1));
        let total = f64::from(fleet.instances.max(1));
        let mut desired = None::<u32>;
        for (kind, target) in self.targets {
            let Some(value) = metrics.get(kind).filter(|v| v.is_finite() && *v >= 0.0) else {
                continue;
            };
            let ratio = value / target;
            let wanted = if ratio > 1.0 {
                // Not-ready pods count as idle when scaling up.
                let rebalanced = value * ready / (target * total);
                if rebalanced <= 1.0 + self.tolerance {
                    fleet.instances
                } else {
                    (rebalanced * total).ceil() as u32
                }
            } else if 1.0 - ratio <= self.tolerance {
                fleet.instances
            } else {
                (ratio * ready).ceil() as u32
            };
            desired = Some(desired.map_or(wanted, |d| d.max(wanted)));
        }
        desired.unwrap_or(fleet.instances)
    }

    /// Instances added (`up`) or removed within the last `period`.
    fn changed_in_period(&self, up: bool, period: Duration, now: SystemTime) -> u32 {
        let total: i64 = self
            .changes
            .iter()
            .filter(|(at, c)| within(*at, period, now) && (*c > 0) == up)
            .map(|(_, c)| c.abs())
            .sum();
        u32::try_from(total).unwrap_or(u32::MAX)
    }
}

impl Autoscaler for HpaBaseline {
    fn name(&self) -> &str {
        "hpa"
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
        self.recommendations.push_back((now, desired));
        let mut target = desired;
        if desired < current {
            let highest = self
                .recommendations
                .iter()
                .map(|(_, r)| *r)
                .max()
                .unwrap_or(desired);
            target = highest.min(current);
        }
        if target > current {
            let start = current.saturating_sub(self.changed_in_period(true, self.up.period, now));
            target = target.min(start.saturating_add(self.up.allowed_change(start)));
        } else if target < current {
            let start =
                current.saturating_add(self.changed_in_period(false, self.down.period, now));
            target = target.max(start.saturating_sub(self.down.allowed_change(start)));
        }
        let target = target.clamp(self.min, self.max);
        while self
            .changes
            .front()
            .is_some_and(|(at, _)| !within(*at, self.up.period.max(self.down.period), now))
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

fn within(at: SystemTime, window: Duration, now: SystemTime) -> bool {
    now.duration_since(at).map_or(true, |age| age < window)
}
