//! End to end: start the `iserd` binary on an ephemeral port and talk to it with libiscsi's
//! command-line tools (`iscsi-inq`, `iscsi-readcapacity16`, `iscsi-ls`). Skipped, with a
//! printed notice, when libiscsi-bin is not installed.
// Test code: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(20);

fn have(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

fn libiscsi_present() -> bool {
    let ok = ["iscsi-inq", "iscsi-readcapacity16", "iscsi-ls"]
        .iter()
        .all(|t| have(t));
    if !ok {
        eprintln!("NOTICE: libiscsi-bin (iscsi-inq, iscsi-readcapacity16, iscsi-ls) not installed; skipping");
    }
    ok
}

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("iserd-e2e");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

/// A running daemon; killed (SIGKILL) if the test panics before stopping it.
struct Daemon {
    child: Option<Child>,
    addr: String,
    stderr: mpsc::Receiver<String>,
}

impl Daemon {
    fn start(args: &[&str]) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_iserd"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(a) = line.strip_prefix("listening on ") {
                    let _ = tx.send(a.to_owned());
                }
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let (etx, erx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            let _ = etx.send(s);
        });
        let addr = match rx.recv_timeout(TIMEOUT) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "iserd did not print its address: {}",
                    erx.recv().unwrap_or_default()
                );
            }
        };
        Daemon {
            child: Some(child),
            addr,
            stderr: erx,
        }
    }

    fn url(&self, target: &str, lun: u16) -> String {
        format!("iscsi://{}/{target}/{lun}", self.addr)
    }

    /// SIGTERM, then the exit status and everything logged.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("iserd did not exit after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (
            status,
            self.stderr.recv_timeout(TIMEOUT).unwrap_or_default(),
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs `tool args...` with a time limit.
fn run(tool: &str, args: &[&str]) -> Output {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{tool} {args:?} timed out");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn default_target_answers_inquiry_and_read_capacity() {
    if !libiscsi_present() {
        return;
    }
    let d = Daemon::start(&[]);
    let url = d.url("iqn.2026-11.rs.iserd:ram0", 0);
    let inq = run("iscsi-inq", &[&url]);
    assert!(inq.status.success(), "iscsi-inq failed: {}", text(&inq));
    let out = text(&inq);
    assert!(
        out.contains("Peripheral Device Type:DIRECT_ACCESS"),
        "{out}"
    );
    assert!(out.contains("Product:iserd RAM disk"), "{out}");
    let cap = run("iscsi-readcapacity16", &[&url]);
    assert!(
        cap.status.success(),
        "iscsi-readcapacity16 failed: {}",
        text(&cap)
    );
    let out = text(&cap);
    assert!(out.contains("LOGICAL BLOCK LENGTH IN BYTES:512"), "{out}");
    assert!(out.contains("Total size:67108864"), "{out}");
    let (status, log) = d.stop();
    assert!(status.success(), "exit status {status:?}\n{log}");
    assert!(log.contains("login: iqn."), "{log}");
    assert!(log.contains("logout: iqn."), "{log}");
    assert!(log.contains("SIGTERM: shutting down"), "{log}");
}

#[test]
fn command_line_luns_and_discovery() {
    if !libiscsi_present() {
        return;
    }
    let img = tmp("cli.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(8 << 20)
        .unwrap();
    let name = "iqn.2026-11.rs.iserd:cli";
    let d = Daemon::start(&[
        "--target-name",
        name,
        "--ram-lun",
        "2MiB",
        "--file-lun",
        img.to_str().unwrap(),
    ]);
    let ls = run("iscsi-ls", &["-s", &format!("iscsi://{}", d.addr)]);
    let out = text(&ls);
    assert!(ls.status.success(), "iscsi-ls failed: {out}");
    assert!(
        out.contains(&format!("Target:{name} Portal:{},1", d.addr)),
        "{out}"
    );
    assert!(out.contains("Lun:0") && out.contains("Lun:1"), "{out}");
    let cap = run("iscsi-readcapacity16", &["-s", &d.url(name, 1)]);
    assert!(cap.status.success(), "{}", text(&cap));
    assert_eq!(
        String::from_utf8_lossy(&cap.stdout).trim(),
        (8u64 << 20).to_string()
    );
    let cap = run("iscsi-readcapacity16", &["-s", &d.url(name, 0)]);
    assert_eq!(
        String::from_utf8_lossy(&cap.stdout).trim(),
        (2u64 << 20).to_string()
    );
    let (status, log) = d.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn chap_and_acl_from_a_config_file() {
    if !libiscsi_present() {
        return;
    }
    let cfg = tmp("chap.toml");
    let allowed = "iqn.2026-11.rs.iserd:allowed-initiator";
    std::fs::write(
        &cfg,
        format!(
            r#"
log_level = "info"
[[target]]
name = "iqn.2026-11.rs.iserd:secure"
allowed_initiators = ["{allowed}"]
[target.chap]
username = "alice"
secret = "alice-secret-123"
[[target.lun]]
ram = "4MiB"
"#
        ),
    )
    .unwrap();
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()]);
    let target = "iqn.2026-11.rs.iserd:secure";
    let good = format!("iscsi://alice%alice-secret-123@{}/{target}/0", d.addr);
    let bad = format!("iscsi://alice%wrong-secret-00@{}/{target}/0", d.addr);
    let ok = run("iscsi-readcapacity16", &["-i", allowed, "-s", &good]);
    assert!(ok.status.success(), "CHAP login failed: {}", text(&ok));
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim(),
        (4u64 << 20).to_string()
    );
    let wrong_secret = run("iscsi-readcapacity16", &["-i", allowed, "-s", &bad]);
    assert!(!wrong_secret.status.success(), "wrong CHAP secret accepted");
    let no_chap = run(
        "iscsi-readcapacity16",
        &["-i", allowed, "-s", &d.url(target, 0)],
    );
    assert!(!no_chap.status.success(), "login without CHAP accepted");
    let other = run(
        "iscsi-readcapacity16",
        &["-i", "iqn.2026-11.rs.iserd:someone-else", "-s", &good],
    );
    assert!(
        !other.status.success(),
        "initiator outside the ACL accepted"
    );
    let (status, log) = d.stop();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("access denied: iqn.2026-11.rs.iserd:someone-else"),
        "{log}"
    );
}

#[test]
fn bad_config_exits_2_naming_the_key() {
    let cfg = tmp("bad.toml");
    std::fs::write(
        &cfg,
        "[[target]]\nname = \"iqn.2026-11.rs.iserd:x\"\n[[target.lun]]\nram = \"1000\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_iserd"))
        .args(["--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("target[0].lun[0].ram"),
        "{err}"
    );
}

#[test]
fn help_and_docs_cover_every_option() {
    // `--help` and docs/configuration.md both describe every command-line option.
    let out = Command::new(env!("CARGO_BIN_EXE_iserd"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--config",
        "--listen",
        "--ram-lun",
        "--file-lun",
        "--target-name",
        "--log-level",
    ] {
        assert!(help.contains(opt), "{opt} missing from --help");
    }
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let docs = std::fs::read_to_string(docs).unwrap();
    for opt in [
        "--config",
        "--listen",
        "--ram-lun",
        "--file-lun",
        "--target-name",
        "--log-level",
    ] {
        assert!(
            docs.contains(opt),
            "{opt} missing from docs/configuration.md"
        );
    }
}
