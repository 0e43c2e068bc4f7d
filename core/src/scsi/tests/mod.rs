//! Logical unit tests: every command through `start` / `read_data` / `write_data` / `finish`,
//! their error paths, residuals and unit attentions, plus property tests.

use super::*;
use proptest::prelude::*;
use std::boxed::Box;
use std::vec;
use std::vec::Vec;

mod pages;
#[cfg(feature = "scsi-full")]
mod pr;
mod props;
mod provisioning;
mod rw;
mod unit_cmds;
#[cfg(feature = "scsi-full")]
mod xcopy;

pub(crate) const BS: u32 = 512;
pub(crate) const BLOCKS: u64 = 64;

pub(crate) type TestLu = LogicalUnit<RamDisk<'static>, 4, [u8; 4096]>;

pub(crate) fn disk(blocks: u64) -> RamDisk<'static> {
    let data = Box::leak(vec![0u8; (blocks * u64::from(BS)) as usize].into_boxed_slice());
    RamDisk::new(data, BS).unwrap()
}

pub(crate) fn thin_disk(blocks: u64) -> RamDisk<'static> {
    let map = Box::leak(vec![0u8; blocks.div_ceil(8) as usize].into_boxed_slice());
    disk(blocks).with_thin_provisioning(map).unwrap()
}

/// A logical unit with nexus 0's power-on unit attention already consumed.
pub(crate) fn lu_over(d: RamDisk<'static>) -> TestLu {
    let mut lu = TestLu::new(
        d,
        LuIdentity::new(0x1122_3344_5566_7788),
        LuConfig::default(),
    );
    let c = run(&mut lu, &[0; 6], 0, &[]).1;
    assert_eq!(c.sense.unwrap().code, AdditionalSense::POWER_ON_RESET);
    lu
}

pub(crate) fn lu() -> TestLu {
    lu_over(disk(BLOCKS))
}

/// Runs a command on nexus 0 moving data in 7-byte pieces. Returns Data-In and completion.
pub(crate) fn run(lu: &mut TestLu, cdb: &[u8], read_len: u32, out: &[u8]) -> (Vec<u8>, Completion) {
    run_on(lu, NexusId(0), cdb, read_len, out)
}

pub(crate) fn run_on(
    lu: &mut TestLu,
    nexus: NexusId,
    cdb: &[u8],
    read_len: u32,
    out: &[u8],
) -> (Vec<u8>, Completion) {
    let req = CommandRequest {
        cdb,
        expected_read_len: read_len,
        expected_write_len: out.len() as u32,
        nexus,
    };
    match lu.start(&req) {
        Start::Done(c) => (vec![], c),
        Start::DataIn { task, len } => {
            assert!(len <= read_len);
            let mut v = vec![0u8; len as usize];
            let mut off = 0;
            while off < v.len() {
                let end = (off + 7).min(v.len());
                match lu.read_data(&task, off as u32, &mut v[off..end]) {
                    Ok(n) => assert_eq!(n, end - off),
                    Err(c) => return (v, c),
                }
                off = end;
            }
            (v, lu.finish(&task))
        }
        Start::DataOut { mut task, len } => {
            assert!(len as usize <= out.len());
            let mut off = 0;
            while off < len as usize {
                let end = (off + 7).min(len as usize);
                if let Err(c) = lu.write_data(&mut task, off as u32, &out[off..end]) {
                    return (vec![], c);
                }
                off = end;
            }
            (vec![], lu.finish(&task))
        }
    }
}

pub(crate) fn code(c: &Completion) -> (SenseKey, AdditionalSense) {
    let s = c.sense.expect("sense data");
    assert_eq!(c.status, Status::CHECK_CONDITION);
    (s.key, s.code)
}

pub(crate) fn field(c: &Completion) -> (u16, Option<u8>) {
    match c.sense.and_then(|s| s.specific) {
        Some(SenseSpecific::FieldPointer {
            in_cdb: true,
            byte,
            bit,
        }) => (byte, bit),
        other => panic!("no CDB field pointer: {other:?}"),
    }
}

pub(crate) fn assert_invalid_field(c: &Completion, byte: u16) {
    assert_eq!(
        code(c),
        (
            SenseKey::ILLEGAL_REQUEST,
            AdditionalSense::INVALID_FIELD_IN_CDB
        )
    );
    assert_eq!(field(c).0, byte);
}

