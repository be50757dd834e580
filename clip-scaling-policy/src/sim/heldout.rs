//! Traces to evaluate on, never to tune on: a generator of load shapes the built-in traces do
//! not have (weekly cycles with skewed daily peaks, flash crowds with slow decay, clustered
//! batch-job bursts, growth with an outage and its retry surge), with noise that is
//! autocorrelated and has rare outliers, where the built-in traces' noise is independent and
//! uniform. Each family draws its parameters from the seed.

use std::f64::consts::PI;

use super::trace::{mix, splitmix64, unit_noise};
use super::{Trace, TracePoint};

/// A family of held-out traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Two weeks of daily cycles with a skewed peak at a drawn hour, quieter weekends.
    DailyWeekly,
    /// A modest daily cycle with flash crowds (about 1.5 a day): a rise within seconds to a
    /// minute or two, to 1.5 to 4 times the base, then an exponential decay over 15 to 90
    /// minutes.
    FlashCrowd,
    /// Web traffic with clustered batch-job bursts (about 5 a day, 200 to 3 500 jobs each,
    /// arriving within 30 s to 8 minutes, some followed by another within the hour).
    BatchBursts,
    /// Two weeks of daily cycles growing 1.8 to 2.6 times, with an outage in the second week
    /// (traffic down to 5 % for 15 to 60 minutes) and the retry surge that follows it.
    GrowthOutage,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 4] = [
        Family::DailyWeekly,
        Family::FlashCrowd,
        Family::BatchBursts,
        Family::GrowthOutage,
    ];

    /// The family's name, also its traces' name.
    pub fn name(self) -> &'static str {
        match self {
            Family::DailyWeekly => "daily-weekly",
            Family::FlashCrowd => "flash-crowd",
            Family::BatchBursts => "batch-bursts",
            Family::GrowthOutage => "growth-outage",
        }
    }

    /// The family with this name, if any.
    pub fn from_name(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == name)
    }

    /// How long its traces run by default: two weeks for the cycles, one for the others.
    pub fn default_duration_secs(self) -> f64 {
        match self {
            Family::DailyWeekly | Family::GrowthOutage => 14.0 * DAY,
            Family::FlashCrowd | Family::BatchBursts => 7.0 * DAY,
        }
    }
}

const DAY: f64 = 86_400.0;
const STEP: f64 = 15.0;

