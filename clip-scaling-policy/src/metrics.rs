//! The load sample the policy decides on, and the names of its five metrics.

use std::time::Duration;

/// One load sample of the fleet. Every field is an `Option`: a missing metric is not a zero.
///
/// A missing, NaN or negative value (negative infinity included) can never cause a scale-down;
/// a present value may still cause a scale-up on its own. `+inf` counts as far above any
/// threshold: it scales up, within the step policy and `MAX_INSTANCES`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Metrics {
    /// Fleet-average CPU usage over the ready instances, percent (0..100).
    pub cpu_percent: Option<f64>,
    /// Fleet-average memory usage over the ready instances, percent (0..100).
    pub memory_percent: Option<f64>,
    /// Requests per second per ready instance.
    pub request_rate: Option<f64>,
    /// Pending jobs in the processing queue, fleet total.
    pub queue_length: Option<f64>,
    /// 95th percentile response time.
    pub p95_response_time: Option<Duration>,
}

/// One of the five metrics of [`Metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum MetricKind {
    /// [`Metrics::cpu_percent`].
    CpuPercent,
    /// [`Metrics::memory_percent`].
    MemoryPercent,
    /// [`Metrics::request_rate`].
    RequestRate,
    /// [`Metrics::queue_length`].
    QueueLength,
    /// [`Metrics::p95_response_time`], in seconds.
    P95ResponseTime,
}

impl MetricKind {
    /// All five, in the order decisions report them.
    pub const ALL: [MetricKind; 5] = [
        MetricKind::CpuPercent,
        MetricKind::MemoryPercent,
        MetricKind::RequestRate,
        MetricKind::QueueLength,
        MetricKind::P95ResponseTime,
    ];

    /// Short name used in messages and in `SCALING_IGNORE_METRICS` (`cpu`, `memory`, `request_rate`,
    /// `queue_length`, `p95`).
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::CpuPercent => "cpu",
            MetricKind::MemoryPercent => "memory",
            MetricKind::RequestRate => "request_rate",
            MetricKind::QueueLength => "queue_length",
            MetricKind::P95ResponseTime => "p95",
        }
    }

    /// Unit of the value as reported in decisions.
    pub fn unit(self) -> &'static str {
        match self {
            MetricKind::CpuPercent | MetricKind::MemoryPercent => "%",
            MetricKind::RequestRate => " req/s",
            MetricKind::QueueLength => " jobs",
            MetricKind::P95ResponseTime => " s",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl Metrics {
    /// The raw value of one metric, p95 in seconds.
    pub fn get(&self, kind: MetricKind) -> Option<f64> {
        match kind {
            MetricKind::CpuPercent => self.cpu_percent,
            MetricKind::MemoryPercent => self.memory_percent,
            MetricKind::RequestRate => self.request_rate,
            MetricKind::QueueLength => self.queue_length,
            MetricKind::P95ResponseTime => self.p95_response_time.map(|d| d.as_secs_f64()),
        }
    }
}
