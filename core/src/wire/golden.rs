//! Golden vectors: real PDUs captured on loopback between libiscsi 1.19 (`iscsi-inq`,
//! `iscsi-readcapacity16`) and tgt 1.0.85 (Debian 12), with `tcpdump -i lo port 3262`. Each test
//! checks the parsed fields and that parse → emit reproduces the captured bytes exactly. The
//! HeaderDigest vectors come from a second capture with tgt configured for `HeaderDigest=CRC32C`,
//! and pin down the digest's byte order on the wire.

use super::*;
use std::vec;
use std::vec::Vec;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Frames `bytes` as one whole PDU, checks it re-emits identically, returns header and data.
fn check(bytes: &[u8], digests: Digests) -> (PduRepr, Vec<u8>) {
    let (pdu, used) = Pdu::parse(bytes, digests, 1 << 20).unwrap();
    assert_eq!(used, bytes.len(), "one PDU per capture");
    let repr = pdu.repr().unwrap();
    let mut out = vec![0u8; bytes.len()];
    assert_eq!(
        emit_pdu(&repr, pdu.ahs, pdu.data, digests, &mut out),
        Ok(bytes.len())
    );
    assert_eq!(out, bytes, "parse → emit reproduces the capture");
    (repr, pdu.data.to_vec())
}

/// Login Request from iscsi-readcapacity16 (libiscsi 1.19): T=1, CSG=1, NSG=3, with its keys.
const LOGIN_REQUEST: &str = concat!(
    "43870000000001bb80320d3a00000000495fb8220000000055e1524d00000001",
    "00000000000000000000000000000000496e69746961746f724e616d653d6971",
    "6e2e323030372d31302e636f6d2e6769746875623a7361686c626572673a6c69",
    "6269736373693a69736373692d72656164636170616369747931360054617267",
    "65744e616d653d69716e2e323032362d30312e746573743a6c756e0053657373",
    "696f6e547970653d4e6f726d616c004865616465724469676573743d4e6f6e65",
    "2c43524333324300446174614469676573743d4e6f6e6500496e697469616c52",
    "32543d4e6f00496d6d656469617465446174613d596573004d61784275727374",
    "4c656e6774683d32363231343400466972737442757273744c656e6774683d32",
    "36323134340044656661756c7454696d6532576169743d320044656661756c74",
    "54696d653252657461696e3d30004d61784f75747374616e64696e675232543d",
    "31004572726f725265636f766572794c6576656c3d300049464d61726b65723d",
    "4e6f004f464d61726b65723d4e6f004d6178436f6e6e656374696f6e733d3100",
    "4d617852656376446174615365676d656e744c656e6774683d32363231343400",
    "44617461504455496e4f726465723d596573004461746153657175656e636549",
    "6e4f726465723d5965730000",
);

/// Login Response from tgt 1.0.85: T=1, CSG=1, NSG=3, TSIH 0x0200, Success.
const LOGIN_RESPONSE: &str = concat!(
    "238700000000012c80320d3a00000200495fb822000000000000000055e1524d",
    "55e1524e000000000000000000000000546172676574506f7274616c47726f75",
    "705461673d31004865616465724469676573743d4e6f6e650044617461446967",
    "6573743d4e6f6e6500496e697469616c5232543d59657300496d6d6564696174",
    "65446174613d596573004d617842757273744c656e6774683d32363231343400",
    "466972737442757273744c656e6774683d36353533360044656661756c745469",
    "6d6532576169743d320044656661756c7454696d653252657461696e3d30004d",
    "61784f75747374616e64696e675232543d31004572726f725265636f76657279",
    "4c6576656c3d300049464d61726b65723d4e6f004f464d61726b65723d4e6f00",
    "4d6178436f6e6e656374696f6e733d310044617461504455496e4f726465723d",
    "596573004461746153657175656e6365496e4f726465723d59657300",
);

/// SCSI Command: SERVICE ACTION IN(16) / READ CAPACITY(16), R bit, 32 bytes expected.
const SCSI_COMMAND_READ_CAPACITY16: &str = concat!(
    "01c10000000000000001000000000000495fb8250000002055e1524f00000003",
    "9e100000000000000000000000200000",
);

