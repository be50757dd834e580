//! A field of autoscalers over scenarios and seeds: the comparison `simulate` prints, the
//! tuned HPA baseline, the clairvoyant lower bound, and the bar the tracking mode must pass.

use std::ops::Range;

use super::heldout::{self, Family};
use super::{
    Autoscaler, CapacityModel, FixedFleet, HpaBaseline, HpaTargets, Judge, PolicyAutoscaler,
    Report, Shape, Summary, Trace, simulate_with,
};
use crate::{ScalingConfig, ScalingError, ScalingMode, ScalingPolicy};

/// An autoscaler of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contender {
    /// Our policy, guide mode.
    Guide,
    /// Our policy, tracking mode.
    Tracking,
    /// Kubernetes' HPA with the guide's targets and its default `behavior`.
    Hpa,
    /// The same HPA with its request-rate target swept (CPU in proportion): the cheapest
    /// setting whose SLO minutes do not exceed the default's, per trace.
    HpaTuned,
    /// A fixed fleet at `MIN_INSTANCES` (3).
    FixedMin,
    /// A fixed fleet at `MAX_INSTANCES` (20).
    FixedMax,
}

impl Contender {
    /// Every contender, in the order tables show them.
    pub const ALL: [Contender; 6] = [
        Contender::Guide,
        Contender::Tracking,
        Contender::Hpa,
        Contender::HpaTuned,
        Contender::FixedMin,
        Contender::FixedMax,
    ];

    /// The name reports use: `guide`, `tracking`, `hpa`, `hpa-tuned`, `fixed-min`, `fixed-max`.
    pub fn name(self) -> &'static str {
        match self {
            Contender::Guide => "guide",
            Contender::Tracking => "tracking",
            Contender::Hpa => "hpa",
            Contender::HpaTuned => "hpa-tuned",
            Contender::FixedMin => "fixed-min",
            Contender::FixedMax => "fixed-max",
        }
    }

    /// The contender with this name, if any.
    pub fn from_name(name: &str) -> Option<Contender> {
        Contender::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// A trace under several seeds: one trace per seed, or one trace for all (a CSV).
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The traces' name.
    pub name: String,
    /// The traces, one per seed (cycled when there are fewer traces than runs).
    pub traces: Vec<Trace>,
}

impl Scenario {
    /// A built-in shape, `duration_secs` long, drawn with each of `seeds`.
    pub fn builtin(shape: Shape, duration_secs: f64, seeds: Range<u64>) -> Self {
        Self {
            name: shape.name().to_string(),
            traces: seeds
                .map(|seed| Trace::builtin_seeded(shape, duration_secs, 15.0, seed))
                .collect(),
        }
    }

    /// A held-out family, `duration_secs` long, drawn with each of `seeds`.
    pub fn heldout(family: Family, duration_secs: f64, seeds: Range<u64>) -> Self {
        Self {
            name: family.name().to_string(),
            traces: seeds
                .map(|seed| heldout::generate(family, duration_secs, seed))
                .collect(),
        }
    }

    /// One trace (say, read from a CSV): every seed replays it as it is.
    pub fn from_trace(trace: Trace) -> Self {
        Self {
            name: trace.name.clone(),
            traces: vec![trace],
        }
    }

    /// The trace of the `seed`-th run (cycling through the traces; `None` without any).
    pub fn trace(&self, seed: usize) -> Option<&Trace> {
        self.traces.get(seed % self.traces.len().max(1))
    }
}

/// Request-rate targets the tuned HPA tries, req/s per pod (the default is 100).
pub const HPA_SWEEP: [f64; 11] = [
    100.0, 105.0, 110.0, 115.0, 120.0, 125.0, 130.0, 135.0, 140.0, 145.0, 150.0,
];

/// The setting of a comparison: model, judge, seeds, and our policy's configurations.
#[derive(Debug, Clone)]
pub struct Arena {
    /// The simulated service.
    pub model: CapacityModel,
    /// The judge.
    pub judge: Judge,
    /// Runs per scenario (its first `seeds` traces, cycled).
    pub seeds: usize,
    /// Our policy in guide mode.
    pub guide: ScalingPolicy,
    /// Our policy in tracking mode.
    pub tracking: ScalingPolicy,
}

