//! The tracking mode's decision (`SCALING_MODE=tracking`): the fleet follows an estimate of
//! demand, in instances at a utilisation setpoint, built each decision from
//!
//! 1. the load: each capacity metric (CPU, memory, request rate) times the ready count it was
//!    averaged over (the metrics' own time, not now), divided by its setpoint; the largest;
//! 2. the latency guard: with p95 above `TRACKING_LATENCY_GUARD` % of the SLO, the ready count
//!    times p95 over that level (up to 1.5 times), whatever the load metrics say, for capacity
//!    that drifted from the setpoint's assumption;
//! 3. a guard against a single bad sample: a jump beyond 1.25 times the window's highest load
//!    counts only up to that until the next sample confirms it (and allows no scale-down):
//!    a one-sample spike is over long before capacity ordered for it would serve;
//! 4. a surge (a rise bucket after bucket within 90 s, this sample included, to 30 % or more
//!    above the highest load of the window before) extrapolated at its own pace over the time
//!    new capacity needs to serve: the metrics' age plus `TRACKING_LEAD_TIME`;
//! 5. the queue: instances to keep up with the jobs arriving (the queue's growth since the
//!    previous sample plus what was drained meanwhile), plus those that drain the backlog new
//!    capacity will find within what the job-wait SLO leaves after the lead time (a quarter
//!    of the SLO at least), at `TRACKING_JOBS_PER_INSTANCE` jobs/s per instance;
//! 6. seasonal pre-scaling: the window's load times the rise that both of the last two days
//!    saw from this time of day over the lead time, when that rise is 10 % or more.
//!
//! The estimate is the largest of these; the fleet follows the highest estimate of the last
//! `TRACKING_WINDOW` (the estimate's own stabilization, so nothing added within the window is
//! taken away before the window agrees; it also holds a forecast until the lagged metrics
//! show the load it foresaw). Up as soon as that needs one more instance (no tolerance, no
//! cooldown, no step cap: instances still starting count as capacity, so a spike is not
//! answered twice); down only when it is more than `TRACKING_SCALE_DOWN_TOLERANCE` % below the
//! current count, to the estimate plus that tolerance, never on a missing, invalid or stale
//! metric, and not before the history covers a full window (after a restart without a
//! persisted state). Pure: the history it reads is in the state, written by `record`.

use std::time::{Duration, SystemTime};

use crate::decision::{Driver, Reading, Reasons, Rule, TrackingReasons, Verdict};
use crate::demand_history::epoch_secs;
use crate::{Decision, MetricKind, Metrics, ScalingConfig, ScalingState};

