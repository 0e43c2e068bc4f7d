//! The one table of supported commands (SPC-4 Annex D, SBC-3 §5): operation code, service
//! action, CDB USAGE DATA (SPC-4 §6.35.3) and access class. Dispatch, CDB reserved-bit checks,
//! unit-attention and reservation rules and REPORT SUPPORTED OPERATION CODES all read it.

use super::sense::Sense;

scsi_enum! {
    /// SCSI OPERATION CODE (SPC-4 Annex D.3).
    pub struct Opcode(u8) {
        TEST_UNIT_READY = 0x00,
        REQUEST_SENSE = 0x03,
        READ_6 = 0x08,
        WRITE_6 = 0x0a,
        INQUIRY = 0x12,
        MODE_SELECT_6 = 0x15,
        RESERVE_6 = 0x16,
        RELEASE_6 = 0x17,
        MODE_SENSE_6 = 0x1a,
        START_STOP_UNIT = 0x1b,
        PREVENT_ALLOW_MEDIUM_REMOVAL = 0x1e,
        READ_CAPACITY_10 = 0x25,
        READ_10 = 0x28,
        WRITE_10 = 0x2a,
        WRITE_AND_VERIFY_10 = 0x2e,
        VERIFY_10 = 0x2f,
        PRE_FETCH_10 = 0x34,
        SYNCHRONIZE_CACHE_10 = 0x35,
        READ_DEFECT_DATA_10 = 0x37,
        WRITE_SAME_10 = 0x41,
        UNMAP = 0x42,
        SANITIZE = 0x48,
        MODE_SELECT_10 = 0x55,
        MODE_SENSE_10 = 0x5a,
        PERSISTENT_RESERVE_IN = 0x5e,
        PERSISTENT_RESERVE_OUT = 0x5f,
        EXTENDED_COPY = 0x83,
        RECEIVE_COPY_RESULTS = 0x84,
        READ_16 = 0x88,
        COMPARE_AND_WRITE = 0x89,
        WRITE_16 = 0x8a,
        ORWRITE_16 = 0x8b,
        WRITE_AND_VERIFY_16 = 0x8e,
        VERIFY_16 = 0x8f,
        PRE_FETCH_16 = 0x90,
        SYNCHRONIZE_CACHE_16 = 0x91,
        WRITE_SAME_16 = 0x93,
        WRITE_ATOMIC_16 = 0x9c,
        SERVICE_ACTION_IN_16 = 0x9e,
        REPORT_LUNS = 0xa0,
        MAINTENANCE_IN = 0xa3,
        READ_12 = 0xa8,
        WRITE_12 = 0xaa,
        WRITE_AND_VERIFY_12 = 0xae,
        VERIFY_12 = 0xaf,
        READ_DEFECT_DATA_12 = 0xb7,
    }
}

/// Service actions of SERVICE ACTION IN(16) (SBC-3 §5.16, §5.5).
pub(crate) const SAI_READ_CAPACITY_16: u8 = 0x10;
pub(crate) const SAI_GET_LBA_STATUS: u8 = 0x12;
/// Service actions of MAINTENANCE IN (SPC-4 §6.36, §6.35).
pub(crate) const MI_REPORT_TARGET_PORT_GROUPS: u8 = 0x0a;
pub(crate) const MI_REPORT_SUPPORTED_OPERATION_CODES: u8 = 0x0c;
/// Service actions of SANITIZE (SBC-3 §5.19).
pub(crate) const SANITIZE_OVERWRITE: u8 = 0x01;
pub(crate) const SANITIZE_BLOCK_ERASE: u8 = 0x02;
pub(crate) const SANITIZE_CRYPTO_ERASE: u8 = 0x03;
pub(crate) const SANITIZE_EXIT_FAILURE_MODE: u8 = 0x1f;