impl Arena {
    /// The arena with `config` for our policy, in each mode (its `mode` is overridden).
    pub fn new(
        model: CapacityModel,
        judge: Judge,
        seeds: usize,
        config: &ScalingConfig,
    ) -> Result<Self, ScalingError> {
        let with_mode = |mode| {
            ScalingPolicy::new(ScalingConfig {
                mode,
                ..config.clone()
            })
        };
        Ok(Self {
            model,
            judge,
            seeds: seeds.max(1),
            guide: with_mode(ScalingMode::Guide)?,
            tracking: with_mode(ScalingMode::Tracking)?,
        })
    }

    /// A fresh autoscaler for `contender`; `HpaTuned` at the default targets (see
    /// [`Arena::tune_hpa`] for the tuned one).
    pub fn autoscaler(&self, contender: Contender) -> Box<dyn Autoscaler> {
        let instances = self.model.initial_instances;
        match contender {
            Contender::Guide => Box::new(PolicyAutoscaler::new(self.guide.clone(), instances)),
            Contender::Tracking => {
                Box::new(PolicyAutoscaler::new(self.tracking.clone(), instances))
            }
            Contender::Hpa => Box::new(HpaBaseline::kubernetes_default()),
            Contender::HpaTuned => Box::new(HpaBaseline::kubernetes_default().named("hpa-tuned")),
            Contender::FixedMin => Box::new(FixedFleet::new("fixed-min", 3)),
            Contender::FixedMax => Box::new(FixedFleet::new("fixed-max", 20)),
        }
    }

    /// Runs `make()`'s autoscaler on every seed of `scenario` and summarises.
    pub fn summarise(
        &self,
        scenario: &Scenario,
        make: impl Fn() -> Box<dyn Autoscaler>,
    ) -> Option<Summary> {
        let reports: Vec<Report> = (0..self.seeds)
            .filter_map(|seed| {
                let trace = scenario.trace(seed)?;
                let mut autoscaler = make();
                Some(simulate_with(trace, &self.model, &self.judge, autoscaler.as_mut()).report)
            })
            .collect();
        Summary::of(&reports)
    }

    /// The HPA with its request-rate target swept over [`HPA_SWEEP`] (CPU in proportion): the
    /// cheapest setting, on average over the seeds, whose SLO minutes do not exceed those of
    /// `default` (the default HPA's summary on this scenario). Its note names the setting.
    pub fn tune_hpa(&self, scenario: &Scenario, default: &Summary) -> Option<Summary> {
        let mut best: Option<(f64, Summary)> = None;
        for target in HPA_SWEEP {
            let targets = HpaTargets::GUIDE.with_request_rate(target);
            let Some(s) = self.summarise(scenario, || {
                Box::new(HpaBaseline::with_targets(3, 20, targets).named("hpa-tuned"))
            }) else {
                continue;
            };
            let fair = s.mean.slo_violation_minutes <= default.mean.slo_violation_minutes + 1e-9;
            let cheaper = best
                .as_ref()
                .is_none_or(|(_, b)| s.mean.instance_hours < b.mean.instance_hours);
            if fair && cheaper {
                best = Some((target, s));
            }
        }
        best.map(|(target, mut s)| {
            s.note = Some(format!("request-rate target {target:.0} req/s"));
            s
        })
    }

    /// Every contender on `scenario`, in [`Contender::ALL`] order, skipping those not asked for.
    pub fn compare(&self, scenario: &Scenario, contenders: &[Contender]) -> Vec<Summary> {
        let mut rows = Vec::new();
        let mut hpa: Option<Summary> = None;
        for c in Contender::ALL {
            let wanted = contenders.contains(&c);
            let summary = match c {
                Contender::HpaTuned if wanted => {
                    let default = hpa
                        .clone()
                        .or_else(|| self.summarise(scenario, || self.autoscaler(Contender::Hpa)));
                    default.and_then(|d| self.tune_hpa(scenario, &d))
                }
                _ if wanted
                    || (c == Contender::Hpa && contenders.contains(&Contender::HpaTuned)) =>
                {
                    self.summarise(scenario, || self.autoscaler(c))
                }
                _ => None,
            };
            if c == Contender::Hpa {
                hpa = summary.clone();
            }
            if wanted {
                rows.extend(summary);
            }
        }
        rows
    }

