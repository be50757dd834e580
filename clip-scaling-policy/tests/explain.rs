//! Tests of what a decision tells a person: the one-line message (including the README's
//! examples, verbatim) and the bounded event history.

mod common;

use clip_scaling_policy::{Action, Metrics, ScalingConfig, ScalingPolicy, ScalingState};
use common::{at, idle, mid, policy, quiet, with};

#[test]
fn events_are_a_bounded_history() {
    let p = policy();
    let mut state = ScalingState::with_event_capacity(3, 3);
    let mut now = 0.0;
    for m in [with(|m| m.cpu_percent = Some(90.0)); 5] {
        state.set_ready(Some(state.current()));
        let d = p.decide(&m, &state, at(now));
        state.record(&d, at(now));
        now += 60.0;
    }
    let events: Vec<_> = state.events().collect();
    assert_eq!(events.len(), 3);
    let steps: Vec<_> = events.iter().map(|e| (e.from, e.to)).collect();
    // 3 -> 4 -> 6 -> 8 -> 11 -> 15: the oldest two are gone.
    assert_eq!(steps, vec![(6, 8), (8, 11), (11, 15)]);
    assert!(
        events
            .iter()
            .all(|e| e.action == Action::ScaleUp && e.at >= at(120.0))
    );
    // A hold is not an event.
    let d = p.decide(&mid(), &state, at(now));
    state.record(&d, at(now));
    assert_eq!(state.events().count(), 3);
}

#[test]
fn the_message_is_one_line_with_values_thresholds_and_limits() {
    let p = policy();
    let d = p.decide(
        &Metrics {
            queue_length: Some(120.0),
            ..Metrics::default()
        },
        &ScalingState::new(3),
        at(0.0),
    );
    assert_eq!(
        d.message(),
        "scale up 3 -> 7: queue_length 120.0 jobs > 50.0 jobs (wants 8); step policy: at most 7 this period; \
         missing or invalid (never a reason to scale down): cpu, memory, request_rate, p95"
    );
    let d = p.decide(&mid(), &ScalingState::new(5), at(0.0));
    assert!(!d.message().contains('\n'));
    assert!(
        d.message()
            .starts_with("hold at 5: no metric above its scale-up threshold"),
        "{d}"
    );
}

#[test]
fn the_messages_quoted_in_the_readme_are_real() {
    let p = policy();
    let mut state = ScalingState::new(3);
    let d = p.decide(&with(|m| m.cpu_percent = Some(90.0)), &state, at(0.0));
    state.record(&d, at(0.0));
    state.set_ready(Some(4));
    let d = p.decide(&with(|m| m.cpu_percent = Some(90.0)), &state, at(30.0));
    assert_eq!(
        d.message(),
        "hold at 4: cpu 90.0% > 70.0% (wants 6); scale-up cooldown: 30 s left"
    );

    let mut state = ScalingState::new(10);
    let d = p.decide(&mid(), &state, at(0.0));
    state.record(&d, at(0.0));
    let d = p.decide(&quiet(), &state, at(15.0));
    assert_eq!(
        d.message(),
        "hold at 10: every metric below its scale-down threshold (wants 7); stabilization: highest recent recommendation is 10"
    );
    let d = p.decide(
        &Metrics {
            queue_length: None,
            ..idle()
        },
        &ScalingState::new(10),
        at(0.0),
    );
    assert_eq!(
        d.message(),
        "hold at 10: no scale-down while queue_length is missing or invalid"
    );
    let d = ScalingPolicy::new(ScalingConfig {
        enabled: false,
        ..ScalingConfig::default()
    })
    .expect("valid")
    .decide(&mid(), &ScalingState::new(3), at(0.0));
    assert_eq!(
        d.message(),
        "hold at 3: auto-scaling disabled (AUTO_SCALING_ENABLED=false)"
    );
}

#[test]
fn tracking_messages_quoted_in_the_readme_are_real() {
    let p = common::tracking();
    let fleet = |n: u32| {
        let mut s = ScalingState::new(n);
        s.set_ready(Some(n));
        s
    };
    let d = p.decide(&common::served(228.0), &fleet(6), at(0.0));
    assert_eq!(
        d.message(),
        "scale up 6 -> 12: load (request_rate) needs 12.0 instances; \
         load 12.0 (measured over 6 ready); latency guard 9.0"
    );
    let m = Metrics {
        queue_length: Some(1_500.0),
        ..common::served(57.0)
    };
    assert_eq!(
        p.decide(&m, &fleet(4), at(0.0)).message(),
        "scale up 4 -> 19: queue needs 18.3 instances; load 2.0 (measured over 4 ready); queue 18.3"
    );
    assert_eq!(
        p.decide(&common::served(40.0), &fleet(10), at(0.0))
            .message(),
        "hold at 10: no scale-down before a full window of history (0 s of 300 s); \
         load (memory) needs 4.1 instances; load 4.1 (measured over 10 ready)"
    );
    let mut state = fleet(10);
    let mut now = 0.0;
    for _ in 0..25 {
        let d = p.decide(&common::served(91.2), &state, at(now));
        state.record(&d, at(now));
        now += 15.0;
    }
    assert_eq!(
        p.decide(&common::served(40.0), &state, at(now)).message(),
        "hold at 9: an estimate of the last 300 s needs 8.0 instances (now 3.7); \
         load 3.7 (measured over 9 ready); within the 10 % scale-down tolerance \
         (it scales down below 7.3)"
    );
    let bad = Metrics {
        request_rate: Some(912.0),
        ..common::served(91.2)
    };
    assert_eq!(
        p.decide(&bad, &state, at(now)).message(),
        "scale up 9 -> 10: load (request_rate) needs 10.0 instances; \
         load 72.0 (measured over 9 ready); a jump to 72.0 counts as 10.0 until the next \
         sample confirms it"
    );
}
