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

/// Service actions of SERVICE ACTION IN(16) (SBC-3 §5.16).
pub(crate) const SAI_READ_CAPACITY_16: u8 = 0x10;

/// What a table entry runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) enum Cmd {
    TestUnitReady,
    RequestSense,
    Inquiry,
    ModeSense6,
    ModeSense10,
    ReadCapacity10,
    ReadCapacity16,
    ReportLuns,
    /// READ(6/10/12/16).
    Read,
    /// WRITE(6/10/12/16).
    Write,
    /// VERIFY(10/12/16).
    Verify,
    /// SYNCHRONIZE CACHE(10/16).
    SyncCache,
}

/// How the command is treated under a reservation held by another I_T nexus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Never conflicts (INQUIRY, REPORT LUNS, REQUEST SENSE, ...).
    Always,
    /// Reads medium or state: conflicts only with Exclusive Access persistent reservations
    /// (SPC-4 table 46 "Allowed" for Write Exclusive) and with RESERVE(6).
    Read,
    /// Changes medium or state: conflicts with every reservation type held by another nexus.
    Write,
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
    /// Reported and handled even while a unit attention is pending (SPC-4 §5.14).
    pub ua_exempt: bool,
    #[allow(dead_code)] // read by reservation checks
    pub access: Access,
}

const fn e(op: Opcode, sa: Option<u8>, cmd: Cmd, usage: &'static [u8], access: Access) -> CmdInfo {
    CmdInfo {
        op,
        sa,
        cmd,
        usage,
        ua_exempt: false,
        access,
    }
}

const fn ua_exempt(mut c: CmdInfo) -> CmdInfo {
    c.ua_exempt = true;
    c
}

/// READ(10) byte 1: DPO, FUA, RARC, FUA_NV (RDPROTECT unsupported: no protection info).
const RD: u8 = 0x1e;
/// WRITE(10) byte 1: DPO, FUA, FUA_NV.
const WR: u8 = 0x1a;
/// VERIFY(10) byte 1: DPO, BYTCHK (2 bits).
const VF: u8 = 0x16;
/// GROUP NUMBER.
const GRP: u8 = 0x1f;

use Access::{Always, Read, Write};

/// Every supported command, sorted by opcode then service action.
#[rustfmt::skip]
pub(crate) static COMMANDS: &[CmdInfo] = &[
    e(Opcode::TEST_UNIT_READY, None, Cmd::TestUnitReady, &[0x00, 0, 0, 0, 0, 0], Read),
    ua_exempt(e(Opcode::REQUEST_SENSE, None, Cmd::RequestSense, &[0x03, 0x01, 0, 0, 0xff, 0], Always)),
    e(Opcode::READ_6, None, Cmd::Read, &[0x08, 0x1f, 0xff, 0xff, 0xff, 0], Read),
    e(Opcode::WRITE_6, None, Cmd::Write, &[0x0a, 0x1f, 0xff, 0xff, 0xff, 0], Write),
    ua_exempt(e(Opcode::INQUIRY, None, Cmd::Inquiry, &[0x12, 0x01, 0xff, 0xff, 0xff, 0], Always)),
    e(Opcode::MODE_SENSE_6, None, Cmd::ModeSense6, &[0x1a, 0x08, 0xff, 0xff, 0xff, 0], Write),
    e(Opcode::READ_CAPACITY_10, None, Cmd::ReadCapacity10, &[0x25, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x01, 0], Read),
    e(Opcode::READ_10, None, Cmd::Read, &[0x28, RD, 0xff, 0xff, 0xff, 0xff, GRP, 0xff, 0xff, 0], Read),
    e(Opcode::WRITE_10, None, Cmd::Write, &[0x2a, WR, 0xff, 0xff, 0xff, 0xff, GRP, 0xff, 0xff, 0], Write),
    e(Opcode::VERIFY_10, None, Cmd::Verify, &[0x2f, VF, 0xff, 0xff, 0xff, 0xff, GRP, 0xff, 0xff, 0], Read),
    e(Opcode::SYNCHRONIZE_CACHE_10, None, Cmd::SyncCache, &[0x35, 0x02, 0xff, 0xff, 0xff, 0xff, GRP, 0xff, 0xff, 0], Write),
    e(Opcode::MODE_SENSE_10, None, Cmd::ModeSense10, &[0x5a, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0], Write),
    e(Opcode::READ_16, None, Cmd::Read, &[0x88, RD, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, GRP, 0], Read),
    e(Opcode::WRITE_16, None, Cmd::Write, &[0x8a, WR, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, GRP, 0], Write),
    e(Opcode::VERIFY_16, None, Cmd::Verify, &[0x8f, VF, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, GRP, 0], Read),
    e(Opcode::SYNCHRONIZE_CACHE_16, None, Cmd::SyncCache, &[0x91, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, GRP, 0], Write),
    e(Opcode::SERVICE_ACTION_IN_16, Some(SAI_READ_CAPACITY_16), Cmd::ReadCapacity16, &[0x9e, SAI_READ_CAPACITY_16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0], Read),
    ua_exempt(e(Opcode::REPORT_LUNS, None, Cmd::ReportLuns, &[0xa0, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0], Always)),
    e(Opcode::READ_12, None, Cmd::Read, &[0xa8, RD, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, GRP, 0], Read),
    e(Opcode::WRITE_12, None, Cmd::Write, &[0xaa, WR, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, GRP, 0], Write),
    e(Opcode::VERIFY_12, None, Cmd::Verify, &[0xaf, VF, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, GRP, 0], Read),
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
pub(crate) fn lookup(cdb: &[u8]) -> Result<&'static CmdInfo, LookupError> {
    let op = Opcode(*cdb.first().ok_or(LookupError::Opcode)?);
    let sa = cdb.get(1).copied().unwrap_or(0) & 0x1f;
    let mut seen = false;
    for c in COMMANDS {
        if c.op != op {
            continue;
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
