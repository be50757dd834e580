//! What `decide` returns: the action, the target, and why, as data and as one line of text.
//! A tracking-mode decision's demand estimate is in [`tracking`].

mod tracking;

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use tracking::{Driver, TrackingReasons};

use crate::{MetricKind, Override};

/// What the fleet should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Action {
    /// Add instances, up to [`Decision::target`].
    ScaleUp,
    /// Remove instances, down to [`Decision::target`].
    ScaleDown,
    /// Keep the current count.
    Hold,
}

/// How one metric compares with its thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Verdict {
    /// Above the up threshold: asks for a scale-up.
    Above,
    /// Inside the hysteresis band: asks for nothing, and so blocks a scale-down.
    Within,
    /// Below the down threshold: allows a scale-down (if every other metric does too).
    Below,
    /// Not reported: cannot justify a scale-down.
    Missing,
    /// NaN, negative or negative infinity: treated as missing.
    Invalid,
    /// Disabled in the configuration: not considered at all.
    Ignored,
}

/// One metric as the decision saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Reading {
    /// Which metric.
    pub metric: MetricKind,
    /// Its value (p95 in seconds), `None` when missing.
    pub value: Option<f64>,
    /// The scale-up threshold.
    pub up_threshold: f64,
    /// The scale-down threshold.
    pub down_threshold: f64,
    /// How the value compares.
    pub verdict: Verdict,
    /// The instance count this metric alone asks for (proportional sizing), when it asks to move.
    pub wants: Option<u32>,
}

/// The rule that produced the raw recommendation. New rules may be added: match with a
/// wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Rule {
    /// At least one metric is above its up threshold; `metric` is the one asking for the most.
    ScaleUp {
        /// The most demanding metric.
        metric: MetricKind,
    },
    /// Every enabled metric is fresh and below its down threshold.
    ScaleDown,
    /// No metric is above its up threshold and at least one sits inside its band.
    WithinBand,
    /// Everything present is low, but a scale-down is not safe: `metric` is missing or invalid.
    MissingMetric {
        /// The first enabled metric that is missing or invalid.
        metric: MetricKind,
    },
    /// Everything is low, but the sample is older than `METRICS_MAX_AGE`.
    StaleMetrics,
    /// `AUTO_SCALING_ENABLED=false`: the policy holds.
    Disabled,
    /// A manual override is in force.
    Override,
    /// The current count is outside `MIN_INSTANCES..=MAX_INSTANCES`: bring it back first.
    OutOfBounds,
    /// No instance is ready: per-ready averages describe no serving capacity (a shared
    /// dependency may be down and failing every readiness check), so the policy holds.
    NoReadyInstances,
    /// Tracking mode: the target follows the demand estimate ([`Reasons::tracking`]), which
    /// `driver` set.
    Tracking {
        /// What set the estimate.
        driver: Driver,
    },
    /// Tracking mode: the estimate is below the current count, but within the scale-down
    /// tolerance.
    WithinTolerance,
    /// Tracking mode: the estimate allows a scale-down, but the history does not cover a full
    /// `TRACKING_WINDOW` yet (the autoscaler just started, without a persisted state).
    HistoryTooShort,
}

/// The direction a cooldown blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Direction {
    /// Scale-up cooldown (since the last scale-up).
    Up,
    /// Scale-down cooldown (since the last scaling event).
    Down,
}

/// A cooldown that held the decision back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CooldownLimit {
    /// Which cooldown.
    pub direction: Direction,
    /// How long until it ends.
    pub remaining: Duration,
}

/// The limits that changed the raw recommendation into the target; `None` = did not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Limits {
    /// A cooldown blocked the move (the action became Hold).
    pub cooldown: Option<CooldownLimit>,
    /// The step policy capped the move at this count.
    pub step: Option<u32>,
    /// `MIN_INSTANCES` or `MAX_INSTANCES` clamped the target to this count.
    pub bound: Option<u32>,
    /// Scale-down stabilization: the highest recommendation of the window kept the target here.
    pub stabilization: Option<u32>,
    /// Instances still warming up: this many not-ready instances already cover the demand.
    pub warmup: Option<u32>,
}

