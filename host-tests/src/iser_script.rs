//! A scripted iSER initiator driving the iSER target engine over the in-memory RC fabric, for
//! end-to-end tests and the instruction-count benchmark. Test code: a failed unwrap is a
//! failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    missing_debug_implementations
)]

use crate::fabric::{Access, EndpointId, Fabric, FabricConfig};
use crate::ram_target::{RamTarget, TARGET_NAME};
use iser_core::dm::iser::{IserConfig, IserTarget};
use iser_core::dm::{BufRef, DmEvent, DmOp, RemoteBuf, WrId};
use iser_core::session::TargetConfig;
use iser_core::time::Instant;
use iser_core::wire::frame::{emit_pdu, Digests, Pdu};
use iser_core::wire::{
    CmPrivateData, IserHeader, IserHeaderRepr, IserOpcode, Isid, LoginRequestRepr, LogoutReason,
    LogoutRequestRepr, Lun, PduRepr, ScsiCommandRepr, Stage, TaskAttribute, ISER_HEADER_LEN,
};

/// Task slots of the target under test.
pub const TASKS: usize = 32;
/// Registered buffers of the target under test.
pub const BUFS: usize = 64;
/// The target engine under test.
pub type Target = IserTarget<TASKS, BUFS>;

/// Initiator region layout: send slots, receive slots, then data.
pub const SLOT: u32 = 16 * 1024;
pub const SEND_SLOTS: u32 = 8;
pub const RECV_SLOTS: u32 = 16;
pub const DATA_AT: u32 = (SEND_SLOTS + RECV_SLOTS) * SLOT;
pub const INI_REGION: u32 = DATA_AT + (16 << 20);

/// A scripted iSER initiator and an `IserTarget` on the two ends of a fabric queue pair.
/// `T` and `B` are the target engine's task slots and buffers.
#[derive(Debug)]
pub struct Setup<const T: usize = TASKS, const B: usize = BUFS> {
    pub fabric: Fabric,
    pub ini: EndpointId,
    pub tgt: EndpointId,
    pub target: IserTarget<T, B>,
    pub backend: RamTarget,
    pub received: Vec<(PduRepr, Vec<u8>, Option<u32>)>,
    pub next_send: u32,
    pub cmd_sn: u32,
    pub itt: u32,
    pub now: Instant,
    /// Messages waiting for a posted receive at the target (an RC Send queue under
    /// receiver-not-ready retry), posted by [`Setup::pump`] as receives appear.
    pub pending: std::collections::VecDeque<Vec<u8>>,
}

impl Setup {
    pub fn new(cm: CmPrivateData) -> Setup {
        Self::with_target_config(cm, TargetConfig::default())
    }

    /// A target with these limits (e.g. a smaller receive data segment length).
    pub fn with_target_config(cm: CmPrivateData, target_config: TargetConfig) -> Setup {
        let config = IserConfig {
            buf_size: 128 * 1024 + 1024,
            recv_depth: 8,
            max_rdma_reads: 4,
            send_window: 4,
        };
        Setup::with_configs(cm, target_config, config)
    }

    pub fn rw10(op: u8, lba: u32, blocks: u16) -> [u8; 16] {
        let mut c = [0u8; 16];
        c[0] = op;
        c[2..6].copy_from_slice(&lba.to_be_bytes());
        c[7..9].copy_from_slice(&blocks.to_be_bytes());
        c
    }
}

impl<const T: usize, const B: usize> Setup<T, B> {
    /// A SCSI Command on LUN 0 with the next ITT and CmdSN (both advanced), not yet sent.
    pub fn next_command(
        &mut self,
        cdb: [u8; 16],
        read: bool,
        write: bool,
        edtl: u32,
    ) -> ScsiCommandRepr {
        let cmd = ScsiCommandRepr {
            immediate: false,
            final_: true,
            read,
            write,
            attr: TaskAttribute::SIMPLE,
            lun: Lun(0),
            itt: self.itt,
            expected_data_transfer_length: edtl,
            cmd_sn: self.cmd_sn,
            exp_stat_sn: 0,
            cdb,
        };
        self.itt += 1;
        self.cmd_sn += 1;
        cmd
    }

