//! The daemon's SCSI services beyond one logical unit, through its public API: persistent
//! reservations of a file LUN surviving a restart (APTPL), EXTENDED COPY between two LUNs of a
//! target, and SANITIZE with IMMED=1 finished by the background thread.
// Test code: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iser_core::scsi::{CommandRequest, Completion, Finish, NexusId, ScsiTask, Start};
use iser_core::wire::Lun;
use iserd::config::{Config, LunConfig};
use iserd::daemon::Daemon;

const INITIATOR: &str = "iqn.2026-11.rs.iserd:tester";
const ISID: [u8; 6] = [0x23, 0, 0, 0, 0, 1];

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("iserd-daemon-scsi");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    let mut pr = p.clone().into_os_string();
    pr.push(".pr");
    let _ = std::fs::remove_file(PathBuf::from(pr));
    p
}

fn config(luns: Vec<LunConfig>) -> Config {
    let mut c = Config::builtin();
    c.targets[0].luns = luns;
    c
}

/// Runs one command to its end on `lun` from `nexus`: Data-Out from `out`, Data-In returned.
fn run(
    d: &Daemon,
    lun: u16,
    nexus: u16,
    cdb: &[u8],
    read: u32,
    out: &[u8],
) -> (Vec<u8>, Completion) {
    let lun = Lun::from_index(lun).unwrap();
    let req = CommandRequest {
        cdb,
        expected_read_len: read,
        expected_write_len: out.len() as u32,
        nexus: NexusId(nexus),
    };
    match d.scsi_start(0, lun, &req) {
        Start::Done(c) => (Vec::new(), c),
        Start::DataIn { task, len } => {
            let mut buf = vec![0u8; len as usize];
            let n = d.scsi_read(0, lun, &task, 0, &mut buf).unwrap();
            buf.truncate(n);
            (buf, finish(d, lun, &task))
        }
        Start::DataOut { mut task, len } => {
            d.scsi_write(0, lun, &mut task, 0, &out[..len as usize])
                .unwrap();
            (Vec::new(), finish(d, lun, &task))
        }
        s => panic!("{s:?}"),
    }
}

/// Ends a task; a deferred status is polled as a connection would (needs `run_background`).
fn finish(d: &Daemon, lun: Lun, task: &ScsiTask) -> Completion {
    match d.scsi_finish(0, lun, task) {
        Finish::Done(c) => c,
        Finish::Deferred(ticket) => loop {
            if let Some(c) = d.scsi_poll(0, lun, task, ticket) {
                return c;
            }
            std::thread::sleep(Duration::from_millis(5));
        },
    }
}

/// A fresh session's nexus on the target with its unit attentions consumed on `luns`.
fn login(d: &Daemon, luns: &[u16]) -> u16 {
    let n = d.nexus(INITIATOR, ISID, 0);
    for &l in luns {
        while !run(d, l, n, &[0; 6], 0, &[]).1.is_good() {}
    }
    n
}

fn pr_out(d: &Daemon, n: u16, sa: u8, kind: u8, key: u64, sark: u64, aptpl: bool) -> Completion {
    let mut p = [0u8; 24];
    p[0..8].copy_from_slice(&key.to_be_bytes());
    p[8..16].copy_from_slice(&sark.to_be_bytes());
    p[20] = u8::from(aptpl);
    let cdb = [0x5f, sa, kind, 0, 0, 0, 0, 0, 24, 0];
    run(d, 0, n, &cdb, 0, &p).1
}

/// PERSISTENT RESERVE IN, READ RESERVATION: (generation, key, type) when reserved.
fn read_reservation(d: &Daemon, n: u16) -> Option<(u32, u64, u8)> {
    let (data, c) = run(d, 0, n, &[0x5e, 1, 0, 0, 0, 0, 0, 0, 64, 0], 64, &[]);
    assert!(c.is_good(), "{c:?}");
    let generation = u32::from_be_bytes(data[0..4].try_into().unwrap());
    let len = u32::from_be_bytes(data[4..8].try_into().unwrap());
    (len >= 16).then(|| {
        (
            generation,
            u64::from_be_bytes(data[8..16].try_into().unwrap()),
            data[21] & 0x0f,
        )
    })
}

