//! The simulator: trace parsing, the capacity model's arithmetic, the HPA baseline's algorithm,
//! and our policy against it on the built-in traces.

use std::time::{Duration, SystemTime};

use clip_scaling_policy::sim::{
    self, Autoscaler, CapacityModel, FixedFleet, Fleet, HpaBaseline, HpaTargets, Judge,
    PolicyAutoscaler, Shape, Trace, TracePoint,
};
use clip_scaling_policy::{Metrics, ScalingConfig, ScalingError, ScalingPolicy};

const DAY: f64 = 86_400.0;

/// Always asks for the same count: isolates the capacity model.
struct Fixed(u32);

impl Autoscaler for Fixed {
    fn name(&self) -> &str {
        "fixed"
    }
    fn decide(&mut self, _: &Metrics, _: Fleet, _: SystemTime) -> u32 {
        self.0
    }
}

/// An HPA scaling on the one metric `f` sets.
fn hpa_on(f: impl FnOnce(&mut HpaTargets)) -> HpaBaseline {
    let mut targets = HpaTargets {
        cpu_percent: None,
        memory_percent: None,
        request_rate: None,
        queue_length: None,
    };
    f(&mut targets);
    HpaBaseline::with_targets(3, 20, targets)
}

fn constant(rate: f64, secs: f64) -> Trace {
    Trace {
        name: "constant".into(),
        points: vec![
            TracePoint {
                at_secs: 0.0,
                request_rate: rate,
                queue_arrivals: 0.0,
            },
            TracePoint {
                at_secs: secs,
                request_rate: rate,
                queue_arrivals: 0.0,
            },
        ],
    }
}

#[test]
fn csv_traces_parse_with_header_comments_and_an_optional_jobs_column() {
    let t = Trace::from_csv(
        "mine",
        "seconds,request_rate,queue_arrivals\n# warm-up\n0,100,0.5\n\n15, 250.5\n30,0,0\n",
    )
    .expect("valid trace");
    assert_eq!(t.points.len(), 3);
    assert_eq!(
        t.points[1],
        TracePoint {
            at_secs: 15.0,
            request_rate: 250.5,
            queue_arrivals: 0.0
        }
    );
    assert_eq!(t.duration_secs(), 30.0);
    let back = Trace::from_csv("mine", &t.to_csv()).expect("round trip");
    assert_eq!(back, t);
}

#[test]
fn bad_csv_lines_are_reported_with_their_number() {
    let cases = [
        ("0,1,0\n15,-3,0\n", 2, "\"-3\""),
        ("0,1,0\n0,1,0\n", 2, "does not come after"),
        ("0,1,0\n15,1,0,9\n", 2, "4 fields"),
        ("0,1\n15,NaN\n", 2, "\"NaN\""),
        ("0,1\n15,inf\n", 2, "\"inf\""),
        ("0,1\n1e300,1\n", 2, "beyond the simulator's limit"),
        ("seconds,rate\n# note\nsecs,rate\n0,1\n", 3, "\"secs\""),
        ("0,1\nnoon,1\n", 2, "\"noon\""),
    ];
    for (csv, line, problem) in cases {
        let err = Trace::from_csv("bad", csv).expect_err(csv);
        assert!(
            matches!(err, ScalingError::InvalidTrace { line: l, .. } if l == line),
            "{csv}: {err:?}"
        );
        assert!(err.to_string().contains(problem), "{csv}: {err}");
    }
    for empty in ["", "seconds,request_rate\n", "# nothing yet\n\n"] {
        assert_eq!(
            Trace::from_csv("empty", empty),
            Err(ScalingError::EmptyTrace),
            "{empty:?}"
        );
    }
}

