//! From the instances' samples to the fleet's [`Metrics`]: CPU and memory averaged over the
//! instances that answered, the request rate per instance from counter deltas, the queue as the
//! maximum of a fleet-wide gauge, and the fleet p95 from summed histogram bucket deltas.
//!
//! A scrape that failed makes that instance's metrics missing, never zero: it is left out of
//! every average and listed in [`FleetMetrics::missing`] (the loop then refuses to scale down).
//! A counter that went down means the instance restarted: its new value is the delta (as
//! PromQL's `rate()` treats a reset), and a CPU counter that went down resets every series of
//! that instance.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clip_scaling_policy::Metrics;
use serde::Serialize;

use crate::histogram::LatencyWindow;
use crate::sample::{Buckets, InstanceSample};

/// What the fleet looked like over the last window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FleetMetrics {
    /// What the policy decides on.
    #[serde(skip)]
    pub metrics: Metrics,
    /// Per instance, in the order scraped.
    pub instances: Vec<InstanceMetrics>,
    /// Instances whose scrape failed (their metrics are missing).
    pub missing: Vec<String>,
    /// Requests the fleet answered in the window (probe routes left out), when measured.
    pub requests_in_window: Option<f64>,
}

/// One instance's share of the window.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct InstanceMetrics {
    /// Which instance.
    pub id: String,
    /// `None` when the scrape worked; else why it failed.
    pub error: Option<String>,
    /// CPU, % of its limit.
    pub cpu_percent: Option<f64>,
    /// Memory, % of its limit.
    pub memory_percent: Option<f64>,
    /// Requests per second over the window (needs two samples).
    pub request_rate: Option<f64>,
    /// Whether its counters went down since the previous sample (a restart).
    pub reset: bool,
}

struct Previous {
    at: Instant,
    sample: InstanceSample,
}

/// Keeps each instance's previous sample, to turn counters into rates.
#[derive(Default)]
pub struct Aggregator {
    previous: HashMap<String, Previous>,
}

impl std::fmt::Debug for Aggregator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aggregator")
            .field("instances", &self.previous.len())
            .finish()
    }
}

