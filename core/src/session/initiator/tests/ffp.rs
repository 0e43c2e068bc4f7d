//! Full feature phase against the in-memory target: reads and writes under each data-phase
//! setting, sense, residuals, the CmdSN window, NOP, task management, logout, connection loss.

use std::vec;
use std::vec::Vec;

use super::fixture::*;
use crate::session::initiator::{CloseCause, InitiatorConfig, ScsiRequest, SubmitError, TaskError};
use crate::session::target::TargetConfig;
use crate::time::Duration;
use crate::wire::{Lun, Residual, ScsiResponseCode, ScsiStatus, TaskMgmtResponse};

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed))
        .collect()
}

fn write_then_read<const T: usize>(p: &mut Pair<T>, lba: u64, blocks: u32, seed: u8) {
    let len = (blocks * BLOCK) as usize;
    let data = pattern(len, seed);
    let (r, _) = p.run(
        &ScsiRequest::write(Lun(0), &rw16(true, lba, blocks), len as u32),
        Some(data.clone()),
    );
    let s = r.unwrap();
    assert_eq!(s.status, ScsiStatus::GOOD, "write sense {:02x?}", s.sense);
    let (r, back) = p.run(
        &ScsiRequest::read(Lun(0), &rw16(false, lba, blocks), len as u32),
        None,
    );
    let s = r.unwrap();
    assert_eq!(s.status, ScsiStatus::GOOD);
    assert_eq!(s.read_bytes as usize, len);
    assert_eq!(s.residual, Residual::None);
    assert!(
        back == data,
        "read back differs at lba {lba} blocks {blocks}"
    );
}

#[test]
fn test_ffp_read_write_default_params() {
    let mut p = ready::<8>(icfg(), TargetConfig::default());
    write_then_read(&mut p, 0, 1, 1);
    write_then_read(&mut p, 100, 700, 2);
    write_then_read(&mut p, 2000, 48, 3);
}

#[test]
fn test_ffp_every_data_phase_setting() {
    for initial_r2t in [false, true] {
        for immediate_data in [false, true] {
            let mut c = icfg();
            c.initial_r2t = initial_r2t;
            c.immediate_data = immediate_data;
            c.max_burst_length = 8192;
            c.first_burst_length = 4096;
            c.max_recv_data_segment_length = 1024;
            let t = TargetConfig {
                initial_r2t: false,
                immediate_data: true,
                max_recv_data_segment_length: 2048,
                max_outstanding_r2t: 4,
                ..TargetConfig::default()
            };
            let mut p = ready::<8>(c, t);
            let n = p.ini.negotiated().clone();
            assert_eq!(n.initial_r2t, initial_r2t);
            assert_eq!(n.immediate_data, immediate_data);
            for (lba, blocks) in [(0, 1), (8, 8), (16, 9), (40, 64), (200, 33)] {
                write_then_read(&mut p, lba, blocks, lba as u8);
            }
        }
    }
}

#[test]
fn test_ffp_data_in_segments_follow_our_max_recv() {
    let mut c = icfg();
    c.max_recv_data_segment_length = 512;
    let mut p = ready::<8>(c, TargetConfig::default());
    let (r, _) = p.run(
        &ScsiRequest::read(Lun(0), &rw16(false, 0, 16), 16 * BLOCK),
        None,
    );
    assert!(r.is_ok());
    assert!(p.host.pieces.iter().all(|&(_, _, n)| n <= 512));
    assert_eq!(p.host.pieces.len(), 16);
}

#[test]
fn test_ffp_check_condition_carries_sense() {
    let mut p = ready::<8>(icfg(), TargetConfig::default());
    // Past the end of the 1 MiB disk: LOGICAL BLOCK ADDRESS OUT OF RANGE.
    let (r, _) = p.run(
        &ScsiRequest::read(Lun(0), &rw16(false, 1 << 20, 1), BLOCK),
        None,
    );
    let s = r.unwrap();
    assert_eq!(s.response, ScsiResponseCode::COMMAND_COMPLETED);
    assert_eq!(s.status, ScsiStatus::CHECK_CONDITION);
    assert_eq!(s.sense[0] & 0x7f, 0x70);
    assert_eq!(s.sense[2] & 0x0f, 0x05, "ILLEGAL REQUEST");
    assert_eq!((s.sense[12], s.sense[13]), (0x21, 0x00));
    assert_eq!(s.read_bytes, 0);
}

