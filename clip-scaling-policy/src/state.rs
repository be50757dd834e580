//! What the policy remembers between decisions: the fleet size, readiness, cooldown clocks,
//! recent recommendations (for stabilization), a bounded event history and a manual override.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::demand_history::{DemandHistory, Observation, epoch_secs};
use crate::{Action, Decision, MetricKind, Override, Rule};

/// Most scale-down recommendations kept for stabilization. The window keeps only a decreasing
/// run of values, so this is reached only by hundreds of distinct, falling recommendations
/// within one window; beyond it the oldest (highest) is forgotten first.
const MAX_RECOMMENDATIONS: usize = 256;

/// Events kept by [`ScalingState::new`].
pub const DEFAULT_EVENT_CAPACITY: usize = 100;

/// Scaling events kept for the step policies and the warm-up, whatever the display history's
/// capacity: more than any step period or warm-up holds at one decision a second.
const BOOKKEEPING_CAPACITY: usize = 64;

/// One scaling event, as kept in the state's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ScalingEvent {
    /// When it was recorded.
    pub at: SystemTime,
    /// Instances before.
    pub from: u32,
    /// Instances after.
    pub to: u32,
    /// Up or down.
    pub action: Action,
    /// The rule that caused it.
    pub rule: Rule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
struct Recommendation {
    at: SystemTime,
    instances: u32,
}

/// The fleet as the policy knows it. Create it with the current count, pass it to
/// [`ScalingPolicy::decide`](crate::ScalingPolicy::decide), then [`record`](Self::record) each
/// decision once it is applied.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ScalingState {
    current: u32,
    ready: Option<u32>,
    last_scale_up: Option<SystemTime>,
    last_scale_down: Option<SystemTime>,
    /// Recommendations within the stabilization window, times increasing, values strictly
    /// decreasing, so the front one still in the window is the window's maximum.
    recommendations: VecDeque<Recommendation>,
    events: VecDeque<ScalingEvent>,
    event_capacity: usize,
    /// The latest events for step policies and warm-up, independent of `event_capacity` (a
    /// small display history must not loosen the step cap).
    #[cfg_attr(feature = "serde", serde(default))]
    recent: VecDeque<ScalingEvent>,
    manual_override: Option<Override>,
    /// What the tracking mode remembers (demand, readiness, seasonal history).
    #[cfg_attr(feature = "serde", serde(default))]
    history: DemandHistory,
}

impl ScalingState {
    /// A fleet of `current` instances, all ready, with no history.
    pub fn new(current: u32) -> Self {
        Self::with_event_capacity(current, DEFAULT_EVENT_CAPACITY)
    }

