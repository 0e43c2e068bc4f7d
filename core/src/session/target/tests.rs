//! Target connection tests: a scripted initiator built from wire Reprs drives a `TargetConn` over
//! a RAM LU. Named `test_<stage>_<input>`; bad input gets the RFC's answer, never a panic.

use std::borrow::ToOwned;
use std::format;
use std::vec;
use std::vec::Vec;

use super::*;
use crate::scsi::{
    CommandRequest, Completion, Finish, LogicalUnit, LuConfig, LuIdentity, NoPeers, RamDisk,
    ScsiTask, Start, Ticket,
};
use crate::session::backend::{AuthPolicy, ChapCredentials, SessionRefused, TargetListing};
use crate::wire::frame::emit_pdu;
use crate::wire::{
    DataOutRepr, Isid, LoginRequestRepr, LoginStatus, Lun, NopOutRepr, PduRepr, RejectReason,
    ScsiCommandRepr, Stage as WireStage, TaskAttribute, TextRequestRepr,
};

const TARGET: &str = "iqn.2026-11.test:t0";
const INITIATOR: &str = "iqn.2026-11.test:i0";

struct Backend {
    lu: LogicalUnit<RamDisk<'static>>,
    chap: Option<(&'static str, &'static [u8])>,
    sessions: u16,
    ended: Vec<u16>,
    aborted: usize,
}

impl Backend {
    fn new() -> Self {
        let mem: &'static mut [u8] = Vec::leak(vec![0u8; 1 << 20]);
        let disk = RamDisk::new(mem, 512).unwrap();
        Backend {
            lu: LogicalUnit::new(disk, LuIdentity::new(7), LuConfig::default()),
            chap: None,
            sessions: 0,
            ended: Vec::new(),
            aborted: 0,
        }
    }
}

impl TargetBackend for Backend {
    fn find_target(&self, name: &str) -> Option<TargetId> {
        (name == TARGET).then_some(TargetId(0))
    }
    fn may_access(&self, _: TargetId, initiator: &str) -> bool {
        initiator != "iqn.2026-11.test:denied"
    }
    fn auth_policy(&self, _: TargetId) -> AuthPolicy<'_> {
        match self.chap {
            #[cfg(feature = "chap")]
            Some((name, secret)) => AuthPolicy::Chap {
                initiator: ChapCredentials { name, secret },
                target: None,
            },
            _ => AuthPolicy::None,
        }
    }
    fn discovery_auth_policy(&self) -> AuthPolicy<'_> {
        AuthPolicy::None
    }
    fn for_each_target(&self, _: &str, f: &mut dyn FnMut(TargetListing<'_>)) {
        f(TargetListing {
            name: TARGET,
            address: "127.0.0.1:3260,1",
        });
    }
    fn portal_group_tag(&self, _: TargetId) -> u16 {
        1
    }
    fn new_session(
        &mut self,
        _: &str,
        _: [u8; 6],
        _: Option<TargetId>,
    ) -> Result<u16, SessionRefused> {
        self.sessions += 1;
        Ok(self.sessions)
    }
    fn end_session(&mut self, tsih: u16) {
        self.ended.push(tsih);
    }
    fn nexus(&mut self, _: &str, _: [u8; 6], _: TargetId) -> u16 {
        0
    }
    fn scsi_start(&mut self, _: TargetId, _: Lun, req: &CommandRequest<'_>) -> Start {
        self.lu.start(req)
    }
    fn scsi_read(
        &mut self,
        _: TargetId,
        _: Lun,
        task: &ScsiTask,
        offset: u32,
        buf: &mut [u8],
    ) -> Result<usize, Completion> {
        self.lu.read_data(task, offset, buf)
    }
    fn scsi_write(
        &mut self,
        _: TargetId,
        _: Lun,
        task: &mut ScsiTask,
        offset: u32,
        data: &[u8],
    ) -> Result<(), Completion> {
        self.lu.write_data(task, offset, data)
    }
    fn scsi_abort(&mut self, _: TargetId, _: Lun, task: &ScsiTask) {
        self.aborted += 1;
        self.lu.abort(task);
    }
    fn scsi_finish(&mut self, _: TargetId, _: Lun, task: &ScsiTask) -> Finish {
        // Defers like the daemon; tests drive `run_background` themselves.
        self.lu.finish_or_defer(task, &mut NoPeers)
    }
    fn scsi_poll(
        &mut self,
        _: TargetId,
        _: Lun,
        task: &ScsiTask,
        ticket: Ticket,
    ) -> Option<Completion> {
        self.lu.deferred_status(task, ticket)
    }
    fn task_management(&mut self, _: TargetId, _: Lun, _: u8, _: u16) -> bool {
        true
    }
}

