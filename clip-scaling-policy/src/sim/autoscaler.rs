//! The autoscalers a simulation can drive: the interface, our policy (either mode) and a
//! fixed fleet. The HPA baseline is in [`hpa`](super::HpaBaseline).

use std::time::SystemTime;

use crate::{Metrics, ScalingPolicy, ScalingState};

/// The fleet as the autoscaler sees it at a decision: what the orchestrator reports now (the
/// metrics, by contrast, may be old).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fleet {
    /// Instances asked for, ready or starting (the orchestrator's desired count).
    pub instances: u32,
    /// Ready instances (the metrics are averages over the instances ready when they were
    /// measured).
    pub ready: u32,
}

/// Something that picks an instance count from metrics, once per simulation tick.
pub trait Autoscaler {
    /// Name for reports.
    fn name(&self) -> &str;

    /// The instance count wanted after this tick.
    fn decide(&mut self, metrics: &Metrics, fleet: Fleet, now: SystemTime) -> u32;

    /// Like [`decide`](Self::decide), told when the metrics were measured (`now` minus the
    /// judge's metric lag). The simulator calls this one; by default it ignores `observed_at`,
    /// as Kubernetes' HPA does.
    fn decide_observed(
        &mut self,
        metrics: &Metrics,
        observed_at: SystemTime,
        fleet: Fleet,
        now: SystemTime,
    ) -> u32 {
        let _ = observed_at;
        self.decide(metrics, fleet, now)
    }
}

/// Our [`ScalingPolicy`] with its [`ScalingState`], told the real fleet every tick. Its name
/// is its mode's: `guide` or `tracking`.
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
        self.policy.config().mode.name()
    }

    fn decide(&mut self, metrics: &Metrics, fleet: Fleet, now: SystemTime) -> u32 {
        self.decide_observed(metrics, now, fleet, now)
    }

    fn decide_observed(
        &mut self,
        metrics: &Metrics,
        observed_at: SystemTime,
        fleet: Fleet,
        now: SystemTime,
    ) -> u32 {
        self.state.set_current(fleet.instances);
        self.state.set_ready(Some(fleet.ready));
        let d = self
            .policy
            .decide_observed(metrics, observed_at, &self.state, now);
        self.state.record(&d, now);
        d.target
    }
}

/// A fleet that never changes: the cost and SLO of a fixed size (say `MIN_INSTANCES` or
/// `MAX_INSTANCES`), the two ends every autoscaler sits between.
#[derive(Debug, Clone)]
pub struct FixedFleet {
    name: String,
    instances: u32,
}

impl FixedFleet {
    /// `instances` all along, reported as `name`.
    pub fn new(name: impl Into<String>, instances: u32) -> Self {
        Self {
            name: name.into(),
            instances,
        }
    }
}

impl Autoscaler for FixedFleet {
    fn name(&self) -> &str {
        &self.name
    }

    fn decide(&mut self, _: &Metrics, _: Fleet, _: SystemTime) -> u32 {
        self.instances
    }
}
