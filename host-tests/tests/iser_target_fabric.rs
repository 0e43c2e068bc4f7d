//! The iSER target engine end to end over the in-memory RC fabric, against a scripted
//! initiator: login with RDMAExtensions=Yes, SCSI writes fetched by RDMA Read from the Write
//! STag, reads placed by RDMA Write at the Read STag, responses by Send with Invalidate, every
//! byte verified, every STag invalidated and every target buffer back at the end.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use host_tests::iser_script::{pattern, Setup};
use iser_core::dm::RemoteBuf;
use iser_core::wire::{CmPrivateData, IserHeaderRepr, IserOpcode, PduRepr};
use proptest::prelude::*;

const DATA_AT: u32 = host_tests::iser_script::DATA_AT;

#[test]
fn iser_write_by_rdma_read_and_read_by_rdma_write_round_trip() {
    let mut s = Setup::new(CmPrivateData::LINUX_INITIATOR);
    s.login();
    s.clear_unit_attention();
    for (len, immediate) in [
        (512usize, 0usize),
        (4096, 512),
        (1 << 20, 8192),
        (3 << 20, 0),
    ] {
        let data = pattern(len, len as u32);
        let inv = s.write(8, &data, immediate);
        let (back, inv_r) = s.read(8, len);
        assert!(back == data, "{len} bytes differ after the round trip");
        // Send with Invalidate is not used towards Linux (it says it cannot take it): the
        // initiator invalidates its own STags.
        assert_eq!((inv, inv_r), (None, None));
        for stag in s.fabric.valid_stags(s.ini) {
            s.fabric.invalidate(s.ini, stag).unwrap();
        }
    }
    // The data moved by RDMA, not in PDUs: the target read 1+3 MiB (minus immediate data) and
    // wrote every read byte.
    let c = s.fabric.counters(s.tgt);
    let written: u64 = [512u64, 4096, 1 << 20, 3 << 20].iter().sum();
    assert_eq!(c.rdma_write_bytes, written);
    assert_eq!(c.rdma_read_bytes, written - 512 - 8192);
    s.logout();
    assert!(s
        .target
        .poll_op(s.fabric.region_mut(s.tgt), &mut s.backend, s.now)
        .is_none());
    assert_eq!(s.backend.sessions_ended, 1);
}

#[test]
fn iser_send_with_invalidate_when_the_initiator_allows_it() {
    let cm = CmPrivateData {
        zbva_not_supported: true,
        send_inv_not_supported: false,
    };
    let mut s = Setup::new(cm);
    s.login();
    s.clear_unit_attention();
    let data = pattern(64 * 1024, 7);
    let inv = s.write(100, &data, 0);
    assert!(
        inv.is_some(),
        "the write's STag is invalidated by the response"
    );
    let (back, inv) = s.read(100, data.len());
    assert!(inv.is_some());
    assert_eq!(back, data);
    assert!(
        s.fabric.valid_stags(s.ini).is_empty(),
        "no STag outlives its task: {:?}",
        s.fabric.valid_stags(s.ini)
    );
}

#[test]
fn iser_bad_stag_breaks_the_connection_cleanly() {
    let mut s = Setup::new(CmPrivateData::LINUX_INITIATOR);
    s.login();
    s.clear_unit_attention();
    // A Read STag that was never registered: the RDMA Write fails, the QP goes to error, the
    // target ends the connection and gives every buffer back.
    let bogus = RemoteBuf {
        stag: 0xdead_beef,
        addr: s.fabric.base_addr(s.ini).unwrap() + u64::from(DATA_AT),
    };
    let header = IserHeaderRepr {
        opcode: IserOpcode::ISCSI_CTRL,
        write_stag: None,
        read_stag: Some((bogus.stag, bogus.addr)),
    };
    let cmd = s.next_command(Setup::rw10(0x28, 0, 8), true, false, 4096);
    s.send(header, PduRepr::ScsiCommand(cmd), &[]);
    assert!(s.target.error().is_some());
    assert_eq!(s.target.buffers_in_use(), 0, "every buffer comes back");
    assert!(s.target.is_closed());
    assert_eq!(s.backend.sessions_ended, 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
    #[test]
    fn prop_random_sizes_verify(ops in proptest::collection::vec((1usize..2048, 0u32..8192, any::<bool>()), 1..6)) {
        let mut s = Setup::new(CmPrivateData { zbva_not_supported: true, send_inv_not_supported: false });
        s.login();
        s.clear_unit_attention();
        for (blocks, lba, imm) in ops {
            let len = blocks * 512;
            let data = pattern(len, lba);
            let immediate = if imm { len.min(8192) } else { 0 };
            s.write(lba, &data, immediate);
            let (back, _) = s.read(lba, len);
            prop_assert!(back == data);
            prop_assert!(s.fabric.valid_stags(s.ini).is_empty());
        }
        // Idle: only the posted receives hold buffers.
        prop_assert_eq!(s.target.buffers_in_use(), 8);
    }
}
