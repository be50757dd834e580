//! The shape of a load test: five phases (baseline, ramp, sustained, spike, cool-down) cut
//! from the total duration, each made of constant-rate steps.

use serde::Serialize;

/// One constant-rate run of the load generator.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// Seconds from the test's start when the step is planned to begin.
    pub offset_seconds: u64,
    /// How long it runs.
    pub seconds: u64,
    /// Virtual users (one keep-alive connection each).
    pub users: u32,
    /// Requests per second for the whole step (users x rate per user).
    pub rate: f64,
}

/// A named part of the test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Phase {
    /// `baseline`, `ramp`, `sustained`, `spike` or `cool-down`.
    pub name: &'static str,
    /// What the phase is for, for the report.
    pub purpose: &'static str,
    /// Its steps, in order.
    pub steps: Vec<Step>,
}

impl Phase {
    /// Planned length of the phase.
    pub fn seconds(&self) -> u64 {
        self.steps.iter().map(|s| s.seconds).sum()
    }
}

/// (name, purpose, share of the duration, users at the start and at the end as a fraction of
/// USERS, steps). The ramp climbs in equal steps; the others hold one level.
const SHAPE: [(&str, &str, f64, f64, f64, u64); 5] = [
    (
        "baseline",
        "light load: the fleet's resting latency",
        0.15,
        0.2,
        0.2,
        1,
    ),
    (
        "ramp",
        "gradual increase to the full user count",
        0.25,
        0.2,
        1.0,
        5,
    ),
    (
        "sustained",
        "full load held: does latency stay flat?",
        0.30,
        1.0,
        1.0,
        1,
    ),
    (
        "spike",
        "twice the users at once: shedding, queueing, scaling",
        0.10,
        2.0,
        2.0,
        1,
    ),
    (
        "cool-down",
        "back to light load: recovery and scale-down",
        0.20,
        0.2,
        0.2,
        1,
    ),
];

/// Cuts `duration_seconds` into the five phases for `users` virtual users, each sending
/// `rate_per_user` requests per second. Every step lasts at least one second, so a very short
/// test runs a little longer than asked.
pub fn plan(duration_seconds: u64, users: u32, rate_per_user: f64) -> Vec<Phase> {
    let mut offset = 0;
    SHAPE
        .iter()
        .map(|&(name, purpose, share, from, to, steps)| {
            let phase_seconds = ((duration_seconds as f64 * share).round() as u64).max(1);
            let steps = steps.min(phase_seconds).max(1);
            let step_seconds = (phase_seconds / steps).max(1);
            let steps = (0..steps)
                .map(|i| {
                    let fraction = if steps == 1 {
                        to
                    } else {
                        from + (to - from) * i as f64 / (steps - 1) as f64
                    };
                    let users = ((f64::from(users) * fraction).round() as u32).max(1);
                    let step = Step {
                        offset_seconds: offset,
                        seconds: step_seconds,
                        users,
                        rate: f64::from(users) * rate_per_user,
                    };
                    offset += step_seconds;
                    step
                })
                .collect();
            Phase {
                name,
                purpose,
                steps,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guides_quick_test_is_cut_into_five_phases() {
        let phases = plan(60, 10, 10.0);
        let names: Vec<_> = phases.iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            ["baseline", "ramp", "sustained", "spike", "cool-down"]
        );
        let total: u64 = phases.iter().map(Phase::seconds).sum();
        assert_eq!(total, 60);
        let ramp: Vec<u32> = phases[1].steps.iter().map(|s| s.users).collect();
        assert_eq!(ramp, [2, 4, 6, 8, 10]);
        assert_eq!(phases[2].steps[0].rate, 100.0);
        assert_eq!(phases[3].steps[0].users, 20);
        assert_eq!(phases[4].steps[0].offset_seconds, 48);
    }

    #[test]
    fn a_smoke_test_of_a_few_seconds_still_runs_every_phase() {
        let phases = plan(5, 2, 5.0);
        assert_eq!(phases.len(), 5);
        for phase in &phases {
            assert!(phase.seconds() >= 1);
            assert!(phase.steps.iter().all(|s| s.users >= 1 && s.rate > 0.0));
        }
    }

    #[test]
    fn the_stress_preset_scales_the_same_shape() {
        let phases = plan(600, 100, 10.0);
        assert_eq!(phases.iter().map(Phase::seconds).sum::<u64>(), 600);
        assert_eq!(phases[3].steps[0].rate, 2000.0);
    }
}
