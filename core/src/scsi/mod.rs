//! SCSI block-device emulation (SPC-4, SBC-3) over a [`BlockDevice`], driven by the iSCSI
//! session layer (RFC 7143 §4.1 "SCSI concepts", §11.3–§11.4 SCSI Command / Response).
//!
//! The session decodes a SCSI Command PDU and calls [`LogicalUnit::start`] with a
//! [`CommandRequest`]. The answer is a [`Start`]:
//!
//! - [`Start::Done`]: no data phase; send the [`Completion`] at once.
//! - [`Start::DataIn`]: move `len` bytes to the initiator, produced piecewise by
//!   [`LogicalUnit::read_data`] into buffers of any size at any offset, then send
//!   [`LogicalUnit::finish`].
//! - [`Start::DataOut`]: fetch `len` bytes from the initiator (immediate data, R2T/Data-Out or
//!   iSER RDMA Read) in pieces of any size and order, hand each to
//!   [`LogicalUnit::write_data`], then send [`LogicalUnit::finish`].
//!
//! A task aborted before `finish` (ABORT TASK, LUN reset, connection loss) is handed to
//! [`LogicalUnit::abort`]. `len` never exceeds the Expected Data Transfer Length; the
//! completion's [`Residual`] reports under- and overflow (RFC 7143 §11.4.5).
//!
//! Everything is fixed-size: no allocation, nothing panics on any CDB, and data is streamed
//! straight between transport buffers and the device. Only commands that must see their whole
//! data before acting (COMPARE AND WRITE, WRITE SAME, WRITE ATOMIC, UNMAP, MODE SELECT,
//! PERSISTENT RESERVE OUT, SANITIZE, EXTENDED COPY) use the logical unit's const-generic
//! scratch buffer, one command at a time (others get BUSY meanwhile).
//!
//! Also here: unit attentions per I_T nexus ([`UnitAttention`], [`LogicalUnit::reset`],
//! [`LogicalUnit::nexus_lost`]), RESERVE(6) and persistent reservations ([`PrState`], named
//! initiator ports via [`LogicalUnit::set_initiator_port`]), and EXTENDED COPY between logical
//! units through the [`CopyPeers`] hook ([`LogicalUnit::finish_with_peers`]).
//!
//! Commands that belong to the target rather than a logical unit (REPORT LUNS) and the answers
//! for a LUN that does not exist live in [`target`]; route with [`target::is_target_command`].
// Without `scsi-full` the optional commands have no table entry: their code stays in the
// source, unreachable, and is left out of the build.
#![cfg_attr(
    not(feature = "scsi-full"),
    allow(dead_code, unused_variables, unused_imports)
)]

#[macro_use]
mod macros;

mod block;
mod cdb;
mod commands;
mod completion;
mod device;
mod identity;
mod inquiry;
mod lu;
mod mode;
mod pr;
mod pr_in;
mod provisioning;
mod ramdisk;
mod rsoc;
mod sanitize;
mod sense;
pub mod target;
mod task;
mod ua;
mod unit;
mod window;
mod xcopy;

#[cfg(test)]
mod tests;

pub use completion::{Completion, Finish, Residual, Status, Ticket};
pub use device::{BlockDevice, IoError, LbaStatus, Provisioning};
pub use identity::{space_padded, FixedStr, LuConfig, LuIdentity};
pub use lu::{LogicalUnit, ResetKind, ScratchBuf};
pub use pr::{PrReservation, PrState, PrType, Registration, PORT_NAME_LEN};
pub use ramdisk::{RamDisk, RamDiskError};
pub use sense::{AdditionalSense, BufferTooSmall, Sense, SenseKey, SenseSpecific};
pub use task::{BlockIo, CommandRequest, NexusId, ScsiTask, Start, Started};
pub use ua::UnitAttention;
pub use xcopy::{CopyPeers, NoPeers};

/// SCSI operation codes this crate knows by name (SPC-4 Annex D, SBC-3 §5).
pub use commands::Opcode;
