//! Tests of what the policy adds to the guide, at and around each edge: proportional steps and
//! step policies, stabilization, bounded flapping, warm-up and the manual override.

mod common;

use std::time::Duration;

use clip_scaling_policy::{Action, Rule, ScalingConfig, ScalingPolicy, ScalingState};
use common::{at, idle, mid, policy, with};

#[test]
fn a_spike_is_answered_in_one_decision() {
    let m = with(|m| m.cpu_percent = Some(140.0));
    let d = policy().decide(&m, &ScalingState::new(3), at(0.0));
    assert_eq!(
        (d.action, d.target),
        (Action::ScaleUp, 6),
        "ceil(3 * 140 / 70): {d}"
    );
    let m = with(|m| m.cpu_percent = Some(95.0));
    let d = policy().decide(&m, &ScalingState::new(10), at(0.0));
    assert_eq!(d.target, 14, "ceil(10 * 95 / 70): {d}");
}

#[test]
fn step_policies_bound_each_period() {
    let p = policy();
    let huge = with(|m| m.queue_length = Some(10_000.0));
    // Up: the larger of +100 % and +4 instances per period.
    for (current, target) in [(3, 7), (4, 8), (5, 10), (8, 16), (10, 20)] {
        let d = p.decide(&huge, &ScalingState::new(current), at(0.0));
        assert_eq!(d.target, target, "from {current}: {d}");
    }
    // Down: the larger of -50 % and -1 instance per period.
    for (current, target) in [(20, 10), (9, 5), (4, 3)] {
        let d = p.decide(&idle(), &ScalingState::new(current), at(0.0));
        assert_eq!(d.target, target, "from {current}: {d}");
    }
    // The period is measured from the count at its start: with cooldowns off, a second step
    // within 15 s may only use what is left of the first one's allowance.
    let c = ScalingConfig {
        scale_up_cooldown: Duration::ZERO,
        warmup: Duration::ZERO,
        ..ScalingConfig::default()
    };
    let p = ScalingPolicy::new(c).expect("valid");
    let mut state = ScalingState::new(3);
    let first = p.decide(&with(|m| m.cpu_percent = Some(110.0)), &state, at(0.0));
    assert_eq!(first.target, 5, "{first}");
    state.record(&first, at(0.0));
    let second = p.decide(&huge, &state, at(10.0));
    assert_eq!(
        (second.target, second.reasons.limits.step),
        (7, Some(7)),
        "{second}"
    );
    let edge = p.decide(&huge, &state, at(14.999));
    assert_eq!(edge.target, 7, "still the first period: {edge}");
    let later = p.decide(&huge, &state, at(15.0));
    assert_eq!(later.target, 10, "a new period starts from 5: {later}");
}

#[test]
fn stabilization_keeps_the_highest_recommendation_of_the_window() {
    let p = policy();
    let mut state = ScalingState::new(10);
    // Busy samples every 15 s recommend staying at 10.
    for i in 0..20 {
        let now = at(f64::from(i) * 15.0);
        let d = p.decide(&mid(), &state, now);
        state.record(&d, now);
    }
    // One quiet sample right after cannot shrink the fleet.
    let d = p.decide(&idle(), &state, at(300.0));
    assert_eq!(d.action, Action::Hold, "{d}");
    assert_eq!(d.reasons.limits.stabilization, Some(10), "{d}");
    assert!(d.message().contains("stabilization"), "{d}");
    // 300 s after the last busy sample (at 285 s) the window holds only quiet ones: now it may.
    let mut last = d;
    for i in 20..=39 {
        let now = at(f64::from(i) * 15.0);
        last = p.decide(&idle(), &state, now);
        if last.action != Action::Hold {
            assert_eq!(i, 39, "the scale-down waits for the window: {last}");
            break;
        }
        state.record(&last, now);
    }
    assert_eq!((last.action, last.target), (Action::ScaleDown, 5), "{last}");
}