    /// The clairvoyant lower bound on cost, instance-hours averaged over the seeds: a fleet
    /// that knows the future and starts instantly, sized to the tracking mode's setpoint on
    /// the demand curve itself (requests at `TRACKING_REQUEST_RATE_TARGET` per instance; jobs
    /// at the rate that drains each job-wait SLO's arrivals within it), within the bounds.
    pub fn clairvoyant(&self, scenario: &Scenario) -> f64 {
        let c = self.tracking.config();
        let per_instance = c.tracking.request_rate_target;
        let tick = self.model.tick.as_secs_f64().max(1.0);
        let window = self.model.job_wait_slo.as_secs_f64().max(tick);
        let mut total = 0.0;
        let runs = self.seeds;
        for seed in 0..runs {
            let Some(trace) = scenario.trace(seed) else {
                continue;
            };
            let p = &trace.points;
            if p.is_empty() {
                continue;
            }
            let ticks = (trace.duration_secs().max(0.0) / tick).floor() as usize + 1;
            let start = p[0].at_secs;
            let mut at = 0;
            let mut jobs_ahead = JobsAhead::new(p, window);
            for i in 0..ticks {
                let t = start + i as f64 * tick;
                while at + 1 < p.len() && p[at + 1].at_secs <= t {
                    at += 1;
                }
                let web = p[at].request_rate / per_instance;
                let jobs = jobs_ahead.rate_from(t) / self.model.jobs_per_instance;
                let n = web
                    .max(jobs)
                    .ceil()
                    .clamp(f64::from(c.min_instances), f64::from(c.max_instances));
                total += n * tick / 3_600.0;
            }
        }
        total / runs as f64
    }

    /// SLO-violation minutes no autoscaler within the policy's bounds can avoid, averaged over
    /// the seeds: the ticks [`unavoidable`](Self::unavoidable) marks. Every autoscaler's SLO
    /// minutes include these; comparing what lies above them shows what an autoscaler can
    /// still change.
    pub fn slo_floor(&self, scenario: &Scenario) -> f64 {
        let tick = self.model.tick.as_secs_f64().max(1.0);
        let mut total = 0.0;
        for seed in 0..self.seeds {
            let Some(trace) = scenario.trace(seed) else {
                continue;
            };
            let p = &trace.points;
            let Some(first) = p.first() else { continue };
            let ticks = (trace.duration_secs().max(0.0) / tick).floor() as usize + 1;
            let mut at = 0;
            for i in 0..ticks {
                let elapsed = i as f64 * tick;
                while at + 1 < p.len() && p[at + 1].at_secs <= first.at_secs + elapsed {
                    at += 1;
                }
                if self.unavoidable(elapsed, p[at].request_rate) {
                    total += tick / 60.0;
                }
            }
        }
        total / self.seeds as f64
    }

    /// Whether a tick `elapsed_secs` into a run, with `request_rate` arriving, violates the
    /// SLO whatever the autoscaler: its demand is more than `MAX_INSTANCES` instances serve
    /// within the SLO (above the p95 knee, [`CapacityModel::slo_knee`]), or it comes before
    /// any decision's capacity can serve (the first decision takes effect at the next tick,
    /// its instances after start-up and readiness) with more demand than the initial fleet
    /// serves.
    pub fn unavoidable(&self, elapsed_secs: f64, request_rate: f64) -> bool {
        let tick = self.model.tick.as_secs_f64().max(1.0);
        let act = if self.judge.apply_next_tick {
            tick
        } else {
            0.0
        };
        let first_capacity =
            act + self.model.startup_delay.as_secs_f64() + self.judge.readiness_delay.as_secs_f64();
        let fleet = if elapsed_secs < first_capacity {
            self.model.initial_instances
        } else {
            self.tracking.config().max_instances
        };
        request_rate > self.model.requests_per_instance * self.model.slo_knee() * f64::from(fleet)
    }
}

/// The mean job arrival rate over the next window, from a trace's points.
struct JobsAhead<'a> {
    points: &'a [super::TracePoint],
    window: f64,
}

impl<'a> JobsAhead<'a> {
    fn new(points: &'a [super::TracePoint], window: f64) -> Self {
        Self { points, window }
    }