/// Data-In with F and S (phase collapse): 32 bytes of READ CAPACITY(16) data, status GOOD.
const DATA_IN_WITH_STATUS: &str = concat!(
    "25810000000000200000000000000000495fb825ffffffff0000000355e15250",
    "55e152d00000000000000000000000000000000000007fff0000020000030000",
    "00000000000000000000000000000000",
);

/// SCSI Response: CHECK CONDITION with 18 bytes of sense (UNIT ATTENTION, ASC 0x29).
const SCSI_RESPONSE_CHECK_CONDITION: &str = concat!(
    "21800002000000140000000000000000495fb823000000000000000155e1524e",
    "55e152ce0000000000000000000000000012700006000000000a000000002900",
    "00000000",
);

/// SCSI Response: TEST UNIT READY, GOOD.
const SCSI_RESPONSE_GOOD: &str = concat!(
    "21800000000000000000000000000000495fb824000000000000000255e1524f",
    "55e152cf000000000000000000000000",
);

/// SCSI Command: INQUIRY (from iscsi-inq), allocation length 64.
#[cfg(feature = "tcp")]
const SCSI_COMMAND_INQUIRY: &str = concat!(
    "01c1000000000000000100000000000061710f89000000401033122400000003",
    "12000000400000000000000000000000",
);

/// Data-In with F and S: 64 bytes of INQUIRY data.
#[cfg(feature = "tcp")]
const DATA_IN_INQUIRY: &str = concat!(
    "2581000000000040000000000000000061710f89ffffffff0000000310331225",
    "103312a5000000000000000000000000000005123d0000024945542020202020",
    "5649525455414c2d4449534b2020202030303031000000000000000000000000",
    "0000000000000000000004c009600300",
);

/// Logout Request: close the session, immediate.
const LOGOUT_REQUEST: &str = concat!(
    "46800000000000000000000000000000495fb8260000000055e1525000000004",
    "00000000000000000000000000000000",
);

/// Logout Response: success.
const LOGOUT_RESPONSE: &str = concat!(
    "26800000000000000000000000000000495fb826000000000000000455e15250",
    "55e152d0000000000000000000000000",
);

/// With HeaderDigest=CRC32C: the READ CAPACITY(16) command and its header digest.
const HD_SCSI_COMMAND: &str = concat!(
    "01c100000000000000010000000000005c4e7839000000203c03db0600000003",
    "9e1000000000000000000000002000006a92a2e0",
);

/// With HeaderDigest=CRC32C: Data-In with header digest, then 32 data bytes.
const HD_DATA_IN: &str = concat!(
    "258100000000002000000000000000005c4e7839ffffffff000000033c03db07",
    "3c03db87000000000000000000000000c76873af0000000000007fff00000200",
    "0003000000000000000000000000000000000000",
);

#[test]
fn login_request() {
    let (repr, data) = check(&hex(LOGIN_REQUEST), Digests::NONE);
    assert_eq!(
        repr,
        PduRepr::LoginRequest(LoginRequestRepr {
            transit: true,
            continue_: false,
            csg: Stage::OPERATIONAL,
            nsg: Stage::FULL_FEATURE,
            version_max: ISCSI_VERSION,
            version_min: ISCSI_VERSION,
            isid: Isid([0x80, 0x32, 0x0d, 0x3a, 0x00, 0x00]),
            tsih: 0,
            itt: 0x495f_b822,
            cid: 0,
            cmd_sn: 0x55e1_524d,
            exp_stat_sn: 1,
        })
    );
    assert_eq!(data.len(), 0x1bb);
    assert!(data.starts_with(b"InitiatorName=iqn.2007-10.com.github:sahlberg:libiscsi"));
    assert!(data.ends_with(b"DataSequenceInOrder=Yes\0"));
    // The I bit is set on the wire.
    assert_eq!(hex(LOGIN_REQUEST)[0], 0x43);
}

