//! Shared helpers for the host test suites.

pub mod fabric;
pub mod ram_target;
