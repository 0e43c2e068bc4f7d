//! Login and discovery against the in-memory target.

use std::string::ToString;
use std::vec::Vec;

use super::fixture::*;
use crate::negotiate::{AuthMethod, Digest};
use crate::session::backend::ChapCredentials;
use crate::session::initiator::{AuthFailure, InitiatorConfig, LoginError};
use crate::session::target::TargetConfig;
use crate::time::Duration;
use crate::wire::LoginStatus;

#[cfg(feature = "chap")]
fn creds(name: &'static str, secret: &'static str) -> ChapCredentials<'static> {
    ChapCredentials {
        name,
        secret: secret.as_bytes(),
    }
}

#[test]
fn test_login_none_reaches_full_feature() {
    let mut p = Pair::<8>::new(icfg(), TargetConfig::default(), RamBackend::new(65536));
    assert!(!p.ini.is_full_feature());
    p.login();
    let n = p.ini.negotiated();
    assert_eq!(n.auth_method, AuthMethod::None);
    assert_eq!(n.initiator_name.as_str(), INAME);
    assert_eq!(n.target_name.as_str(), TNAME);
    assert_eq!(p.ini.tsih(), 1);
    // Our ISID is of the random type (RFC 7143 §11.12.5).
    assert_eq!(p.ini.isid()[0] & 0xc0, 0x80);
}

#[test]
fn test_login_digests_when_both_allow() {
    let mut c = icfg();
    c.header_digest = true;
    c.data_digest = true;
    let mut p = ready::<8>(c, TargetConfig::default());
    assert_eq!(p.ini.negotiated().header_digest, Digest::Crc32c);
    assert_eq!(p.ini.negotiated().data_digest, Digest::Crc32c);
    let (r, _) = p.run(
        &crate::session::initiator::ScsiRequest::read(
            crate::wire::Lun(0),
            &rw16(false, 0, 8),
            4096,
        ),
        None,
    );
    assert!(r.is_ok());
    // A target that does not allow digests: None is accepted.
    let t = TargetConfig {
        allow_digests: false,
        ..TargetConfig::default()
    };
    let p = ready::<8>(c, t);
    assert_eq!(p.ini.negotiated().header_digest, Digest::None);
}

#[cfg(feature = "chap")]
#[test]
fn test_login_chap_one_way() {
    let mut c = icfg();
    c.chap = Some(creds("alice", "secret-of-alice"));
    let b = RamBackend::new(65536).with_chap("alice", "secret-of-alice");
    let mut p = Pair::<8>::new(c, TargetConfig::default(), b);
    p.login();
    assert_eq!(p.ini.negotiated().auth_method, AuthMethod::Chap);
}

#[cfg(feature = "chap")]
#[test]
fn test_login_chap_offered_but_target_needs_none() {
    let mut c = icfg();
    c.chap = Some(creds("alice", "secret-of-alice"));
    let mut p = Pair::<8>::new(c, TargetConfig::default(), RamBackend::new(65536));
    p.login();
    assert_eq!(p.ini.negotiated().auth_method, AuthMethod::None);
}

#[cfg(feature = "chap")]
#[test]
fn test_login_chap_wrong_secret_refused() {
    let mut c = icfg();
    c.chap = Some(creds("alice", "not-the-secret"));
    let b = RamBackend::new(65536).with_chap("alice", "secret-of-alice");
    let mut p = Pair::<8>::new(c, TargetConfig::default(), b);
    p.drive();
    assert_eq!(
        p.host.events,
        [Ev::LoginFailed(LoginError::Refused(
            LoginStatus::AUTHENTICATION_FAILURE
        ))]
    );
    assert!(p.ini.is_closed());
    assert!(p.tgt.is_closed());
}

#[cfg(feature = "chap")]
#[test]
fn test_login_chap_required_without_credentials() {
    let b = RamBackend::new(65536).with_chap("alice", "secret-of-alice");
    let mut p = Pair::<8>::new(icfg(), TargetConfig::default(), b);
    p.drive();
    // We offer only None; the target has nothing in common.
    assert!(
        matches!(p.host.events.as_slice(), [Ev::LoginFailed(LoginError::Refused(s))] if s.class.0 == 2),
        "{:?}",
        p.host.events
    );
}

