//! What a check closure returns: a status with an optional observed value, unit and message.

use serde_json::Value;

use crate::Status;

/// The result of one run of a check, as the check's own closure reports it.
///
/// Build one with [`CheckOutcome::pass`], [`CheckOutcome::warn`] or [`CheckOutcome::fail`],
/// optionally with [`CheckOutcome::observed`]. A closure may also return
/// `Result<(), E>` or `Result<CheckOutcome, E>` (any `E: Display`): `Err` becomes `fail`
/// with the error's message, so `pool.execute(..).await.map(|_| ())` is a complete check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOutcome {
    /// Pass, warn or fail.
    pub status: Status,
    /// The measured value (draft field `observedValue`), if the check measures something.
    pub observed_value: Option<Value>,
    /// The unit of `observed_value` (draft field `observedUnit`), e.g. `"ms"` or `"percent"`.
    pub observed_unit: Option<String>,
    /// A human-readable explanation (draft field `output`), usually set on warn and fail.
    pub output: Option<String>,
}

impl CheckOutcome {
    /// A passing outcome with no value and no message.
    pub fn pass() -> Self {
        Self::new(Status::Pass, None)
    }

    /// A warning with its explanation.
    pub fn warn(output: impl Into<String>) -> Self {
        Self::new(Status::Warn, Some(output.into()))
    }

    /// A failure with its explanation.
    pub fn fail(output: impl Into<String>) -> Self {
        Self::new(Status::Fail, Some(output.into()))
    }

    fn new(status: Status, output: Option<String>) -> Self {
        Self {
            status,
            observed_value: None,
            observed_unit: None,
            output,
        }
    }

    /// Attaches the measured value and its unit, e.g. `.observed(0.82, "ratio")`.
    pub fn observed(mut self, value: impl Into<Value>, unit: impl Into<String>) -> Self {
        self.observed_value = Some(value.into());
        self.observed_unit = Some(unit.into());
        self
    }
}

impl<E: std::fmt::Display> From<Result<(), E>> for CheckOutcome {
    fn from(result: Result<(), E>) -> Self {
        match result {
            Ok(()) => CheckOutcome::pass(),
            Err(e) => CheckOutcome::fail(e.to_string()),
        }
    }
}

impl<E: std::fmt::Display> From<Result<CheckOutcome, E>> for CheckOutcome {
    fn from(result: Result<CheckOutcome, E>) -> Self {
        result.unwrap_or_else(|e| CheckOutcome::fail(e.to_string()))
    }
}

impl From<Status> for CheckOutcome {
    fn from(status: Status) -> Self {
        CheckOutcome::new(status, None)
    }
}
