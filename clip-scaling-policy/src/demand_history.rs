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
    /// When `queue_max` was recorded (seconds since the epoch), for the queue's arrival rate.
    #[cfg_attr(feature = "serde", serde(default))]
    queue_at: Option<f64>,
    /// The tracking estimate, highest of the bucket (0 when none).
    estimate_max: f64,
}

const EMPTY_BUCKET: Bucket = Bucket {
    index: -1,
    load_max: 0.0,
    load_sum: 0.0,
    samples: 0,
    queue_max: -1.0,
    queue_at: None,
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
#[cfg_attr(feature = "serde", serde(default))]
pub(crate) struct DemandHistory {
    buckets: Vec<Bucket>,
    /// (seconds since the epoch, ready), a ring; `next_ready` is the slot written next.
    ready: Vec<Option<(f64, u32)>>,
    next_ready: usize,
    last_raw_load: Option<f64>,
    /// When the current run of observations started: the first one, or the first after a
    /// gap longer than the buckets hold (what came before is forgotten).
    since: Option<f64>,
    /// When the last observation was made.
    last_at: Option<f64>,
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
            since: None,
            last_at: None,
            season: Vec::new(),
        }
    }

    pub(crate) fn observe(&mut self, o: &Observation) {
        if !o.at.is_finite() {
            return;
        }
        self.repair();
        let kept = BUCKET_SECS * BUCKETS as f64;
        if self
            .last_at
            .is_none_or(|last| o.at - last > kept || o.at < last)
        {
            self.since = Some(o.at);
        }
        self.last_at = Some(o.at);
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
        if let Some(q) = o.queue.filter(|q| q.is_finite() && *q >= b.queue_max) {
            b.queue_max = q;
            b.queue_at = Some(o.at);
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
        for t in [&mut self.since, &mut self.last_at].into_iter().flatten() {
            *t = t.min(now);
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
    /// goes, the queue at least `queue_ago` seconds back, and the mean load of each bucket of the
    /// last `surge_span` seconds (for [`surge`](Self::surge)).
    pub(crate) fn recent(&self, now: f64, window: f64, surge_span: f64, queue_ago: f64) -> Recent {
        let current = bucket_index(now);
        let in_window = ((window / BUCKET_SECS).ceil() as i64).clamp(1, BUCKETS as i64);
        let span_buckets =
            ((surge_span / BUCKET_SECS).ceil() as i64).clamp(1, SURGE_BUCKETS as i64);
        let queue_age = (queue_ago / BUCKET_SECS).ceil() as i64;
        let reach = in_window.max(span_buckets).max(queue_age + 1);
        let mut load_high = f64::NEG_INFINITY;
        let mut estimate_high = 0.0f64;
        let mut surge_means = [None; SURGE_BUCKETS];
        let mut queue_then = None;
        if self.usable_at(current) {
            let mut slot = slot_of(current, 0);
            for age in 0..reach.min(current + 1) {
                let b = &self.buckets[slot];
                slot = older(slot);
                let index = current - age;
                if b.index != index {
                    continue;
                }
                if age < in_window {
                    estimate_high = estimate_high.max(b.estimate_max);
                    if b.samples > 0 {
                        load_high = load_high.max(b.load_max);
                    }
                }
                if age < span_buckets && b.samples > 0 {
                    surge_means[(span_buckets - 1 - age) as usize] =
                        Some(b.load_sum / f64::from(b.samples));
                }
                if queue_then.is_none() && age >= queue_age && b.queue_max >= 0.0 {
                    let then = b.queue_at.unwrap_or(index as f64 * BUCKET_SECS);
                    queue_then = Some((b.queue_max, now - then));
                }
            }
        }
        Recent {
            load_high: (load_high > f64::NEG_INFINITY).then_some(load_high),
            estimate_high: (estimate_high > 0.0).then_some(estimate_high),
            span: self.since.map_or(0.0, |since| (now - since).max(0.0)),
            queue_then,
            surge_means,
            surge_buckets: span_buckets as usize,
        }
    }

    /// A surge ending in `sample` (this decision's load, not yet recorded): the load rising
    /// bucket after bucket (`min_steps` times at least) up to `sample`, to `min_rise` or more
    /// above the highest load of the `window` before the surge span. Returns the rise (a
    /// share of that highest load) and the pace of the rise, instances per second, from its
    /// start to `sample`.
    ///
    /// The rise threshold is what keeps noise out: a sample 30 % above everything the last
    /// minutes saw, reached by rising, is not noise on a fleet's load, and one that only
    /// jumps is held back by the jump guard before it gets here. The newest sample counts
    /// because a decision waits for nothing: a surge seen one sample late is answered one
    /// sample late, and capacity ordered then serves one sample later.
    pub(crate) fn surge(
        &self,
        recent: &Recent,
        now: f64,
        window: f64,
        sample: f64,
        min_rise: f64,
        min_steps: usize,
    ) -> Option<Surge> {
        let span = recent.surge_buckets.min(SURGE_BUCKETS);
        let mut means = recent.surge_means;
        // This decision's sample joins the newest bucket's.
        let current = bucket_index(now);
        let newest = &mut means[span - 1];
        *newest = Some(match (*newest, self.buckets.get(slot_of(current, 0))) {
            (Some(_), Some(b)) if b.index == current && b.samples > 0 => {
                (b.load_sum + sample) / f64::from(b.samples + 1)
            }
            _ => sample,
        });
        let (rising, start) = rising_run(&means[..span])?;
        if rising < min_steps.max(1) || !self.usable_at(current) {
            return None;
        }
        // The window before the surge span, read only when the load is rising.
        let span = span as i64;
        let in_window = ((window / BUCKET_SECS).ceil() as i64).clamp(1, BUCKETS as i64);
        let end = (span + in_window).min(BUCKETS as i64).min(current + 1);
        let mut before = f64::NEG_INFINITY;
        let mut slot = slot_of(current, span);
        for age in span..end {
            let b = &self.buckets[slot];
            slot = older(slot);
            if b.index == current - age && b.samples > 0 {
                before = before.max(b.load_max);
            }
        }
        if before <= 0.0 || (sample - before) / before < min_rise {
            return None;
        }
        let (first_at, first) = start;
        let seconds = (span - 1 - first_at as i64) as f64 * BUCKET_SECS;
        Some(Surge {
            rise: (sample - before) / before,
            pace: ((sample - first) / seconds.max(BUCKET_SECS)).max(0.0),
        })
    }

    fn usable_at(&self, current: i64) -> bool {
        self.buckets.len() == BUCKETS && current >= 0
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
    /// The queue at least `queue_ago` back (the newest such bucket's highest), and how many
    /// seconds ago it was recorded.
    pub(crate) queue_then: Option<(f64, f64)>,
    /// The mean load of each bucket of the surge span, oldest first (`None`: no sample).
    surge_means: [Option<f64>; SURGE_BUCKETS],
    /// How many of `surge_means` the span covers.
    surge_buckets: usize,
}

/// A surge (see [`DemandHistory::surge`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Surge {
    /// How far the load rose above the highest of the window before, a share of it.
    pub(crate) rise: f64,
    /// How fast it rose, instances per second, from the start of the rise to now.
    pub(crate) pace: f64,
}

/// The slot of the bucket `age` buckets before bucket `current`.
fn slot_of(current: i64, age: i64) -> usize {
    (current - age).rem_euclid(BUCKETS as i64) as usize
}

/// The slot one bucket older (newest first, walked without a division per step).
fn older(slot: usize) -> usize {
    if slot == 0 { BUCKETS - 1 } else { slot - 1 }
}

/// How many times in a row the last means rose (oldest first, empty buckets skipped), and
/// the mean the run rose from with its position; `None` without any mean.
fn rising_run(means: &[Option<f64>]) -> Option<(usize, (usize, f64))> {
    let mut last: Option<(usize, f64)> = None;
    let mut start = None;
    let mut rising = 0;
    for (i, y) in means.iter().enumerate() {
        let Some(y) = *y else { continue };
        match last {
            Some((_, previous)) if y > previous => rising += 1,
            _ => {
                rising = 0;
                start = Some((i, y));
            }
        }
        last = Some((i, y));
    }
    Some((rising, start?))
}
