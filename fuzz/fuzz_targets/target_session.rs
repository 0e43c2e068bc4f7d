//! Fuzz target: the iSCSI target connection state machine fed arbitrary byte streams, cut into
//! arbitrary chunks, with time passing between them — before and after a real login. Nothing
//! may panic, and every PDU the target writes must parse.
#![no_main]

use host_tests::ram_target::{RamTarget, TARGET_NAME};
use iser_core::session::{TargetConfig, TargetConn, Transmit};
use iser_core::time::Instant;
use iser_core::wire::frame::{emit_pdu, Digests, Pdu};
use iser_core::wire::{Isid, LoginRequestRepr, PduRepr, Stage};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn drain(conn: &mut TargetConn<8>, backend: &mut RamTarget, now: Instant, buf: &mut [u8]) {
    while let Transmit::Written(n) = conn.poll_transmit(backend, now, buf) {
        let digests = if conn.is_full_feature() {
            let p = conn.negotiated();
            Digests {
                header: p.header_digest == iser_core::negotiate::Digest::Crc32c,
                data: p.data_digest == iser_core::negotiate::Digest::Crc32c,
            }
        } else {
            Digests::NONE
        };
        if Pdu::parse(&buf[..n], digests, 1 << 24).is_err() {
            // The target's own output must always frame (digests may switch after login).
            let _ = Pdu::parse(&buf[..n], Digests::NONE, 1 << 24).expect("target emitted a bad PDU");
        }
    }
}

fn login_pdu() -> &'static [u8] {
    static PDU: OnceLock<Vec<u8>> = OnceLock::new();
    PDU.get_or_init(|| {
        let text = format!(
            "InitiatorName=iqn.2026-11.rs.iser:fuzz\0TargetName={TARGET_NAME}\0\
             MaxBurstLength=1048576\0FirstBurstLength=262144\0InitialR2T=No\0ImmediateData=Yes\0"
        );
        let req = LoginRequestRepr {
            transit: true,
            continue_: false,
            csg: Stage::OPERATIONAL,
            nsg: Stage::FULL_FEATURE,
            version_max: 0,
            version_min: 0,
            isid: Isid([0x80, 0, 0, 0, 0, 1]),
            tsih: 0,
            itt: 0,
            cid: 0,
            cmd_sn: 0,
            exp_stat_sn: 0,
        };
        let mut buf = vec![0u8; 1024];
        let n = emit_pdu(&PduRepr::LoginRequest(req), &[], text.as_bytes(), Digests::NONE, &mut buf).unwrap();
        buf.truncate(n);
        buf
    })
}

thread_local! {
    // One RAM LU for all runs: the fixture's memory lives for the process, so building it per
    // input would look like a leak to LeakSanitizer.
    static BACKEND: std::cell::RefCell<RamTarget> = std::cell::RefCell::new(RamTarget::new(1 << 20));
}

fuzz_target!(|data: &[u8]| {
    BACKEND.with(|b| run(data, &mut b.borrow_mut()));
});

fn run(data: &[u8], backend: &mut RamTarget) {
    let Some((&flags, rest)) = data.split_first() else { return };
    let mut conn: TargetConn<8> = TargetConn::new(&TargetConfig::default(), [1; 32], Instant(0));
    let mut out = vec![0u8; 1 << 20];
    let mut now = Instant(0);
    if flags & 1 == 1 {
        conn.handle_bytes(login_pdu(), backend, now);
        drain(&mut conn, backend, now, &mut out);
    }
    let mut stream: Vec<u8> = Vec::new();
    // Chunks of the input separated by 0xA5 0x5A are delivered one at a time.
    for chunk in rest.split(|&b| b == 0xa5) {
        stream.extend_from_slice(chunk);
        let used = conn.handle_bytes(&stream, backend, now);
        stream.drain(..used.min(stream.len()));
        drain(&mut conn, backend, now, &mut out);
        now = Instant(now.0 + 3_000_000);
        conn.handle_timeout(backend, now);
        drain(&mut conn, backend, now, &mut out);
        if conn.is_closed() {
            break;
        }
    }
    conn.connection_lost(backend);
}
