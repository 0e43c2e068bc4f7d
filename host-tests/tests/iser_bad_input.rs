//! Bad input to the iSER target over the in-memory RC fabric, from a scripted initiator: a write
//! without a valid Write STag, STags and base offsets outside what the initiator advertised, and
//! control PDUs larger than the negotiated receive data segment length or the posted receive.
//! Each ends the connection cleanly (a named error, every buffer back, the session ended once)
//! and none touches initiator memory outside the advertised buffer. Unexpected PDUs beyond
//! MaxOutstandingUnexpectedPDUs are in `iser_credits.rs`.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use host_tests::fabric::{Access, Fault};
use host_tests::iser_script::{pattern, Setup, DATA_AT, INI_REGION};
use iser_core::dm::iser::{IserError, RDMA_TIMEOUT};
use iser_core::dm::{RemoteBuf, WcStatus};
use iser_core::session::TargetConfig;
use iser_core::wire::{CmPrivateData, IserHeaderRepr, IserOpcode, Lun, PduRepr, TextRequestRepr};

const CTRL: IserHeaderRepr = IserHeaderRepr {
    opcode: IserOpcode::ISCSI_CTRL,
    write_stag: None,
    read_stag: None,
};

fn logged_in() -> Setup {
    let mut s = Setup::new(CmPrivateData::LINUX_INITIATOR);
    s.login();
    s.clear_unit_attention();
    s
}

/// Sends a READ(10) or WRITE(10) of `len` bytes with this iSER header.
fn command(s: &mut Setup, header: IserHeaderRepr, write: bool, len: u32) {
    let op = if write { 0x2a } else { 0x28 };
    let cmd = s.next_command(Setup::rw10(op, 0, (len / 512) as u16), !write, write, len);
    s.send(header, PduRepr::ScsiCommand(cmd), &[]);
}

/// The connection ended cleanly with `error`, and no SCSI Response claimed success.
fn assert_ended(s: &Setup, error: Option<IserError>) {
    assert_eq!(s.target.error(), error);
    assert!(s.target.is_closed(), "closed, every buffer back");
    assert_eq!(s.target.buffers_in_use(), 0);
    assert_eq!(s.backend.sessions_ended, 1);
    assert!(
        !s.received
            .iter()
            .any(|(p, _, _)| matches!(p, PduRepr::ScsiResponse(r) if r.status.0 == 0)),
        "no command reported good: {:?}",
        s.received
    );
}

/// Registers `len` bytes of initiator data memory for the target and fences what follows.
fn advertise(s: &mut Setup, len: u32, target_writes: bool) -> RemoteBuf {
    let region = s.fabric.region_mut(s.ini);
    region[DATA_AT as usize..INI_REGION as usize].fill(0x5a);
    let access = Access {
        remote_read: !target_writes,
        remote_write: target_writes,
    };
    s.fabric
        .register_remote(s.ini, DATA_AT, len, access)
        .unwrap()
}

fn fence_intact(s: &Setup, from: u32) -> bool {
    s.fabric.region(s.ini)[from as usize..INI_REGION as usize]
        .iter()
        .all(|b| *b == 0x5a)
}

#[test]
fn iser_write_without_a_write_stag_ends_the_connection() {
    let mut s = logged_in();
    // W bit and 64 KiB to fetch, but the iSER header carries no Write STag (RFC 7145 §7.3.3).
    command(&mut s, CTRL, true, 64 * 1024);
    assert_ended(&s, Some(IserError::MissingStag));
}

#[test]
fn iser_write_stag_never_registered_ends_the_connection() {
    let mut s = logged_in();
    let addr = s.fabric.base_addr(s.ini).unwrap() + u64::from(DATA_AT);
    let header = IserHeaderRepr {
        write_stag: Some((0x00c0_ffee, addr)),
        ..CTRL
    };
    command(&mut s, header, true, 8192);
    assert_ended(&s, Some(IserError::WorkRequest(WcStatus::RemoteAccess)));
}

#[test]
fn iser_read_stag_offset_beyond_the_advertised_buffer_ends_the_connection() {
    let mut s = logged_in();
    let data = pattern(8192, 1);
    s.write(0, &data, 0);
    for stag in s.fabric.valid_stags(s.ini) {
        s.fabric.invalidate(s.ini, stag).unwrap();
    }
    // 4 KiB advertised, the Read Base Offset 2 KiB in: the last 2 KiB would land outside.
    let remote = advertise(&mut s, 4096, true);
    let header = IserHeaderRepr {
        read_stag: Some((remote.stag, remote.addr + 2048)),
        ..CTRL
    };
    command(&mut s, header, false, 4096);
    assert_ended(&s, Some(IserError::WorkRequest(WcStatus::RemoteAccess)));
    assert!(
        fence_intact(&s, DATA_AT + 4096),
        "nothing written past the buffer"
    );
}

#[test]
fn iser_write_stag_with_the_wrong_access_ends_the_connection() {
    let mut s = logged_in();
    // The STag allows RDMA Write only (a read buffer); the target must RDMA Read it.
    let remote = advertise(&mut s, 8192, true);
    let header = IserHeaderRepr {
        write_stag: Some((remote.stag, remote.addr)),
        ..CTRL
    };
    command(&mut s, header, true, 8192);
    assert_ended(&s, Some(IserError::WorkRequest(WcStatus::RemoteAccess)));
    assert!(fence_intact(&s, DATA_AT));
}

