//! The autoscaler's own metrics (the `metrics` facade, exported on `/metrics`).
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `clip_autoscaler_instances{state}` | gauge | `target` (what it wants), `current`, `ready`, `starting`, `draining` |
//! | `clip_autoscaler_min_instances`, `clip_autoscaler_max_instances` | gauge | `MIN_INSTANCES`, `MAX_INSTANCES` |
//! | `clip_autoscaler_decisions_total{action}` | counter | `scale_up`, `scale_down`, `hold` |
//! | `clip_autoscaler_scrapes_total` | counter | instance scrapes attempted |
//! | `clip_autoscaler_scrape_errors_total{reason}` | counter | `timeout`, `connect`, `status`, `body`, `parse` |
//! | `clip_autoscaler_actuation_errors_total` | counter | failed starts, stops, scale calls |
//! | `clip_autoscaler_tick_duration_seconds` | histogram | one tick: observe, scrape, aggregate, decide, apply |
//! | `clip_autoscaler_leader` | gauge | 1 while this autoscaler leads, 0 while passive |
//! | `clip_autoscaler_override_active` | gauge | 1 while a manual override is in force |
//! | `clip_autoscaler_fleet_cpu_usage_percent`, `..._memory_usage_percent`, `..._request_rate`, `..._queue_length`, `..._p95_seconds` | gauge | the aggregated inputs of the last decision (NaN when missing) |

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Instance counts by `state`.
pub const INSTANCES: &str = "clip_autoscaler_instances";
/// `MIN_INSTANCES`.
pub const MIN_INSTANCES: &str = "clip_autoscaler_min_instances";
/// `MAX_INSTANCES`.
pub const MAX_INSTANCES: &str = "clip_autoscaler_max_instances";
/// Decisions by `action`.
pub const DECISIONS: &str = "clip_autoscaler_decisions_total";
/// Scrapes attempted.
pub const SCRAPES: &str = "clip_autoscaler_scrapes_total";
/// Failed scrapes by `reason`.
pub const SCRAPE_ERRORS: &str = "clip_autoscaler_scrape_errors_total";
/// Failed actuations.
pub const ACTUATION_ERRORS: &str = "clip_autoscaler_actuation_errors_total";
/// Tick duration.
pub const TICK_DURATION: &str = "clip_autoscaler_tick_duration_seconds";
/// Leadership.
pub const LEADER: &str = "clip_autoscaler_leader";
/// Override in force.
pub const OVERRIDE_ACTIVE: &str = "clip_autoscaler_override_active";
/// Fleet CPU.
pub const FLEET_CPU: &str = "clip_autoscaler_fleet_cpu_usage_percent";
/// Fleet memory.
pub const FLEET_MEMORY: &str = "clip_autoscaler_fleet_memory_usage_percent";
/// Requests per second per ready instance.
pub const FLEET_REQUEST_RATE: &str = "clip_autoscaler_fleet_request_rate";
/// Jobs waiting.
pub const FLEET_QUEUE: &str = "clip_autoscaler_fleet_queue_length";
/// Fleet p95.
pub const FLEET_P95: &str = "clip_autoscaler_fleet_p95_seconds";

/// Tick durations: a tick is milliseconds when instances answer, the scrape timeout when not.
const TICK_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the Prometheus recorder once per process and returns its handle; `None` when
/// another recorder was installed first (then `/metrics` says so).
pub fn install() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(TICK_DURATION.into()), TICK_BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!("metrics recorder not installed: {e}");
                    None
                }
            }
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(
        INSTANCES,
        Unit::Count,
        "Instances by state: target, current, ready, starting, draining"
    );
    describe_gauge!(MIN_INSTANCES, Unit::Count, "MIN_INSTANCES");
    describe_gauge!(MAX_INSTANCES, Unit::Count, "MAX_INSTANCES");
    describe_counter!(DECISIONS, Unit::Count, "Scaling decisions by action");
    describe_counter!(SCRAPES, Unit::Count, "Instance scrapes attempted");
    describe_counter!(
        SCRAPE_ERRORS,
        Unit::Count,
        "Instance scrapes that failed, by reason"
    );
    describe_counter!(
        ACTUATION_ERRORS,
        Unit::Count,
        "Starts, stops and scale calls that failed"
    );
    describe_histogram!(
        TICK_DURATION,
        Unit::Seconds,
        "One tick: observe, scrape, aggregate, decide, apply"
    );
    describe_gauge!(
        LEADER,
        "1 while this autoscaler leads the fleet, 0 while passive"
    );
    describe_gauge!(OVERRIDE_ACTIVE, "1 while a manual override is in force");
    describe_gauge!(
        FLEET_CPU,
        "Fleet CPU usage, % of the instances' limit (NaN: missing)"
    );
    describe_gauge!(
        FLEET_MEMORY,
        "Fleet memory usage, % of the instances' limit (NaN: missing)"
    );
    describe_gauge!(
        FLEET_REQUEST_RATE,
        "Requests per second per ready instance (NaN: missing)"
    );
    describe_gauge!(
        FLEET_QUEUE,
        Unit::Count,
        "Jobs waiting, fleet-wide (NaN: missing)"
    );
    describe_gauge!(
        FLEET_P95,
        Unit::Seconds,
        "Fleet p95 response time over the last window (NaN: missing)"
    );
}
