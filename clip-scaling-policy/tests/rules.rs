//! Table-driven tests of every rule, with the guide's numbers, at and around each threshold
//! and each cooldown edge.

mod common;

use std::time::Duration;

use clip_scaling_policy::{
    Action, Direction, MetricKind, Metrics, Rule, ScalingConfig, ScalingPolicy, ScalingState,
    Verdict,
};
use common::{at, idle, mid, quiet};

fn policy() -> ScalingPolicy {
    ScalingPolicy::new(ScalingConfig::default()).expect("defaults are valid")
}

fn with(f: impl FnOnce(&mut Metrics)) -> Metrics {
    let mut m = mid();
    f(&mut m);
    m
}

#[test]
fn scale_up_fires_strictly_above_each_threshold() {
    let ms = Duration::from_millis;
    let cases: Vec<(&str, Metrics, Action)> = vec![
        (
            "cpu at 70",
            with(|m| m.cpu_percent = Some(70.0)),
            Action::Hold,
        ),
        (
            "cpu 70.01",
            with(|m| m.cpu_percent = Some(70.01)),
            Action::ScaleUp,
        ),
        (
            "memory at 80",
            with(|m| m.memory_percent = Some(80.0)),
            Action::Hold,
        ),
        (
            "memory 80.01",
            with(|m| m.memory_percent = Some(80.01)),
            Action::ScaleUp,
        ),
        (
            "rate at 100",
            with(|m| m.request_rate = Some(100.0)),
            Action::Hold,
        ),
        (
            "rate 100.01",
            with(|m| m.request_rate = Some(100.01)),
            Action::ScaleUp,
        ),
        (
            "queue at 50",
            with(|m| m.queue_length = Some(50.0)),
            Action::Hold,
        ),
        (
            "queue 51",
            with(|m| m.queue_length = Some(51.0)),
            Action::ScaleUp,
        ),
        (
            "p95 at 2 s",
            with(|m| m.p95_response_time = Some(ms(2000))),
            Action::Hold,
        ),
        (
            "p95 2.001 s",
            with(|m| m.p95_response_time = Some(ms(2001))),
            Action::ScaleUp,
        ),
    ];
    let state = ScalingState::new(3);
    for (name, m, expected) in cases {
        let d = policy().decide(&m, &state, at(0.0));
        assert_eq!(d.action, expected, "{name}: {d}");
        if expected == Action::ScaleUp {
            assert_eq!(d.target, 4, "{name}: just above a threshold adds one: {d}");
            assert!(matches!(d.reasons.rule, Rule::ScaleUp { .. }), "{name}");
        } else {
            assert_eq!((d.target, d.reasons.rule), (3, Rule::WithinBand), "{name}");
        }
    }
}

#[test]
fn any_single_metric_above_scales_up_even_with_the_others_missing() {
    let m = Metrics {
        queue_length: Some(120.0),
        ..Metrics::default()
    };
    let d = policy().decide(&m, &ScalingState::new(3), at(0.0));
    assert_eq!(d.action, Action::ScaleUp, "{d}");
    assert_eq!(
        d.reasons.rule,
        Rule::ScaleUp {
            metric: MetricKind::QueueLength
        }
    );
    // It asks for ceil(3 * 120 / 50) = 8; the step policy allows 3 + max(100 %, 4) = 7.
    assert_eq!(d.target, 7, "{d}");
    assert_eq!(d.reasons.limits.step, Some(7));
    assert_eq!(d.reading(MetricKind::QueueLength).wants, Some(8));
}

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
fn the_most_demanding_metric_sets_the_target() {
    let m = with(|m| {
        m.cpu_percent = Some(80.0); // wants ceil(6 * 80 / 70) = 7
        m.request_rate = Some(150.0); // wants ceil(6 * 150 / 100) = 9
    });
    let d = policy().decide(&m, &ScalingState::new(6), at(0.0));
    assert_eq!(
        d.reasons.rule,
        Rule::ScaleUp {
            metric: MetricKind::RequestRate
        }
    );
    assert_eq!(d.target, 9, "{d}");
    let msg = d.message();
    assert!(msg.contains("cpu 80.0% > 70.0% (wants 7)"), "{msg}");
    assert!(
        msg.contains("request_rate 150.0 req/s > 100.0 req/s (wants 9)"),
        "{msg}"
    );
}

