//! With the `serde` feature, config, metrics, decisions and state survive a JSON round trip,
//! so a service can serve them and persist its state across restarts.
#![cfg(feature = "serde")]

mod common;

use clip_scaling_policy::{Action, Decision, Metrics, ScalingConfig, ScalingPolicy, ScalingState};
use common::{at, idle, quiet};

#[test]
fn config_metrics_decision_and_state_round_trip_through_json() {
    let config = ScalingConfig::default();
    let json = serde_json::to_string(&config).expect("serialize config");
    assert_eq!(
        serde_json::from_str::<ScalingConfig>(&json).expect("config back"),
        config
    );

    let m = Metrics {
        cpu_percent: Some(91.5),
        ..quiet()
    };
    let json = serde_json::to_string(&m).expect("serialize metrics");
    assert_eq!(
        serde_json::from_str::<Metrics>(&json).expect("metrics back"),
        m
    );
    let partial: Metrics = serde_json::from_str(r#"{"cpu_percent":12.5,"memory_percent":null,"request_rate":null,"queue_length":null,"p95_response_time":null}"#)
        .expect("nulls are missing metrics");
    assert_eq!(
        partial,
        Metrics {
            cpu_percent: Some(12.5),
            ..Metrics::default()
        }
    );

    let policy = ScalingPolicy::new(config).expect("valid");
    let mut state = ScalingState::new(3);
    let d = policy.decide(&m, &state, at(0.0));
    let json = serde_json::to_value(&d).expect("serialize decision");
    assert_eq!(json["action"], "ScaleUp");
    assert_eq!(json["target"], 4);
    assert_eq!(json["reasons"]["readings"][0]["metric"], "cpu_percent");
    assert_eq!(json["reasons"]["readings"][0]["verdict"], "Above");
    assert_eq!(
        serde_json::from_value::<Decision>(json).expect("decision back"),
        d
    );

    state.record(&d, at(0.0));
    state.set_override(9, "launch", at(900.0));
    let json = serde_json::to_string(&state).expect("serialize state");
    let restored: ScalingState = serde_json::from_str(&json).expect("state back");
    assert_eq!(restored, state);
    // A restarted service decides exactly as the old one would: cooldowns and override carry over.
    state.clear_override();
    let mut restored_no_override = restored.clone();
    restored_no_override.clear_override();
    let hot = Metrics {
        cpu_percent: Some(95.0),
        ..idle()
    };
    for (s, name) in [(&state, "original"), (&restored_no_override, "restored")] {
        let d = policy.decide(&hot, s, at(30.0));
        assert_eq!(
            d.action,
            Action::Hold,
            "{name}: still in the up cooldown: {d}"
        );
    }
    assert_eq!(policy.decide(&idle(), &restored, at(30.0)).target, 9);
}

#[test]
fn a_tampered_persisted_state_cannot_make_decide_panic() {
    let policy = ScalingPolicy::new(ScalingConfig::default()).expect("valid");
    let mut state = ScalingState::new(5);
    let d = policy.decide(
        &Metrics {
            cpu_percent: Some(99.0),
            ..idle()
        },
        &state,
        at(0.0),
    );
    state.record(&d, at(0.0));
    let mut json = serde_json::to_value(&state).expect("serialize");
    // An edited file: a "scale-up" event that went down, a huge count, readiness above it.
    json["events"][0]["from"] = 4_000_000_000u32.into();
    json["current"] = u32::MAX.into();
    json["ready"] = u32::MAX.into();
    let tampered: ScalingState = serde_json::from_value(json).expect("still well-typed");
    for secs in [1.0, 30.0, 400.0] {
        let d = policy.decide(&quiet(), &tampered, at(secs));
        assert_eq!(
            (d.action, d.target),
            (Action::ScaleDown, 20),
            "brought back into bounds: {d}"
        );
    }
}

#[test]
fn a_tracking_state_persisted_before_the_queue_rate_still_loads() {
    // States persisted before the queue's arrival rate have no `queue_at` in their buckets:
    // they load, and the queue term reads the bucket's start instead.
    let policy = common::tracking();
    let mut state = ScalingState::new(4);
    for (i, q) in [0.0, 150.0].into_iter().enumerate() {
        let m = Metrics {
            queue_length: Some(q),
            ..common::served(57.0)
        };
        let d = policy.decide(&m, &state, at(15.0 * i as f64));
        state.record(&d, at(15.0 * i as f64));
    }
    let mut json = serde_json::to_value(&state).expect("serialize");
    let buckets = json["history"]["buckets"]
        .as_array_mut()
        .expect("the tracking history's buckets");
    let removed = buckets
        .iter_mut()
        .filter_map(|b| b.as_object_mut()?.remove("queue_at"))
        .filter(|at| !at.is_null())
        .count();
    assert_eq!(
        removed, 2,
        "both samples recorded when their queue was seen"
    );
    let old: ScalingState = serde_json::from_value(json).expect("an older state loads");
    let m = Metrics {
        queue_length: Some(300.0),
        ..common::served(57.0)
    };
    let d = policy.decide(&m, &old, at(30.0));
    assert!(d.reasons.tracking.and_then(|t| t.queue).is_some(), "{d}");
}
