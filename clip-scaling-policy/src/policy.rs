//! The decision engine: metrics and state in, an explained [`Decision`] out. Pure: no clock,
//! no I/O, no allocation.

use std::time::{Duration, SystemTime};

use crate::decision::{CooldownLimit, Direction, Limits, Reading, Reasons, Rule, Verdict};
use crate::{
    Decision, MetricKind, Metrics, ScalingConfig, ScalingError, ScalingMode, ScalingState,
};

/// A validated scaling policy. Cheap to share; `decide` takes `&self`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingPolicy {
    config: ScalingConfig,
}

impl ScalingPolicy {
    /// Validates `config` and builds the policy.
    pub fn new(config: ScalingConfig) -> Result<Self, ScalingError> {
        config.validate()?;
        Ok(Self { config })
    }

    /// The configuration in force.
    pub fn config(&self) -> &ScalingConfig {
        &self.config
    }

    /// Decides on a sample taken at `now`. Same inputs, same decision.
    ///
    /// Order of precedence: a manual override in force; `AUTO_SCALING_ENABLED=false` (Hold);
    /// a count outside the bounds (brought back in, cooldowns aside); no ready instance (Hold);
    /// then, in guide mode, the scale-up rule (ANY metric above its threshold) and the
    /// scale-down rule (ALL metrics below theirs), or in tracking mode the demand estimate.
    pub fn decide(&self, metrics: &Metrics, state: &ScalingState, now: SystemTime) -> Decision {
        self.decide_observed(metrics, now, state, now)
    }

    /// Like [`decide`](Self::decide) for a sample taken at `observed_at`: a sample older than
    /// `max_metric_age` is stale and cannot cause a scale-down (it may still cause a scale-up).
    /// The tracking mode also reads per-instance averages against the ready count of that
    /// time, and looks ahead from it: pass when the load was measured (for a Prometheus
    /// `rate()` over a window, about half the window before the query).
    pub fn decide_observed(
        &self,
        metrics: &Metrics,
        observed_at: SystemTime,
        state: &ScalingState,
        now: SystemTime,
    ) -> Decision {
        let c = &self.config;
        let current = state.current();
        let ready = state.ready_at(c.warmup, now);
        let stale = now
            .duration_since(observed_at)
            .is_ok_and(|age| age > c.max_metric_age);
        let tracking = c.mode == ScalingMode::Tracking;
        let readings = if tracking {
            let lead = c.tracking.lead_time.as_secs_f64();
            crate::tracking::readings(c, metrics, ready.max(1), current, lead)
        } else {
            self.readings(metrics, ready.max(1))
        };
        let mut reasons = Reasons {
            rule: Rule::WithinBand,
            readings,
            recommended: current,
            ready,
            ready_reported: state.reported_ready().is_some(),
            stale,
            limits: Limits::default(),
            manual_override: None,
            stabilization_window: c.scale_down_stabilization,
            tracking: None,
        };

        if let Some(o) = state.active_override(now) {
            reasons.rule = Rule::Override;
            reasons.recommended = o.target;
            reasons.manual_override = Some(o.clone());
            return decision(current, o.target, reasons);
        }
        if !c.enabled {
            reasons.rule = Rule::Disabled;
            return decision(current, current, reasons);
        }
        if current > c.max_instances {
            reasons.rule = Rule::OutOfBounds;
            reasons.recommended = c.max_instances;
            reasons.limits.bound = Some(c.max_instances);
            return decision(current, c.max_instances, reasons);
        }
        if current < c.min_instances && (ready == 0 || !tracking) {
            return self.raise_to_min(state, now, reasons);
        }
        if ready == 0 {
            reasons.rule = Rule::NoReadyInstances;
            return decision(current, current, reasons);
        }
        if tracking {
            return crate::tracking::decide(c, metrics, observed_at, state, now, reasons);
        }

        if let Some(metric) = most_demanding(&reasons.readings) {
            reasons.rule = Rule::ScaleUp { metric };
            reasons.recommended = reasons.readings[metric.index()].wants.unwrap_or(current);
            let target = self.limit_scale_up(state, now, &mut reasons, true);
            return decision(current, target, reasons);
        }

        match self.scale_down_blocker(&reasons.readings, stale) {
            Some(rule) => {
                reasons.rule = rule;
                decision(current, current, reasons)
            }
            None => {
                reasons.rule = Rule::ScaleDown;
                reasons.recommended = reasons
                    .readings
                    .iter()
                    .filter_map(|r| r.wants)
                    .max()
                    .unwrap_or(current)
                    .max(1);
                let target = self.limit_scale_down(state, now, &mut reasons);
                decision(current, target, reasons)
            }
        }
    }

    /// Each metric against its thresholds, with the count it alone would ask for: proportional
    /// sizing as HPA's `ceil(ready * value / threshold)`, towards the up threshold when above
    /// it and towards the middle of the band when below the down threshold.
    fn readings(&self, m: &Metrics, base: u32) -> [Reading; 5] {
        MetricKind::ALL.map(|metric| {
            let rule = self.config.rule(metric);
            let value = m.get(metric);
            let (verdict, wants) = match value {
                _ if !rule.enabled => (Verdict::Ignored, None),
                None => (Verdict::Missing, None),
                Some(v) if v.is_nan() || v < 0.0 => (Verdict::Invalid, None),
                Some(v) if v > rule.up => {
                    // At least one more: rounding must not swallow a threshold crossing.
                    let wants = proportional(base, v, rule.up).max(base.saturating_add(1));
                    (Verdict::Above, Some(wants))
                }
                // A down threshold of 0 means "only at 0" (say, an empty queue).
                Some(v) if v < rule.down || (v == 0.0 && rule.down == 0.0) => {
                    (Verdict::Below, Some(proportional(base, v, rule.midpoint())))
                }
                Some(_) => (Verdict::Within, None),
            };
            Reading {
                metric,
                value,
                up_threshold: rule.up,
                down_threshold: rule.down,
                verdict,
                wants,
            }
        })
    }

