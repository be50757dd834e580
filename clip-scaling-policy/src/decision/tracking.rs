//! What a tracking-mode decision carries on top of the common reasons: the demand estimate
//! and each term that went into it.

use std::fmt;
use std::time::Duration;

use crate::MetricKind;

/// What set a tracking decision's estimate: the largest of its terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Driver {
    /// The load (high-water mark plus trend) of this metric, sized to its setpoint.
    Load(MetricKind),
    /// The latency guard: p95 near the SLO while the load metrics look fine.
    Latency,
    /// The queue: jobs waiting, to be drained within the job-wait SLO.
    Queue,
    /// Seasonal pre-scaling: a rise seen at this time on each of the last two days.
    Seasonal,
    /// An earlier estimate within the window, higher than this decision's.
    Window,
}

/// The demand estimate of a tracking decision, term by term, in instances at the setpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TrackingReasons {
    /// What set `needed`.
    pub driver: Driver,
    /// The estimate the target follows: the highest estimate of the window, this one included.
    pub needed: f64,
    /// This decision's estimate (what the window remembers): the largest of the terms below.
    pub estimate: f64,
    /// The load, sized to the setpoint (before the jump guard).
    pub load: Option<f64>,
    /// The larger of the load and the latency demand as counted: a jump the previous sample
    /// did not confirm counts only up to the guard's limit.
    pub counted: Option<f64>,
    /// Such a jump's measured value, when one was held back.
    pub held_back: Option<f64>,
    /// The instances the per-instance averages were measured over (ready then).
    pub measured_over: u32,
    /// A surge's growth expected before new capacity could serve (instances).
    pub surge: f64,
    /// Instances the latency guard asks for.
    pub latency: Option<f64>,
    /// Instances the queue asks for: enough to keep up with the jobs arriving, plus those
    /// that drain the backlog new capacity will find within the job-wait SLO.
    pub queue: Option<f64>,
    /// Instances seasonal pre-scaling asks for.
    pub seasonal: Option<f64>,
    /// The window.
    pub window: Duration,
    /// How far back the history goes (at most 12 minutes): no scale-down before it covers
    /// the window.
    pub history: Duration,
    /// How far ahead the estimate looks: the metrics' age plus `TRACKING_LEAD_TIME`.
    pub lead: Duration,
    /// The scale-down tolerance, percent.
    pub tolerance_percent: f64,
}

impl TrackingReasons {
    /// Why a tracking decision holds although its estimate is below `current`: the tolerance
    /// (with the estimate below which it would scale down), a jump not confirmed yet, or no
    /// load metric to scale down on.
    pub(crate) fn fmt_hold(&self, current: u32, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.load.is_none() {
            return f.write_str("; no scale-down without a load metric");
        }
        if self.held_back.is_some() {
            return f.write_str("; no scale-down while a jump is not confirmed");
        }
        let t = self.tolerance_percent / 100.0;
        let n = f64::from(current);
        // Below the tolerance, and leaving the tolerance as headroom one instance down.
        let below = (n * (1.0 - t)).min((n - 1.0) / (1.0 + t));
        write!(
            f,
            "; within the {:.0} % scale-down tolerance (it scales down below {below:.1})",
            self.tolerance_percent
        )
    }

    /// Renders the estimate after the action, as one line's tail.
    pub(crate) fn fmt_terms(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.driver {
            Driver::Load(metric) => write!(f, "load ({})", metric.name())?,
            Driver::Latency => f.write_str("latency guard")?,
            Driver::Queue => f.write_str("queue")?,
            Driver::Seasonal => f.write_str("seasonal forecast")?,
            Driver::Window => write!(f, "an estimate of the last {} s", self.window.as_secs())?,
        }
        write!(f, " needs {:.1} instances", self.needed)?;
        if self.driver == Driver::Window {
            write!(f, " (now {:.1})", self.estimate)?;
        }
        if let Some(load) = self.load {
            write!(
                f,
                "; load {load:.1} (measured over {} ready)",
                self.measured_over
            )?;
        }
        if let (Some(x), Some(counted)) = (self.held_back, self.counted) {
            write!(
                f,
                "; a jump to {x:.1} counts as {counted:.1} until the next sample confirms it"
            )?;
        }
        if self.surge > 0.05 {
            write!(
                f,
                "; surge +{:.1} in {} s",
                self.surge,
                self.lead.as_secs_f64().round()
            )?;
        }
        for (name, value) in [
            ("latency guard", self.latency),
            ("queue", self.queue),
            ("seasonal", self.seasonal),
        ] {
            if let Some(v) = value.filter(|v| *v > 0.05) {
                write!(f, "; {name} {v:.1}")?;
            }
        }
        Ok(())
    }
}