#[test]
fn file_lun_reservation_survives_a_restart_with_aptpl() {
    let path = tmp("pr.img");
    std::fs::write(&path, vec![0u8; 1 << 20]).unwrap();
    let cfg = config(vec![LunConfig::file(0, path.clone())]);
    {
        let d = Daemon::new(cfg.clone()).unwrap();
        let n = login(&d, &[0]);
        assert!(
            pr_out(&d, n, 0, 0, 0, 0xfeed, true).is_good(),
            "REGISTER, APTPL"
        );
        assert!(
            pr_out(&d, n, 1, 1, 0xfeed, 0, false).is_good(),
            "RESERVE, WE"
        );
        assert_eq!(read_reservation(&d, n), Some((1, 0xfeed, 1)));
    }
    assert!(path.with_extension("img.pr").exists(), "sidecar written");
    // A new daemon over the same file: the same initiator port finds its reservation.
    let d = Daemon::new(cfg.clone()).unwrap();
    let n = login(&d, &[0]);
    assert_eq!(read_reservation(&d, n), Some((1, 0xfeed, 1)));
    // Another initiator port conflicts with it (write exclusive).
    let other = d.nexus("iqn.2026-11.rs.iserd:other", ISID, 0);
    while run(&d, 0, other, &[0; 6], 0, &[]).1.sense.is_some() {}
    let w = run(
        &d,
        0,
        other,
        &[0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0],
        0,
        &[0; 512],
    )
    .1;
    assert_eq!(w.status, iser_core::scsi::Status::RESERVATION_CONFLICT);
    // Registrations made without APTPL do not survive (SPC-4 §5.13).
    assert!(
        pr_out(&d, n, 0, 0, 0xfeed, 0x77, false).is_good(),
        "re-register, APTPL 0"
    );
    drop(d);
    let d = Daemon::new(cfg).unwrap();
    let n = login(&d, &[0]);
    assert_eq!(read_reservation(&d, n), None);
}

#[test]
fn extended_copy_reaches_another_lun_of_the_target() {
    let d = Daemon::new(config(vec![
        LunConfig::ram(0, 1 << 20),
        LunConfig::ram(1, 1 << 20),
    ]))
    .unwrap();
    let n = login(&d, &[0, 1]);
    let data: Vec<u8> = (0..4 * 512).map(|i| (i % 251) as u8).collect();
    let w = [0x2a, 0, 0, 0, 0, 8, 0, 0, 4, 0];
    assert!(run(&d, 0, n, &w, 0, &data).1.is_good());
    // The NAA designators from each LUN's Device Identification page.
    let naa = |lun: u16| {
        let (p, c) = run(&d, lun, n, &[0x12, 1, 0x83, 0, 255, 0], 255, &[]);
        assert!(c.is_good());
        assert_eq!((p[5] & 0x0f, p[7]), (3, 16), "NAA first");
        p[8..24].to_vec()
    };
    let target = |naa: &[u8]| {
        let mut t = vec![0u8; 32];
        t[0] = 0xe4;
        t[4] = 0x01;
        t[5] = 0x03;
        t[7] = 16;
        t[8..24].copy_from_slice(naa);
        t[30] = 2; // block size 512
        t
    };
    let mut seg = vec![0u8; 28];
    seg[0] = 0x02;
    seg[3] = 0x18;
    seg[6..8].copy_from_slice(&1u16.to_be_bytes()); // to target descriptor 1
    seg[10..12].copy_from_slice(&4u16.to_be_bytes());
    seg[12..20].copy_from_slice(&8u64.to_be_bytes());
    seg[20..28].copy_from_slice(&100u64.to_be_bytes());
    let mut p = vec![0u8; 16];
    p[0] = 1;
    p[3] = 64;
    p[11] = 28;
    p.extend(target(&naa(0)));
    p.extend(target(&naa(1)));
    p.extend(&seg);
    let mut cdb = [0u8; 16];
    cdb[0] = 0x83;
    cdb[10..14].copy_from_slice(&(p.len() as u32).to_be_bytes());
    let c = run(&d, 0, n, &cdb, 0, &p).1;
    assert!(c.is_good(), "{c:?}");
    let (back, c) = run(&d, 1, n, &[0x28, 0, 0, 0, 0, 100, 0, 0, 4, 0], 2048, &[]);
    assert!(c.is_good());
    assert_eq!(back, data);
    // A copy to an unknown logical unit is COPY ABORTED.
    let mut bad = p.clone();
    bad[16 + 32 + 8] ^= 0xff;
    let c = run(&d, 0, n, &cdb, 0, &bad).1;
    assert_eq!(
        c.sense.unwrap().key,
        iser_core::scsi::SenseKey::COPY_ABORTED
    );
}