pub(crate) fn assert_lba_oob(c: &Completion) {
    assert_eq!(
        code(c),
        (SenseKey::ILLEGAL_REQUEST, AdditionalSense::LBA_OUT_OF_RANGE)
    );
}

pub(crate) fn cdb10(op: u8, b1: u8, lba: u32, n: u16) -> [u8; 10] {
    let mut c = [0u8; 10];
    c[0] = op;
    c[1] = b1;
    c[2..6].copy_from_slice(&lba.to_be_bytes());
    c[7..9].copy_from_slice(&n.to_be_bytes());
    c
}

pub(crate) fn cdb12(op: u8, b1: u8, lba: u32, n: u32) -> [u8; 12] {
    let mut c = [0u8; 12];
    c[0] = op;
    c[1] = b1;
    c[2..6].copy_from_slice(&lba.to_be_bytes());
    c[6..10].copy_from_slice(&n.to_be_bytes());
    c
}

pub(crate) fn cdb16(op: u8, b1: u8, lba: u64, n: u32) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0] = op;
    c[1] = b1;
    c[2..10].copy_from_slice(&lba.to_be_bytes());
    c[10..14].copy_from_slice(&n.to_be_bytes());
    c
}

pub(crate) fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

pub(crate) fn write10(lu: &mut TestLu, lba: u32, data: &[u8]) -> Completion {
    let n = (data.len() / BS as usize) as u16;
    run(lu, &cdb10(0x2a, 0, lba, n), 0, data).1
}

pub(crate) fn read10(lu: &mut TestLu, lba: u32, n: u16) -> (Vec<u8>, Completion) {
    run(lu, &cdb10(0x28, 0, lba, n), u32::from(n) * BS, &[])
}

// ---------------------------------------------------------------- unit attentions

#[test]
fn test_ua_power_on_reported_once_per_nexus() {
    let mut lu = TestLu::new(disk(8), LuIdentity::new(1), LuConfig::default());
    // INQUIRY is neither blocked by nor clears the unit attention.
    let (_, c) = run(&mut lu, &[0x12, 0, 0, 0, 36, 0], 36, &[]);
    assert!(c.is_good());
    let (_, c) = run(&mut lu, &[0; 6], 0, &[]);
    assert_eq!(
        code(&c),
        (SenseKey::UNIT_ATTENTION, AdditionalSense::POWER_ON_RESET)
    );
    assert!(run(&mut lu, &[0; 6], 0, &[]).1.is_good());
    // Nexus 1 still has its own.
    let (_, c) = run_on(&mut lu, NexusId(1), &[0; 6], 0, &[]);
    assert_eq!(c.sense.unwrap().key, SenseKey::UNIT_ATTENTION);
}

#[test]
fn test_request_sense_reports_and_clears_ua() {
    let mut lu = TestLu::new(disk(8), LuIdentity::new(1), LuConfig::default());
    let (d, c) = run(&mut lu, &[0x03, 0, 0, 0, 252, 0], 252, &[]);
    assert!(c.is_good());
    assert_eq!(c.residual, Residual::Under(252 - 18));
    let s = Sense::parse(&d).unwrap();
    assert_eq!(s.key, SenseKey::UNIT_ATTENTION);
    assert_eq!(s.code, AdditionalSense::POWER_ON_RESET);
    let (d, _) = run(&mut lu, &[0x03, 0, 0, 0, 18, 0], 18, &[]);
    assert_eq!(Sense::parse(&d).unwrap().key, SenseKey::NO_SENSE);
    assert!(run(&mut lu, &[0; 6], 0, &[]).1.is_good());
    // DESC=1 is not supported.
    let (_, c) = run(&mut lu, &[0x03, 1, 0, 0, 18, 0], 18, &[]);
    assert_eq!(field(&c), (1, Some(0)));
}

#[test]
fn test_reset_and_nexus_loss_uas() {
    let mut lu = lu();
    lu.reset(ResetKind::LogicalUnitReset);
    let c = run(&mut lu, &[0; 6], 0, &[]).1;
    assert_eq!(
        code(&c).1,
        AdditionalSense::BUS_DEVICE_RESET_FUNCTION_OCCURRED
    );
    lu.reset(ResetKind::TargetWarmReset);
    assert_eq!(
        code(&run(&mut lu, &[0; 6], 0, &[]).1).1,
        AdditionalSense::POWER_ON_RESET
    );
    lu.nexus_lost(NexusId(0));
    assert_eq!(
        code(&run(&mut lu, &[0; 6], 0, &[]).1).1,
        AdditionalSense::I_T_NEXUS_LOSS_OCCURRED
    );
    lu.raise_unit_attention(None, UnitAttention::CapacityChanged);
    assert_eq!(
        code(&run(&mut lu, &[0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], 8, &[]).1).1,
        AdditionalSense::CAPACITY_DATA_HAS_CHANGED
    );
    assert!(run(&mut lu, &[0; 6], 0, &[]).1.is_good());
}

