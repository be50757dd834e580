//! Property tests: bounds, determinism, monotonicity, missing metrics, cooldowns, flapping,
//! and no panic on any f64, for the guide's rules; bounds, determinism, missing metrics and
//! seasonal pre-scaling for the tracking mode.

mod common;

use std::time::Duration;

use clip_scaling_policy::{
    Action, Metrics, ScalingConfig, ScalingMode, ScalingPolicy, ScalingState,
};
use common::{at, policy, served, tracking};
use proptest::prelude::*;

/// A plausible value: mostly in range, sometimes far above.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![4 => 0.0..150.0f64, 1 => 0.0..10_000.0f64]
}

fn present_metrics() -> impl Strategy<Value = Metrics> {
    (value(), value(), value(), value(), 0u64..10_000).prop_map(|(c, m, r, q, p)| Metrics {
        cpu_percent: Some(c),
        memory_percent: Some(m),
        request_rate: Some(r),
        queue_length: Some(q),
        p95_response_time: Some(Duration::from_millis(p)),
    })
}

/// Any f64 at all: NaN, infinities, negatives, subnormals.
fn wild() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        Just(None),
        Just(Some(f64::NAN)),
        Just(Some(f64::INFINITY)),
        Just(Some(f64::NEG_INFINITY)),
        any::<f64>().prop_map(Some),
        value().prop_map(Some),
    ]
}

