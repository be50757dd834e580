//! The tracking mode (`SCALING_MODE=tracking`), case by case with the default setpoint (76 %
//! CPU, 114 req/s per instance): sizing on the ready count a sample was measured over, up at
//! once, down below the tolerance with headroom, the bad-sample guard, the queue, the latency
//! guard, seasonal pre-scaling, the bounds, and what each decision says.

mod common;

use std::time::Duration;

use clip_scaling_policy::{
    Action, Driver, MetricKind, Metrics, Rule, ScalingConfig, ScalingError, ScalingMode,
    ScalingPolicy, ScalingState,
};
use common::{at, served, tracking};

/// A state of `n` instances, all ready (as the caller reports them).
fn fleet(n: u32) -> ScalingState {
    let mut s = ScalingState::new(n);
    s.set_ready(Some(n));
    s
}

#[test]
fn tracking_is_opt_in_and_its_settings_are_validated_by_name() {
    assert_eq!(ScalingConfig::default().mode, ScalingMode::Guide);
    let from = |vars: &[(&str, &str)]| {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ScalingConfig::from_lookup(move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    };
    let c = from(&[("SCALING_MODE", "tracking"), ("TRACKING_CPU_TARGET", "70")]).expect("valid");
    assert_eq!(
        (c.mode, c.tracking.cpu_target),
        (ScalingMode::Tracking, 70.0)
    );
    assert_eq!(
        from(&[("VITE_SCALING_MODE", "Tracking")]).map(|c| c.mode),
        Ok(ScalingMode::Tracking)
    );
    for (vars, variable) in [
        (vec![("SCALING_MODE", "fast")], "SCALING_MODE"),
        (
            vec![("SCALING_MODE", "tracking"), ("TRACKING_WINDOW", "800")],
            "TRACKING_WINDOW",
        ),
        (
            vec![("SCALING_MODE", "tracking"), ("TRACKING_CPU_TARGET", "120")],
            "TRACKING_CPU_TARGET",
        ),
        (
            vec![
                ("SCALING_MODE", "tracking"),
                ("TRACKING_SCALE_DOWN_TOLERANCE", "100"),
            ],
            "TRACKING_SCALE_DOWN_TOLERANCE",
        ),
        (
            vec![
                ("SCALING_MODE", "tracking"),
                ("TRACKING_JOBS_PER_INSTANCE", "0"),
            ],
            "TRACKING_JOBS_PER_INSTANCE",
        ),
        (
            vec![("TRACKING_SEASONAL", "sometimes")],
            "TRACKING_SEASONAL",
        ),
    ] {
        let err: ScalingError = from(&vars).expect_err(variable);
        assert!(err.to_string().contains(variable), "{variable}: {err}");
    }
    // A bad tracking setting does not stop the guide mode it is not used by.
    assert!(from(&[("TRACKING_CPU_TARGET", "120")]).is_ok());
}

#[test]
fn a_spike_is_sized_to_the_setpoint_in_one_decision_on_the_ready_count_then() {
    let p = tracking();
    let mut state = fleet(6);
    // Twice the setpoint per instance: 6 * 228 / 114 = 12, no step cap, no cooldown.
    let d = p.decide(&served(228.0), &state, at(0.0));
    assert_eq!((d.action, d.target), (Action::ScaleUp, 12), "{d}");
    assert_eq!(
        d.reasons.rule,
        Rule::Tracking {
            driver: Driver::Load(MetricKind::RequestRate)
        }
    );
    assert!(
        d.message()
            .starts_with("scale up 6 -> 12: load (request_rate) needs 12.0 instances"),
        "{d}"
    );
    state.record(&d, at(0.0));
    // The 6 new instances start; the metrics keep describing the 6 that serve.
    for i in 1..6 {
        let now = at(15.0 * f64::from(i));
        state.set_ready(Some(6));
        let d = p.decide(&served(228.0), &state, now);
        assert_eq!(d.action, Action::Hold, "starting instances count: {d}");
        state.record(&d, now);
    }
    // All 12 ready now, and the sample (60 s old) was measured over the 6 ready then: the
    // demand is still 12, not 12 * 228 / 114 = 24.
    state.set_ready(Some(12));
    let d = p.decide_observed(&served(228.0), at(30.0), &state, at(90.0));
    assert_eq!((d.action, d.target), (Action::Hold, 12), "{d}");
    assert_eq!(d.reasons.tracking.map(|t| t.measured_over), Some(6));
}

#[test]
fn down_only_below_the_tolerance_and_to_a_count_with_headroom() {
    let p = tracking();
    let mut state = fleet(10);
    // 9.5 instances needed: within 10 % of 10, hold.
    let mut now = 0.0;
    for _ in 0..30 {
        let d = p.decide(&served(108.3), &state, at(now));
        assert_eq!(
            (d.action, d.reasons.rule),
            (Action::Hold, Rule::WithinTolerance),
            "{d}"
        );
        state.record(&d, at(now));
        now += 15.0;
    }
    // 8.0 needed: down once the window holds nothing higher, to ceil(8.0 * 1.1) = 9.
    let fell = now;
    let mut down = None;
    for _ in 0..30 {
        let d = p.decide(&served(91.2), &state, at(now));
        if d.action == Action::ScaleDown {
            down = Some((now - fell, d.target));
            state.record(&d, at(now));
            break;
        }
        state.record(&d, at(now));
        now += 15.0;
    }
    let (after, target) = down.expect("a scale-down");
    assert_eq!(target, 9);
    assert!((270.0..=300.0).contains(&after), "after {after} s");
    // At 9, 8.0 needed is within the tolerance: no second step, no flapping.
    state.set_ready(Some(9));
    for _ in 0..40 {
        now += 15.0;
        let d = p.decide(&served(91.2 * 10.0 / 9.0), &state, at(now));
        assert_eq!(d.action, Action::Hold, "{d}");
        state.record(&d, at(now));
    }
}

#[test]
fn a_single_bad_sample_is_held_back_until_the_next_confirms_it() {
    let p = tracking();
    let mut state = fleet(10);
    let mut now = 0.0;
    let mut step = |m: &Metrics, state: &mut ScalingState| {
        let d = p.decide(m, state, at(now));
        state.record(&d, at(now));
        now += 15.0;
        d
    };
    for _ in 0..10 {
        step(&served(91.2), &mut state); // 8.0 needed
    }
    // A request rate ten times too high, CPU unchanged: counted at 1.25 * 8.0 = 10 for now.
    let bad = Metrics {
        request_rate: Some(912.0),
        ..served(91.2)
    };
    let d = step(&bad, &mut state);
    assert_eq!(d.action, Action::Hold, "{d}");
    let t = d.reasons.tracking.expect("tracking reasons");
    assert_eq!(t.held_back.map(f64::round), Some(80.0));
    assert!(
        d.message()
            .contains("a jump to 80.0 counts as 10.0 until the next sample confirms it"),
        "{d}"
    );
    let d = step(&served(91.2), &mut state);
    assert_eq!(d.action, Action::Hold, "{d}");
    // The same jump twice in a row is real: up to MAX_INSTANCES.
    step(&bad, &mut state);
    let d = step(&bad, &mut state);
    assert_eq!((d.action, d.target), (Action::ScaleUp, 20), "{d}");
}

/// Six ready instances at a steady 5.4 instances of load for five minutes (within the
/// tolerance: no scale-down), then the samples given (instances of load at the setpoint);
/// the decisions on those samples. Without p95: the latency guard would answer the rises
/// below from the latency they cause, and these tests are about the load.
fn after_a_steady_window(loads: &[f64]) -> Vec<clip_scaling_policy::Decision> {
    let p = tracking();
    let mut state = fleet(6);
    let mut now = 0.0;
    let mut decisions = Vec::new();
    for (i, load) in std::iter::repeat_n(5.4, 20)
        .chain(loads.iter().copied())
        .enumerate()
    {
        // 114 req/s per instance at the setpoint, averaged over the six ready.
        let m = Metrics {
            p95_response_time: None,
            ..served(load * 114.0 / 6.0)
        };
        let d = p.decide(&m, &state, at(now));
        state.record(&d, at(now));
        now += 15.0;
        if i >= 20 {
            decisions.push(d);
        }
    }
    decisions
}

#[test]
fn a_surge_is_extrapolated_on_the_sample_that_makes_it() {
    // 5.4 -> 5.9 -> 7.1: 31 % above anything the window saw, reached by rising. The rise ran
    // 1.7 instances in 30 s; over the 90 s lead that is 5.1 more: 7.1 + 5.1 = 12.2 -> 13.
    let d = after_a_steady_window(&[5.9, 7.1]);
    assert_eq!((d[0].action, d[0].target), (Action::Hold, 6), "{}", d[0]);
    assert_eq!(d[0].reasons.tracking.map(|t| t.surge), Some(0.0));
    assert_eq!(
        (d[1].action, d[1].target),
        (Action::ScaleUp, 13),
        "{}",
        d[1]
    );
    let t = d[1].reasons.tracking.expect("tracking reasons");
    assert!((t.surge - 5.1).abs() < 1e-9, "{}", t.surge);
    assert!(d[1].message().contains("surge +5.1 in 90 s"), "{}", d[1]);
}

#[test]
fn a_jump_that_continues_a_rise_is_a_surge_but_a_lone_jump_is_not() {
    // 5.4 -> 5.9 -> 9.0: the jump counts as 1.25 * 5.9 = 7.375 until confirmed, but the load
    // was already rising: 7.375 is 37 % above the window, reached in 30 s, so 5.925 more over
    // the lead: 13.3 -> 14.
    let d = after_a_steady_window(&[5.9, 9.0]);
    let t = d[1].reasons.tracking.expect("tracking reasons");
    assert_eq!(t.held_back, Some(9.0));
    assert!((t.surge - 5.925).abs() < 1e-9, "{}", t.surge);
    assert_eq!(
        (d[1].action, d[1].target),
        (Action::ScaleUp, 14),
        "{}",
        d[1]
    );
    // The same jump out of a flat window is only held back (7.0 = 1.25 * 5.6 counted).
    let d = after_a_steady_window(&[5.6, 5.4, 9.0]);
    let t = d[2].reasons.tracking.expect("tracking reasons");
    assert_eq!((t.held_back, t.surge), (Some(9.0), 0.0), "{}", d[2]);
    assert_eq!(d[2].target, 7, "{}", d[2]);
}

#[test]
fn a_rise_short_of_the_surge_threshold_is_only_followed() {
    // 26 % above the window, rising: followed at the setpoint, not extrapolated.
    let d = after_a_steady_window(&[5.9, 6.8]);
    assert_eq!(d[1].target, 7, "{}", d[1]);
    assert_eq!(d[1].reasons.tracking.map(|t| t.surge), Some(0.0));
    // Falling back after a surge is no surge either (and the window keeps what it ordered).
    let d = after_a_steady_window(&[5.9, 7.1, 6.8]);
    assert_eq!(d[2].reasons.tracking.map(|t| t.surge), Some(0.0));
    assert_eq!(d[2].target, 13, "{}", d[2]);
}

#[test]
fn the_queue_is_drained_within_the_job_wait_slo() {
    let p = tracking();
    let m = Metrics {
        queue_length: Some(1_500.0),
        ..served(57.0)
    };
    // Lead time 90 s (fresh metrics). With no earlier sample the queue is taken as steady: jobs
    // arrive as fast as the 4 ready instances drain them (4 instances' worth), and the 1 500
    // waiting drain within the SLO's 300 - 90 s: 1 500 / (0.5 jobs/s * 210 s) = 14.3.
    // 4 + 14.3 = 18.3 -> 19.
    let d = p.decide(&m, &fleet(4), at(0.0));
    assert_eq!((d.action, d.target), (Action::ScaleUp, 19), "{d}");
    assert_eq!(
        d.reasons.rule,
        Rule::Tracking {
            driver: Driver::Queue
        }
    );
    let queue = d
        .reasons
        .tracking
        .and_then(|t| t.queue)
        .expect("queue term");
    assert!((queue - (4.0 + 1_500.0 / 105.0)).abs() < 1e-9, "{queue}");
    // Older metrics leave less time: measured 60 s ago, 4 + 1 500 / (0.5 * 150) = 24 -> 20.
    let d = p.decide_observed(&m, at(0.0), &fleet(4), at(60.0));
    assert_eq!(d.target, 20, "{d}");
    // Faster workers need fewer instances: 4 + 1 500 / (2 * 210) = 7.6 -> 8.
    let fast = ScalingPolicy::new(
        ScalingConfig::from_lookup(|name| match name {
            "SCALING_MODE" => Some("tracking".into()),
            "TRACKING_JOBS_PER_INSTANCE" => Some("2".into()),
            _ => None,
        })
        .expect("valid settings"),
    )
    .expect("valid");
    assert_eq!(fast.decide(&m, &fleet(4), at(0.0)).target, 8);
}

/// The queue term of each decision on these queue lengths, one every 15 s, over 8 ready
/// instances draining 0.5 jobs/s each (4 jobs/s).
fn queue_terms(queues: &[f64]) -> Vec<f64> {
    let p = tracking();
    let mut state = fleet(8);
    let mut now = 0.0;
    let mut terms = Vec::new();
    for q in queues {
        let m = Metrics {
            queue_length: Some(*q),
            ..served(57.0)
        };
        let d = p.decide(&m, &state, at(now));
        state.record(&d, at(now));
        state.set_current(8);
        now += 15.0;
        terms.push(
            d.reasons
                .tracking
                .and_then(|t| t.queue)
                .expect("queue term"),
        );
    }
    terms
}

#[test]
fn the_queue_is_sized_from_the_rate_jobs_arrive_at() {
    // A batch starts: 0 then 150 jobs in 15 s is 10 jobs/s arriving (the 8 ready drained
    // nothing: nothing was waiting). 10 / 0.5 = 20 instances to keep up, and the backlog
    // when new capacity serves, 150 + (10 - 4) * 90 = 690, drained within 210 s:
    // 690 / 105 = 6.6. The old queue-only sizing asked for 150 / 105 = 1.4.
    let t = queue_terms(&[0.0, 150.0]);
    assert_eq!(t[0], 0.0);
    assert!((t[1] - (20.0 + 690.0 / 105.0)).abs() < 1e-9, "{}", t[1]);
    // The backlog being drained: 600 -> 540 in 15 s while 8 instances drained 60 is no
    // arrival at all: only the 540 - 4 * 90 = 180 left when new capacity serves counts.
    let t = queue_terms(&[600.0, 540.0]);
    assert!((t[1] - 180.0 / 105.0).abs() < 1e-9, "{}", t[1]);
    // A short queue that the workers empty as it fills (3 jobs, then 3 again) is 0.2 jobs/s,
    // not the 4 jobs/s the ready instances could drain, and they clear it before new
    // capacity would serve: 0.2 / 0.5 = 0.4 instances, which does not hold the fleet up.
    let t = queue_terms(&[3.0, 3.0]);
    assert!((t[1] - 0.4).abs() < 1e-9, "{}", t[1]);
}

#[test]
fn the_latency_guard_adds_capacity_when_p95_nears_the_slo() {
    let p = tracking();
    // The load metrics say 6 instances would do, but p95 is at 1.9 s: the capacity is not what
    // the setpoint assumes. 10 * 1.9 / (0.9 * 2.0) = 10.6 -> 11.
    let m = Metrics {
        p95_response_time: Some(Duration::from_millis(1_900)),
        ..served(68.4)
    };
    let d = p.decide(&m, &fleet(10), at(0.0));
    assert_eq!((d.action, d.target), (Action::ScaleUp, 11), "{d}");
    assert_eq!(
        d.reasons.rule,
        Rule::Tracking {
            driver: Driver::Latency
        }
    );
    // Below the guard's level it stays out of the way.
    let d = p.decide(&served(68.4), &fleet(10), at(0.0));
    assert_eq!(d.reasons.tracking.and_then(|t| t.latency), None);
}

/// Three days of decisions a minute apart; every day from 10:00 to 10:10 the load goes from
/// 5 to 20 instances' worth. Returns the first seasonal scale-up of each day, as minutes
/// into the day.
fn seasonal_days(config: ScalingConfig) -> Vec<Option<u32>> {
    let p = ScalingPolicy::new(config).expect("valid");
    let mut state = fleet(5);
    let mut firsts = vec![None; 3];
    for minute in 0..3 * 1_440u32 {
        let of_day = minute % 1_440;
        let total = if (600..610).contains(&of_day) {
            20.0 * 114.0
        } else {
            5.0 * 114.0
        };
        let now = at(60.0 * f64::from(minute));
        state.set_ready(Some(state.current()));
        let d = p.decide(&served(total / f64::from(state.current())), &state, now);
        let day = (minute / 1_440) as usize;
        if d.reasons.rule
            == (Rule::Tracking {
                driver: Driver::Seasonal,
            })
            && d.action == Action::ScaleUp
            && firsts[day].is_none()
        {
            firsts[day] = Some(of_day);
        }
        state.record(&d, now);
    }
    firsts
}

#[test]
fn seasonal_prescaling_starts_ahead_of_a_rise_both_earlier_days_saw() {
    let config = ScalingConfig {
        mode: ScalingMode::Tracking,
        ..ScalingConfig::default()
    };
    let firsts = seasonal_days(config.clone());
    // Day 1 has no history, day 2 only one earlier day: no forecast. On day 3 the fleet grows
    // before 10:00 (within the 90 s lead time), not when the load arrives.
    assert_eq!(firsts[..2], [None, None]);
    let Some(minute) = firsts[2] else {
        panic!("no seasonal scale-up on day 3: {firsts:?}");
    };
    assert!((598..600).contains(&minute), "at minute {minute}");
    // Off, nothing is forecast.
    let mut off = config;
    off.tracking.seasonal = false;
    assert_eq!(seasonal_days(off), [None, None, None]);
}

#[test]
fn bounds_hold_and_below_min_the_load_is_sized_for() {
    let p = tracking();
    // One survivor at ten times the setpoint: 10 instances at once, not MIN_INSTANCES.
    let d = p.decide(&served(1_140.0), &fleet(1), at(0.0));
    assert_eq!((d.action, d.target), (Action::ScaleUp, 10), "{d}");
    // Little load below MIN: back to MIN.
    let d = p.decide(&served(10.0), &fleet(1), at(0.0));
    assert_eq!(
        (d.action, d.target, d.reasons.rule),
        (Action::ScaleUp, 3, Rule::OutOfBounds)
    );
    // Far above: MAX_INSTANCES.
    assert_eq!(p.decide(&served(1_000.0), &fleet(15), at(0.0)).target, 20);
    // Far below, once a full window of history agrees: MIN_INSTANCES. (Memory's idle floor,
    // 25 % of each instance, keeps the estimate at 5 * 25.2 / 80 = 1.6.)
    let mut state = fleet(5);
    let mut first_down = None;
    for i in 0..40u32 {
        let now = at(15.0 * f64::from(i));
        let d = p.decide(&served(1.0), &state, now);
        if i == 0 {
            assert_eq!(d.reasons.rule, Rule::HistoryTooShort, "{d}");
            assert!(
                d.message()
                    .contains("no scale-down before a full window of history (0 s of 300 s)"),
                "{d}"
            );
        }
        if d.action == Action::ScaleDown {
            first_down = Some((15 * i, d.target, d.reasons.limits.bound));
            break;
        }
        state.record(&d, now);
    }
    assert_eq!(first_down, Some((285, 3, Some(3))));
    // No ready instance: hold, as in guide mode.
    let mut none = ScalingState::new(8);
    none.set_ready(Some(0));
    let d = p.decide(&served(1_000.0), &none, at(0.0));
    assert_eq!(d.reasons.rule, Rule::NoReadyInstances);
}
