//! Helpers shared by the integration tests: a fixed clock and typical samples.
#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clip_scaling_policy::{Metrics, ScalingConfig, ScalingPolicy};

/// A fixed instant plus `secs` seconds, so tests never read the clock.
pub fn at(secs: f64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_secs_f64(secs)
}

/// Every metric inside its band (no rule fires).
pub fn mid() -> Metrics {
    Metrics {
        cpu_percent: Some(50.0),
        memory_percent: Some(60.0),
        request_rate: Some(60.0),
        queue_length: Some(20.0),
        p95_response_time: Some(Duration::from_millis(1000)),
    }
}

/// Every metric just below its scale-down threshold.
pub fn quiet() -> Metrics {
    Metrics {
        cpu_percent: Some(34.9),
        memory_percent: Some(39.9),
        request_rate: Some(29.9),
        queue_length: Some(9.0),
        p95_response_time: Some(Duration::from_millis(499)),
    }
}

/// Every metric at zero.
pub fn idle() -> Metrics {
    Metrics {
        cpu_percent: Some(0.0),
        memory_percent: Some(0.0),
        request_rate: Some(0.0),
        queue_length: Some(0.0),
        p95_response_time: Some(Duration::ZERO),
    }
}

/// The policy with the guide's defaults.
pub fn policy() -> ScalingPolicy {
    ScalingPolicy::new(ScalingConfig::default()).expect("defaults are valid")
}

/// [`mid`] with one change: the sample a test is about.
pub fn with(f: impl FnOnce(&mut Metrics)) -> Metrics {
    let mut m = mid();
    f(&mut m);
    m
}

/// A fleet serving `rate` req/s per ready instance, as the simulator's model reports it:
/// capacity 150 req/s, CPU in proportion, memory 25 % + 30 % of the load, p95 0.3 s / (1 - u),
/// an empty queue.
pub fn served(rate: f64) -> Metrics {
    let u = rate / 150.0;
    let busy = u.min(1.0);
    let p95 = if u < 1.0 {
        (0.3 / (1.0 - u)).min(30.0)
    } else {
        30.0
    };
    Metrics {
        cpu_percent: Some(100.0 * busy),
        memory_percent: Some(25.0 + 30.0 * busy),
        request_rate: Some(rate),
        queue_length: Some(0.0),
        p95_response_time: Some(Duration::from_secs_f64(p95)),
    }
}

/// The policy in tracking mode, with the tracking defaults.
pub fn tracking() -> ScalingPolicy {
    ScalingPolicy::new(ScalingConfig {
        mode: clip_scaling_policy::ScalingMode::Tracking,
        ..ScalingConfig::default()
    })
    .expect("defaults are valid")
}