fn wild_metrics() -> impl Strategy<Value = Metrics> {
    (
        wild(),
        wild(),
        wild(),
        wild(),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(|(c, m, r, q, p)| Metrics {
            cpu_percent: c,
            memory_percent: m,
            request_rate: r,
            queue_length: q,
            p95_response_time: p.map(Duration::from_nanos),
        })
}

/// A state with a history: `steps` decisions replayed and recorded, `dt` seconds apart.
/// Returns the state and the time of the last step.
fn replayed(current: u32, steps: &[(Metrics, u16)]) -> (ScalingState, f64) {
    replayed_with(&policy(), current, steps)
}

fn replayed_with(p: &ScalingPolicy, current: u32, steps: &[(Metrics, u16)]) -> (ScalingState, f64) {
    let mut state = ScalingState::new(current);
    let mut now = 0.0;
    for (m, dt) in steps {
        now += f64::from(*dt);
        let d = p.decide(m, &state, at(now));
        state.record(&d, at(now));
    }
    (state, now)
}

fn history() -> impl Strategy<Value = Vec<(Metrics, u16)>> {
    proptest::collection::vec((present_metrics(), 1u16..400), 0..25)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn target_is_always_within_bounds(current in 0u32..60, steps in history(), m in wild_metrics(), dt in 0u16..600) {
        let (state, t) = replayed(current, &steps);
        let d = policy().decide(&m, &state, at(t + f64::from(dt)));
        prop_assert!((3..=20).contains(&d.target), "{d}");
    }

    /// Cheap, and it can only fail through hidden state or randomness in `decide` (a clock
    /// read, interior mutability): the purity DESIGN.md promises.
    #[test]
    fn decide_is_deterministic(current in 3u32..=20, steps in history(), m in wild_metrics(), dt in 0u16..600) {
        let (state, t) = replayed(current, &steps);
        let now = at(t + f64::from(dt));
        let first = policy().decide(&m, &state, now);
        let again = policy().decide(&m, &state.clone(), now);
        // Compare through Debug: NaN readings are equal in representation, not under PartialEq.
        prop_assert_eq!(format!("{first:?}"), format!("{again:?}"));
    }

    #[test]
    fn more_load_never_gives_fewer_instances(
        current in 3u32..=20,
        steps in history(),
        low in present_metrics(),
        extra in (value(), value(), value(), value(), 0u64..5_000),
        dt in 0u16..600,
    ) {
        let (state, t) = replayed(current, &steps);
        let now = at(t + f64::from(dt));
        let high = Metrics {
            cpu_percent: low.cpu_percent.map(|v| v + extra.0),
            memory_percent: low.memory_percent.map(|v| v + extra.1),
            request_rate: low.request_rate.map(|v| v + extra.2),
            queue_length: low.queue_length.map(|v| v + extra.3),
            p95_response_time: low.p95_response_time.map(|v| v + Duration::from_millis(extra.4)),
        };
        let p = policy();
        let (a, b) = (p.decide(&low, &state, now), p.decide(&high, &state, now));
        prop_assert!(b.target >= a.target, "low: {a}\nhigh: {b}");
    }

    #[test]
    fn never_scales_down_with_a_missing_or_invalid_metric(
        current in 3u32..=20,
        steps in history(),
        m in present_metrics(),
        which in 0usize..5,
        bad in prop_oneof![Just(None), Just(Some(f64::NAN)), Just(Some(-1.0)), Just(Some(f64::NEG_INFINITY))],
        dt in 0u16..600,
    ) {
        let mut m = m;
        match which {
            0 => m.cpu_percent = bad,
            1 => m.memory_percent = bad,
            2 => m.request_rate = bad,
            3 => m.queue_length = bad,
            _ => m.p95_response_time = None,
        }
        let (state, t) = replayed(current, &steps);
        let d = policy().decide(&m, &state, at(t + f64::from(dt)));
        prop_assert_ne!(d.action, Action::ScaleDown, "{}", d);
    }

    #[test]
    fn never_scales_up_inside_the_up_cooldown(current in 3u32..=19, m in present_metrics(), since in 0.0..60.0f64) {
        let p = policy();
        let mut state = ScalingState::new(current);
        let hot = Metrics { cpu_percent: Some(1000.0), ..m };
        let first = p.decide(&hot, &state, at(0.0));
        prop_assert_eq!(first.action, Action::ScaleUp);
        state.record(&first, at(0.0));
        state.set_ready(Some(state.current()));
        let d = p.decide(&m, &state, at(since));
        prop_assert_ne!(d.action, Action::ScaleUp, "{}", d);
    }

    #[test]
    fn no_decision_panics_on_any_f64(current in 0u32..1000, steps in proptest::collection::vec((wild_metrics(), 0u16..400), 0..20), m in wild_metrics()) {
        let p = policy();
        let mut state = ScalingState::new(current);
        let mut now = 0.0;
        for (sample, dt) in steps.iter().chain(std::iter::once(&(m, 1))) {
            now += f64::from(*dt);
            let d = p.decide(sample, &state, at(now));
            let _ = d.to_string();
            state.record(&d, at(now));
        }
    }

    #[test]
    fn up_then_down_reversals_are_a_full_cooldown_apart(steps in proptest::collection::vec((present_metrics(), 1u16..120), 1..80)) {
        let p = policy();
        let mut state = ScalingState::new(3);
        let mut now = 0.0;
        for (m, dt) in &steps {
            now += f64::from(*dt);
            let d = p.decide(m, &state, at(now));
            state.record(&d, at(now));
            state.set_ready(None);
        }
        let events: Vec<_> = state.events().collect();
        for pair in events.windows(2) {
            if pair[1].action == Action::ScaleDown {
                let gap = pair[1].at.duration_since(pair[0].at).expect("ordered");
                prop_assert!(gap >= Duration::from_secs(300), "{:?} then {:?}", pair[0], pair[1]);
            }
        }
    }
}

/// Text shaped like a CSV trace or an env value, with the characters that break parsers.
fn csv_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9eE.,+\\-# \\na-z]{0,200}",
        proptest::collection::vec(("[0-9.eE+\\-]{0,12}", "[0-9.eE+\\-]{0,12}"), 0..20)
            .prop_map(|rows| rows.iter().map(|(a, b)| format!("{a},{b}\n")).collect()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_csv_text_makes_the_trace_reader_panic(text in csv_like()) {
        use clip_scaling_policy::sim::Trace;
        if let Ok(trace) = Trace::from_csv("fuzz", &text) {
            // What it accepts is what the simulator relies on.
            prop_assert!(!trace.points.is_empty());
            prop_assert!(trace.points.windows(2).all(|w| w[0].at_secs < w[1].at_secs));
            let sane = |v: f64| v.is_finite() && v >= 0.0;
            let all_sane = trace
                .points
                .iter()
                .all(|p| sane(p.at_secs) && sane(p.request_rate) && sane(p.queue_arrivals));
            prop_assert!(all_sane);
        }
    }

    #[test]
    fn no_environment_value_makes_from_env_panic(var in 0usize..35, value in csv_like()) {
        use clip_scaling_policy::ScalingConfig;
        const VARS: [&str; 35] = [
            "AUTO_SCALING_ENABLED", "MIN_INSTANCES", "MAX_INSTANCES", "CPU_THRESHOLD",
            "CPU_SCALE_DOWN_THRESHOLD", "MEMORY_THRESHOLD", "MEMORY_SCALE_DOWN_THRESHOLD",
            "REQUEST_RATE_THRESHOLD", "REQUEST_RATE_SCALE_DOWN_THRESHOLD", "QUEUE_LENGTH_THRESHOLD",
            "QUEUE_LENGTH_SCALE_DOWN_THRESHOLD", "RESPONSE_TIME_THRESHOLD_MS",
            "RESPONSE_TIME_SCALE_DOWN_THRESHOLD_MS", "SCALE_UP_COOLDOWN", "SCALE_DOWN_COOLDOWN",
            "SCALE_DOWN_STABILIZATION", "SCALE_UP_MAX_PERCENT", "SCALE_UP_MAX_INSTANCES",
            "SCALE_UP_PERIOD", "SCALE_DOWN_MAX_PERCENT", "SCALE_DOWN_MAX_INSTANCES",
            "SCALE_DOWN_PERIOD", "INSTANCE_WARMUP",
    "METRICS_MAX_AGE", "SCALING_IGNORE_METRICS", "SCALING_MODE", "TRACKING_CPU_TARGET",
            "TRACKING_REQUEST_RATE_TARGET", "TRACKING_SCALE_DOWN_TOLERANCE", "TRACKING_WINDOW",
            "TRACKING_LEAD_TIME", "TRACKING_JOBS_PER_INSTANCE", "TRACKING_JOB_WAIT_SLO",
            "TRACKING_LATENCY_GUARD", "TRACKING_SEASONAL",
        ];
        let name = VARS[var];
        match ScalingConfig::from_lookup(|n| (n == name).then(|| value.clone())) {
            // Whatever it accepts drives a policy.
            Ok(config) => prop_assert!(clip_scaling_policy::ScalingPolicy::new(config).is_ok()),
            // Whatever it refuses, it says which variable.
            Err(e) => prop_assert!(e.to_string().contains(name), "{}", e),
        }
    }
}

/// A history for the tracking mode: samples 1 to 60 s apart, so its 15 s buckets fill.
fn tracking_history() -> impl Strategy<Value = Vec<(Metrics, u16)>> {
    proptest::collection::vec((present_metrics(), 1u16..60), 0..40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn tracking_target_is_always_within_bounds(
        current in 0u32..60,
        steps in tracking_history(),
        m in wild_metrics(),
        dt in 0u16..600,
    ) {
        let p = tracking();
        let (state, t) = replayed_with(&p, current, &steps);
        let d = p.decide(&m, &state, at(t + f64::from(dt)));
        prop_assert!((3..=20).contains(&d.target), "{d}");
        let _ = d.to_string();
    }

    #[test]
    fn tracking_is_deterministic(
        current in 3u32..=20,
        steps in tracking_history(),
        m in wild_metrics(),
        observed_ago in 0u16..120,
        dt in 0u16..600,
    ) {
        let p = tracking();
        let (state, t) = replayed_with(&p, current, &steps);
        let now = t + f64::from(dt) + 120.0;
        let seen = at(now - f64::from(observed_ago));
        let first = p.decide_observed(&m, seen, &state, at(now));
        let again = tracking().decide_observed(&m, seen, &state.clone(), at(now));
        // Through Debug: NaN readings are equal in representation, not under PartialEq.
        prop_assert_eq!(format!("{first:?}"), format!("{again:?}"));
    }

    #[test]
    fn tracking_never_scales_down_with_a_missing_or_invalid_metric(
        current in 3u32..=20,
        steps in tracking_history(),
        m in present_metrics(),
        which in 0usize..5,
        bad in prop_oneof![Just(None), Just(Some(f64::NAN)), Just(Some(-1.0)), Just(Some(f64::NEG_INFINITY))],
        dt in 0u16..600,
    ) {
        let mut m = m;
        match which {
            0 => m.cpu_percent = bad,
            1 => m.memory_percent = bad,
            2 => m.request_rate = bad,
            3 => m.queue_length = bad,
            _ => m.p95_response_time = None,
        }
        let p = tracking();
        let (state, t) = replayed_with(&p, current, &steps);
        let d = p.decide(&m, &state, at(t + f64::from(dt)));
        prop_assert_ne!(d.action, Action::ScaleDown, "{}", d);
    }
}

/// `minutes` of a daily profile (`hourly` levels of load, in instances at the setpoint, with
/// `noise`), a decision a minute: the policy's state at the end.
fn days_of(p: &ScalingPolicy, hourly: &[f64], noise: &[f64], minutes: u32) -> ScalingState {
    let mut state = ScalingState::new(3);
    for minute in 0..minutes {
        let hour = (minute / 60 % 24) as usize;
        let level = hourly[hour] * (1.0 + noise[minute as usize % noise.len()]);
        state.set_ready(Some(state.current()));
        let m = served(level * 114.0 / f64::from(state.current()));
        let now = at(60.0 * f64::from(minute));
        let d = p.decide(&m, &state, now);
        state.record(&d, now);
    }
    state
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Seasonal pre-scaling only ever adds capacity: on any history, for any sample, the
    /// decision with it on targets at least what the decision with it off does.
    #[test]
    fn seasonal_prescaling_never_removes_capacity(
        hourly in proptest::collection::vec(1.0..20.0f64, 24),
        noise in proptest::collection::vec(-0.1..0.1f64, 7..13),
        hour in 1u32..24,
        before in 1u32..4,
        levels in proptest::collection::vec(0.5..25.0f64, 6),
    ) {
        let on = tracking();
        let off = ScalingPolicy::new(ScalingConfig {
            mode: ScalingMode::Tracking,
            tracking: clip_scaling_policy::TrackingConfig {
                seasonal: false,
                ..clip_scaling_policy::TrackingConfig::default()
            },
            ..ScalingConfig::default()
        })
        .expect("valid");
        // Up to a few minutes before an hour boundary of day 3, where a step of the profile
        // seen on both earlier days may be forecast.
        let minutes = 2 * 1_440 + hour * 60 - before;
        let state = days_of(&on, &hourly, &noise, minutes);
        let now = at(60.0 * f64::from(minutes));
        for level in levels {
            let m = served(level * 114.0 / f64::from(state.current()));
            let (a, b) = (on.decide(&m, &state, now), off.decide(&m, &state, now));
            prop_assert!(a.target >= b.target, "on: {a}\noff: {b}");
        }
    }
}

/// A load path for the tracking mode, a sample every 15 s: a start (instances of load at the
/// setpoint) and a factor per step, so that rises, surges and falls all occur; and the queue
/// at each step.
fn load_path() -> impl Strategy<Value = (f64, Vec<(f64, f64)>)> {
    (
        1.0..10.0f64,
        proptest::collection::vec(
            (
                0.8..1.6f64,
                prop_oneof![3 => Just(0.0), 1 => 0.0..3_000.0f64],
            ),
            5..40,
        ),
    )
}

/// Replays `path` with the tracking mode, readiness reported as the current count: the state
/// and each decision.
fn replayed_path(
    p: &ScalingPolicy,
    start: f64,
    path: &[(f64, f64)],
) -> (ScalingState, Vec<clip_scaling_policy::Decision>, f64) {
    let mut state = ScalingState::new(5);
    let mut load = start;
    let mut now = 0.0;
    let mut decisions = Vec::new();
    for (factor, queue) in path {
        load = (load * factor).min(40.0);
        state.set_ready(Some(state.current()));
        let m = Metrics {
            queue_length: Some(*queue),
            ..served(load * 114.0 / f64::from(state.current()))
        };
        let d = p.decide(&m, &state, at(now));
        state.record(&d, at(now));
        decisions.push(d);
        now += 15.0;
    }
    (state, decisions, now)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// The surge's extrapolation and the queue only ever add capacity: the estimate is at
    /// least the load as counted plus the surge, and neither is negative nor NaN.
    #[test]
    fn tracking_surge_and_queue_terms_only_add((start, path) in load_path()) {
        let (_, decisions, _) = replayed_path(&tracking(), start, &path);
        for d in &decisions {
            let t = d.reasons.tracking.expect("tracking reasons");
            prop_assert!(t.surge >= 0.0 && t.surge.is_finite(), "{}", d);
            if let Some(counted) = t.counted {
                prop_assert!(t.estimate >= counted + t.surge - 1e-9, "{}", d);
            }
            if let Some(q) = t.queue {
                prop_assert!(q >= 0.0 && q.is_finite(), "{}", d);
                prop_assert!(t.estimate >= q - 1e-9, "{}", d);
            }
        }
    }

    /// More jobs waiting never asks for fewer instances, whatever the history.
    #[test]
    fn tracking_more_jobs_waiting_never_asks_for_fewer(
        (start, path) in load_path(),
        queue in 0.0..3_000.0f64,
        extra in 0.0..3_000.0f64,
    ) {
        let p = tracking();
        let (state, _, now) = replayed_path(&p, start, &path);
        let m = |q: f64| Metrics {
            queue_length: Some(q),
            ..served(5.0 * 114.0 / f64::from(state.current().max(1)))
        };
        let (a, b) = (p.decide(&m(queue), &state, at(now)), p.decide(&m(queue + extra), &state, at(now)));
        prop_assert!(b.target >= a.target, "{a}\n{b}");
    }
}
