//! Unexpected-PDU credits of the iSER target over the in-memory RC fabric (RFC 7145 §6.5,
//! §8.1): a scripted initiator that negotiated MaxOutstandingUnexpectedPDUs sends requests back
//! to back; within the limit every one is answered and its credit retired, one beyond it ends
//! the connection with a named error and every buffer back, never a panic.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use host_tests::iser_script::Setup;
use iser_core::dm::iser::IserError;
use iser_core::wire::{
    CmPrivateData, IserHeaderRepr, IserOpcode, Lun, NopOutRepr, PduRepr, ScsiCommandRepr,
    TaskAttribute,
};
use proptest::prelude::*;

const CTRL: IserHeaderRepr = IserHeaderRepr {
    opcode: IserOpcode::ISCSI_CTRL,
    write_stag: None,
    read_stag: None,
};

fn logged_in(limit: u32) -> Setup {
    let mut s = Setup::new(CmPrivateData::LINUX_INITIATOR);
    s.login_with(&format!("MaxOutstandingUnexpectedPDUs={limit}\0"));
    assert_eq!(
        s.target
            .session()
            .negotiated()
            .max_outstanding_unexpected_pdus,
        limit
    );
    s.clear_unit_attention();
    s
}

/// Posts a TEST UNIT READY (`ping == false`) or a NOP-Out ping without letting the target
/// answer it yet.
fn post_request(s: &mut Setup, ping: bool) {
    let itt = s.itt;
    s.itt += 1;
    let pdu = if ping {
        PduRepr::NopOut(NopOutRepr {
            immediate: true,
            lun: Lun(0),
            itt,
            ttt: 0xffff_ffff,
            cmd_sn: s.cmd_sn,
            exp_stat_sn: 0,
        })
    } else {
        let cmd = ScsiCommandRepr {
            immediate: false,
            final_: true,
            read: false,
            write: false,
            attr: TaskAttribute::SIMPLE,
            lun: Lun(0),
            itt,
            expected_data_transfer_length: 0,
            cmd_sn: s.cmd_sn,
            exp_stat_sn: 0,
            cdb: [0; 16],
        };
        s.cmd_sn += 1;
        PduRepr::ScsiCommand(cmd)
    };
    s.post_send(CTRL, pdu, &[]);
}

#[test]
fn iser_target_answers_unexpected_pdus_within_the_limit_and_retires_them() {
    let mut s = logged_in(2);
    for _ in 0..5 {
        post_request(&mut s, false);
        post_request(&mut s, true);
        s.pump();
        assert_eq!(s.target.error(), None);
        assert_eq!(s.received.len(), 2, "a SCSI Response and a NOP-In");
        s.received.clear();
        assert_eq!(s.target.unexpected_outstanding(), 0, "both retired");
    }
}

#[test]
fn iser_target_ends_the_connection_on_unexpected_pdus_beyond_the_limit() {
    let mut s = logged_in(2);
    for ping in [false, true, false] {
        post_request(&mut s, ping);
    }
    s.pump();
    assert_eq!(s.target.error(), Some(IserError::UnexpectedPduLimit));
    assert!(s.target.is_closed(), "disconnected, every buffer back");
    assert_eq!(s.target.buffers_in_use(), 0);
    assert_eq!(s.backend.sessions_ended, 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
    /// Back-to-back requests end the connection exactly when they exceed the negotiated limit.
    #[test]
    fn prop_target_unexpected_limit(limit in 2u32..6, kinds in proptest::collection::vec(any::<bool>(), 1..9)) {
        let mut s = logged_in(limit);
        for &ping in &kinds {
            post_request(&mut s, ping);
        }
        s.pump();
        let over = kinds.len() > limit as usize;
        prop_assert_eq!(s.target.error(), over.then_some(IserError::UnexpectedPduLimit));
        if over {
            prop_assert!(s.target.is_closed());
        } else {
            prop_assert_eq!(s.received.len(), kinds.len());
            prop_assert_eq!(s.target.unexpected_outstanding(), 0);
        }
    }
}
