//! Where the SLO-violation minutes of `tracking` and `hpa` go, trace by trace, with the fair
//! judge: what no autoscaler within the bounds avoids (demand above what `MAX_INSTANCES`
//! serve, and the start before any capacity can be added), one-sample spikes (a 15 s burst,
//! over before any autoscaler hears of it), the reaction to a change (the first ticks of a
//! run, as long as the lag, the action and the start-up of new capacity take), what lasts
//! beyond that, and short runs of noise.
//!
//! ```text
//! cargo run --release -p clip-scaling-policy --example violations -- --heldout --first-seed 1
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clip_scaling_policy::ScalingConfig;
use clip_scaling_policy::sim::compare::{Arena, Contender, Scenario};
use clip_scaling_policy::sim::heldout::Family;
use clip_scaling_policy::sim::{CapacityModel, Judge, Sample, Shape, simulate_with};

const USAGE: &str = "usage: violations [--heldout] [--first-seed S] [--seeds N] [--lag SECS] (defaults: built-in \
traces, seeds 0.., 5 seeds, 60 s)";
/// A sample this much above both neighbours is a one-sample spike (the held-out traces'
/// outliers are 1.3 to 2 times; their noise moves a few percent from one sample to the next).
const SPIKE: f64 = 1.2;
/// A run of at least this many ticks (besides the unavoidable and the spikes) is a change
/// being reacted to; shorter ones are noise crossing the SLO.
const RUN: usize = 5;

/// Minutes by cause, one run or summed.
#[derive(Default, Clone, Copy)]
struct Causes {
    total: f64,
    unavoidable: f64,
    spikes: f64,
    reaction: f64,
    beyond: f64,
    short: f64,
}

impl Causes {
    fn add(&mut self, o: &Causes, weight: f64) {
        self.total += o.total * weight;
        self.unavoidable += o.unavoidable * weight;
        self.spikes += o.spikes * weight;
        self.reaction += o.reaction * weight;
        self.beyond += o.beyond * weight;
        self.short += o.short * weight;
    }

    fn row(&self, trace: &str, autoscaler: &str) -> String {
        format!(
            "| {trace} | {autoscaler} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            self.total, self.unavoidable, self.spikes, self.reaction, self.beyond, self.short
        )
    }
}

struct Options {
    heldout: bool,
    first_seed: Option<u64>,
    seeds: usize,
    lag: Duration,
}

fn main() -> ExitCode {
    match parse_args().and_then(|o| run(&o)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("violations: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        heldout: false,
        first_seed: None,
        seeds: 5,
        lag: Duration::from_secs(60),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |what: &str| -> Result<u64, String> {
            let v = args.next().ok_or(format!("{arg} needs {what}"))?;
            v.parse().map_err(|_| format!("{arg} {v}: expected {what}"))
        };
        match arg.as_str() {
            "--heldout" => o.heldout = true,
            "--first-seed" => o.first_seed = Some(number("a whole number")?),
            "--seeds" => {
                o.seeds = usize::try_from(number("a count, 1 to 1000")?)
                    .ok()
                    .filter(|n| (1..=1_000).contains(n))
                    .ok_or("--seeds: expected 1 to 1000")?;
            }
            "--lag" => o.lag = Duration::from_secs(number("whole seconds")?.min(3_600)),
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    Ok(o)
}

fn run(o: &Options) -> Result<(), String> {
    let judge = Judge {
        // One sample per tick: the classification needs each tick's neighbours.
        max_samples: usize::MAX,
        ..Judge::with_lag(o.lag)
    };
    let model = CapacityModel::default();
    let config = ScalingConfig::from_env().map_err(|e| e.to_string())?;
    let arena = Arena::new(model, judge, o.seeds, &config).map_err(|e| e.to_string())?;
    let seeds = |first: u64| first..first.saturating_add(o.seeds as u64);
    let scenarios: Vec<Scenario> = if o.heldout {
        let first = o.first_seed.unwrap_or(201);
        Family::ALL
            .iter()
            .map(|&f| Scenario::heldout(f, f.default_duration_secs(), seeds(first)))
            .collect()
    } else {
        let first = o.first_seed.unwrap_or(0);
        Shape::ALL
            .iter()
            .map(|&s| Scenario::builtin(s, 7.0 * 86_400.0, seeds(first)))
            .collect()
    };
    let tick = arena.model.tick.as_secs_f64().max(1.0);
    let reaction = reaction_ticks(&arena);
    println!(
        "SLO-violation minutes by cause, mean over {} seeds; reaction = the first {reaction} ticks of a run \
         (metric lag, one tick to act, start-up and readiness)\n",
        o.seeds
    );
    println!(
        "| trace | autoscaler | SLO min | no autoscaler avoids | one-sample spikes | reaction | beyond reaction | short runs |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let contenders = [Contender::Tracking, Contender::Hpa];
    let mut totals = [Causes::default(); 2];
    for scenario in &scenarios {
        for (c, total) in contenders.iter().zip(totals.iter_mut()) {
            let mut mean = Causes::default();
            for seed in 0..o.seeds {
                let Some(trace) = scenario.trace(seed) else {
                    continue;
                };
                let run = simulate_with(
                    trace,
                    &arena.model,
                    &arena.judge,
                    arena.autoscaler(*c).as_mut(),
                );
                let causes = classify(&arena, &run.samples, reaction, tick);
                mean.add(&causes, 1.0 / o.seeds as f64);
            }
            println!("{}", mean.row(&scenario.name, c.name()));
            total.add(&mean, 1.0);
        }
    }
    for (c, total) in contenders.iter().zip(&totals) {
        println!("{}", total.row("**total**", c.name()));
    }
    Ok(())
}

/// Ticks from a change in the load to capacity added for it serving: the metric lag, one
/// tick to act, the start-up and the readiness delay.
fn reaction_ticks(arena: &Arena) -> usize {
    let tick = arena.model.tick.as_secs_f64().max(1.0);
    let lag = (arena.judge.metric_lag.as_secs_f64() / tick).ceil();
    let act = if arena.judge.apply_next_tick {
        1.0
    } else {
        0.0
    };
    let serve = (arena.model.startup_delay + arena.judge.readiness_delay).as_secs_f64() / tick;
    (lag + act + serve.ceil()) as usize
}

/// One run's violating ticks by cause, in minutes.
fn classify(arena: &Arena, s: &[Sample], reaction: usize, tick: f64) -> Causes {
    let minutes = tick / 60.0;
    let mut c = Causes::default();
    let mut i = 0;
    while i < s.len() {
        if !s[i].violation {
            i += 1;
            continue;
        }
        // A run of violating ticks: count its ticks that neither the bounds nor a spike explain.
        let mut rest = 0;
        while i < s.len() && s[i].violation {
            c.total += minutes;
            let rate = s[i].request_rate;
            let before = if i > 0 { s[i - 1].request_rate } else { rate };
            let after = s.get(i + 1).map_or(rate, |n| n.request_rate);
            if arena.unavoidable(s[i].at_secs, rate) {
                c.unavoidable += minutes;
            } else if rate > SPIKE * before.max(after) {
                c.spikes += minutes;
            } else {
                rest += 1;
            }
            i += 1;
        }
        if rest >= RUN {
            c.reaction += rest.min(reaction) as f64 * minutes;
            c.beyond += rest.saturating_sub(reaction) as f64 * minutes;
        } else {
            c.short += rest as f64 * minutes;
        }
    }
    c
}
