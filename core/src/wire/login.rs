//! Login Request (RFC 7143 §11.12) and Login Response (RFC 7143 §11.13): stage transitions,
//! versions, ISID/TSIH and the login status.
//!
//! Reserved fields are ignored on receipt (RFC 7143 §11.2) and written as zero. The I bit of a
//! Login Request is always written as 1 (§11.12) and not checked on receipt.

use super::bhs::Bhs;
use super::bytes::{bit, flag};
use super::error::WireError;
use super::login_status::{LoginStatus, StatusClass};
use super::opcode::Opcode;

mod field {
    pub const VERSION_MAX: usize = 2;
    pub const VERSION_MIN: usize = 3; // request: Version-min; response: Version-active
    pub const ISID: usize = 8;
    pub const TSIH: usize = 14;
    pub const CID: usize = 20; // request
    pub const CMD_SN: usize = 24; // request
    pub const EXP_STAT_SN: usize = 28; // request
    pub const STAT_SN: usize = 24; // response
    pub const EXP_CMD_SN: usize = 28; // response
    pub const MAX_CMD_SN: usize = 32; // response
    pub const STATUS_CLASS: usize = 36; // response
    pub const STATUS_DETAIL: usize = 37; // response
}

const T: u8 = 0x80;
const C: u8 = 0x40;
const STAGE_MASK: u8 = 0x03;

/// The only version RFC 7143 defines (Version-max, Version-min and Version-active, §11.12.4).
pub const ISCSI_VERSION: u8 = 0x00;

wire_enum! {
    /// A login stage, the CSG and NSG fields (RFC 7143 §11.12.3); 2 is reserved.
    pub struct Stage(u8);
    /// SecurityNegotiation.
    SECURITY = 0,
    /// LoginOperationalNegotiation.
    OPERATIONAL = 1,
    /// FullFeaturePhase (only as NSG).
    FULL_FEATURE = 3,
}

/// The Initiator Session ID (RFC 7143 §11.12.5): type/qualifier fields the initiator chooses.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Isid(pub [u8; 6]);

impl core::fmt::Debug for Isid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Isid(0x")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// Byte 1 of both login PDUs.
fn stage_flags(transit: bool, continue_: bool, csg: Stage, nsg: Stage) -> Result<u8, WireError> {
    if csg.0 & !STAGE_MASK != 0 {
        return Err(WireError::BadField("CSG"));
    }
    if nsg.0 & !STAGE_MASK != 0 {
        return Err(WireError::BadField("NSG"));
    }
    Ok(flag(transit, T) | flag(continue_, C) | csg.0.wrapping_shl(2) | nsg.0)
}

fn csg(flags: u8) -> Stage {
    Stage(flags.wrapping_shr(2) & STAGE_MASK)
}

fn nsg(flags: u8) -> Stage {
    Stage(flags & STAGE_MASK)
}

/// A Login Request (RFC 7143 §11.12). The login keys are the data segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LoginRequestRepr {
    /// T bit: the initiator is ready to move to `nsg`.
    pub transit: bool,
    /// C bit: the text continues in the next PDU (§11.12.2); T must then be 0.
    pub continue_: bool,
    /// CSG: current stage.
    pub csg: Stage,
    /// NSG: next stage (meaningful when `transit`).
    pub nsg: Stage,
    /// Version-max.
    pub version_max: u8,
    /// Version-min.
    pub version_min: u8,
    /// ISID.
    pub isid: Isid,
    /// TSIH: 0 for a new session, else the session to add a connection to.
    pub tsih: u16,
    /// ITT.
    pub itt: u32,
    /// CID: connection ID.
    pub cid: u16,
    /// CmdSN.
    pub cmd_sn: u32,
    /// ExpStatSN (or reserved on the first Login Request of a connection, §11.12.8).
    pub exp_stat_sn: u32,
}

impl LoginRequestRepr {
    /// Reads a Login Request header.
    pub fn parse<T: AsRef<[u8]>>(bhs: &Bhs<T>) -> Result<Self, WireError> {
        bhs.expect(Opcode::LOGIN_REQUEST)?;
        let flags = bhs.flags();
        Ok(LoginRequestRepr {
            transit: bit(flags, T),
            continue_: bit(flags, C),
            csg: csg(flags),
            nsg: nsg(flags),
            version_max: bhs.byte(field::VERSION_MAX),
            version_min: bhs.byte(field::VERSION_MIN),
            isid: Isid(bhs.array_at(field::ISID)),
            tsih: bhs.u16_at(field::TSIH),
            itt: bhs.itt(),
            cid: bhs.u16_at(field::CID),
            cmd_sn: bhs.u32_at(field::CMD_SN),
            exp_stat_sn: bhs.u32_at(field::EXP_STAT_SN),
        })
    }

