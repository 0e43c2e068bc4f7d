//! Property tests: no CDB panics, and streamed writes/reads agree with a byte-array model.

use super::*;
use crate::scsi::commands::COMMANDS;

/// Drives any `Start` to completion with pieces of `piece` bytes (bounded work for huge
/// lengths: at most 64 pieces, the last at the end of the transfer).
fn drive(lu: &mut TestLu, s: Start, piece: usize, fill: u8) {
    let piece = piece.max(1);
    match s {
        Start::Done(_) => {}
        Start::DataIn { task, len } => {
            let mut buf = vec![0u8; piece];
            let mut off = 0usize;
            for _ in 0..64 {
                if off >= len as usize {
                    break;
                }
                let _ = lu.read_data(&task, off as u32, &mut buf);
                off += piece;
            }
            let _ = lu.read_data(&task, len.saturating_sub(1), &mut buf);
            let _ = lu.read_data(&task, u32::MAX, &mut buf);
            let _ = lu.finish(&task);
        }
        Start::DataOut { mut task, len } => {
            let buf = vec![fill; piece];
            let mut off = 0usize;
            for _ in 0..64 {
                if off >= len as usize {
                    break;
                }
                let _ = lu.write_data(&mut task, off as u32, &buf);
                off += piece;
            }
            let _ = lu.write_data(&mut task, len.saturating_sub(1), &buf);
            let _ = lu.write_data(&mut task, u32::MAX, &buf);
            let _ = lu.finish(&task);
        }
    }
}

fn arb_cdb() -> impl Strategy<Value = Vec<u8>> {
    let known: Vec<u8> = COMMANDS.iter().map(|c| c.op.0).collect();
    (
        proptest::sample::select(known),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..32),
    )
        .prop_map(|(op, use_known, mut bytes)| {
            if use_known && !bytes.is_empty() {
                bytes[0] = op;
                // Keep most reserved bits clear so decoding goes deep.
                if bytes.len() > 1 {
                    bytes[1] &= 0x1f;
                }
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn prop_arbitrary_cdbs_never_panic(
        cdbs in proptest::collection::vec(
            (arb_cdb(), 0u32..70_000, 0u32..70_000, 0u16..6, 1usize..5000, any::<u8>()), 1..6),
        thin in any::<bool>(),
    ) {
        let mut lu = TestLu::new(
            if thin { thin_disk(32) } else { disk(32) },
            LuIdentity::new(7),
            LuConfig::default(),
        );
        for (cdb, r, w, nexus, piece, fill) in cdbs {
            let req = CommandRequest {
                cdb: &cdb,
                expected_read_len: r,
                expected_write_len: w,
                nexus: NexusId(nexus),
            };
            let s = lu.start(&req);
            if let Start::DataIn { len, .. } | Start::DataOut { len, .. } = s {
                prop_assert!(len > 0);
                prop_assert!(len <= r.max(w));
            }
            drive(&mut lu, s, piece, fill);
            let s = target::start(&req, &[0, 1 << 48]);
            if let Start::DataIn { task, len } = s {
                let mut buf = vec![0u8; piece];
                let _ = target::read_data(&task, &[0], len / 2, &mut buf);
                let _ = target::finish(&task);
            }
        }
        lu.reset(ResetKind::TargetColdReset);
    }

    #[test]
    fn prop_streamed_writes_and_reads_match_model(
        ops in proptest::collection::vec(
            (any::<bool>(), 0u64..BLOCKS, 1u32..9, 0u8..4, proptest::collection::vec(1usize..1500, 1..8), any::<u8>()),
            1..12),
    ) {
        let mut lu = lu();
        let mut model = vec![0u8; (BLOCKS * u64::from(BS)) as usize];
        for (is_write, lba, blocks, size, pieces, seed) in ops {
            let blocks = blocks.min((BLOCKS - lba) as u32);
            let cdb: Vec<u8> = match (size, is_write) {
                (0, w) if lba < 0x1f_ffff => vec![if w { 0x0a } else { 0x08 }, 0, (lba >> 8) as u8, lba as u8, blocks as u8, 0],
                (1, w) => cdb10(if w { 0x2a } else { 0x28 }, 0, lba as u32, blocks as u16).to_vec(),
                (2, w) => cdb12(if w { 0xaa } else { 0xa8 }, 0, lba as u32, blocks).to_vec(),
                (_, w) => cdb16(if w { 0x8a } else { 0x88 }, 0, lba, blocks).to_vec(),
            };
            let len = (blocks * BS) as usize;
            let base = (lba * u64::from(BS)) as usize;
            // Split the transfer into the given piece sizes (cycled), then visit the pieces
            // in a seed-dependent order.
            let mut cuts = Vec::new();
            let mut off = 0usize;
            let mut i = 0usize;
            while off < len {
                let end = (off + pieces[i % pieces.len()]).min(len);
                cuts.push((off, end));
                off = end;
                i += 1;
            }
            let rot = usize::from(seed) % cuts.len();
            cuts.rotate_left(rot);
            let req = CommandRequest {
                cdb: &cdb,
                expected_read_len: if is_write { 0 } else { len as u32 },
                expected_write_len: if is_write { len as u32 } else { 0 },
                nexus: NexusId(0),
            };
            match lu.start(&req) {
                Start::DataOut { mut task, len: l } => {
                    prop_assert!(is_write);
                    prop_assert_eq!(l as usize, len);
                    let data = pattern(len, seed);
                    for (a, b) in &cuts {
                        lu.write_data(&mut task, *a as u32, &data[*a..*b]).unwrap();
                    }
                    prop_assert!(lu.finish(&task).is_good());
                    model[base..base + len].copy_from_slice(&data);
                }
                Start::DataIn { task, len: l } => {
                    prop_assert!(!is_write);
                    prop_assert_eq!(l as usize, len);
                    let mut got = vec![0u8; len];
                    for (a, b) in &cuts {
                        let n = lu.read_data(&task, *a as u32, &mut got[*a..*b]).unwrap();
                        prop_assert_eq!(n, b - a);
                    }
                    prop_assert!(lu.finish(&task).is_good());
                    prop_assert_eq!(&got[..], &model[base..base + len]);
                }
                Start::Done(c) => prop_assert!(false, "unexpected {:?}", c),
            }
        }
    }
}