    /// Like [`new`](Self::new), keeping at most `capacity` events (at least 1).
    pub fn with_event_capacity(current: u32, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            current,
            ready: None,
            last_scale_up: None,
            last_scale_down: None,
            recommendations: VecDeque::with_capacity(MAX_RECOMMENDATIONS),
            events: VecDeque::with_capacity(capacity),
            event_capacity: capacity,
            recent: VecDeque::with_capacity(BOOKKEEPING_CAPACITY),
            manual_override: None,
            history: DemandHistory::new(),
        }
    }

    /// Instances in the fleet, ready or not.
    pub fn current(&self) -> u32 {
        self.current
    }

    /// Sets the fleet size as observed (say, from the orchestrator), when it differs from what
    /// the recorded decisions imply.
    pub fn set_current(&mut self, instances: u32) {
        self.current = instances;
    }

    /// Ready instances as last reported with [`set_ready`](Self::set_ready), if ever.
    pub fn reported_ready(&self) -> Option<u32> {
        self.ready
    }

    /// Reports how many instances are ready (serving). Metrics are averages over these, and
    /// not-ready instances are not counted as capacity when sizing a scale-up. `None` goes back
    /// to inferring readiness from recent scale-ups and the configured warm-up.
    pub fn set_ready(&mut self, ready: Option<u32>) {
        self.ready = ready;
    }

    /// When the last scale-up was recorded.
    pub fn last_scale_up(&self) -> Option<SystemTime> {
        self.last_scale_up
    }

    /// When the last scale-down was recorded.
    pub fn last_scale_down(&self) -> Option<SystemTime> {
        self.last_scale_down
    }

    /// When the last scaling event in either direction was recorded.
    pub fn last_event(&self) -> Option<SystemTime> {
        self.last_scale_up.max(self.last_scale_down)
    }

    /// The recent scaling events, oldest first (bounded; the oldest are dropped).
    pub fn events(&self) -> impl ExactSizeIterator<Item = &ScalingEvent> + DoubleEndedIterator {
        self.events.iter()
    }

    /// Puts an emergency override in force: every decision targets `target` until `expires_at`.
    pub fn set_override(
        &mut self,
        target: u32,
        reason: impl Into<Arc<str>>,
        expires_at: SystemTime,
    ) {
        self.manual_override = Some(Override {
            target,
            reason: reason.into(),
            expires_at,
        });
    }

    /// Lifts the override before it expires.
    pub fn clear_override(&mut self) {
        self.manual_override = None;
    }

    /// The override, if one is set and has not expired at `now`.
    pub fn active_override(&self, now: SystemTime) -> Option<&Override> {
        self.manual_override.as_ref().filter(|o| o.expires_at > now)
    }

    /// Records a decision once it is applied: the count becomes its target, cooldown clocks
    /// and history move on, and its raw recommendation joins the stabilization window.
    ///
    /// Record every decision, holds included: the stabilization window needs the holds'
    /// recommendations, and the clock check below needs a steady stream of `now`s.
    ///
    /// If the clock has stepped back (a time stamp of the state lies after `now`), those stamps
    /// are brought back to `now`: the real time since is unknown, and this way a cooldown lasts
    /// at most its configured length in real time instead of the length of the jump.
    /// A correction back up to `MIN_INSTANCES` (rule `OutOfBounds`) does not start the scale-up
    /// cooldown: it answers lost instances, not load.
    ///
    /// A tracking-mode decision also adds its demand sample to the history the mode reads
    /// (recent demand, ready counts, seasonal history).
    pub fn record(&mut self, decision: &Decision, now: SystemTime) {
        self.clamp_future_stamps(now);
        self.observe_demand(decision, now);
        self.remember_recommendation(
            decision.reasons.recommended,
            decision.reasons.stabilization_window,
            now,
        );
        if self.active_override(now).is_none() {
            self.manual_override = None;
        }
        let from = self.current;
        let to = decision.target;
        let action = match to.cmp(&from) {
            std::cmp::Ordering::Greater => Action::ScaleUp,
            std::cmp::Ordering::Less => Action::ScaleDown,
            std::cmp::Ordering::Equal => return,
        };
        let rule = decision.reasons.rule;
        match action {
            Action::ScaleUp if rule == Rule::OutOfBounds => {}
            Action::ScaleUp => self.last_scale_up = Some(now),
            _ => {
                self.last_scale_down = Some(now);
                self.ready = self.ready.map(|r| r.min(to));
            }
        }
        let event = ScalingEvent {
            at: now,
            from,
            to,
            action,
            rule,
        };
        push_bounded(&mut self.events, event, self.event_capacity);
        push_bounded(&mut self.recent, event, BOOKKEEPING_CAPACITY);
        self.current = to;
    }

    fn observe_demand(&mut self, decision: &Decision, now: SystemTime) {
        let r = &decision.reasons;
        let Some(t) = &r.tracking else { return };
        let queue = r.readings[MetricKind::QueueLength.index()];
        let measured = match (t.load, t.latency) {
            (Some(l), Some(g)) => Some(l.max(g)),
            (l, g) => l.or(g),
        };
        self.history.observe(&Observation {
            at: epoch_secs(now),
            load: t.counted,
            raw_load: measured,
            queue: queue.wants.and(queue.value),
            estimate: t.estimate,
            ready: r.ready,
        });
    }

    /// What the tracking mode remembers.
    pub(crate) fn demand_history(&self) -> &DemandHistory {
        &self.history
    }

    /// Brings every time stamp later than `now` back to `now` (the clock stepped back).
    fn clamp_future_stamps(&mut self, now: SystemTime) {
        for stamp in [&mut self.last_scale_up, &mut self.last_scale_down]
            .into_iter()
            .flatten()
        {
            *stamp = (*stamp).min(now);
        }
        // Stamps are in order, so only a tail can lie in the future.
        for r in self.recommendations.iter_mut().rev() {
            if r.at <= now {
                break;
            }
            r.at = now;
        }
        for ring in [&mut self.events, &mut self.recent] {
            for e in ring.iter_mut().rev() {
                if e.at <= now {
                    break;
                }
                e.at = now;
            }
        }
        self.history.clamp_future(epoch_secs(now));
    }

    fn remember_recommendation(&mut self, instances: u32, window: Duration, now: SystemTime) {
        while let Some(front) = self.recommendations.front() {
            if within(front.at, window, now) {
                break;
            }
            self.recommendations.pop_front();
        }
        while self
            .recommendations
            .back()
            .is_some_and(|b| b.instances <= instances)
        {
            self.recommendations.pop_back();
        }
        if self.recommendations.len() >= MAX_RECOMMENDATIONS {
            self.recommendations.pop_front();
        }
        self.recommendations
            .push_back(Recommendation { at: now, instances });
    }

    /// Highest recommendation recorded within `window` before `now`.
    pub(crate) fn highest_recommendation(&self, window: Duration, now: SystemTime) -> Option<u32> {
        let first_inside = self
            .recommendations
            .partition_point(|r| !within(r.at, window, now));
        self.recommendations.get(first_inside).map(|r| r.instances)
    }

    /// Instances added by scale-ups in the last `warmup` and so presumably not ready yet.
    pub(crate) fn warming(&self, warmup: Duration, now: SystemTime) -> u32 {
        self.recent
            .iter()
            .rev()
            .take_while(|e| within(e.at, warmup, now))
            .filter(|e| e.action == Action::ScaleUp)
            .fold(0u32, |n, e| n.saturating_add(e.to.saturating_sub(e.from)))
    }

    /// Instances counted as serving capacity at `now`.
    pub(crate) fn ready_at(&self, warmup: Duration, now: SystemTime) -> u32 {
        match self.ready {
            Some(r) => r.min(self.current),
            None => self.current.saturating_sub(self.warming(warmup, now)),
        }
    }

    /// The count at the start of the step-policy period ending at `now`.
    pub(crate) fn count_at_period_start(&self, period: Duration, now: SystemTime) -> u32 {
        self.recent
            .iter()
            .rev()
            .take_while(|e| within(e.at, period, now))
            .last()
            .map_or(self.current, |e| e.from)
    }
}

fn push_bounded<T>(ring: &mut VecDeque<T>, item: T, capacity: usize) {
    if ring.len() >= capacity {
        ring.pop_front();
    }
    ring.push_back(item);
}

/// Whether `at` lies within `window` before `now` (a time after `now` counts as inside).
fn within(at: SystemTime, window: Duration, now: SystemTime) -> bool {
    match now.duration_since(at) {
        Ok(age) => age < window,
        Err(_) => true,
    }
}
