//! NOP-Out (RFC 7143 §11.18) and NOP-In (RFC 7143 §11.19): pings and keep-alives.
//!
//! Reserved fields are ignored on receipt, as RFC 7143 §11.2 asks of receivers ("any compliant
//! receiver MUST ignore any bit not defined and all reserved fields") and written as zero.

use super::bhs::{Bhs, Lun, FINAL_BIT};
use super::error::WireError;
use super::opcode::Opcode;

mod field {
    pub const TTT: usize = 20;
    pub const CMD_SN: usize = 24; // NOP-Out
    pub const EXP_STAT_SN: usize = 28; // NOP-Out
    pub const STAT_SN: usize = 24; // NOP-In
    pub const EXP_CMD_SN: usize = 28; // NOP-In
    pub const MAX_CMD_SN: usize = 32; // NOP-In
}

/// A NOP-Out (RFC 7143 §11.18). The ping data, if any, is the data segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NopOutRepr {
    /// I bit; a NOP-Out with ITT 0xffffffff must be immediate (§11.18).
    pub immediate: bool,
    /// LUN (meaningful when echoing a NOP-In with a valid TTT, §11.18.2).
    pub lun: Lun,
    /// ITT, or 0xffffffff when answering a NOP-In and no response is wanted (§11.18.1).
    pub itt: u32,
    /// TTT echoed from a NOP-In, else 0xffffffff (§11.18.2).
    pub ttt: u32,
    /// CmdSN.
    pub cmd_sn: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
}

impl NopOutRepr {
    /// Reads a NOP-Out header.
    pub fn parse<T: AsRef<[u8]>>(bhs: &Bhs<T>) -> Result<Self, WireError> {
        bhs.expect(Opcode::NOP_OUT)?;
        Ok(NopOutRepr {
            immediate: bhs.immediate(),
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
        bhs.start(Opcode::NOP_OUT, self.immediate, FINAL_BIT);
        bhs.set_lun(self.lun);
        bhs.set_itt(self.itt);
        bhs.set_u32_at(field::TTT, self.ttt);
        bhs.set_u32_at(field::CMD_SN, self.cmd_sn);
        bhs.set_u32_at(field::EXP_STAT_SN, self.exp_stat_sn);
        Ok(())
    }
}

/// A NOP-In (RFC 7143 §11.19). The ping data, if any, is the data segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NopInRepr {
    /// LUN (valid when the TTT is, §11.19.2).
    pub lun: Lun,
    /// ITT of the NOP-Out answered, or 0xffffffff for a target-initiated ping.
    pub itt: u32,
    /// TTT the initiator must echo, or 0xffffffff if no answer is wanted.
    pub ttt: u32,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
}

impl NopInRepr {
    /// Reads a NOP-In header.
    pub fn parse<T: AsRef<[u8]>>(bhs: &Bhs<T>) -> Result<Self, WireError> {
        bhs.expect(Opcode::NOP_IN)?;
        Ok(NopInRepr {
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
        bhs.start(Opcode::NOP_IN, false, FINAL_BIT);
        bhs.set_lun(self.lun);
        bhs.set_itt(self.itt);
        bhs.set_u32_at(field::TTT, self.ttt);
        bhs.set_u32_at(field::STAT_SN, self.stat_sn);
        bhs.set_u32_at(field::EXP_CMD_SN, self.exp_cmd_sn);
        bhs.set_u32_at(field::MAX_CMD_SN, self.max_cmd_sn);
        Ok(())
    }
}