#[cfg(feature = "chap")]
#[test]
fn test_login_mutual_chap() {
    let mut c = icfg();
    c.chap = Some(creds("alice", "secret-of-alice"));
    c.mutual_chap = Some(creds("target", "secret-of-target"));
    let b = RamBackend::new(65536)
        .with_chap("alice", "secret-of-alice")
        .with_mutual("target", "secret-of-target");
    let mut p = Pair::<8>::new(c, TargetConfig::default(), b);
    p.login();
}

#[cfg(feature = "chap")]
#[test]
fn test_login_mutual_chap_wrong_target_secret() {
    let mut c = icfg();
    c.chap = Some(creds("alice", "secret-of-alice"));
    c.mutual_chap = Some(creds("target", "what-we-expect"));
    let b = RamBackend::new(65536)
        .with_chap("alice", "secret-of-alice")
        .with_mutual("target", "something-else");
    let mut p = Pair::<8>::new(c, TargetConfig::default(), b);
    p.drive();
    assert_eq!(
        p.host.events,
        [Ev::LoginFailed(LoginError::Authentication(
            AuthFailure::TargetNotAuthenticated
        ))]
    );
    assert!(p.ini.is_closed());
}

#[cfg(feature = "chap")]
#[test]
fn test_login_mutual_chap_against_target_without_auth() {
    // We demand that the target prove itself; a target that wants no authentication cannot.
    let mut c = icfg();
    c.chap = Some(creds("alice", "secret-of-alice"));
    c.mutual_chap = Some(creds("target", "secret-of-target"));
    let mut p = Pair::<8>::new(c, TargetConfig::default(), RamBackend::new(65536));
    p.drive();
    assert_eq!(p.host.events.len(), 1, "{:?}", p.host.events);
    assert!(matches!(p.host.events[0], Ev::LoginFailed(_)));
}

#[test]
fn test_login_unknown_target() {
    let c = InitiatorConfig::new(INAME, Some("iqn.2024-01.org.example:nope"));
    let mut p = Pair::<8>::new(c, TargetConfig::default(), RamBackend::new(65536));
    p.drive();
    assert_eq!(
        p.host.events,
        [Ev::LoginFailed(LoginError::Refused(
            LoginStatus::TARGET_NOT_FOUND
        ))]
    );
}

#[test]
fn test_login_timeout() {
    let mut p = Pair::<8>::new(icfg(), TargetConfig::default(), RamBackend::new(65536));
    // Nothing is delivered; time runs out.
    let deadline = p.ini.poll_timeout().unwrap();
    p.now = deadline;
    p.ini.handle_timeout(p.now, &mut p.host);
    assert_eq!(p.host.events, [Ev::LoginFailed(LoginError::Timeout)]);
    assert!(p.ini.is_closed());
    assert_eq!(p.ini.poll_timeout(), None);
}

#[test]
fn test_login_connection_lost() {
    let mut p = Pair::<8>::new(icfg(), TargetConfig::default(), RamBackend::new(65536));
    p.ini.connection_lost(&mut p.host);
    p.ini.connection_lost(&mut p.host);
    assert_eq!(p.host.events, [Ev::LoginFailed(LoginError::ConnectionLost)]);
}

#[test]
fn test_login_negotiates_our_limits() {
    let mut c = icfg();
    c.max_recv_data_segment_length = 4096;
    c.max_burst_length = 16384;
    c.first_burst_length = 8192;
    c.initial_r2t = true;
    c.immediate_data = false;
    let mut p = Pair::<8>::new(c, TargetConfig::default(), RamBackend::new(65536));
    p.login();
    let n = p.ini.negotiated();
    assert_eq!(n.initiator_max_recv_data_segment_length, 4096);
    assert_eq!(n.max_burst_length, 16384);
    assert_eq!(n.first_burst_length, 8192);
    assert!(n.initial_r2t);
    assert!(!n.immediate_data);
}