/// SAM-5 §6.3.3: a LOGICAL UNIT RESET establishes 29/03 for every I_T nexus, the one that
/// asked included (libiscsi's MultipathIO.Reset checks every path); a TARGET WARM/COLD RESET
/// (a hard reset, SAM-5 §6.3.2) 29/00. A reset replaces the conditions pending before it, and
/// INQUIRY, REPORT LUNS and REQUEST SENSE do not report them as CHECK CONDITION.
#[test]
fn test_reset_unit_attentions_reach_every_nexus() {
    let mut lu = lu();
    for n in 1..4 {
        let _ = run_on(&mut lu, NexusId(n), &[0; 6], 0, &[]);
    }
    lu.raise_unit_attention(Some(NexusId(2)), UnitAttention::CapacityChanged);
    lu.reset(ResetKind::LogicalUnitReset);
    for n in 0..4 {
        let c = run_on(&mut lu, NexusId(n), &[0x12, 0, 0, 0, 36, 0], 36, &[]).1;
        assert!(c.is_good(), "INQUIRY on nexus {n}");
        let c = run_on(&mut lu, NexusId(n), &[0; 6], 0, &[]).1;
        assert_eq!(
            code(&c),
            (
                SenseKey::UNIT_ATTENTION,
                AdditionalSense::BUS_DEVICE_RESET_FUNCTION_OCCURRED
            ),
            "nexus {n}"
        );
        assert!(
            run_on(&mut lu, NexusId(n), &[0; 6], 0, &[]).1.is_good(),
            "one only"
        );
    }
    for kind in [ResetKind::TargetWarmReset, ResetKind::TargetColdReset] {
        lu.reset(kind);
        for n in 0..4 {
            let (d, c) = run_on(&mut lu, NexusId(n), &[0x03, 0, 0, 0, 18, 0], 18, &[]);
            assert!(c.is_good());
            assert_eq!(
                Sense::parse(&d).unwrap().code,
                AdditionalSense::POWER_ON_RESET
            );
            assert!(run_on(&mut lu, NexusId(n), &[0; 6], 0, &[]).1.is_good());
        }
    }
}

#[test]
fn test_ua_reported_before_invalid_opcode() {
    let mut lu = TestLu::new(disk(8), LuIdentity::new(1), LuConfig::default());
    let c = run(&mut lu, &[0xff, 0, 0, 0, 0, 0], 0, &[]).1;
    assert_eq!(code(&c).0, SenseKey::UNIT_ATTENTION);
    let c = run(&mut lu, &[0xff, 0, 0, 0, 0, 0], 0, &[]).1;
    assert_eq!(
        code(&c),
        (
            SenseKey::ILLEGAL_REQUEST,
            AdditionalSense::INVALID_COMMAND_OPERATION_CODE
        )
    );
}

// ---------------------------------------------------------------- generic CDB checks

#[test]
fn test_unknown_service_action_and_reserved_bits() {
    let mut lu = lu();
    let c = run(&mut lu, &cdb16(0x9e, 0x1f, 0, 32), 32, &[]).1;
    assert_invalid_field(&c, 1);
    // RDPROTECT is not supported: field pointer at byte 1.
    for rdprotect in 1..8u8 {
        let c = run(&mut lu, &cdb10(0x28, rdprotect << 5, 0, 1), BS, &[]).1;
        assert_invalid_field(&c, 1);
        assert!(field(&c).1.unwrap() >= 5);
    }
    // NACA in the CONTROL byte.
    let mut cdb = cdb10(0x28, 0, 0, 1);
    cdb[9] = 0x04;
    assert_invalid_field(&run(&mut lu, &cdb, BS, &[]).1, 9);
    // A CDB shorter than the command's is refused.
    assert_invalid_field(&run(&mut lu, &[0x28, 0, 0], BS, &[]).1, 0);
}

#[test]
fn test_test_unit_ready_residual() {
    let mut lu = lu();
    let c = run(&mut lu, &[0; 6], 100, &[]).1;
    assert!(c.is_good());
    assert_eq!(c.residual, Residual::Under(100));
}
