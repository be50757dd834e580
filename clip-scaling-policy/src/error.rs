//! The crate's one error type: what failed in the configuration and how to fix it.

/// Why a [`ScalingConfig`](crate::ScalingConfig) or a trace was refused.
///
/// Every variant names the environment variable (or trace line) at fault, so the message
/// alone tells an operator what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ScalingError {
    /// A variable is set but its value does not parse.
    #[error("{variable}={value:?} is not valid: expected {expected}; fix or unset it")]
    InvalidVariable {
        /// The variable name, as read (with its `VITE_` prefix if that is what was set).
        variable: String,
        /// The raw value found.
        value: String,
        /// What a valid value looks like.
        expected: &'static str,
    },
    /// A down threshold is at or above its up threshold: no hysteresis band, the fleet would flap.
    #[error(
        "{down_variable}={down} is not below {up_variable}={up}: the scale-down threshold must be \
         lower than the scale-up threshold (an empty band makes the fleet flap); lower {down_variable}"
    )]
    EmptyHysteresisBand {
        /// The variable holding the up threshold.
        up_variable: &'static str,
        /// The up threshold.
        up: f64,
        /// The variable holding the down threshold.
        down_variable: &'static str,
        /// The down threshold.
        down: f64,
    },
    /// A value is outside the range the policy can work with.
    #[error("{variable}={value} is out of range: {expected}")]
    OutOfRange {
        /// The variable name.
        variable: &'static str,
        /// The offending value, rendered.
        value: String,
        /// The accepted range, in words.
        expected: &'static str,
    },
    /// `MIN_INSTANCES` is above `MAX_INSTANCES`.
    #[error(
        "MIN_INSTANCES={min} is above MAX_INSTANCES={max}: raise MAX_INSTANCES or lower MIN_INSTANCES"
    )]
    MinAboveMax {
        /// The minimum instance count.
        min: u32,
        /// The maximum instance count.
        max: u32,
    },
    /// A trace (CSV) line could not be read.
    #[error(
        "trace line {line}: {problem}; expected `seconds,request_rate,queue_arrivals` with numbers >= 0 and increasing seconds"
    )]
    InvalidTrace {
        /// 1-based line number in the CSV.
        line: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// A trace (CSV) holds no data line at all (empty, or only a header and comments).
    #[error(
        "the trace has no data lines; expected lines of `seconds,request_rate,queue_arrivals` after an optional header"
    )]
    EmptyTrace,
}
