//! `iser-core`: the transport-independent heart of an iSCSI target and initiator whose datamover is
//! iSER (RFC 7145) over RDMA, with iSCSI/TCP (RFC 7143) as the fallback.
//!
//! Sans-IO: no clocks, sockets, threads or allocation. Inputs carry time (`handle_*(.., now)`),
//! outputs are polled into caller buffers (`poll_*`). Capacity is fixed by const generics.
//!
//! Layers, bottom up:
//! - [`wire`]: zero-copy views and owned `Repr`s for every PDU, the iSER header, Hello/HelloReply,
//!   CM private data and `key=value` text.
//! - [`negotiate`]: one table of login keys, a negotiator for both roles, the iSER policy on top.
//! - [`conn`]: connection stages as types (Allocated → Connected → HelloSent → LoggedIn → Closing).
//! - [`pool`]: fixed-capacity buffer pools with generation-checked handles; initiator placement.
//! - [`task`]: ITT allocation, RFC 1982 serial numbers, task tables.
//! - [`scsi`]: SBC/SPC block emulation over a `BlockDevice`.
//! - [`config`]: a node's portals, targets, LUNs and limits as data; the firmware blob.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

#[cfg(test)]
extern crate std;

#[macro_use]
mod fmt;

pub mod config;
pub mod conn;
pub mod dm;
pub mod negotiate;
pub mod pool;
pub mod scsi;
pub mod session;
pub mod task;
pub mod time;
pub mod wire;
