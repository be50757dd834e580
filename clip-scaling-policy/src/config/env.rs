//! Reading a [`ScalingConfig`] from environment variables (`NAME` or `VITE_NAME`), with errors
//! that quote the variable as it was set.

use std::time::Duration;

use super::THRESHOLD_VARIABLES;
use crate::{MetricKind, ScalingConfig, ScalingError, ScalingMode, TrackingConfig};

impl ScalingConfig {
    /// Reads the configuration from the process environment (see [`ScalingConfig::from_lookup`]).
    pub fn from_env() -> Result<Self, ScalingError> {
        // A value that is not UTF-8 is refused by name (its lossy text does not parse), not
        // taken as unset as `std::env::var(..).ok()` would.
        Self::from_lookup(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// Reads the configuration through `lookup` (a variable name to its value), starting from the
    /// defaults. Each variable is read as `NAME`, or `VITE_NAME` when `NAME` is unset. The result
    /// is validated.
    ///
    /// Variables: `AUTO_SCALING_ENABLED`, `MIN_INSTANCES`, `MAX_INSTANCES`, `CPU_THRESHOLD`,
    /// `MEMORY_THRESHOLD`, `REQUEST_RATE_THRESHOLD`, `QUEUE_LENGTH_THRESHOLD`,
    /// `RESPONSE_TIME_THRESHOLD_MS`, their `*_SCALE_DOWN_THRESHOLD[_MS]` counterparts,
    /// `SCALE_UP_COOLDOWN`, `SCALE_DOWN_COOLDOWN`, `SCALE_DOWN_STABILIZATION`, `INSTANCE_WARMUP`,
    /// `METRICS_MAX_AGE` (seconds), `SCALE_UP_MAX_PERCENT`, `SCALE_UP_MAX_INSTANCES`,
    /// `SCALE_UP_PERIOD`, `SCALE_DOWN_MAX_PERCENT`, `SCALE_DOWN_MAX_INSTANCES`, `SCALE_DOWN_PERIOD`,
    /// `SCALING_IGNORE_METRICS` (comma-separated: `cpu,memory,request_rate,queue_length,p95`),
    /// `SCALING_MODE` (`guide` or `tracking`) and the tracking mode's `TRACKING_CPU_TARGET`,
    /// `TRACKING_REQUEST_RATE_TARGET`, `TRACKING_SCALE_DOWN_TOLERANCE` (percent),
    /// `TRACKING_WINDOW`, `TRACKING_LEAD_TIME`, `TRACKING_JOB_WAIT_SLO` (seconds),
    /// `TRACKING_JOBS_PER_INSTANCE`, `TRACKING_LATENCY_GUARD` (percent of the p95 SLO) and
    /// `TRACKING_SEASONAL` (true or false).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ScalingError> {
        let env = Env { lookup: &lookup };
        let mut c = Self::default();
        if let Some(v) = env.parse("AUTO_SCALING_ENABLED", "true or false", parse_bool)? {
            c.enabled = v;
        }
        let count = "a whole number of instances";
        if let Some(v) = env.parse("MIN_INSTANCES", count, |s| s.parse().ok())? {
            c.min_instances = v;
        }
        if let Some(v) = env.parse("MAX_INSTANCES", count, |s| s.parse().ok())? {
            c.max_instances = v;
        }
        for (kind, (up_var, down_var)) in MetricKind::ALL.into_iter().zip(THRESHOLD_VARIABLES) {
            // p95 thresholds are given in milliseconds, stored in seconds. Dividing (rather than
            // multiplying by 1e-3) gives the nearest f64: 1100 ms is exactly 1.1.
            let per_unit = if kind == MetricKind::P95ResponseTime {
                1_000.0
            } else {
                1.0
            };
            let rule = c.rule_mut(kind);
            if let Some(v) = env.parse(up_var, "a number", parse_f64)? {
                rule.up = v / per_unit;
            }
            if let Some(v) = env.parse(down_var, "a number", parse_f64)? {
                rule.down = v / per_unit;
            }
        }
        let secs = "a number of seconds";
        for (var, field) in [
            ("SCALE_UP_COOLDOWN", &mut c.scale_up_cooldown),
            ("SCALE_DOWN_COOLDOWN", &mut c.scale_down_cooldown),
            ("SCALE_DOWN_STABILIZATION", &mut c.scale_down_stabilization),
            ("INSTANCE_WARMUP", &mut c.warmup),
            ("METRICS_MAX_AGE", &mut c.max_metric_age),
            ("SCALE_UP_PERIOD", &mut c.scale_up_step.period),
            ("SCALE_DOWN_PERIOD", &mut c.scale_down_step.period),
        ] {
            if let Some(v) = env.parse(var, secs, parse_seconds)? {
                *field = v;
            }
        }
        let whole = "a whole number";
        for (var, field) in [
            ("SCALE_UP_MAX_PERCENT", &mut c.scale_up_step.max_percent),
            ("SCALE_UP_MAX_INSTANCES", &mut c.scale_up_step.max_instances),
            ("SCALE_DOWN_MAX_PERCENT", &mut c.scale_down_step.max_percent),
            (
                "SCALE_DOWN_MAX_INSTANCES",
                &mut c.scale_down_step.max_instances,
            ),
        ] {
            if let Some(v) = env.parse(var, whole, |s| s.parse().ok())? {
                *field = v;
            }
        }
        let modes = "guide or tracking";
        if let Some(mode) = env.parse("SCALING_MODE", modes, parse_mode)? {
            c.mode = mode;
        }
        read_tracking(&env, &mut c.tracking)?;
        if let Some(ignored) = env.parse(
            "SCALING_IGNORE_METRICS",
            "a comma-separated list of cpu, memory, request_rate, queue_length, p95",
            parse_metric_list,
        )? {
            for kind in ignored {
                c.rule_mut(kind).enabled = false;
            }
        }
        c.validate()?;
        Ok(c)
    }
}

/// The `TRACKING_*` variables (read whatever the mode, so a typo is caught before the mode is
/// switched on).
fn read_tracking<F: Fn(&str) -> Option<String>>(
    env: &Env<'_, F>,
    t: &mut TrackingConfig,
) -> Result<(), ScalingError> {
    for (var, field) in [
        ("TRACKING_CPU_TARGET", &mut t.cpu_target),
        ("TRACKING_REQUEST_RATE_TARGET", &mut t.request_rate_target),
        (
            "TRACKING_SCALE_DOWN_TOLERANCE",
            &mut t.scale_down_tolerance_percent,
        ),
        ("TRACKING_JOBS_PER_INSTANCE", &mut t.jobs_per_instance),
        ("TRACKING_LATENCY_GUARD", &mut t.latency_guard_percent),
    ] {
        if let Some(v) = env.parse(var, "a number", parse_f64)? {
            *field = v;
        }
    }
    for (var, field) in [
        ("TRACKING_WINDOW", &mut t.window),
        ("TRACKING_LEAD_TIME", &mut t.lead_time),
        ("TRACKING_JOB_WAIT_SLO", &mut t.job_wait_slo),
    ] {
        if let Some(v) = env.parse(var, "a number of seconds", parse_seconds)? {
            *field = v;
        }
    }
    if let Some(v) = env.parse("TRACKING_SEASONAL", "true or false", parse_bool)? {
        t.seasonal = v;
    }
    Ok(())
}

struct Env<'a, F: Fn(&str) -> Option<String>> {
    lookup: &'a F,
}

impl<F: Fn(&str) -> Option<String>> Env<'_, F> {
    /// Reads `name` or `VITE_name`; an empty value counts as unset.
    fn parse<T>(
        &self,
        name: &str,
        expected: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ScalingError> {
        let prefixed = format!("VITE_{name}");
        let found = [name, prefixed.as_str()].into_iter().find_map(|var| {
            (self.lookup)(var)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (var.to_string(), v))
        });
        let Some((variable, value)) = found else {
            return Ok(None);
        };
        match parse(value.trim()) {
            Some(v) => Ok(Some(v)),
            None => Err(ScalingError::InvalidVariable {
                variable,
                value,
                expected,
            }),
        }
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_mode(s: &str) -> Option<ScalingMode> {
    [ScalingMode::Guide, ScalingMode::Tracking]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(s))
}

fn parse_f64(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn parse_seconds(s: &str) -> Option<Duration> {
    parse_f64(s)
        .filter(|v| *v >= 0.0)
        .and_then(|v| Duration::try_from_secs_f64(v).ok())
}

fn parse_metric_list(s: &str) -> Option<Vec<MetricKind>> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| MetricKind::ALL.into_iter().find(|k| k.name() == p))
        .collect()
}