#[test]
fn test_ffp_underflow_residual() {
    let mut p = ready::<8>(icfg(), TargetConfig::default());
    // INQUIRY with a 255-byte allocation returns fewer bytes: U bit with the shortfall.
    let cdb = [0x12, 0, 0, 0, 255, 0];
    let (r, data) = p.run(&ScsiRequest::read(Lun(0), &cdb, 255), None);
    let s = r.unwrap();
    assert_eq!(s.status, ScsiStatus::GOOD);
    let got = s.read_bytes;
    assert!(got > 36 && got < 255);
    assert_eq!(s.residual, Residual::Underflow(255 - got));
    assert_eq!(&data[8..16], b"ISER-RS ");
}

#[test]
fn test_ffp_report_luns_and_missing_lun() {
    let mut p = ready::<8>(icfg(), TargetConfig::default());
    let mut cdb = [0u8; 12];
    cdb[0] = 0xa0;
    cdb[6..10].copy_from_slice(&64u32.to_be_bytes());
    let (r, data) = p.run(&ScsiRequest::read(Lun(0), &cdb, 64), None);
    assert_eq!(r.unwrap().read_bytes, 16);
    assert_eq!(&data[..4], &8u32.to_be_bytes());
    let (r, _) = p.run(&ScsiRequest::no_data(Lun(5), &TUR), None);
    let s = r.unwrap();
    assert_eq!(s.status, ScsiStatus::CHECK_CONDITION);
    assert_eq!(
        (s.sense[12], s.sense[13]),
        (0x25, 0x00),
        "LOGICAL UNIT NOT SUPPORTED"
    );
}

#[test]
fn test_ffp_long_cdb_goes_in_an_ahs() {
    let mut p = ready::<8>(icfg(), TargetConfig::default());
    // A 32-byte CDB (VARIABLE LENGTH, not supported by the LU): it must still arrive whole and be
    // answered with INVALID COMMAND OPERATION CODE rather than a Reject.
    let mut cdb = [0u8; 32];
    cdb[0] = 0x7f;
    cdb[7] = 24;
    let (r, _) = p.run(&ScsiRequest::no_data(Lun(0), &cdb), None);
    let s = r.unwrap();
    assert_eq!(s.status, ScsiStatus::CHECK_CONDITION);
}

#[test]
fn test_ffp_submit_errors() {
    let mut p = Pair::<2>::new(icfg(), TargetConfig::default(), RamBackend::new(65536));
    assert_eq!(
        p.ini.submit(&ScsiRequest::no_data(Lun(0), &TUR)),
        Err(SubmitError::NotReady)
    );
    p.login();
    assert_eq!(
        p.ini.submit(&ScsiRequest::no_data(Lun(0), &[])),
        Err(SubmitError::BadCdb)
    );
    assert_eq!(
        p.ini.submit(&ScsiRequest::no_data(Lun(0), &[0u8; 261])),
        Err(SubmitError::BadCdb)
    );
    let mut both = ScsiRequest::read(Lun(0), &TUR, 8);
    both.write_len = 8;
    assert_eq!(p.ini.submit(&both), Err(SubmitError::Bidirectional));
    let a = p.ini.submit(&ScsiRequest::no_data(Lun(0), &TUR)).unwrap();
    let _b = p.ini.submit(&ScsiRequest::no_data(Lun(0), &TUR)).unwrap();
    assert_eq!(
        p.ini.submit(&ScsiRequest::no_data(Lun(0), &TUR)),
        Err(SubmitError::TableFull)
    );
    // Not sent yet: cancel drops it without a trace.
    assert!(p.ini.cancel(a));
    assert!(!p.ini.cancel(a));
    assert_eq!(p.ini.abort_task(a), Err(SubmitError::NoSuchTask));
    p.drive();
    assert_eq!(p.host.events.len(), 1);
}

#[test]
fn test_ffp_cmd_sn_window_is_respected() {
    // The target admits two commands at a time; it silently drops any outside its window
    // (RFC 7143 §4.2.2.1), so every command completing proves we waited for the window.
    let t = TargetConfig {
        queue_depth: 2,
        ..TargetConfig::default()
    };
    let mut p = ready::<32>(icfg(), t);
    let mut handles = Vec::new();
    for i in 0..20u64 {
        let h = p.submit(
            &ScsiRequest::read(Lun(0), &rw16(false, i * 4, 4), 4 * BLOCK),
            None,
        );
        handles.push(h);
    }
    assert!(p.ini.window() <= 2);
    p.drive();
    for h in handles {
        assert!(p.host.take_done(h).unwrap().is_ok());
    }
    assert_eq!(p.tgt.stats().commands, 21);
}

