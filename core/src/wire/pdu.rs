//! [`PduRepr`]: any iSCSI BHS (RFC 7143 §11), dispatched on its opcode.

use super::async_msg::AsyncMessageRepr;
use super::bhs::{Bhs, BHS_LEN};
#[cfg(feature = "tcp")]
use super::data::DataInRepr;
use super::data::DataOutRepr;
use super::error::WireError;
use super::login::{LoginRequestRepr, LoginResponseRepr};
use super::logout::{LogoutRequestRepr, LogoutResponseRepr};
use super::nop::{NopInRepr, NopOutRepr};
use super::opcode::Opcode;
#[cfg(feature = "tcp")]
use super::r2t::R2tRepr;
use super::reject::RejectRepr;
use super::scsi_command::ScsiCommandRepr;
use super::scsi_response::ScsiResponseRepr;
use super::snack::SnackRepr;
use super::task_mgmt::{TaskMgmtRequestRepr, TaskMgmtResponseRepr};
use super::text_pdu::{TextRequestRepr, TextResponseRepr};

/// The header of any PDU this crate knows, as an owned value.
///
/// TotalAHSLength and DataSegmentLength are not part of it: they describe the segments that
/// follow, which [`super::frame`] writes and reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PduRepr {
    /// NOP-Out (§11.18).
    NopOut(NopOutRepr),
    /// SCSI Command (§11.3).
    ScsiCommand(ScsiCommandRepr),
    /// Task Management Function Request (§11.5).
    TaskMgmtRequest(TaskMgmtRequestRepr),
    /// Login Request (§11.12).
    LoginRequest(LoginRequestRepr),
    /// Text Request (§11.10).
    TextRequest(TextRequestRepr),
    /// SCSI Data-Out (§11.7).
    DataOut(DataOutRepr),
    /// Logout Request (§11.14).
    LogoutRequest(LogoutRequestRepr),
    /// SNACK Request (§11.16).
    Snack(SnackRepr),
    /// NOP-In (§11.19).
    NopIn(NopInRepr),
    /// SCSI Response (§11.4).
    ScsiResponse(ScsiResponseRepr),
    /// Task Management Function Response (§11.6).
    TaskMgmtResponse(TaskMgmtResponseRepr),
    /// Login Response (§11.13).
    LoginResponse(LoginResponseRepr),
    /// Text Response (§11.11).
    TextResponse(TextResponseRepr),
    /// SCSI Data-In (§11.7). (Feature `tcp`: under iSER, RFC 7145 §7.3, none is sent.)
    #[cfg(feature = "tcp")]
    DataIn(DataInRepr),
    /// Logout Response (§11.15).
    LogoutResponse(LogoutResponseRepr),
    /// R2T (§11.8). (Feature `tcp`.)
    #[cfg(feature = "tcp")]
    R2t(R2tRepr),
    /// Asynchronous Message (§11.9).
    AsyncMessage(AsyncMessageRepr),
    /// Reject (§11.17).
    Reject(RejectRepr),
}

impl PduRepr {
    /// Reads the BHS at the start of `buf` (at least [`BHS_LEN`] bytes). Unknown opcodes give
    /// [`WireError::UnknownOpcode`], which the session layer answers with a Reject.
    pub fn parse(buf: &[u8]) -> Result<Self, WireError> {
        Self::parse_bhs(&Bhs::new_checked(buf)?)
    }

    /// Reads a BHS view.
    pub fn parse_bhs<T: AsRef<[u8]>>(bhs: &Bhs<T>) -> Result<Self, WireError> {
        bhs.check_len()?;
        Ok(match bhs.opcode() {
            Opcode::NOP_OUT => PduRepr::NopOut(NopOutRepr::parse(bhs)?),
            Opcode::SCSI_COMMAND => PduRepr::ScsiCommand(ScsiCommandRepr::parse(bhs)?),
            Opcode::TASK_MGMT_REQUEST => PduRepr::TaskMgmtRequest(TaskMgmtRequestRepr::parse(bhs)?),
            Opcode::LOGIN_REQUEST => PduRepr::LoginRequest(LoginRequestRepr::parse(bhs)?),
            Opcode::TEXT_REQUEST => PduRepr::TextRequest(TextRequestRepr::parse(bhs)?),
            Opcode::DATA_OUT => PduRepr::DataOut(DataOutRepr::parse(bhs)?),
            Opcode::LOGOUT_REQUEST => PduRepr::LogoutRequest(LogoutRequestRepr::parse(bhs)?),
            Opcode::SNACK_REQUEST => PduRepr::Snack(SnackRepr::parse(bhs)?),
            Opcode::NOP_IN => PduRepr::NopIn(NopInRepr::parse(bhs)?),
            Opcode::SCSI_RESPONSE => PduRepr::ScsiResponse(ScsiResponseRepr::parse(bhs)?),
            Opcode::TASK_MGMT_RESPONSE => {
                PduRepr::TaskMgmtResponse(TaskMgmtResponseRepr::parse(bhs)?)
            }
            Opcode::LOGIN_RESPONSE => PduRepr::LoginResponse(LoginResponseRepr::parse(bhs)?),
            Opcode::TEXT_RESPONSE => PduRepr::TextResponse(TextResponseRepr::parse(bhs)?),
            #[cfg(feature = "tcp")]
            Opcode::DATA_IN => PduRepr::DataIn(DataInRepr::parse(bhs)?),
            Opcode::LOGOUT_RESPONSE => PduRepr::LogoutResponse(LogoutResponseRepr::parse(bhs)?),
            #[cfg(feature = "tcp")]
            Opcode::R2T => PduRepr::R2t(R2tRepr::parse(bhs)?),
            Opcode::ASYNC_MESSAGE => PduRepr::AsyncMessage(AsyncMessageRepr::parse(bhs)?),
            Opcode::REJECT => PduRepr::Reject(RejectRepr::parse(bhs)?),
            other => return Err(WireError::UnknownOpcode(other)),
        })
    }

