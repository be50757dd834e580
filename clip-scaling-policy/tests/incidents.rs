//! What the engine does when the world misbehaves: instances die below `MIN_INSTANCES` under
//! load, the wall clock steps backwards, no instance is ready while the queue grows, an operator
//! sets a scale-down threshold of 0. Each test is a finding of the code review
//! (`M3`, `M4`, `M5`, `M7`), kept as its regression test.

mod common;

use std::time::Duration;

use clip_scaling_policy::{Action, Metrics, Rule, ScalingConfig, ScalingPolicy, ScalingState};
use common::{at, idle, mid, policy, with};

/// M3: pods died and one is left, at 500 % CPU. The correction to `MIN_INSTANCES` must not
/// ignore the load, and a correction alone must not start the scale-up cooldown.
#[test]
fn below_min_under_load_scales_for_the_load_not_just_to_min() {
    let p = policy();
    let hot = with(|m| m.cpu_percent = Some(500.0));
    let d = p.decide(&hot, &ScalingState::new(1), at(0.0));
    // One ready instance at 500 % wants ceil(1 * 500 / 70) = 8; the step policy allows
    // 1 + max(100 %, 4) = 5 this period. Both are more than MIN_INSTANCES = 3.
    assert_eq!((d.action, d.target), (Action::ScaleUp, 5), "{d}");

    // A correction with no demand beyond MIN is only a correction: the load that follows is
    // answered at once, not a full cooldown later.
    let mut state = ScalingState::new(1);
    let d = p.decide(&mid(), &state, at(0.0));
    assert_eq!((d.target, d.reasons.rule), (3, Rule::OutOfBounds), "{d}");
    state.record(&d, at(0.0));
    state.set_ready(Some(3));
    let d = p.decide(&hot, &state, at(15.0));
    assert_eq!((d.action, d.target), (Action::ScaleUp, 7), "{d}");
    assert_eq!(d.reasons.limits.cooldown, None, "{d}");

    // Below MIN inside a scale-up cooldown (instances died right after a scale-up): the
    // correction sizes for the load, cooldowns aside.
    let mut state = ScalingState::new(10);
    let d = p.decide(&hot, &state, at(0.0));
    state.record(&d, at(0.0));
    state.set_current(2);
    state.set_ready(Some(2));
    let d = p.decide(&hot, &state, at(20.0));
    assert!(d.target > 3, "{d}");
    assert_eq!(d.reasons.limits.cooldown, None, "{d}");
}

/// M4: a wall clock that steps back (a restored VM, state persisted on a host with a bad
/// clock) must not block scale-ups for the length of the jump: at most one cooldown of real
/// time, as long as the caller records each decision.
#[test]
fn a_clock_stepping_back_delays_a_scale_up_by_at_most_one_cooldown() {
    let p = policy();
    let hot = with(|m| m.cpu_percent = Some(90.0));
    let mut state = ScalingState::new(3);
    let d = p.decide(&hot, &state, at(3_600.0));
    state.record(&d, at(3_600.0));
    assert_eq!(state.current(), 4);
    state.set_ready(Some(4));
    // The clock now reads an hour earlier; a decision every 15 s, each recorded.
    let mut first_up = None;
    for i in 0..40u32 {
        let now = at(15.0 * f64::from(i));
        let d = p.decide(&hot, &state, now);
        if let Some(c) = d.reasons.limits.cooldown {
            assert!(c.remaining <= Duration::from_secs(60), "{d}");
        }
        if d.action == Action::ScaleUp {
            first_up = Some(15 * i);
            break;
        }
        state.record(&d, now);
    }
    assert_eq!(first_up, Some(60), "blocked longer than the 60 s cooldown");

    // The same for scale-down: at most the 300 s cooldown (and the stabilization window).
    let mut state = ScalingState::new(10);
    let d = p.decide(&with(|m| m.cpu_percent = Some(99.0)), &state, at(3_600.0));
    state.record(&d, at(3_600.0));
    state.set_ready(None);
    let mut first_down = None;
    for i in 0..80u32 {
        let now = at(15.0 * f64::from(i));
        let d = p.decide(&idle(), &state, now);
        if d.action == Action::ScaleDown {
            first_down = Some(15 * i);
            break;
        }
        state.record(&d, now);
    }
    assert_eq!(
        first_down,
        Some(300),
        "blocked longer than the 300 s cooldown"
    );
}

