//! An operator's emergency override: a target that wins over every rule until it expires.

use std::sync::Arc;
use std::time::SystemTime;

/// An emergency manual override: it dominates every rule until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Override {
    /// The instance count to hold (not clamped to the configured bounds: it is an emergency).
    pub target: u32,
    /// Why, for the decision's message and the event history.
    pub reason: Arc<str>,
    /// When the override stops applying.
    pub expires_at: SystemTime,
}
