//! The policy's decision on the fleet's metrics, with the autoscaler's one rule on top: while a
//! ready instance gives no metrics, the fleet does not scale down.
//!
//! The averages of the instances that answered may still scale the fleet up (they are real
//! load), but they may understate it: the silent instance can be the busy one, and its traffic
//! lands on the others the moment it is gone. So a scale-down is decided again with every
//! averaged metric missing, and the policy itself explains the hold ("no scale-down while cpu
//! is missing"); the queue, read from any instance, stays.

use std::time::SystemTime;

use clip_scaling_policy::{Action, Decision, Metrics, ScalingPolicy, ScalingState};

use crate::aggregate::FleetMetrics;

/// The decision for `fleet`, and a note when the missing-instance rule changed it.
pub fn decide(
    policy: &ScalingPolicy,
    state: &ScalingState,
    fleet: &FleetMetrics,
    now: SystemTime,
) -> (Decision, Option<String>) {
    let decision = policy.decide(&fleet.metrics, state, now);
    if decision.action != Action::ScaleDown || fleet.missing.is_empty() {
        return (decision, None);
    }
    let averages_unknown = Metrics {
        queue_length: fleet.metrics.queue_length,
        ..Metrics::default()
    };
    let held = policy.decide(&averages_unknown, state, now);
    let note = format!(
        "no scale-down while {} of the ready instances give no metrics ({}): the policy alone would have {}",
        fleet.missing.len(),
        fleet.missing.join(", "),
        decision
    );
    (held, Some(note))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clip_scaling_policy::ScalingConfig;

    use super::*;

    #[test]
    fn a_silent_instance_blocks_a_scale_down_but_not_a_scale_up() {
        let policy = ScalingPolicy::new(ScalingConfig {
            scale_down_stabilization: Duration::ZERO,
            ..ScalingConfig::default()
        })
        .unwrap();
        let state = ScalingState::new(6);
        let quiet = Metrics {
            cpu_percent: Some(5.0),
            memory_percent: Some(10.0),
            request_rate: Some(1.0),
            queue_length: Some(0.0),
            p95_response_time: Some(Duration::from_millis(20)),
        };
        let mut fleet = FleetMetrics {
            metrics: quiet,
            ..FleetMetrics::default()
        };
        let now = SystemTime::now();
        assert_eq!(
            decide(&policy, &state, &fleet, now).0.action,
            Action::ScaleDown
        );

        fleet.missing = vec!["local-4003".into()];
        let (d, note) = decide(&policy, &state, &fleet, now);
        assert_eq!(d.action, Action::Hold);
        assert!(note.unwrap().contains("local-4003"));

        fleet.metrics.cpu_percent = Some(95.0);
        let (d, note) = decide(&policy, &state, &fleet, now);
        assert_eq!(d.action, Action::ScaleUp);
        assert!(note.is_none());
    }
}
