//! What this instance's workers did since it started, by kind of job: the figures the
//! dashboard shows beside the queue. They are the events `/metrics` counts
//! (`clip_jobs_completed_total`, `clip_jobs_failed_total{reason}`,
//! `clip_job_duration_seconds`), kept here too because a metrics recorder cannot be read
//! back. Process-wide, as the recorder is.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};

use serde::Serialize;

use super::queue::{JobKind, Queue};

/// Durations kept per kind for the percentiles.
const RECENT: usize = 256;

#[derive(Debug, Default)]
struct Kind {
    running: usize,
    completed: u64,
    failed: BTreeMap<&'static str, u64>,
    attempts: u64,
    recent: VecDeque<f64>,
}

/// The counters of every kind.
#[derive(Debug, Default)]
pub struct JobStats {
    kinds: Mutex<HashMap<&'static str, Kind>>,
}

/// The process's job statistics.
pub fn stats() -> &'static JobStats {
    static STATS: OnceLock<JobStats> = OnceLock::new();
    STATS.get_or_init(JobStats::default)
}

impl JobStats {
    fn with(&self, kind: &'static str, f: impl FnOnce(&mut Kind)) {
        if let Ok(mut kinds) = self.kinds.lock() {
            f(kinds.entry(kind).or_default());
        }
    }

    /// An attempt of `kind` started.
    pub fn started(&self, kind: &'static str) {
        self.with(kind, |k| k.running += 1);
    }

    /// An attempt of `kind` ended after `seconds`.
    pub fn ended(&self, kind: &'static str, seconds: f64) {
        self.with(kind, |k| {
            k.running = k.running.saturating_sub(1);
            k.attempts += 1;
            if k.recent.len() == RECENT {
                k.recent.pop_front();
            }
            k.recent.push_back(seconds);
        });
    }

    /// A job of `kind` succeeded.
    pub fn completed(&self, kind: &'static str) {
        self.with(kind, |k| k.completed += 1);
    }

    /// An attempt of `kind` failed for `reason`.
    pub fn failed(&self, kind: &'static str, reason: &'static str) {
        self.with(kind, |k| *k.failed.entry(reason).or_default() += 1);
    }

    fn figures(&self, kind: &'static str) -> Figures {
        let Ok(kinds) = self.kinds.lock() else {
            return Default::default();
        };
        let Some(k) = kinds.get(kind) else {
            return Default::default();
        };
        let mut sorted: Vec<f64> = k.recent.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
            sorted.get(i).copied()
        };
        Figures {
            running: k.running,
            completed: k.completed,
            failed: k.failed.clone(),
            duration: Durations {
                attempts: k.attempts,
                p50_seconds: at(0.5),
                p95_seconds: at(0.95),
                max_seconds: sorted.last().copied(),
            },
        }
    }
}

#[derive(Debug, Default)]
struct Figures {
    running: usize,
    completed: u64,
    failed: BTreeMap<&'static str, u64>,
    duration: Durations,
}

/// Durations of the recent attempts of a kind.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Durations {
    /// Attempts ended since start.
    pub attempts: u64,
    /// Median of the last 256, seconds.
    pub p50_seconds: Option<f64>,
    /// 95th percentile of the last 256, seconds.
    pub p95_seconds: Option<f64>,
    /// Longest of the last 256, seconds.
    pub max_seconds: Option<f64>,
}

/// One kind of job as the dashboard shows it.
#[derive(Debug, Clone, Serialize)]
pub struct KindView {
    /// `image` or `video`.
    pub kind: &'static str,
    /// Workers of this kind on this instance (`IMAGE_WORKERS`, `VIDEO_WORKERS`).
    pub workers: usize,
    /// Jobs of this kind waiting, fleet-wide (none while the database is unreachable).
    pub pending: Option<u64>,
    /// Attempts of this kind running in this process.
    pub running_here: usize,
    /// Jobs that succeeded here since start.
    pub completed: u64,
    /// Failed attempts here since start, by reason (`clip_jobs_failed_total`'s labels).
    pub failed: BTreeMap<&'static str, u64>,
    /// How long attempts took.
    pub duration: Durations,
}

/// Each kind of job: its workers here, its queue fleet-wide, what this instance did.
pub async fn overview(queue: &Queue, workers: &[(JobKind, usize)]) -> Vec<KindView> {
    let pending = queue.pending_by_kind().await.ok();
    workers
        .iter()
        .map(|&(kind, workers)| {
            let name = kind.as_str();
            let f = stats().figures(name);
            KindView {
                kind: name,
                workers,
                pending: pending.as_ref().map(|p| p.get(name).copied().unwrap_or(0)),
                running_here: f.running,
                completed: f.completed,
                failed: f.failed,
                duration: f.duration,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_the_recent_attempts() {
        let stats = JobStats::default();
        for s in 1..=300 {
            stats.ended("video", f64::from(s));
        }
        stats.started("video");
        stats.completed("video");
        stats.failed("video", "timeout");
        stats.failed("video", "timeout");
        let f = stats.figures("video");
        let d = f.duration;
        assert_eq!((f.running, f.completed), (1, 1));
        assert_eq!(f.failed.get("timeout"), Some(&2));
        assert_eq!(d.attempts, 300);
        // The last 256: 45..=300.
        assert_eq!(d.max_seconds, Some(300.0));
        assert_eq!(d.p50_seconds, Some(173.0));
        assert_eq!(d.p95_seconds, Some(287.0));
        assert_eq!(stats.figures("image").duration.p95_seconds, None);
    }
}
