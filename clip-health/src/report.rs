//! The health report and its `application/health+json` form (IETF draft-inadarei-api-health-check).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Status;

/// The media type of a serialised [`HealthReport`].
pub const HEALTH_JSON: &str = "application/health+json";

/// A service's health: the overall status, the service's identity and, per check, what was seen.
///
/// Serialises with serde to the draft's structure (camelCase fields, absent fields omitted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// The overall status.
    pub status: Status,
    /// Public version of the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Release of the implementation (e.g. a build or commit id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_id: Option<String>,
    /// Unique identifier of the service instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// What the service is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Why the status is not `pass`, when the reason is the service's own state
    /// (draining, not started yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Check results keyed `component:measurement`; each key holds an array, as the draft says.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, Vec<CheckResult>>,
}

/// What one check saw at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    /// The kind of component, e.g. `datastore`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_type: Option<String>,
    /// The measured value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_value: Option<Value>,
    /// The unit of the measured value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_unit: Option<String>,
    /// The check's status (after flap tolerance).
    pub status: Status,
    /// When the value was observed (RFC 3339, UTC): with caching, this can be up to the cache TTL ago.
    pub time: String,
    /// Why the status is not `pass`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

impl HealthReport {
    /// The HTTP status code to serve this report with: 503 on `fail`, else 200.
    pub fn http_status(&self) -> u16 {
        self.status.http_status()
    }

    /// The same report reduced to its status, for callers not allowed to see details.
    pub fn status_only(&self) -> HealthReport {
        HealthReport {
            status: self.status,
            version: None,
            release_id: None,
            service_id: None,
            description: None,
            output: None,
            checks: BTreeMap::new(),
        }
    }

    /// The report as `application/health+json` text.
    pub fn to_json(&self) -> String {
        // Serialising plain strings, numbers and maps with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| format!(r#"{{"status":"{}"}}"#, self.status))
    }
}
