//! The loop: wait to lead, then every interval observe the fleet, scrape the ready instances,
//! aggregate, decide, apply, remember. Also what `/status` and `/override` read and change.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use clip_scaling_policy::{Action, ScalingPolicy};
use futures_util::future::join_all;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::Notify;

use crate::actuator::compose::Compose;
use crate::actuator::dry_run::DryRun;
use crate::actuator::kubernetes::Kubernetes;
use crate::actuator::local::Local;
use crate::actuator::{Actuator, FleetView, Phase};
use crate::aggregate::{Aggregator, FleetMetrics};
use crate::config::{ActuatorConfig, AutoscalerConfig};
use crate::leader::Held;
use crate::persist::{Persisted, StateFile};
use crate::record::{DecisionRecord, EventRecord, action_name};
use crate::scrape::{Readiness, Scraper};
use crate::status::{
    CooldownReport, CooldownsReport, InstanceReport, InstancesReport, MetricsReport,
    OverrideReport, PolicyReport, StatusReport, TickReport,
};
use crate::telemetry as m;
use crate::time::seconds_until;
use crate::{Error, decide};

/// How often a passive autoscaler tries the lock.
const PASSIVE_RETRY: Duration = Duration::from_secs(1);

/// The autoscaler. Cheap to clone: clones share everything.
#[derive(Clone)]
pub struct Autoscaler {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Autoscaler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Autoscaler")
            .field("actuator", &self.shared.actuator.kind())
            .finish_non_exhaustive()
    }
}

struct Shared {
    config: AutoscalerConfig,
    policy: ScalingPolicy,
    actuator: Arc<dyn Actuator>,
    scraper: Scraper,
    state_file: StateFile,
    /// The generation last written: a snapshot older than it is never written over it.
    saved: Mutex<u64>,
    core: Mutex<Core>,
    wake: Notify,
    started_at: SystemTime,
    metrics: Option<PrometheusHandle>,
}

/// What changes from tick to tick.
struct Core {
    leader: bool,
    persisted: Persisted,
    aggregator: Aggregator,
    view: FleetView,
    fleet: FleetMetrics,
    ticks: u64,
    last_tick: Option<TickReport>,
    /// Bumped by every change to `persisted`, so saves happen in order.
    generation: u64,
}

/// Why an override was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverrideRefusal {
    /// This autoscaler does not lead: send it to the leader.
    Passive,
    /// The request is not acceptable; the text says why.
    Invalid(String),
    /// It could not be saved, so it would not survive a restart.
    NotSaved(String),
}

impl Autoscaler {
    /// Builds the autoscaler and the actuator its configuration names.
    pub async fn build(config: AutoscalerConfig) -> Result<Self, Error> {
        let actuator: Arc<dyn Actuator> = match &config.actuator {
            ActuatorConfig::Local(c) => Arc::new(Local::new(c.clone())?),
            ActuatorConfig::Compose(c, targets) => {
                Arc::new(Compose::new(c.clone(), targets.clone()))
            }
            ActuatorConfig::Kubernetes(c) => Arc::new(Kubernetes::connect(c.clone()).await?),
            ActuatorConfig::DryRun(targets) => Arc::new(DryRun::new(targets.clone())),
        };
        Self::with_actuator(config, actuator)
    }

