//! The tracking mode's decision (`SCALING_MODE=tracking`): the fleet follows an estimate of
//! demand, in instances at a utilisation setpoint, built from
//!
//! 1. the load: each capacity metric (CPU, memory, request rate) times the ready count it was
//!    averaged over, divided by its setpoint; the largest;
//! 2. a guard against a single bad sample: a jump beyond twice the window's high-water mark is
//!    held back to that limit (and allows no scale-down) unless the previous sample confirms
//!    it, or CPU and request rate jump together, or p95 is over the SLO;
//! 3. the latency guard: with p95 above `TRACKING_LATENCY_GUARD` % of the SLO, at least the
//!    ready count times p95 over that level (up to 1.5 times), whatever the load metrics say,
//!    for capacity that drifted from the setpoint's assumption;
//! 4. the high-water mark of that demand over `TRACKING_WINDOW`, plus its trend over the time
//!    new capacity needs to serve (the metrics' age plus `TRACKING_LEAD_TIME`), at most 10 % of
//!    the mark (a step is not a ramp);
//! 5. the queue: the most jobs waiting in the window, plus their growth over the lead time, to
//!    be drained within what the job-wait SLO leaves after the lead time (a quarter of it at
//!    least), at `TRACKING_JOBS_PER_INSTANCE` jobs/s per instance;
//! 6. seasonal pre-scaling: today's load times the rise both of the last two days saw from
//!    this time of day over the lead time, when that rise is 10 % or more; the forecast holds
//!    for the window (until the lagged metrics show the load it foresaw); it only adds.
//!
//! Up as soon as the estimate needs one more instance (no tolerance, no cooldown, no step
//! cap: instances still starting count as capacity, so a spike is not answered twice); down
//! only when it is more than `TRACKING_SCALE_DOWN_TOLERANCE` % below the current count, to
//! the estimate plus half that tolerance, and never on a missing, invalid or stale metric. Pure: the history it reads is in the state,
//! written by `record`.

use std::time::{Duration, SystemTime};

use crate::decision::{Driver, Reading, Reasons, Rule, TrackingReasons, Verdict};
use crate::demand_history::epoch_secs;
use crate::{Decision, MetricKind, Metrics, ScalingConfig, ScalingState};

/// A load beyond this multiple of the window's high-water mark is a jump to confirm.
const JUMP: f64 = 2.0;
/// A jump is corroborated when CPU and request rate both ask for this share of it.
const CORROBORATION: f64 = 0.75;
/// The trend adds at most this share of the high-water mark (a step is not a ramp).
const TREND_CAP: f64 = 0.1;
/// The latency guard asks for at most this multiple of the ready instances.
const LATENCY_GUARD_MAX: f64 = 1.5;
/// Seasonal pre-scaling acts on a rise of at least this factor.
const SEASONAL_MIN_RISE: f64 = 1.1;
/// The load's trend is fitted over at most this many seconds.
const TREND_SPAN_SECS: f64 = 300.0;
/// The queue's growth is measured over this many seconds.
const QUEUE_TREND_SECS: f64 = 120.0;

