//! `dry-run`: observes the configured instances, decides, logs what it would do, changes
//! nothing. Try a policy against a real fleet before letting it act.

use super::{Actuator, ActuatorStatus, BoxFuture, FleetView, Journal, Targets};
use crate::Error;

/// Changes nothing.
#[derive(Debug)]
pub struct DryRun {
    targets: Targets,
    journal: Journal,
}

impl DryRun {
    /// Observes `targets`.
    pub fn new(targets: Targets) -> Self {
        Self {
            targets,
            journal: Journal::new(
                "dry-run",
                "changes nothing; observes AUTOSCALER_TARGETS".into(),
            ),
        }
    }
}

impl Actuator for DryRun {
    fn kind(&self) -> &'static str {
        "dry-run"
    }

    fn observe(&self) -> BoxFuture<'_, Result<FleetView, Error>> {
        Box::pin(async move {
            Ok(FleetView {
                instances: self.targets.resolve().await,
                pending: 0,
            })
        })
    }

    fn scale_to(&self, target: u32) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            if self.journal.desired() != Some(target) {
                self.journal.set_desired(target);
                self.journal.action(format!(
                    "would scale to {target} (dry run: nothing changed)"
                ));
            }
            Ok(())
        })
    }

    fn status(&self) -> ActuatorStatus {
        self.journal.snapshot(Vec::new())
    }
}
