//! START STOP UNIT, PREVENT ALLOW, RESERVE/RELEASE(6), READ DEFECT DATA, REPORT TARGET PORT
//! GROUPS, REPORT SUPPORTED OPERATION CODES and MODE SELECT.

use super::*;

const TUR: [u8; 6] = [0; 6];

#[test]
fn test_start_stop_unit() {
    let mut lu = lu();
    // START=0 without LOEJ leaves the emulated medium ready; power conditions are accepted.
    for b4 in [0x00, 0x04, 0x01, 0x31, 0x10] {
        assert!(run(&mut lu, &[0x1b, 0, 0, 0, b4, 0], 0, &[]).1.is_good());
        assert!(run(&mut lu, &TUR, 0, &[]).1.is_good());
    }
    assert!(run(&mut lu, &[0x1b, 1, 0, 0, 0x01, 0], 0, &[]).1.is_good());
    // Reserved bits are refused.
    assert_invalid_field(&run(&mut lu, &[0x1b, 2, 0, 0, 0, 0], 0, &[]).1, 1);
}

#[test]
fn test_prevent_allow_blocks_eject() {
    let mut lu = lu();
    assert!(run(&mut lu, &[0x1e, 0, 0, 0, 1, 0], 0, &[]).1.is_good());
    let c = run(&mut lu, &[0x1b, 0, 0, 0, 0x02, 0], 0, &[]).1;
    assert_eq!(code(&c).1, AdditionalSense::MEDIUM_REMOVAL_PREVENTED);
    assert_invalid_field(&run(&mut lu, &[0x1e, 0, 0, 0, 2, 0], 0, &[]).1, 4);
    // A LUN reset clears PREVENT.
    lu.reset(ResetKind::LogicalUnitReset);
    let _ = run(&mut lu, &TUR, 0, &[]);
    assert!(run(&mut lu, &[0x1b, 0, 0, 0, 0x02, 0], 0, &[]).1.is_good());
    assert!(run(&mut lu, &[0x1b, 0, 0, 0, 0x01, 0], 0, &[]).1.is_good());
}

