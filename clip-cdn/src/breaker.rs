//! A circuit breaker per source (CDN, origin): after `threshold` consecutive failures the
//! source is skipped (and page URLs point at the origin) for `cooldown`; then one probe (a
//! fetch, or the background health probe) decides whether it closes again or stays open
//! for another cooldown. Each breaker keeps its `clip_cdn_breaker_open{source}` gauge in
//! step with every transition.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::stats::Source;

/// Where a source's circuit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Requests flow.
    Closed,
    /// Requests are skipped until the cooldown ends.
    Open,
    /// The cooldown ended: the next request is a probe. Page URLs stay on the origin
    /// until a probe succeeds.
    HalfOpen,
}

#[derive(Debug, Default)]
struct Circuit {
    failures: u32,
    opened_at: Option<Instant>,
    /// When the current probe went out. A probe that never reports back (its task was
    /// cancelled) expires after one cooldown, so the circuit cannot stay shut for good.
    probe_since: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct Breaker {
    /// `host:port`, for stats and logs.
    host: String,
    threshold: u32,
    cooldown: Duration,
    circuit: Mutex<Circuit>,
    open_gauge: metrics::Gauge,
}

impl Breaker {
    pub fn new(source: Source, host: String, threshold: u32, cooldown: Duration) -> Self {
        let open_gauge = metrics::gauge!("clip_cdn_breaker_open", "source" => source.label());
        open_gauge.set(0.0);
        Breaker {
            host,
            threshold,
            cooldown,
            circuit: Mutex::new(Circuit::default()),
            open_gauge,
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    fn with<T>(&self, f: impl FnOnce(&mut Circuit) -> T) -> T {
        f(&mut self.circuit.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Whether a request may go out now (an open circuit lets one probe through once its
    /// cooldown has passed).
    pub fn allow(&self) -> bool {
        let cooldown = self.cooldown;
        self.with(|c| match c.opened_at {
            None => true,
            Some(at)
                if at.elapsed() >= cooldown
                    && c.probe_since.is_none_or(|p| p.elapsed() >= cooldown) =>
            {
                c.probe_since = Some(Instant::now());
                true
            }
            Some(_) => false,
        })
    }

    /// The source answered well: the circuit closes.
    pub fn success(&self) {
        let was_open = self.with(|c| std::mem::take(c).opened_at.is_some());
        if was_open {
            tracing::info!(host = %self.host, "circuit closed");
            self.open_gauge.set(0.0);
        }
    }

    /// Records a failure; true when this one opened the circuit.
    pub fn failure(&self) -> bool {
        let threshold = self.threshold;
        let opened = self.with(|c| {
            c.failures = c.failures.saturating_add(1);
            if c.probe_since.is_some() || (c.opened_at.is_none() && c.failures >= threshold) {
                c.opened_at = Some(Instant::now());
                c.probe_since = None;
                true
            } else {
                false
            }
        });
        if opened {
            tracing::warn!(host = %self.host, "circuit opened");
            self.open_gauge.set(1.0);
        }
        opened
    }

    pub fn state(&self) -> BreakerState {
        self.with(|c| match c.opened_at {
            None => BreakerState::Closed,
            Some(at) if c.probe_since.is_some() || at.elapsed() >= self.cooldown => {
                BreakerState::HalfOpen
            }
            Some(_) => BreakerState::Open,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: u32) -> Breaker {
        Breaker::new(
            Source::Cdn,
            "h:1".into(),
            threshold,
            Duration::from_millis(30),
        )
    }

    #[test]
    fn opens_after_threshold_then_probes_and_closes() {
        let b = breaker(2);
        assert!(b.allow());
        assert!(!b.failure());
        assert!(b.failure());
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.allow(), "one probe after the cooldown");
        assert!(!b.allow(), "only one");
        assert!(b.failure(), "a failed probe reopens");
        assert_eq!(b.state(), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow());
        b.success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow() && b.allow());
    }

    #[test]
    fn a_probe_that_never_reports_expires_after_a_cooldown() {
        let b = breaker(1);
        assert!(b.failure());
        std::thread::sleep(Duration::from_millis(40));
        assert!(
            b.allow(),
            "the probe goes out, and its task is then cancelled"
        );
        assert!(
            !b.allow(),
            "no second probe while the first may still answer"
        );
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow(), "a new probe once the lost one expired");
        b.success();
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
