//! SCSI Response PDU (RFC 7143 §11.4) with the SCSI status (SAM-5 §5.3) and iSCSI response codes,
//! and the residual over/underflow encoding it shares with Data-In (§11.4.5, §11.7.5).
//!
//! Reserved fields (bytes 8–15) are ignored on receipt (RFC 7143 §11.2) and written as zero. The
//! Residual Count of a PDU with neither O nor U set is ignored, as §11.4.5 allows.

use super::bhs::{field as bhs_field, Bhs, BHS_LEN, FINAL_BIT};
use super::bytes::{bit, put};
use super::error::WireError;
use super::opcode::Opcode;

mod field {
    pub const RESPONSE: usize = 2;
    pub const STATUS: usize = 3;
    pub const SNACK_TAG: usize = 20;
    pub const STAT_SN: usize = 24;
    pub const EXP_CMD_SN: usize = 28;
    pub const MAX_CMD_SN: usize = 32;
    pub const EXP_DATA_SN: usize = 36;
    pub const BIDI_READ_RESIDUAL_COUNT: usize = 40;
    pub const RESIDUAL_COUNT: usize = 44;
}

/// o: bidirectional read residual overflow.
const BIDI_OVERFLOW: u8 = 0x10;
/// u: bidirectional read residual underflow.
const BIDI_UNDERFLOW: u8 = 0x08;
/// O: residual overflow.
pub(crate) const OVERFLOW: u8 = 0x04;
/// U: residual underflow.
pub(crate) const UNDERFLOW: u8 = 0x02;

wire_enum! {
    /// SCSI status byte (SAM-5 §5.3.1; RFC 7143 §11.4.2). Valid when the response is
    /// [`ScsiResponseCode::COMMAND_COMPLETED`].
    pub struct ScsiStatus(u8);
    /// GOOD.
    GOOD = 0x00,
    /// CHECK CONDITION: sense data follows in the data segment.
    CHECK_CONDITION = 0x02,
    /// CONDITION MET.
    CONDITION_MET = 0x04,
    /// BUSY.
    BUSY = 0x08,
    /// RESERVATION CONFLICT.
    RESERVATION_CONFLICT = 0x18,
    /// TASK SET FULL.
    TASK_SET_FULL = 0x28,
    /// ACA ACTIVE.
    ACA_ACTIVE = 0x30,
    /// TASK ABORTED.
    TASK_ABORTED = 0x40,
}

wire_enum! {
    /// The iSCSI Response field of a SCSI Response (RFC 7143 §11.4.3); 0x80–0xff are vendor
    /// specific.
    pub struct ScsiResponseCode(u8);
    /// Command Completed at Target (the Status field is valid).
    COMMAND_COMPLETED = 0x00,
    /// Target Failure.
    TARGET_FAILURE = 0x01,
}

/// A residual count with its O/U (or o/u) bit (RFC 7143 §11.4.5): how much of the expected
/// transfer length was not transferred (underflow) or did not fit (overflow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Residual {
    /// Neither bit set: the transfer matched the expected length.
    #[default]
    None,
    /// O bit: the command wanted to transfer this many more bytes than expected.
    Overflow(u32),
    /// U bit: this many of the expected bytes were not transferred.
    Underflow(u32),
}

impl Residual {
    /// Decodes the bit pair and count; both bits set is a protocol error (§11.4.1).
    pub(crate) fn decode(
        flags: u8,
        overflow: u8,
        underflow: u8,
        count: u32,
        name: &'static str,
    ) -> Result<Self, WireError> {
        match (bit(flags, overflow), bit(flags, underflow)) {
            (false, false) => Ok(Residual::None),
            (true, false) => Ok(Residual::Overflow(count)),
            (false, true) => Ok(Residual::Underflow(count)),
            (true, true) => Err(WireError::BadField(name)),
        }
    }

    /// The flag bits and count to write.
    pub(crate) const fn encode(self, overflow: u8, underflow: u8) -> (u8, u32) {
        match self {
            Residual::None => (0, 0),
            Residual::Overflow(n) => (overflow, n),
            Residual::Underflow(n) => (underflow, n),
        }
    }

    /// The count, zero for [`Residual::None`].
    pub const fn count(self) -> u32 {
        match self {
            Residual::None => 0,
            Residual::Overflow(n) | Residual::Underflow(n) => n,
        }
    }
}

/// A SCSI Response (RFC 7143 §11.4). Sense or response data, if any, is the data segment
/// (§11.4.7: a 2-byte SenseLength, then the sense data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ScsiResponseRepr {
    /// iSCSI Response.
    pub response: ScsiResponseCode,
    /// SCSI status (valid if `response` is COMMAND_COMPLETED).
    pub status: ScsiStatus,
    /// ITT of the command.
    pub itt: u32,
    /// SNACK Tag (§11.4.6), 0 unless answering an R-Data SNACK.
    pub snack_tag: u32,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// ExpDataSN: number of Data-In (and R2T) PDUs sent for the command (§11.4.8).
    pub exp_data_sn: u32,
    /// Bidirectional Read Residual (o/u bits and count, §11.4.5.1).
    pub bidi_read_residual: Residual,
    /// Residual (O/U bits and count, §11.4.5.2).
    pub residual: Residual,
}

