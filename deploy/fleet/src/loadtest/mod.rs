//! The load test behind `scripts/load-test.sh URL DURATION USERS`: the phases of [`plan`],
//! each step run by `oha` at a constant rate with latency correction ([`oha`]), the fleet
//! watched meanwhile ([`monitor`]), and the figures ([`stats`]) written as Markdown and as a
//! self-contained HTML page with charts ([`report`]).

pub mod monitor;
pub mod oha;
pub mod plan;
pub mod report;
pub mod stats;
pub mod svg;

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::FleetError;
use monitor::{Monitor, MonitorTargets, Sample};
use oha::OhaCommand;
use plan::Phase;
use stats::{Bucket, Figures, Request};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadTestConfig {
    /// The URL requested (base URL and path).
    pub target: String,
    /// The app's `/metrics` through the load balancer.
    pub metrics_url: String,
    /// The autoscaler's `/status`.
    pub autoscaler_status_url: String,
    /// Planned duration.
    pub duration: Duration,
    /// Virtual users at full load.
    pub users: u32,
    /// Requests per second each user sends.
    pub rate_per_user: f64,
    /// The oha executable.
    pub oha: PathBuf,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Where step files and reports go.
    pub out_dir: PathBuf,
}

/// One phase's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseResult {
    /// The phase's name.
    pub name: &'static str,
    /// What it is for.
    pub purpose: &'static str,
    /// Start, seconds since the test started.
    pub from_seconds: f64,
    /// End.
    pub to_seconds: f64,
    /// Users at its first and last step.
    pub users: (u32, u32),
    /// Requests per second asked for at its first and last step.
    pub target_rate: (f64, f64),
    /// What happened.
    pub figures: Figures,
}

/// Everything the reports show.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The URL requested.
    pub target: String,
    /// When the test started (UTC, RFC 3339).
    pub started_utc: String,
    /// Planned duration, seconds.
    pub planned_seconds: u64,
    /// Actual duration, seconds.
    pub elapsed_seconds: f64,
    /// Users at full load.
    pub users: u32,
    /// Requests per second per user.
    pub rate_per_user: f64,
    /// Per phase.
    pub phases: Vec<PhaseResult>,
    /// The whole test.
    pub total: Figures,
    /// Time buckets for the charts.
    pub buckets: Vec<Bucket>,
    /// The planned rate over time: (seconds, req/s) at each step's start.
    pub target_rate: Vec<(f64, f64)>,
    /// The fleet's polls.
    pub samples: Vec<Sample>,
    /// Instances over time, and where the count comes from.
    pub instances: Vec<(f64, u32)>,
    /// `autoscaler /status` or `instances answering /metrics`.
    pub instances_source: String,
}

