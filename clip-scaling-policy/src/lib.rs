//! # clip-scaling-policy
//!
//! A pure, explainable scaling-decision engine (no async, no I/O, no clock) and a trace simulator.
//!
//! Not built yet: this crate is a placeholder of the workspace layout (see the crate README).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
