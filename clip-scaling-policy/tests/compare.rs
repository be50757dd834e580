//! The comparison `simulate` prints: the field of autoscalers over seeds, the tuned HPA, the
//! clairvoyant bound, the bar, and the JSON output. One-day traces keep it quick; the
//! week-long tables are the example's (`cargo run --release --example simulate`).

use clip_scaling_policy::ScalingConfig;
use clip_scaling_policy::sim::compare::{Arena, Bar, Contender, Scenario};
use clip_scaling_policy::sim::heldout::{self, Family};
use clip_scaling_policy::sim::{CapacityModel, Figures, Judge, Shape, Summary, Trace};

const DAY: f64 = 86_400.0;

fn arena(seeds: usize) -> Arena {
    Arena::new(
        CapacityModel::default(),
        Judge::default(),
        seeds,
        &ScalingConfig::default(),
    )
    .expect("defaults are valid")
}

#[test]
fn the_field_on_a_day_of_the_batch_trace() {
    let arena = arena(2);
    let scenario = Scenario::builtin(Shape::Batch, DAY, 0..2);
    let rows = arena.compare(&scenario, &Contender::ALL);
    let names: Vec<&str> = rows.iter().map(|r| r.autoscaler.as_str()).collect();
    assert_eq!(
        names,
        [
            "guide",
            "tracking",
            "hpa",
            "hpa-tuned",
            "fixed-min",
            "fixed-max"
        ]
    );
    let row = |name: &str| rows.iter().find(|r| r.autoscaler == name).expect(name);
    assert!(rows.iter().all(|r| r.runs == 2 && r.trace == "batch"));
    // A day at 15 s ticks: 5 760 ticks of 3 instances; or 20, from the second tick on (the
    // fleet starts at 3 and a decision takes effect at the next tick).
    let ticks = 5_760.0 * 15.0 / 3_600.0;
    let tick = 15.0 / 3_600.0;
    assert!((row("fixed-min").mean.instance_hours - 3.0 * ticks).abs() < 1e-9);
    let max = 20.0 * ticks - 17.0 * tick;
    assert!((row("fixed-max").mean.instance_hours - max).abs() < 1e-9);
    // The batches need scaling: at MIN their jobs wait past the SLO.
    assert!(row("fixed-min").mean.job_wait_violation_minutes > 30.0);
    // The tuned HPA is no worse on SLO and no dearer than the default, and says its setting.
    let (hpa, tuned) = (row("hpa"), row("hpa-tuned"));
    assert!(tuned.mean.slo_violation_minutes <= hpa.mean.slo_violation_minutes);
    assert!(tuned.mean.instance_hours <= hpa.mean.instance_hours);
    assert!(
        tuned
            .note
            .as_deref()
            .is_some_and(|n| n.starts_with("request-rate target ")),
        "{tuned:?}"
    );
    // Spread: min <= mean <= max, figure by figure.
    for r in &rows {
        for ((lo, mean), hi) in r.min.named().iter().zip(r.mean.named()).zip(r.max.named()) {
            assert!(lo.1 <= mean.1 + 1e-9 && mean.1 <= hi.1 + 1e-9, "{r}");
        }
    }
    // The clairvoyant fleet is a lower bound on the tracking mode's cost.
    let bound = arena.clairvoyant(&scenario);
    assert!(bound > 3.0 * ticks && bound < row("tracking").mean.instance_hours);
}

/// Tracking against HPA on a day of each built-in trace: never dearer, never more reversals,
/// never more job-wait minutes. (The held-out traces are for evaluation, not for the test
/// suite; the week-long tables, with the bar's totals, are in the README.)
#[test]
fn tracking_against_hpa_on_a_day_of_each_built_in_trace() {
    let arena = arena(1);
    for shape in Shape::ALL {
        let scenario = Scenario::builtin(shape, DAY, 0..1);
        let scenario = &scenario;
        let rows = arena.compare(scenario, &[Contender::Tracking, Contender::Hpa]);
        let (t, h) = (&rows[0].mean, &rows[1].mean);
        let context = format!("{}\n{}", rows[0], rows[1]);
        assert!(t.instance_hours < h.instance_hours, "{context}");
        assert!(t.reversals <= h.reversals, "{context}");
        assert!(
            t.job_wait_violation_minutes <= h.job_wait_violation_minutes,
            "{context}"
        );
    }
}

fn summary(trace: &str, autoscaler: &str, hours: f64, slo: f64, reversals: f64) -> Summary {
    let f = Figures {
        instance_hours: hours,
        slo_violation_minutes: slo,
        job_wait_violation_minutes: 0.0,
        actions: reversals,
        reversals,
        peak: 20.0,
    };
    Summary {
        trace: trace.into(),
        autoscaler: autoscaler.into(),
        runs: 5,
        mean: f,
        min: f,
        max: f,
        note: None,
    }
}

#[test]
fn the_bar_reads_totals_and_each_traces_conditions() {
    let rows = [
        summary("a", "tracking", 90.0, 9.0, 3.0),
        summary("a", "hpa", 100.0, 10.0, 4.0),
        summary("b", "tracking", 96.0, 1.0, 5.0),
        summary("b", "hpa", 100.0, 1.0, 5.0),
    ];
    let bar = Bar::of(&rows);
    assert_eq!(bar.instance_hours, (186.0, 200.0));
    assert!((bar.cost_saving_percent() - 7.0).abs() < 1e-9);
    assert!((bar.slo_saving_percent() - 100.0 / 11.0).abs() < 1e-9);
    assert_eq!(bar.better_on_both, ["a", "b"]);
    assert!(!bar.met(), "9.1 % fewer SLO minutes is short of 10 %");
    let rows = [
        summary("a", "tracking", 110.0, 11.0, 3.0),
        summary("a", "hpa", 100.0, 10.0, 2.0),
    ];
    let bar = Bar::of(&rows);
    assert_eq!(bar.worse_on_both, ["a"]);
    assert_eq!(bar.more_reversals, ["a"]);
}

