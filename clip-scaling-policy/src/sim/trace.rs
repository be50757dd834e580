//! Load traces: reading a CSV of timestamped load, and the built-in shapes.

use std::f64::consts::PI;

use crate::ScalingError;

/// Load at one moment; it holds until the next point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TracePoint {
    /// Seconds since the start of the trace.
    pub at_secs: f64,
    /// Requests per second arriving at the whole fleet.
    pub request_rate: f64,
    /// Jobs per second arriving in the processing queue.
    pub queue_arrivals: f64,
}

/// A named series of load points, times strictly increasing.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// A short name for reports and charts.
    pub name: String,
    /// The points, times strictly increasing.
    pub points: Vec<TracePoint>,
}

/// The built-in trace shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// About 900 req/s all the time, with 10 % noise.
    Steady,
    /// A daily cycle from 300 to 1 800 req/s (peak at noon), weekends at 60 %.
    Diurnal,
    /// A linear climb from 200 to 2 600 req/s over the whole trace.
    Ramp,
    /// 600 req/s with a 10-minute burst to 2 400 req/s every 6 hours.
    Spike,
    /// A 2-hour climb from 300 to 2 000 req/s, then a sudden drop, over and over.
    Sawtooth,
    /// Video-processing jobs in batches that need scaling: 500 to 1 100 req/s of web traffic
    /// (a daily cycle), 0.5 jobs/s in the background, and in every 4-hour slot one batch of
    /// 600 to 2 400 jobs arriving within 1 to 4 minutes, at a time and size the seed draws.
    Batch,
}

impl Shape {
    /// Every built-in shape.
    pub const ALL: [Shape; 6] = [
        Shape::Steady,
        Shape::Diurnal,
        Shape::Ramp,
        Shape::Spike,
        Shape::Sawtooth,
        Shape::Batch,
    ];

    /// Lower-case name (`steady`, `diurnal`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Shape::Steady => "steady",
            Shape::Diurnal => "diurnal",
            Shape::Ramp => "ramp",
            Shape::Spike => "spike",
            Shape::Sawtooth => "sawtooth",
            Shape::Batch => "batch",
        }
    }

    /// The shape with this name, if any.
    pub fn from_name(name: &str) -> Option<Shape> {
        Shape::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Requests per second at `t` seconds into a trace `total` seconds long, before noise.
    fn request_rate(self, t: f64, total: f64) -> f64 {
        match self {
            Shape::Steady => 900.0,
            Shape::Diurnal => {
                let weekend = if (t / DAY) as u64 % 7 >= 5 { 0.6 } else { 1.0 };
                weekend * (300.0 + 1_500.0 * daily(t))
            }
            Shape::Ramp => 200.0 + 2_400.0 * (t / total.max(1.0)),
            Shape::Spike => {
                if t % (6.0 * 3_600.0) >= 3.0 * 3_600.0
                    && t % (6.0 * 3_600.0) < 3.0 * 3_600.0 + 600.0
                {
                    2_400.0
                } else {
                    600.0
                }
            }
            Shape::Sawtooth => 300.0 + 1_700.0 * ((t % 7_200.0) / 7_200.0),
            Shape::Batch => 500.0 + 600.0 * daily(t),
        }
    }

    /// Jobs per second arriving at `t`, before noise, for a trace drawn with `seed`.
    fn job_arrivals(self, t: f64, rate: f64, seed: u64) -> f64 {
        match self {
            Shape::Batch => {
                const SLOT: f64 = 4.0 * 3_600.0;
                let slot = (t / SLOT) as u64;
                let draw = |k: u64| 0.5 + 0.5 * unit_noise(mix(seed, 0xBA7C_0000 + slot * 4 + k));
                let start = slot as f64 * SLOT + draw(0) * (SLOT - 600.0);
                let jobs = 600.0 + 1_800.0 * draw(1);
                let spread = 60.0 + 180.0 * draw(2);
                let batch = if (start..start + spread).contains(&t) {
                    jobs / spread
                } else {
                    0.0
                };
                0.5 + batch
            }
            _ => rate * JOBS_PER_REQUEST,
        }
    }
}

const DAY: f64 = 86_400.0;

/// 0 at midnight, 1 at noon: the daily cycle of the diurnal shapes.
fn daily(t: f64) -> f64 {
    0.5 - 0.5 * (2.0 * PI * (t % DAY) / DAY).cos()
}

/// Longest trace the simulator replays: a year.
pub const MAX_TRACE_SECS: f64 = 366.0 * 86_400.0;

/// Jobs queued per request, for the built-in shapes (one clip job per thousand requests).
const JOBS_PER_REQUEST: f64 = 0.001;