    /// Writes the header; TotalAHSLength and DataSegmentLength are left zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, bhs: &mut Bhs<T>) -> Result<(), WireError> {
        bhs.check_len()?;
        let flags = stage_flags(self.transit, self.continue_, self.csg, self.nsg)?;
        bhs.start(Opcode::LOGIN_REQUEST, true, flags);
        bhs.set_byte(field::VERSION_MAX, self.version_max);
        bhs.set_byte(field::VERSION_MIN, self.version_min);
        bhs.set_array_at(field::ISID, self.isid.0);
        bhs.set_u16_at(field::TSIH, self.tsih);
        bhs.set_itt(self.itt);
        bhs.set_u16_at(field::CID, self.cid);
        bhs.set_u32_at(field::CMD_SN, self.cmd_sn);
        bhs.set_u32_at(field::EXP_STAT_SN, self.exp_stat_sn);
        Ok(())
    }
}

/// A Login Response (RFC 7143 §11.13). The login keys are the data segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LoginResponseRepr {
    /// T bit: the target agrees to move to `nsg`.
    pub transit: bool,
    /// C bit: the text continues in the next PDU.
    pub continue_: bool,
    /// CSG.
    pub csg: Stage,
    /// NSG.
    pub nsg: Stage,
    /// Version-max.
    pub version_max: u8,
    /// Version-active.
    pub version_active: u8,
    /// ISID echoed from the request.
    pub isid: Isid,
    /// TSIH: set by the target on the final response of a leading login (§11.13.4).
    pub tsih: u16,
    /// ITT echoed from the request.
    pub itt: u32,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// Status-Class and Status-Detail.
    pub status: LoginStatus,
}

impl LoginResponseRepr {
    /// Reads a Login Response header.
    pub fn parse<T: AsRef<[u8]>>(bhs: &Bhs<T>) -> Result<Self, WireError> {
        bhs.expect(Opcode::LOGIN_RESPONSE)?;
        let flags = bhs.flags();
        Ok(LoginResponseRepr {
            transit: bit(flags, T),
            continue_: bit(flags, C),
            csg: csg(flags),
            nsg: nsg(flags),
            version_max: bhs.byte(field::VERSION_MAX),
            version_active: bhs.byte(field::VERSION_MIN),
            isid: Isid(bhs.array_at(field::ISID)),
            tsih: bhs.u16_at(field::TSIH),
            itt: bhs.itt(),
            stat_sn: bhs.u32_at(field::STAT_SN),
            exp_cmd_sn: bhs.u32_at(field::EXP_CMD_SN),
            max_cmd_sn: bhs.u32_at(field::MAX_CMD_SN),
            status: LoginStatus::new(
                StatusClass(bhs.byte(field::STATUS_CLASS)),
                bhs.byte(field::STATUS_DETAIL),
            ),
        })
    }

    /// Writes the header; TotalAHSLength and DataSegmentLength are left zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, bhs: &mut Bhs<T>) -> Result<(), WireError> {
        bhs.check_len()?;
        let flags = stage_flags(self.transit, self.continue_, self.csg, self.nsg)?;
        bhs.start(Opcode::LOGIN_RESPONSE, false, flags);
        bhs.set_byte(field::VERSION_MAX, self.version_max);
        bhs.set_byte(field::VERSION_MIN, self.version_active);
        bhs.set_array_at(field::ISID, self.isid.0);
        bhs.set_u16_at(field::TSIH, self.tsih);
        bhs.set_itt(self.itt);
        bhs.set_u32_at(field::STAT_SN, self.stat_sn);
        bhs.set_u32_at(field::EXP_CMD_SN, self.exp_cmd_sn);
        bhs.set_u32_at(field::MAX_CMD_SN, self.max_cmd_sn);
        bhs.set_byte(field::STATUS_CLASS, self.status.class.0);
        bhs.set_byte(field::STATUS_DETAIL, self.status.detail);
        Ok(())
    }
}