    /// A target of `T` task slots and `B` buffers sized by `config`.
    pub fn with_configs(
        cm: CmPrivateData,
        target_config: TargetConfig,
        config: IserConfig,
    ) -> Setup<T, B> {
        let target = IserTarget::new(&target_config, config, cm, [3; 32], Instant(0));
        let mut fabric = Fabric::new(FabricConfig::default());
        let (ini, tgt) = fabric.connect_pair_sized(INI_REGION, target.region_len() as u32);
        let mut s = Setup {
            fabric,
            ini,
            tgt,
            target,
            backend: RamTarget::new(32 << 20),
            received: Vec::new(),
            next_send: 0,
            cmd_sn: 1,
            itt: 1,
            now: Instant(0),
            pending: std::collections::VecDeque::new(),
        };
        for i in 0..RECV_SLOTS {
            let buf = BufRef {
                offset: (SEND_SLOTS + i) * SLOT,
                len: SLOT,
            };
            s.fabric
                .post(
                    s.ini,
                    DmOp::PostRecv {
                        id: WrId(1000 + u64::from(i)),
                        buf,
                    },
                )
                .unwrap();
        }
        s.pump();
        s
    }

    /// Moves everything until nothing happens any more.
    pub fn pump(&mut self) {
        loop {
            let mut progress = false;
            while self.post_pending() {
                progress = true;
            }
            progress |= self.target_post();
            while self.target_event() {
                progress = true;
            }
            while let Some(ev) = self.fabric.poll(self.ini) {
                progress = true;
                self.initiator_event(ev);
            }
            if !progress {
                return;
            }
        }
    }

    /// The initiator takes one completion: a received PDU is kept in `received` and its
    /// receive posted again.
    pub fn initiator_event(&mut self, ev: DmEvent) {
        if let DmEvent::Recv {
            id,
            len,
            invalidated,
        } = ev
        {
            let slot = (id.0 - 1000) as u32;
            let at = ((SEND_SLOTS + slot) * SLOT) as usize;
            let msg = self.fabric.region(self.ini)[at..at + len as usize].to_vec();
            let header =
                IserHeaderRepr::parse(&IserHeader::new_checked(&msg[..]).unwrap()).unwrap();
            assert_eq!(header.opcode, IserOpcode::ISCSI_CTRL);
            let (pdu, _) = Pdu::parse(&msg[ISER_HEADER_LEN..], Digests::NONE, 1 << 24).unwrap();
            self.received.push((
                PduRepr::parse(pdu.bhs).unwrap(),
                pdu.data.to_vec(),
                invalidated,
            ));
            let buf = BufRef {
                offset: (SEND_SLOTS + slot) * SLOT,
                len: SLOT,
            };
            self.fabric
                .post(self.ini, DmOp::PostRecv { id, buf })
                .unwrap();
        }
    }

    /// Posts the next queued message if the target has a receive for it.
    pub fn post_pending(&mut self) -> bool {
        if self.pending.is_empty() || self.fabric.endpoint(self.tgt).unwrap().posted_recvs() == 0 {
            return false;
        }
        let msg = self.pending.pop_front().unwrap();
        self.post_message(&msg);
        true
    }

    /// The target posts everything it has to post.
    pub fn target_post(&mut self) -> bool {
        let mut ops = [DmOp::Disconnect; 16];
        let mut progress = false;
        loop {
            let n = target_poll_ops(
                &mut self.target,
                self.fabric.region_mut(self.tgt),
                &mut self.backend,
                self.now,
                &mut ops,
            );
            for op in &ops[..n] {
                self.fabric.post(self.tgt, *op).unwrap();
            }
            progress |= n > 0;
            if n < ops.len() {
                return progress;
            }
        }
    }

    /// The target takes its next completion.
    pub fn target_event(&mut self) -> bool {
        let Some(ev) = self.fabric.poll(self.tgt) else {
            return false;
        };
        target_handle_event(
            &mut self.target,
            ev,
            self.fabric.region_mut(self.tgt),
            &mut self.backend,
            self.now,
        );
        true
    }

    pub fn send(&mut self, header: IserHeaderRepr, pdu: PduRepr, data: &[u8]) {
        self.post_send(header, pdu, data);
        self.pump();
    }

    /// Posts one message without moving anything else (several can then arrive back to back).
    pub fn post_send(&mut self, header: IserHeaderRepr, pdu: PduRepr, data: &[u8]) {
        let msg = encode(header, pdu, data);
        self.post_message(&msg);
    }

    /// Queues one message behind those not yet taken: [`Setup::pump`] posts it once the target
    /// has a receive posted for it, as an RC Send waits out receiver-not-ready.
    pub fn queue_send(&mut self, header: IserHeaderRepr, pdu: PduRepr, data: &[u8]) {
        self.pending.push_back(encode(header, pdu, data));
    }