/// A load (or latency demand) beyond this multiple of the window's highest is a jump: it
/// counts in full only once the next sample confirms it. A spike of one sample is over long
/// before capacity ordered for it would serve.
const JUMP: f64 = 1.25;
/// The latency guard asks for at most this multiple of the ready instances.
const LATENCY_GUARD_MAX: f64 = 1.5;
/// Seasonal pre-scaling acts on a rise of at least this factor.
const SEASONAL_MIN_RISE: f64 = 1.1;
/// A rise within `SURGE_SPAN_SECS` to at least this share above the window's highest load
/// before it is a surge (noise on a fleet's load does not rise this far sample after sample).
const SURGE: f64 = 0.3;
/// A surge is looked for over this many seconds.
const SURGE_SPAN_SECS: f64 = 90.0;
/// A surge's extrapolation adds at most this multiple of the load.
const SURGE_CAP: f64 = 1.0;
/// The queue's arrival rate is measured against the queue at least this many seconds back
/// (the previous decision, at one decision every 15 s).
const QUEUE_RATE_SECS: f64 = 15.0;
/// The history's resolution: a window counts as covered one bucket short of its length.
const BUCKET_SECS: f64 = 15.0;

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
    let ready = f64::from(measured_over);
    let lead = age + t.lead_time.as_secs_f64();
    let window = t.window.as_secs_f64();
    let recent = h.recent(now_s, window, SURGE_SPAN_SECS, QUEUE_RATE_SECS);
    let tolerance = t.scale_down_tolerance_percent / 100.0;
    let guard = t.latency_guard_percent / 100.0 * c.p95_response_time.up;

    // 1. The load: each capacity metric sized to its setpoint; the largest.
    let mut load: Option<(f64, MetricKind)> = None;
    for (kind, setpoint) in [
        (MetricKind::CpuPercent, t.cpu_target),
        (MetricKind::MemoryPercent, c.memory.up),
        (MetricKind::RequestRate, t.request_rate_target),
    ] {
        if let Some(v) = usable(c, m, kind) {
            let demand = ready * v / setpoint;
            if load.is_none_or(|(l, _)| demand > l) {
                load = Some((demand, kind));
            }
        }
    }
    // 2. The latency guard: p95 near the SLO asks for more than the load metrics may.
    let latency = usable(c, m, MetricKind::P95ResponseTime)
        .filter(|p| *p > guard)
        .map(|p| ready * (p / guard).min(LATENCY_GUARD_MAX));

    // 3. A jump nothing confirms yet counts only up to JUMP times the window's highest.
    let measured = max_opt(load.map(|(l, _)| l), latency);
    let mut sample = measured;
    let mut held_back = None;
    if let (Some(value), Some(high)) = (measured, recent.load_high) {
        let limit = JUMP * high.max(1.0);
        let confirmed = h.last_raw_load().is_some_and(|previous| previous > limit);
        if value > limit && !confirmed {
            held_back = Some(value);
            sample = Some(limit);
        }
    }

    // 4. A surge, this sample included, is extrapolated at its pace over the lead time. A jump
    //    held back counts as one only where the load was rising before it: on its own it is
    //    what the guard is for, and a glitch every other sample must not ratchet the fleet up
    //    through the guard's limit.
    let surge = sample
        .and_then(|s| {
            let steps = if held_back.is_some() { 2 } else { 1 };
            let found = h.surge(&recent, now_s, window, s, SURGE, steps)?;
            Some((found.pace * lead).min(s * SURGE_CAP))
        })
        .unwrap_or(0.0);

    // 5. The queue: instances to keep up with the jobs arriving, plus those that drain the
    //    backlog new capacity will find within what the job-wait SLO leaves after the lead.
    let queue = usable(c, m, MetricKind::QueueLength).map(|q| {
        let per_instance = t.jobs_per_instance;
        let arriving = arrival_rate(q, recent.queue_then, ready * per_instance);
        let backlog = (q + (arriving - ready * per_instance) * lead).max(0.0);
        arriving / per_instance + backlog / (per_instance * drain_budget(t, lead))
    });

    // 6. Seasonal pre-scaling: the window's load times the rise both earlier days saw.
    let level = max_opt(recent.load_high, sample);
    let seasonal = level.filter(|_| t.seasonal).and_then(|l| {
        let rise = h.seasonal_rise(now_s, lead)?;
        (rise >= SEASONAL_MIN_RISE).then(|| l * rise.min(f64::from(c.max_instances)))
    });

    let load_driver = match (load, latency) {
        (Some((l, kind)), Some(g)) if l >= g => Driver::Load(kind),
        (Some((_, kind)), None) => Driver::Load(kind),
        (_, Some(_)) => Driver::Latency,
        (None, None) => Driver::Queue,
    };
    let (estimate, mut driver) = [
        (sample.map(|s| s + surge), load_driver),
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
    // 7. The fleet follows the highest estimate of the window: nothing added within it is
    //    taken away before the window agrees.
    let mut needed = estimate;
    if let Some(earlier) = recent.estimate_high.filter(|e| *e > estimate) {
        needed = earlier;
        driver = Driver::Window;
    }

    if measured_over != reasons.ready.max(1) || age > 0.0 {
        // `policy` read them for a fresh sample over the ready count of now.
        reasons.readings = readings(c, m, measured_over, current, lead);
    }
    let target = instances(needed).clamp(c.min_instances, c.max_instances);
    reasons.recommended = target;
    reasons.tracking = Some(TrackingReasons {
        driver,
        needed,
        estimate,
        load: load.map(|(l, _)| l),
        counted: sample,
        held_back,
        measured_over,
        surge,
        latency,
        queue,
        seasonal,
        window: t.window,
        history: Duration::from_secs_f64(recent.span.min(window)),
        lead: Duration::from_secs_f64(lead),
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
    // Down only well below the current count, and to a count that keeps the tolerance as
    // headroom, so that only a rise as large as the fall could undo it.
    let down_to = instances(needed * (1.0 + tolerance)).clamp(c.min_instances, current);
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
    if recent.span < window - BUCKET_SECS {
        // Just started (no persisted state): the window has not seen enough to shrink on.
        reasons.rule = Rule::HistoryTooShort;
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

/// Jobs arriving per second, from the queue now (`q`) and at an earlier sample (`then`, with
/// its age in seconds), the ready instances draining up to `drain` jobs per second meanwhile:
/// the queue's growth plus what was drained. Drained is at most what was waiting then, so a
/// short queue that workers empty as it fills does not pass for a stream of jobs. Without an
/// earlier sample the queue is taken as steady (it was as long 15 s ago).
fn arrival_rate(q: f64, then: Option<(f64, f64)>, drain: f64) -> f64 {
    let (then, ago) = then
        .filter(|(_, ago)| *ago > 0.0)
        .unwrap_or((q, BUCKET_SECS));
    let drained = (drain * ago).min(then);
    ((q - then + drained) / ago).max(0.0)
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