/// A received PDU: its header Repr and data segment.
#[derive(Debug)]
struct Rx {
    repr: PduRepr,
    data: Vec<u8>,
}

struct Harness {
    conn: TargetConn<16>,
    backend: Backend,
    cmd_sn: u32,
    itt: u32,
    now: Instant,
}

impl Harness {
    fn new() -> Self {
        Harness {
            conn: TargetConn::new(&TargetConfig::default(), [7; 32], Instant(0)),
            backend: Backend::new(),
            cmd_sn: 1,
            itt: 1,
            now: Instant(0),
        }
    }

    fn send_bytes(&mut self, bytes: &[u8]) -> usize {
        self.conn.handle_bytes(bytes, &mut self.backend, self.now)
    }

    fn send(&mut self, repr: PduRepr, data: &[u8]) {
        let mut buf = vec![0u8; 48 + data.len() + 16];
        let n = emit_pdu(&repr, &[], data, Digests::NONE, &mut buf).unwrap();
        let used = self.send_bytes(&buf[..n]);
        assert!(used == n || self.conn.is_closed(), "PDU not consumed");
    }

    fn recv_all(&mut self) -> Vec<Rx> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match self
                .conn
                .poll_transmit(&mut self.backend, self.now, &mut buf)
            {
                Transmit::Written(n) => {
                    let (pdu, used) = Pdu::parse(&buf[..n], Digests::NONE, 1 << 24).unwrap();
                    assert_eq!(used, n);
                    out.push(Rx {
                        repr: PduRepr::parse(pdu.bhs).unwrap(),
                        data: pdu.data.to_vec(),
                    });
                }
                Transmit::NeedSpace(n) => panic!("needs {n} bytes"),
                Transmit::Idle => return out,
            }
        }
    }

    fn login_request(
        &mut self,
        csg: WireStage,
        nsg: WireStage,
        transit: bool,
        text: &[u8],
    ) -> Vec<Rx> {
        let req = LoginRequestRepr {
            transit,
            continue_: false,
            csg,
            nsg,
            version_max: 0,
            version_min: 0,
            isid: Isid([0x80, 0, 0, 0, 0, 1]),
            tsih: 0,
            itt: 0,
            cid: 0,
            cmd_sn: self.cmd_sn,
            exp_stat_sn: 0,
        };
        self.send(PduRepr::LoginRequest(req), text);
        self.recv_all()
    }

    fn login(&mut self) {
        let text = format!(
            "InitiatorName={INITIATOR}\0TargetName={TARGET}\0SessionType=Normal\0\
             HeaderDigest=None\0DataDigest=None\0ImmediateData=Yes\0InitialR2T=No\0MaxRecvDataSegmentLength=8192\0"
        );
        self.operational(text.as_bytes());
        self.clear_unit_attention();
        assert!(self.conn.is_full_feature());
    }

    /// Operational stage to full feature phase, answering the target's offers.
    fn operational(&mut self, text: &[u8]) {
        let mut rx =
            self.login_request(WireStage::OPERATIONAL, WireStage::FULL_FEATURE, true, text);
        // The target may offer keys of its own; answer them with its values until it transits.
        for _ in 0..4 {
            let PduRepr::LoginResponse(resp) = rx[0].repr else {
                panic!("{:?}", rx)
            };
            assert!(resp.status.is_success(), "{:?}", resp.status);
            if resp.transit {
                break;
            }
            // Answer the target's offers (not its declarations, nor answers to our keys).
            let said = std::string::String::from_utf8_lossy(&rx[0].data).into_owned();
            let answer: std::string::String = said
                .split('\0')
                .filter(|kv| {
                    [
                        "InitialR2T=",
                        "ImmediateData=",
                        "MaxBurstLength=",
                        "FirstBurstLength=",
                        "MaxOutstandingR2T=",
                    ]
                    .iter()
                    .any(|k| kv.starts_with(k))
                })
                .map(|kv| format!("{kv}\0"))
                .collect();
            let answer = answer.into_bytes();
            rx = self.login_request(
                WireStage::OPERATIONAL,
                WireStage::FULL_FEATURE,
                true,
                &answer,
            );
        }
        let PduRepr::LoginResponse(resp) = rx[0].repr else {
            panic!("{:?}", rx)
        };
        assert!(
            resp.transit && resp.nsg == WireStage::FULL_FEATURE,
            "{:?}",
            std::string::String::from_utf8_lossy(&rx[0].data)
        );
        assert!(self.conn.is_full_feature());
    }

    /// The first command after login reports POWER ON/RESET (SPC-4 §5.14); TEST UNIT READY
    /// takes it.
    fn clear_unit_attention(&mut self) {
        self.command(&[0u8; 6], false, false, 0, &[]);
        let rx = self.recv_all();
        assert!(
            matches!(
                rx[..],
                [Rx {
                    repr: PduRepr::ScsiResponse(_),
                    ..
                }]
            ),
            "{rx:?}"
        );
    }

    fn command(&mut self, cdb: &[u8], read: bool, write: bool, edtl: u32, data: &[u8]) -> u32 {
        let mut c = [0u8; 16];
        c[..cdb.len()].copy_from_slice(cdb);
        let itt = self.itt;
        self.itt += 1;
        let cmd = ScsiCommandRepr {
            immediate: false,
            final_: true,
            read,
            write,
            attr: TaskAttribute::SIMPLE,
            lun: Lun(0),
            itt,
            expected_data_transfer_length: edtl,
            cmd_sn: self.cmd_sn,
            exp_stat_sn: 0,
            cdb: c,
        };
        self.cmd_sn += 1;
        self.send(PduRepr::ScsiCommand(cmd), data);
        itt
    }
}