#[test]
fn built_in_traces_are_deterministic_and_have_their_shape() {
    for shape in Shape::ALL {
        let a = Trace::builtin(shape, DAY, 15.0);
        assert_eq!(a, Trace::builtin(shape, DAY, 15.0), "{}", shape.name());
        assert_eq!(a.points.len(), 5_760);
        assert!(
            a.points
                .iter()
                .all(|p| p.request_rate >= 0.0 && p.queue_arrivals >= 0.0)
        );
    }
    let max = |t: &Trace| t.points.iter().map(|p| p.request_rate).fold(0.0, f64::max);
    let min = |t: &Trace| {
        t.points
            .iter()
            .map(|p| p.request_rate)
            .fold(f64::MAX, f64::min)
    };
    let spike = Trace::builtin(Shape::Spike, DAY, 15.0);
    assert!(max(&spike) > 2_200.0 && min(&spike) < 650.0);
    let ramp = Trace::builtin(Shape::Ramp, DAY, 15.0);
    assert!(ramp.points[0].request_rate < 220.0 && ramp.points[5_759].request_rate > 2_400.0);
    let diurnal = Trace::builtin(Shape::Diurnal, DAY, 15.0);
    let noon = diurnal.points[2_880].request_rate;
    assert!(
        noon > 1_650.0 && diurnal.points[0].request_rate < 330.0,
        "noon {noon}"
    );
}

#[test]
fn the_capacity_model_counts_cost_and_violations_exactly() {
    let model = CapacityModel::default();
    let instant = Judge::instant();
    // 3 instances x 150 req/s cannot serve 600 req/s: every tick violates.
    let run = sim::simulate_with(&constant(600.0, 3_600.0), &model, &instant, &mut Fixed(3));
    assert_eq!(run.report.decisions, 241);
    assert!(
        (run.report.slo_violation_minutes - 60.25).abs() < 1e-9,
        "{}",
        run.report
    );
    assert!((run.report.instance_hours - 3.0 * 60.25 / 60.0).abs() < 1e-9);
    // 10 instances: u = 0.4, p95 = 0.3 / 0.6 = 0.5 s, except while the 7 new ones start (60 s).
    let run = sim::simulate_with(&constant(600.0, 3_600.0), &model, &instant, &mut Fixed(10));
    assert!(
        (run.report.slo_violation_minutes - 1.0).abs() < 1e-9,
        "{}",
        run.report
    );
    assert_eq!(
        (
            run.report.scaling_actions,
            run.report.reversals,
            run.report.peak_instances
        ),
        (1, 0, 10)
    );
    assert_eq!(run.samples[3].ready, 3);
    assert_eq!(run.samples[4].ready, 10);
    assert!(run.samples[3].violation && !run.samples[4].violation);
}

/// Review M6 (d): the judge applies a decision at the next tick, and a new instance serves
/// after its start-up plus the readiness delay: 15 + 60 + 10 s, so from the tick at 90 s.
#[test]
fn decisions_take_effect_at_the_next_tick_and_instances_wait_for_readiness() {
    let model = CapacityModel::default();
    let run = sim::simulate(&constant(600.0, 3_600.0), &model, &mut Fixed(10));
    let counts: Vec<_> = run.samples[..7]
        .iter()
        .map(|s| (s.instances, s.ready))
        .collect();
    assert_eq!(
        counts,
        [
            (3, 3),
            (10, 3),
            (10, 3),
            (10, 3),
            (10, 3),
            (10, 3),
            (10, 10)
        ]
    );
    // Ticks 0 to 5 violate: 1.5 minutes. Cost: 3 instances for one tick, then 10.
    assert!((run.report.slo_violation_minutes - 1.5).abs() < 1e-9);
    let hours = (3.0 + 10.0 * 240.0) * 15.0 / 3_600.0;
    assert!((run.report.instance_hours - hours).abs() < 1e-9);
}

/// Records what the autoscaler is shown.
struct Recorder(Vec<(SystemTime, SystemTime, f64)>);

impl Autoscaler for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }
    fn decide(&mut self, _: &Metrics, fleet: Fleet, _: SystemTime) -> u32 {
        fleet.instances
    }
    fn decide_observed(
        &mut self,
        m: &Metrics,
        at: SystemTime,
        fleet: Fleet,
        now: SystemTime,
    ) -> u32 {
        self.0.push((now, at, m.request_rate.unwrap_or(f64::NAN)));
        fleet.instances
    }
}

