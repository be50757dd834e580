//! The simulation loop: one tick at a time, the load meets the fleet, the judge hands the
//! autoscaler its (lagged) view, and its decision takes effect.

use std::collections::VecDeque;
use std::time::{Duration, UNIX_EPOCH};

use super::jobs::JobQueue;
use super::{Autoscaler, CapacityModel, Fleet, Judge, MAX_TRACE_SECS, Report, Run, Sample, Trace};
use crate::Metrics;

/// Replays `trace` through `autoscaler` over `model`, judged by [`Judge::default`] (60 s metric
/// lag, 10 s readiness delay, decisions applied at the next tick).
pub fn simulate(trace: &Trace, model: &CapacityModel, autoscaler: &mut dyn Autoscaler) -> Run {
    simulate_with(trace, model, &Judge::default(), autoscaler)
}

/// Replays `trace` (at most [`MAX_TRACE_SECS`] of it) through `autoscaler` over `model`,
/// judged by `judge`.
pub fn simulate_with(
    trace: &Trace,
    model: &CapacityModel,
    judge: &Judge,
    autoscaler: &mut dyn Autoscaler,
) -> Run {
    let tick = model.tick.as_secs_f64().max(1.0);
    // A hand-built trace may hold times a CSV one may not (NaN, infinite, longer than a year):
    // replay at most a year of it, from 0 when its start is not a number.
    let start = trace
        .points
        .first()
        .map_or(0.0, |p| p.at_secs)
        .clamp(-MAX_TRACE_SECS, MAX_TRACE_SECS);
    let start = if start.is_nan() { 0.0 } else { start };
    let duration = trace.duration_secs().clamp(0.0, MAX_TRACE_SECS);
    let duration = if duration.is_nan() { 0.0 } else { duration };
    let ticks = (duration / tick).floor() as u64 + 1;
    let epoch = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let lag_ticks = (judge.metric_lag.as_secs_f64() / tick)
        .ceil()
        .min(ticks as f64) as usize;
    let serve_after = model.startup_delay.as_secs_f64() + judge.readiness_delay.as_secs_f64();
    let job_wait_slo = model.job_wait_slo.as_secs_f64();

    let mut fleet = FleetState {
        ready: model.initial_instances,
        starting: VecDeque::new(),
    };
    let mut desired = model.initial_instances;
    let mut pending: Option<u32> = None;
    let mut jobs = JobQueue::default();
    let mut seen: VecDeque<Metrics> = VecDeque::with_capacity(lag_ticks + 1);
    let mut next_point = 0;
    let mut load = trace.points.first().copied();
    let mut report = Report {
        autoscaler: autoscaler.name().to_string(),
        trace: trace.name.clone(),
        simulated: Duration::from_secs_f64(ticks as f64 * tick),
        instance_hours: 0.0,
        slo_violation_minutes: 0.0,
        job_wait_violation_minutes: 0.0,
        scaling_actions: 0,
        reversals: 0,
        peak_instances: model.initial_instances,
        decisions: 0,
    };
    let mut last_direction: Option<bool> = None;
    let mut samples = Samples::new(ticks, judge.max_samples);

    for i in 0..ticks {
        let elapsed = i as f64 * tick;
        let t = start + elapsed;
        if let Some(target) = pending.take() {
            fleet.resize(target, t + serve_after);
        }
        while let Some(p) = trace.points.get(next_point).filter(|p| p.at_secs <= t) {
            load = Some(*p);
            next_point += 1;
        }
        fleet.promote(t);
        let ready = fleet.ready;
        let instances = fleet.instances();
        let (rate, arrivals) = load.map_or((0.0, 0.0), |p| (p.request_rate, p.queue_arrivals));

        let capacity = f64::from(ready) * model.requests_per_instance;
        let u = if capacity > 0.0 {
            rate / capacity
        } else {
            f64::INFINITY
        };
        let p95 = model.p95_secs(u);
        jobs.arrive(elapsed, arrivals * tick);
        jobs.drain(f64::from(ready) * model.jobs_per_instance * tick);
        let job_wait_violation = jobs
            .oldest_wait(elapsed + tick)
            .is_some_and(|w| w > job_wait_slo);
        let busy = u.min(1.0);
        if seen.len() > lag_ticks {
            seen.pop_front();
        }
        seen.push_back(Metrics {
            cpu_percent: Some(100.0 * busy),
            memory_percent: Some(25.0 + 30.0 * busy),
            request_rate: Some(if ready > 0 {
                rate / f64::from(ready)
            } else {
                rate
            }),
            queue_length: Some(jobs.len()),
            p95_response_time: Some(Duration::from_secs_f64(p95)),
        });
        let violation = u > 1.0 || p95 > model.slo_p95.as_secs_f64();
        report.instance_hours += f64::from(instances) * tick / 3_600.0;
        if violation {
            report.slo_violation_minutes += tick / 60.0;
        }
        if job_wait_violation {
            report.job_wait_violation_minutes += tick / 60.0;
        }
        samples.push(Sample {
            at_secs: elapsed,
            request_rate: rate,
            instances,
            ready,
            violation,
            jobs_waiting: jobs.len(),
            job_wait_violation,
        });

        // The oldest sample kept is `lag_ticks` old (or the first tick's, early on).
        let observed_ticks_ago = (seen.len() - 1) as f64;
        let Some(view) = seen.front() else { continue };
        let now = epoch + Duration::from_secs_f64(elapsed);
        let observed_at = epoch + Duration::from_secs_f64(elapsed - observed_ticks_ago * tick);
        let target = autoscaler.decide_observed(
            view,
            observed_at,
            Fleet {
                instances: desired,
                ready,
            },
            now,
        );
        report.decisions += 1;
        if target != desired {
            let up = target > desired;
            report.scaling_actions += 1;
            if last_direction.is_some_and(|d| d != up) {
                report.reversals += 1;
            }
            last_direction = Some(up);
            desired = target;
            report.peak_instances = report.peak_instances.max(target);
            if judge.apply_next_tick {
                pending = Some(target);
            } else {
                fleet.resize(target, t + serve_after);
            }
        }
    }
    Run {
        report,
        samples: samples.into_vec(),
    }
}