/// Runs the test, printing progress to standard error.
pub fn run(config: &LoadTestConfig) -> Result<Report, FleetError> {
    std::fs::create_dir_all(&config.out_dir).map_err(FleetError::io(format!(
        "creating {}",
        config.out_dir.display()
    )))?;
    let phases = plan::plan(
        config.duration.as_secs(),
        config.users,
        config.rate_per_user,
    );
    let oha = OhaCommand {
        program: config.oha.clone(),
        url: config.target.clone(),
        timeout_seconds: config.request_timeout.as_secs().max(1),
    };
    let started_wall = SystemTime::now();
    let started = Instant::now();
    let poll_interval = Duration::from_secs((config.duration.as_secs() / 60).clamp(1, 5));
    let monitor = Monitor::start(
        MonitorTargets {
            autoscaler_status: config.autoscaler_status_url.clone(),
            app_metrics: config.metrics_url.clone(),
            interval: poll_interval,
        },
        started,
    );
    let planned: u64 = phases.iter().map(Phase::seconds).sum();
    let mut all_requests = Vec::new();
    let mut results = Vec::new();
    let mut target_rate = Vec::new();
    let mut step_index = 0;
    for phase in &phases {
        let from = started.elapsed().as_secs_f64();
        let mut requests: Vec<Request> = Vec::new();
        let mut unanswered = 0;
        for step in &phase.steps {
            step_index += 1;
            let offset = started.elapsed().as_secs_f64();
            target_rate.push((offset, step.rate));
            let run = oha.run(step, step_index, &config.out_dir)?;
            let oha_offset = run
                .started
                .duration_since(started_wall)
                .unwrap_or_default()
                .as_secs_f64();
            let step_requests = stats::read_requests(&run.database, oha_offset)?;
            // The per-request rows are summarised; the JSON summary of the step stays.
            let _ = std::fs::remove_file(&run.database);
            let step_unanswered: u64 = run.summary.errors.values().sum();
            let figures = Figures::of(
                &step_requests,
                step_unanswered,
                started.elapsed().as_secs_f64() - offset,
            );
            progress(
                started,
                planned,
                phase.name,
                step,
                &figures,
                monitor.latest(),
            );
            unanswered += step_unanswered;
            requests.extend(step_requests);
        }
        let to = started.elapsed().as_secs_f64();
        let first = phase.steps.first();
        let last = phase.steps.last();
        results.push(PhaseResult {
            name: phase.name,
            purpose: phase.purpose,
            from_seconds: from,
            to_seconds: to,
            users: (first.map_or(0, |s| s.users), last.map_or(0, |s| s.users)),
            target_rate: (first.map_or(0.0, |s| s.rate), last.map_or(0.0, |s| s.rate)),
            figures: Figures::of(&requests, unanswered, to - from),
        });
        all_requests.extend(requests);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let samples = monitor.stop();
    let total_unanswered =
        results.iter().map(|p| p.figures.requests).sum::<u64>() - all_requests.len() as u64;
    let bucket_width = Duration::from_secs((planned / 60).clamp(1, 10));
    let (instances, instances_source) = instance_series(&samples);
    Ok(Report {
        target: config.target.clone(),
        started_utc: utc(started_wall),
        planned_seconds: planned,
        elapsed_seconds: elapsed,
        users: config.users,
        rate_per_user: config.rate_per_user,
        total: Figures::of(&all_requests, total_unanswered, elapsed),
        buckets: stats::buckets(&all_requests, bucket_width, elapsed),
        phases: results,
        target_rate,
        samples,
        instances,
        instances_source,
    })
}

/// The autoscaler's count when it answered during the test; else how many distinct instances
/// answered `/metrics` within the last three polls.
fn instance_series(samples: &[Sample]) -> (Vec<(f64, u32)>, String) {
    if samples.iter().any(|s| s.autoscaler_instances.is_some()) {
        let series = samples
            .iter()
            .filter_map(|s| s.autoscaler_instances.map(|n| (s.at_seconds, n)))
            .collect();
        return (series, "autoscaler /status (ready instances)".into());
    }
    let series = samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut seen: Vec<&String> = samples[i.saturating_sub(2)..=i]
                .iter()
                .flat_map(|s| s.instances_answering.iter())
                .collect();
            seen.sort();
            seen.dedup();
            (s.at_seconds, seen.len() as u32)
        })
        .collect();
    (
        series,
        "distinct X-Instance-Id answering /metrics over the last 3 polls (no autoscaler answered)"
            .into(),
    )
}

fn progress(
    started: Instant,
    planned: u64,
    phase: &str,
    step: &plan::Step,
    f: &Figures,
    sample: Option<Sample>,
) {
    let fleet = match sample {
        Some(s) => match (s.autoscaler_instances, s.autoscaler_decision) {
            (Some(n), Some(d)) => format!("instances {n} ({d})"),
            (Some(n), None) => format!("instances {n}"),
            _ => format!("instances answering {}", s.instances_answering.len()),
        },
        None => "fleet not polled yet".into(),
    };
    let _ = writeln!(
        std::io::stderr(),
        "[{:>4.0}s/{planned}s] {phase:<9} {:>3} users {:>6.0} req/s -> {:>7.1} req/s  p50 {:>7.1} ms  p95 {:>7.1} ms  p99 {:>7.1} ms  errors {}  429 {}  | {fleet}",
        started.elapsed().as_secs_f64(),
        step.users,
        step.rate,
        f.throughput,
        f.p50 * 1e3,
        f.p95 * 1e3,
        f.p99 * 1e3,
        f.errors,
        f.rate_limited,
    );
}

/// RFC 3339 UTC timestamp of `t` (whole seconds).
pub fn utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_timestamps() {
        assert_eq!(utc(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_210_096);
        assert_eq!(utc(t), "2024-02-29T12:34:56Z");
    }

    #[test]
    fn instance_counts_prefer_the_autoscaler_and_else_count_who_answered() {
        let seen = |ids: &[&str]| Sample {
            instances_answering: ids.iter().map(|s| (*s).to_owned()).collect(),
            ..Sample::default()
        };
        let (series, source) = instance_series(&[seen(&["a"]), seen(&["b"]), seen(&["c", "a"])]);
        assert_eq!(series.iter().map(|p| p.1).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(source.contains("X-Instance-Id"));
        let with_autoscaler = Sample {
            autoscaler_instances: Some(4),
            ..seen(&["a"])
        };
        let (series, source) = instance_series(&[seen(&["a"]), with_autoscaler]);
        assert_eq!(series.iter().map(|p| p.1).collect::<Vec<_>>(), [4]);
        assert!(source.contains("autoscaler"));
    }
}