/// What a table entry runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) enum Cmd {
    TestUnitReady,
    RequestSense,
    Inquiry,
    ModeSense6,
    ModeSense10,
    /// MODE SELECT(6/10).
    ModeSelect,
    ReadCapacity10,
    ReadCapacity16,
    ReportLuns,
    /// READ(6/10/12/16).
    Read,
    /// WRITE(6/10/12/16).
    Write,
    /// WRITE AND VERIFY(10/12/16).
    WriteAndVerify,
    OrWrite,
    WriteAtomic,
    /// VERIFY(10/12/16).
    Verify,
    /// SYNCHRONIZE CACHE(10/16).
    SyncCache,
    /// PRE-FETCH(10/16).
    PreFetch,
    CompareAndWrite,
    /// WRITE SAME(10/16).
    WriteSame,
    Unmap,
    GetLbaStatus,
    StartStopUnit,
    PreventAllow,
    Reserve6,
    Release6,
    /// READ DEFECT DATA(10/12).
    ReadDefectData,
    ReportTargetPortGroups,
    ReportSupportedOpcodes,
    /// PERSISTENT RESERVE IN (service action in the CDB).
    PrIn,
    /// PERSISTENT RESERVE OUT (service action in the CDB).
    PrOut,
    /// SANITIZE (service action in the CDB).
    Sanitize,
    /// EXTENDED COPY (LID1).
    ExtendedCopy,
    /// RECEIVE COPY RESULTS (service action in the CDB).
    ReceiveCopyResults,
}

/// How the command is treated under a reservation held by another I_T nexus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Never conflicts (INQUIRY, REPORT LUNS, REQUEST SENSE, PERSISTENT RESERVE IN, ...).
    Always,
    /// Reports status only (TEST UNIT READY, READ CAPACITY): allowed under persistent
    /// reservations (SPC-4 table 46), conflicts with RESERVE(6).
    Status,
    /// Reads the medium: allowed for non-registrants only under the write-exclusive types.
    Read,
    /// Changes the medium or state: conflicts with every reservation held by another nexus.
    Write,
}

/// What the device must offer for the command to be supported (and reported).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Needs {
    Nothing,
    /// Thin provisioning (UNMAP).
    Thin,
    /// A scratch buffer of at least one block (WRITE SAME).
    ScratchBlock,
    /// A scratch buffer of at least two blocks (COMPARE AND WRITE).
    ScratchTwoBlocks,
    /// Atomic writes enabled in the configuration and a scratch buffer of one block.
    Atomic,
}

/// One supported command.
#[derive(Debug)]
pub(crate) struct CmdInfo {
    pub op: Opcode,
    /// Service action in byte 1 bits 4–0, for opcodes that have one.
    pub sa: Option<u8>,
    pub cmd: Cmd,
    /// CDB USAGE DATA: opcode, then a mask of usable bits per byte (the service-action byte
    /// holds the service action); its length is the CDB length.
    pub usage: &'static [u8],
    /// [`cdb::allowed_bits`] of `usage`.
    pub allowed: u128,
    /// Reported and handled even while a unit attention is pending (SPC-4 §5.14).
    pub ua_exempt: bool,
    pub access: Access,
    pub needs: Needs,
    /// Accesses the medium: refused while a removable medium is ejected (NOT READY) or in
    /// sanitize failure mode.
    pub medium: bool,
}

const fn e(op: Opcode, sa: Option<u8>, cmd: Cmd, usage: &'static [u8], access: Access) -> CmdInfo {
    CmdInfo {
        op,
        sa,
        cmd,
        usage,
        allowed: super::cdb::allowed_bits(usage),
        ua_exempt: false,
        access,
        needs: Needs::Nothing,
        medium: false,
    }
}

impl CmdInfo {
    const fn ua_exempt(mut self) -> Self {
        self.ua_exempt = true;
        self
    }
    const fn medium(mut self) -> Self {
        self.medium = true;
        self
    }
    const fn needs(mut self, n: Needs) -> Self {
        self.needs = n;
        self
    }
}

/// READ byte 1: DPO, FUA, RARC, FUA_NV (RDPROTECT unsupported: no protection information).
const RD: u8 = 0x1e;
/// WRITE byte 1: DPO, FUA, FUA_NV.
const WR: u8 = 0x1a;
/// VERIFY and WRITE AND VERIFY byte 1: DPO, BYTCHK (2 bits).
const VF: u8 = 0x16;
/// SYNCHRONIZE CACHE byte 1: IMMED, and the obsolete SYNC_NV some initiators still set.
const SC: u8 = 0x06;
/// GROUP NUMBER.
const GRP: u8 = 0x1f;
const FF: u8 = 0xff;

use Access::{Always, Read, Status, Write};
use Cmd as C;
use Opcode as O;

/// Every supported command, sorted by opcode then service action.
pub(crate) static COMMANDS: &[CmdInfo] = TABLE;

/// `FIRST_OF_OPCODE` value of an opcode with no entry (the table is shorter than this).
const NONE: u8 = u8::MAX;

