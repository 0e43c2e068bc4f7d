//! Shared helpers for the host test suites.