fn write10(lba: u32, blocks: u16) -> [u8; 10] {
    let l = lba.to_be_bytes();
    let b = blocks.to_be_bytes();
    [0x2a, 0, l[0], l[1], l[2], l[3], 0, b[0], b[1], 0]
}

fn read10(lba: u32, blocks: u16) -> [u8; 10] {
    let mut c = write10(lba, blocks);
    c[0] = 0x28;
    c
}

/// Data-In payload and the final status of one read.
fn collect_read(rx: &[Rx]) -> (Vec<u8>, u8) {
    let mut data = Vec::new();
    let mut status = 0xff;
    for r in rx {
        match &r.repr {
            PduRepr::DataIn(d) => {
                assert_eq!(d.buffer_offset as usize, data.len());
                data.extend_from_slice(&r.data);
                if let Some(s) = d.status {
                    status = s.status.0;
                }
            }
            PduRepr::ScsiResponse(s) => status = s.status.0,
            other => panic!("unexpected {other:?}"),
        }
    }
    (data, status)
}

#[test]
fn test_full_feature_write_immediate_then_read_back() {
    let mut h = Harness::new();
    h.login();
    let payload: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
    h.command(&write10(10, 8), false, true, 4096, &payload);
    let rx = h.recv_all();
    assert!(
        matches!(rx[..], [Rx { repr: PduRepr::ScsiResponse(s), .. }] if s.status.0 == 0),
        "{rx:?}"
    );
    h.command(&read10(10, 8), true, false, 4096, &[]);
    let (data, status) = collect_read(&h.recv_all());
    assert_eq!(status, 0);
    assert_eq!(data, payload);
}