/// A trace of `family`, `duration_secs` long, one point every 15 s, drawn from `seed`.
pub fn generate(family: Family, duration_secs: f64, seed: u64) -> Trace {
    // The generator walks a counter: hash the seed so that nearby seeds start far apart on
    // it (seeds 1 to 5 once started a few steps apart and drew shifted copies of one stream).
    let mut rng =
        Rng::new(splitmix64(seed) ^ (family as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let n = (duration_secs.clamp(STEP, super::MAX_TRACE_SECS) / STEP) as usize;
    let (rates, jobs) = match family {
        Family::DailyWeekly => daily_weekly(&mut rng, n),
        Family::FlashCrowd => flash_crowd(&mut rng, n),
        Family::BatchBursts => batch_bursts(&mut rng, n),
        Family::GrowthOutage => growth_outage(&mut rng, n),
    };
    let mut noise = Noise::new(&mut rng);
    let points = rates
        .iter()
        .zip(&jobs)
        .enumerate()
        .map(|(i, (rate, jobs))| TracePoint {
            at_secs: i as f64 * STEP,
            request_rate: (rate * noise.next(&mut rng)).clamp(0.0, 3_400.0),
            queue_arrivals: jobs.max(0.0),
        })
        .collect();
    Trace {
        name: family.name().to_string(),
        points,
    }
}

/// A daily cycle with its peak at `peak_hour`, 0 at the trough and 1 at the peak; `sharpness`
/// above 1 narrows the peak.
fn daily(t: f64, peak_hour: f64, sharpness: f64) -> f64 {
    let phase = 2.0 * PI * (t / 3_600.0 - peak_hour) / 24.0;
    (0.5 + 0.5 * phase.cos()).powf(sharpness)
}

/// Whether `t` falls on a weekend, for a week starting `first_day` days into a Monday.
fn weekend(t: f64, first_day: u64) -> bool {
    ((t / DAY) as u64 + first_day) % 7 >= 5
}

fn daily_weekly(rng: &mut Rng, n: usize) -> (Vec<f64>, Vec<f64>) {
    let base = rng.between(350.0, 700.0);
    let peak = rng.between(2.2, 3.5);
    let hour = rng.between(11.0, 20.0);
    let sharpness = rng.between(1.0, 3.0);
    let weekend_factor = rng.between(0.5, 0.85);
    let first_day = rng.below(7);
    let rates: Vec<f64> = (0..n)
        .map(|i| {
            let t = i as f64 * STEP;
            let level = base * (1.0 + (peak - 1.0) * daily(t, hour, sharpness));
            if weekend(t, first_day) {
                level * weekend_factor
            } else {
                level
            }
        })
        .collect();
    let jobs = rates.iter().map(|r| r * 0.000_5).collect();
    (rates, jobs)
}

fn flash_crowd(rng: &mut Rng, n: usize) -> (Vec<f64>, Vec<f64>) {
    let base = rng.between(400.0, 700.0);
    let swing = rng.between(0.5, 1.0);
    let hour = rng.between(12.0, 21.0);
    let mut rates: Vec<f64> = (0..n)
        .map(|i| base * (1.0 + swing * daily(i as f64 * STEP, hour, 1.5)))
        .collect();
    let mut t = rng.exponential(DAY / 1.5);
    let end = n as f64 * STEP;
    while t < end {
        let height = rng.between(1.5, 4.0) * base;
        let rise = rng.between(15.0, 120.0);
        let decay = rng.between(15.0, 90.0) * 60.0;
        for (i, rate) in rates.iter_mut().enumerate() {
            let dt = i as f64 * STEP - t;
            if dt >= 0.0 {
                let shape = if dt < rise {
                    dt / rise
                } else {
                    (-(dt - rise) / decay).exp()
                };
                *rate += height * shape;
            }
        }
        t += rng.exponential(DAY / 1.5);
    }
    let jobs = rates.iter().map(|r| r * 0.000_5).collect();
    (rates, jobs)
}

fn batch_bursts(rng: &mut Rng, n: usize) -> (Vec<f64>, Vec<f64>) {
    let base = rng.between(300.0, 700.0);
    let hour = rng.between(10.0, 18.0);
    let background = rng.between(0.2, 0.8);
    let rates: Vec<f64> = (0..n)
        .map(|i| base * (1.0 + 0.8 * daily(i as f64 * STEP, hour, 1.0)))
        .collect();
    let mut jobs = vec![background; n];
    let end = n as f64 * STEP;
    let mut t = rng.exponential(DAY / 5.0);
    while t < end {
        let mut burst_at = t;
        loop {
            let size = rng.between(200.0, 3_500.0);
            let spread = rng.between(30.0, 480.0);
            let first = (burst_at / STEP) as usize;
            let last = ((burst_at + spread) / STEP).ceil() as usize;
            let points = (last - first).max(1) as f64;
            for slot in jobs.iter_mut().take(last.min(n)).skip(first) {
                *slot += size / (points * STEP);
            }
            if rng.unit() >= 0.3 {
                break;
            }
            burst_at += rng.between(600.0, 2_400.0);
        }
        t += rng.exponential(DAY / 5.0);
    }
    (rates, jobs)
}

fn growth_outage(rng: &mut Rng, n: usize) -> (Vec<f64>, Vec<f64>) {
    let base = rng.between(300.0, 500.0);
    let growth = rng.between(1.8, 2.6);
    let peak = rng.between(1.8, 2.5);
    let hour = rng.between(11.0, 20.0);
    let end = n as f64 * STEP;
    let outage_at = rng.between(8.0, 12.0) * DAY + rng.between(0.0, DAY);
    let outage_for = rng.between(15.0, 60.0) * 60.0;
    let surge = rng.between(1.6, 2.2);
    let mut rates = Vec::with_capacity(n);
    let mut jobs = Vec::with_capacity(n);
    for i in 0..n {
        let t = i as f64 * STEP;
        let trend = 1.0 + (growth - 1.0) * t / end.max(1.0);
        let normal = base * trend * (1.0 + (peak - 1.0) * daily(t, hour, 1.5));
        let since = t - outage_at;
        let (rate, job) = if (0.0..outage_for).contains(&since) {
            (normal * 0.05, 0.0)
        } else if since >= outage_for {
            let after = since - outage_for;
            let retry = 1.0 + (surge - 1.0) * (-after / 600.0).exp();
            (normal * retry, normal * 0.000_5 * retry)
        } else {
            (normal, normal * 0.000_5)
        };
        rates.push(rate);
        jobs.push(job);
    }
    (rates, jobs)
}

/// Multiplicative noise: an AR(1) process in log space (6 % standard deviation, correlated
/// over about five minutes), 3 % white noise, and a rare one-point outlier (x1.3 to x2).
struct Noise {
    level: f64,
}

impl Noise {
    fn new(rng: &mut Rng) -> Self {
        Self {
            level: 0.06 * rng.normal(),
        }
    }

    fn next(&mut self, rng: &mut Rng) -> f64 {
        const RHO: f64 = 0.95;
        self.level = RHO * self.level + (1.0 - RHO * RHO).sqrt() * 0.06 * rng.normal();
        let outlier = if rng.unit() < 0.000_5 {
            rng.between(1.3, 2.0)
        } else {
            1.0
        };
        self.level.exp() * (1.0 + 0.03 * rng.normal()) * outlier
    }
}

/// A small deterministic generator (splitmix64 over a counter): the same seed, the same trace.
/// Its streams are segments of one sequence, so a seed must be hashed before it becomes a
/// starting point (see [`generate`]).
struct Rng {
    state: u64,
}

impl Rng {
    fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        self.state = self.state.wrapping_add(1);
        0.5 + 0.5 * unit_noise(mix(0, self.state)) - f64::EPSILON
    }

    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit().max(0.0)
    }

    fn below(&mut self, n: u64) -> u64 {
        ((self.unit().max(0.0) * n as f64) as u64).min(n.saturating_sub(1))
    }

    /// Approximately standard normal (the sum of twelve uniforms, minus six).
    fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.unit()).sum::<f64>() - 6.0
    }

    /// Exponentially distributed with this mean.
    fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).max(f64::MIN_POSITIVE).ln()
    }
}
