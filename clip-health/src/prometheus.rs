//! The Prometheus recorder: explicit histogram buckets (never summaries), recommended naming,
//! metric descriptions, and the periodic upkeep its histograms need.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::HealthError;

/// Buckets of every `*_seconds` histogram: 5 ms to 10 s, with edges at the guide's
/// thresholds (500 ms to scale down, 2 s for the p95 target and to scale up).
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0,
];

/// Buckets of every `*_bytes` histogram: 1 KiB to 64 MiB, by powers of four.
pub const BYTES_BUCKETS: &[f64] = &[
    1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0, 67108864.0,
];

/// Buckets of any other histogram (counts, sizes without a unit): powers of two up to 4096.
pub const DEFAULT_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0,
];

/// How often [`install`] runs the recorder's upkeep (draining histogram samples recorded between scrapes).
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// A `PrometheusBuilder` with this crate's buckets and naming; add your own settings, then
/// build or install it. Use [`install`] unless you combine recorders.
pub fn builder() -> Result<PrometheusBuilder, HealthError> {
    Ok(PrometheusBuilder::new()
        .with_recommended_naming(true)
        .set_buckets(DEFAULT_BUCKETS)?
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DURATION_BUCKETS)?
        .set_buckets_for_metric(Matcher::Suffix("_bytes".into()), BYTES_BUCKETS)?)
}

/// Installs the global Prometheus recorder (once per process), describes this crate's metrics,
/// and schedules the recorder's upkeep every [`UPKEEP_INTERVAL`] (on the current tokio runtime,
/// else on a thread of its own). Pass the handle to [`crate::axum::router`] to serve `/metrics`.
pub fn install() -> Result<PrometheusHandle, HealthError> {
    let handle = builder()?.install_recorder()?;
    INSTALLED.store(true, Ordering::Release);
    describe();
    spawn_upkeep(handle.clone());
    Ok(handle)
}

/// Set once [`install`] has installed the global recorder (which happens at most once).
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Which recorder metric handles resolve against: 0 before [`install`], 1 after. Caches of
/// handles keep one slot per generation, so handles made before `install` (against the no-op
/// recorder) are not kept after it.
#[cfg(feature = "axum")]
pub(crate) fn recorder_generation() -> usize {
    usize::from(INSTALLED.load(Ordering::Acquire))
}

fn spawn_upkeep(handle: PrometheusHandle) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    handle.run_upkeep();
                }
            });
        }
        Err(_) => {
            let spawned = std::thread::Builder::new()
                .name("clip-health-metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_INTERVAL);
                        handle.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start the metrics upkeep thread; histograms are drained at scrape time only");
            }
        }
    }
}

/// Registers the help text and units of the metrics this crate records.
pub fn describe() {
    describe_counter!(
        "http_requests_total",
        Unit::Count,
        "HTTP requests answered, by method, route template and status code"
    );
    describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "Time from request to response headers, by method, route template and status code"
    );
    describe_gauge!(
        "http_requests_in_flight",
        Unit::Count,
        "HTTP requests being handled now"
    );
    // Percent gauges get no unit: the exporter would rename them to `_ratio`.
    describe_gauge!(
        "clip_process_cpu_usage_percent",
        "CPU used by this process over the last 15 s, in percent of its CPU limit (cgroup quota, else available CPUs)"
    );
    describe_gauge!(
        "clip_process_memory_usage_percent",
        "Resident memory of this process, in percent of its memory limit (cgroup, else RAM)"
    );
    describe_gauge!(
        "clip_process_resident_memory_bytes",
        Unit::Bytes,
        "Resident memory of this process"
    );
    describe_gauge!(
        "clip_process_cpu_limit_cores",
        "CPU limit of this process's cgroup, in cores"
    );
    describe_gauge!(
        "clip_process_memory_limit_bytes",
        Unit::Bytes,
        "Memory limit of this process's cgroup"
    );
}