/// Why the decision is what it is: per-metric readings, the rule, and the limits that applied.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Reasons {
    /// The rule that fired.
    pub rule: Rule,
    /// The five metrics, in [`MetricKind::ALL`] order.
    pub readings: [Reading; 5],
    /// The raw recommendation (instances) before cooldowns, step policies, bounds and
    /// stabilization. The state remembers it for stabilization.
    pub recommended: u32,
    /// Instances counted as serving capacity (ready); the metrics are averages over these.
    pub ready: u32,
    /// Whether `ready` was reported by the caller ([`ScalingState::set_ready`]) rather than
    /// inferred from recent scale-ups and `INSTANCE_WARMUP`: a reported not-ready instance may be
    /// failing, not starting.
    ///
    /// [`ScalingState::set_ready`]: crate::ScalingState::set_ready
    #[cfg_attr(feature = "serde", serde(default))]
    pub ready_reported: bool,
    /// The sample was older than `METRICS_MAX_AGE`.
    pub stale: bool,
    /// The limits that changed the raw recommendation.
    pub limits: Limits,
    /// The override in force, if the rule is [`Rule::Override`].
    pub manual_override: Option<Override>,
    /// The scale-down stabilization window; the state keeps recommendations this long.
    pub stabilization_window: Duration,
    /// Tracking mode: the demand estimate, term by term (`None` in guide mode, and for
    /// decisions made before the mode's own rules: override, disabled, bounds, no ready).
    #[cfg_attr(feature = "serde", serde(default))]
    pub tracking: Option<TrackingReasons>,
}

/// A scaling decision: what to do and why.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Decision {
    /// Scale up, down, or hold.
    pub action: Action,
    /// Instances before the decision.
    pub current: u32,
    /// Instances after it (equals `current` on Hold).
    pub target: u32,
    /// Why, as data. `Display` renders it as one line.
    pub reasons: Reasons,
}

impl Decision {
    /// A decision to go from `current` to `target`; the action follows from the two.
    pub(crate) fn new(current: u32, target: u32, reasons: Reasons) -> Self {
        let action = match target.cmp(&current) {
            std::cmp::Ordering::Greater => Action::ScaleUp,
            std::cmp::Ordering::Less => Action::ScaleDown,
            std::cmp::Ordering::Equal => Action::Hold,
        };
        Self {
            action,
            current,
            target,
            reasons,
        }
    }

    /// The decision as one human-readable line (same as `to_string()`).
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// The reading of one metric.
    pub fn reading(&self, metric: MetricKind) -> &Reading {
        &self.reasons.readings[metric.index()]
    }
}

/// A metric value (or threshold) with its unit, as messages show it: p95 to the millisecond.
struct WithUnit(MetricKind, f64);

impl fmt::Display for WithUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            MetricKind::P95ResponseTime => write!(f, "{:.3}{}", self.1, self.0.unit()),
            _ => write!(f, "{:.1}{}", self.1, self.0.unit()),
        }
    }
}

