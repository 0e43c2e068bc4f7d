//! EXTENDED COPY and RECEIVE COPY RESULTS.

use super::*;

/// Identification target descriptor naming the logical unit with NAA designator `naa`.
fn target(naa: [u8; 16]) -> Vec<u8> {
    let mut t = vec![0u8; 32];
    t[0] = 0xe4;
    t[4] = 0x01; // binary
    t[5] = 0x03; // NAA, LU association
    t[7] = 16;
    t[8..24].copy_from_slice(&naa);
    t[29..32].copy_from_slice(&BS.to_be_bytes()[1..]);
    t
}

fn segment(src: u16, dst: u16, blocks: u16, slba: u64, dlba: u64) -> Vec<u8> {
    let mut s = vec![0u8; 28];
    s[0] = 0x02;
    s[2..4].copy_from_slice(&0x18u16.to_be_bytes());
    s[4..6].copy_from_slice(&src.to_be_bytes());
    s[6..8].copy_from_slice(&dst.to_be_bytes());
    s[10..12].copy_from_slice(&blocks.to_be_bytes());
    s[12..20].copy_from_slice(&slba.to_be_bytes());
    s[20..28].copy_from_slice(&dlba.to_be_bytes());
    s
}

fn params(list_id: u8, targets: &[Vec<u8>], segments: &[Vec<u8>]) -> Vec<u8> {
    let t: Vec<u8> = targets.concat();
    let s: Vec<u8> = segments.concat();
    let mut p = vec![0u8; 16];
    p[0] = list_id;
    p[2..4].copy_from_slice(&(t.len() as u16).to_be_bytes());
    p[8..12].copy_from_slice(&(s.len() as u32).to_be_bytes());
    p.extend_from_slice(&t);
    p.extend_from_slice(&s);
    p
}

fn xcopy_cdb(len: usize) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0] = 0x83;
    c[10..14].copy_from_slice(&(len as u32).to_be_bytes());
    c
}

fn xcopy(lu: &mut TestLu, p: &[u8]) -> Completion {
    run(lu, &xcopy_cdb(p.len()), 0, p).1
}

fn me(lu: &TestLu) -> Vec<u8> {
    target(lu.identity().naa6())
}

#[test]
fn test_copy_within_the_logical_unit() {
    let mut lu = lu();
    let data = pattern(8 * BS as usize, 3);
    assert!(write10(&mut lu, 0, &data).is_good());
    let p = params(1, &[me(&lu)], &[segment(0, 0, 8, 0, 40)]);
    assert!(xcopy(&mut lu, &p).is_good());
    assert_eq!(read10(&mut lu, 40, 8).0, data);
    // Overlapping forward copy keeps the source intact while copying.
    let p = params(2, &[me(&lu)], &[segment(0, 0, 6, 0, 2)]);
    assert!(xcopy(&mut lu, &p).is_good());
    assert_eq!(read10(&mut lu, 2, 6).0, data[..6 * BS as usize]);
    // An empty parameter list does nothing.
    assert!(run(&mut lu, &xcopy_cdb(0), 0, &[]).1.is_good());
}

#[test]
fn test_copy_parameter_errors() {
    let mut lu = lu();
    let t = me(&lu);
    let good = params(1, core::slice::from_ref(&t), &[segment(0, 0, 1, 0, 1)]);
    for cut in [16 + 31, good.len() - 1] {
        let c = xcopy(&mut lu, &good[..cut]);
        assert_eq!(
            code(&c).1,
            AdditionalSense::PARAMETER_LIST_LENGTH_ERROR,
            "cut {cut}"
        );
    }
    let mut bad_tgt = t.clone();
    bad_tgt[0] = 0xe0;
    let c = xcopy(&mut lu, &params(1, &[bad_tgt], &[segment(0, 0, 1, 0, 1)]));
    assert_eq!(
        code(&c).1,
        AdditionalSense::UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE
    );
    let mut bad_seg = segment(0, 0, 1, 0, 1);
    bad_seg[0] = 0x03;
    let c = xcopy(&mut lu, &params(1, core::slice::from_ref(&t), &[bad_seg]));
    assert_eq!(
        code(&c).1,
        AdditionalSense::UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE
    );
    let c = xcopy(
        &mut lu,
        &params(1, &vec![t.clone(); 3], &[segment(0, 0, 1, 0, 1)]),
    );
    assert_eq!(code(&c).1, AdditionalSense::TOO_MANY_TARGET_DESCRIPTORS);
    let c = xcopy(
        &mut lu,
        &params(
            1,
            core::slice::from_ref(&t),
            &vec![segment(0, 0, 1, 0, 1); 9],
        ),
    );
    assert_eq!(code(&c).1, AdditionalSense::TOO_MANY_SEGMENT_DESCRIPTORS);
    // Unreachable index, beyond the end, unknown logical unit: COPY ABORTED.
    for p in [
        params(1, core::slice::from_ref(&t), &[segment(0, 1, 1, 0, 1)]),
        params(
            1,
            core::slice::from_ref(&t),
            &[segment(0, 0, 2, 0, BLOCKS - 1)],
        ),
        params(1, &[target([9; 16])], &[segment(0, 0, 1, 0, 1)]),
    ] {
        assert_eq!(code(&xcopy(&mut lu, &p)).0, SenseKey::COPY_ABORTED);
    }
}