#[test]
fn test_removable_medium_eject_and_load() {
    let mut lu = TestLu::new(
        disk(BLOCKS),
        LuIdentity::new(5),
        LuConfig {
            removable: true,
            ..LuConfig::default()
        },
    );
    ua_cleared(&mut lu, 0);
    ua_cleared(&mut lu, 1);
    let (d, _) = run(&mut lu, &[0x12, 0, 0, 0, 36, 0], 36, &[]);
    assert_eq!(d[1], 0x80, "RMB");
    let eject = [0x1b, 0, 0, 0, 0x02, 0];
    let load = [0x1b, 0, 0, 0, 0x03, 0];
    let no_medium = (SenseKey::NOT_READY, AdditionalSense::MEDIUM_NOT_PRESENT);
    // PREVENT on another nexus refuses both eject and load.
    assert!(run_on(&mut lu, NexusId(1), &[0x1e, 0, 0, 0, 1, 0], 0, &[])
        .1
        .is_good());
    let prevented = (
        SenseKey::ILLEGAL_REQUEST,
        AdditionalSense::MEDIUM_REMOVAL_PREVENTED,
    );
    assert_eq!(code(&run(&mut lu, &eject, 0, &[]).1), prevented);
    assert!(run(&mut lu, &TUR, 0, &[]).1.is_good());
    // Its nexus loss allows removal again.
    lu.nexus_lost(NexusId(1));
    assert!(run(&mut lu, &eject, 0, &[]).1.is_good());
    for cdb in [
        &TUR[..],
        &cdb10(0x28, 0, 0, 1)[..],
        &[0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ] {
        assert_eq!(code(&run(&mut lu, cdb, 8, &[]).1), no_medium, "{cdb:02x?}");
    }
    let (d, _) = run(&mut lu, &[0x03, 0, 0, 0, 18, 0], 18, &[]);
    assert_eq!(
        Sense::parse(&d).unwrap().code,
        AdditionalSense::MEDIUM_NOT_PRESENT
    );
    assert!(run(&mut lu, &eject, 0, &[]).1.is_good(), "eject twice");
    assert!(run(&mut lu, &[0x1e, 0, 0, 0, 1, 0], 0, &[]).1.is_good());
    assert_eq!(code(&run(&mut lu, &load, 0, &[]).1), prevented);
    assert!(run(&mut lu, &[0x1e, 0, 0, 0, 0, 0], 0, &[]).1.is_good());
    assert!(run(&mut lu, &load, 0, &[]).1.is_good());
    assert!(run(&mut lu, &TUR, 0, &[]).1.is_good());
    // A fixed medium reports RMB=0 and LOEJ only stops it.
    let mut fixed = lu_over(disk(BLOCKS));
    let (d, _) = run(&mut fixed, &[0x12, 0, 0, 0, 36, 0], 36, &[]);
    assert_eq!(d[1], 0);
    assert!(run(&mut fixed, &eject, 0, &[]).1.is_good());
    assert!(
        run(&mut fixed, &TUR, 0, &[]).1.is_good(),
        "a fixed medium stays"
    );
}

fn ua_cleared(lu: &mut TestLu, n: u16) {
    while !run_on(lu, NexusId(n), &TUR, 0, &[]).1.is_good() {}
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_reserve6_two_initiators() {
    let mut lu = lu();
    ua_cleared(&mut lu, 1);
    let r6 = [0x16, 0, 0, 0, 0, 0];
    let rl6 = [0x17, 0, 0, 0, 0, 0];
    let ms = [0x1a, 0, 0x3f, 0, 255, 0];
    assert!(run(&mut lu, &r6, 0, &[]).1.is_good());
    assert!(
        run(&mut lu, &r6, 0, &[]).1.is_good(),
        "holder may reserve again"
    );
    let other = |lu: &mut TestLu, cdb: &[u8]| run_on(lu, NexusId(1), cdb, 255, &[]).1;
    assert_eq!(other(&mut lu, &r6).status, Status::RESERVATION_CONFLICT);
    assert!(
        other(&mut lu, &rl6).is_good(),
        "RELEASE from a non-holder is a no-op"
    );
    assert!(run(&mut lu, &ms, 255, &[]).1.is_good());
    assert_eq!(other(&mut lu, &ms).status, Status::RESERVATION_CONFLICT);
    assert!(
        other(&mut lu, &[0x12, 0, 0, 0, 36, 0]).is_good(),
        "INQUIRY is allowed"
    );
    assert_eq!(other(&mut lu, &TUR).status, Status::RESERVATION_CONFLICT);
    assert!(run(&mut lu, &rl6, 0, &[]).1.is_good());
    assert!(other(&mut lu, &r6).is_good());
    assert!(other(&mut lu, &rl6).is_good());
    // Nexus loss releases it.
    assert!(other(&mut lu, &r6).is_good());
    lu.nexus_lost(NexusId(1));
    assert!(run(&mut lu, &r6, 0, &[]).1.is_good());
    // So does a LUN reset.
    lu.reset(ResetKind::LogicalUnitReset);
    ua_cleared(&mut lu, 1);
    assert!(other(&mut lu, &r6).is_good());
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_read_defect_data() {
    let mut lu = lu();
    let (d, c) = run(&mut lu, &[0x37, 0, 0x18 | 5, 0, 0, 0, 0, 0, 32, 0], 32, &[]);
    assert!(c.is_good());
    assert_eq!(d, [0, 0x1d, 0, 0]);
    let (d, c) = run(&mut lu, &cdb12(0xb7, 0x08 | 4, 0, 32), 32, &[]);
    assert!(c.is_good());
    assert_eq!(d, [0, 0x0c, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn test_report_target_port_groups() {
    let mut lu = lu();
    let (d, _) = run(&mut lu, &[0x12, 0, 0, 0, 96, 0], 96, &[]);
    assert_eq!(d[5] & 0x30, 0x10, "TPGS: implicit ALUA");
    let rtpg = |fmt: u8, alloc: u32| {
        let mut c = [0u8; 12];
        c[0] = 0xa3;
        c[1] = (fmt << 5) | 0x0a;
        c[6..10].copy_from_slice(&alloc.to_be_bytes());
        c
    };
    let (d, c) = run(&mut lu, &rtpg(0, 4), 4, &[]);
    assert!(c.is_good());
    let full = u32::from_be_bytes(d[..4].try_into().unwrap()) + 4;
    let (d, _) = run(&mut lu, &rtpg(0, full), full, &[]);
    assert_eq!(d.len() as u32, full);
    assert_eq!(d[4] & 0x0f, 0, "active/optimized");
    assert_eq!(d[11], 1, "one port");
    assert_eq!(&d[14..16], &1u16.to_be_bytes(), "relative port id");
    let (d, _) = run(&mut lu, &rtpg(1, 64), 64, &[]);
    assert_eq!(d[4], 0x10, "extended header");
    assert_invalid_field(&run(&mut lu, &rtpg(2, 64), 64, &[]).1, 1);
}

#[cfg(feature = "scsi-full")]
fn rsoc(lu: &mut TestLu, rctd: bool, options: u8, op: u8, sa: u16) -> (Vec<u8>, Completion) {
    let mut c = [0u8; 12];
    c[0] = 0xa3;
    c[1] = 0x0c;
    c[2] = (u8::from(rctd) << 7) | options;
    c[3] = op;
    c[4..6].copy_from_slice(&sa.to_be_bytes());
    c[6..10].copy_from_slice(&65535u32.to_be_bytes());
    run(lu, &c, 65535, &[])
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_report_supported_opcodes_matches_dispatch() {
    let mut lu = lu();
    for rctd in [false, true] {
        let (d, c) = rsoc(&mut lu, rctd, 0, 0, 0);
        assert!(c.is_good());
        let len = u32::from_be_bytes(d[..4].try_into().unwrap()) as usize;
        assert_eq!(len + 4, d.len());
        let each = if rctd { 20 } else { 8 };
        let mut ops = Vec::new();
        for desc in d[4..].chunks(each) {
            let (op, sa, servactv) = (
                desc[0],
                u16::from_be_bytes([desc[2], desc[3]]),
                desc[5] & 1 != 0,
            );
            assert_eq!(desc[5] & 2 != 0, rctd, "CTDP");
            if !servactv {
                assert_eq!(sa, 0);
            }
            if rctd {
                assert_eq!(u16::from_be_bytes([desc[8], desc[9]]), 0x0a);
            }
            ops.push((op, sa, servactv, u16::from_be_bytes([desc[6], desc[7]])));
        }
        assert!(ops.iter().any(|o| o.0 == 0x28));
        assert!(!ops.iter().any(|o| o.0 == 0x42), "no UNMAP on a full disk");
        for (op, sa, servactv, len) in ops {
            // One-command forms: the right one works, the other is an invalid field.
            let (right, wrong) = if servactv { (2, 1) } else { (1, 2) };
            let (one, c) = rsoc(&mut lu, false, right, op, sa);
            assert!(c.is_good());
            assert_eq!(one[1] & 0x07, 3, "supported");
            assert_eq!(u16::from_be_bytes([one[2], one[3]]), len);
            assert_eq!(one[4], op);
            assert_invalid_field(&rsoc(&mut lu, false, wrong, op, sa).1, 2);
            // The reported usage map is what dispatch enforces: a CDB with every allowed
            // bit set is not refused for a reserved bit.
            let mut cdb = one[4..4 + len as usize].to_vec();
            let last = cdb.len() - 1;
            cdb[last] = 0;
            let (_, c) = run(&mut lu, &cdb, 0, &[]);
            if let Some(SenseSpecific::FieldPointer {
                byte, bit: Some(_), ..
            }) = c.sense.and_then(|s| s.specific)
            {
                // Field errors may come from field values, never from unmapped bits.
                assert!(one[4 + byte as usize] != 0, "{op:#x}: byte {byte}");
            }
            let _ = run(&mut lu, &TUR, 0, &[]);
        }
    }
    // DPO/FUA usage bits for READ(10).
    let (one, _) = rsoc(&mut lu, false, 1, 0x28, 0);
    assert_eq!(one[5] & 0x18, 0x18);
    // An unsupported opcode is reported as such.
    let (one, c) = rsoc(&mut lu, false, 1, 0xc0, 0);
    assert!(c.is_good());
    assert_eq!(one, [0, 1, 0, 0]);
    assert_invalid_field(&rsoc(&mut lu, false, 7, 0, 0).1, 2);
}

fn mode_select6(lu: &mut TestLu, nexus: u16, params: &[u8]) -> Completion {
    let cdb = [0x15, 0x10, 0, 0, params.len() as u8, 0];
    run_on(lu, NexusId(nexus), &cdb, 0, params).1
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_mode_select_swp_write_protects() {
    let mut lu = lu();
    ua_cleared(&mut lu, 1);
    let (cur, _) = run(&mut lu, &[0x1a, 0x08, 0x0a, 0, 255, 0], 255, &[]);
    let mut params = vec![0u8; 4];
    params.extend_from_slice(&cur[4..]);
    params[4 + 4] |= 0x08; // SWP
    assert!(mode_select6(&mut lu, 0, &params).is_good());
    let c = write10(&mut lu, 0, &vec![0; BS as usize]);
    assert_eq!(
        code(&c),
        (SenseKey::DATA_PROTECT, AdditionalSense::WRITE_PROTECTED)
    );
    let (m, _) = run(&mut lu, &[0x1a, 0x08, 0x3f, 0, 255, 0], 255, &[]);
    assert_eq!(m[2] & 0x80, 0x80);
    // The other nexus learns of the change.
    let c = run_on(&mut lu, NexusId(1), &TUR, 0, &[]).1;
    assert_eq!(code(&c).1, AdditionalSense::MODE_PARAMETERS_CHANGED);
    params[4 + 4] &= !0x08;
    assert!(mode_select6(&mut lu, 0, &params).is_good());
    assert!(write10(&mut lu, 0, &vec![0; BS as usize]).is_good());
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_mode_select_errors() {
    let mut lu = lu();
    let (cur, _) = run(&mut lu, &[0x1a, 0x08, 0x0a, 0, 255, 0], 255, &[]);
    let mut params = vec![0u8; 4];
    params.extend_from_slice(&cur[4..]);
    // A non-changeable bit (D_SENSE) differs.
    let mut bad = params.clone();
    bad[4 + 2] |= 0x04;
    let c = mode_select6(&mut lu, 0, &bad);
    assert_eq!(code(&c).1, AdditionalSense::INVALID_FIELD_IN_PARAMETER_LIST);
    // WCE is not changeable on a disk without a cache.
    let mut caching = vec![0u8; 4];
    caching.extend_from_slice(&[0x08, 0x12, 0x04]);
    caching.resize(4 + 20, 0);
    assert_eq!(
        code(&mode_select6(&mut lu, 0, &caching)).1,
        AdditionalSense::INVALID_FIELD_IN_PARAMETER_LIST
    );
    // Unknown page, wrong page length, wrong block length in the block descriptor.
    let mut unknown = params.clone();
    unknown[4] = 0x19;
    assert_eq!(
        code(&mode_select6(&mut lu, 0, &unknown)).1,
        AdditionalSense::INVALID_FIELD_IN_PARAMETER_LIST
    );
    let mut bd = vec![0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 4, 0];
    bd.extend_from_slice(&cur[4..]);
    assert_eq!(
        code(&mode_select6(&mut lu, 0, &bd)).1,
        AdditionalSense::INVALID_FIELD_IN_PARAMETER_LIST
    );
    bd[10] = 2; // 512 matches
    assert!(mode_select6(&mut lu, 0, &bd).is_good());
    // PF=0 and SP=1 are refused in the CDB.
    assert_invalid_field(&run(&mut lu, &[0x15, 0x00, 0, 0, 16, 0], 0, &params).1, 1);
    assert_invalid_field(&run(&mut lu, &[0x15, 0x11, 0, 0, 16, 0], 0, &params).1, 1);
    // MODE SELECT(10) with the same page.
    let mut ten = vec![0u8; 8];
    ten.extend_from_slice(&cur[4..]);
    let cdb = [0x55, 0x10, 0, 0, 0, 0, 0, 0, ten.len() as u8, 0];
    assert!(run(&mut lu, &cdb, 0, &ten).1.is_good());
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_cold_reset_restores_mode_defaults() {
    let mut lu = lu();
    let (cur, _) = run(&mut lu, &[0x1a, 0x08, 0x0a, 0, 255, 0], 255, &[]);
    let mut params = vec![0u8; 4];
    params.extend_from_slice(&cur[4..]);
    params[8] |= 0x08;
    assert!(mode_select6(&mut lu, 0, &params).is_good());
    lu.reset(ResetKind::TargetColdReset);
    let _ = run(&mut lu, &TUR, 0, &[]);
    assert!(write10(&mut lu, 0, &vec![0; BS as usize]).is_good());
}