#[test]
fn login_response() {
    let (repr, data) = check(&hex(LOGIN_RESPONSE), Digests::NONE);
    assert_eq!(
        repr,
        PduRepr::LoginResponse(LoginResponseRepr {
            transit: true,
            continue_: false,
            csg: Stage::OPERATIONAL,
            nsg: Stage::FULL_FEATURE,
            version_max: ISCSI_VERSION,
            version_active: ISCSI_VERSION,
            isid: Isid([0x80, 0x32, 0x0d, 0x3a, 0x00, 0x00]),
            tsih: 0x0200,
            itt: 0x495f_b822,
            stat_sn: 0,
            exp_cmd_sn: 0x55e1_524d,
            max_cmd_sn: 0x55e1_524e,
            status: LoginStatus::SUCCESS,
        })
    );
    assert!(data.starts_with(b"TargetPortalGroupTag=1\0HeaderDigest=None\0"));
}

#[test]
fn scsi_command_read_capacity16() {
    let (repr, data) = check(&hex(SCSI_COMMAND_READ_CAPACITY16), Digests::NONE);
    let mut cdb = [0u8; 16];
    cdb[0] = 0x9e; // SERVICE ACTION IN(16)
    cdb[1] = 0x10; // READ CAPACITY(16)
    cdb[13] = 0x20; // allocation length 32
    assert_eq!(
        repr,
        PduRepr::ScsiCommand(ScsiCommandRepr {
            immediate: false,
            final_: true,
            read: true,
            write: false,
            attr: TaskAttribute::SIMPLE,
            lun: Lun::from_index(1).unwrap(),
            itt: 0x495f_b825,
            expected_data_transfer_length: 32,
            cmd_sn: 0x55e1_524f,
            exp_stat_sn: 3,
            cdb,
        })
    );
    assert!(data.is_empty());
}

#[cfg(feature = "tcp")]
#[test]
fn data_in_with_status() {
    let (repr, data) = check(&hex(DATA_IN_WITH_STATUS), Digests::NONE);
    assert_eq!(
        repr,
        PduRepr::DataIn(DataInRepr {
            final_: true,
            ack: false,
            lun: Lun(0),
            itt: 0x495f_b825,
            ttt: RESERVED_TAG,
            exp_cmd_sn: 0x55e1_5250,
            max_cmd_sn: 0x55e1_52d0,
            data_sn: 0,
            buffer_offset: 0,
            status: Some(DataInStatus {
                status: ScsiStatus::GOOD,
                stat_sn: 3,
                residual: Residual::None,
            }),
        })
    );
    // READ CAPACITY(16) data: last LBA 32767, 512-byte blocks (the 16 MiB LUN).
    assert_eq!(data.len(), 32);
    assert_eq!(&data[..12], &[0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0, 0, 2, 0]);
}

#[cfg(feature = "tcp")]
#[test]
fn scsi_command_and_data_in_inquiry() {
    let (repr, _) = check(&hex(SCSI_COMMAND_INQUIRY), Digests::NONE);
    let PduRepr::ScsiCommand(cmd) = repr else {
        panic!("{repr:?}")
    };
    assert_eq!(&cmd.cdb[..6], &[0x12, 0, 0, 0, 0x40, 0]);
    assert_eq!(cmd.expected_data_transfer_length, 64);
    let (repr, data) = check(&hex(DATA_IN_INQUIRY), Digests::NONE);
    let PduRepr::DataIn(din) = repr else {
        panic!("{repr:?}")
    };
    assert_eq!(din.itt, cmd.itt);
    assert_eq!(din.status.map(|s| s.status), Some(ScsiStatus::GOOD));
    assert_eq!(data.len(), 64);
    assert_eq!(&data[8..16], b"IET     ");
    assert_eq!(&data[16..32], b"VIRTUAL-DISK    ");
}

#[test]
fn scsi_response_check_condition() {
    let (repr, data) = check(&hex(SCSI_RESPONSE_CHECK_CONDITION), Digests::NONE);
    assert_eq!(
        repr,
        PduRepr::ScsiResponse(ScsiResponseRepr {
            response: ScsiResponseCode::COMMAND_COMPLETED,
            status: ScsiStatus::CHECK_CONDITION,
            itt: 0x495f_b823,
            snack_tag: 0,
            stat_sn: 1,
            exp_cmd_sn: 0x55e1_524e,
            max_cmd_sn: 0x55e1_52ce,
            exp_data_sn: 0,
            bidi_read_residual: Residual::None,
            residual: Residual::None,
        })
    );
    // SenseLength 18, then fixed-format sense: UNIT ATTENTION, ASC 0x29 (power on / reset).
    assert_eq!(data.len(), 20);
    assert_eq!(&data[..2], &[0, 18]);
    assert_eq!(data[2], 0x70);
    assert_eq!(data[2 + 2], 0x06);
    assert_eq!(data[2 + 12], 0x29);
}

