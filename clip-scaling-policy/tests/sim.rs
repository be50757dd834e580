//! The simulator: trace parsing, the capacity model's arithmetic, the HPA baseline's algorithm,
//! and our policy against it on the built-in traces.

use std::time::{Duration, SystemTime};

use clip_scaling_policy::sim::{
    self, Autoscaler, CapacityModel, Fleet, HpaBaseline, PolicyAutoscaler, Shape, Trace, TracePoint,
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
    // 3 instances x 150 req/s cannot serve 600 req/s: every tick violates.
    let run = sim::simulate(&constant(600.0, 3_600.0), &model, &mut Fixed(3));
    assert_eq!(run.report.decisions, 241);
    assert!(
        (run.report.slo_violation_minutes - 60.25).abs() < 1e-9,
        "{}",
        run.report
    );
    assert!((run.report.instance_hours - 3.0 * 60.25 / 60.0).abs() < 1e-9);
    // 10 instances: u = 0.4, p95 = 0.3 / 0.6 = 0.5 s, except while the 7 new ones start (60 s).
    let run = sim::simulate(&constant(600.0, 3_600.0), &model, &mut Fixed(10));
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

    let mut hpa = HpaBaseline::new(&config);
    assert_eq!(
        hpa.decide(&cpu(140.0), fleet(3), at(0)),
        6,
        "ceil(3 * 140 / 70)"
    );
    let mut hpa = HpaBaseline::new(&config);
    assert_eq!(
        hpa.decide(&cpu(76.0), fleet(10), at(0)),
        10,
        "within the 10 % tolerance"
    );
    let mut hpa = HpaBaseline::new(&config);
    assert_eq!(
        hpa.decide(&cpu(700.0), fleet(3), at(0)),
        7,
        "rate limit: +max(100 %, 4) per 15 s"
    );
    // Not-ready pods count as idle when scaling up: 3 ready at 90 % of 6 is 45 %, no scale-up.
    let mut hpa = HpaBaseline::new(&config);
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
    let mut hpa = HpaBaseline::new(&config);
    assert_eq!(hpa.decide(&cpu(70.0), fleet(10), at(0)), 10);
    assert_eq!(hpa.decide(&cpu(7.0), fleet(10), at(15)), 10);
    assert_eq!(hpa.decide(&cpu(7.0), fleet(10), at(299)), 10);
    assert_eq!(
        hpa.decide(&cpu(7.0), fleet(10), at(300)),
        3,
        "ceil(10 * 7 / 70) = 1, min 3"
    );
}

#[test]
fn our_policy_against_the_baseline_on_the_built_in_traces() {
    let config = ScalingConfig::default();
    let model = CapacityModel::default();
    for shape in Shape::ALL {
        let trace = Trace::builtin(shape, DAY, 15.0);
        let mut ours = PolicyAutoscaler::new(ScalingPolicy::new(config.clone()).expect("valid"), 3);
        let a = sim::simulate(&trace, &model, &mut ours);
        let b = sim::simulate(&trace, &model, &mut HpaBaseline::new(&config));
        for run in [&a, &b] {
            assert_eq!(run.report.decisions, 5_760);
            assert!(
                run.samples.iter().all(|s| (3..=20).contains(&s.instances)),
                "{}",
                run.report
            );
        }
        // Our cooldowns and wide band never flap more than HPA does.
        assert!(
            a.report.reversals <= b.report.reversals,
            "{}\n{}",
            a.report,
            b.report
        );
        // The policy's event history is consistent with the run.
        assert!(ours.state().events().count() as u32 <= a.report.scaling_actions);
        if shape == Shape::Spike {
            // Proportional steps and a slow scale-down ride out repeated spikes.
            assert!(
                a.report.slo_violation_minutes < b.report.slo_violation_minutes,
                "{}\n{}",
                a.report,
                b.report
            );
        }
    }
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
    assert!(svg.contains("policy: ") && svg.contains("hpa: "));
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
