//! Negotiator tests: one per key kind and rule (RFC 7143 §6.2, §13; RFC 7145 §6), and property
//! tests running an initiator against a target.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::*;
use crate::wire::text::{TextReader, TextWriter};
use proptest::prelude::*;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

const INAME: &str = "iqn.2024-01.org.example:host";
const TNAME: &str = "iqn.2024-01.org.example:disk";

type Pairs = Vec<(String, String)>;

fn pairs(text: &[u8]) -> Pairs {
    TextReader::new(text)
        .map(|r| {
            let (k, v) = r.unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn get<'a>(p: &'a Pairs, key: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn no_caller(_: &str, _: &str, _: &mut TextWriter<'_>) -> Result<(), NegotiationError> {
    Ok(())
}

fn text(kv: &[(&str, &str)]) -> Vec<u8> {
    let mut v = Vec::new();
    for (k, val) in kv {
        v.extend_from_slice(k.as_bytes());
        v.push(b'=');
        v.extend_from_slice(val.as_bytes());
        v.push(0);
    }
    v
}

fn login_start(extra: &[(&str, &str)]) -> Vec<u8> {
    let mut kv = vec![("InitiatorName", INAME), ("TargetName", TNAME)];
    kv.extend_from_slice(extra);
    text(&kv)
}

/// Feeds one request to `t` (operational stage); returns the answers (without proposals).
fn target_step<P: TransportPolicy>(
    t: &mut Negotiator<'_, P>,
    req: &[u8],
) -> Result<Pairs, NegotiationError> {
    let mut buf = [0u8; 8192];
    let mut w = TextWriter::new(&mut buf);
    t.receive(LoginStage::Operational, req, &mut w, no_caller)?;
    Ok(pairs(w.as_bytes()))
}

fn target() -> Negotiator<'static, TcpPolicy> {
    Negotiator::new_tcp(Role::Target, LocalConfig::target()).unwrap()
}

fn target_with(f: impl FnOnce(&mut LocalConfig<'static>)) -> Negotiator<'static, TcpPolicy> {
    let mut c = LocalConfig::target();
    f(&mut c);
    Negotiator::new_tcp(Role::Target, c).unwrap()
}

fn initiator_config() -> LocalConfig<'static> {
    let mut c = LocalConfig::initiator();
    c.initiator_name = Some(INAME);
    c.target_name = Some(TNAME);
    c
}

// --- answering offers, one test per result function ---

#[test]
fn test_target_min_answers_smaller() {
    let mut t = target();
    let a = target_step(&mut t, &login_start(&[("MaxBurstLength", "16776192")])).unwrap();
    assert_eq!(get(&a, "MaxBurstLength"), Some("1048576"));
    let mut t = target();
    let a = target_step(&mut t, &login_start(&[("MaxBurstLength", "0x1000")])).unwrap();
    assert_eq!(get(&a, "MaxBurstLength"), Some("4096"));
    assert_eq!(t.negotiated().max_burst_length, 4096);
}

#[test]
fn test_target_max_answers_larger() {
    let mut t = target_with(|c| c.default_time2wait = 5);
    let a = target_step(&mut t, &login_start(&[("DefaultTime2Wait", "1")])).unwrap();
    assert_eq!(get(&a, "DefaultTime2Wait"), Some("5"));
    let a = target_step(&mut target(), &login_start(&[("DefaultTime2Wait", "9")])).unwrap();
    assert_eq!(get(&a, "DefaultTime2Wait"), Some("9"));
}

#[test]
fn test_target_and_or() {
    let mut t = target_with(|c| c.immediate_data = false);
    let a = target_step(
        &mut t,
        &login_start(&[("ImmediateData", "Yes"), ("InitialR2T", "No")]),
    )
    .unwrap();
    assert_eq!(get(&a, "ImmediateData"), Some("No"));
    // Our InitialR2T wish is Yes: OR gives Yes.
    assert_eq!(get(&a, "InitialR2T"), Some("Yes"));
    let mut t = target_with(|c| c.initial_r2t = false);
    let a = target_step(&mut t, &login_start(&[("InitialR2T", "No")])).unwrap();
    assert_eq!(get(&a, "InitialR2T"), Some("No"));
    assert!(!t.negotiated().initial_r2t);
}

#[test]
fn test_target_list_picks_first_offered_it_supports() {
    let mut t = target();
    let a = target_step(
        &mut t,
        &login_start(&[
            ("HeaderDigest", "MD5,CRC32C,None"),
            ("DataDigest", "None,CRC32C"),
        ]),
    )
    .unwrap();
    assert_eq!(get(&a, "HeaderDigest"), Some("CRC32C"));
    assert_eq!(get(&a, "DataDigest"), Some("None"));
    assert_eq!(t.negotiated().header_digest, Digest::Crc32c);
}

#[test]
fn test_target_list_without_common_value_fails() {
    let mut t = target_with(|c| c.header_digests = &[Digest::None]);
    let e = target_step(&mut t, &login_start(&[("HeaderDigest", "CRC32C")])).unwrap_err();
    assert_eq!(
        e,
        NegotiationError::Initiator(ProtocolFault::NoCommonValue {
            key: "HeaderDigest"
        })
    );
    assert_eq!(e.login_status(), (0x02, 0x00));
}

#[test]
fn test_target_out_of_range_or_malformed_is_rejected() {
    let mut t = target();
    let a = target_step(
        &mut t,
        &login_start(&[
            ("MaxBurstLength", "100"),
            ("ErrorRecoveryLevel", "7"),
            ("ImmediateData", "Maybe"),
            ("MaxConnections", "x"),
        ]),
    )
    .unwrap();
    for k in [
        "MaxBurstLength",
        "ErrorRecoveryLevel",
        "ImmediateData",
        "MaxConnections",
    ] {
        assert_eq!(get(&a, k), Some("Reject"), "{k}");
    }
    assert_eq!(t.negotiated().max_burst_length, 262_144);
}

#[test]
fn test_target_reject_with_unacceptable_default_fails() {
    // Our MaxBurstLength limit is below the default 262144: a Reject would leave the default.
    let mut t = target_with(|c| c.max_burst_length = 65536);
    let e = target_step(&mut t, &login_start(&[("MaxBurstLength", "1")])).unwrap_err();
    assert_eq!(
        e,
        NegotiationError::Initiator(ProtocolFault::InvalidValue {
            key: "MaxBurstLength"
        })
    );
}

#[test]
fn test_target_declarative_max_recv_data_segment_length() {
    let mut t = target();
    let a = target_step(
        &mut t,
        &login_start(&[("MaxRecvDataSegmentLength", "4096")]),
    )
    .unwrap();
    assert_eq!(
        get(&a, "MaxRecvDataSegmentLength"),
        None,
        "declarations are not answered"
    );
    assert_eq!(t.negotiated().initiator_max_recv_data_segment_length, 4096);
    assert_eq!(
        t.negotiated().max_send_data_segment_length(Role::Target),
        4096
    );
    let e = target_step(
        &mut target(),
        &login_start(&[("MaxRecvDataSegmentLength", "100")]),
    )
    .unwrap_err();
    assert_eq!(
        e,
        NegotiationError::Initiator(ProtocolFault::InvalidValue {
            key: "MaxRecvDataSegmentLength"
        })
    );
}

#[test]
fn test_target_unknown_key_not_understood() {
    let a = target_step(&mut target(), &login_start(&[("X-com.example.Foo", "bar")])).unwrap();
    assert_eq!(get(&a, "X-com.example.Foo"), Some("NotUnderstood"));
}

#[test]
fn test_target_obsolete_markers() {
    let a = target_step(
        &mut target(),
        &login_start(&[
            ("IFMarker", "Yes"),
            ("OFMarker", "No"),
            ("IFMarkInt", "2048~8192"),
            ("OFMarkInt", "2048"),
        ]),
    )
    .unwrap();
    assert_eq!(get(&a, "IFMarker"), Some("No"));
    assert_eq!(get(&a, "OFMarker"), Some("No"));
    assert_eq!(get(&a, "IFMarkInt"), Some("Reject"));
    assert_eq!(get(&a, "OFMarkInt"), Some("Reject"));
}

#[test]
fn test_target_renegotiation_is_an_error_but_repeats_are_not() {
    let mut t = target();
    let a = target_step(&mut t, &login_start(&[("MaxBurstLength", "65536")])).unwrap();
    assert_eq!(get(&a, "MaxBurstLength"), Some("65536"));
    // libiscsi sends its keys again in each operational request: same value, same answer.
    let a = target_step(&mut t, &login_start(&[("MaxBurstLength", "65536")])).unwrap();
    assert_eq!(get(&a, "MaxBurstLength"), Some("65536"));
    let e = target_step(&mut t, &text(&[("MaxBurstLength", "8192")])).unwrap_err();
    assert_eq!(
        e,
        NegotiationError::Initiator(ProtocolFault::Renegotiated {
            key: "MaxBurstLength"
        })
    );
    assert_eq!(e.login_status(), (0x02, 0x00));
    // Twice in one PDU.
    let e = target_step(
        &mut target(),
        &login_start(&[("InitialR2T", "No"), ("InitialR2T", "Yes")]),
    )
    .unwrap_err();
    assert_eq!(
        e,
        NegotiationError::Initiator(ProtocolFault::Renegotiated { key: "InitialR2T" })
    );
}

#[test]
fn test_target_missing_names() {
    let e = target_step(&mut target(), &text(&[("TargetName", TNAME)])).unwrap_err();
    assert_eq!(e.login_status(), (0x02, 0x07));
    let e = target_step(&mut target(), &text(&[("InitiatorName", INAME)])).unwrap_err();
    assert_eq!(
        e,
        NegotiationError::Initiator(ProtocolFault::MissingParameter { key: "TargetName" })
    );
    // A discovery session needs no TargetName.
    let mut t = target();
    target_step(
        &mut t,
        &text(&[("InitiatorName", INAME), ("SessionType", "Discovery")]),
    )
    .unwrap();
    assert_eq!(t.negotiated().session_type, SessionType::Discovery);
}

#[test]
fn test_target_session_type_support() {
    let e = target_step(&mut target(), &login_start(&[("SessionType", "Foo")])).unwrap_err();
    assert_eq!(e.login_status(), (0x02, 0x09));
    let mut t = target_with(|c| c.allow_discovery = false);
    let e = target_step(
        &mut t,
        &text(&[("SessionType", "Discovery"), ("InitiatorName", INAME)]),
    )
    .unwrap_err();
    assert_eq!(
        e,
        NegotiationError::Initiator(ProtocolFault::UnsupportedSessionType)
    );
}

#[test]
fn test_target_discovery_session_keys_irrelevant() {
    let mut t = target();
    // MaxBurstLength comes before SessionType: the first request is pre-scanned.
    let a = target_step(
        &mut t,
        &text(&[
            ("InitiatorName", INAME),
            ("MaxBurstLength", "4096"),
            ("SessionType", "Discovery"),
            ("HeaderDigest", "None"),
        ]),
    )
    .unwrap();
    assert_eq!(get(&a, "MaxBurstLength"), Some("Irrelevant"));
    assert_eq!(get(&a, "HeaderDigest"), Some("None"));
    assert_eq!(t.negotiated().max_burst_length, 262_144);
}

#[test]
fn test_target_additional_connection_leading_only_irrelevant() {
    let mut session = Negotiated::new();
    session.max_burst_length = 65536;
    session.session_type = SessionType::Normal;
    let mut t =
        Negotiator::new_connection(Role::Target, LocalConfig::target(), TcpPolicy, &session)
            .unwrap();
    let a = target_step(
        &mut t,
        &login_start(&[
            ("MaxBurstLength", "4096"),
            ("MaxRecvDataSegmentLength", "4096"),
        ]),
    )
    .unwrap();
    assert_eq!(get(&a, "MaxBurstLength"), Some("Irrelevant"));
    let n = t.finish().unwrap();
    assert_eq!(n.max_burst_length, 65536);
    assert_eq!(n.initiator_max_recv_data_segment_length, 4096);
}

#[test]
fn test_target_security_keys_go_to_caller_only_in_security_stage() {
    let mut t = target_with(|c| c.auth_methods = &[AuthMethod::Chap, AuthMethod::None]);
    let mut buf = [0u8; 512];
    let mut w = TextWriter::new(&mut buf);
    t.receive(
        LoginStage::Security,
        &login_start(&[("AuthMethod", "SRP,CHAP,None")]),
        &mut w,
        no_caller,
    )
    .unwrap();
    assert_eq!(get(&pairs(w.as_bytes()), "AuthMethod"), Some("CHAP"));
    assert_eq!(t.negotiated().auth_method, AuthMethod::Chap);
    let mut seen = Vec::new();
    w.clear();
    t.receive(
        LoginStage::Security,
        &text(&[("CHAP_A", "5")]),
        &mut w,
        |k, v, out| {
            seen.push((k.to_string(), v.to_string()));
            out.push("CHAP_A", "5").unwrap();
            out.push("CHAP_I", "1").unwrap();
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(seen, [("CHAP_A".to_string(), "5".to_string())]);
    assert_eq!(get(&pairs(w.as_bytes()), "CHAP_I"), Some("1"));
    let e = target_step(&mut t, &text(&[("CHAP_R", "0x00")])).unwrap_err();
    assert_eq!(e.login_status(), (0x02, 0x0b));
}

#[test]
fn test_target_auth_method_mismatch() {
    let mut buf = [0u8; 512];
    let mut w = TextWriter::new(&mut buf);
    let e = target()
        .receive(
            LoginStage::Security,
            &login_start(&[("AuthMethod", "CHAP")]),
            &mut w,
            no_caller,
        )
        .unwrap_err();
    assert_eq!(e.login_status(), (0x02, 0x01));
}

#[test]
fn test_target_send_targets_in_login_irrelevant_and_wrong_sender_rejected() {
    let a = target_step(
        &mut target(),
        &login_start(&[("SendTargets", "All"), ("TargetAlias", "x")]),
    )
    .unwrap();
    assert_eq!(get(&a, "SendTargets"), Some("Irrelevant"));
    assert_eq!(get(&a, "TargetAlias"), Some("Reject"));
}

#[test]
fn test_target_buffer_too_small() {
    let mut t = target();
    let mut buf = [0u8; 8];
    let mut w = TextWriter::new(&mut buf);
    let e = t
        .receive(
            LoginStage::Operational,
            &login_start(&[("MaxBurstLength", "4096")]),
            &mut w,
            no_caller,
        )
        .unwrap_err();
    assert_eq!(
        e,
        NegotiationError::Local(LocalFault::BufferTooSmall { needed: 20 })
    );
    assert_eq!(e.login_status(), (0x03, 0x02));
}

#[test]
fn test_target_malformed_text() {
    let e = target_step(&mut target(), b"InitiatorName").unwrap_err();
    assert_eq!(
        e,
        NegotiationError::Initiator(ProtocolFault::Text(
            crate::wire::text::TextError::Unterminated
        ))
    );
}

// --- proposing, multi-round and the initiator side ---

#[test]
fn test_target_proposes_and_holds_transit_until_answered() {
    let mut t = target_with(|c| {
        c.max_burst_length = 65536;
        c.target_alias = Some("disk one");
    });
    let mut buf = [0u8; 1024];
    let mut w = TextWriter::new(&mut buf);
    t.receive(
        LoginStage::Operational,
        &login_start(&[]),
        &mut w,
        no_caller,
    )
    .unwrap();
    t.propose(LoginStage::Operational, &mut w).unwrap();
    let p = pairs(w.as_bytes());
    assert_eq!(get(&p, "MaxBurstLength"), Some("65536"));
    assert_eq!(get(&p, "TargetPortalGroupTag"), Some("1"));
    assert_eq!(get(&p, "TargetAlias"), Some("disk one"));
    assert_eq!(get(&p, "MaxRecvDataSegmentLength"), Some("262144"));
    // RFC defaults we are happy with are not offered.
    assert_eq!(get(&p, "DefaultTime2Wait"), None);
    assert!(!t.transit_allowed());
    assert!(t.awaiting_answers());
    // An answer above our offer breaks Min.
    let mut t2 = t.clone();
    let e = target_step(&mut t2, &text(&[("MaxBurstLength", "131072")])).unwrap_err();
    assert_eq!(
        e,
        NegotiationError::Initiator(ProtocolFault::InvalidAnswer {
            key: "MaxBurstLength"
        })
    );
    target_step(&mut t, &text(&[("MaxBurstLength", "32768")])).unwrap();
    assert!(t.transit_allowed());
    let n = t.finish().unwrap();
    assert_eq!(n.max_burst_length, 32768);
    assert_eq!(n.target_alias.as_str(), "disk one");
}

/// A target whose wishes differ from the RFC defaults but accept them (InitialR2T=No, larger
/// bursts, digests it would prefer) offers nothing the initiator left out, so the login's
/// operational stage ends in one round trip (the VM harness saw open-iscsi race a second one).
#[test]
fn test_target_does_not_offer_what_the_default_satisfies() {
    let mut t = target_with(|c| {
        c.initial_r2t = false;
        c.max_burst_length = 1 << 20;
        c.first_burst_length = 1 << 18;
        c.max_outstanding_r2t = 4;
    });
    let mut buf = [0u8; 1024];
    let mut w = TextWriter::new(&mut buf);
    t.receive(
        LoginStage::Operational,
        &login_start(&[
            ("HeaderDigest", "None"),
            ("MaxRecvDataSegmentLength", "262144"),
        ]),
        &mut w,
        no_caller,
    )
    .unwrap();
    t.propose(LoginStage::Operational, &mut w).unwrap();
    let p = pairs(w.as_bytes());
    for key in [
        "InitialR2T",
        "MaxBurstLength",
        "FirstBurstLength",
        "MaxOutstandingR2T",
    ] {
        assert_eq!(get(&p, key), None, "{key} offered");
    }
    assert!(t.transit_allowed());
    let n = t.finish().unwrap();
    assert!(n.initial_r2t);
    assert_eq!(n.max_burst_length, 262_144);
}

#[test]
fn test_target_finish_with_open_offer_is_local_error() {
    let mut t = target_with(|c| c.max_burst_length = 65536);
    let mut buf = [0u8; 1024];
    let mut w = TextWriter::new(&mut buf);
    t.receive(
        LoginStage::Operational,
        &login_start(&[]),
        &mut w,
        no_caller,
    )
    .unwrap();
    t.propose(LoginStage::Operational, &mut w).unwrap();
    assert_eq!(
        t.finish().unwrap_err(),
        NegotiationError::Local(LocalFault::Unanswered {
            key: "MaxBurstLength"
        })
    );
}

#[test]
fn test_initiator_first_request_and_answers() {
    let mut cfg = initiator_config();
    cfg.immediate_data = false;
    let mut i = Negotiator::new_tcp(Role::Initiator, cfg).unwrap();
    let mut buf = [0u8; 1024];
    let mut w = TextWriter::new(&mut buf);
    i.propose(LoginStage::Operational, &mut w).unwrap();
    let p = pairs(w.as_bytes());
    assert_eq!(get(&p, "InitiatorName"), Some(INAME));
    assert_eq!(get(&p, "TargetName"), Some(TNAME));
    assert_eq!(get(&p, "SessionType"), Some("Normal"));
    assert_eq!(get(&p, "MaxBurstLength"), Some("16776192"));
    assert_eq!(get(&p, "InitialR2T"), Some("No"));
    assert_eq!(get(&p, "ImmediateData"), Some("No"));
    assert_eq!(get(&p, "HeaderDigest"), None);
    assert!(i.transit_allowed(), "offers of this request may be open");

    // Min answer above the offer, list answer never offered, AND answer Yes to No: all invalid.
    for (k, v) in [
        ("MaxBurstLength", "16776193"),
        ("ImmediateData", "Yes"),
        ("InitialR2T", "Maybe"),
    ] {
        let mut i2 = i.clone();
        w.clear();
        let e = i2.receive(LoginStage::Operational, &text(&[(k, v)]), &mut w, no_caller);
        assert!(
            matches!(e, Err(NegotiationError::Target(_))),
            "{k}={v}: {e:?}"
        );
        assert_eq!(e.unwrap_err().login_status(), (0x03, 0x00));
    }
    w.clear();
    i.receive(
        LoginStage::Operational,
        &text(&[
            ("MaxBurstLength", "262144"),
            ("InitialR2T", "Yes"),
            ("TargetPortalGroupTag", "7"),
            ("MaxRecvDataSegmentLength", "65536"),
            ("FirstBurstLength", "Reject"),
        ]),
        &mut w,
        no_caller,
    )
    .unwrap();
    assert!(w.is_empty(), "answers and declarations need no reply");
    // ImmediateData=No needs no answer (RFC 7143 §6.2.2); the MaxConnections=1 default was
    // never offered.
    assert!(i.transit_allowed());
    let n = i.finish().unwrap();
    assert_eq!(n.max_burst_length, 262_144);
    assert!(n.initial_r2t);
    assert!(!n.immediate_data);
    assert_eq!(n.first_burst_length, 65536);
    assert_eq!(n.target_portal_group_tag, Some(7));
    assert_eq!(n.max_send_data_segment_length(Role::Initiator), 65536);
}

#[test]
fn test_initiator_missing_answer_is_target_fault() {
    let mut i = Negotiator::new_tcp(Role::Initiator, initiator_config()).unwrap();
    let mut buf = [0u8; 1024];
    let mut w = TextWriter::new(&mut buf);
    i.propose(LoginStage::Operational, &mut w).unwrap();
    w.clear();
    i.receive(LoginStage::Operational, b"", &mut w, no_caller)
        .unwrap();
    assert!(!i.transit_allowed());
    assert!(matches!(
        i.finish(),
        Err(NegotiationError::Target(
            ProtocolFault::MissingAnswer { .. }
        ))
    ));
}

#[test]
fn test_initiator_rejected_offer_with_unacceptable_default() {
    let mut cfg = initiator_config();
    cfg.max_burst_length = 8192;
    let mut i = Negotiator::new_tcp(Role::Initiator, cfg).unwrap();
    let mut buf = [0u8; 1024];
    let mut w = TextWriter::new(&mut buf);
    i.propose(LoginStage::Operational, &mut w).unwrap();
    w.clear();
    let e = i
        .receive(
            LoginStage::Operational,
            &text(&[("MaxBurstLength", "Reject")]),
            &mut w,
            no_caller,
        )
        .unwrap_err();
    assert_eq!(
        e,
        NegotiationError::Target(ProtocolFault::Rejected {
            key: "MaxBurstLength"
        })
    );
}

#[test]
fn test_initiator_security_stage_offers_auth_method() {
    let mut cfg = initiator_config();
    cfg.auth_methods = &[AuthMethod::Chap, AuthMethod::None];
    let mut i = Negotiator::new_tcp(Role::Initiator, cfg).unwrap();
    let mut buf = [0u8; 1024];
    let mut w = TextWriter::new(&mut buf);
    i.propose(LoginStage::Security, &mut w).unwrap();
    let p = pairs(w.as_bytes());
    assert_eq!(get(&p, "AuthMethod"), Some("CHAP,None"));
    assert_eq!(
        get(&p, "MaxBurstLength"),
        None,
        "operational keys wait for their stage"
    );
    w.clear();
    i.receive(
        LoginStage::Security,
        &text(&[("AuthMethod", "None")]),
        &mut w,
        no_caller,
    )
    .unwrap();
    assert!(i.transit_allowed());
    w.clear();
    i.propose(LoginStage::Operational, &mut w).unwrap();
    let p = pairs(w.as_bytes());
    assert_eq!(
        get(&p, "InitiatorName"),
        None,
        "names go in the first request only"
    );
    assert_eq!(get(&p, "MaxBurstLength"), Some("16776192"));
}

#[test]
fn test_initiator_answers_target_offer() {
    let mut i = Negotiator::new_tcp(Role::Initiator, initiator_config()).unwrap();
    let mut buf = [0u8; 1024];
    let mut w = TextWriter::new(&mut buf);
    i.propose(LoginStage::Operational, &mut w).unwrap();
    w.clear();
    i.receive(
        LoginStage::Operational,
        &text(&[
            ("MaxBurstLength", "262144"),
            ("FirstBurstLength", "65536"),
            ("InitialR2T", "No"),
            ("ImmediateData", "Yes"),
            ("MaxOutstandingR2T", "4"),
            ("HeaderDigest", "CRC32C,None"),
        ]),
        &mut w,
        no_caller,
    )
    .unwrap();
    let p = pairs(w.as_bytes());
    assert_eq!(get(&p, "MaxOutstandingR2T"), Some("1"));
    assert_eq!(get(&p, "HeaderDigest"), Some("None"));
    assert_eq!(get(&p, "MaxBurstLength"), None);
}

// --- iSER policy ---

fn iser_target(max: u32) -> Negotiator<'static, IserPolicy> {
    Negotiator::new(
        Role::Target,
        LocalConfig::target(),
        IserPolicy::new(max, max, 0),
    )
    .unwrap()
}

#[test]
fn test_iser_target_caps_lengths_and_clears_transit() {
    let mut t = iser_target(8192);
    let a = target_step(
        &mut t,
        &login_start(&[
            ("RDMAExtensions", "Yes"),
            ("HeaderDigest", "CRC32C,None"),
            ("DataDigest", "None"),
            ("InitiatorRecvDataSegmentLength", "262144"),
            ("TargetRecvDataSegmentLength", "4096"),
            ("IFMarker", "No"),
        ]),
    )
    .unwrap();
    assert_eq!(get(&a, "RDMAExtensions"), Some("Yes"));
    assert_eq!(get(&a, "HeaderDigest"), Some("None"));
    assert_eq!(get(&a, "InitiatorRecvDataSegmentLength"), Some("8192"));
    assert_eq!(get(&a, "TargetRecvDataSegmentLength"), Some("4096"));
    assert_eq!(get(&a, "IFMarker"), Some("No"));
    assert!(t.policy().needs_another_round());
    assert!(!t.transit_allowed());
    target_step(&mut t, b"").unwrap();
    assert!(t.transit_allowed());
    let n = t.finish().unwrap();
    assert!(n.rdma_extensions);
    assert_eq!(n.initiator_recv_data_segment_length, 8192);
    assert_eq!(n.target_recv_data_segment_length, 4096);
}

#[test]
fn test_iser_target_errors() {
    let e = target_step(
        &mut iser_target(8192),
        &login_start(&[("HeaderDigest", "CRC32C")]),
    )
    .unwrap_err();
    assert_eq!(
        e,
        NegotiationError::Initiator(ProtocolFault::TransportRequirement {
            key: "HeaderDigest"
        })
    );
    let e = target_step(
        &mut iser_target(8192),
        &login_start(&[("RDMAExtensions", "No")]),
    )
    .unwrap_err();
    assert_eq!(e.login_status(), (0x02, 0x00));
    let e = target_step(
        &mut iser_target(8192),
        &login_start(&[
            ("RDMAExtensions", "Yes"),
            ("TargetRecvDataSegmentLength", "16777216"),
        ]),
    )
    .unwrap_err();
    assert_eq!(
        e,
        NegotiationError::Initiator(ProtocolFault::InvalidValue {
            key: "TargetRecvDataSegmentLength"
        })
    );
}

#[test]
fn test_iser_target_offers_rdma_when_initiator_did_not() {
    let mut t = iser_target(8192);
    let mut buf = [0u8; 1024];
    let mut w = TextWriter::new(&mut buf);
    t.receive(
        LoginStage::Operational,
        &login_start(&[]),
        &mut w,
        no_caller,
    )
    .unwrap();
    t.propose(LoginStage::Operational, &mut w).unwrap();
    assert_eq!(get(&pairs(w.as_bytes()), "RDMAExtensions"), Some("Yes"));
    target_step(
        &mut t,
        &text(&[("RDMAExtensions", "No"), ("MaxBurstLength", "262144")]),
    )
    .unwrap();
    assert_eq!(
        t.finish().unwrap_err(),
        NegotiationError::Initiator(ProtocolFault::TransportRequirement {
            key: "RDMAExtensions"
        })
    );
}

// --- both sides together ---

/// Runs a login from `start` until both sides transit out of operational negotiation.
fn run<PI: TransportPolicy, PT: TransportPolicy>(
    i: &mut Negotiator<'_, PI>,
    t: &mut Negotiator<'_, PT>,
    start: LoginStage,
) -> Result<(), NegotiationError> {
    let mut stage = start;
    let mut response: Option<(LoginStage, Vec<u8>)> = None;
    let mut ibuf = [0u8; 8192];
    let mut tbuf = [0u8; 8192];
    for _ in 0..12 {
        let mut iw = TextWriter::new(&mut ibuf);
        if let Some((s, r)) = response.take() {
            i.receive(s, &r, &mut iw, no_caller)?;
        }
        i.propose(stage, &mut iw)?;
        let i_transit = i.transit_allowed();
        let request = iw.as_bytes().to_vec();
        let mut tw = TextWriter::new(&mut tbuf);
        t.receive(stage, &request, &mut tw, no_caller)?;
        t.propose(stage, &mut tw)?;
        let transit = i_transit && t.transit_allowed();
        response = Some((stage, tw.as_bytes().to_vec()));
        if transit {
            if stage == LoginStage::Security {
                stage = LoginStage::Operational;
                continue;
            }
            // The final Login Response: the initiator takes it in, nothing more is sent.
            let (s, r) = response.take().unwrap();
            let mut iw = TextWriter::new(&mut ibuf);
            i.receive(s, &r, &mut iw, no_caller)?;
            return Ok(());
        }
    }
    panic!("login did not converge");
}

#[test]
fn test_pair_default_configs_one_round() {
    let mut i = Negotiator::new_tcp(Role::Initiator, initiator_config()).unwrap();
    let mut t = target();
    run(&mut i, &mut t, LoginStage::Security).unwrap();
    let (ni, nt) = (i.finish().unwrap(), t.finish().unwrap());
    assert_eq!(ni, nt);
    assert_eq!(ni.max_burst_length, 1_048_576);
    assert_eq!(ni.first_burst_length, 65536);
    assert!(ni.initial_r2t);
    assert_eq!(ni.initiator_max_recv_data_segment_length, 262_144);
    assert_eq!(ni.target_max_recv_data_segment_length, 262_144);
    assert_eq!(ni.initiator_name.as_str(), INAME);
    assert_eq!(ni.target_portal_group_tag, Some(1));
}

#[test]
fn test_pair_iser_both_sides() {
    let policy = IserPolicy::new(65536, 65536, 0);
    let mut icfg = initiator_config();
    icfg.initiator_recv_data_segment_length = 262_144;
    icfg.target_recv_data_segment_length = 262_144;
    let mut i = Negotiator::new(Role::Initiator, icfg, policy).unwrap();
    let mut tcfg = LocalConfig::target();
    tcfg.target_recv_data_segment_length = 32768;
    tcfg.initiator_recv_data_segment_length = 262_144;
    let mut t = Negotiator::new(Role::Target, tcfg, policy).unwrap();
    run(&mut i, &mut t, LoginStage::Operational).unwrap();
    let (ni, nt) = (i.finish().unwrap(), t.finish().unwrap());
    assert_eq!(ni, nt);
    assert!(ni.rdma_extensions);
    assert_eq!(ni.header_digest, Digest::None);
    assert_eq!(ni.target_recv_data_segment_length, 32768);
    assert_eq!(ni.initiator_recv_data_segment_length, 65536);
    assert_eq!(ni.max_send_data_segment_length(Role::Target), 65536);
}

// --- properties ---

const DIGESTS: [&[Digest]; 4] = [
    &[Digest::None],
    &[Digest::Crc32c],
    &[Digest::None, Digest::Crc32c],
    &[Digest::Crc32c, Digest::None],
];
const REPORTING: [&[TaskReporting]; 3] = [
    &[TaskReporting::Rfc3720],
    &[TaskReporting::FastAbort, TaskReporting::Rfc3720],
    &[TaskReporting::ResponseFence],
];

fn len() -> impl Strategy<Value = u32> {
    prop_oneof![Just(8192u32), Just(262_144), 512u32..=16_777_215]
}

prop_compose! {
    fn config()(
        hd in 0..4usize, dd in 0..4usize, tr in 0..3usize,
        max_connections in 1u16..=65535,
        bools in any::<[bool; 5]>(),
        mrdsl in len(), mbl in len(), fbl in len(),
        t2w in 0u16..=3600, t2r in 0u16..=3600,
        r2t in 1u16..=65535, erl in 0u8..=2, level in 0u8..=31,
        trdsl in len(), irdsl in len(),
        moup in prop_oneof![Just(0u32), 2u32..=u32::MAX],
        discovery in any::<bool>(),
    ) -> LocalConfig<'static> {
        let mut c = LocalConfig::target();
        c.initiator_name = Some(INAME);
        c.target_name = Some(TNAME);
        c.target_alias = Some("alias");
        c.session_type = if discovery { SessionType::Discovery } else { SessionType::Normal };
        c.header_digests = DIGESTS[hd];
        c.data_digests = DIGESTS[dd];
        c.task_reporting = REPORTING[tr];
        c.max_connections = max_connections;
        c.initial_r2t = bools[0];
        c.immediate_data = bools[1];
        c.data_pdu_in_order = bools[2];
        c.data_sequence_in_order = bools[3];
        c.rdma_extensions = bools[4];
        c.max_recv_data_segment_length = mrdsl;
        c.max_burst_length = mbl;
        c.first_burst_length = fbl;
        c.default_time2wait = t2w;
        c.default_time2retain = t2r;
        c.max_outstanding_r2t = r2t;
        c.error_recovery_level = erl;
        c.iscsi_protocol_level = level;
        c.target_recv_data_segment_length = trdsl;
        c.initiator_recv_data_segment_length = irdsl;
        c.max_outstanding_unexpected_pdus = moup;
        c
    }
}

fn intersects<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    a.iter().any(|x| b.contains(x))
}

fn in_rfc_range(n: &Negotiated) -> bool {
    let len = 512..=16_777_215u32;
    (1..=65535).contains(&n.max_connections)
        && len.contains(&n.initiator_max_recv_data_segment_length)
        && len.contains(&n.target_max_recv_data_segment_length)
        && len.contains(&n.max_burst_length)
        && len.contains(&n.first_burst_length)
        && n.first_burst_length <= n.max_burst_length
        && n.default_time2wait <= 3600
        && n.default_time2retain <= 3600
        && n.max_outstanding_r2t >= 1
        && n.error_recovery_level <= 2
        && n.iscsi_protocol_level <= 31
        && len.contains(&n.target_recv_data_segment_length)
        && len.contains(&n.initiator_recv_data_segment_length)
        && n.max_outstanding_unexpected_pdus != 1
}

/// Whether `n` is within what `c` (the config of `role`) accepts.
fn within_limits(n: &Negotiated, c: &LocalConfig<'_>, role: Role) -> Result<(), String> {
    let fail = |what: &str| Err(std::format!("{what}: {n:?}"));
    if !c.header_digests.contains(&n.header_digest) || !c.data_digests.contains(&n.data_digest) {
        return fail("digest");
    }
    let declared = match role {
        Role::Initiator => n.initiator_max_recv_data_segment_length,
        Role::Target => n.target_max_recv_data_segment_length,
    };
    if !n.rdma_extensions && declared != c.max_recv_data_segment_length {
        return fail("MaxRecvDataSegmentLength");
    }
    if n.default_time2wait < c.default_time2wait
        || n.default_time2retain > c.default_time2retain
        || n.error_recovery_level > c.error_recovery_level
    {
        return fail("time2wait/retain/ERL");
    }
    if !c.rdma_extensions && n.rdma_extensions {
        return fail("RDMAExtensions");
    }
    if n.rdma_extensions
        && (n.target_recv_data_segment_length > c.target_recv_data_segment_length
            || n.initiator_recv_data_segment_length > c.initiator_recv_data_segment_length
            || !(c.max_outstanding_unexpected_pdus == 0
                || (n.max_outstanding_unexpected_pdus != 0
                    && n.max_outstanding_unexpected_pdus <= c.max_outstanding_unexpected_pdus)))
    {
        return fail("iSER lengths");
    }
    if n.session_type == SessionType::Normal
        && (u32::from(n.max_connections) > u32::from(c.max_connections)
            || n.max_burst_length > c.max_burst_length
            || n.first_burst_length > c.first_burst_length
            || n.max_outstanding_r2t > c.max_outstanding_r2t
            || n.iscsi_protocol_level > c.iscsi_protocol_level
            || (!c.immediate_data && n.immediate_data)
            || (c.initial_r2t && !n.initial_r2t)
            || (c.data_pdu_in_order && !n.data_pdu_in_order)
            || (c.data_sequence_in_order && !n.data_sequence_in_order)
            || !c.task_reporting.contains(&n.task_reporting))
    {
        return fail("session keys");
    }
    Ok(())
}

proptest! {
    #[test]
    fn prop_tcp_login_agrees_within_limits(ic in config(), tc in config(), security in any::<bool>()) {
        let mut tc = tc;
        tc.initiator_name = None;
        tc.target_name = None;
        let mut i = Negotiator::new_tcp(Role::Initiator, ic).unwrap();
        let mut t = Negotiator::new_tcp(Role::Target, tc).unwrap();
        let start = if security { LoginStage::Security } else { LoginStage::Operational };
        let outcome = run(&mut i, &mut t, start).and_then(|()| {
            let ni = i.finish()?;
            let nt = t.finish()?;
            Ok((ni, nt))
        });
        let normal = ic.session_type == SessionType::Normal;
        let compatible = intersects(ic.header_digests, tc.header_digests)
            && intersects(ic.data_digests, tc.data_digests)
            && (!normal || intersects(ic.task_reporting, tc.task_reporting));
        match outcome {
            Ok((ni, nt)) => {
                prop_assert!(compatible);
                prop_assert_eq!(&ni, &nt);
                prop_assert!(in_rfc_range(&ni), "{:?}", ni);
                prop_assert_eq!(ni.session_type, ic.session_type);
                within_limits(&ni, &ic, Role::Initiator).map_err(TestCaseError::fail)?;
                within_limits(&nt, &tc, Role::Target).map_err(TestCaseError::fail)?;
                prop_assert_eq!(ni.rdma_extensions, ic.rdma_extensions && tc.rdma_extensions);
            }
            Err(e) => {
                prop_assert!(!compatible, "unexpected failure {:?}", e);
                prop_assert!(
                    matches!(
                        e,
                        NegotiationError::Initiator(ProtocolFault::NoCommonValue { .. })
                            | NegotiationError::Target(ProtocolFault::NoCommonValue { .. })
                    ),
                    "{:?}",
                    e
                );
            }
        }
    }

    #[test]
    fn prop_iser_login_is_iser_or_fails(
        ic in config(), tc in config(), initiator_iser in any::<bool>(),
        max_t in len(), max_i in len(), max_u in prop_oneof![Just(0u32), 2u32..=64],
    ) {
        let mut tc = tc;
        tc.initiator_name = None;
        tc.target_name = None;
        let policy = IserPolicy::new(max_t, max_i, max_u);
        let mut t = Negotiator::new(Role::Target, tc, policy).unwrap();
        let (outcome, i_cfg) = if initiator_iser {
            let mut i = Negotiator::new(Role::Initiator, ic, policy).unwrap();
            let r = run(&mut i, &mut t, LoginStage::Operational)
                .and_then(|()| Ok((i.finish()?, t.finish()?)));
            (r, (&[Digest::None][..], &[Digest::None][..], true))
        } else {
            let mut i = Negotiator::new_tcp(Role::Initiator, ic).unwrap();
            let r = run(&mut i, &mut t, LoginStage::Operational)
                .and_then(|()| Ok((i.finish()?, t.finish()?)));
            (r, (ic.header_digests, ic.data_digests, ic.rdma_extensions))
        };
        let (hd, dd, rdma) = i_cfg;
        // A Discovery session may leave RDMAExtensions out (LIO, tgt); a Normal one needs it.
        let discovery = ic.session_type == SessionType::Discovery;
        let can = hd.contains(&Digest::None) && dd.contains(&Digest::None) && (rdma || discovery)
            && (discovery || intersects(ic.task_reporting, tc.task_reporting));
        match outcome {
            Ok((ni, nt)) => {
                prop_assert!(can);
                prop_assert_eq!(&ni, &nt);
                prop_assert!(ni.rdma_extensions || discovery);
                prop_assert_eq!(ni.header_digest, Digest::None);
                prop_assert_eq!(ni.data_digest, Digest::None);
                prop_assert!(in_rfc_range(&ni));
                if ni.rdma_extensions {
                    prop_assert!(ni.target_recv_data_segment_length <= max_t);
                    prop_assert!(ni.initiator_recv_data_segment_length <= max_i);
                }
            }
            Err(e) => {
                prop_assert!(!can || matches!(
                    e,
                    NegotiationError::Initiator(ProtocolFault::NoCommonValue { .. })
                        | NegotiationError::Target(ProtocolFault::NoCommonValue { .. })
                ), "unexpected failure {:?}", e);
                match e {
                    // Detected by the target: a Login Response with an initiator-error class.
                    NegotiationError::Initiator(_) => prop_assert_eq!(e.login_status().0, 0x02),
                    // Detected by the initiator, which drops the connection.
                    NegotiationError::Target(_) => {}
                    NegotiationError::Local(_) => prop_assert!(false, "local error {:?}", e),
                }
            }
        }
    }

    #[test]
    fn prop_target_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        fuzz_target_negotiation(&bytes);
    }

    #[test]
    fn prop_target_never_panics_on_keys(
        kvs in proptest::collection::vec(
            (0..KEYS.len() + 1, prop_oneof![
                Just("Yes".to_string()), Just("No".to_string()), Just("None".to_string()),
                Just("Reject".to_string()), Just("Irrelevant".to_string()),
                Just("CRC32C,None".to_string()), Just("Discovery".to_string()),
                (0u64..=u64::from(u32::MAX) + 1).prop_map(|n| n.to_string()),
                "[ -~]{0,12}",
            ]),
            0..40,
        ),
        flags in any::<u8>(),
        split in 0usize..40,
    ) {
        let mut data = vec![flags];
        for (n, (k, v)) in kvs.iter().enumerate() {
            let name = KEYS.get(*k).map_or("X-unknown", |d| d.name);
            if n == split {
                data.push(0xff);
            }
            data.extend_from_slice(name.as_bytes());
            data.push(b'=');
            data.extend_from_slice(v.as_bytes());
            data.push(0);
        }
        fuzz_target_negotiation(&data);
    }
}
