//! Shared helpers for the host test suites.

pub mod fabric;
pub mod iser_script;
pub mod ram_target;
