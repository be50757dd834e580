//! What the tracking mode remembers between decisions, in buffers of fixed size allocated once:
//! recent load, queue and estimates in 15 s buckets over 12 minutes, the ready
//! count at each decision (per-instance averages measured before the fleet changed must be
//! multiplied by the count they were averaged over), the last raw load (to confirm a jump),
//! and, for seasonal pre-scaling, the highest demand of each minute of the last three days.
//!
//! `decide` only reads it; [`ScalingState::record`](crate::ScalingState::record) writes it.

/// Width of a demand bucket, seconds.
const BUCKET_SECS: f64 = 15.0;
/// Buckets kept: 12 minutes, the longest `TRACKING_WINDOW`.
const BUCKETS: usize = 48;
/// Ready counts kept: more decisions than a metric lag spans at one decision a few seconds.
const READY_SLOTS: usize = 32;
/// Minutes of seasonal history: three days.
const SEASON_MINUTES: usize = 3 * 1_440;
const DAY_MINUTES: i64 = 1_440;

/// One 15 s bucket of demand (instances at the setpoint).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
struct Bucket {
    /// Bucket number since the Unix epoch (`secs / 15`); -1 when empty.
    index: i64,
    load_max: f64,
    load_sum: f64,
    samples: u32,
    /// Jobs waiting, highest of the bucket; negative when no queue length was recorded.
    queue_max: f64,
    /// The tracking estimate, highest of the bucket (0 when none).
    estimate_max: f64,
}

const EMPTY_BUCKET: Bucket = Bucket {
    index: -1,
    load_max: 0.0,
    load_sum: 0.0,
    samples: 0,
    queue_max: -1.0,
    estimate_max: 0.0,
};

/// One minute of seasonal history.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
struct Minute {
    /// Minute number since the Unix epoch; 0 when empty.
    minute: u32,
    load_max: f32,
}

/// One observation, as a tracking decision computed it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Observation {
    /// Seconds since the Unix epoch of the decision.
    pub(crate) at: f64,
    /// Demand of the sample in instances at the setpoint, as used (a held-back jump at its
    /// limit), and as measured.
    pub(crate) load: Option<f64>,
    pub(crate) raw_load: Option<f64>,
    /// Jobs waiting.
    pub(crate) queue: Option<f64>,
    /// The decision's estimate, instances.
    pub(crate) estimate: f64,
    /// Ready instances at the decision.
    pub(crate) ready: u32,
}

/// The tracking mode's history. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct DemandHistory {
    buckets: Vec<Bucket>,
    /// (seconds since the epoch, ready), a ring; `next_ready` is the slot written next.
    ready: Vec<Option<(f64, u32)>>,
    next_ready: usize,
    last_raw_load: Option<f64>,
    /// Allocated on the first observation (a guide-mode state never pays for it).
    season: Vec<Minute>,
}

impl Default for DemandHistory {
    fn default() -> Self {
        Self::new()
    }
}

impl DemandHistory {
    pub(crate) fn new() -> Self {
        Self {
            buckets: vec![EMPTY_BUCKET; BUCKETS],
            ready: vec![None; READY_SLOTS],
            next_ready: 0,
            last_raw_load: None,
            season: Vec::new(),
        }
    }

    pub(crate) fn observe(&mut self, o: &Observation) {
        if !o.at.is_finite() {
            return;
        }
        self.repair();
        let index = bucket_index(o.at);
        let slot = index.rem_euclid(BUCKETS as i64) as usize;
        let b = &mut self.buckets[slot];
        if b.index != index {
            *b = Bucket {
                index,
                ..EMPTY_BUCKET
            };
        }
        if let Some(load) = o.load.filter(|l| l.is_finite()) {
            b.load_max = if b.samples == 0 {
                load
            } else {
                b.load_max.max(load)
            };
            b.load_sum += load;
            b.samples += 1;
        }
        if let Some(q) = o.queue.filter(|q| q.is_finite() && *q >= 0.0) {
            b.queue_max = b.queue_max.max(q);
        }
        if o.estimate.is_finite() {
            b.estimate_max = b.estimate_max.max(o.estimate);
        }
        self.ready[self.next_ready] = Some((o.at, o.ready));
        self.next_ready = (self.next_ready + 1) % READY_SLOTS;
        if o.raw_load.is_some() {
            self.last_raw_load = o.raw_load;
        }
        if let Some(load) = o.load.filter(|l| l.is_finite()) {
            if self.season.len() != SEASON_MINUTES {
                self.season = vec![
                    Minute {
                        minute: 0,
                        load_max: 0.0
                    };
                    SEASON_MINUTES
                ];
            }
            let minute = minute_of(o.at);
            let m = &mut self.season[minute as usize % SEASON_MINUTES];
            if m.minute == minute {
                m.load_max = m.load_max.max(load as f32);
            } else {
                *m = Minute {
                    minute,
                    load_max: load as f32,
                };
            }
        }
    }