    /// Why a scale-down may not happen, if it may not: a metric in its band, a missing or
    /// invalid metric, or a stale sample.
    fn scale_down_blocker(&self, readings: &[Reading; 5], stale: bool) -> Option<Rule> {
        if readings.iter().any(|r| r.verdict == Verdict::Within) {
            return Some(Rule::WithinBand);
        }
        if let Some(r) = readings
            .iter()
            .find(|r| matches!(r.verdict, Verdict::Missing | Verdict::Invalid))
        {
            return Some(Rule::MissingMetric { metric: r.metric });
        }
        stale.then_some(Rule::StaleMetrics)
    }

    /// Below `MIN_INSTANCES` (instances died): back to MIN at least, and further if the load
    /// asks for it, cooldowns aside. A correction the load does not ask for is rule
    /// `OutOfBounds`, which starts no cooldown (see [`ScalingState::record`]).
    fn raise_to_min(
        &self,
        state: &ScalingState,
        now: SystemTime,
        mut reasons: Reasons,
    ) -> Decision {
        let c = &self.config;
        let current = state.current();
        let demanding = most_demanding(&reasons.readings).filter(|_| reasons.ready > 0);
        if let Some(metric) = demanding {
            reasons.recommended = reasons.readings[metric.index()].wants.unwrap_or(current);
            let wanted = self.limit_scale_up(state, now, &mut reasons, false);
            if wanted > c.min_instances {
                reasons.rule = Rule::ScaleUp { metric };
                return decision(current, wanted, reasons);
            }
        }
        reasons.limits = Limits {
            bound: Some(c.min_instances),
            ..Limits::default()
        };
        reasons.rule = Rule::OutOfBounds;
        reasons.recommended = c.min_instances;
        decision(current, c.min_instances, reasons)
    }

    fn limit_scale_up(
        &self,
        state: &ScalingState,
        now: SystemTime,
        reasons: &mut Reasons,
        cooldown: bool,
    ) -> u32 {
        let c = &self.config;
        let current = state.current();
        let raw = reasons.recommended;
        if raw <= current {
            // Instances still starting will serve this load: do not add more for the same spike.
            reasons.limits.warmup = Some(current - reasons.ready);
            return current;
        }
        if let Some(last) = state.last_scale_up().filter(|_| cooldown) {
            let since = elapsed(last, now);
            if since < c.scale_up_cooldown {
                reasons.limits.cooldown = Some(CooldownLimit {
                    direction: Direction::Up,
                    remaining: c.scale_up_cooldown - since,
                });
                return current;
            }
        }
        let mut target = raw;
        let start = state.count_at_period_start(c.scale_up_step.period, now);
        let cap = start.saturating_add(c.scale_up_step.allowed_change(start));
        if target > cap {
            target = cap;
            reasons.limits.step = Some(cap);
        }
        if target > c.max_instances {
            target = c.max_instances;
            reasons.limits.bound = Some(target);
        }
        target.max(current)
    }

    fn limit_scale_down(
        &self,
        state: &ScalingState,
        now: SystemTime,
        reasons: &mut Reasons,
    ) -> u32 {
        let c = &self.config;
        let current = state.current();
        let mut target = reasons.recommended;
        if let Some(highest) = state.highest_recommendation(c.scale_down_stabilization, now)
            && highest > target
        {
            target = highest;
            reasons.limits.stabilization = Some(highest);
        }
        if let Some(last) = state.last_event() {
            let since = elapsed(last, now);
            if since < c.scale_down_cooldown {
                reasons.limits.cooldown = Some(CooldownLimit {
                    direction: Direction::Down,
                    remaining: c.scale_down_cooldown - since,
                });
                return current;
            }
        }
        if target >= current {
            return current;
        }
        let start = state.count_at_period_start(c.scale_down_step.period, now);
        let floor = start.saturating_sub(c.scale_down_step.allowed_change(start));
        if target < floor {
            target = floor;
            reasons.limits.step = Some(floor);
        }
        if target < c.min_instances {
            target = c.min_instances;
            reasons.limits.bound = Some(target);
        }
        target.min(current)
    }
}

/// The metric above its up threshold that asks for the most instances, if any.
fn most_demanding(readings: &[Reading; 5]) -> Option<MetricKind> {
    readings
        .iter()
        .filter(|r| r.verdict == Verdict::Above)
        .max_by_key(|r| r.wants)
        .map(|r| r.metric)
}

fn decision(current: u32, target: u32, reasons: Reasons) -> Decision {
    Decision::new(current, target, reasons)
}

/// `ceil(base * value / threshold)`, saturating (an infinite value asks for `u32::MAX`).
fn proportional(base: u32, value: f64, threshold: f64) -> u32 {
    // `as` saturates and maps NaN to 0, which is what we want for an unbounded demand.
    (f64::from(base) * value / threshold).ceil() as u32
}

/// Time since `earlier`; zero if the clock went backwards. [`ScalingState::record`] brings
/// such future stamps back to its `now`, so a cooldown lasts at most its length in real time.
fn elapsed(earlier: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(earlier).unwrap_or(Duration::ZERO)
}
