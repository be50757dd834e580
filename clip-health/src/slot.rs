//! One registered check's slot: its cached result, its flap count, and the single run in
//! progress that every caller shares. Runs are detached tasks, so a caller that stops waiting
//! never cancels one.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use crate::report::CheckResult;
use crate::{Check, CheckOutcome, Status};

#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) check: Check,
    pub(crate) key: String,
    /// Set while a call of the check's closure has not returned (see `Check::run_guarded`).
    closure_busy: Arc<AtomicBool>,
    /// Held for a few instructions at a time, never across an `.await`.
    state: Mutex<SlotState>,
}

#[derive(Debug, Default)]
struct SlotState {
    /// The last finished run's result and when it finished.
    last: Option<(Instant, CheckResult)>,
    consecutive_failures: u32,
    /// The run in progress: whoever asks meanwhile waits for its result instead of starting another.
    running: Option<watch::Receiver<Option<CheckResult>>>,
}

impl Slot {
    pub(crate) fn new(check: Check) -> Self {
        Slot {
            key: check.key(),
            check,
            closure_busy: Arc::new(AtomicBool::new(false)),
            state: Mutex::new(SlotState::default()),
        }
    }

    /// The check's current result: from cache when younger than `ttl`, else from the run in
    /// progress, else from a new run. Runs are detached: a caller that stops waiting (a probe
    /// that timed out) does not cancel the run, which still caches its result and counts its
    /// failure, within the check's own timeout.
    pub(crate) async fn observe(self: &Arc<Self>, ttl: Duration) -> CheckResult {
        let mut running = {
            let mut state = self.lock();
            if let Some((at, result)) = &state.last
                && at.elapsed() < ttl
            {
                return result.clone();
            }
            // A run whose task is gone without a result (dropped by a runtime shutting down,
            // even before it started) is no run in progress.
            let live = state.running.as_ref().filter(|r| r.has_changed().is_ok());
            match live {
                Some(running) => running.clone(),
                None => {
                    let running = self.clone().start_run();
                    state.running = Some(running.clone());
                    running
                }
            }
        };
        match running.wait_for(Option::is_some).await {
            Ok(result) => result.clone().unwrap_or_else(|| self.cancelled()),
            Err(_run_dropped) => self.cancelled(),
        }
    }

    /// Spawns one run; the receiver yields its result. Called with the state locked.
    fn start_run(self: Arc<Self>) -> watch::Receiver<Option<CheckResult>> {
        let (done, running) = watch::channel(None);
        tokio::spawn(async move {
            // If the runtime drops this task mid-run, the next caller must be able to start another.
            let mut unfinished = Unfinished(Some(&self));
            let result = self.run_once().await;
            unfinished.0 = None;
            done.send_replace(Some(result));
        });
        running
    }

    /// Runs the check, applies flap tolerance, and caches the result (ending the run).
    async fn run_once(&self) -> CheckResult {
        let observed_at = SystemTime::now();
        let started = Instant::now();
        let mut outcome = self.check.run_guarded(&self.closure_busy).await;
        let elapsed = started.elapsed();
        if outcome.observed_value.is_none() && self.check.measurement == "responseTime" {
            let ms = (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
            outcome = outcome.observed(ms, "ms");
        }

        let mut state = self.lock();
        if outcome.status == Status::Fail {
            state.consecutive_failures = state.consecutive_failures.saturating_add(1);
            let threshold = self.check.failure_threshold;
            if state.consecutive_failures < threshold {
                outcome.status = Status::Warn;
                let reason = outcome.output.take().unwrap_or_default();
                outcome.output = Some(format!(
                    "failed {} of {threshold} consecutive times before reporting fail: {reason}",
                    state.consecutive_failures
                ));
            }
        } else {
            state.consecutive_failures = 0;
        }
        let result = self.result(observed_at, outcome);
        state.last = Some((Instant::now(), result.clone()));
        state.running = None;
        drop(state);

        if result.status != Status::Pass {
            tracing::warn!(check = %self.key, status = %result.status, output = ?result.output, "health check not passing");
        }
        result
    }

    fn result(&self, observed_at: SystemTime, outcome: CheckOutcome) -> CheckResult {
        CheckResult {
            component_type: Some(self.check.component_type.clone().into_owned()),
            observed_value: outcome.observed_value,
            observed_unit: outcome.observed_unit,
            status: outcome.status,
            time: crate::time::rfc3339(observed_at),
            output: outcome.output,
        }
    }

    /// What a caller reads when the run it waited for was dropped (the runtime is shutting down).
    fn cancelled(&self) -> CheckResult {
        let outcome = CheckOutcome::fail("check was cancelled (runtime shutting down)");
        self.result(SystemTime::now(), outcome)
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        // The state is consistent after every statement, so a panic elsewhere cannot corrupt it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Clears the slot's run in progress when a run task is dropped before it finished.
struct Unfinished<'a>(Option<&'a Slot>);

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.0 {
            slot.lock().running = None;
        }
    }
}