impl Aggregator {
    /// An aggregator with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds one round of scrapes taken at `at` into the fleet's metrics. `scrapes` holds every
    /// instance that should have answered, with its sample or the reason it has none. Instances
    /// not in `scrapes` are forgotten.
    pub fn update<'a, I>(&mut self, at: Instant, scrapes: I) -> FleetMetrics
    where
        I: IntoIterator<Item = (&'a str, Result<InstanceSample, String>)>,
    {
        let mut fleet = FleetMetrics::default();
        let mut latency = LatencyWindow::default();
        let mut requests = 0.0;
        let mut rates = Vec::new();
        let mut queue: Option<f64> = None;
        let mut seen = Vec::new();
        for (id, outcome) in scrapes {
            seen.push(id.to_owned());
            let sample = match outcome {
                Ok(sample) => sample,
                Err(error) => {
                    fleet.missing.push(id.to_owned());
                    fleet.instances.push(InstanceMetrics {
                        id: id.to_owned(),
                        error: Some(error),
                        ..InstanceMetrics::default()
                    });
                    continue;
                }
            };
            let mut row = InstanceMetrics {
                id: id.to_owned(),
                memory_percent: sample.memory_percent.filter(|m| *m >= 0.0),
                cpu_percent: sample.cpu_percent_gauge.filter(|c| *c >= 0.0),
                ..InstanceMetrics::default()
            };
            if let Some(q) = sample.jobs_pending.filter(|q| *q >= 0.0) {
                queue = Some(queue.map_or(q, |m: f64| m.max(q)));
            }
            if let Some(prev) = self.previous.get(id) {
                let dt = at.saturating_duration_since(prev.at);
                if dt > Duration::ZERO {
                    let window = Window::between(&prev.sample, &sample, dt);
                    row.reset = window.reset;
                    if let Some(cpu) = window.cpu_percent {
                        row.cpu_percent = Some(cpu);
                    }
                    row.request_rate = Some(window.requests / dt.as_secs_f64());
                    requests += window.requests;
                    rates.push(window.requests / dt.as_secs_f64());
                    for (le, n) in window.latency {
                        latency.add(le, n);
                    }
                }
            }
            self.previous.insert(id.to_owned(), Previous { at, sample });
            fleet.instances.push(row);
        }
        self.previous.retain(|id, _| seen.contains(id));

        let answered: Vec<&InstanceMetrics> = fleet
            .instances
            .iter()
            .filter(|i| i.error.is_none())
            .collect();
        fleet.metrics = Metrics {
            cpu_percent: mean(answered.iter().filter_map(|i| i.cpu_percent)),
            memory_percent: mean(answered.iter().filter_map(|i| i.memory_percent)),
            request_rate: mean(rates.iter().copied()),
            queue_length: queue,
            p95_response_time: latency
                .quantile(0.95)
                .and_then(|s| Duration::try_from_secs_f64(s).ok()),
        };
        fleet.requests_in_window = (!rates.is_empty()).then_some(requests);
        fleet
    }
}

/// What happened on one instance between two of its samples.
struct Window {
    cpu_percent: Option<f64>,
    requests: f64,
    latency: Vec<(f64, f64)>,
    reset: bool,
}

impl Window {
    fn between(prev: &InstanceSample, now: &InstanceSample, dt: Duration) -> Self {
        // The CPU counter of a process only grows: if it went down, the process restarted and
        // every counter of it started again from zero.
        let restarted = matches!((prev.cpu_seconds, now.cpu_seconds), (Some(a), Some(b)) if b < a);
        let mut reset = restarted;
        let mut delta = |before: Option<f64>, after: f64| -> f64 {
            match before {
                Some(b) if !restarted && after >= b => after - b,
                Some(_) => {
                    reset = true;
                    after
                }
                // A series that appeared since: every count in it is new.
                None => after,
            }
        };
        let requests = now
            .requests
            .iter()
            .map(|(k, &v)| delta(prev.requests.get(k).copied(), v))
            .sum();
        let mut latency = Vec::new();
        for (key, buckets) in &now.durations {
            let before = prev.durations.get(key);
            for &(le, count) in buckets {
                latency.push((le, delta(bucket(before, le), count)));
            }
        }
        let cpu_percent = match (prev.cpu_seconds, now.cpu_seconds, now.cpu_limit_cores) {
            (Some(a), Some(b), Some(cores)) if cores > 0.0 => {
                let used = if b >= a { b - a } else { b };
                Some(100.0 * used / dt.as_secs_f64() / cores)
            }
            _ => None,
        };
        Window {
            cpu_percent,
            requests,
            latency,
            reset,
        }
    }
}

fn bucket(buckets: Option<&Buckets>, le: f64) -> Option<f64> {
    buckets?
        .iter()
        .find(|(bound, _)| bound.to_bits() == le.to_bits())
        .map(|(_, n)| *n)
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values
        .filter(|v| v.is_finite())
        .fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / f64::from(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(cpu: f64, requests: f64, fast: f64, slow: f64) -> InstanceSample {
        let mut s = InstanceSample {
            cpu_seconds: Some(cpu),
            cpu_limit_cores: Some(1.0),
            memory_percent: Some(40.0),
            jobs_pending: Some(3.0),
            ..InstanceSample::default()
        };
        s.requests.insert("route=/a".into(), requests);
        s.durations.insert(
            "route=/a".into(),
            vec![
                (0.1, fast),
                (1.0, fast + slow),
                (f64::INFINITY, fast + slow),
            ],
        );
        s
    }

    #[test]
    fn rates_come_from_deltas_and_missing_instances_are_left_out() {
        let mut agg = Aggregator::new();
        let t0 = Instant::now();
        let first = agg.update(
            t0,
            [
                ("a", Ok(sample(10.0, 100.0, 100.0, 0.0))),
                ("b", Ok(sample(5.0, 50.0, 50.0, 0.0))),
            ],
        );
        // One sample per instance: no rate, no p95 yet; gauges are there.
        assert_eq!(first.metrics.request_rate, None);
        assert_eq!(first.metrics.p95_response_time, None);
        assert_eq!(first.metrics.memory_percent, Some(40.0));
        assert_eq!(first.metrics.queue_length, Some(3.0));

        let t1 = t0 + Duration::from_secs(10);
        let second = agg.update(
            t1,
            [
                // 5 CPU-seconds in 10 s on 1 core: 50 %; 200 requests in 10 s: 20/s.
                ("a", Ok(sample(15.0, 300.0, 290.0, 10.0))),
                ("b", Err("timed out after 2s".to_owned())),
            ],
        );
        assert_eq!(second.missing, vec!["b".to_owned()]);
        assert!((second.metrics.cpu_percent.unwrap() - 50.0).abs() < 1e-9);
        assert!((second.metrics.request_rate.unwrap() - 20.0).abs() < 1e-9);
        // 200 requests, 10 of them between 0.1 and 1 s: rank 190 is the last fast one -> 0.1 s.
        let p95 = second.metrics.p95_response_time.unwrap().as_secs_f64();
        assert!((p95 - 0.1).abs() < 1e-9, "{p95}");
        assert_eq!(second.requests_in_window, Some(200.0));
    }

    #[test]
    fn a_restarted_instance_counts_from_zero_not_negative() {
        let mut agg = Aggregator::new();
        let t0 = Instant::now();
        agg.update(t0, [("a", Ok(sample(100.0, 10_000.0, 10_000.0, 0.0)))]);
        // Restarted: CPU counter and request counter start again.
        let fleet = agg.update(
            t0 + Duration::from_secs(10),
            [("a", Ok(sample(1.0, 30.0, 30.0, 0.0)))],
        );
        let row = &fleet.instances[0];
        assert!(row.reset);
        assert!((row.request_rate.unwrap() - 3.0).abs() < 1e-9);
        assert!((row.cpu_percent.unwrap() - 10.0).abs() < 1e-9);
    }

    #[test]
    fn a_quiet_window_has_a_zero_p95_and_rate_not_a_missing_one() {
        let mut agg = Aggregator::new();
        let t0 = Instant::now();
        agg.update(t0, [("a", Ok(sample(1.0, 5.0, 5.0, 0.0)))]);
        let fleet = agg.update(
            t0 + Duration::from_secs(5),
            [("a", Ok(sample(1.0, 5.0, 5.0, 0.0)))],
        );
        assert_eq!(fleet.metrics.request_rate, Some(0.0));
        assert_eq!(fleet.metrics.p95_response_time, Some(Duration::ZERO));
    }

    #[test]
    fn the_queue_is_the_maximum_never_the_sum() {
        let mut agg = Aggregator::new();
        let mut a = sample(1.0, 0.0, 0.0, 0.0);
        a.jobs_pending = Some(40.0);
        let mut b = a.clone();
        b.jobs_pending = Some(42.0); // read a moment later
        let fleet = agg.update(Instant::now(), [("a", Ok(a)), ("b", Ok(b))]);
        assert_eq!(fleet.metrics.queue_length, Some(42.0));
    }
}
