//! Concurrent large writes against the iSER target engine sized as iserd sizes it (task slots,
//! buffers, `IserConfig::default()`, iserd's default limits), over the in-memory RC fabric: the
//! Linux initiator's pattern of several 1 MiB writes in flight (immediate data, unsolicited
//! Data-Out up to FirstBurstLength if InitialR2T=No were agreed, the rest fetched by RDMA Read,
//! RFC 7145 §7.3.3), reads mixed in, and a NOP-Out ping behind them that must be answered
//! (docs/benchmarks.md, "iserd stalls on concurrent 1 MiB writes"), with the initiator's Sends
//! paced by the target's receives, shuffled against its completions, or all at once.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use host_tests::fabric::Access;
use host_tests::iser_script::{pattern, Setup, DATA_AT};
use iser_core::dm::iser::IserConfig;
use iser_core::dm::DmOp;
use iser_core::session::TargetConfig;
use iser_core::time::Duration;
use iser_core::wire::{
    CmPrivateData, DataOutRepr, IserHeaderRepr, IserOpcode, LogoutReason, LogoutRequestRepr, Lun,
    NopOutRepr, PduRepr,
};

/// iserd's task slots (`MAX_QUEUE_DEPTH`) and registered buffers per connection (`BUFS`).
type Iserd = Setup<128, 96>;

const MIB: usize = 1 << 20;
/// The data segment the initiator sends in each PDU (TargetRecvDataSegmentLength as Linux
/// leaves it).
const SEGMENT: usize = 8192;
const PING_ITT: u32 = 0x7000_0000;

const CTRL: IserHeaderRepr = IserHeaderRepr {
    opcode: IserOpcode::ISCSI_CTRL,
    write_stag: None,
    read_stag: None,
};

/// iserd's default limits (adapters/iserd/src/config.rs) over the engine's default sizing (32
/// receives; iserd's connections post 40, adapters/iserd/src/server/iser.rs, so this is the
/// tighter window).
fn iserd() -> Box<Iserd> {
    let limits = TargetConfig {
        max_recv_data_segment_length: 256 << 10,
        max_burst_length: 1 << 20,
        first_burst_length: 64 << 10,
        immediate_data: true,
        initial_r2t: false,
        max_outstanding_r2t: 1,
        queue_depth: 64,
        nop_in_interval: Some(Duration::from_secs(30)),
        nop_in_timeout: Duration::from_secs(15),
        ..TargetConfig::default()
    };
    Box::new(Iserd::with_configs(
        CmPrivateData::LINUX_INITIATOR,
        limits,
        IserConfig::default(),
    ))
}

/// What open-iscsi declares for an iSER session (its defaults), with or without immediate data.
fn linux_keys(immediate: bool) -> String {
    format!(
        "InitialR2T=No\0ImmediateData={}\0FirstBurstLength=65536\0MaxBurstLength=1048576\0\
         MaxOutstandingR2T=1\0InitiatorRecvDataSegmentLength=131072\0\
         TargetRecvDataSegmentLength={SEGMENT}\0",
        if immediate { "Yes" } else { "No" }
    )
}

/// Queues a WRITE(10) of `data` at `lba` from initiator offset `at` the way Linux sends it under
/// the negotiated keys: immediate data, unsolicited Data-Out up to FirstBurstLength unless
/// InitialR2T=Yes, the Write STag's base at the first byte after them. Returns the ITT.
fn queue_write(s: &mut Iserd, lba: u32, at: u32, data: &[u8]) -> u32 {
    let n = s.target.session().negotiated().clone();
    let imm = if n.immediate_data {
        SEGMENT.min(n.first_burst_length as usize).min(data.len())
    } else {
        0
    };
    // RFC 7143 §13.10, §13.11: unsolicited data is the immediate data under InitialR2T=Yes,
    // else the first burst.
    let unsolicited = if n.initial_r2t {
        imm
    } else {
        (n.first_burst_length as usize).min(data.len())
    };
    let start = (DATA_AT + at) as usize;
    s.fabric.region_mut(s.ini)[start..start + data.len()].copy_from_slice(data);
    let stag = s
        .fabric
        .register_remote(
            s.ini,
            DATA_AT + at,
            data.len() as u32,
            Access {
                remote_read: true,
                remote_write: false,
            },
        )
        .unwrap();
    let header = IserHeaderRepr {
        opcode: IserOpcode::ISCSI_CTRL,
        write_stag: Some((stag.stag, stag.addr + unsolicited as u64)),
        read_stag: None,
    };
    let cdb = Setup::rw10(0x2a, lba, (data.len() / 512) as u16);
    let mut cmd = s.next_command(cdb, false, true, data.len() as u32);
    cmd.final_ = imm == unsolicited;
    let itt = cmd.itt;
    s.queue_send(header, PduRepr::ScsiCommand(cmd), &data[..imm]);
    let mut offset = imm;
    let mut data_sn = 0;
    while offset < unsolicited {
        let len = SEGMENT.min(unsolicited - offset);
        let d = DataOutRepr {
            final_: offset + len == unsolicited,
            lun: Lun(0),
            itt,
            ttt: 0xffff_ffff,
            exp_stat_sn: 0,
            data_sn,
            buffer_offset: offset as u32,
        };
        s.queue_send(CTRL, PduRepr::DataOut(d), &data[offset..offset + len]);
        offset += len;
        data_sn += 1;
    }
    itt
}