/// M5: `QUEUE_LENGTH_SCALE_DOWN_THRESHOLD=0` ("only when the queue is empty") passed validation
/// but could never be met, so the fleet never shrank.
#[test]
fn a_zero_scale_down_threshold_allows_a_scale_down_at_zero_only() {
    let c = ScalingConfig::from_lookup(|name| {
        (name == "QUEUE_LENGTH_SCALE_DOWN_THRESHOLD").then(|| "0".to_string())
    })
    .expect("0 is a valid scale-down threshold");
    assert_eq!(c.queue_length.down, 0.0);
    let p = ScalingPolicy::new(c).expect("valid");
    let d = p.decide(&idle(), &ScalingState::new(10), at(0.0));
    assert_eq!(
        (d.action, d.reasons.rule),
        (Action::ScaleDown, Rule::ScaleDown),
        "{d}"
    );
    let one_job = Metrics {
        queue_length: Some(1.0),
        ..idle()
    };
    let d = p.decide(&one_job, &ScalingState::new(10), at(0.0));
    assert_eq!(
        (d.action, d.reasons.rule),
        (Action::Hold, Rule::WithinBand),
        "{d}"
    );
}

/// M7 (policy half): with no instance ready (a shared dependency is down and readiness fails
/// everywhere) a queue that grows because nobody drains it must not drive the fleet to the
/// maximum: per-ready averages describe no serving capacity, so the policy holds.
#[test]
fn no_ready_instance_holds_instead_of_scaling_on_a_queue_nobody_drains() {
    let p = policy();
    let mut state = ScalingState::new(5);
    let mut queue = 100.0;
    for i in 0..40u32 {
        state.set_ready(Some(0));
        let now = at(15.0 * f64::from(i));
        let m = Metrics {
            queue_length: Some(queue),
            cpu_percent: Some(f64::INFINITY),
            ..mid()
        };
        let d = p.decide(&m, &state, now);
        assert_eq!(
            (d.action, d.target, d.reasons.rule),
            (Action::Hold, 5, Rule::NoReadyInstances),
            "{d}"
        );
        assert!(d.message().contains("no ready instance"), "{d}");
        state.record(&d, now);
        queue *= 1.5;
    }
    // Bounds still apply: below MIN the fleet is brought back to MIN, not beyond.
    state.set_current(1);
    let d = p.decide(
        &Metrics {
            queue_length: Some(1e9),
            ..mid()
        },
        &state,
        at(700.0),
    );
    assert_eq!((d.action, d.target), (Action::ScaleUp, 3), "{d}");
    // Never a scale-down either, whatever the metrics say.
    let mut state = ScalingState::new(10);
    state.set_ready(Some(0));
    let d = p.decide(&idle(), &state, at(0.0));
    assert_eq!(d.action, Action::Hold, "{d}");
    // Readiness inferred from a recent scale-up (every instance still starting) holds too.
    let c = ScalingConfig {
        warmup: Duration::from_secs(120),
        ..ScalingConfig::default()
    };
    let p = ScalingPolicy::new(c).expect("valid");
    let mut state = ScalingState::new(0);
    let d = p.decide(&mid(), &state, at(0.0));
    state.record(&d, at(0.0));
    let d = p.decide(
        &Metrics {
            queue_length: Some(1e6),
            ..mid()
        },
        &state,
        at(15.0),
    );
    assert_eq!(
        (d.action, d.reasons.rule),
        (Action::Hold, Rule::NoReadyInstances),
        "{d}"
    );
}