/// Review M6 (d): every autoscaler sees the metrics as they were `metric_lag` ago, and is told
/// when they were measured.
#[test]
fn the_autoscaler_sees_metrics_as_they_were_a_lag_ago() {
    let step = Trace {
        name: "step".into(),
        points: vec![
            TracePoint {
                at_secs: 0.0,
                request_rate: 300.0,
                queue_arrivals: 0.0,
            },
            TracePoint {
                at_secs: 600.0,
                request_rate: 1_500.0,
                queue_arrivals: 0.0,
            },
            TracePoint {
                at_secs: 1_200.0,
                request_rate: 1_500.0,
                queue_arrivals: 0.0,
            },
        ],
    };
    let model = CapacityModel::default();
    for lag in [0u64, 60, 90] {
        let mut seen = Recorder(Vec::new());
        sim::simulate_with(
            &step,
            &model,
            &Judge::with_lag(Duration::from_secs(lag)),
            &mut seen,
        );
        let first_high = seen.0.iter().find(|(_, _, rate)| *rate > 400.0);
        let (now, at, rate) = first_high.copied().expect("the step is seen");
        let start = seen.0[0].0;
        let secs = |t: SystemTime| t.duration_since(start).expect("later").as_secs();
        assert_eq!(secs(now), 600 + lag, "lag {lag}");
        assert_eq!(secs(at), 600, "lag {lag}: measured when the load changed");
        assert_eq!(rate, 500.0, "1 500 req/s over 3 instances");
    }
}

/// The job queue is first in, first out: with 100 jobs arriving at once and 3 instances
/// draining 1.5 jobs/s, the last job waits 66.7 s; at 1 instance, 200 s; 300 jobs on
/// 1 instance wait 600 s, so the last 300 s of that drain violate the job-wait SLO.
#[test]
fn the_job_queue_drains_oldest_first_and_counts_waits_over_the_slo() {
    let batch = |jobs: f64| Trace {
        name: "batch".into(),
        points: vec![
            TracePoint {
                at_secs: 0.0,
                request_rate: 0.0,
                queue_arrivals: jobs / 15.0,
            },
            TracePoint {
                at_secs: 15.0,
                request_rate: 0.0,
                queue_arrivals: 0.0,
            },
            TracePoint {
                at_secs: 3_600.0,
                request_rate: 0.0,
                queue_arrivals: 0.0,
            },
        ],
    };
    let model = CapacityModel {
        initial_instances: 1,
        ..CapacityModel::default()
    };
    let judge = Judge::instant();
    let run = sim::simulate_with(&batch(100.0), &model, &judge, &mut Fixed(1));
    assert_eq!(run.report.job_wait_violation_minutes, 0.0);
    // 300 jobs at 0.5/s: the queue empties at 600 s; the oldest job has waited > 300 s at the
    // end of every tick from the one at 300 s to the one at 570 s (the next one empties it).
    let run = sim::simulate_with(&batch(300.0), &model, &judge, &mut Fixed(1));
    let violating: Vec<f64> = run
        .samples
        .iter()
        .filter(|s| s.job_wait_violation)
        .map(|s| s.at_secs)
        .collect();
    assert_eq!(violating.first(), Some(&300.0));
    assert_eq!(violating.last(), Some(&570.0));
    assert!(
        (run.report.job_wait_violation_minutes - 4.75).abs() < 1e-9,
        "{}",
        run.report
    );
    assert!(run.samples[1].jobs_waiting > 280.0 && run.samples[41].jobs_waiting == 0.0);
}

/// Review M6 (b): the batch trace's queue needs scaling: at `MIN_INSTANCES` its batches wait
/// past the job-wait SLO; at `MAX_INSTANCES` they never do.
#[test]
fn the_batch_trace_needs_scaling_for_its_jobs() {
    let model = CapacityModel::default();
    let trace = Trace::builtin(Shape::Batch, DAY, 15.0);
    let min = sim::simulate(&trace, &model, &mut FixedFleet::new("fixed-min", 3));
    let max = sim::simulate(&trace, &model, &mut FixedFleet::new("fixed-max", 20));
    assert!(
        min.report.job_wait_violation_minutes > 60.0,
        "{}",
        min.report
    );
    assert_eq!(max.report.job_wait_violation_minutes, 0.0, "{}", max.report);
    let jobs: f64 = trace.points.iter().map(|p| p.queue_arrivals * 15.0).sum();
    assert!(
        (6.0 * 600.0..6.0 * 2_400.0 + 0.5 * DAY * 1.05).contains(&jobs),
        "{jobs}"
    );
}

