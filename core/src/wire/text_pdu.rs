//! Text Request (RFC 7143 §11.10) and Text Response (RFC 7143 §11.11) headers. The `key=value`
//! data segment they carry is parsed elsewhere (the text codec).
//!
//! Reserved fields are ignored on receipt (RFC 7143 §11.2) and written as zero.

use super::bhs::{Bhs, Lun};
use super::bytes::{bit, flag};
use super::error::WireError;
use super::opcode::Opcode;

mod field {
    pub const TTT: usize = 20;
    pub const CMD_SN: usize = 24; // request
    pub const EXP_STAT_SN: usize = 28; // request
    pub const STAT_SN: usize = 24; // response
    pub const EXP_CMD_SN: usize = 28; // response
    pub const MAX_CMD_SN: usize = 32; // response
}

const F: u8 = 0x80;
const C: u8 = 0x40;

/// A Text Request (RFC 7143 §11.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TextRequestRepr {
    /// I bit.
    pub immediate: bool,
    /// F bit: last PDU of the request sequence.
    pub final_: bool,
    /// C bit: the text continues in the next PDU (§11.10.2); F must then be 0.
    pub continue_: bool,
    /// LUN or reserved (§11.10).
    pub lun: Lun,
    /// ITT.
    pub itt: u32,
    /// TTT: 0xffffffff, or the TTT of the Text Response being continued (§11.10.4).
    pub ttt: u32,
    /// CmdSN.
    pub cmd_sn: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
}

impl TextRequestRepr {
    /// Reads a Text Request header.
    pub fn parse<T: AsRef<[u8]>>(bhs: &Bhs<T>) -> Result<Self, WireError> {
        bhs.expect(Opcode::TEXT_REQUEST)?;
        let flags = bhs.flags();
        Ok(TextRequestRepr {
            immediate: bhs.immediate(),
            final_: bit(flags, F),
            continue_: bit(flags, C),
            lun: bhs.lun(),
            itt: bhs.itt(),
            ttt: bhs.u32_at(field::TTT),
            cmd_sn: bhs.u32_at(field::CMD_SN),
            exp_stat_sn: bhs.u32_at(field::EXP_STAT_SN),
        })
    }

    /// Writes the header; TotalAHSLength and DataSegmentLength are left zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, bhs: &mut Bhs<T>) -> Result<(), WireError> {
        bhs.check_len()?;
        bhs.start(
            Opcode::TEXT_REQUEST,
            self.immediate,
            flag(self.final_, F) | flag(self.continue_, C),
        );
        bhs.set_lun(self.lun);
        bhs.set_itt(self.itt);
        bhs.set_u32_at(field::TTT, self.ttt);
        bhs.set_u32_at(field::CMD_SN, self.cmd_sn);
        bhs.set_u32_at(field::EXP_STAT_SN, self.exp_stat_sn);
        Ok(())
    }
}

/// A Text Response (RFC 7143 §11.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TextResponseRepr {
    /// F bit: the response is complete.
    pub final_: bool,
    /// C bit: the text continues in the next PDU.
    pub continue_: bool,
    /// LUN or reserved.
    pub lun: Lun,
    /// ITT echoed from the request.
    pub itt: u32,
    /// TTT: a tag for the initiator to continue with, or 0xffffffff when final (§11.11.4).
    pub ttt: u32,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
}

impl TextResponseRepr {
    /// Reads a Text Response header.
    pub fn parse<T: AsRef<[u8]>>(bhs: &Bhs<T>) -> Result<Self, WireError> {
        bhs.expect(Opcode::TEXT_RESPONSE)?;
        let flags = bhs.flags();
        Ok(TextResponseRepr {
            final_: bit(flags, F),
            continue_: bit(flags, C),
            lun: bhs.lun(),
            itt: bhs.itt(),
            ttt: bhs.u32_at(field::TTT),
            stat_sn: bhs.u32_at(field::STAT_SN),
            exp_cmd_sn: bhs.u32_at(field::EXP_CMD_SN),
            max_cmd_sn: bhs.u32_at(field::MAX_CMD_SN),
        })
    }

    /// Writes the header; TotalAHSLength and DataSegmentLength are left zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, bhs: &mut Bhs<T>) -> Result<(), WireError> {
        bhs.check_len()?;
        bhs.start(
            Opcode::TEXT_RESPONSE,
            false,
            flag(self.final_, F) | flag(self.continue_, C),
        );
        bhs.set_lun(self.lun);
        bhs.set_itt(self.itt);
        bhs.set_u32_at(field::TTT, self.ttt);
        bhs.set_u32_at(field::STAT_SN, self.stat_sn);
        bhs.set_u32_at(field::EXP_CMD_SN, self.exp_cmd_sn);
        bhs.set_u32_at(field::MAX_CMD_SN, self.max_cmd_sn);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::bhs::BHS_LEN;

    /// Offsets from the figures of RFC 7143 §11.10 and §11.11.
    #[test]
    fn layout() {
        let mut buf = [0xaau8; BHS_LEN];
        TextRequestRepr {
            immediate: true,
            final_: false,
            continue_: true,
            lun: Lun(0x0102_0304_0506_0708),
            itt: 0x1111_1111,
            ttt: 0x2222_2222,
            cmd_sn: 0x3333_3333,
            exp_stat_sn: 0x4444_4444,
        }
        .emit(&mut Bhs::new_unchecked(&mut buf[..]))
        .unwrap();
        let mut want = [0u8; BHS_LEN];
        want[0] = 0x44;
        want[1] = 0x40;
        want[8..16].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        want[16..20].fill(0x11);
        want[20..24].fill(0x22);
        want[24..28].fill(0x33);
        want[28..32].fill(0x44);
        assert_eq!(buf, want);

        TextResponseRepr {
            final_: true,
            continue_: false,
            lun: Lun(0),
            itt: 0x1111_1111,
            ttt: 0xffff_ffff,
            stat_sn: 0x3333_3333,
            exp_cmd_sn: 0x4444_4444,
            max_cmd_sn: 0x5555_5555,
        }
        .emit(&mut Bhs::new_unchecked(&mut buf[..]))
        .unwrap();
        let mut want = [0u8; BHS_LEN];
        want[0] = 0x24;
        want[1] = 0x80;
        want[16..20].fill(0x11);
        want[20..24].fill(0xff);
        want[24..28].fill(0x33);
        want[28..32].fill(0x44);
        want[32..36].fill(0x55);
        assert_eq!(buf, want);
    }
}
