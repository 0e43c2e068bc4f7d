//! DPU firmware: the iser-core iSCSI/iSER target and initiator meeting over NIC-queue rings in
//! static memory (RFC 7145 over a firmware RDMA datamover), configured from a postcard blob.
//! Platform-independent and safe; `main.rs` adds the entry code, the logger and the exit.

#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

#[cfg(test)]
extern crate std;

#[macro_use]
mod fmt;

pub mod backend;
pub mod config;
pub mod nic;
pub mod selftest;
