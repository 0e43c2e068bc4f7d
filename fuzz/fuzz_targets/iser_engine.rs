//! Fuzz target: the iSER engines (target and initiator role) fed arbitrary completions and
//! control messages, before or after a real login against the other engine (RFC 7145 §7–§9).
//! Nothing may panic; every message the engine sends must parse as an iSER message; every posted
//! buffer lies in the region; at the end, after a disconnect flushes all posted work, every
//! buffer is back and every STag the initiator registered has been invalidated.
#![no_main]

use arbitrary::Arbitrary;
use host_tests::ram_target::{RamTarget, TARGET_NAME};
use iser_core::dm::iser::{IserConfig, IserInitiator, IserTarget, Registrar};
use iser_core::dm::{BufRef, DmEvent, DmOp, RemoteBuf, WcStatus, WrId};
use iser_core::session::initiator::{
    InitiatorConfig, InitiatorEvent, InitiatorSink, ScsiRequest, TaskHandle,
};
use iser_core::session::TargetConfig;
use iser_core::time::Instant;
use iser_core::wire::{CmPrivateData, IserHeader, IserHeaderRepr, IserMessage, IserOpcode, Lun};
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;

const TASKS: usize = 8;
const BUFS: usize = 16;
const DATA_LEN: usize = 64 * 1024;
const ISER: IserConfig = IserConfig {
    buf_size: 16 * 1024,
    recv_depth: 4,
    max_rdma_reads: 2,
    send_window: 4,
};

#[derive(Arbitrary, Debug)]
struct Input {
    initiator: bool,
    login: bool,
    send_inv: bool,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// A control message built from parts into a posted receive.
    Control {
        recv: u8,
        write_stag: Option<(u32, u64)>,
        read_stag: Option<(u32, u64)>,
        pdu: PduParts,
        invalidated: Option<u32>,
    },
    /// Raw bytes into a posted receive, with the length the completion claims.
    Raw {
        recv: u8,
        bytes: Vec<u8>,
        len: Option<u32>,
        invalidated: Option<u32>,
    },
    /// A posted Send / RDMA operation completes.
    Complete {
        pick: u8,
        status: u8,
    },
    /// A posted receive completes in error.
    RecvError {
        recv: u8,
        status: u8,
    },
    /// A completion for a work request id nobody posted (or posted long ago).
    Forged {
        id: u64,
        recv: bool,
        len: u32,
    },
    Disconnected,
    Timeout {
        ms: u16,
    },
    /// Initiator role: submit a command (registration may fail).
    Submit {
        read: bool,
        blocks: u8,
        lba: u16,
        at: u16,
        register_fails: bool,
    },
    /// Initiator role: log out.
    Logout,
}

#[derive(Arbitrary, Debug)]
struct PduParts {
    opcode: u8,
    flags: u8,
    itt: u32,
    ttt: u32,
    rest: [u8; 24],
    data: Vec<u8>,
}

impl PduParts {
    fn emit(&self, out: &mut Vec<u8>) {
        let mut bhs = [0u8; 48];
        bhs[0] = self.opcode;
        bhs[1] = self.flags;
        let dsl = (self.data.len() as u32).to_be_bytes();
        bhs[5..8].copy_from_slice(&dsl[1..]);
        bhs[16..20].copy_from_slice(&self.itt.to_be_bytes());
        bhs[20..24].copy_from_slice(&self.ttt.to_be_bytes());
        bhs[24..48].copy_from_slice(&self.rest);
        out.extend_from_slice(&bhs);
        out.extend_from_slice(&self.data);
        out.resize(out.len().next_multiple_of(4), 0);
    }
}

fn status(s: u8) -> WcStatus {
    match s % 5 {
        0 => WcStatus::Success,
        1 => WcStatus::Flushed,
        2 => WcStatus::RemoteAccess,
        3 => WcStatus::ReceiverNotReady,
        _ => WcStatus::Other,
    }
}

/// A registrar that hands out fresh STags and tracks which are still valid.
#[derive(Default)]
struct Stags {
    next: u32,
    live: HashSet<u32>,
    fail_next: bool,
}