#[test]
fn sanitize_with_immed_runs_in_the_background() {
    let d = Arc::new(Daemon::new(config(vec![LunConfig::ram(0, 8 << 20)])).unwrap());
    let bg = {
        let d = d.clone();
        std::thread::spawn(move || d.run_background())
    };
    let n = login(&d, &[0]);
    assert!(
        run(&d, 0, n, &[0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0], 0, &[9; 512])
            .1
            .is_good()
    );
    let mut p = vec![1u8, 0, 0, 1];
    p.push(0xa5);
    let c = run(&d, 0, n, &[0x48, 0x81, 0, 0, 0, 0, 0, 0, 5, 0], 0, &p).1;
    assert!(c.is_good(), "IMMED=1 answers at once: {c:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let c = run(&d, 0, n, &[0; 6], 0, &[]).1;
        if c.is_good() {
            break;
        }
        let s = c.sense.unwrap();
        assert_eq!(
            s.code,
            iser_core::scsi::AdditionalSense::NOT_READY_SANITIZE_IN_PROGRESS
        );
        assert!(Instant::now() < deadline, "sanitize did not finish");
        std::thread::sleep(Duration::from_millis(5));
    }
    let (back, c) = run(&d, 0, n, &[0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0], 512, &[]);
    assert!(c.is_good());
    assert!(back.iter().all(|&b| b == 0xa5));
    d.begin_shutdown();
    bg.join().unwrap();
}

/// SANITIZE with IMMED=0: the status waits for the background job, which `sanitize_rate`
/// paces, while other commands see SANITIZE IN PROGRESS.
#[test]
fn sanitize_without_immed_defers_its_status_at_the_configured_rate() {
    let mut lun = LunConfig::ram(0, 8 << 20);
    lun.sanitize_rate = Some(16 << 20);
    let d = Arc::new(Daemon::new(config(vec![lun])).unwrap());
    let bg = {
        let d = d.clone();
        std::thread::spawn(move || d.run_background())
    };
    let n = login(&d, &[0]);
    let lun0 = Lun::from_index(0).unwrap();
    let p = [1u8, 0, 0, 1, 0x3c];
    let req = CommandRequest {
        cdb: &[0x48, 0x01, 0, 0, 0, 0, 0, 0, 5, 0],
        expected_read_len: 0,
        expected_write_len: 5,
        nexus: NexusId(n),
    };
    let Start::DataOut { mut task, .. } = d.scsi_start(0, lun0, &req) else {
        panic!("parameter list expected")
    };
    d.scsi_write(0, lun0, &mut task, 0, &p).unwrap();
    let started = Instant::now();
    let Finish::Deferred(ticket) = d.scsi_finish(0, lun0, &task) else {
        panic!("IMMED=0 defers")
    };
    let c = run(&d, 0, n, &[0; 6], 0, &[]).1;
    assert_eq!(
        c.sense.unwrap().code,
        iser_core::scsi::AdditionalSense::NOT_READY_SANITIZE_IN_PROGRESS
    );
    let c = loop {
        if let Some(c) = d.scsi_poll(0, lun0, &task, ticket) {
            break c;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "sanitize did not finish"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = started.elapsed();
    assert!(c.is_good(), "{c:?}");
    // 8 MiB at 16 MiB/s: half a second (the last step is not waited for).
    assert!(took >= Duration::from_millis(400), "took {took:?}");
    let (back, c) = run(&d, 0, n, &[0x28, 0, 0, 0, 0x3f, 0xff, 0, 0, 1, 0], 512, &[]);
    assert!(c.is_good());
    assert!(back.iter().all(|&b| b == 0x3c));
    d.begin_shutdown();
    bg.join().unwrap();
}

/// An initiator whose connection is closed but not yet read to its EOF by the connection's
/// thread logs in again with a new ISID: the new login ends the departed session first, so
/// its PREVENT MEDIUM REMOVAL no longer holds (the I_T nexus is lost, SPC-4 §6.15). Without
/// the probe saying the peer is gone, the old nexus keeps it.
#[test]
fn a_departed_session_loses_its_nexus_at_the_same_initiators_next_login() {
    use iserd::daemon::registry::SessionKey;
    for peer_gone in [false, true] {
        let mut lun = LunConfig::ram(0, 1 << 20);
        lun.removable = true;
        let d = Daemon::new(config(vec![lun])).unwrap();
        let key = |isid: [u8; 6]| SessionKey {
            initiator: INITIATOR.into(),
            isid,
            target: Some(0),
        };
        let old = d.open_session(key(ISID), None).unwrap();
        let n = login(&d, &[0]);
        assert!(run(&d, 0, n, &[0x1e, 0, 0, 0, 1, 0], 0, &[]).1.is_good());
        d.watch_peer(old, Arc::new(move || peer_gone));
        let other_isid = [0x23, 0, 0, 0, 0, 2];
        d.open_session(key(other_isid), None).unwrap();
        let m = d.nexus(INITIATOR, other_isid, 0);
        while !run(&d, 0, m, &[0; 6], 0, &[]).1.is_good() {}
        let eject = run(&d, 0, m, &[0x1b, 0, 0, 0, 0x02, 0], 0, &[]).1;
        assert_eq!(eject.is_good(), peer_gone, "{eject:?}");
    }
}
