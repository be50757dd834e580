//! The advisory scaling verdict of `/api/admin/scaling`: clip-scaling-policy's `decide` on
//! this instance's own metrics (CPU, memory, request rate, p95 over the last window, the
//! fleet's queue length), as if every instance of a fleet of `MIN_INSTANCES` looked like
//! this one. The autoscaler decides for the real fleet; this shows an operator what the
//! policy makes of one instance, with its reasons, and the verdicts that changed lately.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use clip_health::process::ProcessMetrics;
use clip_health::prometheus::DURATION_BUCKETS;
use clip_scaling_policy::{Action, Decision, Metrics, ScalingConfig, ScalingPolicy, ScalingState};
use serde::Serialize;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::jobs::Queue;

/// How often the verdict is recomputed (the autoscaler's default interval).
pub const EVALUATE_EVERY: Duration = Duration::from_secs(15);
/// How many changes of verdict are kept.
const HISTORY: usize = 50;

/// Requests answered and their latencies, by histogram bucket, since the process started.
#[derive(Debug, Default)]
pub struct RequestWindow {
    /// One counter per bucket of `DURATION_BUCKETS`, plus one above the last edge.
    buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
}

impl RequestWindow {
    fn record(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|&edge| seconds <= edge)
            .unwrap_or(DURATION_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Relaxed);
    }

    /// The count of each bucket so far (the dashboard takes its own deltas).
    pub fn snapshot(&self) -> [u64; DURATION_BUCKETS.len() + 1] {
        std::array::from_fn(|i| self.buckets[i].load(Relaxed))
    }
}

/// Middleware counting every request into the window (next to the RED layer).
pub async fn count_requests(
    State(window): State<Arc<RequestWindow>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    window.record(started.elapsed());
    response
}

/// The metrics a verdict was made from (`None`: not measurable, never zero).
#[derive(Debug, Clone, Serialize)]
pub struct Observed {
    /// CPU of this process over the window, % of its limit.
    pub cpu_percent: Option<f64>,
    /// Resident memory, % of its limit.
    pub memory_percent: Option<f64>,
    /// Requests per second over the window.
    pub request_rate: Option<f64>,
    /// Jobs waiting, fleet-wide.
    pub queue_length: Option<f64>,
    /// 95th percentile response time over the window, ms (bucket-interpolated).
    pub p95_ms: Option<f64>,
    /// The window, seconds.
    pub window_seconds: f64,
}

/// One evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What it saw.
    pub observed: Observed,
    /// The verdict in one line.
    pub summary: String,
    /// The verdict with every reading and limit.
    pub decision: Decision,
}

/// What `/api/admin/scaling` shows.
#[derive(Debug, Clone, Serialize)]
pub struct AdvisorReport {
    /// The fleet size the verdict assumes (`MIN_INSTANCES`).
    pub assumed_instances: u32,
    /// The latest evaluation.
    pub latest: Option<Evaluation>,
    /// Recent changes of verdict, newest first.
    pub events: Vec<Evaluation>,
    /// How often it is recomputed, seconds.
    pub interval_seconds: u64,
}

struct Window {
    at: Instant,
    buckets: [u64; DURATION_BUCKETS.len() + 1],
}

struct AdvisorState {
    previous: Window,
    latest: Option<Evaluation>,
    events: VecDeque<Evaluation>,
}

/// Evaluates the policy on this instance's metrics.
pub struct ScalingAdvisor {
    policy: ScalingPolicy,
    fleet: ScalingState,
    window: Arc<RequestWindow>,
    process: ProcessMetrics,
    queue: Queue,
    state: Mutex<AdvisorState>,
}

impl std::fmt::Debug for ScalingAdvisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScalingAdvisor").finish_non_exhaustive()
    }
}

impl ScalingAdvisor {
    /// An advisor for `config`, reading requests from `window` and the queue length from `queue`.
    pub fn new(
        config: ScalingConfig,
        window: Arc<RequestWindow>,
        queue: Queue,
    ) -> Result<Self, Error> {
        let assumed = config.min_instances.max(1);
        let policy = ScalingPolicy::new(config).map_err(Error::Scaling)?;
        let process = ProcessMetrics::new();
        process.sample(); // starts its CPU window
        Ok(Self {
            policy,
            fleet: ScalingState::new(assumed),
            state: Mutex::new(AdvisorState {
                previous: Window {
                    at: Instant::now(),
                    buckets: window.snapshot(),
                },
                latest: None,
                events: VecDeque::with_capacity(HISTORY),
            }),
            window,
            process,
            queue,
        })
    }