/// Review M6 (f): seeds draw different noise (and batches), the same seed the same trace.
#[test]
fn seeds_draw_different_traces_and_the_same_seed_the_same_one() {
    for shape in Shape::ALL {
        let a = Trace::builtin_seeded(shape, DAY, 15.0, 1);
        assert_eq!(a, Trace::builtin_seeded(shape, DAY, 15.0, 1));
        assert_ne!(
            a,
            Trace::builtin_seeded(shape, DAY, 15.0, 2),
            "{}",
            shape.name()
        );
    }
    assert_eq!(
        Trace::builtin(Shape::Spike, DAY, 15.0),
        Trace::builtin_seeded(Shape::Spike, DAY, 15.0, 0)
    );
}

/// Review L12: a long run keeps at most `max_samples` samples, each bucket keeping its peak
/// and any violation.
#[test]
fn a_long_run_keeps_a_bounded_timeline() {
    let model = CapacityModel {
        tick: Duration::from_secs(1),
        ..CapacityModel::default()
    };
    let judge = Judge {
        max_samples: 1_000,
        ..Judge::default()
    };
    let run = sim::simulate_with(&constant(600.0, DAY), &model, &judge, &mut Fixed(3));
    assert_eq!(run.report.decisions, 86_401);
    assert!(run.samples.len() <= 1_000, "{}", run.samples.len());
    assert!(run.samples.iter().all(|s| s.violation && s.instances == 3));
    let spaced = run.samples[1].at_secs - run.samples[0].at_secs;
    assert_eq!(spaced, 87.0, "86 401 ticks in buckets of 87");
}

#[test]
fn the_hpa_baseline_follows_the_kubernetes_algorithm() {
    let config = ScalingConfig::default();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let at = |s: u64| t0 + Duration::from_secs(s);
    let cpu = |v: f64| Metrics {
        cpu_percent: Some(v),
        ..Metrics::default()
    };
    let fleet = |n: u32| Fleet {
        instances: n,
        ready: n,
    };

    let cpu_only = || hpa_on(|t| t.cpu_percent = Some(70.0));
    let mut hpa = cpu_only();
    assert_eq!(
        hpa.decide(&cpu(140.0), fleet(3), at(0)),
        6,
        "ceil(3 * 140 / 70)"
    );
    let mut hpa = cpu_only();
    assert_eq!(
        hpa.decide(&cpu(76.0), fleet(10), at(0)),
        10,
        "within the 10 % tolerance"
    );
    let mut hpa = cpu_only();
    assert_eq!(
        hpa.decide(&cpu(700.0), fleet(3), at(0)),
        7,
        "rate limit: +max(100 %, 4) per 15 s"
    );
    // Not-ready pods count as idle when scaling up: 3 ready at 90 % of 6 is 45 %, no scale-up.
    let mut hpa = cpu_only();
    assert_eq!(
        hpa.decide(
            &cpu(90.0),
            Fleet {
                instances: 6,
                ready: 3
            },
            at(0)
        ),
        6
    );
    // Scale-down stabilization: the highest desired count of the last 300 s.
    let mut hpa = cpu_only();
    assert_eq!(hpa.decide(&cpu(70.0), fleet(10), at(0)), 10);
    assert_eq!(hpa.decide(&cpu(7.0), fleet(10), at(15)), 10);
    assert_eq!(hpa.decide(&cpu(7.0), fleet(10), at(299)), 10);
    assert_eq!(
        hpa.decide(&cpu(7.0), fleet(10), at(300)),
        3,
        "ceil(10 * 7 / 70) = 1, min 3"
    );
    // A metric in the spec but missing from the sample blocks a scale-down, not a scale-up.
    let mut hpa = HpaBaseline::new(&config);
    assert_eq!(hpa.decide(&cpu(7.0), fleet(10), at(0)), 10);
    assert_eq!(hpa.decide(&cpu(140.0), fleet(3), at(15)), 6);
    // The guide's queue threshold as an External `Value` metric: ceil(4 * 60 / 50) = 5.
    let mut hpa = HpaBaseline::kubernetes_default();
    let queue = Metrics {
        queue_length: Some(60.0),
        ..Metrics::default()
    };
    assert_eq!(hpa.decide(&queue, fleet(4), at(0)), 5);
}