fn rcr(lu: &mut TestLu, sa: u8, list_id: u8) -> (Vec<u8>, Completion) {
    let mut c = [0u8; 16];
    c[0] = 0x84;
    c[1] = sa;
    c[2] = list_id;
    c[10..14].copy_from_slice(&1024u32.to_be_bytes());
    run(lu, &c, 1024, &[])
}

#[test]
fn test_receive_copy_results() {
    let mut lu = lu();
    let (d, c) = rcr(&mut lu, 3, 0);
    assert!(c.is_good());
    assert!(d.len() >= 44);
    assert_eq!(
        u32::from_be_bytes(d[0..4].try_into().unwrap()) as usize + 4,
        d.len()
    );
    assert_eq!(u16::from_be_bytes([d[8], d[9]]), 2, "target descriptors");
    assert_eq!(&d[44..], &[0x02, 0xe4]);
    assert_invalid_field(&rcr(&mut lu, 0, 5).1, 2);
    let p = params(5, &[me(&lu)], &[segment(0, 0, 2, 0, 10)]);
    assert!(xcopy(&mut lu, &p).is_good());
    let (d, c) = rcr(&mut lu, 0, 5);
    assert!(c.is_good());
    assert_eq!(d[4], 1, "completed");
    assert_eq!(u16::from_be_bytes([d[5], d[6]]), 1, "segments processed");
    assert_eq!(u32::from_be_bytes(d[8..12].try_into().unwrap()), 2 * BS);
    let (d, _) = run(&mut lu, &[0x12, 0, 0, 0, 96, 0], 96, &[]);
    assert_eq!(d[5] & 0x08, 0x08, "3PC");
}

#[test]
fn test_copy_status_belongs_to_its_nexus() {
    let mut lu = lu();
    let p = params(1, &[me(&lu)], &[segment(0, 0, 1, 0, 10)]);
    assert!(xcopy(&mut lu, &p).is_good());
    let mut status = [0u8; 16];
    status[0] = 0x84;
    status[2] = 1;
    status[10..14].copy_from_slice(&64u32.to_be_bytes());
    // Another nexus does not see nexus 0's list identifier (SPC-4 §6.4).
    let _ = run_on(&mut lu, NexusId(1), &[0; 6], 0, &[]); // its power-on unit attention
    assert_invalid_field(&run_on(&mut lu, NexusId(1), &status, 64, &[]).1, 2);
    assert!(run(&mut lu, &status, 64, &[]).1.is_good());
    // Losing the nexus discards its status; so does a reset.
    lu.nexus_lost(NexusId(0));
    let _ = run(&mut lu, &[0; 6], 0, &[]);
    assert_invalid_field(&run(&mut lu, &status, 64, &[]).1, 2);
    assert!(xcopy(&mut lu, &p).is_good());
    lu.reset(ResetKind::LogicalUnitReset);
    let _ = run(&mut lu, &[0; 6], 0, &[]);
    assert_invalid_field(&run(&mut lu, &status, 64, &[]).1, 2);
}

/// A second logical unit reachable through the hook.
struct Peer {
    naa: [u8; 16],
    data: Vec<u8>,
}

impl CopyPeers for Peer {
    fn resolve(&mut self, designation: &[u8]) -> Option<u16> {
        (designation.get(4..20) == Some(&self.naa[..])).then_some(7)
    }
    fn block_size(&mut self, _: u16) -> u32 {
        BS
    }
    fn num_blocks(&mut self, _: u16) -> u64 {
        (self.data.len() / BS as usize) as u64
    }
    fn read_at(&mut self, _: u16, off: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let o = off as usize;
        buf.copy_from_slice(&self.data[o..o + buf.len()]);
        Ok(())
    }
    fn write_at(&mut self, _: u16, off: u64, d: &[u8]) -> Result<(), IoError> {
        let o = off as usize;
        self.data[o..o + d.len()].copy_from_slice(d);
        Ok(())
    }
}

