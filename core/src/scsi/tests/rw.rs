//! READ, WRITE, VERIFY and SYNCHRONIZE CACHE: data, ranges, limits and residuals.

use super::*;

#[test]
fn test_write_then_read_every_cdb_size() {
    let mut lu = lu();
    let data = pattern(3 * BS as usize, 7);
    let cases: [(Vec<u8>, Vec<u8>); 4] = [
        (vec![0x0a, 0, 0, 5, 3, 0], vec![0x08, 0, 0, 5, 3, 0]),
        (
            cdb10(0x2a, 0x08, 9, 3).to_vec(),
            cdb10(0x28, 0x18, 9, 3).to_vec(),
        ),
        (
            cdb12(0xaa, 0, 20, 3).to_vec(),
            cdb12(0xa8, 0, 20, 3).to_vec(),
        ),
        (
            cdb16(0x8a, 0x1a, 40, 3).to_vec(),
            cdb16(0x88, 0x1e, 40, 3).to_vec(),
        ),
    ];
    for (i, (w, r)) in cases.iter().enumerate() {
        let data = pattern(data.len(), i as u8);
        let c = run(&mut lu, w, 0, &data).1;
        assert!(c.is_good(), "{w:x?}");
        assert_eq!(c.residual, Residual::None);
        let (d, c) = run(&mut lu, r, 3 * BS, &[]);
        assert!(c.is_good());
        assert_eq!(d, data);
    }
}

#[test]
fn test_read6_zero_means_256_blocks() {
    let mut big = lu_over(disk(300));
    let (d, c) = run(&mut big, &[0x08, 0, 0, 0, 0, 0], 256 * BS, &[]);
    assert!(c.is_good());
    assert_eq!(d.len(), 256 * BS as usize);
    // And at the end of a small disk it is out of range.
    let mut small = lu();
    assert_lba_oob(&run(&mut small, &[0x08, 0, 0, 0, 0, 0], 256 * BS, &[]).1);
}

#[test]
fn test_zero_length_transfers() {
    let mut lu = lu();
    // READ, WRITE, and VERIFY where it is built in (`scsi-full`).
    let ops: &[u8] = if cfg!(feature = "scsi-full") {
        &[0x28, 0x2a, 0x2f]
    } else {
        &[0x28, 0x2a]
    };
    for &op in ops {
        let c = run(&mut lu, &cdb10(op, 0, 0, 0), 0, &[]).1;
        assert!(c.is_good());
        assert_eq!(c.residual, Residual::None);
    }
    for lba in [BLOCKS as u32 + 1, 0x8000_0000, u32::MAX] {
        for &op in ops {
            assert_lba_oob(&run(&mut lu, &cdb10(op, 0, lba, 0), 0, &[]).1);
        }
    }
}

#[test]
fn test_beyond_end_of_lun() {
    let mut lu = lu();
    let n = BLOCKS as u32;
    for i in 1..=8u16 {
        let d = vec![0u8; usize::from(i) * BS as usize];
        assert_lba_oob(&read10(&mut lu, n + 1 - u32::from(i), i).1);
        assert_lba_oob(&read10(&mut lu, 0x8000_0000, i).1);
        assert_lba_oob(&read10(&mut lu, u32::MAX, i).1);
        assert_lba_oob(&write10(&mut lu, n + 1 - u32::from(i), &d));
        if i >= 2 {
            assert_lba_oob(&read10(&mut lu, n - 1, i).1);
        }
        let c = run(&mut lu, &cdb16(0x88, 0, u64::MAX, u32::from(i)), 0, &[]).1;
        assert_lba_oob(&c);
        if cfg!(feature = "scsi-full") {
            let c = run(&mut lu, &cdb16(0x8f, 0x02, u64::MAX - 1, 2), 0, &d).1;
            assert_lba_oob(&c);
        }
    }
    assert!(
        read10(&mut lu, n - 8, 8).1.is_good(),
        "the last blocks are readable"
    );
}

#[test]
fn test_maximum_transfer_length() {
    let cfg = LuConfig {
        max_transfer_blocks: 4,
        ..LuConfig::default()
    };
    let mut lu = TestLu::new(disk(16), LuIdentity::new(1), cfg);
    let _ = run(&mut lu, &[0; 6], 0, &[]);
    assert!(read10(&mut lu, 0, 4).1.is_good());
    let c = read10(&mut lu, 0, 5).1;
    assert_invalid_field(&c, 7);
    let c = run(&mut lu, &cdb16(0x88, 0, 0, 5), 5 * BS, &[]).1;
    assert_invalid_field(&c, 10);
}