#[test]
fn test_discovery_send_targets() {
    let c = InitiatorConfig::new(INAME, None);
    let mut p = Pair::<8>::new(c, TargetConfig::default(), RamBackend::new(65536));
    p.drive();
    assert_eq!(
        p.host.events,
        [
            Ev::LoggedIn(1),
            Ev::Discovered(TNAME.to_string(), Some("127.0.0.1:3260,1".to_string())),
            Ev::Discovered(
                "iqn.2024-01.org.example:other".to_string(),
                Some("[::1]:3261,2".to_string())
            ),
            Ev::DiscoveryDone,
        ]
    );
    assert!(!p.ini.is_full_feature(), "no SCSI in a discovery session");
    p.host.events.clear();
    p.ini.logout().unwrap();
    p.drive();
    assert_eq!(p.host.events, [Ev::LoggedOut(true)]);
    assert!(p.ini.is_closed());
    assert!(p.tgt.is_closed());
    assert_eq!(p.backend.ended, [1]);
}

#[cfg(feature = "chap")]
#[test]
fn test_discovery_chap() {
    let mut c = InitiatorConfig::new(INAME, None);
    c.chap = Some(creds("disc", "discovery-secret"));
    let mut b = RamBackend::new(65536);
    b.discovery_auth = crate::session::backend::AuthPolicy::Chap {
        initiator: creds("disc", "discovery-secret"),
        target: None,
    };
    let mut p = Pair::<8>::new(c, TargetConfig::default(), b);
    p.drive();
    assert_eq!(p.host.events.first(), Some(&Ev::LoggedIn(1)));
    assert_eq!(p.host.events.last(), Some(&Ev::DiscoveryDone));
}

#[test]
fn test_login_with_pdus_cut_anywhere() {
    for chunk in [1usize, 7, 48, 49] {
        let mut p = Pair::<8>::new(icfg(), TargetConfig::default(), RamBackend::new(65536));
        p.chunk = chunk;
        p.drive();
        let evs: Vec<_> = p.host.events.drain(..).collect();
        assert_eq!(evs, [Ev::LoggedIn(1)], "chunk {chunk}");
    }
    let _ = Duration::from_secs(1);
}

/// tgt's iSER login (1.0.85) counts the immediate Login Request in the final response's
/// ExpCmdSN and sends MaxCmdSN = ExpCmdSN - 1 while it expects the login's CmdSN next: the
/// first command still goes out, with that CmdSN.
#[test]
fn test_login_final_response_with_closed_window_opens_one() {
    use crate::session::initiator::ScsiRequest;
    use crate::session::target::Transmit;
    use crate::wire::Lun;
    let mut p = Pair::<8>::new(icfg(), TargetConfig::default(), RamBackend::new(65536));
    let mut buf = std::vec![0u8; 1 << 20];
    for _ in 0..16 {
        while let Transmit::Written(n) = p.ini.poll_transmit(p.now, &mut buf, &mut p.host) {
            assert_eq!(p.tgt.handle_bytes(&buf[..n], &mut p.backend, p.now), n);
        }
        while let Transmit::Written(n) = p.tgt.poll_transmit(&mut p.backend, p.now, &mut buf) {
            let pdu = &mut buf[..n];
            // A Login Response with T=1 and NSG=FullFeaturePhase.
            if pdu[0] & 0x3f == 0x23 && pdu[1] & 0x83 == 0x83 {
                let exp = u32::from_be_bytes(pdu[28..32].try_into().unwrap());
                pdu[28..32].copy_from_slice(&exp.wrapping_add(1).to_be_bytes());
                pdu[32..36].copy_from_slice(&exp.to_be_bytes());
            }
            assert_eq!(p.ini.handle_bytes(&buf[..n], p.now, &mut p.host), n);
        }
        if p.ini.is_full_feature() {
            break;
        }
    }
    assert!(p.ini.is_full_feature());
    let (r, _) = p.run(&ScsiRequest::no_data(Lun(0), &TUR), None);
    assert!(r.is_ok(), "{r:?}");
}
