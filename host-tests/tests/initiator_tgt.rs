//! The `iser` CLI against tgt, the reference user-space target (PEERS.md): discover, ls,
//! write + read + compare, verify, a short bench, and a missing LUN. tgtd runs on a free loopback
//! port ≥ 3270 with its own control port, a 64 MiB backing file, and is stopped the way PEERS.md
//! says (delete the target, then the system), only the instance this test started. Skipped with
//! a notice when tgt is not installed.
// Test code: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod initiator_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use initiator_support::*;

const IQN: &str = "iqn.2026-01.test:lun";

/// One tgtd instance: its portal and control ports, and the child process.
struct Tgt {
    port: u16,
    control: u16,
    guard: Guard,
}

fn tgtadm(control: u16, args: &[&str]) -> bool {
    Command::new("tgtadm")
        .args(["-C", &control.to_string(), "--lld", "iscsi"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Tgt {
    fn start(backing: &str) -> Tgt {
        let port = free_port(3270);
        // The control port names tgtd's management socket; keep it apart from other instances.
        let control = port;
        let child = Command::new("tgtd")
            .args(["-f", "-C", &control.to_string(), "--iscsi"])
            .arg(format!("portal=127.0.0.1:{port}"))
            .args(["-t", "2"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tgtd");
        let tgt = Tgt {
            port,
            control,
            guard: Guard { child: Some(child) },
        };
        let start = Instant::now();
        while !tgtadm(
            control,
            &[
                "--mode",
                "target",
                "--op",
                "new",
                "--tid",
                "1",
                "--targetname",
                IQN,
            ],
        ) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "tgtd did not come up"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(tgtadm(
            control,
            &[
                "--mode",
                "logicalunit",
                "--op",
                "new",
                "--tid",
                "1",
                "--lun",
                "1",
                "--backing-store",
                backing
            ]
        ));
        assert!(tgtadm(
            control,
            &[
                "--mode",
                "target",
                "--op",
                "bind",
                "--tid",
                "1",
                "--initiator-address",
                "ALL"
            ]
        ));
        tgt
    }

    /// PEERS.md: a plain kill does not stop tgtd; delete the target, then the system.
    fn stop(mut self) {
        tgtadm(
            self.control,
            &[
                "--op", "delete", "--mode", "target", "--tid", "1", "--force",
            ],
        );
        tgtadm(self.control, &["--op", "delete", "--mode", "system"]);
        if let Some(mut c) = self.guard.child.take() {
            let start = Instant::now();
            while c.try_wait().unwrap().is_none() {
                if start.elapsed() > Duration::from_secs(10) {
                    // Only our own child, by its PID.
                    let _ = c.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.wait();
        }
    }
}

impl Drop for Tgt {
    fn drop(&mut self) {
        if self.guard.child.is_some() {
            tgtadm(
                self.control,
                &[
                    "--op", "delete", "--mode", "target", "--tid", "1", "--force",
                ],
            );
            tgtadm(self.control, &["--op", "delete", "--mode", "system"]);
        }
    }
}

#[test]
fn iser_against_tgt() {
    if !peer_present(&["tgtd", "tgtadm"], "tgt (Debian package tgt)") {
        return;
    }
    let dir = tmp("tgt");
    let backing = dir.join("lun1.img");
    let f = std::fs::File::create(&backing).unwrap();
    f.set_len(64 << 20).unwrap();
    drop(f);
    let tgt = Tgt::start(backing.to_str().unwrap());
    let portal = format!("127.0.0.1:{}", tgt.port);

    let out = iser_ok(&["discover", &portal]);
    assert_eq!(out.trim(), format!("{IQN} {portal},1"));

    let out = iser_ok(&["ls", &format!("iscsi://{portal}/{IQN}")]);
    assert!(out.contains("LUN 0: raid IET Controller"), "{out}");
    assert!(out.contains("LUN 1: disk IET VIRTUAL-DISK"), "{out}");
    assert!(out.contains("131072 blocks x 512 = 64.0 MiB"), "{out}");
    assert!(out.contains("serial: beaf11"), "{out}");
    assert!(out.contains("id: naa."), "{out}");

    data_path_checks("tgt", &format!("iscsi://{portal}/{IQN}/1"));

    let err = iser_fails(&["read", &format!("iscsi://{portal}/{IQN}/4"), "/dev/null"]);
    assert!(
        err.contains("LUN 4 does not exist on iqn.2026-01.test:lun (LUNs: 0, 1)"),
        "{err}"
    );
    let err = iser_fails(&["ls", &format!("iscsi://{portal}/iqn.2026-01.test:nope")]);
    assert!(err.contains("refused by the target"), "{err}");
    tgt.stop();
}