    /// Posts one encoded message at once, whether or not the target has a receive for it.
    pub fn post_message(&mut self, msg: &[u8]) {
        assert!(msg.len() <= SLOT as usize, "a message fits a send slot");
        let slot = self.next_send % SEND_SLOTS;
        self.next_send += 1;
        let at = (slot * SLOT) as usize;
        self.fabric.region_mut(self.ini)[at..at + msg.len()].copy_from_slice(msg);
        let buf = BufRef {
            offset: slot * SLOT,
            len: msg.len() as u32,
        };
        self.fabric
            .post(
                self.ini,
                DmOp::Send {
                    id: WrId(u64::from(slot)),
                    buf,
                    invalidate: None,
                },
            )
            .unwrap();
    }

    pub fn login(&mut self) {
        self.login_with("");
    }

    /// Logs in, declaring `extra_keys` (`key=value\0` each) along with the usual ones.
    pub fn login_with(&mut self, extra_keys: &str) {
        self.login_declaring(&format!(
            "InitialR2T=Yes\0ImmediateData=Yes\0\
             MaxBurstLength=1048576\0FirstBurstLength=65536\0MaxOutstandingR2T=1\0\
             InitiatorRecvDataSegmentLength=8192\0TargetRecvDataSegmentLength=8192\0{extra_keys}"
        ));
    }

    /// Logs in declaring these operational keys (`key=value\0` each) beside the names,
    /// RDMAExtensions=Yes and no digests.
    pub fn login_declaring(&mut self, keys: &str) {
        let ctrl = IserHeaderRepr {
            opcode: IserOpcode::ISCSI_CTRL,
            write_stag: None,
            read_stag: None,
        };
        let mut text = format!(
            "InitiatorName=iqn.2026-11.rs.iser:ini\0TargetName={TARGET_NAME}\0SessionType=Normal\0\
             RDMAExtensions=Yes\0HeaderDigest=None\0DataDigest=None\0{keys}"
        );
        for _ in 0..4 {
            let req = LoginRequestRepr {
                transit: true,
                continue_: false,
                csg: Stage::OPERATIONAL,
                nsg: Stage::FULL_FEATURE,
                version_max: 0,
                version_min: 0,
                isid: Isid([0x80, 1, 2, 3, 4, 5]),
                tsih: 0,
                itt: 0,
                cid: 0,
                cmd_sn: self.cmd_sn,
                exp_stat_sn: 0,
            };
            self.send(ctrl, PduRepr::LoginRequest(req), text.as_bytes());
            let (repr, data, _) = self.received.pop().expect("a login response");
            let PduRepr::LoginResponse(resp) = repr else {
                panic!("{repr:?}")
            };
            assert!(
                resp.status.is_success(),
                "{:?} {}",
                resp.status,
                String::from_utf8_lossy(&data)
            );
            if resp.transit {
                assert!(self.target.session().is_full_feature());
                let n = self.target.session().negotiated();
                assert!(n.rdma_extensions, "RDMAExtensions must end Yes");
                return;
            }
            // Answer what the target offered (lengths and bursts) with its own values.
            text = String::from_utf8_lossy(&data)
                .split('\0')
                .filter(|kv| {
                    [
                        "MaxBurstLength=",
                        "FirstBurstLength=",
                        "InitialR2T=",
                        "ImmediateData=",
                    ]
                    .iter()
                    .any(|k| kv.starts_with(k))
                })
                .map(|kv| format!("{kv}\0"))
                .collect();
        }
        panic!("login did not complete");
    }

    /// One SCSI command with its STag; returns (status, invalidated STag).
    pub fn command(
        &mut self,
        cdb: [u8; 16],
        read: Option<(RemoteBuf, u32)>,
        write: Option<(RemoteBuf, u32)>,
        immediate: &[u8],
    ) -> (u8, Option<u32>) {
        let edtl = read.map(|r| r.1).or(write.map(|w| w.1)).unwrap_or(0);
        let header = IserHeaderRepr {
            opcode: IserOpcode::ISCSI_CTRL,
            write_stag: write.map(|(r, _)| (r.stag, r.addr)),
            read_stag: read.map(|(r, _)| (r.stag, r.addr)),
        };
        let cmd = self.next_command(cdb, read.is_some(), write.is_some(), edtl);
        let itt = cmd.itt;
        self.send(header, PduRepr::ScsiCommand(cmd), immediate);
        let (repr, _, invalidated) = self.received.pop().expect("a SCSI response");
        let PduRepr::ScsiResponse(resp) = repr else {
            panic!("{repr:?}")
        };
        assert_eq!(resp.itt, itt);
        (resp.status.0, invalidated)
    }