    /// Writes the BHS into the first [`BHS_LEN`] bytes of `buf`, with TotalAHSLength and
    /// DataSegmentLength zero (use [`super::frame::emit_pdu`] to write a whole PDU).
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        self.emit_bhs(&mut Bhs::new_checked(buf)?)
    }

    /// Writes into a BHS view.
    pub fn emit_bhs<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        bhs: &mut Bhs<T>,
    ) -> Result<(), WireError> {
        match self {
            PduRepr::NopOut(r) => r.emit(bhs),
            PduRepr::ScsiCommand(r) => r.emit(bhs),
            PduRepr::TaskMgmtRequest(r) => r.emit(bhs),
            PduRepr::LoginRequest(r) => r.emit(bhs),
            PduRepr::TextRequest(r) => r.emit(bhs),
            PduRepr::DataOut(r) => r.emit(bhs),
            PduRepr::LogoutRequest(r) => r.emit(bhs),
            PduRepr::Snack(r) => r.emit(bhs),
            PduRepr::NopIn(r) => r.emit(bhs),
            PduRepr::ScsiResponse(r) => r.emit(bhs),
            PduRepr::TaskMgmtResponse(r) => r.emit(bhs),
            PduRepr::LoginResponse(r) => r.emit(bhs),
            PduRepr::TextResponse(r) => r.emit(bhs),
            #[cfg(feature = "tcp")]
            PduRepr::DataIn(r) => r.emit(bhs),
            PduRepr::LogoutResponse(r) => r.emit(bhs),
            #[cfg(feature = "tcp")]
            PduRepr::R2t(r) => r.emit(bhs),
            PduRepr::AsyncMessage(r) => r.emit(bhs),
            PduRepr::Reject(r) => r.emit(bhs),
        }
    }

    /// Length of the header this writes: always [`BHS_LEN`].
    pub const fn buffer_len(&self) -> usize {
        BHS_LEN
    }

    /// The opcode of this PDU.
    pub const fn opcode(&self) -> Opcode {
        match self {
            PduRepr::NopOut(_) => Opcode::NOP_OUT,
            PduRepr::ScsiCommand(_) => Opcode::SCSI_COMMAND,
            PduRepr::TaskMgmtRequest(_) => Opcode::TASK_MGMT_REQUEST,
            PduRepr::LoginRequest(_) => Opcode::LOGIN_REQUEST,
            PduRepr::TextRequest(_) => Opcode::TEXT_REQUEST,
            PduRepr::DataOut(_) => Opcode::DATA_OUT,
            PduRepr::LogoutRequest(_) => Opcode::LOGOUT_REQUEST,
            PduRepr::Snack(_) => Opcode::SNACK_REQUEST,
            PduRepr::NopIn(_) => Opcode::NOP_IN,
            PduRepr::ScsiResponse(_) => Opcode::SCSI_RESPONSE,
            PduRepr::TaskMgmtResponse(_) => Opcode::TASK_MGMT_RESPONSE,
            PduRepr::LoginResponse(_) => Opcode::LOGIN_RESPONSE,
            PduRepr::TextResponse(_) => Opcode::TEXT_RESPONSE,
            #[cfg(feature = "tcp")]
            PduRepr::DataIn(_) => Opcode::DATA_IN,
            PduRepr::LogoutResponse(_) => Opcode::LOGOUT_RESPONSE,
            #[cfg(feature = "tcp")]
            PduRepr::R2t(_) => Opcode::R2T,
            PduRepr::AsyncMessage(_) => Opcode::ASYNC_MESSAGE,
            PduRepr::Reject(_) => Opcode::REJECT,
        }
    }

    /// The Initiator Task Tag, for PDUs that carry one (not Asynchronous Message and Reject,
    /// whose bytes 16–19 are 0xffffffff).
    pub const fn itt(&self) -> Option<u32> {
        Some(match self {
            PduRepr::NopOut(r) => r.itt,
            PduRepr::ScsiCommand(r) => r.itt,
            PduRepr::TaskMgmtRequest(r) => r.itt,
            PduRepr::LoginRequest(r) => r.itt,
            PduRepr::TextRequest(r) => r.itt,
            PduRepr::DataOut(r) => r.itt,
            PduRepr::LogoutRequest(r) => r.itt,
            PduRepr::Snack(r) => r.itt,
            PduRepr::NopIn(r) => r.itt,
            PduRepr::ScsiResponse(r) => r.itt,
            PduRepr::TaskMgmtResponse(r) => r.itt,
            PduRepr::LoginResponse(r) => r.itt,
            PduRepr::TextResponse(r) => r.itt,
            #[cfg(feature = "tcp")]
            PduRepr::DataIn(r) => r.itt,
            PduRepr::LogoutResponse(r) => r.itt,
            #[cfg(feature = "tcp")]
            PduRepr::R2t(r) => r.itt,
            PduRepr::AsyncMessage(_) | PduRepr::Reject(_) => return None,
        })
    }
}