/// Text from an operator (an override's reason) with line breaks and other control characters
/// shown as spaces, so the message stays one line in a log.
struct OneLine<'a>(&'a str);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        self.0
            .chars()
            .try_for_each(|c| f.write_char(if c.is_control() { ' ' } else { c }))
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.reasons;
        match self.action {
            Action::ScaleUp => write!(f, "scale up {} -> {}: ", self.current, self.target)?,
            Action::ScaleDown => write!(f, "scale down {} -> {}: ", self.current, self.target)?,
            Action::Hold => write!(f, "hold at {}: ", self.current)?,
        }
        match r.rule {
            Rule::ScaleUp { .. } => {
                let mut first = true;
                for reading in r.readings.iter().filter(|x| x.verdict == Verdict::Above) {
                    if !first {
                        f.write_str(", ")?;
                    }
                    first = false;
                    let v = reading.value.unwrap_or(f64::NAN);
                    write!(
                        f,
                        "{} {} > {}",
                        reading.metric.name(),
                        WithUnit(reading.metric, v),
                        WithUnit(reading.metric, reading.up_threshold)
                    )?;
                    if let Some(w) = reading.wants {
                        write!(f, " (wants {w})")?;
                    }
                }
            }
            Rule::ScaleDown => {
                write!(
                    f,
                    "every metric below its scale-down threshold (wants {})",
                    r.recommended
                )?;
            }
            Rule::WithinBand => {
                f.write_str("no metric above its scale-up threshold; within band:")?;
                for reading in r.readings.iter().filter(|x| x.verdict == Verdict::Within) {
                    let v = reading.value.unwrap_or(f64::NAN);
                    write!(
                        f,
                        " {} {}",
                        reading.metric.name(),
                        WithUnit(reading.metric, v)
                    )?;
                }
            }
            Rule::MissingMetric { metric } => write!(
                f,
                "no scale-down while {} is missing or invalid",
                metric.name()
            )?,
            Rule::StaleMetrics => f.write_str("no scale-down on a stale sample")?,
            Rule::Disabled => f.write_str("auto-scaling disabled (AUTO_SCALING_ENABLED=false)")?,
            Rule::Override => match &r.manual_override {
                Some(o) => write!(
                    f,
                    "manual override to {} ({}) until unix time {}",
                    o.target,
                    OneLine(&o.reason),
                    unix_secs(o.expires_at)
                )?,
                None => f.write_str("manual override")?,
            },
            Rule::Tracking { .. } => match &r.tracking {
                Some(t) => t.fmt_terms(f)?,
                None => f.write_str("tracking")?,
            },
            Rule::WithinTolerance => match &r.tracking {
                Some(t) => {
                    t.fmt_terms(f)?;
                    t.fmt_hold(self.current, f)?;
                }
                None => f.write_str("within the scale-down tolerance")?,
            },
            Rule::HistoryTooShort => match &r.tracking {
                Some(t) => write!(
                    f,
                    "no scale-down before a full window of history ({:.0} s of {} s)",
                    t.history.as_secs_f64(),
                    t.window.as_secs()
                )?,
                None => f.write_str("no scale-down before a full window of history")?,
            },
            Rule::NoReadyInstances => f.write_str(
                "no ready instance: the metrics describe no serving capacity (is a shared dependency down?)",
            )?,
            Rule::OutOfBounds => write!(
                f,
                "{} instances is outside MIN_INSTANCES..=MAX_INSTANCES",
                self.current
            )?,
        }
        if let Some(t) = r
            .tracking
            .as_ref()
            .filter(|_| !matches!(r.rule, Rule::Tracking { .. } | Rule::WithinTolerance))
        {
            f.write_str("; ")?;
            t.fmt_terms(f)?;
        }
        if r.stale && r.rule != Rule::StaleMetrics {
            f.write_str("; sample is stale")?;
        }
        let l = &r.limits;
        match l.warmup {
            Some(n) if r.ready_reported => write!(
                f,
                "; {n} instances not ready (starting, or failing their readiness check) cover the demand"
            )?,
            Some(n) => write!(f, "; {n} instances still warming up cover the demand")?,
            None => {}
        }
        if let Some(c) = l.cooldown {
            let which = match c.direction {
                Direction::Up => "scale-up",
                Direction::Down => "scale-down",
            };
            write!(
                f,
                "; {which} cooldown: {:.0} s left",
                c.remaining.as_secs_f64().ceil()
            )?;
        }
        if let Some(n) = l.stabilization {
            write!(f, "; stabilization: highest recent recommendation is {n}")?;
        }
        if let Some(n) = l.step {
            write!(f, "; step policy: at most {n} this period")?;
        }
        if let Some(n) = l.bound {
            write!(f, "; bound: {n}")?;
        }
        if !matches!(r.rule, Rule::MissingMetric { .. }) {
            let mut missing = r
                .readings
                .iter()
                .filter(|x| matches!(x.verdict, Verdict::Missing | Verdict::Invalid))
                .peekable();
            if missing.peek().is_some() {
                f.write_str("; missing or invalid (never a reason to scale down):")?;
                for (i, reading) in missing.enumerate() {
                    let sep = if i == 0 { " " } else { ", " };
                    write!(f, "{sep}{}", reading.metric.name())?;
                }
            }
        }
        Ok(())
    }
}