impl Registrar for Stags {
    fn register(&mut self, buf: BufRef, _target_writes: bool) -> Option<RemoteBuf> {
        if std::mem::take(&mut self.fail_next) {
            return None;
        }
        self.next += 1;
        self.live.insert(self.next);
        Some(RemoteBuf {
            stag: self.next,
            addr: 0x1000_0000 + u64::from(buf.offset),
        })
    }
    fn invalidate(&mut self, stag: u32) {
        self.live.remove(&stag);
    }
}

#[derive(Default)]
struct Sink;

impl InitiatorSink for Sink {
    fn read_data(&mut self, _: TaskHandle, _: u32, _: &[u8]) {}
    fn event(&mut self, _: InitiatorEvent<'_>) {}
}

/// One engine under test, either role.
enum Engine {
    Target(Box<IserTarget<TASKS, BUFS>>),
    Initiator(Box<IserInitiator<'static, TASKS, BUFS>>),
}

/// The engine, its region and the work it has posted that has not completed.
struct Side {
    engine: Engine,
    region: Vec<u8>,
    recvs: Vec<(WrId, BufRef)>,
    sq: Vec<WrId>,
    disconnected: bool,
}

struct World<'b> {
    backend: &'b mut RamTarget,
    stags: Stags,
    now: Instant,
}

impl Side {
    fn new(initiator: bool, cm: CmPrivateData) -> Side {
        let engine = if initiator {
            let config = InitiatorConfig::new("iqn.2026-11.rs.iser:fuzz", Some(TARGET_NAME));
            let mut ini = IserInitiator::new(&config, ISER, [7; 32], Instant(0))
                .with_copy_buffers(4, 4096, 4096);
            ini.connected(cm, Instant(0));
            Engine::Initiator(Box::new(ini))
        } else {
            Engine::Target(Box::new(IserTarget::new(
                &TargetConfig::default(),
                ISER,
                cm,
                [3; 32],
                Instant(0),
            )))
        };
        let len = match &engine {
            Engine::Target(t) => t.region_len(),
            Engine::Initiator(i) => i.control_region_len() + DATA_LEN,
        };
        Side {
            engine,
            region: vec![0; len],
            recvs: Vec::new(),
            sq: Vec::new(),
            disconnected: false,
        }
    }

    fn event(&mut self, ev: DmEvent, w: &mut World<'_>) {
        match &mut self.engine {
            Engine::Target(t) => t.handle_event(ev, &mut self.region, w.backend, w.now),
            Engine::Initiator(i) => {
                i.handle_event(ev, &mut self.region, &mut w.stags, &mut Sink, w.now)
            }
        }
    }

    /// The next op, checked: buffers inside the region, Sends that parse.
    fn poll(&mut self, w: &mut World<'_>) -> Option<DmOp> {
        let op = match &mut self.engine {
            Engine::Target(t) => t.poll_op(&mut self.region, w.backend, w.now),
            Engine::Initiator(i) => i.poll_op(&mut self.region, w.now),
        }?;
        let inside = |b: &BufRef| (b.offset as usize + b.len as usize) <= self.region.len();
        match op {
            DmOp::PostRecv { id, buf } => {
                assert!(inside(&buf) && buf.len <= ISER.buf_size, "{op:?}");
                self.recvs.push((id, buf));
            }
            DmOp::Send { id, buf, .. } => {
                assert!(inside(&buf), "{op:?}");
                let msg = &self.region[buf.offset as usize..(buf.offset + buf.len) as usize];
                IserMessage::parse(msg).expect("the engine sent a malformed iSER message");
                self.sq.push(id);
            }
            DmOp::RdmaWrite { id, buf, .. } | DmOp::RdmaRead { id, buf, .. } => {
                assert!(inside(&buf), "{op:?}");
                self.sq.push(id);
            }
            DmOp::Disconnect => self.disconnected = true,
            _ => {}
        }
        Some(op)
    }