#[test]
fn test_copy_to_another_logical_unit_through_the_hook() {
    let mut lu = lu();
    let data = pattern(4 * BS as usize, 9);
    assert!(write10(&mut lu, 0, &data).is_good());
    let mut peer = Peer {
        naa: [0x60; 16],
        data: vec![0; 16 * BS as usize],
    };
    let p = params(1, &[me(&lu), target(peer.naa)], &[segment(0, 1, 4, 0, 3)]);
    let cdb = xcopy_cdb(p.len());
    let req = CommandRequest {
        cdb: &cdb,
        expected_read_len: 0,
        expected_write_len: p.len() as u32,
        nexus: NexusId(0),
    };
    let Start::DataOut { mut task, .. } = lu.start(&req) else {
        panic!()
    };
    lu.write_data(&mut task, 0, &p).unwrap();
    assert!(lu.finish_with_peers(&task, &mut peer).is_good());
    assert_eq!(peer.data[3 * BS as usize..7 * BS as usize], data[..]);
}

/// A peer that is a real logical unit, reached through `peer_read`/`peer_write`.
struct LuPeer(TestLu);

impl CopyPeers for LuPeer {
    fn resolve(&mut self, designation: &[u8]) -> Option<u16> {
        (designation.get(4..20) == Some(&self.0.identity().naa6()[..])).then_some(0)
    }
    fn block_size(&mut self, _: u16) -> u32 {
        BS
    }
    fn num_blocks(&mut self, _: u16) -> u64 {
        BLOCKS
    }
    fn read_at(&mut self, _: u16, off: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.0.peer_read(off, buf)
    }
    fn write_at(&mut self, _: u16, off: u64, d: &[u8]) -> Result<(), IoError> {
        self.0.peer_write(off, d)
    }
}

#[test]
fn test_copy_to_a_protected_or_absent_peer_fails_with_its_sense() {
    let mut lu = lu();
    let mut ro = disk(BLOCKS);
    ro.set_write_protected(true);
    let removable = LuConfig {
        removable: true,
        ..LuConfig::default()
    };
    let peers = [
        (
            TestLu::new(ro, LuIdentity::new(77), LuConfig::default()),
            (SenseKey::DATA_PROTECT, AdditionalSense::WRITE_PROTECTED),
        ),
        (
            TestLu::new(disk(BLOCKS), LuIdentity::new(78), removable),
            (
                SenseKey::NOT_READY,
                AdditionalSense::NOT_READY_INITIALIZING_COMMAND_REQUIRED,
            ),
        ),
    ];
    for (i, (mut peer_lu, want)) in peers.into_iter().enumerate() {
        if i == 1 {
            // Eject the peer's medium.
            let _ = run(&mut peer_lu, &[0; 6], 0, &[]);
            assert!(run(&mut peer_lu, &[0x1b, 0, 0, 0, 0x02, 0], 0, &[])
                .1
                .is_good());
        }
        let naa = peer_lu.identity().naa6();
        let mut peer = LuPeer(peer_lu);
        let p = params(1, &[me(&lu), target(naa)], &[segment(0, 1, 2, 0, 3)]);
        let cdb = xcopy_cdb(p.len());
        let req = CommandRequest {
            cdb: &cdb,
            expected_read_len: 0,
            expected_write_len: p.len() as u32,
            nexus: NexusId(0),
        };
        let Start::DataOut { mut task, .. } = lu.start(&req) else {
            panic!()
        };
        lu.write_data(&mut task, 0, &p).unwrap();
        assert_eq!(code(&lu.finish_with_peers(&task, &mut peer)), want);
        // And as a source: reads of a not-ready peer fail too; a protected one reads fine.
        let back = params(2, &[me(&lu), target(naa)], &[segment(1, 0, 2, 0, 3)]);
        let cdb = xcopy_cdb(back.len());
        let req = CommandRequest { cdb: &cdb, ..req };
        let Start::DataOut { mut task, .. } = lu.start(&req) else {
            panic!()
        };
        lu.write_data(&mut task, 0, &back).unwrap();
        let c = lu.finish_with_peers(&task, &mut peer);
        assert_eq!(c.is_good(), i == 0, "{c:?}");
    }
}