#[test]
fn test_read_residuals() {
    let mut lu = lu();
    let read = |lu: &mut TestLu, n: u16, edtl: u32| run(lu, &cdb10(0x28, 0, 0, n), edtl, &[]);
    let (d, c) = read(&mut lu, 1, 0);
    assert!(c.is_good() && d.is_empty());
    assert_eq!(c.residual, Residual::Over(BS));
    let (d, c) = read(&mut lu, 1, 10000);
    assert_eq!(d.len(), BS as usize);
    assert_eq!(c.residual, Residual::Under(10000 - BS));
    let (d, c) = read(&mut lu, 1, 200);
    assert_eq!(d.len(), 200);
    assert_eq!(c.residual, Residual::Over(BS - 200));
    let (d, c) = read(&mut lu, 2, BS);
    assert_eq!(d.len(), BS as usize);
    assert_eq!(c.residual, Residual::Over(BS));
}

#[test]
fn test_write_residuals() {
    let bs = BS as usize;
    // (blocks in CDB, EDTL, expected residual, GOOD?, bytes written)
    let cases = [
        (1u16, 0usize, Residual::Over(BS), true, 0usize),
        (1, 2 * bs, Residual::Under(BS), true, bs),
        (2, bs, Residual::Over(BS), true, bs),
        (1, 10000, Residual::Under(10000 - BS), true, bs),
        (1, 200, Residual::Over(BS - 200), false, 0),
    ];
    for (blocks, edtl, residual, good, written) in cases {
        let mut lu = lu();
        assert!(write10(&mut lu, 0, &vec![b'a'; 4 * bs]).is_good());
        let c = run(&mut lu, &cdb10(0x2a, 0, 0, blocks), 0, &vec![b'b'; edtl]).1;
        assert_eq!(c.residual, residual, "{blocks} blocks, EDTL {edtl}");
        if good {
            assert!(c.is_good());
        } else {
            assert_eq!(
                code(&c),
                (
                    SenseKey::ILLEGAL_REQUEST,
                    AdditionalSense::INVALID_FIELD_IN_COMMAND_IU
                )
            );
        }
        let (d, _) = read10(&mut lu, 0, 4);
        assert!(d[..written].iter().all(|&b| b == b'b'));
        assert!(d[written..].iter().all(|&b| b == b'a'));
    }
}