    /// Measures the window since the previous evaluation and decides.
    pub fn evaluate(&self) -> Evaluation {
        let now = Instant::now();
        let buckets = self.window.snapshot();
        let sample = self.process.sample();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = now.duration_since(state.previous.at).as_secs_f64();
        let delta: Vec<u64> = buckets
            .iter()
            .zip(state.previous.buckets.iter())
            .map(|(now, before)| now.saturating_sub(*before))
            .collect();
        let requests: u64 = delta.iter().sum();
        let observed = Observed {
            cpu_percent: sample.cpu_usage_percent,
            memory_percent: sample.memory_usage_percent,
            request_rate: (elapsed > 0.0).then(|| requests as f64 / elapsed),
            queue_length: self.queue.pending().map(|n| n as f64),
            p95_ms: p95_seconds(&delta).map(|s| s * 1000.0),
            window_seconds: elapsed,
        };
        let metrics = Metrics {
            cpu_percent: observed.cpu_percent,
            memory_percent: observed.memory_percent,
            request_rate: observed.request_rate,
            queue_length: observed.queue_length,
            p95_response_time: observed
                .p95_ms
                .map(|ms| Duration::from_secs_f64(ms / 1000.0)),
        };
        let decision = self.policy.decide(&metrics, &self.fleet, SystemTime::now());
        let evaluation = Evaluation {
            at: OffsetDateTime::now_utc(),
            observed,
            summary: decision.to_string(),
            decision,
        };
        // An event is a change of verdict (the first one counts unless it is to hold).
        let changed = match &state.latest {
            None => evaluation.decision.action != Action::Hold,
            Some(last) => {
                last.decision.action != evaluation.decision.action
                    || last.decision.target != evaluation.decision.target
            }
        };
        if changed {
            if state.events.len() == HISTORY {
                state.events.pop_back();
            }
            state.events.push_front(evaluation.clone());
        }
        state.previous = Window { at: now, buckets };
        state.latest = Some(evaluation.clone());
        evaluation
    }

    /// The latest evaluation (made now if there is none yet) and the recent changes.
    pub fn report(&self) -> AdvisorReport {
        let has_latest = self
            .state
            .lock()
            .map(|s| s.latest.is_some())
            .unwrap_or(false);
        if !has_latest {
            self.evaluate();
        }
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        AdvisorReport {
            assumed_instances: self.fleet.current(),
            latest: state.latest.clone(),
            events: state.events.iter().cloned().collect(),
            interval_seconds: EVALUATE_EVERY.as_secs(),
        }
    }

    /// Re-evaluates every [`EVALUATE_EVERY`] until `stop`.
    pub fn spawn(self: Arc<Self>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVALUATE_EVERY);
            tick.tick().await;
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => {
                        let e = self.evaluate();
                        tracing::debug!(verdict = %e.summary, "scaling advice");
                    }
                }
            }
        })
    }
}

/// The 95th percentile of a bucketed window, interpolated within its bucket as
/// Prometheus' `histogram_quantile` does; `None` without requests.
pub fn p95_seconds(buckets: &[u64]) -> Option<f64> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = 0.95 * total as f64;
    let mut below = 0u64;
    for (i, &count) in buckets.iter().enumerate() {
        if (below + count) as f64 >= rank && count > 0 {
            let lower = if i == 0 { 0.0 } else { DURATION_BUCKETS[i - 1] };
            // Above the last edge there is no upper bound: report the edge.
            let Some(&upper) = DURATION_BUCKETS.get(i) else {
                return Some(lower);
            };
            let within = (rank - below as f64) / count as f64;
            return Some(lower + (upper - lower) * within);
        }
        below += count;
    }
    DURATION_BUCKETS.last().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p95_interpolates_within_its_bucket() {
        let mut buckets = vec![0u64; DURATION_BUCKETS.len() + 1];
        assert_eq!(p95_seconds(&buckets), None);
        // 100 requests in the first bucket (0..5 ms): p95 at 95 % of it.
        buckets[0] = 100;
        let p = p95_seconds(&buckets).expect("requests");
        assert!((p - 0.00475).abs() < 1e-9, "{p}");
        // 90 fast, 10 between 1 s and 2 s: p95 in the middle of that bucket.
        buckets[0] = 90;
        let slow = DURATION_BUCKETS
            .iter()
            .position(|&e| e == 2.0)
            .expect("2 s edge");
        buckets[slow] = 10;
        let p = p95_seconds(&buckets).expect("requests");
        assert!((p - 1.5).abs() < 1e-9, "{p}");
    }
}