impl Trace {
    /// A built-in shape, `duration_secs` long (at most [`MAX_TRACE_SECS`]), one point every
    /// `step_secs` (at least 1 s), with deterministic noise (the same trace every run): the
    /// trace of seed 0 (see [`Trace::builtin_seeded`]).
    pub fn builtin(shape: Shape, duration_secs: f64, step_secs: f64) -> Self {
        Self::builtin_seeded(shape, duration_secs, step_secs, 0)
    }

    /// A built-in shape drawn with `seed`: the noise (uniform, 10 % on steady, 5 % elsewhere,
    /// on requests and jobs alike) and, on [`Shape::Batch`], the batches' times and sizes. The
    /// same seed gives the same trace.
    pub fn builtin_seeded(shape: Shape, duration_secs: f64, step_secs: f64, seed: u64) -> Self {
        let step = step_secs.max(1.0);
        let n = (duration_secs.clamp(step, MAX_TRACE_SECS) / step) as u64;
        let noise = if shape == Shape::Steady { 0.10 } else { 0.05 };
        let points = (0..n)
            .map(|i| {
                let t = i as f64 * step;
                let jitter = 1.0 + noise * unit_noise(mix(seed, i));
                let rate = shape.request_rate(t, duration_secs);
                TracePoint {
                    at_secs: t,
                    request_rate: rate * jitter,
                    queue_arrivals: shape.job_arrivals(t, rate, seed) * jitter,
                }
            })
            .collect();
        Self {
            name: shape.name().to_string(),
            points,
        }
    }

    /// Reads a CSV of `seconds,request_rate,queue_arrivals` (the last column may be left out: no
    /// jobs). A header line, blank lines and `#` comments are skipped. Times must increase.
    pub fn from_csv(name: impl Into<String>, csv: &str) -> Result<Self, ScalingError> {
        let mut points: Vec<TracePoint> = Vec::new();
        let mut first_line = true;
        for (i, line) in csv.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let may_be_header = std::mem::replace(&mut first_line, false);
            let bad = |problem: String| ScalingError::InvalidTrace {
                line: i + 1,
                problem,
            };
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let numbers: Vec<Option<f64>> = fields.iter().map(|f| f.parse::<f64>().ok()).collect();
            // Only the first line may be a header: a later unreadable line is an error, not
            // something to skip in silence.
            if may_be_header && numbers.first().is_some_and(Option::is_none) {
                continue;
            }
            if !(2..=3).contains(&fields.len()) {
                return Err(bad(format!("{} fields", fields.len())));
            }
            let mut values = [0.0; 3];
            for (slot, (field, number)) in values.iter_mut().zip(fields.iter().zip(&numbers)) {
                match number {
                    Some(v) if v.is_finite() && *v >= 0.0 => *slot = *v,
                    _ => return Err(bad(format!("{field:?} is not a number >= 0"))),
                }
            }
            if values[0] > MAX_TRACE_SECS {
                return Err(bad(format!(
                    "time {} is beyond the simulator's limit of {MAX_TRACE_SECS} s (a year)",
                    values[0]
                )));
            }
            if let Some(last) = points.last()
                && values[0] <= last.at_secs
            {
                return Err(bad(format!(
                    "time {} does not come after {}",
                    values[0], last.at_secs
                )));
            }
            points.push(TracePoint {
                at_secs: values[0],
                request_rate: values[1],
                queue_arrivals: values[2],
            });
        }
        if points.is_empty() {
            return Err(ScalingError::EmptyTrace);
        }
        Ok(Self {
            name: name.into(),
            points,
        })
    }

    /// Seconds from the first point to the last.
    pub fn duration_secs(&self) -> f64 {
        match (self.points.first(), self.points.last()) {
            (Some(a), Some(b)) => b.at_secs - a.at_secs,
            _ => 0.0,
        }
    }

    /// Renders the trace as CSV (with a header), readable by [`Trace::from_csv`].
    pub fn to_csv(&self) -> String {
        let mut out = String::from("seconds,request_rate,queue_arrivals\n");
        for p in &self.points {
            out.push_str(&format!(
                "{},{:.3},{:.5}\n",
                p.at_secs, p.request_rate, p.queue_arrivals
            ));
        }
        out
    }
}

/// An index for [`unit_noise`] from a seed and a position: seed 0 keeps the position as is.
pub(crate) fn mix(seed: u64, i: u64) -> u64 {
    i ^ seed.wrapping_mul(0xD1B5_4A32_D192_ED03)
}

/// Deterministic noise in [-1, 1] from an index (splitmix64).
pub(crate) fn unit_noise(i: u64) -> f64 {
    (splitmix64(i) >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// One step of splitmix64: a well-mixed 64-bit value from an index.
pub(crate) fn splitmix64(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
