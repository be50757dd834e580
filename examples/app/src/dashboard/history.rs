//! The dashboard's recent past: every [`SAMPLE_EVERY`] a [`Sample`] of this instance (CPU,
//! memory, requests and their p95, the pool, the queue, the CDN), the last [`KEEP`] of them
//! kept in memory, so a dashboard opened now draws the last minutes at once.
//!
//! The sampler runs while the history is alive: it holds only a weak reference, so it
//! ends with the router that owns the history (the server stopped), without a signal of
//! its own.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use clip_health::process::ProcessMetrics;
use serde::Serialize;
use time::OffsetDateTime;

use crate::scaling::{RequestWindow, p95_seconds};
use crate::state::AppState;

/// Time between samples.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// Samples kept: six minutes.
pub const KEEP: usize = 180;

/// This instance at one moment; rates and p95 are over the time since the previous sample.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// When, milliseconds since the Unix epoch.
    pub t: i64,
    /// CPU of the process, % of what it may use.
    pub cpu_percent: Option<f64>,
    /// Resident memory, % of its limit.
    pub memory_percent: Option<f64>,
    /// Resident memory, bytes.
    pub rss_bytes: Option<u64>,
    /// Requests answered per second (health probes and metrics scrapes included).
    pub requests_per_second: Option<f64>,
    /// 95th percentile response time, ms (none without requests).
    pub p95_ms: Option<f64>,
    /// Requests in flight at the moment of the sample.
    pub in_flight: usize,
    /// Pool connections open.
    pub pool_connections: u32,
    /// Pool connections lent out.
    pub pool_in_use: u32,
    /// Pool connections idle.
    pub pool_idle: u32,
    /// Callers waiting for a connection.
    pub pool_waiting: u32,
    /// `in_use / max_connections`, 0..1.
    pub pool_utilization: f64,
    /// Acquire wait, p95 ms (the pool's own window).
    pub pool_wait_p95_ms: f64,
    /// Jobs waiting fleet-wide.
    pub jobs_pending: Option<u64>,
    /// Jobs running here.
    pub jobs_running: usize,
    /// CDN asset fetches per second.
    pub cdn_requests_per_second: Option<f64>,
    /// CDN memory-cache hit rate since start, 0..1.
    pub cdn_hit_rate: f64,
    /// The guide's "failed assets" (served by a fallback) since start.
    pub cdn_failed_assets: u64,
}

/// The samples, oldest first.
#[derive(Debug, Default)]
pub struct History {
    samples: Mutex<VecDeque<Sample>>,
}

impl History {
    /// A history of `app`, sampled from now on by a task of its own.
    pub fn start(app: AppState, window: Arc<RequestWindow>) -> Arc<Self> {
        let history = Arc::new(History::default());
        let mut sampler = Sampler::new(app, window);
        let weak: Weak<History> = Arc::downgrade(&history);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await; // the first tick is now; the first sample needs a window
            loop {
                tick.tick().await;
                let Some(history) = weak.upgrade() else {
                    return;
                };
                history.push(sampler.sample());
            }
        });
        history
    }

    fn push(&self, sample: Sample) {
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() == KEEP {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    /// The samples kept, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        samples.iter().cloned().collect()
    }
}

/// What one sample is measured against: the previous one's counters.
struct Sampler {
    app: AppState,
    window: Arc<RequestWindow>,
    process: ProcessMetrics,
    at: Instant,
    buckets: Vec<u64>,
    cdn_requests: u64,
}

impl Sampler {
    fn new(app: AppState, window: Arc<RequestWindow>) -> Self {
        let process = ProcessMetrics::new();
        process.sample(); // starts the CPU window
        Self {
            buckets: window.snapshot().to_vec(),
            cdn_requests: app.cdn.stats().requests,
            at: Instant::now(),
            app,
            window,
            process,
        }
    }

    fn sample(&mut self) -> Sample {
        let now = Instant::now();
        let elapsed = now.duration_since(self.at).as_secs_f64();
        let buckets = self.window.snapshot();
        let delta: Vec<u64> = buckets
            .iter()
            .zip(&self.buckets)
            .map(|(now, before)| now.saturating_sub(*before))
            .collect();
        let requests: u64 = delta.iter().sum();
        let process = self.process.sample();
        let pool = self.app.db.pool().stats();
        let cdn = self.app.cdn.stats();
        let per_second = |n: u64| (elapsed > 0.0).then(|| n as f64 / elapsed);
        let sample = Sample {
            t: (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64,
            cpu_percent: process.cpu_usage_percent,
            memory_percent: process.memory_usage_percent,
            rss_bytes: process.resident_memory_bytes,
            requests_per_second: per_second(requests),
            p95_ms: p95_seconds(&delta).map(|s| s * 1000.0),
            in_flight: self.app.requests_in_flight(),
            pool_connections: pool.connections,
            pool_in_use: pool.in_use,
            pool_idle: pool.idle,
            pool_waiting: pool.waiting,
            pool_utilization: pool.utilization,
            pool_wait_p95_ms: pool.acquire_wait.p95_ms,
            jobs_pending: self.app.queue.pending(),
            jobs_running: self.app.queue.running_here(),
            cdn_requests_per_second: per_second(cdn.requests.saturating_sub(self.cdn_requests)),
            cdn_hit_rate: cdn.hit_rate,
            cdn_failed_assets: cdn.failed_assets,
        };
        self.at = now;
        self.buckets = buckets.to_vec();
        self.cdn_requests = cdn.requests;
        sample
    }
}