/// For each opcode, the index in [`COMMANDS`] of its first entry: `lookup` costs the entries
/// of one opcode, not a walk of the table.
static FIRST_OF_OPCODE: [u8; 256] = first_of_opcode();

// Const context: a bad index or overflow fails the build, never a command.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const fn first_of_opcode() -> [u8; 256] {
    assert!(TABLE.len() < NONE as usize);
    let mut first = [NONE; 256];
    let mut i = TABLE.len();
    while i > 0 {
        i -= 1;
        if i > 0 {
            // Sorted by opcode (then service action), so each opcode's entries are adjacent.
            assert!(TABLE[i - 1].op.0 <= TABLE[i].op.0);
        }
        first[TABLE[i].op.0 as usize] = i as u8;
    }
    first
}

#[rustfmt::skip]
const TABLE: &[CmdInfo] = &[
    e(O::TEST_UNIT_READY, None, C::TestUnitReady, &[0x00, 0, 0, 0, 0, 0], Status).medium(),
    e(O::REQUEST_SENSE, None, C::RequestSense, &[0x03, 0x01, 0, 0, FF, 0], Always).ua_exempt(),
    e(O::READ_6, None, C::Read, &[0x08, 0x1f, FF, FF, FF, 0], Read).medium(),
    e(O::WRITE_6, None, C::Write, &[0x0a, 0x1f, FF, FF, FF, 0], Write).medium(),
    e(O::INQUIRY, None, C::Inquiry, &[0x12, 0x01, FF, FF, FF, 0], Always).ua_exempt(),
    #[cfg(feature = "scsi-full")]
    e(O::MODE_SELECT_6, None, C::ModeSelect, &[0x15, 0x11, 0, 0, FF, 0], Write).needs(Needs::ScratchBlock),
    #[cfg(feature = "scsi-full")]
    e(O::RESERVE_6, None, C::Reserve6, &[0x16, 0, 0, 0, 0, 0], Write),
    #[cfg(feature = "scsi-full")]
    e(O::RELEASE_6, None, C::Release6, &[0x17, 0, 0, 0, 0, 0], Always),
    e(O::MODE_SENSE_6, None, C::ModeSense6, &[0x1a, 0x08, FF, FF, FF, 0], Write),
    e(O::START_STOP_UNIT, None, C::StartStopUnit, &[0x1b, 0x01, 0, 0x0f, 0xf7, 0], Write),
    e(O::PREVENT_ALLOW_MEDIUM_REMOVAL, None, C::PreventAllow, &[0x1e, 0, 0, 0, 0x03, 0], Write),
    e(O::READ_CAPACITY_10, None, C::ReadCapacity10, &[0x25, 0, FF, FF, FF, FF, 0, 0, 0x01, 0], Status).medium(),
    e(O::READ_10, None, C::Read, &[0x28, RD, FF, FF, FF, FF, GRP, FF, FF, 0], Read).medium(),
    e(O::WRITE_10, None, C::Write, &[0x2a, WR, FF, FF, FF, FF, GRP, FF, FF, 0], Write).medium(),
    e(O::WRITE_AND_VERIFY_10, None, C::WriteAndVerify, &[0x2e, VF, FF, FF, FF, FF, GRP, FF, FF, 0], Write).medium(),
    #[cfg(feature = "scsi-full")]
    e(O::VERIFY_10, None, C::Verify, &[0x2f, VF, FF, FF, FF, FF, GRP, FF, FF, 0], Read).medium(),
    e(O::PRE_FETCH_10, None, C::PreFetch, &[0x34, 0x02, FF, FF, FF, FF, GRP, FF, FF, 0], Read).medium(),
    e(O::SYNCHRONIZE_CACHE_10, None, C::SyncCache, &[0x35, SC, FF, FF, FF, FF, GRP, FF, FF, 0], Write).medium(),
    #[cfg(feature = "scsi-full")]
    e(O::READ_DEFECT_DATA_10, None, C::ReadDefectData, &[0x37, 0, 0x1f, 0, 0, 0, 0, FF, FF, 0], Read),
    #[cfg(feature = "scsi-full")]
    e(O::WRITE_SAME_10, None, C::WriteSame, &[0x41, 0x08, FF, FF, FF, FF, GRP, FF, FF, 0], Write).medium().needs(Needs::ScratchBlock),
    #[cfg(feature = "scsi-full")]
    e(O::UNMAP, None, C::Unmap, &[0x42, 0, 0, 0, 0, 0, GRP, FF, FF, 0], Write).medium().needs(Needs::Thin),
    #[cfg(feature = "scsi-full")]
    e(O::SANITIZE, Some(SANITIZE_OVERWRITE), C::Sanitize, &[0x48, 0xa0 | SANITIZE_OVERWRITE, 0, 0, 0, 0, 0, FF, FF, 0], Write).medium().needs(Needs::ScratchBlock),
    #[cfg(feature = "scsi-full")]
    e(O::SANITIZE, Some(SANITIZE_BLOCK_ERASE), C::Sanitize, &[0x48, 0xa0 | SANITIZE_BLOCK_ERASE, 0, 0, 0, 0, 0, FF, FF, 0], Write).medium().needs(Needs::Thin),
    #[cfg(feature = "scsi-full")]
    e(O::SANITIZE, Some(SANITIZE_CRYPTO_ERASE), C::Sanitize, &[0x48, 0xa0 | SANITIZE_CRYPTO_ERASE, 0, 0, 0, 0, 0, FF, FF, 0], Write).medium(),
    #[cfg(feature = "scsi-full")]
    e(O::SANITIZE, Some(SANITIZE_EXIT_FAILURE_MODE), C::Sanitize, &[0x48, 0xa0 | SANITIZE_EXIT_FAILURE_MODE, 0, 0, 0, 0, 0, FF, FF, 0], Write),
    #[cfg(feature = "scsi-full")]
    e(O::MODE_SELECT_10, None, C::ModeSelect, &[0x55, 0x11, 0, 0, 0, 0, 0, FF, FF, 0], Write).needs(Needs::ScratchBlock),
    e(O::MODE_SENSE_10, None, C::ModeSense10, &[0x5a, 0x18, FF, FF, 0, 0, 0, FF, FF, 0], Write),
    #[cfg(feature = "scsi-full")]
    e(O::PERSISTENT_RESERVE_IN, Some(0), C::PrIn, &[0x5e, 0, 0, 0, 0, 0, 0, FF, FF, 0], Always),
    #[cfg(feature = "scsi-full")]
    e(O::PERSISTENT_RESERVE_IN, Some(1), C::PrIn, &[0x5e, 1, 0, 0, 0, 0, 0, FF, FF, 0], Always),
    #[cfg(feature = "scsi-full")]
    e(O::PERSISTENT_RESERVE_IN, Some(2), C::PrIn, &[0x5e, 2, 0, 0, 0, 0, 0, FF, FF, 0], Always),
    #[cfg(feature = "scsi-full")]
    e(O::PERSISTENT_RESERVE_IN, Some(3), C::PrIn, &[0x5e, 3, 0, 0, 0, 0, 0, FF, FF, 0], Always),
    #[cfg(feature = "scsi-full")]
    e(O::PERSISTENT_RESERVE_OUT, Some(0), C::PrOut, &[0x5f, 0, FF, 0, 0, FF, FF, FF, FF, 0], Write).needs(Needs::ScratchBlock),
    #[cfg(feature = "scsi-full")]
    e(O::PERSISTENT_RESERVE_OUT, Some(1), C::PrOut, &[0x5f, 1, FF, 0, 0, FF, FF, FF, FF, 0], Write).needs(Needs::ScratchBlock),
    #[cfg(feature = "scsi-full")]
    e(O::PERSISTENT_RESERVE_OUT, Some(2), C::PrOut, &[0x5f, 2, FF, 0, 0, FF, FF, FF, FF, 0], Write).needs(Needs::ScratchBlock),
    #[cfg(feature = "scsi-full")]
    e(O::PERSISTENT_RESERVE_OUT, Some(3), C::PrOut, &[0x5f, 3, FF, 0, 0, FF, FF, FF, FF, 0], Write).needs(Needs::ScratchBlock),
    #[cfg(feature = "scsi-full")]
    e(O::PERSISTENT_RESERVE_OUT, Some(4), C::PrOut, &[0x5f, 4, FF, 0, 0, FF, FF, FF, FF, 0], Write).needs(Needs::ScratchBlock),
    #[cfg(feature = "scsi-full")]
    e(O::PERSISTENT_RESERVE_OUT, Some(5), C::PrOut, &[0x5f, 5, FF, 0, 0, FF, FF, FF, FF, 0], Write).needs(Needs::ScratchBlock),
    #[cfg(feature = "scsi-full")]
    e(O::PERSISTENT_RESERVE_OUT, Some(6), C::PrOut, &[0x5f, 6, FF, 0, 0, FF, FF, FF, FF, 0], Write).needs(Needs::ScratchBlock),
    #[cfg(feature = "scsi-full")]
    e(O::PERSISTENT_RESERVE_OUT, Some(7), C::PrOut, &[0x5f, 7, FF, 0, 0, FF, FF, FF, FF, 0], Write).needs(Needs::ScratchBlock),
    #[cfg(feature = "scsi-full")]
    e(O::EXTENDED_COPY, Some(0x00), C::ExtendedCopy, &[0x83, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, FF, FF, FF, FF, 0, 0], Write).medium().needs(Needs::ScratchBlock),
    #[cfg(feature = "scsi-full")]
    e(O::RECEIVE_COPY_RESULTS, Some(0x00), C::ReceiveCopyResults, &[0x84, 0x00, FF, 0, 0, 0, 0, 0, 0, 0, FF, FF, FF, FF, 0, 0], Read).needs(Needs::ScratchBlock),
    #[cfg(feature = "scsi-full")]
    e(O::RECEIVE_COPY_RESULTS, Some(0x03), C::ReceiveCopyResults, &[0x84, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, FF, FF, FF, FF, 0, 0], Read).needs(Needs::ScratchBlock),
    e(O::READ_16, None, C::Read, &[0x88, RD, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, GRP, 0], Read).medium(),
    #[cfg(feature = "scsi-full")]
    e(O::COMPARE_AND_WRITE, None, C::CompareAndWrite, &[0x89, WR, FF, FF, FF, FF, FF, FF, FF, FF, 0, 0, 0, FF, GRP, 0], Write).medium().needs(Needs::ScratchTwoBlocks),
    e(O::WRITE_16, None, C::Write, &[0x8a, WR, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, GRP, 0], Write).medium(),
    #[cfg(feature = "scsi-full")]
    e(O::ORWRITE_16, None, C::OrWrite, &[0x8b, WR, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, GRP, 0], Write).medium(),
    e(O::WRITE_AND_VERIFY_16, None, C::WriteAndVerify, &[0x8e, VF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, GRP, 0], Write).medium(),
    #[cfg(feature = "scsi-full")]
    e(O::VERIFY_16, None, C::Verify, &[0x8f, VF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, GRP, 0], Read).medium(),
    e(O::PRE_FETCH_16, None, C::PreFetch, &[0x90, 0x02, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, GRP, 0], Read).medium(),
    e(O::SYNCHRONIZE_CACHE_16, None, C::SyncCache, &[0x91, SC, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, GRP, 0], Write).medium(),
    #[cfg(feature = "scsi-full")]
    e(O::WRITE_SAME_16, None, C::WriteSame, &[0x93, 0x09, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, GRP, 0], Write).medium().needs(Needs::ScratchBlock),
    #[cfg(feature = "scsi-full")]
    e(O::WRITE_ATOMIC_16, None, C::WriteAtomic, &[0x9c, 0x18, FF, FF, FF, FF, FF, FF, FF, FF, 0, 0, FF, FF, GRP, 0], Write).medium().needs(Needs::Atomic),
    e(O::SERVICE_ACTION_IN_16, Some(SAI_READ_CAPACITY_16), C::ReadCapacity16, &[0x9e, SAI_READ_CAPACITY_16, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, 0x01, 0], Status).medium(),
    #[cfg(feature = "scsi-full")]
    e(O::SERVICE_ACTION_IN_16, Some(SAI_GET_LBA_STATUS), C::GetLbaStatus, &[0x9e, SAI_GET_LBA_STATUS, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, 0, 0], Read).medium(),
    e(O::REPORT_LUNS, None, C::ReportLuns, &[0xa0, 0, FF, 0, 0, 0, FF, FF, FF, FF, 0, 0], Always).ua_exempt(),
    e(O::MAINTENANCE_IN, Some(MI_REPORT_TARGET_PORT_GROUPS), C::ReportTargetPortGroups, &[0xa3, 0xe0 | MI_REPORT_TARGET_PORT_GROUPS, 0, 0, 0, 0, FF, FF, FF, FF, 0, 0], Always),
    #[cfg(feature = "scsi-full")]
    e(O::MAINTENANCE_IN, Some(MI_REPORT_SUPPORTED_OPERATION_CODES), C::ReportSupportedOpcodes, &[0xa3, MI_REPORT_SUPPORTED_OPERATION_CODES, 0x87, FF, FF, FF, FF, FF, FF, FF, 0, 0], Always),
    e(O::READ_12, None, C::Read, &[0xa8, RD, FF, FF, FF, FF, FF, FF, FF, FF, GRP, 0], Read).medium(),
    e(O::WRITE_12, None, C::Write, &[0xaa, WR, FF, FF, FF, FF, FF, FF, FF, FF, GRP, 0], Write).medium(),
    e(O::WRITE_AND_VERIFY_12, None, C::WriteAndVerify, &[0xae, VF, FF, FF, FF, FF, FF, FF, FF, FF, GRP, 0], Write).medium(),
    #[cfg(feature = "scsi-full")]
    e(O::VERIFY_12, None, C::Verify, &[0xaf, VF, FF, FF, FF, FF, FF, FF, FF, FF, GRP, 0], Read).medium(),
    #[cfg(feature = "scsi-full")]
    e(O::READ_DEFECT_DATA_12, None, C::ReadDefectData, &[0xb7, 0x1f, FF, FF, FF, FF, FF, FF, FF, FF, 0, 0], Read),
];

