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

    /// What a decision reads of the recent history, in one pass over the buckets: the
    /// highest load and estimate within `window` seconds before `now`, how far back the history
    /// goes, the queue about `queue_ago` seconds back, and a surge over the last `surge_span`
    /// seconds (see [`Recent::surge`]).
    pub(crate) fn recent(&self, now: f64, window: f64, surge_span: f64, queue_ago: f64) -> Recent {
        let current = bucket_index(now);
        let in_window = (window / BUCKET_SECS).ceil() as i64;
        let span_buckets = ((surge_span / BUCKET_SECS).ceil() as usize).clamp(1, SURGE_BUCKETS);
        let span_start = current - span_buckets as i64 + 1;
        let queue_newest = current - (queue_ago / BUCKET_SECS).ceil() as i64;
        let mut r = Recent::default();
        let mut oldest: Option<i64> = None;
        let mut queue_at: Option<(i64, f64)> = None;
        let mut before_surge: Option<f64> = None;
        let mut surge_means = [None; SURGE_BUCKETS];
        for b in self
            .buckets
            .iter()
            .filter(|b| b.index >= 0 && b.index <= current)
        {
            let age = current - b.index;
            if b.samples > 0 {
                oldest = Some(oldest.map_or(b.index, |o| o.min(b.index)));
                if age < in_window {
                    r.load_high = Some(r.load_high.map_or(b.load_max, |h| h.max(b.load_max)));
                }
                if b.index >= span_start {
                    surge_means[(b.index - span_start) as usize] =
                        Some(b.load_sum / f64::from(b.samples));
                } else if b.index >= span_start - in_window {
                    before_surge = Some(before_surge.map_or(b.load_max, |h| h.max(b.load_max)));
                }
            }
            if age < in_window && b.estimate_max > 0.0 {
                r.estimate_high = Some(
                    r.estimate_high
                        .map_or(b.estimate_max, |h| h.max(b.estimate_max)),
                );
            }
            if b.index <= queue_newest
                && b.queue_max >= 0.0
                && queue_at.is_none_or(|q| b.index > q.0)
            {
                queue_at = Some((b.index, b.queue_max));
            }
        }
        r.span = oldest.map_or(0.0, |o| (now - o as f64 * BUCKET_SECS).max(0.0));
        r.queue_then = queue_at.map(|(index, q)| (q, now - index as f64 * BUCKET_SECS));
        r.surge = before_surge.and_then(|before| surge(&surge_means[..span_buckets], before));
        r
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
        let ahead = (lead / 60.0).ceil().clamp(1.0, 60.0) as i64;
        let mut rise = f64::INFINITY;
        for day in 1..=2 {
            let then = minute - day * DAY_MINUTES;
            let before = self.highest(then - 4, 5)?;
            let after = self.highest(then + 1, ahead)?;
            if before <= 0.0 {
                return None;
            }
            rise = rise.min(after / before);
        }
        Some(rise)
    }

    /// The highest load recorded in the `count` minutes from `first`, if any was.
    fn highest(&self, first: i64, count: i64) -> Option<f64> {
        let first = u32::try_from(first).ok()?;
        let mut slot = first as usize % SEASON_MINUTES;
        let mut highest: Option<f32> = None;
        for m in first..first.saturating_add(count as u32) {
            let s = self.season[slot];
            if s.minute == m {
                highest = Some(highest.map_or(s.load_max, |h| h.max(s.load_max)));
            }
            slot += 1;
            if slot == SEASON_MINUTES {
                slot = 0;
            }
        }
        highest.map(f64::from)
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

/// Most buckets a surge is looked for in.
const SURGE_BUCKETS: usize = 8;

/// What a decision reads of the recent history (see [`DemandHistory::recent`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Recent {
    /// The highest load within the window.
    pub(crate) load_high: Option<f64>,
    /// The highest estimate within the window.
    pub(crate) estimate_high: Option<f64>,
    /// How far back the history goes, seconds (at most the 12 minutes kept).
    pub(crate) span: f64,
    /// The queue about `queue_ago` back, and how many seconds ago that bucket started.
    pub(crate) queue_then: Option<(f64, f64)>,
    /// A surge: the load rose bucket after bucket at least twice within the surge span; the
    /// rise over the highest load of the window before the span (a share of it), and the
    /// slope over the span (instances per second) when it is significant (at least three
    /// standard errors from zero, so noise does not pass for a ramp).
    pub(crate) surge: Option<(f64, f64)>,
}

/// A surge in these bucket means (oldest first, `None` for an empty bucket) after a window
/// whose highest load was `before`: see [`Recent::surge`].
fn surge(means: &[Option<f64>], before: f64) -> Option<(f64, f64)> {
    let mut last = None;
    let mut rising = 0;
    let (mut n, mut sx, mut sy, mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, mean) in means.iter().enumerate() {
        let Some(y) = *mean else { continue };
        rising = match last {
            Some(previous) if y > previous => rising + 1,
            _ => 0,
        };
        last = Some(y);
        let x = i as f64 * BUCKET_SECS;
        n += 1.0;
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
        syy += y * y;
    }
    let last = last?;
    if rising < 2 || before <= 0.0 || n < 4.0 {
        return None;
    }
    let (xx, xy, yy) = (sxx - sx * sx / n, sxy - sx * sy / n, syy - sy * sy / n);
    if xx <= 0.0 {
        return None;
    }
    let slope = xy / xx;
    let residuals = (yy - slope * xy).max(0.0);
    let standard_error = (residuals / (n - 2.0) / xx).sqrt();
    let significant = slope.is_finite() && slope.abs() >= 3.0 * standard_error;
    Some((
        (last - before) / before,
        if significant { slope } else { 0.0 },
    ))
}
