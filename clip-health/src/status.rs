//! Check status, criticality, and the rule that folds many check results into one status.

use serde::{Deserialize, Serialize};

/// The status of a check or of a whole report, as the IETF health-check draft spells it.
///
/// Serialises as `"pass"`, `"warn"` or `"fail"`; deserialises those case-insensitively along
/// with the draft's aliases (`ok`, `up` for pass; `error`, `down` for fail), so reports of
/// other implementations (Spring Boot's `UP`, Terminus' `ok`) parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Healthy.
    Pass,
    /// Healthy, with a concern worth a look (still serves traffic: HTTP 200).
    Warn,
    /// Unhealthy (HTTP 503).
    Fail,
}

impl Status {
    /// The HTTP status code a report with this status is served with: 503 for `Fail`, else 200.
    pub fn http_status(self) -> u16 {
        match self {
            Status::Fail => 503,
            Status::Pass | Status::Warn => 200,
        }
    }

    /// The draft's spelling: `"pass"`, `"warn"` or `"fail"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        match text.to_ascii_lowercase().as_str() {
            "pass" | "ok" | "up" => Ok(Status::Pass),
            "warn" => Ok(Status::Warn),
            "fail" | "error" | "down" => Ok(Status::Fail),
            _ => Err(serde::de::Error::custom(format_args!(
                "unknown health status {text:?}: expected pass/ok/up, warn, or fail/error/down"
            ))),
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much a failing check matters to the service as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Criticality {
    /// The service cannot do its job without it: its failure fails the report (HTTP 503)
    /// and readiness, so the load balancer stops sending traffic (unless the check is marked
    /// [`affects_readiness(false)`](crate::Check::affects_readiness)).
    Critical,
    /// The service degrades without it: its failure only makes the report `warn`.
    NonCritical,
}

/// Folds check results into one status: any critical `Fail` gives `Fail`; otherwise any
/// `Warn` or non-critical `Fail` gives `Warn`; otherwise (including no checks at all) `Pass`.
///
/// ```
/// use clip_health::{aggregate, Criticality::*, Status::*};
/// assert_eq!(aggregate([(Critical, Pass), (NonCritical, Fail)]), Warn);
/// assert_eq!(aggregate([(Critical, Fail), (NonCritical, Pass)]), Fail);
/// ```
pub fn aggregate<I>(results: I) -> Status
where
    I: IntoIterator<Item = (Criticality, Status)>,
{
    let mut status = Status::Pass;
    for (criticality, result) in results {
        match (criticality, result) {
            (Criticality::Critical, Status::Fail) => return Status::Fail,
            (_, Status::Warn) | (Criticality::NonCritical, Status::Fail) => status = Status::Warn,
            (_, Status::Pass) => {}
        }
    }
    status
}