#[test]
fn the_json_output_is_an_array_of_means_with_min_and_max() {
    let mut odd = summary("my \"trace\"\\\n", "tracking", 12.5, f64::NAN, 2.0);
    odd.note = Some("tab\there".into());
    let json = Summary::json_array(&[summary("steady", "hpa", 1_681.1, 1.5, 1.0), odd]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let rows = v.as_array().expect("an array");
    assert_eq!(rows.len(), 2);
    let first = &rows[0];
    for key in [
        "trace",
        "autoscaler",
        "instance_hours",
        "slo_violation_minutes",
        "job_wait_violation_minutes",
        "actions",
        "reversals",
        "peak",
        "min",
        "max",
    ] {
        assert!(first.get(key).is_some(), "{key} missing: {first}");
    }
    assert_eq!(first["instance_hours"], 1_681.1);
    assert_eq!(first["min"]["slo_violation_minutes"], 1.5);
    assert_eq!(first["max"]["peak"], 20.0);
    assert_eq!(rows[1]["trace"], "my \"trace\"\\\n");
    assert_eq!(rows[1]["note"], "tab\there");
    assert!(rows[1]["slo_violation_minutes"].is_null(), "NaN is null");
}

#[test]
fn held_out_traces_are_drawn_from_their_seed() {
    for family in Family::ALL {
        let a = heldout::generate(family, DAY, 3);
        assert_eq!(a, heldout::generate(family, DAY, 3), "{}", family.name());
        assert_ne!(a, heldout::generate(family, DAY, 4), "{}", family.name());
        assert_eq!(a.points.len(), 5_760);
        assert!(
            a.points
                .iter()
                .all(|p| p.request_rate >= 0.0 && p.queue_arrivals >= 0.0)
        );
        assert_eq!(Family::from_name(family.name()), Some(family));
    }
}

/// The correlation of two traces' tick-to-tick changes in log request rate (their noise).
fn noise_correlation(a: &Trace, b: &Trace) -> f64 {
    let changes = |t: &Trace| -> Vec<f64> {
        t.points
            .windows(2)
            .map(|w| (w[1].request_rate.max(1.0) / w[0].request_rate.max(1.0)).ln())
            .collect()
    };
    let (x, y) = (changes(a), changes(b));
    let n = x.len().min(y.len()) as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in x.iter().zip(&y) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx).powi(2);
        syy += (y - my).powi(2);
    }
    sxy / (sxx * syy).sqrt()
}

#[test]
fn held_out_seeds_draw_independent_traces() {
    // Nearby seeds (1..5, the development set) once started the generator's counter a few
    // steps apart, so their traces were shifted copies of one stream (noise correlation up
    // to 0.99): five seeds were worth about one.
    for family in Family::ALL {
        for (s, t) in [
            (1, 2),
            (2, 3),
            (3, 4),
            (4, 5),
            (1, 5),
            (101, 102),
            (201, 202),
        ] {
            let r = noise_correlation(
                &heldout::generate(family, 2.0 * DAY, s),
                &heldout::generate(family, 2.0 * DAY, t),
            );
            assert!(
                r.abs() < 0.1,
                "{} seeds {s} and {t}: noise correlation {r:.3}",
                family.name()
            );
        }
    }
}

#[test]
fn the_slo_floor_is_what_no_autoscaler_avoids() {
    let arena = arena(1);
    let flat = |rate: f64| {
        let points = (0..240)
            .map(|i| clip_scaling_policy::sim::TracePoint {
                at_secs: f64::from(i) * 15.0,
                request_rate: rate,
                queue_arrivals: 0.0,
            })
            .collect();
        Scenario::from_trace(Trace {
            name: format!("flat {rate}"),
            points,
        })
    };
    // 20 instances serve 20 * 150 * 0.85 = 2 550 req/s within the SLO: above it, every tick
    // of the hour (240 ticks of 15 s) is beyond any autoscaler.
    assert!((arena.slo_floor(&flat(2_600.0)) - 60.0).abs() < 1e-9);
    // The 3 initial instances serve 382.5: at 400 req/s the first 90 s (until the first
    // decision's instances serve: 15 s to act, 60 s start-up, 10 s readiness) violate.
    assert!((arena.slo_floor(&flat(400.0)) - 1.5).abs() < 1e-9);
    assert_eq!(arena.slo_floor(&flat(300.0)), 0.0);
    // A lower bound indeed: every autoscaler's minutes include it.
    for scenario in [
        flat(2_600.0),
        flat(400.0),
        Scenario::builtin(Shape::Ramp, DAY, 0..1),
        Scenario::builtin(Shape::Spike, DAY, 0..1),
    ] {
        let floor = arena.slo_floor(&scenario);
        for row in arena.compare(&scenario, &Contender::ALL) {
            assert!(
                row.mean.slo_violation_minutes >= floor - 1e-9,
                "{row} below the floor {floor}"
            );
        }
    }
}
