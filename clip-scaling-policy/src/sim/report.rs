//! What a run reports: its totals ([`Report`]), its timeline ([`Sample`]s) and, over several
//! seeds, the mean with its spread ([`Summary`]).

use std::fmt;
use std::time::Duration;

/// One tick of a run (or, on a long run, a bucket of ticks: see
/// [`Judge::max_samples`](super::Judge::max_samples)), for charts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Seconds since the start.
    pub at_secs: f64,
    /// Requests per second arriving (a bucket's highest).
    pub request_rate: f64,
    /// Instances, ready or starting (a bucket's highest).
    pub instances: u32,
    /// Ready instances (a bucket's lowest).
    pub ready: u32,
    /// Whether this tick violated the latency SLO (any tick of a bucket).
    pub violation: bool,
    /// Jobs waiting in the queue (a bucket's highest).
    pub jobs_waiting: f64,
    /// Whether a job had been waiting longer than the job-wait SLO (any tick of a bucket).
    pub job_wait_violation: bool,
}

/// The outcome of one simulated run.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The autoscaler's name.
    pub autoscaler: String,
    /// The trace's name.
    pub trace: String,
    /// Simulated time.
    pub simulated: Duration,
    /// Instance-hours paid for (ready or starting).
    pub instance_hours: f64,
    /// Minutes where demand exceeded ready capacity or p95 exceeded the SLO.
    pub slo_violation_minutes: f64,
    /// Minutes where a job in the queue had waited longer than the job-wait SLO.
    pub job_wait_violation_minutes: f64,
    /// Decisions that changed the instance count.
    pub scaling_actions: u32,
    /// Scaling actions in the opposite direction of the previous one.
    pub reversals: u32,
    /// Highest instance count.
    pub peak_instances: u32,
    /// Decisions taken.
    pub decisions: u64,
}

impl Report {
    /// Column headings matching the `Display` rows (a Markdown table header, two lines).
    pub const HEADER: &'static str = "\
| trace    | autoscaler | instance-hours | SLO-violation min | job-wait min | actions | reversals | peak |
|----------|------------|---------------:|------------------:|-------------:|--------:|----------:|-----:|";
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "| {:<8} | {:<10} | {:>14.1} | {:>17.1} | {:>12.1} | {:>7} | {:>9} | {:>4} |",
            self.trace,
            self.autoscaler,
            self.instance_hours,
            self.slo_violation_minutes,
            self.job_wait_violation_minutes,
            self.scaling_actions,
            self.reversals,
            self.peak_instances
        )
    }
}

/// A run: its report and its timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The totals.
    pub report: Report,
    /// One sample per tick (per bucket of ticks on a long run).
    pub samples: Vec<Sample>,
}

/// The figures a comparison looks at, as numbers (means may be fractional).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Figures {
    /// Instance-hours.
    pub instance_hours: f64,
    /// SLO-violation minutes.
    pub slo_violation_minutes: f64,
    /// Job-wait-violation minutes.
    pub job_wait_violation_minutes: f64,
    /// Scaling actions.
    pub actions: f64,
    /// Reversals.
    pub reversals: f64,
    /// Peak instances.
    pub peak: f64,
}

impl Figures {
    /// The figures of one run.
    pub fn of(r: &Report) -> Self {
        Self {
            instance_hours: r.instance_hours,
            slo_violation_minutes: r.slo_violation_minutes,
            job_wait_violation_minutes: r.job_wait_violation_minutes,
            actions: f64::from(r.scaling_actions),
            reversals: f64::from(r.reversals),
            peak: f64::from(r.peak_instances),
        }
    }

    /// The figure names as the JSON output spells them, with their values.
    pub fn named(&self) -> [(&'static str, f64); 6] {
        [
            ("instance_hours", self.instance_hours),
            ("slo_violation_minutes", self.slo_violation_minutes),
            (
                "job_wait_violation_minutes",
                self.job_wait_violation_minutes,
            ),
            ("actions", self.actions),
            ("reversals", self.reversals),
            ("peak", self.peak),
        ]
    }

    fn zip(&self, o: &Self, f: impl Fn(f64, f64) -> f64) -> Self {
        Self {
            instance_hours: f(self.instance_hours, o.instance_hours),
            slo_violation_minutes: f(self.slo_violation_minutes, o.slo_violation_minutes),
            job_wait_violation_minutes: f(
                self.job_wait_violation_minutes,
                o.job_wait_violation_minutes,
            ),
            actions: f(self.actions, o.actions),
            reversals: f(self.reversals, o.reversals),
            peak: f(self.peak, o.peak),
        }
    }
}

/// One autoscaler on one trace over several seeds: the mean, and the lowest and highest of
/// each figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The trace's name.
    pub trace: String,
    /// The autoscaler's name.
    pub autoscaler: String,
    /// Runs summarised (one per seed).
    pub runs: usize,
    /// Mean over the runs.
    pub mean: Figures,
    /// Lowest over the runs, figure by figure.
    pub min: Figures,
    /// Highest over the runs, figure by figure.
    pub max: Figures,
    /// A note on the row (say, the setting a tuned baseline picked).
    pub note: Option<String>,
}

