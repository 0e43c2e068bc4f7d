//! `iser-verbs`: RDMA verbs for the iSER datamover (RFC 7145), both sides — a safe wrapper over libibverbs
//! and librdmacm (through `rdma-sys`). Every `unsafe` block of the project's RDMA path lives in
//! this crate, each with a `# Safety` note.
//!
//! - [`devices`]: the RDMA devices the machine has, or a clear error (with the OS error) when it
//!   has none.
//! - [`Listener`]: an RDMA CM listener (port space TCP, so `ADDR:3260` beside the iSCSI/TCP
//!   listener on the same address); [`Listener::get_request`] hands out [`ConnectRequest`]s with
//!   the peer's private data (the iSER CM header).
//! - [`Connection`]: one RC connection with its own protection domain, completion queue (busy
//!   poll or completion channel, [`CompletionMode`]), queue pair and one registered memory region
//!   ([`Connection::region`]); it posts iser-core's [`iser_core::dm::DmOp`]s and reports
//!   completions and CM events as [`iser_core::dm::DmEvent`]s. Teardown disconnects, flushes
//!   every posted work request back as a completion, and frees the verbs objects in order.
//! - The active side: [`Connection::resolve`] (address and route) then
//!   [`Connection::connect`] with the iSER CM private data; [`Connection::split`] gives the
//!   region with a [`MemoryRegistrar`], the core's `Registrar` by on-demand `ibv_reg_mr`.

mod addr;
mod cm;
mod conn;
mod connect;
mod device;
mod error;
mod region;
mod registrar;
mod sendq;
mod wc;

pub use cm::{ConnectRequest, Listener};
pub use conn::{AcceptParams, CompletionMode, Connection, QueueSpec};
pub use connect::{Accepted, ConnectParams};
pub use device::{devices, DeviceInfo};
pub use error::Error;
pub use region::Region;
pub use registrar::MemoryRegistrar;
pub use wc::{status_of, RECV_TAG};
