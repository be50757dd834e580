//! The health registry: runs the checks concurrently (each through its [`Slot`]) and folds their
//! results with the draining/startup state into liveness, readiness and startup reports.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::future::join_all;

use crate::report::CheckResult;
use crate::slot::Slot;
use crate::{
    Check, CheckOutcome, Criticality, HealthConfig, HealthError, HealthReport, Status, aggregate,
};

/// Why readiness fails while the app has not said it started.
const STARTING_OUTPUT: &str = "starting: the application has not reported that startup is complete";
/// Why readiness fails once draining began.
const DRAINING_OUTPUT: &str = "draining: this instance is shutting down and takes no new traffic";

/// The set of health checks of a service and its lifecycle state (starting, serving, draining).
///
/// Cheap to clone (an `Arc` inside); clones share checks, cache and state.
///
/// ```
/// use std::time::Duration;
/// use clip_health::{Criticality, HealthRegistry, Status};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let health = HealthRegistry::builder()
///     .check("postgres", Criticality::Critical, Duration::from_secs(2), move || async move {
///         Ok::<(), std::io::Error>(()) // e.g. pool.execute(async |c| c.simple_query("SELECT 1").await).await
///     })
///     .build();
/// assert_eq!(health.readiness().await.status, Status::Pass);
/// health.start_draining();
/// assert_eq!(health.readiness().await.status, Status::Fail);
/// assert_eq!(health.liveness().status, Status::Pass);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct HealthRegistry {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    slots: Vec<Arc<Slot>>,
    config: HealthConfig,
    identity: Identity,
    started: AtomicBool,
    draining: AtomicBool,
}

/// The service's identity fields of the report.
#[derive(Debug, Clone, Default)]
struct Identity {
    version: Option<String>,
    release_id: Option<String>,
    service_id: Option<String>,
    description: Option<String>,
}

/// Builds a [`HealthRegistry`]; start with [`HealthRegistry::builder`].
#[derive(Debug, Default)]
pub struct HealthRegistryBuilder {
    checks: Vec<Check>,
    config: HealthConfig,
    identity: Identity,
    require_startup: bool,
}

impl HealthRegistryBuilder {
    /// Registers a check: `run` is called (at most once per cache TTL) under `timeout`.
    ///
    /// `run` returns a [`CheckOutcome`], a [`Status`], or a `Result<(), E>` /
    /// `Result<CheckOutcome, E>` whose `Err` reads `fail` with the error's message.
    pub fn check<F, Fut, O>(
        self,
        name: impl Into<Cow<'static, str>>,
        criticality: Criticality,
        timeout: Duration,
        run: F,
    ) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = O> + Send + 'static,
        O: Into<CheckOutcome> + 'static,
    {
        self.with_check(Check::new(name, criticality, timeout, run))
    }

    /// Registers a check built with [`Check::new`] and its options (flap tolerance, measurement, type).
    pub fn with_check(mut self, check: Check) -> Self {
        self.checks.push(check);
        self
    }

    /// Applies operator settings (cache TTL, details token), e.g. from [`HealthConfig::from_env`].
    /// It replaces both, including those set before by [`cache_ttl`](Self::cache_ttl) or
    /// [`details_token`](Self::details_token): call those after it to override one setting.
    pub fn config(mut self, config: HealthConfig) -> Self {
        self.config = config;
        self
    }

    /// How long a check result is reused (default 1 s); `Duration::ZERO` runs checks on every probe.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.config.cache_ttl = ttl;
        self
    }

    /// Callers presenting `Authorization: Bearer <token>` see details on `/api/health`.
    pub fn details_token(mut self, token: impl Into<String>) -> Self {
        self.config.details_token = Some(token.into());
        self
    }

    /// The report's `version`.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.identity.version = Some(version.into());
        self
    }

    /// The report's `releaseId`.
    pub fn release_id(mut self, release_id: impl Into<String>) -> Self {
        self.identity.release_id = Some(release_id.into());
        self
    }

    /// The report's `serviceId`.
    pub fn service_id(mut self, service_id: impl Into<String>) -> Self {
        self.identity.service_id = Some(service_id.into());
        self
    }

    /// The report's `description`.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.identity.description = Some(description.into());
        self
    }

    /// Readiness fails until [`HealthRegistry::mark_started`] is called (warm-up, migrations).
    /// Without this, the registry counts as started from `build()`.
    pub fn require_startup(mut self) -> Self {
        self.require_startup = true;
        self
    }

    /// Builds the registry, refusing what [`HealthConfig::validate`] refuses and checks that
    /// cannot work: a name or measurement that is empty or holds ':' (the draft's key
    /// separator), a timeout of zero or above 60 s. The error names the check or the variable.
    pub fn try_build(self) -> Result<HealthRegistry, HealthError> {
        self.config.validate()?;
        if let Some((name, reason)) = self.check_problem() {
            return Err(HealthError::InvalidCheck { name, reason });
        }
        Ok(self.build())
    }

    fn check_problem(&self) -> Option<(String, String)> {
        self.checks
            .iter()
            .find_map(|check| Some((check.name.to_string(), check.problem()?)))
    }

    /// Builds the registry. Checks with the same key keep their registration order in the report.
    /// It does not refuse anything (see [`try_build`](Self::try_build)); what `try_build` would
    /// refuse is logged as a warning.
    pub fn build(self) -> HealthRegistry {
        if let Err(problem) = self.config.validate() {
            tracing::warn!(%problem, "health registry built with invalid settings");
        }
        if let Some((check, problem)) = self.check_problem() {
            tracing::warn!(%check, %problem, "health registry built with an invalid check");
        }
        let slots = self
            .checks
            .into_iter()
            .map(|check| Arc::new(Slot::new(check)))
            .collect();
        HealthRegistry {
            inner: Arc::new(Inner {
                slots,
                config: self.config,
                identity: self.identity,
                started: AtomicBool::new(!self.require_startup),
                draining: AtomicBool::new(false),
            }),
        }
    }
}