#[test]
fn test_write_flags_accepted() {
    let mut lu = lu();
    let data = pattern(BS as usize, 3);
    // DPO, FUA, FUA_NV in any combination; group number.
    for b1 in [0x10, 0x08, 0x0a, 0x02, 0x1a] {
        let mut cdb = cdb10(0x2a, b1, 0, 1);
        cdb[6] = 0x1f;
        assert!(run(&mut lu, &cdb, 0, &data).1.is_good(), "{b1:#x}");
    }
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_verify_bytchk() {
    let mut lu = lu();
    let data = pattern(4 * BS as usize, 9);
    assert!(write10(&mut lu, 10, &data).is_good());
    // BYTCHK 0: medium check only.
    assert!(run(&mut lu, &cdb10(0x2f, 0, 10, 4), 0, &[]).1.is_good());
    // BYTCHK 1, DPO: equal.
    assert!(run(&mut lu, &cdb10(0x2f, 0x12, 10, 4), 0, &data)
        .1
        .is_good());
    for flip in [0usize, 1, 700, data.len() - 1] {
        let mut bad = data.clone();
        bad[flip] ^= b'X';
        for cdb in [
            cdb10(0x2f, 0x02, 10, 4).to_vec(),
            cdb12(0xaf, 0x02, 10, 4).to_vec(),
            cdb16(0x8f, 0x02, 10, 4).to_vec(),
        ] {
            let c = run(&mut lu, &cdb, 0, &bad).1;
            assert_eq!(
                code(&c),
                (
                    SenseKey::MISCOMPARE,
                    AdditionalSense::MISCOMPARE_DURING_VERIFY
                )
            );
            assert_eq!(c.sense.unwrap().information, Some(flip as u32));
        }
    }
    // BYTCHK 2 is reserved.
    assert_invalid_field(&run(&mut lu, &cdb10(0x2f, 0x04, 10, 4), 0, &data).1, 1);
    // VRPROTECT is not supported.
    assert_invalid_field(&run(&mut lu, &cdb10(0x2f, 0x22, 10, 4), 0, &data).1, 1);
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_verify_bytchk_11_compares_one_block_with_each() {
    let mut lu = lu();
    let block = pattern(BS as usize, 5);
    let mut same = Vec::new();
    for _ in 0..3 {
        same.extend_from_slice(&block);
    }
    assert!(write10(&mut lu, 0, &same).is_good());
    assert!(run(&mut lu, &cdb10(0x2f, 0x06, 0, 3), 0, &block)
        .1
        .is_good());
    let mut other = same.clone();
    other[BS as usize * 2 + 3] ^= 1;
    assert!(write10(&mut lu, 0, &other).is_good());
    let c = run(&mut lu, &cdb10(0x2f, 0x06, 0, 3), 0, &block).1;
    assert_eq!(c.sense.unwrap().information, Some(2 * BS + 3));
}

#[cfg(feature = "scsi-full")]
#[test]
fn test_verify_out_of_order_pieces_report_lowest_offset() {
    let mut lu = lu();
    let data = pattern(2 * BS as usize, 1);
    assert!(write10(&mut lu, 0, &data).is_good());
    let mut bad = data.clone();
    bad[100] ^= 1;
    bad[900] ^= 1;
    let cdb = cdb10(0x2f, 0x02, 0, 2);
    let req = CommandRequest {
        cdb: &cdb,
        expected_read_len: 0,
        expected_write_len: bad.len() as u32,
        nexus: NexusId(0),
    };
    let Start::DataOut { mut task, len } = lu.start(&req) else {
        panic!()
    };
    assert_eq!(len, 2 * BS);
    lu.write_data(&mut task, 512, &bad[512..]).unwrap();
    lu.write_data(&mut task, 0, &bad[..512]).unwrap();
    let c = lu.finish(&task);
    assert_eq!(c.sense.unwrap().information, Some(100));
}

#[test]
fn test_synchronize_cache() {
    let mut lu = lu();
    assert!(run(&mut lu, &cdb10(0x35, 0, 0, 0), 0, &[]).1.is_good());
    assert!(run(&mut lu, &cdb10(0x35, 0x02, 10, 10), 0, &[]).1.is_good());
    assert!(run(&mut lu, &cdb16(0x91, 0, 0, BLOCKS as u32), 0, &[])
        .1
        .is_good());
    assert_lba_oob(&run(&mut lu, &cdb16(0x91, 0, BLOCKS, 1), 0, &[]).1);
    assert_lba_oob(&run(&mut lu, &cdb10(0x35, 0, BLOCKS as u32 + 1, 0), 0, &[]).1);
}

#[test]
fn test_invalid_opcode() {
    let mut lu = lu();
    for op in [0x02u8, 0x04, 0xc0, 0xff] {
        let c = run(&mut lu, &[op, 0, 0, 0, 0, 0], 0, &[]).1;
        assert_eq!(
            code(&c),
            (
                SenseKey::ILLEGAL_REQUEST,
                AdditionalSense::INVALID_COMMAND_OPERATION_CODE
            )
        );
    }
}

/// A device whose reads and writes fail, to check sense mapping.
struct Broken(IoError);

impl BlockDevice for Broken {
    fn block_size(&self) -> u32 {
        512
    }
    fn num_blocks(&self) -> u64 {
        8
    }
    fn read_at(&mut self, _: u64, _: &mut [u8]) -> Result<(), IoError> {
        Err(self.0)
    }
    fn write_at(&mut self, _: u64, _: &[u8], _: bool) -> Result<(), IoError> {
        Err(self.0)
    }
    fn flush(&mut self) -> Result<(), IoError> {
        Err(self.0)
    }
}

#[test]
fn test_io_errors_map_to_sense() {
    let cases = [
        (
            IoError::Medium,
            (
                SenseKey::MEDIUM_ERROR,
                AdditionalSense::UNRECOVERED_READ_ERROR,
            ),
            (SenseKey::MEDIUM_ERROR, AdditionalSense::WRITE_ERROR),
        ),
        (
            IoError::NoSpace,
            (
                SenseKey::DATA_PROTECT,
                AdditionalSense::SPACE_ALLOCATION_FAILED_WRITE_PROTECT,
            ),
            (
                SenseKey::DATA_PROTECT,
                AdditionalSense::SPACE_ALLOCATION_FAILED_WRITE_PROTECT,
            ),
        ),
        (
            IoError::Other,
            (
                SenseKey::HARDWARE_ERROR,
                AdditionalSense::INTERNAL_TARGET_FAILURE,
            ),
            (
                SenseKey::HARDWARE_ERROR,
                AdditionalSense::INTERNAL_TARGET_FAILURE,
            ),
        ),
    ];
    for (err, on_read, on_write) in cases {
        let mut lu: LogicalUnit<Broken, 2, [u8; 0]> =
            LogicalUnit::new(Broken(err), LuIdentity::new(1), LuConfig::default());
        let cdb = cdb10(0x28, 0, 0, 1);
        fn req(cdb: &[u8; 10], r: u32, w: u32) -> CommandRequest<'_> {
            CommandRequest {
                cdb: &cdb[..],
                expected_read_len: r,
                expected_write_len: w,
                nexus: NexusId(1),
            }
        }
        assert!(lu.start(&req(&[0; 10], 0, 0)).done().is_some()); // consume UA
        let Start::DataIn { task, .. } = lu.start(&req(&cdb, 512, 0)) else {
            panic!()
        };
        let c = lu.read_data(&task, 0, &mut [0u8; 512]).unwrap_err();
        assert_eq!(code(&c), on_read);
        let cdb = cdb10(0x2a, 0, 0, 1);
        let Start::DataOut { mut task, .. } = lu.start(&req(&cdb, 0, 512)) else {
            panic!()
        };
        let c = lu.write_data(&mut task, 0, &[0u8; 100]).unwrap_err();
        assert_eq!(code(&c), on_write);
        // Later pieces keep failing and finish reports the same.
        assert!(lu.write_data(&mut task, 100, &[0u8; 412]).is_err());
        assert_eq!(code(&lu.finish(&task)), on_write);
        // complete_io maps errors of an asynchronous backend the same way.
        assert_eq!(code(&lu.complete_io(&task, Err(err))), on_write);
        let c = lu.start(&req(&cdb10(0x35, 0, 0, 0), 0, 0)).done().unwrap();
        assert_eq!(code(&c), on_write);
    }
}

#[test]
fn test_block_io_plan() {
    let mut lu = lu();
    let cdb = cdb10(0x2a, 0x08, 3, 2);
    let req = CommandRequest {
        cdb: &cdb,
        expected_read_len: 0,
        expected_write_len: 2 * BS,
        nexus: NexusId(0),
    };
    let Start::DataOut { task, .. } = lu.start(&req) else {
        panic!()
    };
    assert_eq!(
        task.block_io(),
        Some(BlockIo {
            byte_offset: 3 * u64::from(BS),
            len: 2 * BS,
            write: true,
            fua: true
        })
    );
    assert!(lu.complete_io(&task, Ok(())).is_good());
}

#[test]
fn test_start_in_writes_the_task_into_the_slot() {
    let mut lu = lu();
    let mut wv = cdb10(0x2e, 0, 1, 1);
    wv[1] = 0x04; // WRITE AND VERIFY with BYTCHK 10b: reserved
    let check = |s: Started| match s {
        Started::Done(c) => c.sense.map(|s| s.code),
        _ => None,
    };
    let cases: [(Vec<u8>, u32, u32, Started); 8] = [
        (
            cdb10(0x28, 0, 2, 1).to_vec(),
            BS,
            0,
            Started::DataIn { len: BS },
        ),
        (
            cdb10(0x2a, 0, 2, 2).to_vec(),
            0,
            2 * BS,
            Started::DataOut { len: 2 * BS },
        ),
        // READ(6): a CDB shorter than 16 bytes.
        (
            vec![0x08, 0, 0, 5, 3, 0],
            3 * BS,
            0,
            Started::DataIn { len: 3 * BS },
        ),
        // INQUIRY goes through `dispatch` and `Start::place`.
        (
            vec![0x12, 0, 0, 0, 36, 0],
            36,
            0,
            Started::DataIn { len: 36 },
        ),
        (
            cdb10(0x28, 0, 2, 1).to_vec(),
            0,
            0,
            Started::Done(Completion::GOOD.with_residual(Residual::Over(BS))),
        ),
        (vec![0; 6], 0, 0, Started::Done(Completion::GOOD)),
        (
            cdb10(0x28, 0, BLOCKS as u32, 1).to_vec(),
            BS,
            0,
            Started::Done(Completion::GOOD),
        ),
        (wv.to_vec(), 0, BS, Started::Done(Completion::GOOD)),
    ];
    let senses = [
        AdditionalSense::LBA_OUT_OF_RANGE,
        AdditionalSense::INVALID_FIELD_IN_CDB,
    ];
    let mut refused = 0;
    for (cdb, r, w, want) in &cases {
        let req = CommandRequest {
            cdb,
            expected_read_len: *r,
            expected_write_len: *w,
            nexus: NexusId(0),
        };
        let mut slot = None;
        let started = lu.start_in(&req, &mut slot);
        match (started, *want) {
            (Started::DataIn { len }, Started::DataIn { .. })
            | (Started::DataOut { len }, Started::DataOut { .. }) => {
                assert_eq!(started, *want, "{cdb:x?}");
                let task = slot.unwrap();
                assert_eq!((task.len(), task.opcode().0), (len, cdb[0]));
            }
            (Started::Done(c), Started::Done(_)) if c.sense.is_some() => {
                assert_eq!(check(started), Some(senses[refused]), "{cdb:x?}");
                refused += 1;
            }
            _ => assert_eq!(started, *want, "{cdb:x?}"),
        }
    }
    assert_eq!(refused, senses.len());
}
