//! The app's own metrics (the crates export `clip_pool_*`, `clip_cdn_*`, the RED series and
//! the process gauges): names, descriptions, and the handles the hot paths keep.
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `clip_jobs_pending` | gauge | jobs waiting in the queue, fleet-wide (same on every instance: aggregate with max) |
//! | `clip_jobs_running` | gauge | jobs this instance runs now |
//! | `clip_job_duration_seconds{kind}` | histogram | wall time of finished attempts |
//! | `clip_jobs_completed_total{kind}` | counter | jobs that succeeded here |
//! | `clip_jobs_failed_total{kind,reason}` | counter | failed attempts: `invalid_input`, `transient`, `dead`, `lease_lost`, `lease_expired`, `timeout`, `cancelled` |
//! | `clip_app_info{instance,version}` | gauge = 1 | which instance this is |
//! | `process_cpu_seconds_total` | gauge | CPU seconds used by the process (take its `rate()`) |
//! | `process_resident_memory_bytes` | gauge | resident memory |
//! | `clip_img_cache_hits_total` / `clip_img_cache_misses_total` | counters | `/img` answers from memory, and renders or reads |
//! | `clip_http_shed_total{reason}` | counter | requests refused by overload protection: `overload` (MAX_CONCURRENT_REQUESTS), `rate_limit` |

use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusHandle};

use crate::Error;

use crate::jobs::JobKind;
use crate::jobs::stats::stats;

/// Jobs waiting fleet-wide.
pub const JOBS_PENDING: &str = "clip_jobs_pending";
/// Jobs running on this instance.
pub const JOBS_RUNNING: &str = "clip_jobs_running";
/// Wall time of finished attempts.
pub const JOB_DURATION: &str = "clip_job_duration_seconds";
/// Succeeded jobs.
pub const JOBS_COMPLETED: &str = "clip_jobs_completed_total";
/// Failed attempts, by reason.
pub const JOBS_FAILED: &str = "clip_jobs_failed_total";
/// Instance identity.
pub const APP_INFO: &str = "clip_app_info";
/// CPU seconds of the process.
pub const PROCESS_CPU_SECONDS: &str = "process_cpu_seconds_total";
/// RSS of the process.
pub const PROCESS_RESIDENT_MEMORY: &str = "process_resident_memory_bytes";
/// `/img` cache hits.
pub const IMG_CACHE_HITS: &str = "clip_img_cache_hits_total";
/// `/img` cache misses.
pub const IMG_CACHE_MISSES: &str = "clip_img_cache_misses_total";
/// Requests refused by overload protection.
pub const HTTP_SHED: &str = "clip_http_shed_total";

/// Buckets of `clip_job_duration_seconds`: from an image's renditions (a tenth of a second)
/// to the clips of an hour-long video (clip-health's `*_seconds` buckets stop at 10 s).
pub const JOB_DURATION_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// How often the recorder's upkeep runs (as clip-health's `install` does it).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Installs the global Prometheus recorder (once per process): clip-health's buckets and
/// names, plus the job durations' buckets; its metrics described and its upkeep scheduled
/// on the current tokio runtime, if any.
pub fn install_recorder() -> Result<PrometheusHandle, Error> {
    let handle = clip_health::prometheus::builder()
        .and_then(|b| {
            Ok(b.set_buckets_for_metric(
                Matcher::Full(JOB_DURATION.to_owned()),
                JOB_DURATION_BUCKETS,
            )?)
        })
        .and_then(|b| Ok(b.install_recorder()?))
        .map_err(Error::Health)?;
    clip_health::prometheus::describe();
    let upkeep = handle.clone();
    // Outside a runtime the histograms are drained at scrape time only.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(UPKEEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                upkeep.run_upkeep();
            }
        });
    }
    Ok(handle)
}

/// Why a job attempt failed, as the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// The input cannot be processed: the job failed for good.
    InvalidInput,
    /// A transient error: the job is queued again.
    Transient,
    /// A transient error on the last attempt: the job is dead.
    Dead,
    /// This worker's lease ran out while it worked.
    LeaseLost,
    /// The job's worker died; found by the lease reaper.
    LeaseExpired,
    /// The job ran past its kind's wall-clock limit (`VIDEO_JOB_TIMEOUT`).
    Timeout,
    /// `DELETE /api/jobs/{id}` stopped it while it ran.
    Cancelled,
}

impl FailureReason {
    fn as_str(self) -> &'static str {
        match self {
            FailureReason::InvalidInput => "invalid_input",
            FailureReason::Transient => "transient",
            FailureReason::Dead => "dead",
            FailureReason::LeaseLost => "lease_lost",
            FailureReason::LeaseExpired => "lease_expired",
            FailureReason::Timeout => "timeout",
            FailureReason::Cancelled => "cancelled",
        }
    }
}