/// The instances that exist: ready ones, and starting ones with the second they will serve.
struct FleetState {
    ready: u32,
    starting: VecDeque<(f64, u32)>,
}

impl FleetState {
    fn instances(&self) -> u32 {
        self.ready + self.starting.iter().map(|(_, n)| n).sum::<u32>()
    }

    fn promote(&mut self, t: f64) {
        while let Some((_, n)) = self.starting.front().filter(|(at, _)| *at <= t).copied() {
            self.ready += n;
            self.starting.pop_front();
        }
    }

    /// Starts instances (serving from `serve_at`) or removes some, starting ones first: they
    /// serve nobody yet.
    fn resize(&mut self, target: u32, serve_at: f64) {
        let instances = self.instances();
        if target > instances {
            self.starting.push_back((serve_at, target - instances));
            return;
        }
        let mut remove = instances - target;
        while remove > 0 {
            match self.starting.back_mut() {
                Some((_, n)) if *n > remove => {
                    *n -= remove;
                    remove = 0;
                }
                Some((_, n)) => {
                    remove -= *n;
                    self.starting.pop_back();
                }
                None => {
                    self.ready = self.ready.saturating_sub(remove);
                    remove = 0;
                }
            }
        }
    }
}

/// The timeline, one sample per tick, or per bucket of ticks when the run is longer than the
/// judge's `max_samples` (review L12).
struct Samples {
    per_bucket: u64,
    in_bucket: u64,
    kept: Vec<Sample>,
}

impl Samples {
    fn new(ticks: u64, max_samples: usize) -> Self {
        let max = (max_samples.max(1)) as u64;
        let per_bucket = ticks.div_ceil(max).max(1);
        let kept = ticks.div_ceil(per_bucket).min(max) as usize;
        Self {
            per_bucket,
            in_bucket: 0,
            kept: Vec::with_capacity(kept),
        }
    }

    fn push(&mut self, s: Sample) {
        match self.kept.last_mut() {
            Some(b) if self.in_bucket < self.per_bucket => {
                b.request_rate = b.request_rate.max(s.request_rate);
                b.instances = b.instances.max(s.instances);
                b.ready = b.ready.min(s.ready);
                b.violation |= s.violation;
                b.jobs_waiting = b.jobs_waiting.max(s.jobs_waiting);
                b.job_wait_violation |= s.job_wait_violation;
            }
            _ => {
                self.kept.push(s);
                self.in_bucket = 0;
            }
        }
        self.in_bucket += 1;
    }

    fn into_vec(self) -> Vec<Sample> {
        self.kept
    }
}