/// Queues a READ(10) of `len` bytes at `lba` into initiator offset `at`. Returns the ITT.
fn queue_read(s: &mut Iserd, lba: u32, at: u32, len: usize) -> u32 {
    let stag = s
        .fabric
        .register_remote(
            s.ini,
            DATA_AT + at,
            len as u32,
            Access {
                remote_read: false,
                remote_write: true,
            },
        )
        .unwrap();
    let header = IserHeaderRepr {
        opcode: IserOpcode::ISCSI_CTRL,
        write_stag: None,
        read_stag: Some((stag.stag, stag.addr)),
    };
    let cmd = s.next_command(
        Setup::rw10(0x28, lba, (len / 512) as u16),
        true,
        false,
        len as u32,
    );
    let itt = cmd.itt;
    s.queue_send(header, PduRepr::ScsiCommand(cmd), &[]);
    itt
}

/// The Linux ping: an immediate NOP-Out with an ITT, wanting a NOP-In (RFC 7143 §11.18).
fn queue_ping(s: &mut Iserd) {
    let nop = NopOutRepr {
        immediate: true,
        lun: Lun(0),
        itt: PING_ITT,
        ttt: 0xffff_ffff,
        cmd_sn: s.cmd_sn,
        exp_stat_sn: 0,
    };
    s.queue_send(CTRL, PduRepr::NopOut(nop), &[]);
}

/// `writes` 1 MiB writes (and `reads` 1 MiB reads of what an earlier write left) in flight at
/// once with a ping queued behind them: every command is answered with GOOD, the ping with a
/// NOP-In, the data lands, and the target ends idle with only its receives posted.
/// How the scripted initiator's queued messages reach the target.
#[derive(Clone, Copy, Debug)]
enum Drive {
    /// Each waits for a posted receive (an RC Send under receiver-not-ready retry).
    Paced,
    /// As `Paced`, the two sides taking turns in an order drawn from the seed.
    Shuffled(u64),
    /// All at once, as the Linux initiator sends them (its Sends are bounded by the CmdSN
    /// window only): the target must have a receive posted for every one.
    Unpaced,
}

fn burst(writes: u32, reads: u32, immediate: bool) {
    burst_driven(writes, reads, immediate, Drive::Paced);
}

/// Moves everything until nothing happens any more, the two sides taking turns in an order
/// drawn from `seed`: the initiator's messages land while the target is anywhere between
/// completions (the target still posts its work after each completion, as it must).
fn shuffled_pump(s: &mut Iserd, seed: u64) {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    s.target_post();
    loop {
        let progress = match next() % 4 {
            0 => s.post_pending(),
            1 => {
                let took = s.target_event();
                s.target_post();
                took
            }
            _ => match s.fabric.poll(s.ini) {
                Some(ev) => {
                    s.initiator_event(ev);
                    true
                }
                None => false,
            },
        };
        if !progress && s.fabric.is_idle() && !s.post_pending() {
            s.target_post();
            if s.fabric.is_idle() {
                return;
            }
        }
    }
}