#[test]
fn scsi_response_good() {
    let (repr, data) = check(&hex(SCSI_RESPONSE_GOOD), Digests::NONE);
    let PduRepr::ScsiResponse(rsp) = repr else {
        panic!("{repr:?}")
    };
    assert_eq!(rsp.status, ScsiStatus::GOOD);
    assert_eq!(rsp.itt, 0x495f_b824);
    assert_eq!(rsp.stat_sn, 2);
    assert!(data.is_empty());
}

#[test]
fn logout() {
    let (repr, _) = check(&hex(LOGOUT_REQUEST), Digests::NONE);
    assert_eq!(
        repr,
        PduRepr::LogoutRequest(LogoutRequestRepr {
            immediate: true,
            reason: LogoutReason::CLOSE_SESSION,
            itt: 0x495f_b826,
            cid: 0,
            cmd_sn: 0x55e1_5250,
            exp_stat_sn: 4,
        })
    );
    let (repr, _) = check(&hex(LOGOUT_RESPONSE), Digests::NONE);
    assert_eq!(
        repr,
        PduRepr::LogoutResponse(LogoutResponseRepr {
            response: LogoutResponse::SUCCESS,
            itt: 0x495f_b826,
            stat_sn: 4,
            exp_cmd_sn: 0x55e1_5250,
            max_cmd_sn: 0x55e1_52d0,
            time2wait: 0,
            time2retain: 0,
        })
    );
}

#[test]
fn header_digest_byte_order() {
    let digests = Digests {
        header: true,
        data: false,
    };
    // Data-In is a `PduRepr` with `tcp` only.
    let vectors: &[&str] = if cfg!(feature = "tcp") {
        &[HD_SCSI_COMMAND, HD_DATA_IN]
    } else {
        &[HD_SCSI_COMMAND]
    };
    for vector in vectors {
        let bytes = hex(vector);
        check(&bytes, digests);
        // The digest follows the BHS, least significant byte first.
        let crc = crc32c(&bytes[..48]);
        assert_eq!(&bytes[48..52], &crc.to_le_bytes());
        // A flipped header bit is caught.
        let mut bad = bytes.clone();
        bad[24] ^= 0x01;
        assert!(matches!(
            Pdu::parse(&bad, digests, 1 << 20),
            Err(FrameError::HeaderDigest { .. })
        ));
    }
    if cfg!(feature = "tcp") {
        let (repr, data) = check(&hex(HD_DATA_IN), digests);
        assert_eq!(repr.opcode(), Opcode::DATA_IN);
        assert_eq!(data.len(), 32);
    }
}

/// The captured PDUs back to back, as a stream reader sees them.
#[test]
fn stream_of_captured_pdus() {
    let mut stream = Vec::new();
    for v in [
        LOGIN_REQUEST,
        LOGIN_RESPONSE,
        SCSI_COMMAND_READ_CAPACITY16,
        DATA_IN_WITH_STATUS,
        LOGOUT_REQUEST,
        LOGOUT_RESPONSE,
    ] {
        stream.extend(hex(v));
    }
    let mut rest = &stream[..];
    let mut opcodes = Vec::new();
    while !rest.is_empty() {
        let (pdu, used) = Pdu::parse(rest, Digests::NONE, 8192).unwrap();
        opcodes.push(pdu.bhs_view().opcode());
        rest = &rest[used..];
    }
    assert_eq!(
        opcodes,
        [
            Opcode::LOGIN_REQUEST,
            Opcode::LOGIN_RESPONSE,
            Opcode::SCSI_COMMAND,
            Opcode::DATA_IN,
            Opcode::LOGOUT_REQUEST,
            Opcode::LOGOUT_RESPONSE
        ]
    );
}