#[test]
fn scale_down_needs_every_metric_below_its_threshold() {
    let d = policy().decide(&quiet(), &ScalingState::new(10), at(0.0));
    assert_eq!(d.action, Action::ScaleDown, "{d}");
    assert_eq!(d.reasons.rule, Rule::ScaleDown);
    // cpu and memory ask for ceil(10 * 34.9 / 52.5) = 7 and ceil(10 * 39.9 / 60) = 7.
    assert_eq!(d.target, 7, "{d}");

    let ms = Duration::from_millis;
    let at_threshold: Vec<(&str, Metrics)> = vec![
        (
            "cpu 35",
            Metrics {
                cpu_percent: Some(35.0),
                ..quiet()
            },
        ),
        (
            "memory 40",
            Metrics {
                memory_percent: Some(40.0),
                ..quiet()
            },
        ),
        (
            "rate 30",
            Metrics {
                request_rate: Some(30.0),
                ..quiet()
            },
        ),
        (
            "queue 10",
            Metrics {
                queue_length: Some(10.0),
                ..quiet()
            },
        ),
        (
            "p95 500 ms",
            Metrics {
                p95_response_time: Some(ms(500)),
                ..quiet()
            },
        ),
    ];
    for (name, m) in at_threshold {
        let d = policy().decide(&m, &ScalingState::new(10), at(0.0));
        assert_eq!(
            (d.action, d.reasons.rule),
            (Action::Hold, Rule::WithinBand),
            "{name}: {d}"
        );
    }
}

#[test]
fn missing_invalid_or_stale_metrics_never_scale_down() {
    let p = policy();
    let state = ScalingState::new(10);
    let cases: Vec<(&str, Metrics, Rule)> = vec![
        (
            "queue missing",
            Metrics {
                queue_length: None,
                ..idle()
            },
            Rule::MissingMetric {
                metric: MetricKind::QueueLength,
            },
        ),
        (
            "cpu NaN",
            Metrics {
                cpu_percent: Some(f64::NAN),
                ..idle()
            },
            Rule::MissingMetric {
                metric: MetricKind::CpuPercent,
            },
        ),
        (
            "memory negative",
            Metrics {
                memory_percent: Some(-1.0),
                ..idle()
            },
            Rule::MissingMetric {
                metric: MetricKind::MemoryPercent,
            },
        ),
        (
            "rate -inf",
            Metrics {
                request_rate: Some(f64::NEG_INFINITY),
                ..idle()
            },
            Rule::MissingMetric {
                metric: MetricKind::RequestRate,
            },
        ),
        (
            "nothing at all",
            Metrics::default(),
            Rule::MissingMetric {
                metric: MetricKind::CpuPercent,
            },
        ),
    ];
    for (name, m, rule) in cases {
        let d = p.decide(&m, &state, at(0.0));
        assert_eq!(
            (d.action, d.target, d.reasons.rule),
            (Action::Hold, 10, rule),
            "{name}: {d}"
        );
        assert!(d.message().contains("missing or invalid"), "{name}: {d}");
    }
    let nan = p.decide(
        &Metrics {
            cpu_percent: Some(f64::NAN),
            ..idle()
        },
        &state,
        at(0.0),
    );
    assert_eq!(
        nan.reading(MetricKind::CpuPercent).verdict,
        Verdict::Invalid
    );

    // A sample older than METRICS_MAX_AGE (60 s) cannot shrink the fleet ...
    let d = p.decide_observed(&idle(), at(0.0), &state, at(60.001));
    assert_eq!(
        (d.action, d.reasons.rule),
        (Action::Hold, Rule::StaleMetrics),
        "{d}"
    );
    assert!(d.reasons.stale);
    // ... at exactly 60 s it is still fresh ...
    let d = p.decide_observed(&idle(), at(0.0), &state, at(60.0));
    assert_eq!(d.action, Action::ScaleDown, "{d}");
    // ... and a stale high value may still add capacity.
    let hot = Metrics {
        cpu_percent: Some(90.0),
        ..idle()
    };
    let d = p.decide_observed(&hot, at(0.0), &state, at(600.0));
    assert_eq!(d.action, Action::ScaleUp, "{d}");
    assert!(d.message().contains("stale"), "{d}");
}

#[test]
fn scale_up_cooldown_is_60_seconds_since_the_last_scale_up() {
    let p = policy();
    let hot = with(|m| m.cpu_percent = Some(90.0));
    let mut state = ScalingState::new(3);
    let d = p.decide(&hot, &state, at(0.0));
    state.record(&d, at(0.0));
    assert_eq!(state.current(), 4);
    state.set_ready(Some(4));
    for (secs, expected) in [
        (1.0, Action::Hold),
        (59.999, Action::Hold),
        (60.0, Action::ScaleUp),
        (61.0, Action::ScaleUp),
    ] {
        let d = p.decide(&hot, &state, at(secs));
        assert_eq!(d.action, expected, "at +{secs} s: {d}");
        if expected == Action::Hold {
            let c = d.reasons.limits.cooldown.expect("cooldown named");
            assert_eq!(c.direction, Direction::Up);
            assert_eq!(
                c.remaining,
                Duration::from_secs(60) - Duration::from_secs_f64(secs)
            );
            assert!(d.message().contains("scale-up cooldown"), "{d}");
        }
    }
}

