//! # clip-pool
//!
//! A generic pooled executor over bb8 with live stats, graceful degradation when the database fails, and read replicas; PostgreSQL first.
//!
//! Not built yet: this crate is a placeholder of the workspace layout (see the crate README).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