    /// After the clock stepped back to `now`: drop demand buckets from the future and bring
    /// ready stamps back to `now` (seasonal minutes are looked up by their own number).
    pub(crate) fn clamp_future(&mut self, now: f64) {
        let current = bucket_index(now);
        for b in &mut self.buckets {
            if b.index > current {
                *b = EMPTY_BUCKET;
            }
        }
        for (at, _) in self.ready.iter_mut().flatten() {
            if *at > now {
                *at = now;
            }
        }
    }

    /// A deserialized state may hold buffers of another size: bring them back to theirs.
    fn repair(&mut self) {
        if self.buckets.len() != BUCKETS {
            self.buckets = vec![EMPTY_BUCKET; BUCKETS];
        }
        if self.ready.len() != READY_SLOTS || self.next_ready >= READY_SLOTS {
            self.ready = vec![None; READY_SLOTS];
            self.next_ready = 0;
        }
    }

    /// Buckets within `window` seconds before `now` (the current bucket included).
    fn recent(&self, now: f64, window: f64) -> impl Iterator<Item = &Bucket> {
        let current = bucket_index(now);
        let oldest = current - (window / BUCKET_SECS).ceil() as i64 + 1;
        self.buckets
            .iter()
            .filter(move |b| b.index >= oldest && b.index <= current && b.index >= 0)
    }

    /// The highest load recorded within `window` seconds before `now`.
    pub(crate) fn load_high_water(&self, now: f64, window: f64) -> Option<f64> {
        self.recent(now, window)
            .filter(|b| b.samples > 0)
            .map(|b| b.load_max)
            .reduce(f64::max)
    }

    /// How long the history goes back from `now`: to the start of its oldest bucket with a
    /// load in it, at most the 12 minutes kept (0 when empty).
    pub(crate) fn span(&self, now: f64) -> f64 {
        let current = bucket_index(now);
        self.buckets
            .iter()
            .filter(|b| b.samples > 0 && b.index >= 0 && b.index <= current)
            .map(|b| b.index)
            .min()
            .map_or(0.0, |oldest| (now - oldest as f64 * BUCKET_SECS).max(0.0))
    }

    /// The highest estimate made within `window` seconds before `now`.
    pub(crate) fn estimate_high_water(&self, now: f64, window: f64) -> Option<f64> {
        self.recent(now, window)
            .map(|b| b.estimate_max)
            .filter(|e| *e > 0.0)
            .reduce(f64::max)
    }

    /// The queue recorded about `ago` seconds before `now` (the latest bucket at least that
    /// old, within the history), with how long ago that bucket started.
    pub(crate) fn queue_before(&self, now: f64, ago: f64) -> Option<(f64, f64)> {
        let current = bucket_index(now);
        let newest = current - (ago / BUCKET_SECS).ceil() as i64;
        self.buckets
            .iter()
            .filter(|b| b.index >= 0 && b.index <= newest && b.queue_max >= 0.0)
            .max_by_key(|b| b.index)
            .map(|b| (b.queue_max, now - b.index as f64 * BUCKET_SECS))
    }

    /// How fast the load grows, instances per second: the least-squares slope of the bucket
    /// means within `span` seconds before `now`, when it is significant (at least three
    /// standard errors from zero, so noise does not pass for a ramp); else 0. At least four
    /// buckets are needed.
    pub(crate) fn load_trend(&self, now: f64, span: f64) -> f64 {
        let current = bucket_index(now);
        let points = || {
            self.recent(now, span)
                .filter(|b| b.samples > 0)
                .map(move |b| {
                    let x = (b.index - current) as f64 * BUCKET_SECS;
                    (x, b.load_sum / f64::from(b.samples))
                })
        };
        let n = points().count() as f64;
        if n < 4.0 {
            return 0.0;
        }
        let (mean_x, mean_y) = points().fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
        let (sxx, sxy) = points().fold((0.0, 0.0), |(xx, xy), (x, y)| {
            (xx + (x - mean_x).powi(2), xy + (x - mean_x) * (y - mean_y))
        });
        if sxx <= 0.0 {
            return 0.0;
        }
        let slope = sxy / sxx;
        let residuals: f64 = points()
            .map(|(x, y)| (y - mean_y - slope * (x - mean_x)).powi(2))
            .sum();
        let standard_error = (residuals / (n - 2.0) / sxx).sqrt();
        if slope.is_finite() && slope.abs() >= 3.0 * standard_error {
            slope
        } else {
            0.0
        }
    }