/// Decides in tracking mode. The caller has handled the override, `AUTO_SCALING_ENABLED`, a
/// count above `MAX_INSTANCES` and no ready instance; a count below `MIN_INSTANCES` comes
/// here and leaves at `MIN_INSTANCES` at least.
pub(crate) fn decide(
    c: &ScalingConfig,
    m: &Metrics,
    observed_at: SystemTime,
    state: &ScalingState,
    now: SystemTime,
    mut reasons: Reasons,
) -> Decision {
    let t = &c.tracking;
    let h = state.demand_history();
    let current = state.current();
    let now_s = epoch_secs(now);
    let age = (now_s - epoch_secs(observed_at)).max(0.0);
    // Per-instance averages are over the instances ready when the sample was measured.
    let measured_over = h
        .ready_at(now_s - age)
        .filter(|r| *r > 0)
        .unwrap_or(reasons.ready)
        .max(1);
    let lead = age + t.lead_time.as_secs_f64();
    let window = t.window.as_secs_f64();
    let tolerance = t.scale_down_tolerance_percent / 100.0;
    let guard = t.latency_guard_percent / 100.0 * c.p95_response_time.up;
    let budget = drain_budget(t, lead);

    // 1. The load, metric by metric.
    let size = |value: f64, setpoint: f64| f64::from(measured_over) * value / setpoint;
    let mut load: Option<(f64, MetricKind)> = None;
    let mut by_metric = [0.0; 3];
    for (slot, (kind, setpoint)) in [
        (MetricKind::CpuPercent, t.cpu_target),
        (MetricKind::MemoryPercent, c.memory.up),
        (MetricKind::RequestRate, t.request_rate_target),
    ]
    .into_iter()
    .enumerate()
    {
        if let Some(v) = usable(c, m, kind) {
            let demand = size(v, setpoint);
            by_metric[slot] = demand;
            if load.is_none_or(|(l, _)| demand > l) {
                load = Some((demand, kind));
            }
        }
    }

    // 2. A jump nothing confirms is held back for one sample: confirmed by the previous sample,
    //    or corroborated by CPU and request rate jumping together, or by p95 over the SLO.
    let previous_high = h.load_high_water(now_s, window);
    let p95 = usable(c, m, MetricKind::P95ResponseTime);
    let mut held_back = None;
    if let (Some((l, kind)), Some(high)) = (load, previous_high) {
        let limit = JUMP * high.max(1.0);
        let confirmed = h.last_raw_load().is_some_and(|p| p > limit);
        let agreeing = [by_metric[0], by_metric[2]]
            .iter()
            .filter(|d| **d > limit * CORROBORATION)
            .count();
        let corroborated = agreeing >= 2 || p95.is_some_and(|p| p > c.p95_response_time.up);
        if l > limit && !confirmed && !corroborated {
            held_back = Some(l);
            load = Some((limit, kind));
        }
    }

    // 3. The latency guard.
    let latency = p95
        .filter(|p| *p > guard)
        .map(|p| f64::from(measured_over) * (p / guard).min(LATENCY_GUARD_MAX));

    // 4. High-water mark and trend.
    let sample = max_opt(load.map(|(l, _)| l), latency);
    let high_water = max_opt(previous_high, sample);
    let slope = h.load_trend(now_s, window.min(TREND_SPAN_SECS)).max(0.0);
    let trend = high_water.map_or(0.0, |hw| (slope * lead).min(TREND_CAP * hw));
    let projected = high_water.map(|hw| hw + trend);

    // 5. The queue: its high-water mark over the window, plus its growth over the lead time.
    let queue = usable(c, m, MetricKind::QueueLength).map(|q| {
        let longest = h.queue_high_water(now_s, window).unwrap_or(q).max(q);
        let growth = h
            .queue_before(now_s, QUEUE_TREND_SECS)
            .filter(|(_, ago)| *ago > 0.0)
            .map_or(0.0, |(then, ago)| ((q - then) / ago).max(0.0));
        (longest + growth * lead) / (t.jobs_per_instance * budget)
    });

    // 6. Seasonal pre-scaling.
    let forecast = high_water
        .filter(|_| t.seasonal)
        .and_then(|hw| {
            h.seasonal_rise(now_s, lead)
                .map(|rise| hw * rise.min(f64::from(c.max_instances)))
        })
        .filter(|s| high_water.is_some_and(|hw| *s >= hw * SEASONAL_MIN_RISE));
    let seasonal = max_opt(
        forecast,
        h.forecast_high_water(now_s, window).filter(|_| t.seasonal),
    );

    let load_driver = match (load, latency) {
        (Some((l, kind)), Some(g)) if l >= g => Driver::Load(kind),
        (Some((_, kind)), None) => Driver::Load(kind),
        (_, Some(_)) => Driver::Latency,
        (None, None) => Driver::Queue,
    };
    let (needed, driver) = [
        (projected, load_driver),
        (queue, Driver::Queue),
        (seasonal, Driver::Seasonal),
    ]
    .into_iter()
    .filter_map(|(v, d)| v.map(|v| (v, d)))
    .fold(
        (0.0, load_driver),
        |best, (v, d)| {
            if v > best.0 { (v, d) } else { best }
        },
    );

    reasons.readings = readings(c, m, measured_over, current, lead);
    let target = instances(needed).clamp(c.min_instances, c.max_instances);
    reasons.recommended = target;
    reasons.tracking = Some(TrackingReasons {
        driver,
        needed,
        load: load.map(|(l, _)| l),
        held_back,
        measured_over,
        high_water,
        window: t.window,
        trend,
        lead: Duration::from_secs_f64(lead),
        latency,
        queue,
        seasonal,
        forecast,
        tolerance_percent: t.scale_down_tolerance_percent,
    });

    if target > current || current < c.min_instances {
        reasons.rule = if target > c.min_instances || current >= c.min_instances {
            Rule::Tracking { driver }
        } else {
            reasons.limits.bound = Some(c.min_instances);
            Rule::OutOfBounds
        };
        return Decision::new(current, target.max(current), reasons);
    }
    // Down only well below the current count, and to a count that keeps half the tolerance
    // as headroom, so the next noisy sample does not undo it.
    let down_to = instances(needed * (1.0 + tolerance / 2.0)).clamp(c.min_instances, current);
    if needed >= f64::from(current) * (1.0 - tolerance) || down_to >= current || held_back.is_some()
    {
        reasons.rule = Rule::WithinTolerance;
        return Decision::new(current, current, reasons);
    }
    let missing = reasons
        .readings
        .iter()
        .find(|r| matches!(r.verdict, Verdict::Missing | Verdict::Invalid));
    if let Some(r) = missing {
        reasons.rule = Rule::MissingMetric { metric: r.metric };
        return Decision::new(current, current, reasons);
    }
    if load.is_none() {
        // Nothing measures the load (every capacity metric ignored): never a scale-down.
        reasons.rule = Rule::WithinTolerance;
        return Decision::new(current, current, reasons);
    }
    if reasons.stale {
        reasons.rule = Rule::StaleMetrics;
        return Decision::new(current, current, reasons);
    }
    reasons.rule = Rule::Tracking { driver };
    if down_to == c.min_instances && instances(needed) < c.min_instances {
        reasons.limits.bound = Some(c.min_instances);
    }
    Decision::new(current, down_to, reasons)
}

