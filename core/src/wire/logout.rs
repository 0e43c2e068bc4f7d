//! Logout Request (RFC 7143 §11.14) and Logout Response (RFC 7143 §11.15).
//!
//! Reserved fields are ignored on receipt (RFC 7143 §11.2) and written as zero.

use super::bhs::{Bhs, FINAL_BIT};
use super::error::WireError;
use super::opcode::Opcode;

mod field {
    pub const CID: usize = 20; // request
    pub const CMD_SN: usize = 24; // request
    pub const EXP_STAT_SN: usize = 28; // request
    pub const RESPONSE: usize = 2; // response
    pub const STAT_SN: usize = 24; // response
    pub const EXP_CMD_SN: usize = 28; // response
    pub const MAX_CMD_SN: usize = 32; // response
    pub const TIME2WAIT: usize = 40; // response
    pub const TIME2RETAIN: usize = 42; // response
}

const REASON_MASK: u8 = 0x7f;

wire_enum! {
    /// Reason Code of a Logout Request (RFC 7143 §11.14.1).
    pub struct LogoutReason(u8);
    /// Close the session (all connections).
    CLOSE_SESSION = 0,
    /// Close the connection named by CID.
    CLOSE_CONNECTION = 1,
    /// Remove the connection for recovery (ErrorRecoveryLevel 2).
    REMOVE_CONNECTION_FOR_RECOVERY = 2,
}

wire_enum! {
    /// Response of a Logout Response (RFC 7143 §11.15.1).
    pub struct LogoutResponse(u8);
    /// Connection or session closed successfully.
    SUCCESS = 0,
    /// CID not found.
    CID_NOT_FOUND = 1,
    /// Connection recovery is not supported.
    RECOVERY_NOT_SUPPORTED = 2,
    /// Cleanup failed for various reasons.
    CLEANUP_FAILED = 3,
}

/// A Logout Request (RFC 7143 §11.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LogoutRequestRepr {
    /// I bit.
    pub immediate: bool,
    /// Reason Code (7 bits).
    pub reason: LogoutReason,
    /// ITT.
    pub itt: u32,
    /// CID of the connection to close (reasons 1 and 2).
    pub cid: u16,
    /// CmdSN.
    pub cmd_sn: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
}

impl LogoutRequestRepr {
    /// Reads a Logout Request header.
    pub fn parse<T: AsRef<[u8]>>(bhs: &Bhs<T>) -> Result<Self, WireError> {
        bhs.expect(Opcode::LOGOUT_REQUEST)?;
        Ok(LogoutRequestRepr {
            immediate: bhs.immediate(),
            reason: LogoutReason(bhs.flags() & REASON_MASK),
            itt: bhs.itt(),
            cid: bhs.u16_at(field::CID),
            cmd_sn: bhs.u32_at(field::CMD_SN),
            exp_stat_sn: bhs.u32_at(field::EXP_STAT_SN),
        })
    }

    /// Writes the header; TotalAHSLength and DataSegmentLength are left zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, bhs: &mut Bhs<T>) -> Result<(), WireError> {
        bhs.check_len()?;
        if self.reason.0 & !REASON_MASK != 0 {
            return Err(WireError::BadField("Reason Code"));
        }
        bhs.start(
            Opcode::LOGOUT_REQUEST,
            self.immediate,
            FINAL_BIT | self.reason.0,
        );
        bhs.set_itt(self.itt);
        bhs.set_u16_at(field::CID, self.cid);
        bhs.set_u32_at(field::CMD_SN, self.cmd_sn);
        bhs.set_u32_at(field::EXP_STAT_SN, self.exp_stat_sn);
        Ok(())
    }
}

/// A Logout Response (RFC 7143 §11.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LogoutResponseRepr {
    /// Response.
    pub response: LogoutResponse,
    /// ITT of the request.
    pub itt: u32,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// Time2Wait in seconds before reconnecting for recovery (§11.15.2).
    pub time2wait: u16,
    /// Time2Retain in seconds the target keeps the connection's tasks (§11.15.3).
    pub time2retain: u16,
}

impl LogoutResponseRepr {
    /// Reads a Logout Response header.
    pub fn parse<T: AsRef<[u8]>>(bhs: &Bhs<T>) -> Result<Self, WireError> {
        bhs.expect(Opcode::LOGOUT_RESPONSE)?;
        Ok(LogoutResponseRepr {
            response: LogoutResponse(bhs.byte(field::RESPONSE)),
            itt: bhs.itt(),
            stat_sn: bhs.u32_at(field::STAT_SN),
            exp_cmd_sn: bhs.u32_at(field::EXP_CMD_SN),
            max_cmd_sn: bhs.u32_at(field::MAX_CMD_SN),
            time2wait: bhs.u16_at(field::TIME2WAIT),
            time2retain: bhs.u16_at(field::TIME2RETAIN),
        })
    }

    /// Writes the header; TotalAHSLength and DataSegmentLength are left zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, bhs: &mut Bhs<T>) -> Result<(), WireError> {
        bhs.check_len()?;
        bhs.start(Opcode::LOGOUT_RESPONSE, false, FINAL_BIT);
        bhs.set_byte(field::RESPONSE, self.response.0);
        bhs.set_itt(self.itt);
        bhs.set_u32_at(field::STAT_SN, self.stat_sn);
        bhs.set_u32_at(field::EXP_CMD_SN, self.exp_cmd_sn);
        bhs.set_u32_at(field::MAX_CMD_SN, self.max_cmd_sn);
        bhs.set_u16_at(field::TIME2WAIT, self.time2wait);
        bhs.set_u16_at(field::TIME2RETAIN, self.time2retain);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::bhs::BHS_LEN;

    /// Time2Wait/Time2Retain offsets from the figure of RFC 7143 §11.15.
    #[test]
    fn logout_response_times() {
        let mut buf = [0xaau8; BHS_LEN];
        LogoutResponseRepr {
            response: LogoutResponse::CID_NOT_FOUND,
            itt: 1,
            stat_sn: 2,
            exp_cmd_sn: 3,
            max_cmd_sn: 4,
            time2wait: 0x0102,
            time2retain: 0x0304,
        }
        .emit(&mut Bhs::new_unchecked(&mut buf[..]))
        .unwrap();
        assert_eq!(buf[2], 1);
        assert_eq!(&buf[36..48], &[0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0]);
    }
}