#[test]
fn test_full_feature_large_write_uses_r2t_and_data_out() {
    let mut h = Harness::new();
    h.login();
    // 64 KiB: 8 KiB immediate (MaxRecvDataSegmentLength), the rest unsolicited up to
    // FirstBurstLength and then by R2T.
    let total = 512 * 1024usize;
    let payload: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let itt = h.command(
        &write10(0, (total / 512) as u16),
        false,
        true,
        total as u32,
        &payload[..8192],
    );
    let fbl = h.conn.negotiated().first_burst_length as usize;
    let mut sent = 8192usize;
    let mut sn = 0;
    while sent < fbl.min(total) {
        let n = 8192.min(fbl - sent);
        let d = DataOutRepr {
            final_: sent + n == fbl,
            lun: Lun(0),
            itt,
            ttt: 0xffff_ffff,
            exp_stat_sn: 0,
            data_sn: sn,
            buffer_offset: sent as u32,
        };
        h.send(PduRepr::DataOut(d), &payload[sent..sent + n]);
        sent += n;
        sn += 1;
    }
    let mut done = false;
    while !done {
        let rx = h.recv_all();
        assert!(!rx.is_empty(), "target stalled at {sent}");
        for r in rx {
            match r.repr {
                PduRepr::R2t(r2t) => {
                    let mut off = r2t.buffer_offset as usize;
                    let end = off + r2t.desired_data_transfer_length as usize;
                    let mut sn = 0;
                    while off < end {
                        let n = 8192.min(end - off);
                        let d = DataOutRepr {
                            final_: off + n == end,
                            lun: Lun(0),
                            itt,
                            ttt: r2t.ttt,
                            exp_stat_sn: 0,
                            data_sn: sn,
                            buffer_offset: off as u32,
                        };
                        h.send(PduRepr::DataOut(d), &payload[off..off + n]);
                        off += n;
                        sn += 1;
                    }
                }
                PduRepr::ScsiResponse(s) => {
                    assert_eq!(s.status.0, 0);
                    done = true;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    h.command(
        &read10(0, (total / 512) as u16),
        true,
        false,
        total as u32,
        &[],
    );
    let (data, status) = collect_read(&h.recv_all());
    assert_eq!(status, 0);
    assert!(data == payload, "read back differs");
}

#[test]
fn test_login_scsi_command_before_login_fails_the_login() {
    let mut h = Harness::new();
    h.command(&read10(0, 1), true, false, 512, &[]);
    let rx = h.recv_all();
    let PduRepr::LoginResponse(resp) = rx[0].repr else {
        panic!("{rx:?}")
    };
    assert_eq!(resp.status, LoginStatus::INITIATOR_ERROR);
    assert!(h.conn.is_closed());
}

#[test]
fn test_login_unknown_target_is_not_found() {
    let mut h = Harness::new();
    let rx = h.login_request(
        WireStage::OPERATIONAL,
        WireStage::FULL_FEATURE,
        true,
        b"InitiatorName=iqn.2026-11.test:i0\0TargetName=iqn.2026-11.test:nope\0",
    );
    let PduRepr::LoginResponse(resp) = rx[0].repr else {
        panic!()
    };
    assert_eq!(resp.status, LoginStatus::TARGET_NOT_FOUND);
    assert!(h.conn.is_closed());
}

#[test]
fn test_login_denied_initiator_gets_authorization_failure() {
    let mut h = Harness::new();
    let rx = h.login_request(
        WireStage::OPERATIONAL,
        WireStage::FULL_FEATURE,
        true,
        b"InitiatorName=iqn.2026-11.test:denied\0TargetName=iqn.2026-11.test:t0\0",
    );
    let PduRepr::LoginResponse(resp) = rx[0].repr else {
        panic!()
    };
    assert_eq!(resp.status, LoginStatus::AUTHORIZATION_FAILURE);
    assert!(rx[0].data.is_empty(), "no key of the target is answered");
    assert!(h.conn.is_closed());
}

#[test]
fn test_login_missing_initiator_name() {
    let mut h = Harness::new();
    let rx = h.login_request(
        WireStage::OPERATIONAL,
        WireStage::FULL_FEATURE,
        true,
        b"TargetName=iqn.2026-11.test:t0\0",
    );
    let PduRepr::LoginResponse(resp) = rx[0].repr else {
        panic!()
    };
    assert_eq!(resp.status, LoginStatus::MISSING_PARAMETER);
}

#[test]
fn test_login_key_out_of_range_or_repeated_fails_cleanly() {
    for text in [
        "MaxRecvDataSegmentLength=100\0",
        "MaxBurstLength=abc\0",
        "ImmediateData=Yes\0ImmediateData=No\0",
    ] {
        let mut h = Harness::new();
        let full = format!("InitiatorName={INITIATOR}\0TargetName={TARGET}\0{text}");
        let rx = h.login_request(
            WireStage::OPERATIONAL,
            WireStage::FULL_FEATURE,
            true,
            full.as_bytes(),
        );
        let PduRepr::LoginResponse(resp) = rx[0].repr else {
            panic!()
        };
        // Either an answer of Reject for the key (login carries on) or a failure status; never
        // a silent acceptance of a value outside the RFC range.
        if resp.status.is_success() {
            let answer = std::string::String::from_utf8_lossy(&rx[0].data).into_owned();
            assert!(
                answer.contains("Reject") || !answer.contains("=100"),
                "{text}: {answer}"
            );
        } else {
            assert!(h.conn.is_closed(), "{text}");
        }
    }
}

/// Without feature `chap` the target knows AuthMethod=None only: CHAP keys in the security
/// stage end the login (initiator error), as they do for a target that does not demand CHAP.
#[cfg(not(feature = "chap"))]
#[test]
fn test_login_without_chap_feature_refuses_chap_keys() {
    let mut h = Harness::new();
    let text = format!("InitiatorName={INITIATOR}\0TargetName={TARGET}\0AuthMethod=CHAP,None\0");
    let rx = h.login_request(
        WireStage::SECURITY,
        WireStage::OPERATIONAL,
        false,
        text.as_bytes(),
    );
    let PduRepr::LoginResponse(resp) = rx[0].repr else {
        panic!()
    };
    assert!(resp.status.is_success());
    let rx = h.login_request(
        WireStage::SECURITY,
        WireStage::OPERATIONAL,
        false,
        b"CHAP_A=7,5\0",
    );
    let PduRepr::LoginResponse(resp) = rx[0].repr else {
        panic!()
    };
    assert_eq!(resp.status, LoginStatus::INITIATOR_ERROR);
}

#[cfg(feature = "chap")]
#[test]
fn test_login_chap_required_and_wrong_response_fails() {
    let mut h = Harness::new();
    h.backend.chap = Some(("user", b"secretsecret"));
    // Skipping security negotiation when CHAP is required.
    let text = format!("InitiatorName={INITIATOR}\0TargetName={TARGET}\0");
    let rx = h.login_request(
        WireStage::OPERATIONAL,
        WireStage::FULL_FEATURE,
        true,
        text.as_bytes(),
    );
    let PduRepr::LoginResponse(resp) = rx[0].repr else {
        panic!()
    };
    assert_eq!(resp.status, LoginStatus::AUTHENTICATION_FAILURE);

    let mut h = Harness::new();
    h.backend.chap = Some(("user", b"secretsecret"));
    let text = format!("InitiatorName={INITIATOR}\0TargetName={TARGET}\0AuthMethod=CHAP\0");
    let rx = h.login_request(
        WireStage::SECURITY,
        WireStage::OPERATIONAL,
        false,
        text.as_bytes(),
    );
    let PduRepr::LoginResponse(resp) = rx[0].repr else {
        panic!()
    };
    assert!(resp.status.is_success());
    let rx = h.login_request(
        WireStage::SECURITY,
        WireStage::OPERATIONAL,
        false,
        b"CHAP_A=5\0",
    );
    let answer = std::string::String::from_utf8_lossy(&rx[0].data).into_owned();
    assert!(answer.contains("CHAP_C=0x"), "{answer}");
    let rx = h.login_request(
        WireStage::SECURITY,
        WireStage::OPERATIONAL,
        true,
        b"CHAP_N=user\0CHAP_R=0x00000000000000000000000000000000\0",
    );
    let PduRepr::LoginResponse(resp) = rx[0].repr else {
        panic!()
    };
    assert_eq!(resp.status, LoginStatus::AUTHENTICATION_FAILURE);
    assert!(h.conn.is_closed());
}

#[cfg(feature = "chap")]
#[test]
fn test_login_chap_md5_succeeds() {
    let mut h = Harness::new();
    h.backend.chap = Some(("user", b"secretsecret"));
    let text = format!("InitiatorName={INITIATOR}\0TargetName={TARGET}\0AuthMethod=CHAP\0");
    let _ = h.login_request(
        WireStage::SECURITY,
        WireStage::OPERATIONAL,
        false,
        text.as_bytes(),
    );
    let rx = h.login_request(
        WireStage::SECURITY,
        WireStage::OPERATIONAL,
        false,
        b"CHAP_A=5\0",
    );
    let answer = std::string::String::from_utf8_lossy(&rx[0].data).into_owned();
    let get = |k: &str| {
        answer
            .split('\0')
            .find_map(|kv| kv.strip_prefix(k))
            .unwrap()
            .to_owned()
    };
    let id: u8 = get("CHAP_I=").parse().unwrap();
    let mut challenge = [0u8; 64];
    let clen = crate::session::chap::decode_binary(&get("CHAP_C="), &mut challenge).unwrap();
    let mut digest = [0u8; 32];
    let n = crate::session::chap::ChapAlgorithm::Md5.response(
        id,
        b"secretsecret",
        &challenge[..clen],
        &mut digest,
    );
    let mut hex = [0u8; 80];
    let r = crate::session::chap::encode_hex(&digest[..n], &mut hex).unwrap();
    let text = format!("CHAP_N=user\0CHAP_R={r}\0");
    let rx = h.login_request(
        WireStage::SECURITY,
        WireStage::OPERATIONAL,
        true,
        text.as_bytes(),
    );
    let PduRepr::LoginResponse(resp) = rx[0].repr else {
        panic!()
    };
    assert!(resp.status.is_success() && resp.transit, "{resp:?}");
    h.operational(b"");
}

#[test]
fn test_full_feature_cmd_sn_outside_window_is_dropped() {
    let mut h = Harness::new();
    h.login();
    h.cmd_sn += 1000;
    h.command(&read10(0, 1), true, false, 512, &[]);
    let rx = h.recv_all();
    assert!(rx.is_empty(), "{rx:?}");
    // A CmdSN already used (below ExpCmdSN) is dropped too.
    h.cmd_sn -= 1002;
    h.command(&read10(0, 1), true, false, 512, &[]);
    assert!(h.recv_all().is_empty());
    // The expected CmdSN still works.
    h.command(&read10(0, 1), true, false, 512, &[]);
    let (_, status) = collect_read(&h.recv_all());
    assert_eq!(status, 0);
}

#[test]
fn test_full_feature_unknown_opcode_is_rejected() {
    let mut h = Harness::new();
    h.login();
    let mut pdu = [0u8; 48];
    pdu[0] = 0x1c; // a vendor-specific initiator opcode
    h.send_bytes(&pdu);
    let rx = h.recv_all();
    let PduRepr::Reject(r) = rx[0].repr else {
        panic!("{rx:?}")
    };
    assert_eq!(r.reason, RejectReason::COMMAND_NOT_SUPPORTED);
    assert_eq!(&rx[0].data[..], &pdu[..]);
    assert!(!h.conn.is_closed());
}

#[test]
fn test_full_feature_data_segment_over_limit_is_rejected_and_closes() {
    let mut h = Harness::new();
    h.login();
    let limit = TargetConfig::default().max_recv_data_segment_length as usize;
    let nop = NopOutRepr {
        immediate: true,
        lun: Lun(0),
        itt: 9,
        ttt: 0xffff_ffff,
        cmd_sn: h.cmd_sn,
        exp_stat_sn: 0,
    };
    let data = vec![0u8; limit + 4];
    let mut buf = vec![0u8; data.len() + 64];
    let n = emit_pdu(&PduRepr::NopOut(nop), &[], &data, Digests::NONE, &mut buf).unwrap();
    h.send_bytes(&buf[..n]);
    let rx = h.recv_all();
    assert!(
        matches!(rx[0].repr, PduRepr::Reject(r) if r.reason == RejectReason::PROTOCOL_ERROR),
        "{rx:?}"
    );
    assert!(h.conn.is_closed());
}

#[test]
fn test_full_feature_target_cold_reset_answers_then_closes() {
    let mut h = Harness::new();
    h.login();
    let tmf = crate::wire::TaskMgmtRequestRepr {
        immediate: true,
        function: crate::wire::TaskMgmtFunction::TARGET_COLD_RESET,
        lun: Lun(0),
        itt: 55,
        referenced_task_tag: 0xffff_ffff,
        cmd_sn: h.cmd_sn,
        exp_stat_sn: 0,
        ref_cmd_sn: 0,
        exp_data_sn: 0,
    };
    h.send(PduRepr::TaskMgmtRequest(tmf), &[]);
    let rx = h.recv_all();
    assert!(
        matches!(rx[..], [Rx { repr: PduRepr::TaskMgmtResponse(r), .. }] if r.itt == 55),
        "{rx:?}"
    );
    assert_eq!(h.conn.close_reason(), Some(CloseReason::TargetColdReset));
}

#[test]
fn test_full_feature_nop_out_ping_is_echoed() {
    let mut h = Harness::new();
    h.login();
    let nop = NopOutRepr {
        immediate: true,
        lun: Lun(0),
        itt: 77,
        ttt: 0xffff_ffff,
        cmd_sn: h.cmd_sn,
        exp_stat_sn: 0,
    };
    h.send(PduRepr::NopOut(nop), b"ping-data");
    let rx = h.recv_all();
    assert!(matches!(rx[0].repr, PduRepr::NopIn(n) if n.itt == 77));
    assert_eq!(rx[0].data, b"ping-data");
}

#[test]
fn test_full_feature_connection_cut_mid_pdu_aborts_tasks() {
    let mut h = Harness::new();
    h.login();
    let payload = vec![5u8; 8192];
    // A write whose data never completes, then half a PDU, then the connection goes.
    h.command(&write10(0, 64), false, true, 32768, &payload);
    let mut buf = vec![0u8; 48 + 1000];
    let d = DataOutRepr {
        final_: false,
        lun: Lun(0),
        itt: 1,
        ttt: 0xffff_ffff,
        exp_stat_sn: 0,
        data_sn: 0,
        buffer_offset: 8192,
    };
    let n = emit_pdu(
        &PduRepr::DataOut(d),
        &[],
        &payload[..1000],
        Digests::NONE,
        &mut buf,
    )
    .unwrap();
    let used = h.send_bytes(&buf[..n / 2]);
    assert_eq!(used, 0);
    assert!(h.conn.rx_needed() == n);
    h.conn.connection_lost(&mut h.backend);
    assert!(h.conn.is_closed());
    assert_eq!(h.backend.ended, vec![1]);
    assert!(h.backend.aborted >= 1);
}

#[test]
fn test_discovery_send_targets_lists_the_target() {
    let mut h = Harness::new();
    let rx = h.login_request(
        WireStage::OPERATIONAL,
        WireStage::FULL_FEATURE,
        true,
        b"InitiatorName=iqn.2026-11.test:i0\0SessionType=Discovery\0",
    );
    let PduRepr::LoginResponse(resp) = rx[0].repr else {
        panic!()
    };
    assert!(resp.status.is_success());
    let req = TextRequestRepr {
        immediate: false,
        final_: true,
        continue_: false,
        lun: Lun(0),
        itt: 5,
        ttt: 0xffff_ffff,
        cmd_sn: h.cmd_sn,
        exp_stat_sn: 0,
    };
    h.send(PduRepr::TextRequest(req), b"SendTargets=All\0");
    let rx = h.recv_all();
    let text = std::string::String::from_utf8_lossy(&rx[0].data).into_owned();
    assert!(
        text.contains("TargetName=iqn.2026-11.test:t0")
            && text.contains("TargetAddress=127.0.0.1:3260,1"),
        "{text}"
    );
    // SCSI commands are not allowed in a discovery session.
    h.command(&read10(0, 1), true, false, 512, &[]);
    assert!(matches!(h.recv_all()[0].repr, PduRepr::Reject(_)));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn prop_arbitrary_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..8), login in any::<bool>()) {
            let mut h = Harness::new();
            if login {
                h.login();
            }
            for chunk in chunks {
                let _ = h.send_bytes(&chunk);
                let _ = h.recv_all();
                h.now = Instant(h.now.0 + 1_000_000);
                h.conn.handle_timeout(&mut h.backend, h.now);
            }
            h.conn.connection_lost(&mut h.backend);
        }

        #[test]
        fn prop_opcode_fuzz_after_login(ops in proptest::collection::vec((0u8..0x40, any::<[u8; 47]>(), proptest::collection::vec(any::<u8>(), 0..64)), 1..16)) {
            let mut h = Harness::new();
            h.login();
            for (op, rest, data) in ops {
                let mut pdu = vec![0u8; 48];
                pdu[0] = op;
                pdu[1..].copy_from_slice(&rest);
                pdu[4] = 0; // no AHS
                let len = data.len() as u32;
                pdu[5..8].copy_from_slice(&len.to_be_bytes()[1..]);
                pdu.extend_from_slice(&data);
                while pdu.len() % 4 != 0 { pdu.push(0); }
                let _ = h.send_bytes(&pdu);
                let _ = h.recv_all();
            }
        }
    }
}

/// A SANITIZE with IMMED=0 holds its status while the same session's later commands are
/// answered (NOT READY, SANITIZE IN PROGRESS), and gets it once the background job ends —
/// what libiscsi's Sanitize.Reset expects. ABORT TASK ends the task, not the job.
#[cfg(feature = "scsi-full")]
#[test]
fn test_full_feature_sanitize_status_is_deferred_until_the_job_ends() {
    let mut h = Harness::new();
    h.login();
    h.clear_unit_attention();
    let mut params = vec![1u8, 0, 0, 2, 0xab, 0xcd]; // one pass of a two-byte pattern
    let sanitize = [0x48, 1, 0, 0, 0, 0, 0, 0, params.len() as u8, 0];
    let itt = h.command(&sanitize, false, true, params.len() as u32, &params);
    assert!(h.recv_all().is_empty(), "status waits for the job");
    assert_eq!(h.conn.poll_timeout(), Some(h.now.plus(DEFERRED_POLL)));

    h.command(&[0u8; 6], false, false, 0, &[]);
    let rx = h.recv_all();
    let [Rx {
        repr: PduRepr::ScsiResponse(s),
        data,
    }] = &rx[..]
    else {
        panic!("{rx:?}")
    };
    assert_eq!(s.status.0, 0x02);
    assert_eq!(data[2 + 2] & 0x0f, 0x02, "NOT READY");
    assert_eq!(
        (data[2 + 12], data[2 + 13]),
        (0x04, 0x1b),
        "SANITIZE IN PROGRESS"
    );

    // Not finished yet: asking changes nothing.
    h.now = h.now.plus(DEFERRED_POLL);
    assert!(h.backend.lu.run_background(4096));
    h.conn.handle_timeout(&mut h.backend, h.now);
    assert!(h.recv_all().is_empty());
    while h.backend.lu.run_background(1 << 20) {}
    h.now = h.now.plus(DEFERRED_POLL);
    h.conn.handle_timeout(&mut h.backend, h.now);
    let rx = h.recv_all();
    assert!(
        matches!(rx[..], [Rx { repr: PduRepr::ScsiResponse(s), .. }] if s.itt == itt && s.status.0 == 0),
        "{rx:?}"
    );
    assert!(
        h.conn.poll_timeout() > Some(h.now.plus(DEFERRED_POLL)),
        "nothing deferred any more"
    );
    h.command(&read10(5, 1), true, false, 512, &[]);
    let (data, status) = collect_read(&h.recv_all());
    assert_eq!(status, 0);
    assert!(data.chunks(2).all(|p| p == [0xab, 0xcd]));

    // ABORT TASK of a deferred task: the task ends, the job runs on.
    params[4] = 0x11;
    let itt = h.command(&sanitize, false, true, params.len() as u32, &params);
    let tmf = crate::wire::TaskMgmtRequestRepr {
        immediate: true,
        function: crate::wire::TaskMgmtFunction::ABORT_TASK,
        lun: Lun(0),
        itt: 99,
        referenced_task_tag: itt,
        cmd_sn: h.cmd_sn,
        exp_stat_sn: 0,
        ref_cmd_sn: h.cmd_sn - 1,
        exp_data_sn: 0,
    };
    h.send(PduRepr::TaskMgmtRequest(tmf), &[]);
    let rx = h.recv_all();
    assert!(
        matches!(rx[..], [Rx { repr: PduRepr::TaskMgmtResponse(r), .. }] if r.itt == 99 && r.response.0 == 0),
        "{rx:?}"
    );
    assert!(h.backend.lu.background_pending());
    while h.backend.lu.run_background(1 << 20) {}
    h.now = h.now.plus(DEFERRED_POLL);
    h.conn.handle_timeout(&mut h.backend, h.now);
    assert!(h.recv_all().is_empty(), "an aborted task gets no status");
}

#[test]
fn test_full_feature_may_have_work_follows_the_tasks() {
    let mut h = Harness::new();
    h.login();
    let _ = h.recv_all();
    assert!(!h.conn.may_have_work(), "idle after login");
    h.command(&read10(0, 8), true, false, 4096, &[]);
    assert!(h.conn.may_have_work(), "a read has Data-In to send");
    let (data, status) = collect_read(&h.recv_all());
    assert_eq!((data.len(), status), (4096, 0));
    assert!(!h.conn.may_have_work(), "idle once everything is sent");
    h.command(&write10(0, 8), false, true, 4096, &[0x5a; 4096]);
    assert!(h.conn.may_have_work(), "a write's status is due");
    let _ = h.recv_all();
    assert!(!h.conn.may_have_work());
}
