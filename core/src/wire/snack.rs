//! SNACK Request (RFC 7143 §11.16): the initiator asks for retransmission or acknowledges data.
//!
//! Reserved fields are ignored on receipt (RFC 7143 §11.2) and written as zero.

use super::bhs::{Bhs, Lun, FINAL_BIT};
use super::error::WireError;
use super::opcode::Opcode;

mod field {
    pub const TTT: usize = 20;
    pub const EXP_STAT_SN: usize = 28;
    pub const BEG_RUN: usize = 40;
    pub const RUN_LENGTH: usize = 44;
}

const TYPE_MASK: u8 = 0x0f;

wire_enum! {
    /// SNACK Type (RFC 7143 §11.16.1).
    pub struct SnackType(u8);
    /// Data/R2T SNACK: resend Data-In or R2T PDUs.
    DATA_R2T = 0,
    /// Status SNACK: resend responses.
    STATUS = 1,
    /// DataACK: positive acknowledgement of Data-In.
    DATA_ACK = 2,
    /// R-Data SNACK: resend all Data-In and the response, resegmented.
    R_DATA = 3,
}

/// A SNACK Request (RFC 7143 §11.16). It has no data segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SnackRepr {
    /// Type (4 bits).
    pub snack_type: SnackType,
    /// LUN (DataACK: copied from the Data-In) or reserved.
    pub lun: Lun,
    /// ITT of the task, or 0xffffffff for a Status SNACK.
    pub itt: u32,
    /// TTT (DataACK), SNACK Tag (R-Data) or 0xffffffff (§11.16.3).
    pub ttt: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
    /// BegRun: first DataSN, R2TSN or StatSN to resend or acknowledge.
    pub beg_run: u32,
    /// RunLength: how many; 0 means "all from BegRun".
    pub run_length: u32,
}

impl SnackRepr {
    /// Reads a SNACK Request header.
    pub fn parse<T: AsRef<[u8]>>(bhs: &Bhs<T>) -> Result<Self, WireError> {
        bhs.expect(Opcode::SNACK_REQUEST)?;
        Ok(SnackRepr {
            snack_type: SnackType(bhs.flags() & TYPE_MASK),
            lun: bhs.lun(),
            itt: bhs.itt(),
            ttt: bhs.u32_at(field::TTT),
            exp_stat_sn: bhs.u32_at(field::EXP_STAT_SN),
            beg_run: bhs.u32_at(field::BEG_RUN),
            run_length: bhs.u32_at(field::RUN_LENGTH),
        })
    }

    /// Writes the header; TotalAHSLength and DataSegmentLength are left zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, bhs: &mut Bhs<T>) -> Result<(), WireError> {
        bhs.check_len()?;
        if self.snack_type.0 & !TYPE_MASK != 0 {
            return Err(WireError::BadField("Type"));
        }
        bhs.start(Opcode::SNACK_REQUEST, false, FINAL_BIT | self.snack_type.0);
        bhs.set_lun(self.lun);
        bhs.set_itt(self.itt);
        bhs.set_u32_at(field::TTT, self.ttt);
        bhs.set_u32_at(field::EXP_STAT_SN, self.exp_stat_sn);
        bhs.set_u32_at(field::BEG_RUN, self.beg_run);
        bhs.set_u32_at(field::RUN_LENGTH, self.run_length);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::bhs::BHS_LEN;

    /// Offsets from the figure of RFC 7143 §11.16.
    #[test]
    fn layout() {
        let mut buf = [0xaau8; BHS_LEN];
        SnackRepr {
            snack_type: SnackType::DATA_ACK,
            lun: Lun(0x0102_0304_0506_0708),
            itt: 0x1111_1111,
            ttt: 0x2222_2222,
            exp_stat_sn: 0x4444_4444,
            beg_run: 0x7777_7777,
            run_length: 0x8888_8888,
        }
        .emit(&mut Bhs::new_unchecked(&mut buf[..]))
        .unwrap();
        let mut want = [0u8; BHS_LEN];
        want[0] = 0x10;
        want[1] = 0x82;
        want[8..16].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        want[16..20].fill(0x11);
        want[20..24].fill(0x22);
        want[28..32].fill(0x44);
        want[40..44].fill(0x77);
        want[44..48].fill(0x88);
        assert_eq!(buf, want);
    }
}
