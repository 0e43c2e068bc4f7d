//! Shared helpers for the host test suites.

pub mod fabric;
pub mod iser_script;
pub mod iserd;
pub mod ram_target;
