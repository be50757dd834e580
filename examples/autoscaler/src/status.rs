//! The JSON of `GET /status`. Field names are stable (the app's dashboard and
//! `scripts/load-test.sh` read them); new fields may be added.

use std::time::SystemTime;

use clip_scaling_policy::{MetricKind, ScalingConfig};
use serde::Serialize;

use crate::actuator::{ActuatorStatus, Phase};
use crate::record::{DecisionRecord, EventRecord};

/// `GET /status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// `leader` (deciding and acting) or `passive` (waiting for the lock).
    pub role: &'static str,
    /// The lock that elects the leader.
    pub leader_lock: String,
    /// When this process started.
    #[serde(with = "crate::time::text")]
    pub started_at: SystemTime,
    /// Seconds between ticks.
    pub interval_seconds: f64,
    /// Ticks run as leader by this process.
    pub ticks: u64,
    /// The last tick.
    pub last_tick: Option<TickReport>,
    /// Instance counts and the instances.
    pub instances: InstancesReport,
    /// The aggregated metrics of the last tick.
    pub metrics: MetricsReport,
    /// The last decision, with its reasons.
    pub last_decision: Option<DecisionRecord>,
    /// The cooldown clocks.
    pub cooldowns: CooldownsReport,
    /// The manual override in force, if any.
    #[serde(rename = "override")]
    pub manual_override: Option<OverrideReport>,
    /// Recent scaling events, newest first.
    pub events: Vec<EventRecord>,
    /// What the actuator is doing.
    pub actuator: ActuatorStatus,
    /// The policy's settings.
    pub policy: PolicyReport,
}

/// One tick.
#[derive(Debug, Clone, Serialize)]
pub struct TickReport {
    /// When it started.
    #[serde(with = "crate::time::text")]
    pub at: SystemTime,
    /// How long it took, ms.
    pub duration_ms: f64,
    /// What went wrong, if anything (the actuator could not observe, ...).
    pub error: Option<String>,
}

/// Instance counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InstancesReport {
    /// Ready plus starting: the fleet's size for the policy.
    pub current: u32,
    /// Ready and receiving traffic.
    pub ready: u32,
    /// Started, not ready yet.
    pub starting: u32,
    /// Leaving: out of rotation, finishing requests.
    pub draining: u32,
    /// What the last decision asked for.
    pub target: Option<u32>,
    /// `MIN_INSTANCES`.
    pub min: u32,
    /// `MAX_INSTANCES`.
    pub max: u32,
    /// Every instance the actuator knows of.
    pub list: Vec<InstanceReport>,
}

/// One instance.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceReport {
    /// Its name (`local-4001`, a pod name, an address).
    pub id: String,
    /// Its `/metrics` URL.
    pub url: String,
    /// `starting`, `ready`, `draining`, `dead`.
    pub state: Phase,
    /// `ok`, `missing` (its scrape failed: see `error`), or `not_scraped` (not ready).
    pub scrape: &'static str,
    /// Why its scrape failed.
    pub error: Option<String>,
    /// CPU, % of its limit.
    pub cpu_percent: Option<f64>,
    /// Memory, % of its limit.
    pub memory_percent: Option<f64>,
    /// Requests per second.
    pub request_rate: Option<f64>,
}

/// The fleet's metrics (null: missing, never zero).
#[derive(Debug, Clone, Default, Serialize)]
pub struct MetricsReport {
    /// Mean CPU of the ready instances that answered, % of their limit.
    pub cpu_percent: Option<f64>,
    /// Mean memory, % of the limit.
    pub memory_percent: Option<f64>,
    /// Requests per second per ready instance.
    pub request_rate: Option<f64>,
    /// Jobs waiting, fleet-wide.
    pub queue_length: Option<f64>,
    /// Fleet p95 response time over the window, ms (0 when no request was served).
    pub p95_ms: Option<f64>,
    /// Requests served in the window (health and metrics probes left out).
    pub requests_in_window: Option<f64>,
    /// Instances that answered the scrape.
    pub scraped: u32,
    /// Ready instances whose scrape failed.
    pub missing: Vec<String>,
}

/// Both cooldowns.
#[derive(Debug, Clone, Serialize)]
pub struct CooldownsReport {
    /// After a scale-up, before the next scale-up.
    pub scale_up: CooldownReport,
    /// After any scaling event, before a scale-down.
    pub scale_down: CooldownReport,
}

/// One cooldown clock.
#[derive(Debug, Clone, Serialize)]
pub struct CooldownReport {
    /// Its length.
    pub seconds: f64,
    /// Left now (0: not cooling down).
    pub remaining_seconds: f64,
    /// The event that started it.
    #[serde(with = "crate::time::text_opt")]
    pub since: Option<SystemTime>,
}

/// The override in force.
#[derive(Debug, Clone, Serialize)]
pub struct OverrideReport {
    /// The count it holds.
    pub target: u32,
    /// Why.
    pub reason: String,
    /// When it ends.
    #[serde(with = "crate::time::text")]
    pub expires_at: SystemTime,
    /// Seconds left.
    pub remaining_seconds: f64,
}

/// The policy's settings.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyReport {
    /// `guide` or `tracking`.
    pub mode: &'static str,
    /// `AUTO_SCALING_ENABLED`.
    pub enabled: bool,
    /// Per metric (`cpu`, `memory`, `request_rate`, `queue_length`, `p95`): up and down
    /// thresholds (p95 in ms), and whether it is used.
    pub thresholds: Vec<ThresholdReport>,
}

/// One metric's thresholds.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdReport {
    /// The metric.
    pub metric: &'static str,
    /// Scale up above this.
    pub up: f64,
    /// Scale down only below this.
    pub down: f64,
    /// Whether the policy reads it.
    pub enabled: bool,
}

impl PolicyReport {
    /// The report of `config`.
    pub fn new(config: &ScalingConfig) -> Self {
        let thresholds = MetricKind::ALL
            .into_iter()
            .map(|kind| {
                let rule = config.rule(kind);
                let scale = if kind == MetricKind::P95ResponseTime {
                    1000.0
                } else {
                    1.0
                };
                ThresholdReport {
                    metric: kind.name(),
                    up: rule.up * scale,
                    down: rule.down * scale,
                    enabled: rule.enabled,
                }
            })
            .collect();
        Self {
            mode: config.mode.name(),
            enabled: config.enabled,
            thresholds,
        }
    }
}
