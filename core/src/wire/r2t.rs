//! Ready To Transfer (R2T, RFC 7143 §11.8): the target asks for a range of write data.
//!
//! Reserved fields are ignored on receipt (RFC 7143 §11.2) and written as zero.

use super::bhs::{Bhs, Lun, FINAL_BIT};
use super::error::WireError;
use super::opcode::Opcode;

mod field {
    pub const TTT: usize = 20;
    pub const STAT_SN: usize = 24;
    pub const EXP_CMD_SN: usize = 28;
    pub const MAX_CMD_SN: usize = 32;
    pub const R2T_SN: usize = 36;
    pub const BUFFER_OFFSET: usize = 40;
    pub const DESIRED_DATA_TRANSFER_LENGTH: usize = 44;
}

/// An R2T (RFC 7143 §11.8). It has no data segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct R2tRepr {
    /// LUN of the command.
    pub lun: Lun,
    /// ITT of the command.
    pub itt: u32,
    /// TTT the Data-Out PDUs answering this R2T carry.
    pub ttt: u32,
    /// StatSN (the next StatSN; not advanced by R2T, §11.8.2).
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// R2TSN (§11.8.3).
    pub r2t_sn: u32,
    /// Buffer Offset of the requested range.
    pub buffer_offset: u32,
    /// Desired Data Transfer Length (§11.8.4): at most MaxBurstLength.
    pub desired_data_transfer_length: u32,
}

impl R2tRepr {
    /// Reads an R2T header.
    pub fn parse<T: AsRef<[u8]>>(bhs: &Bhs<T>) -> Result<Self, WireError> {
        bhs.expect(Opcode::R2T)?;
        Ok(R2tRepr {
            lun: bhs.lun(),
            itt: bhs.itt(),
            ttt: bhs.u32_at(field::TTT),
            stat_sn: bhs.u32_at(field::STAT_SN),
            exp_cmd_sn: bhs.u32_at(field::EXP_CMD_SN),
            max_cmd_sn: bhs.u32_at(field::MAX_CMD_SN),
            r2t_sn: bhs.u32_at(field::R2T_SN),
            buffer_offset: bhs.u32_at(field::BUFFER_OFFSET),
            desired_data_transfer_length: bhs.u32_at(field::DESIRED_DATA_TRANSFER_LENGTH),
        })
    }

    /// Writes the header; TotalAHSLength and DataSegmentLength are left zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, bhs: &mut Bhs<T>) -> Result<(), WireError> {
        bhs.check_len()?;
        bhs.start(Opcode::R2T, false, FINAL_BIT);
        bhs.set_lun(self.lun);
        bhs.set_itt(self.itt);
        bhs.set_u32_at(field::TTT, self.ttt);
        bhs.set_u32_at(field::STAT_SN, self.stat_sn);
        bhs.set_u32_at(field::EXP_CMD_SN, self.exp_cmd_sn);
        bhs.set_u32_at(field::MAX_CMD_SN, self.max_cmd_sn);
        bhs.set_u32_at(field::R2T_SN, self.r2t_sn);
        bhs.set_u32_at(field::BUFFER_OFFSET, self.buffer_offset);
        bhs.set_u32_at(
            field::DESIRED_DATA_TRANSFER_LENGTH,
            self.desired_data_transfer_length,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::bhs::BHS_LEN;

    /// Offsets from the figure of RFC 7143 §11.8.
    #[test]
    fn layout() {
        let mut buf = [0xaau8; BHS_LEN];
        R2tRepr {
            lun: Lun(0x0102_0304_0506_0708),
            itt: 0x1111_1111,
            ttt: 0x2222_2222,
            stat_sn: 0x3333_3333,
            exp_cmd_sn: 0x4444_4444,
            max_cmd_sn: 0x5555_5555,
            r2t_sn: 0x6666_6666,
            buffer_offset: 0x7777_7777,
            desired_data_transfer_length: 0x8888_8888,
        }
        .emit(&mut Bhs::new_unchecked(&mut buf[..]))
        .unwrap();
        let mut want = [0u8; BHS_LEN];
        want[0] = 0x31;
        want[1] = 0x80;
        want[8..16].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        for (i, b) in [0x11u8, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]
            .iter()
            .enumerate()
        {
            want[16 + 4 * i..20 + 4 * i].fill(*b);
        }
        assert_eq!(buf, want);
    }
}
