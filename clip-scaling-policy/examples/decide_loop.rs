//! Calls `decide` in a loop on a state with three days of history, for measuring one call on a
//! busy machine where wall-clock benches are noise: CPU time with `perf stat -e task-clock`,
//! or instructions with `valgrind --tool=callgrind`, at N and at 0 calls (the difference is
//! the loop; the rest is building the history).
//!
//! ```text
//! cargo build --release -p clip-scaling-policy --example decide_loop
//! perf stat -e task-clock target/release/examples/decide_loop tracking 500000
//! perf stat -e task-clock target/release/examples/decide_loop tracking 0
//! valgrind --tool=callgrind target/release/examples/decide_loop tracking 10000 58
//! ```
//!
//! An optional third argument is the CPU of the sample decided on (45 by default: a hold).

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clip_scaling_policy::{Metrics, ScalingConfig, ScalingMode, ScalingPolicy, ScalingState};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn sample(cpu: f64) -> Metrics {
    Metrics {
        cpu_percent: Some(cpu),
        memory_percent: Some(30.0),
        request_rate: Some(cpu * 1.5),
        queue_length: Some(5.0),
        p95_response_time: Some(Duration::from_millis(300)),
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mode = match args.next().as_deref() {
        Some("guide") => ScalingMode::Guide,
        Some("tracking") => ScalingMode::Tracking,
        _ => {
            eprintln!("usage: decide_loop guide|tracking CALLS");
            return ExitCode::FAILURE;
        }
    };
    let Some(calls) = args.next().and_then(|n| n.parse::<u64>().ok()) else {
        eprintln!("usage: decide_loop guide|tracking CALLS (a whole number) [CPU]");
        return ExitCode::FAILURE;
    };
    // The sample decided on: 45 % holds; 58 % is a rise, for which the surge term also reads
    // the window before its span (it is short of a surge).
    let cpu = match args.next().map(|c| c.parse::<f64>()) {
        None => 45.0,
        Some(Ok(c)) if c.is_finite() && c >= 0.0 => c,
        Some(_) => {
            eprintln!("usage: decide_loop guide|tracking CALLS [CPU] (CPU a percentage)");
            return ExitCode::FAILURE;
        }
    };
    let config = ScalingConfig {
        mode,
        max_instances: 1_000,
        ..ScalingConfig::default()
    };
    let policy = match ScalingPolicy::new(config) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("decide_loop: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Three days, a decision every 15 s, a daily burst and a little noise: every demand
    // bucket, the ready ring and the seasonal history are full.
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
    let mut targets = 0u64;
    for _ in 0..calls {
        let d = policy.decide(black_box(&sample(cpu)), black_box(&state), at(now));
        targets += u64::from(d.target);
    }
    println!("{targets}");
    ExitCode::SUCCESS
}
