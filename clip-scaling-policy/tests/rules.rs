//! Table-driven tests of the guide's rules with its numbers, at and around each threshold and
//! each cooldown edge: scale up on ANY, down on ALL, missing metrics, cooldowns, bounds, disabled.

mod common;

use std::time::Duration;

use clip_scaling_policy::{
    Action, Direction, MetricKind, Metrics, Rule, ScalingConfig, ScalingPolicy, ScalingState,
    Verdict,
};
use common::{at, idle, mid, policy, quiet, with};

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

/// Review L10: the queue is a fleet total sized proportionally to the ready instances, as the
/// guide's other metrics (`ceil(ready * queue / threshold)`), not per replica as KEDA's
/// `AverageValue`: 20 ready with 60 jobs against a threshold of 50 wants 24, not 2. The README
/// says so; the tracking mode sizes the queue by drain rate instead.
#[test]
fn the_queue_threshold_is_a_fleet_total_sized_like_the_other_metrics() {
    let mut state = ScalingState::new(20);
    state.set_ready(Some(20));
    let c = ScalingConfig {
        max_instances: 100,
        ..ScalingConfig::default()
    };
    let p = ScalingPolicy::new(c).expect("valid");
    let d = p.decide(&with(|m| m.queue_length = Some(60.0)), &state, at(0.0));
    assert_eq!(d.reading(MetricKind::QueueLength).wants, Some(24), "{d}");
}
