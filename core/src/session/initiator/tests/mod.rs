//! Tests of the initiator connection, most against the real [`crate::session::target::TargetConn`]
//! in memory: login (None, CHAP one-way and mutual, refusals, timeout), discovery, reads and
//! writes under every data-phase setting, sense and residuals, the CmdSN window, NOP, task
//! management and logout; and a property test with random parameters and workloads.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod ffp;
mod fixture;
mod login;
mod props;