impl Summary {
    /// Summarises runs of one autoscaler on one trace; `None` for no runs.
    pub fn of(reports: &[Report]) -> Option<Self> {
        let first = reports.first()?;
        let all = reports.iter().map(Figures::of);
        let sum = all
            .clone()
            .fold(Figures::default(), |a, b| a.zip(&b, |x, y| x + y));
        let n = reports.len() as f64;
        Some(Self {
            trace: first.trace.clone(),
            autoscaler: first.autoscaler.clone(),
            runs: reports.len(),
            mean: sum.zip(&sum, |x, _| x / n),
            min: all.clone().reduce(|a, b| a.zip(&b, f64::min))?,
            max: all.reduce(|a, b| a.zip(&b, f64::max))?,
            note: None,
        })
    }

    /// Column headings matching the `Display` rows (a Markdown table header, two lines).
    pub const HEADER: &'static str = "\
| trace    | autoscaler | instance-hours (min-max)  | SLO-violation min (min-max) | job-wait min (min-max) | actions | reversals | peak |
|----------|------------|--------------------------:|----------------------------:|-----------------------:|--------:|----------:|-----:|";
}

/// `mean (min-max)`, or just the mean when every run agrees.
struct Spread(f64, f64, f64);

impl fmt::Display for Spread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Spread(mean, min, max) = *self;
        let text = if format!("{min:.1}") == format!("{max:.1}") {
            format!("{mean:.1}")
        } else {
            format!("{mean:.1} ({min:.1}-{max:.1})")
        };
        f.pad(&text)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (m, lo, hi) = (&self.mean, &self.min, &self.max);
        write!(
            f,
            "| {:<8} | {:<10} | {:>25} | {:>27} | {:>22} | {:>7.1} | {:>9.1} | {:>4.1} |",
            self.trace,
            self.autoscaler,
            Spread(m.instance_hours, lo.instance_hours, hi.instance_hours),
            Spread(
                m.slo_violation_minutes,
                lo.slo_violation_minutes,
                hi.slo_violation_minutes
            ),
            Spread(
                m.job_wait_violation_minutes,
                lo.job_wait_violation_minutes,
                hi.job_wait_violation_minutes
            ),
            m.actions,
            m.reversals,
            m.peak,
        )
    }
}

impl Summary {
    /// The summary as one JSON object: `trace`, `autoscaler`, `seeds`, the mean of each figure
    /// (`instance_hours`, `slo_violation_minutes`, `job_wait_violation_minutes`, `actions`,
    /// `reversals`, `peak`), `min` and `max` objects with the same figures, and `note` when
    /// there is one. Written by hand: the crate's core has no JSON dependency.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        out.push_str(&format!(
            "\"trace\":{},\"autoscaler\":{},\"seeds\":{}",
            json_string(&self.trace),
            json_string(&self.autoscaler),
            self.runs
        ));
        for (name, value) in self.mean.named() {
            out.push_str(&format!(",\"{name}\":{}", json_number(value)));
        }
        for (key, figures) in [("min", &self.min), ("max", &self.max)] {
            out.push_str(&format!(",\"{key}\":{{"));
            for (i, (name, value)) in figures.named().into_iter().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                out.push_str(&format!("{sep}\"{name}\":{}", json_number(value)));
            }
            out.push('}');
        }
        if let Some(note) = &self.note {
            out.push_str(&format!(",\"note\":{}", json_string(note)));
        }
        out.push('}');
        out
    }

    /// Summaries as one JSON array (see [`Summary::to_json`]).
    pub fn json_array(rows: &[Summary]) -> String {
        let items: Vec<String> = rows.iter().map(Summary::to_json).collect();
        format!("[{}]", items.join(","))
    }
}

/// A JSON string literal (RFC 8259 escapes).
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number; `null` for NaN and infinities, which JSON cannot represent.
fn json_number(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".to_string()
    }
}
