//! The `iser` CLI against our own target daemon `iserd` (started on 127.0.0.1:0): discover, ls,
//! write + read + compare, verify, a short bench, CHAP one-way and mutual, and the error messages
//! for a refused login, a missing LUN and an unreachable portal.
// Test code: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod initiator_support;

use std::process::{Command, Stdio};

use initiator_support::*;

const IQN: &str = "iqn.2026-11.rs.iserd:ram0";

fn start(args: &[&str]) -> (Guard, String) {
    let (_, iserd) = bins();
    let mut child = Command::new(iserd)
        .args(["--listen", "127.0.0.1:0", "--log-level", "warn"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let addr = listening_addr(&mut child);
    let guard = Guard { child: Some(child) };
    (guard, addr.expect("iserd did not print its address"))
}

fn stop(mut g: Guard) {
    let mut c = g.child.take().unwrap();
    // SIGTERM to our own child: iserd exits 0 on it.
    let _ = Command::new("kill")
        .args(["-TERM", &c.id().to_string()])
        .status();
    let st = c.wait().unwrap();
    assert!(st.success(), "iserd exited with {st}");
}

#[test]
fn iser_against_iserd() {
    let (g, addr) = start(&["--ram-lun", "16MiB", "--ram-lun", "8MiB"]);
    let out = iser_ok(&["discover", &addr]);
    assert_eq!(out.trim(), format!("{IQN} {addr},1"));

    let out = iser_ok(&["ls", &format!("iscsi://{addr}/{IQN}")]);
    assert!(out.starts_with(IQN), "{out}");
    assert!(out.contains("LUN 0: disk ISER-RS"), "{out}");
    assert!(out.contains("32768 blocks x 512 = 16.0 MiB"), "{out}");
    assert!(out.contains("LUN 1: disk"), "{out}");
    assert!(out.contains("16384 blocks x 512 = 8.0 MiB"), "{out}");
    assert!(out.contains("serial: "), "{out}");
    assert!(out.contains("id: naa.6"), "{out}");
    // Without a target: every discovered one.
    let all = iser_ok(&["ls", &format!("iscsi://{addr}")]);
    assert_eq!(all, out);

    data_path_checks("iserd", &format!("iscsi://{addr}/{IQN}/0"));

    let err = iser_fails(&["ls", &format!("iscsi://{addr}/{IQN}/7")]);
    assert!(
        err.contains("LUN 7 does not exist on iqn.2026-11.rs.iserd:ram0 (LUNs: 0, 1)"),
        "{err}"
    );
    let err = iser_fails(&["ls", &format!("iscsi://{addr}/iqn.2026-11.rs.iserd:nope")]);
    assert!(
        err.contains("refused by the target: initiator error / target not found (status 0x0203)"),
        "{err}"
    );
    // This host has no RDMA (CI hosts never do; the VM harness runs iser:// for real).
    for args in [
        vec!["ls".to_string(), format!("iser://{addr}/{IQN}/0")],
        vec!["discover".to_string(), format!("iser://{addr}")],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = iser_fails(&args);
        assert!(
            err.contains("no RDMA device: iser:// needs one (rdma_create_event_channel: "),
            "{err}"
        );
    }
    stop(g);

    // The portal is gone now.
    let err = iser_fails(&["discover", &addr]);
    assert!(
        err.contains(&format!("cannot connect to portal {addr}")),
        "{err}"
    );
}

#[test]
fn iser_chap_against_iserd() {
    let dir = tmp("iserd-chap");
    let cfg = dir.join("chap.toml");
    std::fs::write(
        &cfg,
        r#"
[[target]]
name = "iqn.2026-11.rs.iserd:chap"
[target.chap]
username = "alice"
secret = "alice-secret-123"
mutual_username = "target"
mutual_secret = "target-secret-456"
[[target.lun]]
ram = "4MiB"
"#,
    )
    .unwrap();
    let (g, addr) = start(&["--config", cfg.to_str().unwrap()]);
    let base = format!("{addr}/iqn.2026-11.rs.iserd:chap");
    let ok = format!("iscsi://alice%alice-secret-123@{base}/0");
    // One-way CHAP.
    let out = iser_ok(&["ls", &ok]);
    assert!(out.contains("LUN 0: disk"), "{out}");
    // Mutual CHAP.
    let out = iser_ok(&[
        "ls",
        &ok,
        "--target-user",
        "target",
        "--target-secret",
        "target-secret-456",
    ]);
    assert!(out.contains("LUN 0: disk"), "{out}");
    // The target proves a secret we do not expect.
    let err = iser_fails(&[
        "ls",
        &ok,
        "--target-user",
        "target",
        "--target-secret",
        "wrong-secret-789",
    ]);
    assert!(
        err.contains("the target failed mutual CHAP authentication"),
        "{err}"
    );
    // Wrong secret, and none at all.
    let err = iser_fails(&["ls", &format!("iscsi://alice%wrong-secret-000@{base}/0")]);
    assert!(
        err.contains("authentication failure (status 0x0201)"),
        "{err}"
    );
    let err = iser_fails(&["ls", &format!("iscsi://{base}/0")]);
    assert!(err.contains("refused by the target"), "{err}");
    stop(g);
}
