//! SCSI Command PDU (RFC 7143 §11.3): task attributes, direction bits and the first 16 CDB bytes.
//! Longer CDBs continue in an Extended CDB AHS (see [`super::ahs`]).
//!
//! Reserved fields (byte 1 bits 3–4, bytes 2–3) are ignored on receipt (RFC 7143 §11.2) and written
//! as zero.

use super::bhs::{field as bhs_field, Bhs, Lun, BHS_LEN, IMMEDIATE_BIT};
use super::bytes::{bit, flag, get, u32_at};
use super::error::WireError;
use super::opcode::Opcode;

mod field {
    pub const EXPECTED_DATA_TRANSFER_LENGTH: usize = 20;
    pub const CMD_SN: usize = 24;
    pub const EXP_STAT_SN: usize = 28;
    pub const CDB: usize = 32;
}

const F: u8 = 0x80;
const R: u8 = 0x40;
const W: u8 = 0x20;
const ATTR_MASK: u8 = 0x07;

/// Bytes of the CDB carried in the BHS.
pub const BHS_CDB_LEN: usize = 16;

wire_enum! {
    /// Task attribute, the ATTR field of a SCSI Command (RFC 7143 §11.3.1, SAM-5).
    pub struct TaskAttribute(u8);
    /// Untagged.
    UNTAGGED = 0,
    /// Simple.
    SIMPLE = 1,
    /// Ordered.
    ORDERED = 2,
    /// Head of queue.
    HEAD_OF_QUEUE = 3,
    /// ACA.
    ACA = 4,
}

/// A SCSI Command (RFC 7143 §11.3). Immediate data, if any, is the data segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ScsiCommandRepr {
    /// I bit.
    pub immediate: bool,
    /// F bit: no unsolicited Data-Out PDUs follow (§11.3.1).
    pub final_: bool,
    /// R bit: data flows target → initiator.
    pub read: bool,
    /// W bit: data flows initiator → target.
    pub write: bool,
    /// ATTR (3 bits).
    pub attr: TaskAttribute,
    /// LUN.
    pub lun: Lun,
    /// ITT.
    pub itt: u32,
    /// Expected Data Transfer Length (§11.3.5): for bidirectional commands, the write length.
    pub expected_data_transfer_length: u32,
    /// CmdSN.
    pub cmd_sn: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
    /// First 16 bytes of the CDB, zero padded (§11.3.6).
    pub cdb: [u8; BHS_CDB_LEN],
}

impl ScsiCommandRepr {
    /// Reads a SCSI Command header.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub fn parse<T: AsRef<[u8]>>(bhs: &Bhs<T>) -> Result<Self, WireError> {
        bhs.expect(Opcode::SCSI_COMMAND)?;
        // One copy of the header, then fields at fixed offsets of a fixed-size array (a
        // target reads one of these per command).
        let h: [u8; BHS_LEN] = bhs.array_at(0);
        let flags = h[bhs_field::FLAGS];
        Ok(ScsiCommandRepr {
            immediate: bit(h[bhs_field::OPCODE], IMMEDIATE_BIT),
            final_: bit(flags, F),
            read: bit(flags, R),
            write: bit(flags, W),
            attr: TaskAttribute(flags & ATTR_MASK),
            lun: Lun(u64::from_be_bytes(get(&h, bhs_field::LUN))),
            itt: u32_at(&h, bhs_field::ITT),
            expected_data_transfer_length: u32_at(&h, field::EXPECTED_DATA_TRANSFER_LENGTH),
            cmd_sn: u32_at(&h, field::CMD_SN),
            exp_stat_sn: u32_at(&h, field::EXP_STAT_SN),
            cdb: get(&h, field::CDB),
        })
    }

    /// Writes the header; TotalAHSLength and DataSegmentLength are left zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, bhs: &mut Bhs<T>) -> Result<(), WireError> {
        bhs.check_len()?;
        if self.attr.0 & !ATTR_MASK != 0 {
            return Err(WireError::BadField("ATTR"));
        }
        let flags = flag(self.final_, F) | flag(self.read, R) | flag(self.write, W) | self.attr.0;
        bhs.start(Opcode::SCSI_COMMAND, self.immediate, flags);
        bhs.set_lun(self.lun);
        bhs.set_itt(self.itt);
        bhs.set_u32_at(
            field::EXPECTED_DATA_TRANSFER_LENGTH,
            self.expected_data_transfer_length,
        );
        bhs.set_u32_at(field::CMD_SN, self.cmd_sn);
        bhs.set_u32_at(field::EXP_STAT_SN, self.exp_stat_sn);
        bhs.set_array_at(field::CDB, self.cdb);
        Ok(())
    }
}