#[test]
fn flapping_is_bounded_up_then_down_waits_a_full_cooldown() {
    let p = policy();
    let mut state = ScalingState::new(6);
    let up = p.decide(&with(|m| m.cpu_percent = Some(90.0)), &state, at(0.0));
    state.record(&up, at(0.0));
    // Load vanishes at once: no scale-down before 300 s, whatever the samples say.
    for i in 1..20 {
        let now = at(f64::from(i) * 15.0);
        let d = p.decide(&idle(), &state, now);
        assert_eq!(d.action, Action::Hold, "at +{} s: {d}", i * 15);
        state.record(&d, now);
    }
    let d = p.decide(&idle(), &state, at(300.0));
    assert_eq!(d.action, Action::ScaleDown, "{d}");
}

#[test]
fn instances_warming_up_do_not_count_for_a_further_scale_up_of_the_same_spike() {
    let p = policy();
    let hot = with(|m| m.cpu_percent = Some(90.0));
    let mut state = ScalingState::new(3);
    let d = p.decide(&with(|m| m.cpu_percent = Some(140.0)), &state, at(0.0));
    state.record(&d, at(0.0));
    assert_eq!(state.current(), 6);
    // The orchestrator says only the 3 old instances serve: their 90 % asks for ceil(3*90/70)=4,
    // which the 3 starting instances already cover.
    state.set_ready(Some(3));
    let d = p.decide(&hot, &state, at(61.0));
    assert_eq!(
        (d.action, d.reasons.limits.warmup, d.reasons.ready),
        (Action::Hold, Some(3), 3),
        "{d}"
    );
    assert!(d.message().contains("not ready"), "{d}");
    // Once they serve and the load is still high, scale again: ceil(6 * 90 / 70) = 8.
    state.set_ready(Some(6));
    let d = p.decide(&hot, &state, at(61.0));
    assert_eq!((d.action, d.target), (Action::ScaleUp, 8), "{d}");

    // Without reports, readiness is inferred from INSTANCE_WARMUP.
    let c = ScalingConfig {
        warmup: Duration::from_secs(120),
        ..ScalingConfig::default()
    };
    let p = ScalingPolicy::new(c).expect("valid");
    let mut state = ScalingState::new(3);
    let d = p.decide(&with(|m| m.cpu_percent = Some(140.0)), &state, at(0.0));
    state.record(&d, at(0.0));
    let d = p.decide(&hot, &state, at(61.0));
    assert_eq!(d.action, Action::Hold);
    assert!(d.message().contains("still warming up"), "{d}");
    assert_eq!(p.decide(&hot, &state, at(119.999)).action, Action::Hold);
    assert_eq!(p.decide(&hot, &state, at(120.0)).target, 8);
}

#[test]
fn a_manual_override_dominates_until_it_expires() {
    let c = ScalingConfig {
        enabled: false,
        ..ScalingConfig::default()
    };
    for p in [policy(), ScalingPolicy::new(c).expect("valid")] {
        let mut state = ScalingState::new(5);
        state.set_override(12, "launch day", at(600.0));
        for (m, secs) in [
            (idle(), 0.0),
            (with(|m| m.cpu_percent = Some(300.0)), 599.0),
        ] {
            let d = p.decide(&m, &state, at(secs));
            assert_eq!(
                (d.action, d.target, d.reasons.rule),
                (Action::ScaleUp, 12, Rule::Override),
                "{d}"
            );
            assert!(
                d.message().contains("manual override to 12 (launch day)"),
                "{d}"
            );
        }
        let d = p.decide(&idle(), &state, at(0.0));
        state.record(&d, at(0.0));
        let d = p.decide(&idle(), &state, at(600.0));
        assert_ne!(d.reasons.rule, Rule::Override, "expired: {d}");
        // An override may leave the bounds on purpose.
        state.set_override(40, "incident 123", at(1200.0));
        assert_eq!(p.decide(&idle(), &state, at(700.0)).target, 40);
        // The reason is operator text: a line break in it does not break the one-line message.
        state.set_override(6, "incident 123\nsee runbook", at(1200.0));
        let d = p.decide(&idle(), &state, at(700.0));
        assert_eq!(d.message().lines().count(), 1, "{d}");
        assert!(d.message().contains("(incident 123 see runbook)"), "{d}");
        state.clear_override();
        assert_ne!(
            p.decide(&idle(), &state, at(700.0)).reasons.rule,
            Rule::Override
        );
    }
}

