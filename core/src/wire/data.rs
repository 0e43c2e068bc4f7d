//! SCSI Data-Out and Data-In PDUs (RFC 7143 §11.7): the data of a command, with DataSN, buffer
//! offset and, on the last Data-In, optionally the status (phase collapse, S bit).
//!
//! Reserved fields are ignored on receipt (RFC 7143 §11.2) and written as zero; that includes the
//! Data-In StatSN, Status, O/U bits and Residual Count when S is 0 (§11.7.3–§11.7.5).

use super::bhs::{Bhs, Lun};
use super::bytes::{bit, flag};
use super::error::WireError;
use super::opcode::Opcode;
use super::scsi_response::{Residual, ScsiStatus, OVERFLOW, UNDERFLOW};

mod field {
    pub const STATUS: usize = 3; // Data-In
    pub const TTT: usize = 20;
    pub const STAT_SN: usize = 24; // Data-In
    pub const EXP_STAT_SN: usize = 28; // Data-Out
    pub const EXP_CMD_SN: usize = 28; // Data-In
    pub const MAX_CMD_SN: usize = 32; // Data-In
    pub const DATA_SN: usize = 36;
    pub const BUFFER_OFFSET: usize = 40;
    pub const RESIDUAL_COUNT: usize = 44; // Data-In
}

const F: u8 = 0x80;
const A: u8 = 0x40;
const S: u8 = 0x01;

/// A SCSI Data-Out (RFC 7143 §11.7). The data is the data segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DataOutRepr {
    /// F bit: last PDU of the unsolicited burst or of the R2T's sequence.
    pub final_: bool,
    /// LUN (copied from the R2T when answering one, §11.7.4).
    pub lun: Lun,
    /// ITT of the command.
    pub itt: u32,
    /// TTT of the R2T answered, or 0xffffffff for unsolicited data.
    pub ttt: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
    /// DataSN within the sequence (§11.7.6).
    pub data_sn: u32,
    /// Buffer Offset of this PDU's data in the command's buffer (§11.7.7).
    pub buffer_offset: u32,
}

impl DataOutRepr {
    /// Reads a Data-Out header.
    pub fn parse<T: AsRef<[u8]>>(bhs: &Bhs<T>) -> Result<Self, WireError> {
        bhs.expect(Opcode::DATA_OUT)?;
        Ok(DataOutRepr {
            final_: bit(bhs.flags(), F),
            lun: bhs.lun(),
            itt: bhs.itt(),
            ttt: bhs.u32_at(field::TTT),
            exp_stat_sn: bhs.u32_at(field::EXP_STAT_SN),
            data_sn: bhs.u32_at(field::DATA_SN),
            buffer_offset: bhs.u32_at(field::BUFFER_OFFSET),
        })
    }

    /// Writes the header; TotalAHSLength and DataSegmentLength are left zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, bhs: &mut Bhs<T>) -> Result<(), WireError> {
        bhs.check_len()?;
        bhs.start(Opcode::DATA_OUT, false, flag(self.final_, F));
        bhs.set_lun(self.lun);
        bhs.set_itt(self.itt);
        bhs.set_u32_at(field::TTT, self.ttt);
        bhs.set_u32_at(field::EXP_STAT_SN, self.exp_stat_sn);
        bhs.set_u32_at(field::DATA_SN, self.data_sn);
        bhs.set_u32_at(field::BUFFER_OFFSET, self.buffer_offset);
        Ok(())
    }
}

/// The status a Data-In carries when its S bit is set (phase collapse, RFC 7143 §11.7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DataInStatus {
    /// SCSI status of the command.
    pub status: ScsiStatus,
    /// StatSN.
    pub stat_sn: u32,
    /// O/U bits and Residual Count (§11.7.5).
    pub residual: Residual,
}

/// A SCSI Data-In (RFC 7143 §11.7). The data is the data segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DataInRepr {
    /// F bit: last PDU of the sequence (of the command, or of the burst when answering a
    /// DataACK-less read). Must be set when `status` is.
    pub final_: bool,
    /// A bit: the target asks for a DataACK SNACK (ErrorRecoveryLevel ≥ 1, §11.7.2).
    pub ack: bool,
    /// LUN (valid when the TTT is, §11.7.4).
    pub lun: Lun,
    /// ITT of the command.
    pub itt: u32,
    /// TTT: a tag for DataACK when `ack`, else 0xffffffff.
    pub ttt: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// DataSN (§11.7.6).
    pub data_sn: u32,
    /// Buffer Offset (§11.7.7).
    pub buffer_offset: u32,
    /// S bit set: the command's status travels in this PDU and no SCSI Response follows.
    pub status: Option<DataInStatus>,
}