fn burst_driven(writes: u32, reads: u32, immediate: bool, drive: Drive) {
    let mut s = iserd();
    s.login_declaring(&linux_keys(immediate));
    s.clear_unit_attention();
    let blocks = (MIB / 512) as u32;
    // Reads fetch what the writes of the round before left at these LBAs.
    let old: Vec<Vec<u8>> = (0..reads).map(|i| pattern(MIB, 1000 + i)).collect();
    for (i, data) in old.iter().enumerate() {
        let lba = (16 + i as u32) * blocks;
        queue_write(&mut s, lba, 0, data);
        s.pump();
        for stag in s.fabric.valid_stags(s.ini) {
            s.fabric.invalidate(s.ini, stag).unwrap();
        }
    }
    s.received.clear();
    let mut itts = Vec::new();
    let mut slot = 0u32;
    let new: Vec<Vec<u8>> = (0..writes).map(|i| pattern(MIB, i)).collect();
    for i in 0..writes.max(reads) {
        if let Some(data) = new.get(i as usize) {
            itts.push(queue_write(&mut s, i * blocks, slot * MIB as u32, data));
            slot += 1;
        }
        if i < reads {
            itts.push(queue_read(
                &mut s,
                (16 + i) * blocks,
                slot * MIB as u32,
                MIB,
            ));
            slot += 1;
        }
    }
    queue_ping(&mut s);
    match drive {
        Drive::Paced => s.pump(),
        Drive::Shuffled(seed) => shuffled_pump(&mut s, seed),
        Drive::Unpaced => {
            while let Some(msg) = s.pending.pop_front() {
                s.post_message(&msg);
            }
            s.pump();
        }
    }
    let answered = |itt: u32| {
        s.received.iter().any(|(pdu, _, _)| match pdu {
            PduRepr::ScsiResponse(r) => r.itt == itt && r.status.0 == 0,
            PduRepr::NopIn(n) => n.itt == itt,
            _ => false,
        })
    };
    let missing: Vec<u32> = itts
        .iter()
        .copied()
        .chain([PING_ITT])
        .filter(|itt| !answered(*itt))
        .collect();
    assert!(
        missing.is_empty() && s.pending.is_empty(),
        "stalled: ITTs {missing:x?} unanswered, {} messages never taken, initiator QP {:?}, \
         target error {:?}, {} buffers in use, {} unexpected PDUs outstanding",
        s.pending.len(),
        s.fabric.endpoint(s.ini).unwrap().qp_state(),
        s.target.error(),
        s.target.buffers_in_use(),
        s.target.unexpected_outstanding(),
    );
    assert!(s.target.error().is_none());
    // The reads returned what was there before.
    let mut slot = 0usize;
    for i in 0..writes.max(reads) as usize {
        if i < writes as usize {
            slot += 1;
        }
        if let Some(data) = old.get(i) {
            let at = DATA_AT as usize + slot * MIB;
            assert!(
                s.fabric.region(s.ini)[at..at + MIB] == data[..],
                "read {i} differs"
            );
            slot += 1;
        }
    }
    for (i, data) in new.iter().enumerate() {
        let (back, _) = s.read(i as u32 * blocks, MIB);
        assert!(back == *data, "write {i} did not land");
    }
    assert_eq!(
        s.target.buffers_in_use(),
        usize::from(IserConfig::default().recv_depth),
        "idle: only the receives hold buffers"
    );
}