/// An RDMA Read that neither completes nor fails (soft-RoCE against an STag the initiator
/// does not have): the target waits `RDMA_TIMEOUT` from its posting, then ends the connection.
#[test]
fn iser_rdma_read_that_never_completes_ends_the_connection_after_the_timeout() {
    // No NOP-In pings: the scripted initiator would not answer them.
    let config = TargetConfig {
        nop_in_interval: None,
        ..TargetConfig::default()
    };
    let mut s = Setup::with_target_config(CmPrivateData::LINUX_INITIATOR, config);
    s.login();
    s.clear_unit_attention();
    let remote = advertise(&mut s, 8192, false);
    let header = IserHeaderRepr {
        write_stag: Some((remote.stag, remote.addr)),
        ..CTRL
    };
    s.fabric
        .inject(Fault::Delay {
            endpoint: s.tgt,
            ops: 1,
        })
        .unwrap();
    let posted_at = s.now;
    command(&mut s, header, true, 8192);
    assert_eq!(s.target.error(), None);
    assert_eq!(s.target.poll_timeout(), Some(posted_at + RDMA_TIMEOUT));
    s.now = posted_at + iser_core::time::Duration(RDMA_TIMEOUT.0 - 1);
    s.target.handle_timeout(&mut s.backend, s.now);
    s.pump();
    assert_eq!(s.target.error(), None, "not yet");
    s.now = posted_at + RDMA_TIMEOUT;
    s.target.handle_timeout(&mut s.backend, s.now);
    s.pump();
    assert_eq!(s.target.error(), Some(IserError::RdmaTimeout));
    // The adapter's teardown flushes the stuck operation.
    s.fabric.release_all();
    s.pump();
    assert_ended(&s, Some(IserError::RdmaTimeout));
}

/// Completions keep the RDMA watchdog quiet however long the connection lives.
#[test]
fn iser_rdma_watchdog_counts_from_the_last_completion() {
    let mut s = logged_in();
    for i in 0..4u32 {
        s.now = s.now + RDMA_TIMEOUT;
        let data = pattern(64 * 1024, i);
        s.write(i * 128, &data, 0);
        s.target.handle_timeout(&mut s.backend, s.now);
        assert_eq!(s.read(i * 128, data.len()).0, data);
        s.target.handle_timeout(&mut s.backend, s.now);
        assert_eq!(s.target.error(), None);
        assert!(s.target.poll_timeout().is_none_or(|t| t > s.now));
    }
}

fn text_request(s: &mut Setup, data_len: usize) {
    let itt = s.itt;
    s.itt += 1;
    let req = TextRequestRepr {
        immediate: false,
        final_: true,
        continue_: false,
        lun: Lun(0),
        itt,
        ttt: 0xffff_ffff,
        cmd_sn: s.cmd_sn,
        exp_stat_sn: 0,
    };
    s.cmd_sn += 1;
    let mut text = b"SendTargets=All\0".to_vec();
    text.resize(data_len, 0);
    s.send(CTRL, PduRepr::TextRequest(req), &text);
}

#[test]
fn iser_control_pdu_above_the_negotiated_receive_segment_is_rejected_and_ends_the_connection() {
    let mut s = logged_in();
    let limit = s
        .target
        .session()
        .negotiated()
        .target_recv_data_segment_length;
    assert_eq!(limit, 8192, "the scripted initiator declared 8192");
    assert!(
        s.target.recv_len() as usize > 12 * 1024 + 100,
        "the message fits the receive, only the segment is too long"
    );
    text_request(&mut s, 12 * 1024);
    // RFC 7143 §11.17.1: a protocol error, answered with a Reject; the stream cannot go on.
    assert!(
        s.received
            .iter()
            .any(|(p, _, _)| matches!(p, PduRepr::Reject(_))),
        "{:?}",
        s.received
    );
    assert_ended(&s, None);
}

#[test]
fn iser_control_message_longer_than_the_posted_receive_ends_the_connection() {
    let config = TargetConfig {
        max_recv_data_segment_length: 8192,
        ..TargetConfig::default()
    };
    let mut s = Setup::with_target_config(CmPrivateData::LINUX_INITIATOR, config);
    s.login();
    s.clear_unit_attention();
    // Receives are sized by our TargetRecvDataSegmentLength: headers, room for AHS, and 8 KiB.
    assert!(s.target.recv_len() < 10 * 1024, "{}", s.target.recv_len());
    text_request(&mut s, 12 * 1024);
    assert_ended(&s, Some(IserError::WorkRequest(WcStatus::Other)));
}

/// Commands that never reach a task (here: outside the CmdSN window, dropped per RFC 7143
/// §4.2.2.1) leave their advertised STags behind; more of them than the target holds tasks must
/// not keep a later command's STags from being recorded.
#[test]
fn iser_stags_of_commands_that_never_ran_do_not_crowd_out_later_ones() {
    let mut s = logged_in();
    let remote = advertise(&mut s, 4096, true);
    for _ in 0..host_tests::iser_script::TASKS + 4 {
        let mut cmd = s.next_command(Setup::rw10(0x28, 0, 8), true, false, 4096);
        // Outside the window, and the CmdSN the next in-window command takes stays free.
        cmd.cmd_sn = cmd.cmd_sn.wrapping_add(1 << 20);
        s.cmd_sn -= 1;
        let header = IserHeaderRepr {
            read_stag: Some((remote.stag, remote.addr)),
            ..CTRL
        };
        s.send(header, PduRepr::ScsiCommand(cmd), &[]);
    }
    assert!(
        s.received.is_empty(),
        "commands outside the window get no answer"
    );
    let data = pattern(4096, 9);
    s.write(16, &data, 0);
    let (back, _) = s.read(16, 4096);
    assert_eq!(back, data);
    assert!(!s.target.is_closed());
}
