//! A circuit breaker per host: after `threshold` consecutive failed fetches the host is
//! skipped (and URLs point elsewhere) for `cooldown`; then one probe decides whether
//! it closes again or stays open for another cooldown.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Where a host's circuit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Requests flow.
    Closed,
    /// Requests are skipped until the cooldown ends.
    Open,
    /// The cooldown ended: the next request is a probe.
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
pub(crate) struct Breakers {
    threshold: u32,
    cooldown: Duration,
    hosts: Mutex<HashMap<String, Circuit>>,
}

impl Breakers {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Breakers {
            threshold,
            cooldown,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    fn with<T>(&self, host: &str, f: impl FnOnce(&mut Circuit) -> T) -> T {
        let mut hosts = self
            .hosts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(hosts.entry(host.to_owned()).or_default())
    }

    /// Whether a request to `host` may go out now (an open circuit lets one probe through
    /// once its cooldown has passed).
    pub fn allow(&self, host: &str) -> bool {
        let cooldown = self.cooldown;
        self.with(host, |c| match c.opened_at {
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

    pub fn success(&self, host: &str) {
        self.with(host, |c| *c = Circuit::default());
    }

    /// Records a failure; true when this one opened the circuit.
    pub fn failure(&self, host: &str) -> bool {
        let threshold = self.threshold;
        self.with(host, |c| {
            c.failures = c.failures.saturating_add(1);
            if c.probe_since.is_some() || (c.opened_at.is_none() && c.failures >= threshold) {
                c.opened_at = Some(Instant::now());
                c.probe_since = None;
                true
            } else {
                false
            }
        })
    }

    pub fn state(&self, host: &str) -> BreakerState {
        let hosts = self
            .hosts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match hosts
            .get(host)
            .and_then(|c| c.opened_at.map(|at| (at, c.probe_since.is_some())))
        {
            None => BreakerState::Closed,
            Some((at, probing)) if probing || at.elapsed() >= self.cooldown => {
                BreakerState::HalfOpen
            }
            Some(_) => BreakerState::Open,
        }
    }

    pub fn all(&self) -> Vec<(String, BreakerState)> {
        let hosts: Vec<String> = {
            let map = self
                .hosts
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            map.keys().cloned().collect()
        };
        let mut out: Vec<_> = hosts
            .into_iter()
            .map(|h| (h.clone(), self.state(&h)))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_then_probes_and_closes() {
        let b = Breakers::new(2, Duration::from_millis(30));
        assert!(b.allow("h"));
        assert!(!b.failure("h"));
        assert!(b.failure("h"));
        assert_eq!(b.state("h"), BreakerState::Open);
        assert!(!b.allow("h"));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.state("h"), BreakerState::HalfOpen);
        assert!(b.allow("h"), "one probe after the cooldown");
        assert!(!b.allow("h"), "only one");
        assert!(b.failure("h"), "a failed probe reopens");
        assert_eq!(b.state("h"), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow("h"));
        b.success("h");
        assert_eq!(b.state("h"), BreakerState::Closed);
        assert!(b.allow("h") && b.allow("h"));
    }

    #[test]
    fn a_probe_that_never_reports_expires_after_a_cooldown() {
        let b = Breakers::new(1, Duration::from_millis(30));
        assert!(b.failure("h"));
        std::thread::sleep(Duration::from_millis(40));
        assert!(
            b.allow("h"),
            "the probe goes out, and its task is then cancelled"
        );
        assert!(
            !b.allow("h"),
            "no second probe while the first may still answer"
        );
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow("h"), "a new probe once the lost one expired");
        b.success("h");
        assert_eq!(b.state("h"), BreakerState::Closed);
    }
}