    pub fn write(&mut self, lba: u32, data: &[u8], immediate: usize) -> Option<u32> {
        let at = DATA_AT as usize;
        self.fabric.region_mut(self.ini)[at..at + data.len()].copy_from_slice(data);
        let remote = self
            .fabric
            .register_remote(
                self.ini,
                DATA_AT,
                data.len() as u32,
                Access {
                    remote_read: true,
                    remote_write: false,
                },
            )
            .unwrap();
        // The Write Base Offset names the first byte after the immediate data (InitialR2T=Yes
        // here, so immediate data is all that is unsolicited), as Linux sends it.
        let remote = RemoteBuf {
            stag: remote.stag,
            addr: remote.addr + immediate as u64,
        };
        let blocks = (data.len() / 512) as u16;
        let (status, inv) = self.command(
            Setup::rw10(0x2a, lba, blocks),
            None,
            Some((remote, data.len() as u32)),
            &data[..immediate],
        );
        assert_eq!(status, 0);
        inv
    }

    pub fn read(&mut self, lba: u32, len: usize) -> (Vec<u8>, Option<u32>) {
        let at = DATA_AT as usize;
        self.fabric.region_mut(self.ini)[at..at + len].fill(0xee);
        let remote = self
            .fabric
            .register_remote(
                self.ini,
                DATA_AT,
                len as u32,
                Access {
                    remote_read: false,
                    remote_write: true,
                },
            )
            .unwrap();
        let (status, inv) = self.command(
            Setup::rw10(0x28, lba, (len / 512) as u16),
            Some((remote, len as u32)),
            None,
            &[],
        );
        assert_eq!(status, 0);
        (self.fabric.region(self.ini)[at..at + len].to_vec(), inv)
    }

    pub fn clear_unit_attention(&mut self) {
        let (status, _) = self.command([0; 16], None, None, &[]);
        assert_eq!(status, 2, "the first command reports POWER ON / RESET");
    }

    pub fn logout(&mut self) {
        let ctrl = IserHeaderRepr {
            opcode: IserOpcode::ISCSI_CTRL,
            write_stag: None,
            read_stag: None,
        };
        let req = LogoutRequestRepr {
            immediate: true,
            reason: LogoutReason::CLOSE_SESSION,
            itt: 999,
            cid: 0,
            cmd_sn: self.cmd_sn,
            exp_stat_sn: 0,
        };
        self.send(ctrl, PduRepr::LogoutRequest(req), &[]);
        let (repr, _, _) = self.received.pop().expect("a logout response");
        assert!(matches!(repr, PduRepr::LogoutResponse(_)), "{repr:?}");
    }
}

/// One iSER message: the iSER header and the PDU.
fn encode(header: IserHeaderRepr, pdu: PduRepr, data: &[u8]) -> Vec<u8> {
    let mut msg = vec![0u8; ISER_HEADER_LEN + 48 + data.len() + 3];
    header
        .emit(&mut IserHeader::new_unchecked(&mut msg[..ISER_HEADER_LEN]))
        .unwrap();
    let n = emit_pdu(&pdu, &[], data, Digests::NONE, &mut msg[ISER_HEADER_LEN..]).unwrap();
    msg.truncate(ISER_HEADER_LEN + n);
    msg
}

/// Deterministic test data.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

// The target engine's two entry points, kept out of line so that `bench/iser-instructions.sh`
// can count exactly the instructions spent inside them (callgrind `--toggle-collect`).

#[inline(never)]
fn target_poll_ops<const T: usize, const B: usize>(
    target: &mut IserTarget<T, B>,
    region: &mut [u8],
    backend: &mut RamTarget,
    now: Instant,
    ops: &mut [DmOp],
) -> usize {
    target.poll_ops(region, backend, now, ops)
}

#[inline(never)]
fn target_handle_event<const T: usize, const B: usize>(
    target: &mut IserTarget<T, B>,
    ev: DmEvent,
    region: &mut [u8],
    backend: &mut RamTarget,
    now: Instant,
) {
    target.handle_event(ev, region, backend, now);
}