/// Why a CDB did not match the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LookupError {
    /// No entry for the opcode: INVALID COMMAND OPERATION CODE.
    Opcode,
    /// The opcode exists but not with this service action: INVALID FIELD IN CDB, byte 1.
    ServiceAction,
}

/// The entry for `cdb` (opcode and, where the opcode has them, service action).
#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn lookup(cdb: &[u8]) -> Result<&'static CmdInfo, LookupError> {
    let op = Opcode(*cdb.first().ok_or(LookupError::Opcode)?);
    let sa = cdb.get(1).copied().unwrap_or(0) & 0x1f;
    let first = usize::from(
        FIRST_OF_OPCODE
            .get(usize::from(op.0))
            .copied()
            .unwrap_or(NONE),
    );
    let mut seen = false;
    for c in COMMANDS.get(first..).unwrap_or(&[]) {
        if c.op != op {
            break; // the table is sorted by opcode
        }
        seen = true;
        match c.sa {
            None => return Ok(c),
            Some(s) if s == sa => return Ok(c),
            Some(_) => {}
        }
    }
    Err(if seen {
        LookupError::ServiceAction
    } else {
        LookupError::Opcode
    })
}

impl LookupError {
    pub(crate) fn sense(self) -> Sense {
        match self {
            LookupError::Opcode => Sense::illegal_request(
                super::sense::AdditionalSense::INVALID_COMMAND_OPERATION_CODE,
            ),
            LookupError::ServiceAction => Sense::invalid_field_in_cdb(1, Some(4)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_table_is_sorted_and_consistent() {
        for w in COMMANDS.windows(2) {
            assert!(
                (w[0].op, w[0].sa) < (w[1].op, w[1].sa),
                "{:?} before {:?}",
                w[0].op,
                w[1].op
            );
        }
        for c in COMMANDS {
            assert_eq!(c.usage[0], c.op.0, "{:?}", c.op);
            let len = c.usage.len();
            assert!(matches!(len, 6 | 10 | 12 | 16), "{:?}", c.op);
            // CDB length follows the group code (SPC-4 §4.2.5.1).
            let group_len = match c.op.0 >> 5 {
                0 => 6,
                1 | 2 => 10,
                4 => 16,
                5 => 12,
                _ => len,
            };
            assert_eq!(len, group_len, "{:?}", c.op);
            if let Some(sa) = c.sa {
                assert_eq!(c.usage[1] & 0x1f, sa);
            }
        }
    }

    #[test]
    fn test_lookup() {
        assert_eq!(lookup(&[0x28; 10]).unwrap().cmd, Cmd::Read);
        assert_eq!(lookup(&[0xff]).unwrap_err(), LookupError::Opcode);
        assert_eq!(lookup(&[]).unwrap_err(), LookupError::Opcode);
        assert_eq!(
            lookup(&[0x9e, 0x1f]).unwrap_err(),
            LookupError::ServiceAction
        );
        assert_eq!(lookup(&[0x9e, 0x10]).unwrap().cmd, Cmd::ReadCapacity16);
    }
}