#[test]
fn test_ffp_queue_depth_many_writes_in_flight() {
    let t = TargetConfig {
        max_outstanding_r2t: 4,
        initial_r2t: true,
        ..TargetConfig::default()
    };
    let mut c = icfg();
    c.max_outstanding_r2t = 4;
    c.max_burst_length = 4096;
    c.max_recv_data_segment_length = 8192;
    let mut p = ready::<64>(c, t);
    assert_eq!(p.ini.negotiated().max_outstanding_r2t, 4);
    let mut expect = Vec::new();
    for i in 0..40u64 {
        let data = pattern(48 * 512, i as u8);
        let h = p.submit(
            &ScsiRequest::write(Lun(0), &rw16(true, i * 48, 48), 48 * BLOCK),
            Some(data.clone()),
        );
        expect.push((h, i, data));
    }
    p.drive();
    for (h, i, data) in expect {
        let s = p.host.take_done(h).unwrap().unwrap();
        assert_eq!(
            s.status,
            ScsiStatus::GOOD,
            "task {i}: sense {:02x?}",
            s.sense
        );
        p.host.writes.remove(&h.index());
        let (r, back) = p.run(
            &ScsiRequest::read(Lun(0), &rw16(false, i * 48, 48), 48 * BLOCK),
            None,
        );
        assert!(r.is_ok());
        assert!(back == data);
    }
}

#[test]
fn test_ffp_answers_target_ping() {
    let t = TargetConfig {
        nop_in_interval: Some(Duration::from_secs(5)),
        nop_in_timeout: Duration::from_secs(5),
        ..TargetConfig::default()
    };
    let mut p = ready::<8>(icfg(), t);
    for _ in 0..5 {
        p.advance(Duration::from_secs(6));
        p.drive();
        p.advance(Duration::from_secs(1));
        p.drive();
    }
    assert!(!p.tgt.is_closed(), "{:?}", p.tgt.close_reason());
    assert!(!p.ini.is_closed());
    write_then_read(&mut p, 0, 2, 9);
}

#[test]
fn test_ffp_our_ping_and_its_timeout() {
    let mut c = icfg();
    c.nop_interval = Some(Duration::from_secs(10));
    c.nop_timeout = Duration::from_secs(3);
    let mut p = ready::<8>(c, TargetConfig::default());
    let due = p.ini.poll_timeout().unwrap();
    p.now = due;
    p.ini.handle_timeout(p.now, &mut p.host);
    p.drive();
    // The target answered: no close.
    p.advance(Duration::from_secs(4));
    assert!(!p.ini.is_closed());
    // Now the target goes silent.
    let due = p.ini.poll_timeout().unwrap();
    p.now = due;
    p.ini.handle_timeout(p.now, &mut p.host);
    let mut buf = vec![0u8; 1024];
    let _ = p.ini.poll_transmit(p.now, &mut buf, &mut p.host);
    p.advance(Duration::from_secs(4));
    assert!(p.ini.is_closed());
    assert_eq!(
        p.host.events.last(),
        Some(&Ev::Closed(CloseCause::PingTimeout))
    );
}

/// A write that the target is waiting on (R2T sent, no data yet).
fn stalled_write<const T: usize>(p: &mut Pair<T>) -> crate::session::initiator::TaskHandle {
    let h = p.submit(
        &ScsiRequest::write(Lun(0), &rw16(true, 0, 8), 8 * BLOCK),
        Some(vec![7; 4096]),
    );
    // Send the command only; the target answers with an R2T that we do not serve yet.
    let mut buf = vec![0u8; 1 << 16];
    let n = match p.ini.poll_transmit(p.now, &mut buf, &mut p.host) {
        crate::session::target::Transmit::Written(n) => n,
        other => panic!("{other:?}"),
    };
    let used = p.tgt.handle_bytes(&buf[..n], &mut p.backend, p.now);
    assert_eq!(used, n);
    h
}

fn stalling_config() -> (InitiatorConfig<'static>, TargetConfig) {
    let mut c = icfg();
    c.initial_r2t = true;
    c.immediate_data = false;
    let t = TargetConfig {
        initial_r2t: true,
        ..TargetConfig::default()
    };
    (c, t)
}

#[test]
fn test_ffp_abort_task() {
    let (c, t) = stalling_config();
    let mut p = ready::<8>(c, t);
    let h = stalled_write(&mut p);
    let tmf = p.ini.abort_task(h).unwrap();
    p.drive();
    assert_eq!(p.host.take_done(h), Some(Err(TaskError::Aborted)));
    assert_eq!(
        p.host.events,
        [Ev::Tmf(tmf, TaskMgmtResponse::FUNCTION_COMPLETE)]
    );
    p.host.events.clear();
    write_then_read(&mut p, 8, 8, 4);
}

