//! Criterion benches: `decide` on a state with a full history, in guide and tracking mode, and
//! a week of 15 s decisions through the simulator (both modes and the HPA baseline).
//!
//! `cargo bench -p clip-scaling-policy --bench decide`

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clip_scaling_policy::sim::{self, CapacityModel, HpaBaseline, PolicyAutoscaler, Shape, Trace};
use clip_scaling_policy::{
    Driver, Metrics, Rule, ScalingConfig, ScalingMode, ScalingPolicy, ScalingState,
};
use criterion::{Criterion, criterion_group, criterion_main};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn sample(cpu: f64) -> Metrics {
    Metrics {
        cpu_percent: Some(cpu),
        memory_percent: Some(30.0),
        request_rate: Some(20.0),
        queue_length: Some(5.0),
        p95_response_time: Some(Duration::from_millis(300)),
    }
}

/// A large fleet whose stabilization window is as full as it gets: one decision a second for
/// the whole window, each recommending less than the one before, and a full event ring.
fn full_history(policy: &ScalingPolicy) -> (ScalingState, u64) {
    let mut state = ScalingState::new(500);
    let mut now = 0;
    for i in 0..400u32 {
        // Events: alternate up and down far in the past to fill the ring.
        let cpu = if i % 2 == 0 { 95.0 } else { 5.0 };
        let d = policy.decide(&sample(cpu), &state, at(now));
        state.record(&d, at(now));
        state.set_current(500);
        now += 400;
    }
    for i in 0..300u32 {
        let d = policy.decide(&sample(200.0 - f64::from(i) * 0.4), &state, at(now));
        state.record(&d, at(now));
        state.set_current(500);
        now += 1;
    }
    (state, now)
}

fn decide(c: &mut Criterion) {
    let config = ScalingConfig {
        max_instances: 1_000,
        ..ScalingConfig::default()
    };
    let policy = ScalingPolicy::new(config).expect("valid");
    let (state, now) = full_history(&policy);
    let mut group = c.benchmark_group("decide");
    group.bench_function("scale_down_path_full_history", |b| {
        b.iter(|| policy.decide(black_box(&sample(5.0)), black_box(&state), at(now)))
    });
    group.bench_function("scale_up_path_full_history", |b| {
        b.iter(|| policy.decide(black_box(&sample(95.0)), black_box(&state), at(now + 120)))
    });
    group.finish();
}

/// A tracking state as full as it gets: three days of decisions 15 s apart (every demand
/// bucket, the ready ring and every minute of seasonal history filled), a daily burst.
fn tracking_history(policy: &ScalingPolicy) -> (ScalingState, u64) {
    let mut state = ScalingState::new(10);
    let mut now = 0;
    for tick in 0..3 * 5_760u64 {
        let burst = (2_400..2_440).contains(&(tick % 5_760));
        let cpu = if burst { 95.0 } else { 45.0 } + (tick % 7) as f64;
        state.set_ready(Some(state.current()));
        let d = policy.decide(&sample(cpu), &state, at(now));
        state.record(&d, at(now));
        now += 15;
    }
    (state, now)
}

fn decide_tracking(c: &mut Criterion) {
    let policy = ScalingPolicy::new(ScalingConfig {
        mode: ScalingMode::Tracking,
        ..ScalingConfig::default()
    })
    .expect("valid");
    let (state, now) = tracking_history(&policy);
    let mut group = c.benchmark_group("decide_tracking");
    group.bench_function("hold_full_history", |b| {
        b.iter(|| policy.decide(black_box(&sample(45.0)), black_box(&state), at(now)))
    });
    group.bench_function("scale_up_full_history", |b| {
        b.iter(|| policy.decide(black_box(&sample(99.0)), black_box(&state), at(now)))
    });
    // A minute before the next daily burst: the seasonal forecast is looked up and acts.
    let before_burst = now + 2_400 * 15 - 60;
    let d = policy.decide(&sample(45.0), &state, at(before_burst));
    assert_eq!(
        d.reasons.rule,
        Rule::Tracking {
            driver: Driver::Seasonal
        },
        "{d}"
    );
    group.bench_function("seasonal_forecast_full_history", |b| {
        b.iter(|| {
            policy.decide(
                black_box(&sample(45.0)),
                black_box(&state),
                at(before_burst),
            )
        })
    });
    group.finish();
}

fn week(c: &mut Criterion) {
    let config = ScalingConfig::default();
    let model = CapacityModel::default();
    let trace = Trace::builtin(Shape::Diurnal, 7.0 * 86_400.0, 15.0);
    let mut group = c.benchmark_group("simulate_week_15s");
    group.sample_size(20);
    group.bench_function("policy", |b| {
        b.iter(|| {
            let policy = ScalingPolicy::new(config.clone()).expect("valid");
            let mut ours = PolicyAutoscaler::new(policy, 3);
            sim::simulate(black_box(&trace), &model, &mut ours)
                .report
                .decisions
        })
    });
    group.bench_function("tracking", |b| {
        b.iter(|| {
            let policy = ScalingPolicy::new(ScalingConfig {
                mode: ScalingMode::Tracking,
                ..config.clone()
            })
            .expect("valid");
            let mut ours = PolicyAutoscaler::new(policy, 3);
            sim::simulate(black_box(&trace), &model, &mut ours)
                .report
                .decisions
        })
    });
    group.bench_function("hpa_baseline", |b| {
        b.iter(|| {
            let mut hpa = HpaBaseline::kubernetes_default();
            sim::simulate(black_box(&trace), &model, &mut hpa)
                .report
                .decisions
        })
    });
    group.finish();
}

criterion_group!(benches, decide, decide_tracking, week);
criterion_main!(benches);