impl ScsiResponseRepr {
    /// Reads a SCSI Response header.
    pub fn parse<T: AsRef<[u8]>>(bhs: &Bhs<T>) -> Result<Self, WireError> {
        bhs.expect(Opcode::SCSI_RESPONSE)?;
        let flags = bhs.flags();
        Ok(ScsiResponseRepr {
            response: ScsiResponseCode(bhs.byte(field::RESPONSE)),
            status: ScsiStatus(bhs.byte(field::STATUS)),
            itt: bhs.itt(),
            snack_tag: bhs.u32_at(field::SNACK_TAG),
            stat_sn: bhs.u32_at(field::STAT_SN),
            exp_cmd_sn: bhs.u32_at(field::EXP_CMD_SN),
            max_cmd_sn: bhs.u32_at(field::MAX_CMD_SN),
            exp_data_sn: bhs.u32_at(field::EXP_DATA_SN),
            bidi_read_residual: Residual::decode(
                flags,
                BIDI_OVERFLOW,
                BIDI_UNDERFLOW,
                bhs.u32_at(field::BIDI_READ_RESIDUAL_COUNT),
                "o/u",
            )?,
            residual: Residual::decode(
                flags,
                OVERFLOW,
                UNDERFLOW,
                bhs.u32_at(field::RESIDUAL_COUNT),
                "O/U",
            )?,
        })
    }

    /// Writes the header; TotalAHSLength and DataSegmentLength are left zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, bhs: &mut Bhs<T>) -> Result<(), WireError> {
        bhs.check_len()?;
        bhs.set_array_at(0, self.to_bytes());
        Ok(())
    }

    /// The whole 48-byte header as [`Self::emit`] writes it, built in one piece (a target sends
    /// one per command).
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub fn to_bytes(&self) -> [u8; BHS_LEN] {
        let (bidi_flags, bidi_count) = self
            .bidi_read_residual
            .encode(BIDI_OVERFLOW, BIDI_UNDERFLOW);
        let (flags, count) = self.residual.encode(OVERFLOW, UNDERFLOW);
        let mut h = [0u8; BHS_LEN];
        put(
            &mut h,
            bhs_field::OPCODE,
            [Opcode::SCSI_RESPONSE.0, FINAL_BIT | bidi_flags | flags],
        );
        put(&mut h, field::RESPONSE, [self.response.0, self.status.0]);
        put(&mut h, bhs_field::ITT, self.itt.to_be_bytes());
        put(&mut h, field::SNACK_TAG, self.snack_tag.to_be_bytes());
        put(&mut h, field::STAT_SN, self.stat_sn.to_be_bytes());
        put(&mut h, field::EXP_CMD_SN, self.exp_cmd_sn.to_be_bytes());
        put(&mut h, field::MAX_CMD_SN, self.max_cmd_sn.to_be_bytes());
        put(&mut h, field::EXP_DATA_SN, self.exp_data_sn.to_be_bytes());
        put(
            &mut h,
            field::BIDI_READ_RESIDUAL_COUNT,
            bidi_count.to_be_bytes(),
        );
        put(&mut h, field::RESIDUAL_COUNT, count.to_be_bytes());
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residual_bits_and_counts() {
        let repr = ScsiResponseRepr {
            response: ScsiResponseCode::COMMAND_COMPLETED,
            status: ScsiStatus::GOOD,
            itt: 1,
            snack_tag: 0,
            stat_sn: 2,
            exp_cmd_sn: 3,
            max_cmd_sn: 4,
            exp_data_sn: 5,
            bidi_read_residual: Residual::Overflow(7),
            residual: Residual::Underflow(512),
        };
        let mut buf = [0u8; BHS_LEN];
        repr.emit(&mut Bhs::new_unchecked(&mut buf[..])).unwrap();
        assert_eq!(buf[0], 0x21);
        assert_eq!(buf[1], 0x80 | 0x10 | 0x02);
        assert_eq!(&buf[40..44], &7u32.to_be_bytes());
        assert_eq!(&buf[44..48], &512u32.to_be_bytes());
        assert_eq!(
            ScsiResponseRepr::parse(&Bhs::new_unchecked(&buf[..])),
            Ok(repr)
        );

        buf[1] |= 0x04; // O and U both set
        assert_eq!(
            ScsiResponseRepr::parse(&Bhs::new_unchecked(&buf[..])),
            Err(WireError::BadField("O/U"))
        );
    }
}
