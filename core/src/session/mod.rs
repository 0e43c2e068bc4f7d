//! The iSCSI session layer (RFC 7143 §4–§7, §11–§12), sans-IO: login with key negotiation and
//! authentication, discovery, the full feature phase with the CmdSN window, task management and
//! logout. [`target::TargetConn`] is the target side of one connection over iSCSI/TCP,
//! [`initiator::InitiatorConn`] the initiator side.
// Without `chap` the CHAP code stays in the source, unreachable (no `AuthPolicy::Chap`, no
// initiator credentials), and is left out of the build.
#![cfg_attr(
    not(feature = "chap"),
    allow(dead_code, unused_imports, unused_variables)
)]

pub mod backend;
pub mod chap;
pub mod initiator;
pub mod target;

pub use backend::{
    AuthPolicy, ChapCredentials, SessionRefused, TargetBackend, TargetId, TargetListing,
};
pub use initiator::{InitiatorConfig, InitiatorConn, InitiatorEvent, InitiatorSink, WriteSource};
pub use target::{CloseReason, ConnStats, TargetConfig, TargetConn, Transmit};