fn on_big_stack(f: fn()) {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn iser_four_1mib_writes_with_immediate_data_and_a_ping() {
    on_big_stack(|| burst(4, 0, true));
}

#[test]
fn iser_four_1mib_writes_without_immediate_data_and_a_ping() {
    on_big_stack(|| burst(4, 0, false));
}

#[test]
fn iser_eight_1mib_writes_and_a_ping() {
    on_big_stack(|| {
        burst(8, 0, true);
        burst(8, 0, false);
    });
}

#[test]
fn iser_1mib_writes_and_reads_mixed_and_a_ping() {
    on_big_stack(|| {
        burst(4, 4, true);
        burst(6, 2, false);
    });
}

#[test]
fn iser_concurrent_writes_in_shuffled_orders() {
    on_big_stack(|| {
        for seed in 1..12u64 {
            burst_driven(4, 0, true, Drive::Shuffled(seed));
            burst_driven(8, 0, false, Drive::Shuffled(seed * 7919));
            burst_driven(4, 4, true, Drive::Shuffled(seed * 104729));
        }
    });
}

/// The Linux initiator does not wait for the target's receives: every Send it posts within the
/// CmdSN window must find one (RFC 7145 §8.1), else its QP backs off on receiver-not-ready
/// (655 ms a time under the CM's default RNR timer, six retries) with the ping stuck behind.
#[test]
fn iser_concurrent_writes_sent_at_once_find_receives() {
    on_big_stack(|| {
        burst_driven(4, 0, true, Drive::Unpaced);
        burst_driven(4, 0, false, Drive::Unpaced);
        burst_driven(8, 0, true, Drive::Unpaced);
        burst_driven(4, 4, true, Drive::Unpaced);
    });
}

/// A full CmdSN window of commands and a ping sent at once all find a receive: the window the
/// target grants covers no more commands than it keeps receives posted for.
#[test]
fn iser_full_cmd_sn_window_sent_at_once_finds_receives() {
    on_big_stack(|| {
        let mut s = iserd();
        s.login_declaring(&linux_keys(true));
        s.clear_unit_attention();
        // A TEST UNIT READY shows the window.
        let tur = s.next_command([0; 16], false, false, 0);
        s.send(CTRL, PduRepr::ScsiCommand(tur), &[]);
        let Some((PduRepr::ScsiResponse(r), _, _)) = s.received.pop() else {
            panic!("a SCSI response")
        };
        let window = r.max_cmd_sn.wrapping_sub(r.exp_cmd_sn).wrapping_add(1);
        assert!(window >= 8, "a useful window: {window}");
        let len = 64 << 10;
        let itts: Vec<u32> = (0..window)
            .map(|i| queue_read(&mut s, i * 128, i * len as u32, len))
            .collect();
        queue_ping(&mut s);
        while let Some(msg) = s.pending.pop_front() {
            s.post_message(&msg);
        }
        s.pump();
        assert!(s.target.error().is_none(), "{:?}", s.target.error());
        for itt in itts.iter().copied().chain([PING_ITT]) {
            assert!(
                s.received.iter().any(|(pdu, _, _)| match pdu {
                    PduRepr::ScsiResponse(r) => r.itt == itt && r.status.0 == 0,
                    PduRepr::NopIn(n) => n.itt == itt,
                    _ => false,
                }),
                "ITT {itt:#x} unanswered of a window of {window}"
            );
        }
    });
}

/// Moves everything until nothing happens any more, as `Setup::pump` does, the target's work
/// taken one op at a time with `poll_op` (`room` `None`) or in batches with `poll_ops` and
/// room for `room` ops; returns the ops the target posted, in order.
fn pump_logged(s: &mut Iserd, room: Option<usize>) -> Vec<DmOp> {
    let mut log = Vec::new();
    loop {
        let mut progress = false;
        while s.post_pending() {
            progress = true;
        }
        match room {
            None => {
                while let Some(op) =
                    s.target
                        .poll_op(s.fabric.region_mut(s.tgt), &mut s.backend, s.now)
                {
                    s.fabric.post(s.tgt, op).unwrap();
                    log.push(op);
                    progress = true;
                }
            }
            Some(k) => loop {
                let mut ops = vec![DmOp::Disconnect; k];
                let n =
                    s.target
                        .poll_ops(s.fabric.region_mut(s.tgt), &mut s.backend, s.now, &mut ops);
                for op in &ops[..n] {
                    s.fabric.post(s.tgt, *op).unwrap();
                    log.push(*op);
                    progress = true;
                }
                if n < k {
                    break;
                }
            },
        }
        while s.target_event() {
            progress = true;
        }
        while let Some(ev) = s.fabric.poll(s.ini) {
            progress = true;
            s.initiator_event(ev);
        }
        if !progress {
            return log;
        }
    }
}

/// `poll_ops` posts what `poll_op` posts, in the same order, whatever room it is given:
/// concurrent writes (RDMA Reads), reads (RDMA Writes), status, a ping, then a logout and the
/// disconnect after it.
#[test]
fn iser_poll_ops_posts_what_poll_op_posts() {
    on_big_stack(|| {
        let run = |room: Option<usize>| {
            let mut s = iserd();
            let s: &mut Iserd = &mut s;
            s.login_declaring(&linux_keys(true));
            s.clear_unit_attention();
            let blocks = (MIB / 512) as u32;
            for i in 0..3u32 {
                queue_write(s, i * blocks, i * MIB as u32, &pattern(MIB, i));
            }
            for i in 0..2u32 {
                queue_read(s, (16 + i) * blocks, (3 + i) * MIB as u32, MIB);
            }
            queue_ping(s);
            while let Some(msg) = s.pending.pop_front() {
                s.post_message(&msg);
            }
            let mut log = pump_logged(s, room);
            let logout = LogoutRequestRepr {
                immediate: true,
                reason: LogoutReason::CLOSE_SESSION,
                itt: 999,
                cid: 0,
                cmd_sn: s.cmd_sn,
                exp_stat_sn: 0,
            };
            s.post_send(CTRL, PduRepr::LogoutRequest(logout), &[]);
            log.extend(pump_logged(s, room));
            assert!(s.target.error().is_none(), "{:?}", s.target.error());
            assert!(
                matches!(s.received.last(), Some((PduRepr::LogoutResponse(_), _, _))),
                "logged out"
            );
            log
        };
        let one_by_one = run(None);
        let count = |f: fn(&DmOp) -> bool| one_by_one.iter().filter(|op| f(op)).count();
        assert!(count(|op| matches!(op, DmOp::RdmaRead { .. })) >= 3);
        assert!(count(|op| matches!(op, DmOp::RdmaWrite { .. })) >= 2);
        assert_eq!(count(|op| matches!(op, DmOp::Disconnect)), 1);
        for room in [1, 2, 3, 64] {
            assert!(run(Some(room)) == one_by_one, "room for {room}");
        }
    });
}