/// Review L3 (a): Kubernetes counts the period's start as `current - added + deleted` in both
/// limiters, so a scale-up right after a scale-down starts from the count before the scale-down.
#[test]
fn the_hpa_rate_limit_counts_opposite_direction_changes_in_the_period() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let cpu = |v: f64| Metrics {
        cpu_percent: Some(v),
        ..Metrics::default()
    };
    let fleet = |n: u32| Fleet {
        instances: n,
        ready: n,
    };
    let mut hpa = hpa_on(|t| t.cpu_percent = Some(70.0));
    // No history: 10 at 7 % CPU go down to ceil(10 * 7 / 70) = 1, MIN 3.
    assert_eq!(hpa.decide(&cpu(7.0), fleet(10), t0), 3);
    // 5 s later, a burst: the period started at 3 + 7 deleted = 10, so up to max(20, 14) = 20.
    assert_eq!(
        hpa.decide(&cpu(700.0), fleet(3), t0 + Duration::from_secs(5)),
        20
    );
}

/// Review L3 (b): `groupPods` sets unready pods aside for CPU only. Starting pods have no
/// request-rate sample yet, so for that metric they are *missing*, and on a scale-down
/// Kubernetes counts missing pods at the target (a more careful scale-down).
#[test]
fn the_hpa_treats_starting_pods_per_metric_kind() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let half_ready = Fleet {
        instances: 10,
        ready: 5,
    };
    let mut hpa = hpa_on(|t| t.request_rate = Some(100.0));
    let rate = Metrics {
        request_rate: Some(50.0),
        ..Metrics::default()
    };
    // (5 * 50 + 5 * 100) / (10 * 100) = 0.75 of the target over 10 pods: ceil(7.5) = 8.
    assert_eq!(hpa.decide(&rate, half_ready, t0), 8);
    let mut hpa = hpa_on(|t| t.cpu_percent = Some(70.0));
    let cpu = Metrics {
        cpu_percent: Some(35.0),
        ..Metrics::default()
    };
    // CPU: the 5 unready pods are set aside: ceil(5 * 35 / 70) = 3.
    assert_eq!(hpa.decide(&cpu, half_ready, t0), 3);
}

#[test]
fn the_guide_against_the_baseline_on_the_built_in_traces() {
    let config = ScalingConfig::default();
    let model = CapacityModel::default();
    for shape in Shape::ALL {
        let trace = Trace::builtin(shape, DAY, 15.0);
        let mut ours = PolicyAutoscaler::new(ScalingPolicy::new(config.clone()).expect("valid"), 3);
        let a = sim::simulate(&trace, &model, &mut ours);
        let b = sim::simulate(&trace, &model, &mut HpaBaseline::kubernetes_default());
        for run in [&a, &b] {
            assert_eq!(run.report.decisions, 5_760);
            assert!(
                run.samples.iter().all(|s| (3..=20).contains(&s.instances)),
                "{}",
                run.report
            );
        }
        // The cooldowns and the wide band never flap more than HPA does.
        assert!(
            a.report.reversals <= b.report.reversals,
            "{}\n{}",
            a.report,
            b.report
        );
    }
}

/// Review M6 (a): on spike the guide's rules do not ride out the bursts by design: after the
/// first burst the fleet stays at `MAX_INSTANCES` (noisy samples half inside the band refill
/// the stabilization window), so it scores as a fixed fleet of 20 does.
#[test]
fn on_spike_the_guide_is_a_fixed_fleet_at_max() {
    let model = CapacityModel::default();
    let trace = Trace::builtin(Shape::Spike, DAY, 15.0);
    let policy = ScalingPolicy::new(ScalingConfig::default()).expect("valid");
    let guide = sim::simulate(&trace, &model, &mut PolicyAutoscaler::new(policy, 3));
    let max = sim::simulate(&trace, &model, &mut FixedFleet::new("fixed-max", 20));
    let after_first_burst = guide.samples.iter().skip_while(|s| s.instances < 20);
    assert!(
        after_first_burst.clone().count() > 4_000,
        "{}",
        guide.report
    );
    assert!(
        after_first_burst.into_iter().all(|s| s.instances == 20),
        "{}",
        guide.report
    );
    assert!(guide.report.instance_hours > 0.85 * max.report.instance_hours);
}

