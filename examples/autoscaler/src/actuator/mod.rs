//! Actuators: what observes the fleet and changes its size. One trait, four implementations,
//! chosen by `AUTOSCALER_ACTUATOR`:
//!
//! - [`local`]: processes on this machine behind nginx, through `scripts/fleet/instance.sh`;
//! - [`compose`]: `docker compose ... up -d --scale app=N --no-recreate`;
//! - [`kubernetes`]: the Deployment's `scale` subresource (refuses to fight an HPA);
//! - [`dry_run`]: decides and logs, changes nothing.
//!
//! Every actuator is declarative: [`Actuator::scale_to`] says how many instances the fleet
//! should have and returns once the change is under way; [`Actuator::observe`] reports what
//! exists now, instance by instance, so the loop scrapes the right addresses and counts ready
//! and starting instances from what is, not from what it asked for.

pub mod compose;
pub mod dry_run;
pub mod kubernetes;
pub mod local;
mod targets;

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use serde::Serialize;

pub use targets::Targets;

use crate::Error;

/// A boxed future, so that actuators can live behind `dyn Actuator`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where an instance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Started, not ready yet: not scraped, not counted as capacity.
    Starting,
    /// Ready and receiving traffic: scraped, counted.
    Ready,
    /// Taken out of rotation, finishing its requests, about to stop.
    Draining,
    /// Its process is gone but it is still listed (the actuator cleans it up).
    Dead,
    /// The actuator cannot tell: the loop asks the instance's readiness URL.
    Unknown,
}

/// One instance as the actuator sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instance {
    /// A name that stays the same across ticks (port, pod name, address).
    pub id: String,
    /// Its Prometheus `/metrics` URL.
    pub metrics_url: String,
    /// Its readiness URL (asked when the phase is [`Phase::Unknown`]).
    pub readiness_url: String,
    /// Its phase.
    pub phase: Phase,
}

/// The fleet as observed at the start of a tick.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FleetView {
    /// Every instance the actuator knows of.
    pub instances: Vec<Instance>,
    /// Instances being created that have no address yet (counted as starting).
    pub pending: u32,
}

impl FleetView {
    /// Instances in `phase`.
    pub fn count(&self, phase: Phase) -> u32 {
        let n = self.instances.iter().filter(|i| i.phase == phase).count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Instances starting, those without an address included.
    pub fn starting(&self) -> u32 {
        self.count(Phase::Starting).saturating_add(self.pending)
    }

    /// The fleet's size for the policy: ready and starting (draining and dead ones are leaving).
    pub fn current(&self) -> u32 {
        self.count(Phase::Ready).saturating_add(self.starting())
    }
}

/// What an actuator is doing, for `/status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ActuatorStatus {
    /// `local`, `docker-compose`, `kubernetes` or `dry-run`.
    pub kind: &'static str,
    /// The instance count it was last asked for.
    pub desired: Option<u32>,
    /// Operations under way (`starting 4004`, `stopping 4005`, ...).
    pub operations: Vec<String>,
    /// The last change it made, with when.
    pub last_action: Option<String>,
    /// The last failure, with when; cleared by the next success.
    pub last_error: Option<String>,
    /// What it drives (`fleet /tmp/fleet, scripts ...`, `deployment creator-clip-ai/clip-app`).
    pub detail: String,
}

/// Observes and resizes a fleet.
pub trait Actuator: Send + Sync {
    /// Its configuration name.
    fn kind(&self) -> &'static str;

    /// Checks, before this autoscaler starts leading, that it may drive the fleet (the
    /// kubernetes actuator refuses when an HPA owns the Deployment).
    fn check(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }

    /// What exists now. May also move the fleet on towards the last target (the local
    /// actuator replaces dead instances and finishes a resize).
    fn observe(&self) -> BoxFuture<'_, Result<FleetView, Error>>;

    /// Asks for `target` instances; returns once the change is under way. Asking again for the
    /// same target is a no-op.
    fn scale_to(&self, target: u32) -> BoxFuture<'_, Result<(), Error>>;

    /// What it is doing.
    fn status(&self) -> ActuatorStatus;
}

/// The bookkeeping every actuator shares: desired count, last action, last error.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    status: Mutex<ActuatorStatus>,
}

impl Journal {
    pub(crate) fn new(kind: &'static str, detail: String) -> Self {
        Self {
            status: Mutex::new(ActuatorStatus {
                kind,
                detail,
                ..ActuatorStatus::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActuatorStatus> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn desired(&self) -> Option<u32> {
        self.lock().desired
    }

    pub(crate) fn set_desired(&self, target: u32) {
        self.lock().desired = Some(target);
    }

    pub(crate) fn action(&self, what: impl Into<String>) {
        let what = what.into();
        tracing::info!(target: "clip_autoscaler::actuator", "{what}");
        let mut s = self.lock();
        s.last_action = Some(format!("{} {what}", crate::time::rfc3339_now()));
        s.last_error = None;
    }

    pub(crate) fn error(&self, what: impl Into<String>) {
        let what = what.into();
        tracing::warn!(target: "clip_autoscaler::actuator", "{what}");
        metrics::counter!(crate::telemetry::ACTUATION_ERRORS).increment(1);
        self.lock().last_error = Some(format!("{} {what}", crate::time::rfc3339_now()));
    }

    pub(crate) fn snapshot(&self, operations: Vec<String>) -> ActuatorStatus {
        let mut s = self.lock().clone();
        s.operations = operations;
        s
    }
}