    /// A surge: the load rose bucket after bucket at least twice within the last `span`
    /// seconds, to `SURGE`-fold or more of the highest load of the `window` before that span.
    /// Returns the rise (as a share of that earlier highest) and the significant slope over
    /// the span (instances per second, see [`load_trend`](Self::load_trend)).
    pub(crate) fn surge(&self, now: f64, span: f64, window: f64) -> Option<(f64, f64)> {
        let current = bucket_index(now);
        let span_buckets = (span / BUCKET_SECS).ceil() as i64;
        let oldest = current - span_buckets + 1;
        let mut means = [0.0; BUCKETS];
        let mut n = 0;
        for index in oldest..=current {
            let slot = index.rem_euclid(BUCKETS as i64) as usize;
            if let Some(b) = self
                .buckets
                .get(slot)
                .filter(|b| b.index == index && b.samples > 0)
            {
                means[n] = b.load_sum / f64::from(b.samples);
                n += 1;
            }
        }
        let means = &means[..n];
        let rising = means.windows(2).rev().take_while(|w| w[1] > w[0]).count();
        let before = self
            .buckets
            .iter()
            .filter(|b| {
                b.samples > 0
                    && b.index < oldest
                    && b.index >= oldest - (window / BUCKET_SECS).ceil() as i64
            })
            .map(|b| b.load_max)
            .reduce(f64::max)?;
        let last = *means.last()?;
        if rising < 2 || before <= 0.0 {
            return None;
        }
        Some(((last - before) / before, self.load_trend(now, span)))
    }

    /// The ready count recorded at the latest decision at or before `at`, if any.
    pub(crate) fn ready_at(&self, at: f64) -> Option<u32> {
        self.ready
            .iter()
            .flatten()
            .filter(|(t, _)| *t <= at)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, r)| *r)
    }

    /// The last load measured (before any jump was held back).
    pub(crate) fn last_raw_load(&self) -> Option<f64> {
        self.last_raw_load
    }

    /// How much the load rose, on each of the last two days, from around this time of day to
    /// the `lead` seconds that followed: the smaller of the two ratios (the highest load of
    /// the coming minutes over the highest of the five minutes before), so only a rise that
    /// both days saw counts. `None` without history for both days.
    pub(crate) fn seasonal_rise(&self, now: f64, lead: f64) -> Option<f64> {
        if self.season.len() != SEASON_MINUTES || !now.is_finite() {
            return None;
        }
        let minute = i64::from(minute_of(now));
        let ahead = (lead / 60.0).ceil().max(1.0) as i64;
        let mut rise = f64::INFINITY;
        for day in 1..=2 {
            let then = minute - day * DAY_MINUTES;
            let before = self.highest(then - 4..=then)?;
            let after = self.highest(then + 1..=then + ahead)?;
            if before <= 0.0 {
                return None;
            }
            rise = rise.min(after / before);
        }
        Some(rise)
    }

    /// The highest load recorded in these minutes, if any was.
    fn highest(&self, minutes: std::ops::RangeInclusive<i64>) -> Option<f64> {
        minutes
            .filter_map(|minute| {
                let m = u32::try_from(minute).ok()?;
                let slot = self.season.get(m as usize % SEASON_MINUTES)?;
                (slot.minute == m).then_some(f64::from(slot.load_max))
            })
            .reduce(f64::max)
    }
}

fn bucket_index(secs: f64) -> i64 {
    (secs / BUCKET_SECS).floor() as i64
}

fn minute_of(secs: f64) -> u32 {
    (secs.max(0.0) / 60.0).floor() as u32
}

/// Seconds since the Unix epoch (negative before it): the history's time base.
pub(crate) fn epoch_secs(t: std::time::SystemTime) -> f64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}
