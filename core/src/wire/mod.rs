//! Wire formats: zero-copy views and owned `Repr`s for every iSCSI PDU (RFC 7143 §11), the AHS
//! (§11.2.2), CRC32C digests (§13.1, RFC 3720 §B.4), framing on a TCP byte stream, and the iSER
//! header, Hello/HelloReply and CM private data (RFC 7145 §9).
//!
//! Conventions (smoltcp style): a view `Foo<T: AsRef<[u8]>>` has `new_unchecked`, `new_checked`,
//! `check_len` and `into_inner`; after `new_checked` succeeds no accessor panics. A `FooRepr` is
//! the owned, validated value with `parse` and `emit`. Code points are newtypes with named
//! constants so unknown values survive (`Opcode(0x1c)` prints in hex).
//!
//! Receivers ignore reserved fields (RFC 7143 §11.2: "any compliant receiver MUST ignore any bit
//! not defined and all reserved fields"); senders here always write them as zero. Each module says
//! where it checks more than that.

// Tests may unwrap and panic; the non-test build of this module still denies both.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[macro_use]
mod enum_macro;
mod bytes;

pub mod ahs;
pub mod async_msg;
pub mod bhs;
pub mod cm;
pub mod data;
pub mod digest;
pub mod error;
pub mod frame;
pub mod hello;
pub mod iser;
pub mod login;
pub mod login_status;
pub mod logout;
pub mod nop;
pub mod opcode;
pub mod pdu;
pub mod r2t;
pub mod reject;
pub mod scsi_command;
pub mod scsi_response;
pub mod snack;
pub mod task_mgmt;
pub mod text;
pub mod text_pdu;

#[cfg(test)]
mod golden;
#[cfg(test)]
pub(crate) mod testutil;

pub use ahs::{Ahs, AhsIter, AhsType, Cdb, CommandAhs};
pub use async_msg::{AsyncEvent, AsyncMessageRepr};
pub use bhs::{Bhs, Lun, BHS_LEN, MAX_DATA_SEGMENT_LENGTH, RESERVED_TAG};
pub use cm::{CmPrivateData, CM_PRIVATE_DATA_LEN};
pub use data::{DataInRepr, DataInStatus, DataOutRepr};
pub use digest::{crc32c, Crc32c};
pub use error::WireError;
pub use frame::{
    data_offset, emit_header, emit_header_in_place, emit_pdu, pad_len, padded_len, pdu_len,
    Digests, EmitError, FrameError, Pdu, Trailer,
};
pub use hello::{HelloReplyRepr, HelloRepr, HELLO_LEN, ISER_VERSION};
pub use iser::{
    IserHeader, IserHeaderRepr, IserMessage, IserOpcode, ISCSI_CTRL_HEADER, ISER_HEADER_LEN,
};
pub use login::{Isid, LoginRequestRepr, LoginResponseRepr, Stage, ISCSI_VERSION};
pub use login_status::{LoginStatus, StatusClass};
pub use logout::{LogoutReason, LogoutRequestRepr, LogoutResponse, LogoutResponseRepr};
pub use nop::{NopInRepr, NopOutRepr};
pub use opcode::Opcode;
pub use pdu::PduRepr;
pub use r2t::R2tRepr;
pub use reject::{RejectReason, RejectRepr};
pub use scsi_command::{ScsiCommandRepr, TaskAttribute};
pub use scsi_response::{Residual, ScsiResponseCode, ScsiResponseRepr, ScsiStatus};
pub use snack::{SnackRepr, SnackType};
pub use task_mgmt::{
    TaskMgmtFunction, TaskMgmtRequestRepr, TaskMgmtResponse, TaskMgmtResponseRepr,
};
pub use text_pdu::{TextRequestRepr, TextResponseRepr};