/// Review M6 (e): the baseline a comparison uses is pinned: it does not move when the policy's
/// configuration (read from the environment) does.
#[test]
fn the_pinned_baseline_ignores_the_policys_configuration() {
    let model = CapacityModel::default();
    let trace = Trace::builtin(Shape::Diurnal, DAY, 15.0);
    let pinned = sim::simulate(&trace, &model, &mut HpaBaseline::kubernetes_default());
    let tuned_env = ScalingConfig::from_lookup(|name| {
        (name == "REQUEST_RATE_THRESHOLD").then(|| "140".to_string())
    })
    .expect("valid");
    let from_env = sim::simulate(&trace, &model, &mut HpaBaseline::new(&tuned_env));
    assert!(from_env.report.instance_hours < pinned.report.instance_hours);
    assert_eq!(
        HpaBaseline::kubernetes_default().targets(),
        HpaTargets::GUIDE
    );
    assert_eq!(
        HpaBaseline::new(&ScalingConfig::default()).targets(),
        HpaTargets::GUIDE
    );
}

#[test]
fn the_svg_chart_shows_demand_and_each_run() {
    let model = CapacityModel::default();
    let trace = Trace::builtin(Shape::Spike, DAY, 15.0);
    let config = ScalingConfig::default();
    let a = sim::simulate(
        &trace,
        &model,
        &mut PolicyAutoscaler::new(ScalingPolicy::new(config.clone()).expect("valid"), 3),
    );
    let b = sim::simulate(&trace, &model, &mut HpaBaseline::new(&config));
    let svg = sim::render_svg("spike <1 day> & more", &[&a, &b], &model);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<polyline").count(), 3, "demand + two runs");
    assert!(svg.contains("spike &lt;1 day&gt; &amp; more"));
    assert!(svg.contains("guide: ") && svg.contains("hpa: "));
    // Downsampled: a day of 15 s ticks is 5 760 points; each line keeps at most 1 000.
    let longest = svg
        .lines()
        .filter(|l| l.starts_with("<polyline"))
        .map(|l| l.matches(',').count())
        .max();
    assert!(longest.is_some_and(|n| n <= 1_000), "{longest:?}");
}

#[test]
fn a_hand_built_trace_with_non_finite_numbers_neither_panics_nor_hangs() {
    let model = CapacityModel::default();
    let point = |at_secs: f64, request_rate: f64| TracePoint {
        at_secs,
        request_rate,
        queue_arrivals: request_rate,
    };
    let traces = [
        (
            "infinite load",
            vec![
                point(0.0, 300.0),
                point(60.0, f64::INFINITY),
                point(120.0, 0.0),
            ],
        ),
        ("NaN load", vec![point(0.0, f64::NAN), point(60.0, 300.0)]),
        (
            "negative load",
            vec![point(0.0, -500.0), point(60.0, 300.0)],
        ),
        (
            "NaN start",
            vec![point(f64::NAN, 300.0), point(60.0, 300.0)],
        ),
    ];
    for (name, points) in traces {
        let trace = Trace {
            name: name.into(),
            points,
        };
        let config = ScalingConfig::default();
        let mut ours = PolicyAutoscaler::new(ScalingPolicy::new(config.clone()).expect("valid"), 3);
        let a = sim::simulate(&trace, &model, &mut ours);
        let b = sim::simulate(&trace, &model, &mut HpaBaseline::new(&config));
        assert!(
            a.samples.iter().all(|s| (3..=20).contains(&s.instances)),
            "{name}: {}",
            a.report
        );
        let svg = sim::render_svg("chart", &[&a, &b], &model);
        assert!(svg.trim_end().ends_with("</svg>"), "{name}");
        for bad in ["NaN", "inf"] {
            assert!(!svg.contains(bad), "{name}: {bad} in the SVG");
        }
    }
    // An infinite demand is what the chart's top is: the fleet lines keep their own scale.
    let zero_capacity = CapacityModel {
        requests_per_instance: 0.0,
        ..CapacityModel::default()
    };
    let run = sim::simulate(&constant(600.0, 600.0), &model, &mut Fixed(5));
    let svg = sim::render_svg("zero capacity", &[&run], &zero_capacity);
    assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
}