    /// Jobs per second arriving on average over `[t, t + window)`.
    fn rate_from(&mut self, t: f64) -> f64 {
        let end = t + self.window;
        let p = self.points;
        let first = p.partition_point(|x| x.at_secs <= t).saturating_sub(1);
        let mut jobs = 0.0;
        for (k, point) in p.iter().enumerate().skip(first) {
            if point.at_secs >= end {
                break;
            }
            let from = point.at_secs.max(t);
            let to = p.get(k + 1).map_or(end, |n| n.at_secs.min(end));
            jobs += point.queue_arrivals * (to - from).max(0.0);
        }
        jobs / self.window
    }
}

/// The tracking mode against the default HPA over a set of scenarios: what the bar
/// asks for, figure by figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Instance-hours in total: tracking, hpa.
    pub instance_hours: (f64, f64),
    /// SLO-violation minutes in total: tracking, hpa.
    pub slo_minutes: (f64, f64),
    /// Traces where tracking costs more than hpa and misses more SLO minutes.
    pub worse_on_both: Vec<String>,
    /// Traces where tracking reverses direction more often than hpa.
    pub more_reversals: Vec<String>,
    /// Traces where tracking's job-wait minutes exceed hpa's.
    pub more_job_wait: Vec<String>,
    /// Traces where tracking costs less than hpa and misses no more SLO minutes.
    pub better_on_both: Vec<String>,
}

impl Bar {
    /// Reads the bar off summaries (the `tracking` and `hpa` rows of each trace).
    pub fn of(rows: &[Summary]) -> Self {
        let mut bar = Bar {
            instance_hours: (0.0, 0.0),
            slo_minutes: (0.0, 0.0),
            worse_on_both: Vec::new(),
            more_reversals: Vec::new(),
            more_job_wait: Vec::new(),
            better_on_both: Vec::new(),
        };
        let find = |trace: &str, name: &str| {
            rows.iter()
                .find(|r| r.trace == trace && r.autoscaler == name)
        };
        let mut traces: Vec<&str> = rows.iter().map(|r| r.trace.as_str()).collect();
        traces.dedup();
        for trace in traces {
            let (Some(t), Some(h)) = (find(trace, "tracking"), find(trace, "hpa")) else {
                continue;
            };
            let (t, h) = (&t.mean, &h.mean);
            bar.instance_hours.0 += t.instance_hours;
            bar.instance_hours.1 += h.instance_hours;
            bar.slo_minutes.0 += t.slo_violation_minutes;
            bar.slo_minutes.1 += h.slo_violation_minutes;
            let cheaper = t.instance_hours < h.instance_hours;
            let no_more_slo = t.slo_violation_minutes <= h.slo_violation_minutes + 1e-9;
            if t.instance_hours > h.instance_hours && !no_more_slo {
                bar.worse_on_both.push(trace.to_string());
            }
            if cheaper && no_more_slo {
                bar.better_on_both.push(trace.to_string());
            }
            if t.reversals > h.reversals {
                bar.more_reversals.push(trace.to_string());
            }
            if t.job_wait_violation_minutes > h.job_wait_violation_minutes + 1e-9 {
                bar.more_job_wait.push(trace.to_string());
            }
        }
        bar
    }

    /// Tracking's saving on instance-hours against hpa, percent of hpa's.
    pub fn cost_saving_percent(&self) -> f64 {
        percent_below(self.instance_hours.0, self.instance_hours.1)
    }

    /// Tracking's saving on SLO-violation minutes against hpa, percent of hpa's.
    pub fn slo_saving_percent(&self) -> f64 {
        percent_below(self.slo_minutes.0, self.slo_minutes.1)
    }

    /// Whether the bar is met: at least 5 % fewer instance-hours and 10 % fewer SLO minutes in
    /// total, worse on both nowhere, no trace with more reversals or more job-wait minutes.
    pub fn met(&self) -> bool {
        self.cost_saving_percent() >= 5.0
            && self.slo_saving_percent() >= 10.0
            && self.worse_on_both.is_empty()
            && self.more_reversals.is_empty()
            && self.more_job_wait.is_empty()
    }
}

fn percent_below(ours: f64, theirs: f64) -> f64 {
    if theirs > 0.0 {
        100.0 * (theirs - ours) / theirs
    } else if ours > 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    }
}