/// Describes the app's metrics and sets `clip_app_info`. Call once the recorder is installed.
pub fn describe(instance: &str) {
    metrics::describe_gauge!(
        JOBS_PENDING,
        Unit::Count,
        "Jobs waiting in the queue, fleet-wide (aggregate with max, never sum)"
    );
    metrics::describe_gauge!(
        JOBS_RUNNING,
        Unit::Count,
        "Jobs this instance is running now"
    );
    metrics::describe_histogram!(
        JOB_DURATION,
        Unit::Seconds,
        "Wall time of finished job attempts, by kind"
    );
    metrics::describe_counter!(
        JOBS_COMPLETED,
        Unit::Count,
        "Jobs that succeeded on this instance, by kind"
    );
    metrics::describe_counter!(
        JOBS_FAILED,
        Unit::Count,
        "Failed job attempts, by kind and reason"
    );
    metrics::describe_gauge!(
        APP_INFO,
        "Always 1; labels identify the instance and its version"
    );
    metrics::describe_gauge!(
        PROCESS_CPU_SECONDS,
        "CPU time used by the process (user + system), in seconds"
    );
    metrics::describe_gauge!(
        PROCESS_RESIDENT_MEMORY,
        Unit::Bytes,
        "Resident memory of the process"
    );
    metrics::describe_counter!(
        IMG_CACHE_HITS,
        Unit::Count,
        "/img answers served from the in-memory cache"
    );
    metrics::describe_counter!(
        IMG_CACHE_MISSES,
        Unit::Count,
        "/img answers read from storage or rendered"
    );
    metrics::describe_counter!(
        HTTP_SHED,
        Unit::Count,
        "Requests refused by overload protection, by reason"
    );
    metrics::gauge!(APP_INFO, "instance" => instance.to_owned(), "version" => env!("CARGO_PKG_VERSION"))
        .set(1.0);
}

/// Handles of the job metrics of one kind.
#[derive(Clone)]
pub struct JobMetrics {
    kind: &'static str,
    running: Gauge,
    duration: Histogram,
    completed: Counter,
}

impl JobMetrics {
    /// Handles for `kind`.
    pub fn new(kind: JobKind) -> Self {
        let kind = kind.as_str();
        // Every series exists from the start, so `rate()` sees the first failure.
        for reason in [
            FailureReason::InvalidInput,
            FailureReason::Transient,
            FailureReason::Dead,
            FailureReason::LeaseLost,
            FailureReason::LeaseExpired,
            FailureReason::Timeout,
            FailureReason::Cancelled,
        ] {
            metrics::counter!(JOBS_FAILED, "kind" => kind, "reason" => reason.as_str()).absolute(0);
        }
        Self {
            kind,
            running: metrics::gauge!(JOBS_RUNNING),
            duration: metrics::histogram!(JOB_DURATION, "kind" => kind),
            completed: metrics::counter!(JOBS_COMPLETED, "kind" => kind),
        }
    }

    /// An attempt started.
    pub fn started(&self) {
        self.running.increment(1.0);
        stats().started(self.kind);
    }

    /// An attempt ended after `took`.
    pub fn ended(&self, took: Duration) {
        self.running.decrement(1.0);
        self.duration.record(took.as_secs_f64());
        stats().ended(self.kind, took.as_secs_f64());
    }

    /// A job succeeded.
    pub fn completed(&self) {
        self.completed.increment(1);
        stats().completed(self.kind);
    }

    /// An attempt failed.
    pub fn failed(&self, reason: FailureReason) {
        failed(self.kind, reason);
    }
}

/// Counts a failed attempt of `kind`.
pub fn failed(kind: &'static str, reason: FailureReason) {
    metrics::counter!(JOBS_FAILED, "kind" => kind, "reason" => reason.as_str()).increment(1);
    stats().failed(kind, reason.as_str());
}

/// Counts a request refused by overload protection.
pub fn shed(reason: &'static str) {
    metrics::counter!(HTTP_SHED, "reason" => reason).increment(1);
}

/// How often the process counters are refreshed.
const PROCESS_SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Keeps `process_cpu_seconds_total` and `process_resident_memory_bytes` current (the
/// Prometheus names the autoscaler reads) until `stop`. clip-health's scrape handler sets
/// its `clip_process_*` gauges itself.
pub fn spawn_process_sampler(
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let cpu = metrics::gauge!(PROCESS_CPU_SECONDS);
    let rss = metrics::gauge!(PROCESS_RESIDENT_MEMORY);
    let process = clip_health::process::ProcessMetrics::new();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PROCESS_SAMPLE_EVERY);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {
                    let sample = process.sample();
                    if let Some(seconds) = sample.cpu_seconds_total {
                        cpu.set(seconds);
                    }
                    if let Some(bytes) = sample.resident_memory_bytes {
                        rss.set(bytes as f64);
                    }
                }
            }
        }
    })
}
