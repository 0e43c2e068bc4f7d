//! Reject (RFC 7143 §11.17): the target refuses a PDU; the data segment holds the rejected
//! PDU's header.
//!
//! Reserved fields are ignored on receipt (RFC 7143 §11.2) and written as zero. Bytes 16–19 are
//! written as 0xffffffff, as the §11.17 figure shows, and not checked on receipt.

use super::bhs::{Bhs, FINAL_BIT, RESERVED_TAG};
use super::error::WireError;
use super::opcode::Opcode;

mod field {
    pub const REASON: usize = 2;
    pub const STAT_SN: usize = 24;
    pub const EXP_CMD_SN: usize = 28;
    pub const MAX_CMD_SN: usize = 32;
    pub const DATA_SN: usize = 36;
}

wire_enum! {
    /// Reason of a Reject (RFC 7143 §11.17.1); 0x01 is reserved.
    pub struct RejectReason(u8);
    /// Data (payload) digest error; the original PDU may be resent.
    DATA_DIGEST_ERROR = 0x02,
    /// SNACK Reject; the original PDU may be resent.
    SNACK_REJECT = 0x03,
    /// Protocol error (e.g., a SNACK for a status already acknowledged).
    PROTOCOL_ERROR = 0x04,
    /// Command not supported.
    COMMAND_NOT_SUPPORTED = 0x05,
    /// Immediate command reject: too many immediate commands.
    IMMEDIATE_COMMAND_REJECT = 0x06,
    /// Task in progress.
    TASK_IN_PROGRESS = 0x07,
    /// Invalid data ack.
    INVALID_DATA_ACK = 0x08,
    /// Invalid PDU field.
    INVALID_PDU_FIELD = 0x09,
    /// Long operation reject: cannot generate a Target Transfer Tag (out of resources).
    LONG_OPERATION_REJECT = 0x0a,
    /// Deprecated (was "Negotiation Reset" in RFC 3720); MUST NOT be sent.
    DEPRECATED_NEGOTIATION_RESET = 0x0b,
    /// Waiting for Logout.
    WAITING_FOR_LOGOUT = 0x0c,
}

/// A Reject (RFC 7143 §11.17). The data segment is the complete header (BHS and AHS) of the
/// rejected PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RejectRepr {
    /// Reason.
    pub reason: RejectReason,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// DataSN/R2TSN: the expected DataSN or R2TSN when rejecting a SNACK (§11.17.2), else 0.
    pub data_sn: u32,
}

impl RejectRepr {
    /// Reads a Reject header.
    pub fn parse<T: AsRef<[u8]>>(bhs: &Bhs<T>) -> Result<Self, WireError> {
        bhs.expect(Opcode::REJECT)?;
        Ok(RejectRepr {
            reason: RejectReason(bhs.byte(field::REASON)),
            stat_sn: bhs.u32_at(field::STAT_SN),
            exp_cmd_sn: bhs.u32_at(field::EXP_CMD_SN),
            max_cmd_sn: bhs.u32_at(field::MAX_CMD_SN),
            data_sn: bhs.u32_at(field::DATA_SN),
        })
    }

    /// Writes the header; TotalAHSLength and DataSegmentLength are left zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, bhs: &mut Bhs<T>) -> Result<(), WireError> {
        bhs.check_len()?;
        bhs.start(Opcode::REJECT, false, FINAL_BIT);
        bhs.set_byte(field::REASON, self.reason.0);
        bhs.set_itt(RESERVED_TAG);
        bhs.set_u32_at(field::STAT_SN, self.stat_sn);
        bhs.set_u32_at(field::EXP_CMD_SN, self.exp_cmd_sn);
        bhs.set_u32_at(field::MAX_CMD_SN, self.max_cmd_sn);
        bhs.set_u32_at(field::DATA_SN, self.data_sn);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::bhs::BHS_LEN;

    /// Offsets from the figure of RFC 7143 §11.17.
    #[test]
    fn layout() {
        let mut buf = [0xaau8; BHS_LEN];
        RejectRepr {
            reason: RejectReason::INVALID_PDU_FIELD,
            stat_sn: 0x3333_3333,
            exp_cmd_sn: 0x4444_4444,
            max_cmd_sn: 0x5555_5555,
            data_sn: 0x6666_6666,
        }
        .emit(&mut Bhs::new_unchecked(&mut buf[..]))
        .unwrap();
        let mut want = [0u8; BHS_LEN];
        want[0] = 0x3f;
        want[1] = 0x80;
        want[2] = 0x09;
        want[16..20].fill(0xff);
        want[24..28].fill(0x33);
        want[28..32].fill(0x44);
        want[32..36].fill(0x55);
        want[36..40].fill(0x66);
        assert_eq!(buf, want);
    }
}