    /// Builds the autoscaler around `actuator` (the configured one is ignored).
    pub fn with_actuator(
        config: AutoscalerConfig,
        actuator: Arc<dyn Actuator>,
    ) -> Result<Self, Error> {
        let policy = ScalingPolicy::new(config.scaling.clone())?;
        let state_file = StateFile::new(config.state_file.clone());
        let metrics = m::install();
        metrics::gauge!(m::MIN_INSTANCES).set(f64::from(config.scaling.min_instances));
        metrics::gauge!(m::MAX_INSTANCES).set(f64::from(config.scaling.max_instances));
        metrics::gauge!(m::LEADER).set(0.0);
        let initial = Persisted::new(config.scaling.min_instances);
        Ok(Self {
            shared: Arc::new(Shared {
                scraper: Scraper::new(config.scrape_timeout),
                policy,
                actuator,
                state_file,
                core: Mutex::new(Core {
                    leader: false,
                    persisted: initial,
                    aggregator: Aggregator::new(),
                    view: FleetView::default(),
                    fleet: FleetMetrics::default(),
                    ticks: 0,
                    last_tick: None,
                    generation: 0,
                }),
                saved: Mutex::new(0),
                wake: Notify::new(),
                started_at: SystemTime::now(),
                metrics,
                config,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AutoscalerConfig {
        &self.shared.config
    }

    /// The Prometheus text of `/metrics`, if this process's recorder is ours.
    pub fn render_metrics(&self) -> Option<String> {
        self.shared.metrics.as_ref().map(PrometheusHandle::render)
    }

    fn core(&self) -> MutexGuard<'_, Core> {
        self.shared.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs until `shutdown` completes: passive until it holds the leader lock, then ticking.
    /// Returns an error only when leading is impossible (the kubernetes actuator found an HPA
    /// on its Deployment).
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        tokio::pin!(shutdown);
        let mut lock_error_logged = false;
        loop {
            let held: Held = loop {
                match self.shared.config.lock.try_acquire().await {
                    Ok(Some(held)) => break held,
                    Ok(None) => lock_error_logged = false,
                    Err(e) if !lock_error_logged => {
                        tracing::warn!("{e}; staying passive and trying again every second");
                        lock_error_logged = true;
                    }
                    Err(_) => {}
                }
                self.follow_leader();
                tokio::select! {
                    () = &mut shutdown => return Ok(()),
                    () = tokio::time::sleep(PASSIVE_RETRY) => {}
                }
            };
            self.lead().await?;
            let mut ticker = tokio::time::interval(self.shared.config.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = &mut shutdown => {
                        self.save();
                        return Ok(());
                    }
                    _ = ticker.tick() => {}
                    () = self.shared.wake.notified() => {}
                }
                self.tick().await;
                if !held.still_held().await {
                    tracing::error!(
                        "lost the leader lock ({}); passive until it is free again",
                        self.shared.config.lock.describe()
                    );
                    self.core().leader = false;
                    metrics::gauge!(m::LEADER).set(0.0);
                    break;
                }
            }
        }
    }

    /// Becomes the leader: reloads the persisted state (cooldowns, override, events), checks the
    /// actuator may act.
    async fn lead(&self) -> Result<(), Error> {
        let loaded = match self.shared.state_file.load() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("{e}; starting with a fresh state");
                None
            }
        };
        if let Err(e) = self.shared.actuator.check().await {
            tracing::error!("{e}");
            return Err(e);
        }
        let mut core = self.core();
        if let Some(p) = loaded {
            tracing::info!(
                "state loaded from {} (saved {}): {} events, override {}",
                self.shared.state_file.path().display(),
                crate::time::rfc3339(p.saved_at),
                p.events.len(),
                if p.scaling.active_override(SystemTime::now()).is_some() {
                    "in force"
                } else {
                    "none"
                },
            );
            core.persisted = p;
        }
        core.leader = true;
        core.aggregator = Aggregator::new();
        metrics::gauge!(m::LEADER).set(1.0);
        tracing::info!(
            "leading the fleet ({}), actuator {}, every {:?}",
            self.shared.config.lock.describe(),
            self.shared.actuator.kind(),
            self.shared.config.interval
        );
        Ok(())
    }

    /// While passive: show what the leader last saved.
    fn follow_leader(&self) {
        if let Some(p) = self.shared.state_file.peek() {
            self.core().persisted = p;
        }
    }

    /// One tick: observe, scrape, aggregate, decide, apply, remember.
    pub async fn tick(&self) {
        let started = Instant::now();
        let now = SystemTime::now();
        let outcome = self.tick_at(now).await;
        let elapsed = started.elapsed();
        metrics::histogram!(m::TICK_DURATION).record(elapsed.as_secs_f64());
        if let Err(e) = &outcome {
            tracing::warn!("tick: {e}");
        }
        let mut core = self.core();
        core.ticks += 1;
        core.last_tick = Some(TickReport {
            at: now,
            duration_ms: elapsed.as_secs_f64() * 1000.0,
            error: outcome.err().map(|e| e.to_string()),
        });
    }

    async fn tick_at(&self, now: SystemTime) -> Result<(), Error> {
        let s = &self.shared;
        let mut view = s.actuator.observe().await?;
        self.resolve_readiness(&mut view).await;

        let ready: Vec<(String, String)> = view
            .instances
            .iter()
            .filter(|i| i.phase == Phase::Ready)
            .map(|i| (i.id.clone(), i.metrics_url.clone()))
            .collect();
        let urls: Vec<String> = ready.iter().map(|(_, u)| u.clone()).collect();
        let results = s.scraper.scrape_all(&urls).await;
        metrics::counter!(m::SCRAPES).increment(results.len() as u64);
        for failure in results.iter().filter_map(|r| r.as_ref().err()) {
            metrics::counter!(m::SCRAPE_ERRORS, "reason" => failure.reason).increment(1);
            tracing::debug!("{}", failure.message);
        }

        let (decision, note) = {
            let mut core = self.core();
            let scrapes = ready
                .iter()
                .zip(results)
                .map(|((id, _), r)| (id.as_str(), r.map_err(|f| f.message)));
            let fleet = core.aggregator.update(Instant::now(), scrapes);
            let state = &mut core.persisted.scaling;
            state.set_current(view.current());
            state.set_ready(Some(view.count(Phase::Ready)));
            let (d, note) = decide::decide(&s.policy, state, &fleet, now);
            publish_fleet(&fleet, &view);
            core.fleet = fleet;
            core.view = view;
            (d, note)
        };

        // A hold leaves the fleet as it is. It is not "set the fleet to what is observed":
        // instances asked for a moment ago may not be visible yet (a Compose container before
        // Docker's DNS lists it), and a hold must not undo the scale-up that created them.
        let applied = if decision.action == Action::Hold {
            Ok(())
        } else {
            s.actuator.scale_to(decision.target).await
        };

        let snapshot = {
            let mut core = self.core();
            let mut record = DecisionRecord::new(&decision, now);
            record.note = note;
            match &applied {
                Ok(()) => {
                    core.persisted.scaling.record(&decision, now);
                    if decision.action != Action::Hold {
                        tracing::info!("{decision}");
                        let kept = s.config.events_kept;
                        push_bounded(
                            &mut core.persisted.events,
                            EventRecord::new(&decision, now),
                            kept,
                        );
                    }
                }
                Err(e) => {
                    record.applied = false;
                    let why = format!("not applied: {e}");
                    record.note = Some(match record.note.take() {
                        Some(n) => format!("{n}; {why}"),
                        None => why,
                    });
                    if decision.action == Action::Hold {
                        core.persisted.scaling.record(&decision, now);
                    }
                }
            }
            metrics::counter!(m::DECISIONS, "action" => action_name(decision.action)).increment(1);
            metrics::gauge!(m::INSTANCES, "state" => "target").set(f64::from(decision.target));
            metrics::gauge!(m::OVERRIDE_ACTIVE).set(
                if core.persisted.scaling.active_override(now).is_some() {
                    1.0
                } else {
                    0.0
                },
            );
            core.persisted.last_decision = Some(record);
            core.persisted.saved_at = now;
            core.generation += 1;
            (core.generation, core.persisted.clone())
        };
        let me = self.clone();
        match tokio::task::spawn_blocking(move || me.write(snapshot)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("{e}: a restart would lose the last decisions"),
            Err(e) => tracing::error!("saving the state: {e}"),
        }
        applied
    }

    /// Asks the readiness URL of each instance whose phase the actuator cannot tell. One that
    /// does not answer at all stays counted as ready: its scrape then fails, its metrics are
    /// missing, and no scale-down follows from its silence.
    async fn resolve_readiness(&self, view: &mut FleetView) {
        let unknown: Vec<usize> = (0..view.instances.len())
            .filter(|&i| view.instances[i].phase == Phase::Unknown)
            .collect();
        let answers = join_all(unknown.iter().map(|&i| {
            self.shared
                .scraper
                .readiness(&view.instances[i].readiness_url)
        }))
        .await;
        for (i, answer) in unknown.into_iter().zip(answers) {
            view.instances[i].phase = match answer {
                Readiness::Ready | Readiness::Silent => Phase::Ready,
                Readiness::NotReady => Phase::Starting,
            };
        }
    }

    /// Writes a snapshot unless a newer one was written already (a tick's snapshot must not
    /// overwrite an override saved after it was taken).
    fn write(&self, (generation, snapshot): (u64, Persisted)) -> Result<(), Error> {
        let mut saved = self.shared.saved.lock().unwrap_or_else(|p| p.into_inner());
        if generation <= *saved {
            return Ok(());
        }
        self.shared.state_file.save(&snapshot)?;
        *saved = generation;
        Ok(())
    }

    fn snapshot(&self) -> (u64, Persisted) {
        let mut core = self.core();
        core.generation += 1;
        (core.generation, core.persisted.clone())
    }

    fn save(&self) {
        if let Err(e) = self.write(self.snapshot()) {
            tracing::error!("{e}");
        }
    }

    /// Puts an emergency override in force: `target` instances for `duration`, whatever the
    /// metrics say. Saved before it returns, so a restart keeps it; the next tick applies it.
    pub fn set_override(
        &self,
        target: u32,
        reason: &str,
        duration: Duration,
    ) -> Result<OverrideReport, OverrideRefusal> {
        let reason = reason.trim();
        if target == 0 || target > 1000 {
            return Err(OverrideRefusal::Invalid(format!(
                "target must be from 1 to 1000 instances, got {target}"
            )));
        }
        if reason.is_empty() || reason.len() > 500 {
            return Err(OverrideRefusal::Invalid(
                "reason must say why, in at most 500 bytes".into(),
            ));
        }
        let max = self.shared.config.override_max;
        if duration.is_zero() || duration > max {
            return Err(OverrideRefusal::Invalid(format!(
                "expires_in_seconds must be above 0 and at most {} (AUTOSCALER_OVERRIDE_MAX)",
                max.as_secs()
            )));
        }
        let now = SystemTime::now();
        let expires_at = now.checked_add(duration).ok_or_else(|| {
            OverrideRefusal::Invalid(
                "expires_in_seconds lies beyond what the clock can hold".into(),
            )
        })?;
        self.change_override(|state| state.set_override(target, reason, expires_at))?;
        tracing::warn!(
            "override: {target} instances until {} ({reason})",
            crate::time::rfc3339(expires_at)
        );
        Ok(OverrideReport {
            target,
            reason: reason.to_owned(),
            expires_at,
            remaining_seconds: duration.as_secs_f64(),
        })
    }

    /// Lifts the override.
    pub fn clear_override(&self) -> Result<(), OverrideRefusal> {
        self.change_override(|state| state.clear_override())?;
        tracing::warn!("override cleared");
        Ok(())
    }

    fn change_override(
        &self,
        change: impl FnOnce(&mut clip_scaling_policy::ScalingState),
    ) -> Result<(), OverrideRefusal> {
        let snapshot = {
            let mut core = self.core();
            if !core.leader {
                return Err(OverrideRefusal::Passive);
            }
            change(&mut core.persisted.scaling);
            core.persisted.saved_at = SystemTime::now();
            core.generation += 1;
            (core.generation, core.persisted.clone())
        };
        self.write(snapshot)
            .map_err(|e| OverrideRefusal::NotSaved(e.to_string()))?;
        self.shared.wake.notify_one();
        Ok(())
    }

    /// What `GET /status` shows.
    pub fn status(&self) -> StatusReport {
        let now = SystemTime::now();
        let s = &self.shared;
        let c = &s.config.scaling;
        let actuator = s.actuator.status();
        let core = self.core();
        let state = &core.persisted.scaling;
        let cooldown = |length: Duration, since: Option<SystemTime>| CooldownReport {
            seconds: length.as_secs_f64(),
            remaining_seconds: since
                .and_then(|t| t.checked_add(length))
                .map_or(0.0, |end| seconds_until(end, now)),
            since,
        };
        let list = core
            .view
            .instances
            .iter()
            .map(|i| {
                let measured = core.fleet.instances.iter().find(|m| m.id == i.id);
                let scrape = match measured {
                    Some(m) if m.error.is_some() => "missing",
                    Some(_) => "ok",
                    None => "not_scraped",
                };
                InstanceReport {
                    id: i.id.clone(),
                    url: i.metrics_url.clone(),
                    state: i.phase,
                    scrape,
                    error: measured.and_then(|m| m.error.clone()),
                    cpu_percent: measured.and_then(|m| m.cpu_percent),
                    memory_percent: measured.and_then(|m| m.memory_percent),
                    request_rate: measured.and_then(|m| m.request_rate),
                }
            })
            .collect();
        let fm = &core.fleet.metrics;
        StatusReport {
            role: if core.leader { "leader" } else { "passive" },
            leader_lock: s.config.lock.describe(),
            started_at: s.started_at,
            interval_seconds: s.config.interval.as_secs_f64(),
            ticks: core.ticks,
            last_tick: core.last_tick.clone(),
            instances: InstancesReport {
                current: core.view.current(),
                ready: core.view.count(Phase::Ready),
                starting: core.view.starting(),
                draining: core.view.count(Phase::Draining),
                target: core.persisted.last_decision.as_ref().map(|d| d.target),
                min: c.min_instances,
                max: c.max_instances,
                list,
            },
            metrics: MetricsReport {
                cpu_percent: fm.cpu_percent,
                memory_percent: fm.memory_percent,
                request_rate: fm.request_rate,
                queue_length: fm.queue_length,
                p95_ms: fm.p95_response_time.map(|d| d.as_secs_f64() * 1000.0),
                requests_in_window: core.fleet.requests_in_window,
                scraped: u32::try_from(
                    core.fleet
                        .instances
                        .iter()
                        .filter(|i| i.error.is_none())
                        .count(),
                )
                .unwrap_or(u32::MAX),
                missing: core.fleet.missing.clone(),
            },
            last_decision: core.persisted.last_decision.clone(),
            cooldowns: CooldownsReport {
                scale_up: cooldown(c.scale_up_cooldown, state.last_scale_up()),
                scale_down: cooldown(c.scale_down_cooldown, state.last_event()),
            },
            manual_override: state.active_override(now).map(|o| OverrideReport {
                target: o.target,
                reason: o.reason.to_string(),
                expires_at: o.expires_at,
                remaining_seconds: seconds_until(o.expires_at, now),
            }),
            events: core.persisted.events.iter().rev().cloned().collect(),
            actuator,
            policy: PolicyReport::new(c),
        }
    }

    /// Whether this autoscaler leads its fleet now.
    pub fn is_leader(&self) -> bool {
        self.core().leader
    }
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T, capacity: usize) {
    while queue.len() >= capacity.max(1) {
        queue.pop_front();
    }
    queue.push_back(item);
}

/// The gauges of one tick's observation.
fn publish_fleet(fleet: &FleetMetrics, view: &FleetView) {
    let set = |name: &'static str, v: Option<f64>| metrics::gauge!(name).set(v.unwrap_or(f64::NAN));
    let fm = &fleet.metrics;
    set(m::FLEET_CPU, fm.cpu_percent);
    set(m::FLEET_MEMORY, fm.memory_percent);
    set(m::FLEET_REQUEST_RATE, fm.request_rate);
    set(m::FLEET_QUEUE, fm.queue_length);
    set(m::FLEET_P95, fm.p95_response_time.map(|d| d.as_secs_f64()));
    for (state, n) in [
        ("current", view.current()),
        ("ready", view.count(Phase::Ready)),
        ("starting", view.starting()),
        ("draining", view.count(Phase::Draining)),
    ] {
        metrics::gauge!(m::INSTANCES, "state" => state).set(f64::from(n));
    }
}