#[test]
fn test_ffp_lun_reset() {
    let (c, t) = stalling_config();
    let mut p = ready::<8>(c, t);
    let h = stalled_write(&mut p);
    let tmf = p.ini.lun_reset(Lun(0)).unwrap();
    p.drive();
    assert_eq!(p.host.take_done(h), Some(Err(TaskError::Aborted)));
    assert_eq!(
        p.host.events,
        [Ev::Tmf(tmf, TaskMgmtResponse::FUNCTION_COMPLETE)]
    );
    p.host.events.clear();
    let tmf = p.ini.lun_reset(Lun(9)).unwrap();
    p.drive();
    assert_eq!(
        p.host.events,
        [Ev::Tmf(tmf, TaskMgmtResponse::LUN_DOES_NOT_EXIST)]
    );
}

#[test]
fn test_ffp_logout_ends_open_tasks() {
    let (c, t) = stalling_config();
    let mut p = ready::<8>(c, t);
    let h = stalled_write(&mut p);
    let queued = p.submit(&ScsiRequest::no_data(Lun(0), &TUR), None);
    p.ini.logout().unwrap();
    assert_eq!(p.ini.logout(), Err(SubmitError::NotReady));
    assert_eq!(
        p.ini.submit(&ScsiRequest::no_data(Lun(0), &TUR)),
        Err(SubmitError::NotReady)
    );
    p.drive();
    assert_eq!(p.host.take_done(h), Some(Err(TaskError::Aborted)));
    assert_eq!(p.host.take_done(queued), Some(Err(TaskError::Aborted)));
    assert_eq!(p.host.events, [Ev::LoggedOut(true)]);
    assert!(p.ini.is_closed() && p.tgt.is_closed());
}

#[test]
fn test_ffp_connection_lost_ends_tasks() {
    let (c, t) = stalling_config();
    let mut p = ready::<8>(c, t);
    let h = stalled_write(&mut p);
    p.ini.connection_lost(&mut p.host);
    assert_eq!(p.host.take_done(h), Some(Err(TaskError::ConnectionLost)));
    assert_eq!(p.host.events, [Ev::Closed(CloseCause::ConnectionLost)]);
    assert_eq!(p.ini.poll_timeout(), None);
}

#[test]
fn test_ffp_need_space_then_written() {
    let mut p = ready::<8>(icfg(), TargetConfig::default());
    let h = p.submit(
        &ScsiRequest::write(Lun(0), &rw16(true, 0, 64), 64 * BLOCK),
        Some(vec![3; 64 * 512]),
    );
    // Immediate data do not fit: the command asks for more room and stays queued.
    let mut small = vec![0u8; 600];
    let t = p.ini.poll_transmit(p.now, &mut small, &mut p.host);
    assert!(matches!(t, crate::session::target::Transmit::NeedSpace(n) if n > 600));
    p.tx_buf = 700;
    p.drive();
    let s = p.host.take_done(h).unwrap().unwrap();
    assert_eq!(s.status, ScsiStatus::GOOD);
}

#[test]
fn test_ffp_reads_with_cut_pdus_and_digests() {
    let mut c = icfg();
    c.header_digest = true;
    c.data_digest = true;
    let mut p = ready::<8>(c, TargetConfig::default());
    p.chunk = 3;
    write_then_read(&mut p, 10, 20, 5);
}

#[test]
fn test_ffp_write_with_transfer_length_below_edtl() {
    // WRITE(16) of one block with an Expected Data Transfer Length of 8 blocks and
    // InitialR2T=No: the first burst goes unsolicited in full (RFC 7143 §13.10, §13.14) and the
    // target must take what the command needs and report the rest as underflow.
    let mut c = icfg();
    c.immediate_data = false;
    let t = TargetConfig {
        initial_r2t: false,
        ..TargetConfig::default()
    };
    let mut p = ready::<8>(c, t);
    assert!(!p.ini.negotiated().initial_r2t);
    let (r, _) = p.run(
        &ScsiRequest::write(Lun(0), &rw16(true, 0, 1), 8 * BLOCK),
        Some(pattern(8 * 512, 1)),
    );
    let s = r.unwrap();
    assert_eq!(s.status, ScsiStatus::GOOD);
    assert_eq!(s.residual, Residual::Underflow(7 * BLOCK));
    assert!(p.host.events.is_empty(), "{:?}", p.host.events);
}
