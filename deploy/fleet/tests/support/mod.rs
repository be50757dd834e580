//! Shared by the fleet's end-to-end tests.
#![allow(dead_code)] // each test binary uses a part of it

pub mod binaries;
pub mod fleet;