    fn drain(&mut self, w: &mut World<'_>) {
        for _ in 0..10_000 {
            if self.poll(w).is_none() {
                return;
            }
        }
        panic!("the engine never stops posting");
    }

    /// Puts `msg` into posted receive `pick` and completes it.
    fn deliver(
        &mut self,
        pick: u8,
        msg: &[u8],
        len: Option<u32>,
        invalidated: Option<u32>,
        w: &mut World<'_>,
    ) {
        if self.recvs.is_empty() {
            return;
        }
        let (id, buf) = self.recvs.remove(pick as usize % self.recvs.len());
        let n = msg.len().min(buf.len as usize);
        let at = buf.offset as usize;
        self.region[at..at + n].copy_from_slice(&msg[..n]);
        if let Some(stag) = invalidated {
            w.stags.live.remove(&stag);
        }
        let len = len.map_or(n as u32, |l| l.min(buf.len));
        self.event(
            DmEvent::Recv {
                id,
                len,
                invalidated,
            },
            w,
        );
    }
}

/// Logs in: the engine under test against the other role's engine, Sends copied into the
/// peer's posted receives, everything else completed at once.
fn login(a: &mut Side, b: &mut Side, w: &mut World<'_>) {
    // The target posts its receives before the initiator's first Send, as a real one does.
    let (a, b) = match a.engine {
        Engine::Target(_) => (a, b),
        Engine::Initiator(_) => (b, a),
    };
    for _ in 0..64 {
        let progress = step(a, b, w) | step(b, a, w);
        if !progress {
            return;
        }
    }
}

fn step(me: &mut Side, peer: &mut Side, w: &mut World<'_>) -> bool {
    let mut progress = false;
    while let Some(op) = me.poll(w) {
        progress = true;
        let DmOp::Send {
            id,
            buf,
            invalidate,
        } = op
        else {
            continue;
        };
        me.sq.retain(|x| *x != id);
        let msg = me.region[buf.offset as usize..(buf.offset + buf.len) as usize].to_vec();
        me.event(
            DmEvent::Done {
                id,
                status: WcStatus::Success,
            },
            w,
        );
        peer.deliver(0, &msg, None, invalidate, w);
    }
    // RDMA work during login is not expected; complete whatever there is.
    for id in std::mem::take(&mut me.sq) {
        me.event(
            DmEvent::Done {
                id,
                status: WcStatus::Success,
            },
            w,
        );
        progress = true;
    }
    progress
}

thread_local! {
    // One RAM LU for all runs (a per-input fixture would look like a leak to LeakSanitizer).
    static BACKEND: std::cell::RefCell<RamTarget> = std::cell::RefCell::new(RamTarget::new(1 << 20));
}

fuzz_target!(|input: Input| {
    BACKEND.with(|b| run(input, &mut b.borrow_mut()));
});

fn run(input: Input, backend: &mut RamTarget) {
    let cm = CmPrivateData {
        zbva_not_supported: true,
        send_inv_not_supported: !input.send_inv,
    };
    let mut w = World {
        backend,
        stags: Stags::default(),
        now: Instant(0),
    };
    let mut side = Side::new(input.initiator, cm);
    if input.login {
        let mut peer = Side::new(!input.initiator, cm);
        login(&mut side, &mut peer, &mut w);
        let logged_in = match &side.engine {
            Engine::Target(t) => t.session().is_full_feature(),
            Engine::Initiator(i) => i.session().is_full_feature(),
        };
        assert!(logged_in, "the two engines log in");
    }
    for op in input.ops.into_iter().take(64) {
        match op {
            Op::Control {
                recv,
                write_stag,
                read_stag,
                pdu,
                invalidated,
            } => {
                let mut msg = vec![0u8; 28];
                let header = IserHeaderRepr {
                    opcode: IserOpcode::ISCSI_CTRL,
                    write_stag,
                    read_stag,
                };
                let _ = header.emit(&mut IserHeader::new_unchecked(&mut msg[..]));
                pdu.emit(&mut msg);
                side.deliver(recv, &msg, None, invalidated, &mut w);
            }
            Op::Raw {
                recv,
                bytes,
                len,
                invalidated,
            } => side.deliver(recv, &bytes, len, invalidated, &mut w),
            Op::Complete { pick, status: s } => {
                if !side.sq.is_empty() {
                    let id = side.sq.remove(pick as usize % side.sq.len());
                    side.event(
                        DmEvent::Done {
                            id,
                            status: status(s),
                        },
                        &mut w,
                    );
                }
            }
            Op::RecvError { recv, status: s } => {
                if !side.recvs.is_empty() {
                    let (id, _) = side.recvs.remove(recv as usize % side.recvs.len());
                    side.event(
                        DmEvent::RecvError {
                            id,
                            status: status(s),
                        },
                        &mut w,
                    );
                }
            }
            Op::Forged { id, recv, len } => {
                // Only ids that are not posted: a posted one would be a real completion.
                let posted =
                    side.recvs.iter().any(|r| r.0 .0 == id) || side.sq.iter().any(|s| s.0 == id);
                if !posted {
                    let ev = if recv {
                        DmEvent::Recv {
                            id: WrId(id),
                            len,
                            invalidated: None,
                        }
                    } else {
                        DmEvent::Done {
                            id: WrId(id),
                            status: WcStatus::Success,
                        }
                    };
                    side.event(ev, &mut w);
                }
            }
            Op::Disconnected => side.event(DmEvent::Disconnected, &mut w),
            Op::Timeout { ms } => {
                w.now = Instant(w.now.0 + u64::from(ms) * 1000);
                match &mut side.engine {
                    Engine::Target(t) => t.handle_timeout(w.backend, w.now),
                    Engine::Initiator(i) => i.handle_timeout(w.now, &mut w.stags, &mut Sink),
                }
            }
            Op::Submit {
                read,
                blocks,
                lba,
                at,
                register_fails,
            } => {
                if let Engine::Initiator(i) = &mut side.engine {
                    let blocks = u32::from(blocks % 64) + 1;
                    let len = blocks * 512;
                    let mut cdb = [0u8; 16];
                    cdb[0] = if read { 0x88 } else { 0x8a };
                    cdb[2..10].copy_from_slice(&u64::from(lba % 1024).to_be_bytes());
                    cdb[10..14].copy_from_slice(&blocks.to_be_bytes());
                    let req = if read {
                        ScsiRequest::read(Lun(0), &cdb, len)
                    } else {
                        ScsiRequest::write(Lun(0), &cdb, len)
                    };
                    let offset =
                        i.control_region_len() as u32 + u32::from(at) % (DATA_LEN as u32 - len);
                    w.stags.fail_next = register_fails;
                    let _ = i.submit(&req, BufRef { offset, len }, &mut w.stags);
                    w.stags.fail_next = false;
                }
            }
            Op::Logout => {
                if let Engine::Initiator(i) = &mut side.engine {
                    let _ = i.session_mut().logout();
                }
            }
        }
        side.drain(&mut w);
    }
    // Tear down: the connection goes, every posted work request flushes.
    side.event(DmEvent::Disconnected, &mut w);
    side.drain(&mut w);
    for _ in 0..4 {
        for (id, _) in std::mem::take(&mut side.recvs) {
            side.event(
                DmEvent::RecvError {
                    id,
                    status: WcStatus::Flushed,
                },
                &mut w,
            );
        }
        for id in std::mem::take(&mut side.sq) {
            side.event(
                DmEvent::Done {
                    id,
                    status: WcStatus::Flushed,
                },
                &mut w,
            );
        }
        side.drain(&mut w);
    }
    match &side.engine {
        Engine::Target(t) => assert!(t.is_closed(), "buffers left: {}", t.buffers_in_use()),
        Engine::Initiator(i) => {
            assert!(i.is_closed(), "initiator buffers left");
            assert!(
                w.stags.live.is_empty(),
                "STags never invalidated: {:?}",
                w.stags.live
            );
        }
    }
}
