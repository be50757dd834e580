//! The decision loop's cost per tick with 20 instances, scrape parsing included: parse 20
//! `/metrics` pages (a real clip-app page, captured in testdata/), aggregate them against the
//! previous round, decide. The network is left out: it is the instances' time, not ours.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use clip_autoscaler::aggregate::Aggregator;
use clip_autoscaler::decide::decide;
use clip_autoscaler::sample::InstanceSample;
use clip_scaling_policy::{ScalingConfig, ScalingPolicy, ScalingState};
use criterion::{Criterion, criterion_group, criterion_main};

/// A clip-app instance's `/metrics` after some traffic (see testdata/README.md).
const PAGE: &str = include_str!("../testdata/app-metrics.txt");
const INSTANCES: usize = 20;

/// The page with its request counters moved on by `round` (so every round has deltas).
fn page_at(round: u64) -> String {
    PAGE.lines()
        .map(|line| {
            if line.starts_with("http_request")
                && let Some((series, value)) = line.rsplit_once(' ')
                && let Ok(v) = value.parse::<f64>()
            {
                return format!("{series} {}", v + (round * 17) as f64);
            }
            line.to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn tick(c: &mut Criterion) {
    let ids: Vec<String> = (0..INSTANCES)
        .map(|i| format!("local-{}", 4001 + i))
        .collect();
    let before = page_at(0);
    let after = page_at(1);
    let policy = ScalingPolicy::new(ScalingConfig::default()).unwrap();
    let state = ScalingState::new(INSTANCES as u32);
    let t0 = Instant::now();

    // Sanity: the page is the app's, and a round yields every metric.
    let mut agg = Aggregator::new();
    agg.update(
        t0,
        ids.iter().map(|id| {
            (
                id.as_str(),
                InstanceSample::parse(&before).map_err(|e| e.to_string()),
            )
        }),
    );
    let fleet = agg.update(
        t0 + Duration::from_secs(15),
        ids.iter().map(|id| {
            (
                id.as_str(),
                InstanceSample::parse(&after).map_err(|e| e.to_string()),
            )
        }),
    );
    assert!(fleet.metrics.request_rate.is_some() && fleet.metrics.p95_response_time.is_some());

    c.bench_function("tick_20_instances_parse_aggregate_decide", |b| {
        let mut agg = Aggregator::new();
        agg.update(
            t0,
            ids.iter().map(|id| {
                (
                    id.as_str(),
                    InstanceSample::parse(&before).map_err(|e| e.to_string()),
                )
            }),
        );
        let mut at = t0;
        b.iter(|| {
            at += Duration::from_secs(15);
            let fleet = agg.update(
                at,
                ids.iter().map(|id| {
                    (
                        id.as_str(),
                        InstanceSample::parse(black_box(&after)).map_err(|e| e.to_string()),
                    )
                }),
            );
            black_box(decide(&policy, &state, &fleet, SystemTime::now()))
        });
    });

    c.bench_function("parse_one_app_metrics_page", |b| {
        b.iter(|| InstanceSample::parse(black_box(&after)))
    });
}

criterion_group!(benches, tick);
criterion_main!(benches);