macro_rules! impl_from_repr {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        $(impl From<$ty> for PduRepr {
            fn from(repr: $ty) -> Self {
                PduRepr::$variant(repr)
            }
        })*
    };
}

impl_from_repr!(
    NopOut(NopOutRepr),
    ScsiCommand(ScsiCommandRepr),
    TaskMgmtRequest(TaskMgmtRequestRepr),
    LoginRequest(LoginRequestRepr),
    TextRequest(TextRequestRepr),
    DataOut(DataOutRepr),
    LogoutRequest(LogoutRequestRepr),
    Snack(SnackRepr),
    NopIn(NopInRepr),
    ScsiResponse(ScsiResponseRepr),
    TaskMgmtResponse(TaskMgmtResponseRepr),
    LoginResponse(LoginResponseRepr),
    TextResponse(TextResponseRepr),
    LogoutResponse(LogoutResponseRepr),
    AsyncMessage(AsyncMessageRepr),
    Reject(RejectRepr),
);
#[cfg(feature = "tcp")]
impl_from_repr!(DataIn(DataInRepr), R2t(R2tRepr));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::any_pdu_repr;
    use proptest::prelude::*;
    use std::vec;

    proptest! {
        /// Repr → emit → parse gives the same Repr, for every PDU type.
        #[test]
        fn round_trip(repr in any_pdu_repr()) {
            let mut buf = [0u8; BHS_LEN];
            repr.emit(&mut buf).unwrap();
            prop_assert_eq!(Bhs::new_unchecked(&buf[..]).opcode(), repr.opcode());
            let parsed = PduRepr::parse(&buf).unwrap();
            prop_assert_eq!(parsed, repr);
            // Emitting again gives the same bytes.
            let mut again = [0xffu8; BHS_LEN];
            parsed.emit(&mut again).unwrap();
            prop_assert_eq!(buf, again);
        }

        /// Arbitrary bytes never make the parser panic, and what parses re-emits to a header
        /// that parses to the same value.
        #[test]
        fn parse_arbitrary(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(repr) = PduRepr::parse(&bytes) {
                let mut buf = vec![0u8; BHS_LEN];
                repr.emit(&mut buf).unwrap();
                prop_assert_eq!(PduRepr::parse(&buf).unwrap(), repr);
            } else if bytes.len() < BHS_LEN {
                prop_assert_eq!(PduRepr::parse(&bytes), Err(WireError::Truncated { needed: BHS_LEN }));
            }
        }
    }

    #[test]
    fn unknown_opcode() {
        let mut buf = [0u8; BHS_LEN];
        buf[0] = 0x1c;
        assert_eq!(
            PduRepr::parse(&buf),
            Err(WireError::UnknownOpcode(Opcode(0x1c)))
        );
    }

    #[test]
    fn typed_parse_checks_opcode() {
        let mut buf = [0u8; BHS_LEN];
        buf[0] = 0x20;
        assert_eq!(
            crate::wire::R2tRepr::parse(&Bhs::new_unchecked(&buf[..])),
            Err(WireError::OpcodeMismatch {
                expected: Opcode::R2T,
                found: Opcode::NOP_IN
            })
        );
    }

    #[test]
    fn emit_into_short_buffer() {
        let repr = PduRepr::parse(&[0u8; BHS_LEN]).unwrap();
        assert_eq!(
            repr.emit(&mut [0u8; 47]),
            Err(WireError::Truncated { needed: BHS_LEN })
        );
    }
}