impl DataInRepr {
    /// Reads a Data-In header. S without F is an error (§11.7.3), as are O and U together.
    pub fn parse<T: AsRef<[u8]>>(bhs: &Bhs<T>) -> Result<Self, WireError> {
        bhs.expect(Opcode::DATA_IN)?;
        let flags = bhs.flags();
        let final_ = bit(flags, F);
        let status = if bit(flags, S) {
            if !final_ {
                return Err(WireError::BadField("S without F"));
            }
            Some(DataInStatus {
                status: ScsiStatus(bhs.byte(field::STATUS)),
                stat_sn: bhs.u32_at(field::STAT_SN),
                residual: Residual::decode(
                    flags,
                    OVERFLOW,
                    UNDERFLOW,
                    bhs.u32_at(field::RESIDUAL_COUNT),
                    "O/U",
                )?,
            })
        } else {
            None
        };
        Ok(DataInRepr {
            final_,
            ack: bit(flags, A),
            lun: bhs.lun(),
            itt: bhs.itt(),
            ttt: bhs.u32_at(field::TTT),
            exp_cmd_sn: bhs.u32_at(field::EXP_CMD_SN),
            max_cmd_sn: bhs.u32_at(field::MAX_CMD_SN),
            data_sn: bhs.u32_at(field::DATA_SN),
            buffer_offset: bhs.u32_at(field::BUFFER_OFFSET),
            status,
        })
    }

    /// Writes the header; TotalAHSLength and DataSegmentLength are left zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, bhs: &mut Bhs<T>) -> Result<(), WireError> {
        bhs.check_len()?;
        let mut flags = flag(self.final_, F) | flag(self.ack, A);
        if let Some(st) = &self.status {
            if !self.final_ {
                return Err(WireError::BadField("S without F"));
            }
            let (residual_flags, _) = st.residual.encode(OVERFLOW, UNDERFLOW);
            flags |= S | residual_flags;
        }
        bhs.start(Opcode::DATA_IN, false, flags);
        bhs.set_lun(self.lun);
        bhs.set_itt(self.itt);
        bhs.set_u32_at(field::TTT, self.ttt);
        bhs.set_u32_at(field::EXP_CMD_SN, self.exp_cmd_sn);
        bhs.set_u32_at(field::MAX_CMD_SN, self.max_cmd_sn);
        bhs.set_u32_at(field::DATA_SN, self.data_sn);
        bhs.set_u32_at(field::BUFFER_OFFSET, self.buffer_offset);
        if let Some(st) = &self.status {
            bhs.set_byte(field::STATUS, st.status.0);
            bhs.set_u32_at(field::STAT_SN, st.stat_sn);
            bhs.set_u32_at(field::RESIDUAL_COUNT, st.residual.count());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::bhs::BHS_LEN;

    /// Offsets from the Data-Out figure of RFC 7143 §11.7.
    #[test]
    fn data_out_layout() {
        let mut buf = [0xaau8; BHS_LEN];
        DataOutRepr {
            final_: true,
            lun: Lun(0x0102_0304_0506_0708),
            itt: 0x1111_1111,
            ttt: 0x2222_2222,
            exp_stat_sn: 0x4444_4444,
            data_sn: 0x6666_6666,
            buffer_offset: 0x7777_7777,
        }
        .emit(&mut Bhs::new_unchecked(&mut buf[..]))
        .unwrap();
        let mut want = [0u8; BHS_LEN];
        want[0] = 0x05;
        want[1] = 0x80;
        want[8..16].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        want[16..20].fill(0x11);
        want[20..24].fill(0x22);
        want[28..32].fill(0x44);
        want[36..40].fill(0x66);
        want[40..44].fill(0x77);
        assert_eq!(buf, want);
    }

    #[test]
    fn data_in_status_rules() {
        let mut repr = DataInRepr {
            final_: false,
            ack: false,
            lun: Lun(0),
            itt: 1,
            ttt: 0xffff_ffff,
            exp_cmd_sn: 2,
            max_cmd_sn: 3,
            data_sn: 4,
            buffer_offset: 5,
            status: Some(DataInStatus {
                status: ScsiStatus::GOOD,
                stat_sn: 6,
                residual: Residual::Overflow(9),
            }),
        };
        let mut buf = [0u8; BHS_LEN];
        assert_eq!(
            repr.emit(&mut Bhs::new_unchecked(&mut buf[..])),
            Err(WireError::BadField("S without F"))
        );
        repr.final_ = true;
        repr.emit(&mut Bhs::new_unchecked(&mut buf[..])).unwrap();
        assert_eq!(buf[1], 0x80 | 0x04 | 0x01);
        assert_eq!(&buf[24..28], &6u32.to_be_bytes());
        assert_eq!(&buf[44..48], &9u32.to_be_bytes());
        assert_eq!(DataInRepr::parse(&Bhs::new_unchecked(&buf[..])), Ok(repr));
        buf[1] = 0x01; // S without F
        assert_eq!(
            DataInRepr::parse(&Bhs::new_unchecked(&buf[..])),
            Err(WireError::BadField("S without F"))
        );
        // Without S the status fields are reserved and ignored.
        buf[1] = 0x86;
        let parsed = DataInRepr::parse(&Bhs::new_unchecked(&buf[..])).unwrap();
        assert_eq!(parsed.status, None);
    }
}