/// The value of an enabled, valid (not NaN, not negative) metric, p95 in seconds.
fn usable(c: &ScalingConfig, m: &Metrics, kind: MetricKind) -> Option<f64> {
    m.get(kind)
        .filter(|v| c.rule(kind).enabled && !v.is_nan() && *v >= 0.0)
}

/// Each metric against its setpoint, with the count it alone asks for (the queue: drained
/// within the job-wait SLO less `lead` seconds; p95: against the latency guard's level).
pub(crate) fn readings(
    c: &ScalingConfig,
    m: &Metrics,
    measured_over: u32,
    current: u32,
    lead: f64,
) -> [Reading; 5] {
    let t = &c.tracking;
    let tolerance = t.scale_down_tolerance_percent / 100.0;
    let guard = t.latency_guard_percent / 100.0 * c.p95_response_time.up;
    let budget = drain_budget(t, lead);
    MetricKind::ALL.map(|metric| {
        let rule = c.rule(metric);
        let value = m.get(metric);
        let (up, per_unit) = match metric {
            MetricKind::CpuPercent => (t.cpu_target, f64::from(measured_over) / t.cpu_target),
            MetricKind::MemoryPercent => (rule.up, f64::from(measured_over) / rule.up),
            MetricKind::RequestRate => (
                t.request_rate_target,
                f64::from(measured_over) / t.request_rate_target,
            ),
            MetricKind::QueueLength => {
                let drained = t.jobs_per_instance * budget;
                (f64::from(current) * drained, 1.0 / drained)
            }
            MetricKind::P95ResponseTime => (guard, f64::from(measured_over) / guard),
        };
        let (verdict, wants) = match value {
            _ if !rule.enabled => (Verdict::Ignored, None),
            None => (Verdict::Missing, None),
            Some(v) if v.is_nan() || v < 0.0 => (Verdict::Invalid, None),
            Some(v) => {
                let demand = v * per_unit;
                let wants = instances(demand);
                let verdict = if wants > current {
                    Verdict::Above
                } else if demand < f64::from(current) * (1.0 - tolerance) {
                    Verdict::Below
                } else {
                    Verdict::Within
                };
                (verdict, Some(wants))
            }
        };
        Reading {
            metric,
            value,
            up_threshold: up,
            down_threshold: up * (1.0 - tolerance),
            verdict,
            wants,
        }
    })
}

/// Seconds the queue has to drain in: what the job-wait SLO leaves after `lead` (new capacity
/// is not serving before), a quarter of the SLO at least.
fn drain_budget(t: &crate::TrackingConfig, lead: f64) -> f64 {
    let slo = t.job_wait_slo.as_secs_f64();
    (slo - lead).max(slo / 4.0)
}

/// Whole instances for a demand: rounded up, with a hair of slack so 6.000000001 is 6.
fn instances(demand: f64) -> u32 {
    (demand - 1e-9).ceil().max(0.0) as u32
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}