impl HealthRegistry {
    /// Starts a builder.
    pub fn builder() -> HealthRegistryBuilder {
        HealthRegistryBuilder::default()
    }

    /// Liveness: the process is up and answering. Calls no dependency, so it stays `pass`
    /// while databases hang or the instance drains (restarting would not help either).
    pub fn liveness(&self) -> HealthReport {
        self.report_with(Status::Pass, None, BTreeMap::new())
    }

    /// Readiness: should the load balancer send traffic here? Runs the critical checks that
    /// [affect readiness](Check::affects_readiness) only; `fail` when one of them fails, and at
    /// once, without running any check, while starting or draining.
    pub async fn readiness(&self) -> HealthReport {
        if let Some(output) = self.lifecycle_failure() {
            return self.report_with(Status::Fail, Some(output), BTreeMap::new());
        }
        self.run(|slot| {
            slot.check.criticality == Criticality::Critical && slot.check.affects_readiness
        })
        .await
    }

    /// Startup (Kubernetes' `startupProbe`): `pass` once [`mark_started`](Self::mark_started)
    /// was called (or always, without [`HealthRegistryBuilder::require_startup`]), `fail`
    /// before. Calls no dependency, and draining does not change it.
    pub fn startup(&self) -> HealthReport {
        if self.is_started() {
            self.report_with(Status::Pass, None, BTreeMap::new())
        } else {
            self.report_with(Status::Fail, Some(STARTING_OUTPUT), BTreeMap::new())
        }
    }

    /// The full report: every check, critical or not, plus the lifecycle state.
    pub async fn report(&self) -> HealthReport {
        self.run(|_| true).await
    }

    /// From now on readiness fails (the load balancer stops sending traffic) while liveness passes.
    /// Call it when shutdown begins, then keep serving in-flight requests for the drain period.
    pub fn start_draining(&self) {
        self.inner.draining.store(true, Ordering::Release);
    }

    /// Whether [`start_draining`](Self::start_draining) was called.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire)
    }

    /// Tells the registry that startup is complete (see [`HealthRegistryBuilder::require_startup`]).
    pub fn mark_started(&self) {
        self.inner.started.store(true, Ordering::Release);
    }

    /// Whether the registry counts the application as started.
    pub fn is_started(&self) -> bool {
        self.inner.started.load(Ordering::Acquire)
    }

    /// Runs every check now, whatever the cache holds, and caches the results. A check whose
    /// run is already in progress is not started again: its run's result is the fresh one.
    pub async fn refresh(&self) {
        let slots = &self.inner.slots;
        join_all(slots.iter().map(|slot| slot.observe(Duration::ZERO))).await;
    }

    /// Refreshes every check every `every` on a background task, so probes read a warm cache
    /// and never wait for a dependency (keep `every` at or below the cache TTL). The task ends
    /// when the last clone of the registry is dropped, or when the returned handle is aborted.
    /// Call it from within a tokio runtime.
    pub fn spawn_background_refresh(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let registry = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = registry.upgrade() else {
                    return;
                };
                HealthRegistry { inner }.refresh().await;
            }
        })
    }

    /// The settings in force.
    pub fn config(&self) -> &HealthConfig {
        &self.inner.config
    }

    /// Why the lifecycle alone fails readiness (draining, or not started yet), if it does.
    fn lifecycle_failure(&self) -> Option<&'static str> {
        if self.is_draining() {
            Some(DRAINING_OUTPUT)
        } else if !self.is_started() {
            Some(STARTING_OUTPUT)
        } else {
            None
        }
    }

    async fn run(&self, include: impl Fn(&Slot) -> bool) -> HealthReport {
        let selected: Vec<&Arc<Slot>> = self.inner.slots.iter().filter(|s| include(s)).collect();
        let ttl = self.inner.config.cache_ttl;
        let results = join_all(selected.iter().map(|slot| slot.observe(ttl))).await;

        let mut status = aggregate(
            selected
                .iter()
                .zip(&results)
                .map(|(slot, result)| (slot.check.criticality, result.status)),
        );
        let output = self.lifecycle_failure();
        if output.is_some() {
            status = Status::Fail;
        }

        let mut checks: BTreeMap<String, Vec<CheckResult>> = BTreeMap::new();
        for (slot, result) in selected.iter().zip(results) {
            checks.entry(slot.key.clone()).or_default().push(result);
        }
        self.report_with(status, output, checks)
    }

    fn report_with(
        &self,
        status: Status,
        output: Option<&str>,
        checks: BTreeMap<String, Vec<CheckResult>>,
    ) -> HealthReport {
        let id = &self.inner.identity;
        HealthReport {
            status,
            version: id.version.clone(),
            release_id: id.release_id.clone(),
            service_id: id.service_id.clone(),
            description: id.description.clone(),
            output: output.map(str::to_owned),
            checks,
        }
    }
}
