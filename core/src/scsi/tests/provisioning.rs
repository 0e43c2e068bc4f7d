//! UNMAP, WRITE SAME, GET LBA STATUS, COMPARE AND WRITE, ORWRITE, WRITE ATOMIC, PRE-FETCH.

use super::*;

fn unmap_list(descs: &[(u64, u32)]) -> Vec<u8> {
    let mut p = vec![0u8; 8];
    let bd = (descs.len() * 16) as u16;
    p[0..2].copy_from_slice(&(bd + 6).to_be_bytes());
    p[2..4].copy_from_slice(&bd.to_be_bytes());
    for (lba, n) in descs {
        p.extend_from_slice(&lba.to_be_bytes());
        p.extend_from_slice(&n.to_be_bytes());
        p.extend_from_slice(&[0; 4]);
    }
    p
}

fn unmap(lu: &mut TestLu, descs: &[(u64, u32)]) -> Completion {
    let p = unmap_list(descs);
    let mut cdb = [0u8; 10];
    cdb[0] = 0x42;
    cdb[7..9].copy_from_slice(&(p.len() as u16).to_be_bytes());
    run(lu, &cdb, 0, &p).1
}

fn lba_status(lu: &mut TestLu, lba: u64, alloc: u32) -> (Vec<u8>, Completion) {
    let mut cdb = cdb16(0x9e, 0x12, lba, 0);
    cdb[10..14].copy_from_slice(&alloc.to_be_bytes());
    run(lu, &cdb, alloc, &[])
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_unmap_zeroes_and_deallocates() {
    let mut lu = lu_over(thin_disk(BLOCKS));
    assert!(write10(&mut lu, 0, &vec![b'a'; 16 * BS as usize]).is_good());
    assert!(unmap(&mut lu, &[(2, 3), (10, 1), (0, 0)]).is_good());
    let (d, _) = read10(&mut lu, 0, 16);
    for b in 0..16usize {
        let blk = &d[b * BS as usize..(b + 1) * BS as usize];
        let unmapped = (2..5).contains(&b) || b == 10;
        assert!(
            blk.iter().all(|&x| x == if unmapped { 0 } else { b'a' }),
            "block {b}"
        );
    }
    let (d, c) = lba_status(&mut lu, 0, 8 + 16 * 4);
    assert!(c.is_good());
    assert_eq!(u32::from_be_bytes(d[0..4].try_into().unwrap()), 4 + 16 * 4);
    let descs: Vec<(u64, u32, u8)> = d[8..]
        .chunks(16)
        .map(|x| {
            (
                u64::from_be_bytes(x[0..8].try_into().unwrap()),
                u32::from_be_bytes(x[8..12].try_into().unwrap()),
                x[12],
            )
        })
        .collect();
    assert_eq!(descs, [(0, 2, 0), (2, 3, 1), (5, 5, 0), (10, 1, 1)]);
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_unmap_errors() {
    let mut lu = lu_over(thin_disk(BLOCKS));
    assert_lba_oob(&unmap(&mut lu, &[(BLOCKS - 1, 2)]));
    assert!(unmap(&mut lu, &[(BLOCKS, 0)]).is_good());
    // Parameter list length 1..7 is an error; 0 is a no-op.
    let c = run(&mut lu, &[0x42, 0, 0, 0, 0, 0, 0, 0, 4, 0], 0, &[0; 4]).1;
    assert_eq!(code(&c).1, AdditionalSense::PARAMETER_LIST_LENGTH_ERROR);
    assert!(run(&mut lu, &[0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0, &[])
        .1
        .is_good());
    // ANCHOR is not supported.
    let c = run(
        &mut lu,
        &[0x42, 1, 0, 0, 0, 0, 0, 0, 24, 0],
        0,
        &unmap_list(&[(0, 1)]),
    )
    .1;
    assert_invalid_field(&c, 1);
    // A fully provisioned disk has no UNMAP at all.
    let mut full = super::lu();
    let c = unmap(&mut full, &[(0, 1)]);
    assert_eq!(code(&c).1, AdditionalSense::INVALID_COMMAND_OPERATION_CODE);
    // And a write-protected one refuses it.
    let mut d = thin_disk(8);
    d.set_write_protected(true);
    let mut ro = lu_over(d);
    assert_eq!(code(&unmap(&mut ro, &[(0, 1)])).0, SenseKey::DATA_PROTECT);
}

fn write_same(lu: &mut TestLu, sixteen: bool, b1: u8, lba: u64, n: u32, data: &[u8]) -> Completion {
    let cdb: Vec<u8> = if sixteen {
        cdb16(0x93, b1, lba, n).to_vec()
    } else {
        cdb10(0x41, b1, lba as u32, n as u16).to_vec()
    };
    run(lu, &cdb, 0, data).1
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_write_same_replicates_block() {
    let mut lu = lu();
    let block = pattern(BS as usize, 42);
    for sixteen in [false, true] {
        assert!(write_same(&mut lu, sixteen, 0, 3, 5, &block).is_good());
        let (d, _) = read10(&mut lu, 3, 5);
        for b in d.chunks(BS as usize) {
            assert_eq!(b, &block[..]);
        }
    }
    // Block count 0 writes to the end (WSNZ=0); the range is checked, the Data-Out must be
    // one block.
    let other = pattern(BS as usize, 7);
    assert!(write_same(&mut lu, false, 0, BLOCKS - 2, 0, &other).is_good());
    let (d, _) = read10(&mut lu, BLOCKS as u32 - 3, 3);
    assert_eq!(
        &d[..BS as usize],
        &[0; BS as usize][..],
        "the block before is untouched"
    );
    assert_eq!(
        &d[BS as usize..],
        &[other.clone(), other.clone()].concat()[..]
    );
    assert!(
        write_same(&mut lu, true, 0, BLOCKS, 0, &other).is_good(),
        "nothing"
    );
    assert_lba_oob(&write_same(&mut lu, false, 0, BLOCKS + 1, 0, &block));
    assert_lba_oob(&write_same(&mut lu, true, 0, BLOCKS - 1, 2, &block));
    // To the end is subject to MAXIMUM WRITE SAME LENGTH like any count.
    let mut small = TestLu::new(
        disk(BLOCKS),
        LuIdentity::new(3),
        LuConfig {
            max_write_same_blocks: 4,
            ..LuConfig::default()
        },
    );
    let _ = run(&mut small, &[0; 6], 0, &[]);
    assert_invalid_field(&write_same(&mut small, false, 0, BLOCKS - 5, 0, &block), 7);
    assert!(write_same(&mut small, true, 0, BLOCKS - 4, 0, &block).is_good());
    let c = write_same(&mut lu, false, 0, 0, 1, &block[..256]);
    assert_eq!(code(&c).0, SenseKey::ILLEGAL_REQUEST);
    let c = write_same(
        &mut lu,
        false,
        0,
        0,
        1,
        &[block.clone(), block.clone()].concat(),
    );
    assert_eq!(code(&c).0, SenseKey::ILLEGAL_REQUEST);
    // UNMAP needs thin provisioning; ANCHOR is unsupported.
    assert_invalid_field(&write_same(&mut lu, false, 0x08, 0, 1, &block), 1);
    assert_invalid_field(&write_same(&mut lu, false, 0x10, 0, 1, &block), 1);
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_write_same_unmap_and_ndob() {
    let mut lu = lu_over(thin_disk(BLOCKS));
    assert!(write10(&mut lu, 0, &vec![0xff; 8 * BS as usize]).is_good());
    assert!(write_same(&mut lu, false, 0x08, 0, 4, &vec![0; BS as usize]).is_good());
    let (d, _) = lba_status(&mut lu, 0, 24);
    assert_eq!((d[8 + 11], d[8 + 12]), (4, 1), "4 blocks deallocated");
    assert!(read10(&mut lu, 0, 4).0.iter().all(|&b| b == 0));
    // UNMAP deallocates whatever the data: reads return zeros (LBPRZ).
    assert!(write10(&mut lu, 0, &vec![0xff; 2 * BS as usize]).is_good());
    let block = vec![7u8; BS as usize];
    assert!(write_same(&mut lu, true, 0x08, 0, 2, &block).is_good());
    assert!(read10(&mut lu, 0, 2).0.iter().all(|&b| b == 0));
    // NDOB: zeros without Data-Out, with UNMAP deallocating.
    assert!(write_same(&mut lu, true, 0x09, 4, 4, &[]).is_good());
    assert!(read10(&mut lu, 4, 4).0.iter().all(|&b| b == 0));
    let (d, _) = lba_status(&mut lu, 4, 24);
    assert_eq!(d[8 + 12], 1);
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_get_lba_status_range_and_full_disk() {
    let mut lu = lu();
    let (d, c) = lba_status(&mut lu, 5, 24);
    assert!(c.is_good());
    assert_eq!(&d[8..16], &5u64.to_be_bytes());
    assert_eq!(
        u32::from_be_bytes(d[16..20].try_into().unwrap()),
        (BLOCKS - 5) as u32
    );
    assert_eq!(d[20], 0, "mapped");
    for lba in [BLOCKS, BLOCKS + 1, 1 << 63, u64::MAX] {
        assert_lba_oob(&lba_status(&mut lu, lba, 24).1);
    }
}

fn caw(lu: &mut TestLu, lba: u64, n: u8, data: &[u8]) -> Completion {
    let mut cdb = cdb16(0x89, 0, lba, 0);
    cdb[10..14].fill(0);
    cdb[13] = n;
    run(lu, &cdb, 0, data).1
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_compare_and_write() {
    let mut lu = lu();
    let bs = BS as usize;
    assert!(write10(&mut lu, 7, &vec![b'A'; 2 * bs]).is_good());
    let mut data = vec![b'A'; 2 * bs];
    data.extend_from_slice(&vec![b'B'; 2 * bs]);
    assert!(caw(&mut lu, 7, 2, &data).is_good());
    assert!(read10(&mut lu, 7, 2).0.iter().all(|&b| b == b'B'));
    // Miscompare: nothing written, offset reported.
    data[..2 * bs].fill(b'B');
    data[2 * bs..].fill(b'C');
    data[bs + 5] = b'Z';
    let c = caw(&mut lu, 7, 2, &data);
    assert_eq!(
        code(&c),
        (
            SenseKey::MISCOMPARE,
            AdditionalSense::MISCOMPARE_DURING_VERIFY
        )
    );
    assert_eq!(c.sense.unwrap().information, Some(bs as u32 + 5));
    assert!(read10(&mut lu, 7, 2).0.iter().all(|&b| b == b'B'));
    // Data-Out must be exactly 2 × N blocks; N is limited by the scratch buffer.
    assert_invalid_field(&caw(&mut lu, 7, 1, &data), 13);
    assert_invalid_field(&caw(&mut lu, 0, 5, &vec![0; 10 * bs]), 13);
    assert_lba_oob(&caw(&mut lu, BLOCKS - 1, 2, &data));
    // DPO and FUA are accepted.
    let mut cdb = cdb16(0x89, 0x18, 7, 0);
    cdb[10..14].fill(0);
    cdb[13] = 1;
    let mut one = vec![b'B'; bs];
    one.extend_from_slice(&vec![b'D'; bs]);
    assert!(run(&mut lu, &cdb, 0, &one).1.is_good());
    assert_eq!(lu.max_compare_and_write_blocks(), 4);
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_scratch_busy_and_abort() {
    let mut lu = lu();
    let bs = BS as usize;
    let mut cdb = cdb16(0x89, 0, 0, 0);
    cdb[10..14].fill(0);
    cdb[13] = 1;
    let req = CommandRequest {
        cdb: &cdb,
        expected_read_len: 0,
        expected_write_len: 2 * BS,
        nexus: NexusId(0),
    };
    let Start::DataOut { task, .. } = lu.start(&req) else {
        panic!()
    };
    // A second buffered command meanwhile is BUSY; plain writes still work.
    let c = lu.start(&req).done().unwrap();
    assert_eq!(c.status, Status::BUSY);
    assert!(write10(&mut lu, 0, &vec![0; bs]).is_good());
    lu.abort(&task);
    assert!(matches!(lu.start(&req), Start::DataOut { .. }));
    // finish of the aborted task does not touch the new owner's buffer.
    assert_eq!(lu.finish(&task).status, Status::BUSY);
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_orwrite() {
    let mut lu = lu();
    let bs = BS as usize;
    assert!(write10(&mut lu, 2, &vec![0xa0; 2 * bs]).is_good());
    let c = run(&mut lu, &cdb16(0x8b, 0, 2, 2), 0, &vec![0x05; 2 * bs]).1;
    assert!(c.is_good());
    assert!(read10(&mut lu, 2, 2).0.iter().all(|&b| b == 0xa5));
    assert_lba_oob(&run(&mut lu, &cdb16(0x8b, 0, BLOCKS, 1), 0, &vec![0; bs]).1);
    assert_invalid_field(
        &run(&mut lu, &cdb16(0x8b, 0x20, 0, 1), 0, &vec![0; bs]).1,
        1,
    );
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_write_atomic_opt_in() {
    let bs = BS as usize;
    let mut cdb = cdb16(0x9c, 0, 1, 0);
    cdb[10..14].fill(0);
    cdb[13] = 2;
    let mut off = lu();
    let c = run(&mut off, &cdb, 0, &vec![1; 2 * bs]).1;
    assert_eq!(code(&c).1, AdditionalSense::INVALID_COMMAND_OPERATION_CODE);
    let cfg = LuConfig {
        atomic_writes: true,
        ..LuConfig::default()
    };
    let mut on = TestLu::new(disk(BLOCKS), LuIdentity::new(1), cfg);
    let _ = run(&mut on, &[0; 6], 0, &[]);
    assert!(run(&mut on, &cdb, 0, &vec![1; 2 * bs]).1.is_good());
    assert!(read10(&mut on, 1, 2).0.iter().all(|&b| b == 1));
    cdb[13] = 9; // more than the scratch buffer holds
    assert_invalid_field(&run(&mut on, &cdb, 0, &vec![1; 9 * bs]).1, 12);
    cdb[11] = 1; // ATOMIC BOUNDARY
    assert_invalid_field(&run(&mut on, &cdb, 0, &vec![1; 9 * bs]).1, 11);
    let (d, _) = run(&mut on, &[0x12, 1, 0xb0, 0, 64, 0], 64, &[]);
    assert_eq!(u32::from_be_bytes(d[44..48].try_into().unwrap()), 8);
}

#[test]
fn test_prefetch() {
    let mut lu = lu();
    assert!(run(&mut lu, &cdb10(0x34, 0x02, 0, 8), 0, &[]).1.is_good());
    assert!(run(&mut lu, &cdb16(0x90, 0, 0, 0), 0, &[]).1.is_good());
    assert_lba_oob(&run(&mut lu, &cdb10(0x34, 0, BLOCKS as u32 + 1, 0), 0, &[]).1);
    assert_lba_oob(&run(&mut lu, &cdb16(0x90, 0, u64::MAX, 1), 0, &[]).1);
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_block_limits_follow_provisioning() {
    let mut thin = lu_over(thin_disk(BLOCKS));
    let (d, _) = run(&mut thin, &[0x12, 1, 0xb0, 0, 64, 0], 64, &[]);
    assert_eq!(d[5], 4, "MAXIMUM COMPARE AND WRITE LENGTH");
    assert!(u32::from_be_bytes(d[20..24].try_into().unwrap()) > 0);
    assert_eq!(
        u32::from_be_bytes(d[24..28].try_into().unwrap()),
        255,
        "fits the scratch"
    );
    let (d, _) = run(&mut thin, &[0x12, 1, 0xb2, 0, 8, 0], 8, &[]);
    assert_eq!(d[5] & 0xe4, 0xe4, "LBPU, LBPWS, LBPWS10, LBPRZ");
    let mut full = super::lu();
    let (d, _) = run(&mut full, &[0x12, 1, 0xb0, 0, 64, 0], 64, &[]);
    assert_eq!(&d[20..28], &[0; 8], "no UNMAP limits without LBPU");
}

fn sanitize(lu: &mut TestLu, sa: u8, params: &[u8]) -> Completion {
    let plen = (params.len() as u16).to_be_bytes();
    run(
        lu,
        &[0x48, sa, 0, 0, 0, 0, 0, plen[0], plen[1], 0],
        0,
        params,
    )
    .1
}

fn overwrite_params(b0: u8, pattern: &[u8]) -> Vec<u8> {
    let mut p = vec![b0, 0];
    p.extend_from_slice(&(pattern.len() as u16).to_be_bytes());
    p.extend_from_slice(pattern);
    p
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_sanitize_overwrite() {
    let mut lu = lu_over(disk(8));
    assert!(sanitize(&mut lu, 1, &overwrite_params(1, &vec![0xaa; BS as usize])).is_good());
    assert!(read10(&mut lu, 0, 8).0.iter().all(|&b| b == 0xaa));
    assert!(sanitize(&mut lu, 1, &overwrite_params(1, b"123")).is_good());
    let (d, _) = read10(&mut lu, 7, 1);
    assert_eq!(&d[..7], b"1231231");
    assert_eq!(d[511], b"123"[511 % 3]);
    // INVERT with two passes leaves the inverted pattern.
    assert!(sanitize(&mut lu, 1, &overwrite_params(0x82, &[0x0f])).is_good());
    assert!(read10(&mut lu, 0, 8).0.iter().all(|&b| b == 0xf0));
    // Parameter list shorter than 5 bytes or longer than a block + 4: CDB error.
    for n in 0..5 {
        assert_invalid_field(&sanitize(&mut lu, 1, &vec![1; n]), 7);
    }
    assert_invalid_field(&sanitize(&mut lu, 1, &vec![1; BS as usize + 5]), 7);
    // OVERWRITE COUNT 0, pattern length 0 or past the list: parameter errors.
    for p in [
        overwrite_params(0, &[1]),
        {
            let mut p = overwrite_params(1, &[1, 2]);
            p[3] = 0;
            p
        },
        {
            let mut p = overwrite_params(1, &[1, 2]);
            p[3] = 9;
            p
        },
    ] {
        assert_eq!(
            code(&sanitize(&mut lu, 1, &p)).1,
            AdditionalSense::INVALID_FIELD_IN_PARAMETER_LIST
        );
    }
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_sanitize_block_erase_and_service_actions() {
    let mut lu = lu_over(thin_disk(8));
    assert!(write10(&mut lu, 0, &vec![1; 8 * BS as usize]).is_good());
    assert!(sanitize(&mut lu, 2, &[]).is_good());
    assert!(read10(&mut lu, 0, 8).0.iter().all(|&b| b == 0));
    assert_invalid_field(&sanitize(&mut lu, 2, &[0; 8]), 7);
    assert!(sanitize(&mut lu, 0x1f, &[]).is_good());
    assert_invalid_field(&sanitize(&mut lu, 0x1f, &[0; 8]), 7);
    for sa in (0..0x1f).filter(|s| ![1, 2, 3].contains(s)) {
        assert_invalid_field(&sanitize(&mut lu, sa, &[]), 1);
    }
    // BLOCK ERASE needs thin provisioning.
    let mut full = super::lu();
    assert_invalid_field(&sanitize(&mut full, 2, &[]), 1);
    // Write protection.
    let mut d = thin_disk(8);
    d.set_write_protected(true);
    let mut ro = lu_over(d);
    assert_eq!(code(&sanitize(&mut ro, 2, &[])).0, SenseKey::DATA_PROTECT);
    assert_eq!(
        code(&sanitize(&mut ro, 1, &overwrite_params(1, &[1]))).0,
        SenseKey::DATA_PROTECT
    );
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_sanitize_crypto_erase() {
    // Thin: every block unmapped. Fully provisioned: zeros written.
    for mut lu in [lu_over(thin_disk(8)), lu_over(disk(8))] {
        assert!(write10(&mut lu, 0, &vec![7; 8 * BS as usize]).is_good());
        assert!(sanitize(&mut lu, 3, &[]).is_good());
        assert!(read10(&mut lu, 0, 8).0.iter().all(|&b| b == 0));
        assert_invalid_field(&sanitize(&mut lu, 3, &[0; 8]), 7);
    }
    // WABEREQ = WACEREQ = 01b in the Block Device Characteristics page.
    let mut lu = lu();
    let (d, _) = run(&mut lu, &[0x12, 1, 0xb1, 0, 64, 0], 64, &[]);
    assert_eq!(d[7], 0x50);
}

/// SANITIZE with IMMED=1.
fn sanitize_immed(lu: &mut TestLu, sa: u8, params: &[u8]) -> Completion {
    let plen = (params.len() as u16).to_be_bytes();
    run(
        lu,
        &[0x48, 0x80 | sa, 0, 0, 0, 0, 0, plen[0], plen[1], 0],
        0,
        params,
    )
    .1
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_sanitize_in_background() {
    let mut lu = lu_over(disk(8));
    assert!(!lu.background_pending());
    let c = sanitize_immed(&mut lu, 1, &overwrite_params(2, &[0x5a]));
    assert!(c.is_good(), "IMMED=1 completes at once");
    assert!(lu.background_pending());
    // Everything but INQUIRY, REPORT LUNS and REQUEST SENSE is NOT READY, with progress.
    let c = run(&mut lu, &[0; 6], 0, &[]).1;
    assert_eq!(
        code(&c),
        (
            SenseKey::NOT_READY,
            AdditionalSense::NOT_READY_SANITIZE_IN_PROGRESS
        )
    );
    assert_eq!(c.sense.unwrap().specific, Some(SenseSpecific::Progress(0)));
    assert_eq!(code(&read10(&mut lu, 0, 1).1).0, SenseKey::NOT_READY);
    assert!(run(&mut lu, &[0x12, 0, 0, 0, 36, 0], 36, &[]).1.is_good());
    // Half of the two passes: progress 1/2.
    assert!(lu.run_background(8 * u64::from(BS)));
    let (d, c) = run(&mut lu, &[0x03, 0, 0, 0, 18, 0], 18, &[]);
    assert!(c.is_good());
    let s = Sense::parse(&d).unwrap();
    assert_eq!(s.code, AdditionalSense::NOT_READY_SANITIZE_IN_PROGRESS);
    assert_eq!(s.specific, Some(SenseSpecific::Progress(0x8000)));
    // Resets do not stop it.
    lu.reset(ResetKind::LogicalUnitReset);
    assert!(lu.background_pending());
    while lu.run_background(1000) {}
    let _ = run(&mut lu, &[0; 6], 0, &[]); // the reset's unit attention
    assert!(run(&mut lu, &[0; 6], 0, &[]).1.is_good());
    assert!(read10(&mut lu, 0, 8).0.iter().all(|&b| b == 0x5a));
    assert!(!lu.run_background(1), "nothing left");
    // The scratch buffer is free again.
    assert!(sanitize(&mut lu, 1, &overwrite_params(1, &[1])).is_good());
}

/// A device whose writes fail.
struct ReadOnlyMedium;

impl BlockDevice for ReadOnlyMedium {
    fn block_size(&self) -> u32 {
        BS
    }
    fn num_blocks(&self) -> u64 {
        4
    }
    fn read_at(&mut self, _: u64, buf: &mut [u8]) -> Result<(), IoError> {
        buf.fill(0);
        Ok(())
    }
    fn write_at(&mut self, _: u64, _: &[u8], _: bool) -> Result<(), IoError> {
        Err(IoError::Medium)
    }
    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_sanitize_failure_mode() {
    let mut lu: LogicalUnit<ReadOnlyMedium, 2> =
        LogicalUnit::new(ReadOnlyMedium, LuIdentity::new(1), LuConfig::default());
    fn req(cdb: &[u8]) -> CommandRequest<'_> {
        CommandRequest {
            cdb,
            expected_read_len: 512,
            expected_write_len: 0,
            nexus: NexusId(0),
        }
    }
    let _ = lu.start(&req(&[0; 6])); // power-on unit attention
    let failed = (
        SenseKey::MEDIUM_ERROR,
        AdditionalSense::SANITIZE_COMMAND_FAILED,
    );
    // CRYPTO ERASE (IMMED=0) has no data phase; its status is the job's outcome.
    let c = match lu.start(&req(&[0x48, 3, 0, 0, 0, 0, 0, 0, 0, 0])) {
        Start::DataIn { task, len: 0 } => lu.finish(&task),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(code(&c), failed);
    // Medium access fails until EXIT FAILURE MODE.
    let c = lu.start(&req(&cdb10(0x28, 0, 0, 1))).done().unwrap();
    assert_eq!(code(&c), failed);
    let c = lu.start(&req(&[0; 6])).done().unwrap();
    assert_eq!(code(&c), failed);
    assert!(lu
        .start(&req(&[0x48, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0]))
        .done()
        .unwrap()
        .is_good());
    assert!(lu.start(&req(&[0; 6])).done().unwrap().is_good());
}

#[cfg(feature = "scsi-full")]
/// SANITIZE with IMMED=0 through `finish_or_defer`: the status waits for the job while other
/// commands are answered (what libiscsi's Sanitize.Reset expects of a session).
#[test]
fn test_sanitize_status_deferred_until_the_job_ends() {
    let mut lu = lu_over(thin_disk(8));
    let params = overwrite_params(1, &[0x77]);
    let cdb = [0x48, 1, 0, 0, 0, 0, 0, 0, params.len() as u8, 0];
    let req = CommandRequest {
        cdb: &cdb,
        expected_read_len: 0,
        expected_write_len: params.len() as u32 + 3,
        nexus: NexusId(0),
    };
    let _ = run(&mut lu, &[0; 6], 0, &[]); // power-on unit attention
    let Start::DataOut { mut task, len } = lu.start(&req) else {
        panic!("OVERWRITE takes a parameter list")
    };
    lu.write_data(&mut task, 0, &params[..len as usize])
        .unwrap();
    let Finish::Deferred(ticket) = lu.finish_or_defer(&task, &mut NoPeers) else {
        panic!("IMMED=0 waits for the job")
    };
    assert_eq!(lu.deferred_status(&task, ticket), None);
    assert_eq!(
        code(&run(&mut lu, &[0; 6], 0, &[]).1).1,
        AdditionalSense::NOT_READY_SANITIZE_IN_PROGRESS
    );
    assert!(lu.run_background(4 * u64::from(BS)), "half done");
    assert_eq!(lu.deferred_status(&task, ticket), None);
    while lu.run_background(u64::from(BS)) {}
    let c = lu.deferred_status(&task, ticket).unwrap();
    assert!(c.is_good());
    assert_eq!(c.residual, Residual::Under(3));
    assert!(read10(&mut lu, 0, 8).0.iter().all(|&b| b == 0x77));

    // BLOCK ERASE (no data phase) defers the same way; a failing job fails the command.
    let cdb = [0x48, 2, 0, 0, 0, 0, 0, 0, 0, 0];
    let req = CommandRequest {
        cdb: &cdb,
        expected_read_len: 0,
        expected_write_len: 0,
        nexus: NexusId(0),
    };
    let Start::DataIn { task, len: 0 } = lu.start(&req) else {
        panic!("no data phase")
    };
    let Finish::Deferred(ticket) = lu.finish_or_defer(&task, &mut NoPeers) else {
        panic!("IMMED=0 waits for the job")
    };
    while lu.run_background(u64::from(BS)) {}
    assert!(lu.deferred_status(&task, ticket).unwrap().is_good());

    let mut broken: LogicalUnit<ReadOnlyMedium, 2> =
        LogicalUnit::new(ReadOnlyMedium, LuIdentity::new(1), LuConfig::default());
    let cdb = [0x48, 3, 0, 0, 0, 0, 0, 0, 0, 0];
    let req = CommandRequest {
        cdb: &cdb,
        expected_read_len: 0,
        expected_write_len: 0,
        nexus: NexusId(1),
    };
    let _ = broken.start(&CommandRequest {
        cdb: &[0; 6],
        ..req
    });
    let Start::DataIn { task, len: 0 } = broken.start(&req) else {
        panic!("no data phase")
    };
    let Finish::Deferred(ticket) = broken.finish_or_defer(&task, &mut NoPeers) else {
        panic!("IMMED=0 waits for the job")
    };
    while broken.run_background(u64::from(BS)) {}
    assert_eq!(
        code(&broken.deferred_status(&task, ticket).unwrap()),
        (
            SenseKey::MEDIUM_ERROR,
            AdditionalSense::SANITIZE_COMMAND_FAILED
        )
    );
}

/// Without `scsi-full` the optional commands are unsupported operation codes, and neither
/// INQUIRY nor the Block Limits page advertises them.
#[cfg(not(feature = "scsi-full"))]
#[test]
fn test_optional_commands_are_unsupported_without_scsi_full() {
    let mut lu = super::lu();
    let mut cdb16 = [0u8; 16];
    let mut thin = lu_over(thin_disk(16));
    for op in [
        0x5e, 0x5f, 0x48, 0x83, 0x84, 0x89, 0x9c, 0x37, 0xb7, 0x41, 0x42, 0x93, 0x15, 0x55, 0x16,
        0x17, 0x2f, 0xaf, 0x8f, 0x8b,
    ] {
        cdb16[0] = op;
        let len = match op {
            0x15..=0x17 => 6,
            0x5e | 0x5f | 0x48 | 0x37 | 0x41 | 0x42 | 0x55 | 0x2f => 10,
            0xb7 | 0xaf => 12,
            _ => 16,
        };
        for unit in [&mut lu, &mut thin] {
            let c = run(unit, &cdb16[..len], 0, &[]).1;
            let sense = c.sense.unwrap();
            assert_eq!(
                (sense.key, sense.code),
                (
                    SenseKey::ILLEGAL_REQUEST,
                    AdditionalSense::INVALID_COMMAND_OPERATION_CODE
                ),
                "opcode {op:#04x}"
            );
        }
    }
    // REPORT SUPPORTED OPERATION CODES and GET LBA STATUS: their operation codes stay (REPORT
    // TARGET PORT GROUPS, READ CAPACITY(16)), so the service action is the invalid field
    // (SPC-4 §4.5.2).
    let rsoc = [0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
    let get_lba_status = super::cdb16(0x9e, 0x12, 0, 32);
    for cdb in [&rsoc[..], &get_lba_status[..]] {
        let sense = run(&mut thin, cdb, 256, &[]).1.sense.unwrap();
        assert_eq!(
            (sense.key, sense.code),
            (
                SenseKey::ILLEGAL_REQUEST,
                AdditionalSense::INVALID_FIELD_IN_CDB
            ),
            "{cdb:02x?}"
        );
    }
    // A thin unit reports full provisioning: no LBPU/LBPWS, no UNMAP or WRITE SAME limits.
    let (d, _) = run(&mut thin, &[0x12, 1, 0xb2, 0, 8, 0], 8, &[]);
    assert_eq!(d[5] & 0xe0, 0, "LBPU, LBPWS, LBPWS10");
    let (d, _) = run(&mut thin, &[0x12, 1, 0xb0, 0, 64, 0], 64, &[]);
    assert_eq!(&d[20..28], &[0; 8], "MAXIMUM UNMAP LBA / DESCRIPTOR COUNT");
    assert_eq!(&d[36..44], &[0; 8], "MAXIMUM WRITE SAME LENGTH");
    let (d, _) = run(&mut lu, &[0x12, 0, 0, 0, 96, 0], 96, &[]);
    assert_eq!(d[5] & 0x08, 0, "3PC");
    let (d, _) = run(&mut lu, &[0x12, 1, 0xb0, 0, 64, 0], 64, &[]);
    assert_eq!(d[5], 0, "MAXIMUM COMPARE AND WRITE LENGTH");
    assert_eq!(&d[44..48], &[0; 4], "MAXIMUM ATOMIC TRANSFER LENGTH");
    // Still there: READ/WRITE and the rest of the block command set.
    let c = run(
        &mut lu,
        &[0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0],
        0,
        &[7; BS as usize],
    )
    .1;
    assert!(c.is_good());
}