/// Review L9: the step policy and the warm-up are counted from their own bookkeeping, not from
/// the display history, so a small `with_event_capacity` does not loosen them.
#[test]
fn a_small_event_history_does_not_loosen_the_step_cap_or_the_warm_up() {
    let c = ScalingConfig {
        scale_up_cooldown: Duration::ZERO,
        warmup: Duration::ZERO,
        ..ScalingConfig::default()
    };
    let p = ScalingPolicy::new(c).expect("valid");
    let huge = with(|m| m.queue_length = Some(10_000.0));
    let mut state = ScalingState::with_event_capacity(3, 1);
    let first = p.decide(&with(|m| m.cpu_percent = Some(110.0)), &state, at(0.0));
    state.record(&first, at(0.0));
    let second = p.decide(&huge, &state, at(5.0));
    state.record(&second, at(5.0));
    assert_eq!((first.target, second.target), (5, 7));
    // Still the period that started at 3 instances: nothing more until 15 s.
    let third = p.decide(&huge, &state, at(10.0));
    assert_eq!((third.action, third.target), (Action::Hold, 7), "{third}");
    assert_eq!(
        state.events().count(),
        1,
        "the display history keeps one event"
    );

    // Warm-up: two scale-ups within INSTANCE_WARMUP both count as not ready.
    let c = ScalingConfig {
        scale_up_cooldown: Duration::ZERO,
        warmup: Duration::from_secs(120),
        ..ScalingConfig::default()
    };
    let p = ScalingPolicy::new(c).expect("valid");
    let mut state = ScalingState::with_event_capacity(3, 1);
    for t in [0.0, 20.0] {
        let d = p.decide(&with(|m| m.cpu_percent = Some(300.0)), &state, at(t));
        state.record(&d, at(t));
    }
    assert_eq!(state.current(), 13, "3 -> 7 -> 13");
    let d = p.decide(&mid(), &state, at(30.0));
    assert_eq!(d.reasons.ready, 3, "10 instances still warming: {d}");
}

/// Review L11: with readiness reported, instances that are not ready may be failing, not
/// starting: the message says "not ready", and keeps "warming up" for inferred readiness.
#[test]
fn a_reported_not_ready_instance_is_not_called_warming_up() {
    let p = policy();
    let hot = with(|m| m.cpu_percent = Some(90.0));
    let mut state = ScalingState::new(6);
    state.set_ready(Some(3));
    let d = p.decide(&hot, &state, at(0.0));
    assert_eq!(
        (d.action, d.reasons.limits.warmup),
        (Action::Hold, Some(3)),
        "{d}"
    );
    assert!(
        d.message()
            .contains("3 instances not ready (starting, or failing their readiness check)"),
        "{d}"
    );
    assert!(!d.message().contains("warming up"), "{d}");
}

/// Review L8: the step policy's 15 s period is shorter than the 60 s up cooldown, so under
/// sustained overload the fleet doubles per minute, not per 15 s as HPA's would. This pins the
/// interaction the README documents.
#[test]
fn the_up_cooldown_not_the_step_period_sets_the_pace_of_a_long_climb() {
    let p = policy();
    let hot = with(|m| m.cpu_percent = Some(1_000.0));
    let mut state = ScalingState::new(3);
    let mut counts = Vec::new();
    for i in 0..6u32 {
        let now = at(15.0 * f64::from(i));
        state.set_ready(Some(state.current()));
        let d = p.decide(&hot, &state, now);
        state.record(&d, now);
        counts.push(state.current());
    }
    assert_eq!(counts, vec![7, 7, 7, 7, 14, 14]);
}