#[test]
fn scale_down_cooldown_is_300_seconds_since_any_scaling_event() {
    let p = policy();
    for first in [with(|m| m.cpu_percent = Some(90.0)), idle()] {
        let mut state = ScalingState::new(10);
        let d = p.decide(&first, &state, at(0.0));
        assert_ne!(d.action, Action::Hold, "{d}");
        state.record(&d, at(0.0));
        state.set_ready(None);
        for (secs, expected) in [(299.999, Action::Hold), (300.0, Action::ScaleDown)] {
            let d = p.decide(&idle(), &state, at(secs));
            assert_eq!(d.action, expected, "after {:?}, at +{secs} s: {d}", first);
            if expected == Action::Hold {
                let c = d.reasons.limits.cooldown.expect("cooldown named");
                assert_eq!(c.direction, Direction::Down, "{d}");
            }
        }
    }
}

#[test]
fn a_scale_up_is_never_blocked_by_the_scale_down_cooldown() {
    let p = policy();
    let mut state = ScalingState::new(10);
    let d = p.decide(&idle(), &state, at(0.0));
    assert_eq!(d.action, Action::ScaleDown);
    state.record(&d, at(0.0));
    let d = p.decide(&with(|m| m.cpu_percent = Some(90.0)), &state, at(1.0));
    assert_eq!(d.action, Action::ScaleUp, "{d}");
}

#[test]
fn bounds_are_3_to_20_and_a_count_outside_is_brought_back_first() {
    let p = policy();
    let hot = with(|m| m.cpu_percent = Some(500.0));
    let cases = [
        // (current, metrics, expected action, target)
        (1, mid(), Action::ScaleUp, 3),
        (0, idle(), Action::ScaleUp, 3),
        (25, hot, Action::ScaleDown, 20),
        (18, hot, Action::ScaleUp, 20),
        (20, hot, Action::Hold, 20),
        (4, idle(), Action::ScaleDown, 3),
        (3, idle(), Action::Hold, 3),
    ];
    for (current, m, action, target) in cases {
        let d = p.decide(&m, &ScalingState::new(current), at(0.0));
        assert_eq!(
            (d.action, d.target),
            (action, target),
            "from {current}: {d}"
        );
    }
    // Out of bounds is corrected even inside a cooldown.
    let mut state = ScalingState::new(5);
    let d = p.decide(&hot, &state, at(0.0));
    state.record(&d, at(0.0));
    state.set_current(1);
    let d = p.decide(&mid(), &state, at(1.0));
    assert_eq!(
        (d.action, d.target, d.reasons.rule),
        (Action::ScaleUp, 3, Rule::OutOfBounds),
        "{d}"
    );
    assert_eq!(
        p.decide(&hot, &ScalingState::new(20), at(0.0))
            .reasons
            .limits
            .bound,
        Some(20)
    );
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
    assert!(d.message().contains("warming up"), "{d}");
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
    assert_eq!(p.decide(&hot, &state, at(61.0)).action, Action::Hold);
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

#[test]
fn disabled_always_holds_and_says_so() {
    let c = ScalingConfig {
        enabled: false,
        ..ScalingConfig::default()
    };
    let p = ScalingPolicy::new(c).expect("valid");
    for (current, m) in [
        (3, with(|m| m.cpu_percent = Some(99.0))),
        (10, idle()),
        (1, mid()),
    ] {
        let d = p.decide(&m, &ScalingState::new(current), at(0.0));
        assert_eq!(
            (d.action, d.target, d.reasons.rule),
            (Action::Hold, current, Rule::Disabled)
        );
        assert!(d.message().contains("AUTO_SCALING_ENABLED=false"), "{d}");
    }
}

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
fn a_clock_that_goes_back_before_the_last_event_holds_every_cooldown_in_full() {
    let p = policy();
    let hot = with(|m| m.cpu_percent = Some(90.0));
    // (first decision's metrics, later metrics, expected cooldown direction)
    let cases = [(hot, hot, Direction::Up), (idle(), idle(), Direction::Down)];
    for (first, later, direction) in cases {
        let mut state = ScalingState::new(10);
        let d = p.decide(&first, &state, at(1_000.0));
        assert_ne!(d.action, Action::Hold, "{d}");
        state.record(&d, at(1_000.0));
        state.set_ready(Some(state.current()));
        // The wall clock steps back (NTP, a restored VM): now is before the last event.
        for secs in [999.0, 0.0] {
            let d = p.decide(&later, &state, at(secs));
            assert_eq!(d.action, Action::Hold, "at {secs} s: {d}");
            let c = d.reasons.limits.cooldown.expect("a cooldown holds");
            let full = match direction {
                Direction::Up => Duration::from_secs(60),
                Direction::Down => Duration::from_secs(300),
            };
            assert_eq!((c.direction, c.remaining), (direction, full), "{d}");
        }
        // Recording at the earlier time neither panics nor loses the history.
        let d = p.decide(&mid(), &state, at(0.0));
        state.record(&d, at(0.0));
        assert_eq!(state.events().count(), 1);
    }
    // A sample stamped after `now` (clocks out of step) is not stale.
    let d = p.decide_observed(&idle(), at(100.0), &ScalingState::new(10), at(0.0));
    assert_eq!(
        (d.action, d.reasons.stale),
        (Action::ScaleDown, false),
        "{d}"
    );
}
