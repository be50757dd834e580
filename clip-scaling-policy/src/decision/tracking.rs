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
}

/// The demand estimate of a tracking decision, term by term, in instances at the setpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TrackingReasons {
    /// What set the estimate.
    pub driver: Driver,
    /// The estimate the target follows: the largest of the terms below.
    pub needed: f64,
    /// This sample's load, sized to the setpoint, as used.
    pub load: Option<f64>,
    /// A jump of the load that neither the previous sample confirmed nor CPU or p95
    /// corroborated: its measured value, held back to `load` for one sample.
    pub held_back: Option<f64>,
    /// The instances the per-instance averages were measured over (ready then).
    pub measured_over: u32,
    /// The highest load of the window, this sample included.
    pub high_water: Option<f64>,
    /// The window.
    pub window: Duration,
    /// Growth of the load expected before new capacity could serve (instances).
    pub trend: f64,
    /// How far ahead the estimate looks: the metrics' age plus `TRACKING_LEAD_TIME`.
    pub lead: Duration,
    /// Instances the latency guard asks for.
    pub latency: Option<f64>,
    /// Instances the queue asks for: its longest in the window plus its growth over the lead
    /// time, drained within the job-wait SLO.
    pub queue: Option<f64>,
    /// Instances seasonal pre-scaling asks for: the highest forecast of the window (a forecast
    /// holds until the load it foresaw shows in the metrics).
    pub seasonal: Option<f64>,
    /// The seasonal forecast made at this decision (what the history remembers).
    pub forecast: Option<f64>,
    /// The scale-down tolerance, percent.
    pub tolerance_percent: f64,
}

impl TrackingReasons {
    /// Renders the estimate after the action, as one line's tail.
    pub(crate) fn fmt_terms(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.driver {
            Driver::Load(metric) => write!(f, "load ({})", metric.name())?,
            Driver::Latency => f.write_str("latency guard")?,
            Driver::Queue => f.write_str("queue")?,
            Driver::Seasonal => f.write_str("seasonal forecast")?,
        }
        write!(f, " needs {:.1} instances", self.needed)?;
        if let Some(hw) = self.high_water {
            write!(
                f,
                "; load high-water {hw:.1} over {} s (measured over {} ready)",
                self.window.as_secs(),
                self.measured_over
            )?;
        }
        if self.trend > 0.05 {
            write!(
                f,
                ", trend +{:.1} in {} s",
                self.trend,
                self.lead.as_secs_f64().round()
            )?;
        }
        if let Some(x) = self.held_back {
            write!(
                f,
                "; jump to {x:.1} held back (not confirmed, not corroborated)"
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
