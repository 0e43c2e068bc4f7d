//! Shared by the `initiator_*` suites: builds (or finds) the `iser` and `iserd` binaries, runs
//! `iser`, starts and stops the peers (tgt as PEERS.md says; iserd on port 0), temp files.
// Test code: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

pub const TIMEOUT: Duration = Duration::from_secs(60);

fn have(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// Whether every tool is installed; prints a skip notice when not.
pub fn peer_present(tools: &[&str], what: &str) -> bool {
    let missing: Vec<_> = tools.iter().filter(|t| !have(t)).collect();
    if !missing.is_empty() {
        eprintln!("NOTICE: {what} not installed ({missing:?} missing); skipping");
        return false;
    }
    true
}

/// `<target>/<profile>` of this test executable (`<target>/<profile>/deps/<test>`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// Paths of `iser` and `iserd`: from ISER_BIN / ISERD_BIN, else built once with cargo into this
/// test's target directory.
pub fn bins() -> &'static (PathBuf, PathBuf) {
    static BINS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BINS.get_or_init(|| {
        if let (Some(a), Some(b)) = (std::env::var_os("ISER_BIN"), std::env::var_os("ISERD_BIN")) {
            return (a.into(), b.into());
        }
        let dir = profile_dir();
        let profile = dir.file_name().unwrap().to_str().unwrap().to_string();
        let target_dir = dir.parent().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(root)
            .args([
                "build",
                "-q",
                "-p",
                "iser-initiator",
                "-p",
                "iserd",
                "--bins",
            ])
            .arg("--target-dir")
            .arg(target_dir);
        if profile == "release" {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("run cargo build");
        assert!(st.success(), "cargo build of iser and iserd failed");
        (dir.join("iser"), dir.join("iserd"))
    })
}

/// A scratch directory for this suite.
pub fn tmp(suite: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(suite);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `iser` with `args` (and a bounded timeout); returns its output.
pub fn iser(args: &[&str]) -> Output {
    let (bin, _) = bins();
    let mut child = Command::new(bin)
        .args(["--timeout", "20s"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            panic!("iser {args:?} did not finish in {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

/// Runs `iser` and insists on success; returns stdout.
pub fn iser_ok(args: &[&str]) -> String {
    let o = iser(args);
    assert!(
        o.status.success(),
        "iser {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Runs `iser`, insists on failure with exit status 1; returns stderr.
pub fn iser_fails(args: &[&str]) -> String {
    let o = iser(args);
    assert_eq!(
        o.status.code(),
        Some(1),
        "iser {args:?} should fail: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stderr).unwrap()
}

/// A file of `len` pseudo-random bytes.
pub fn random_file(path: &Path, len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let data: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(path, &data).unwrap();
    data
}

/// The write → read → compare round trip, the verify run and the error messages every peer
/// must give the same way. `url` names a LUN of at least 8 MiB.
pub fn data_path_checks(suite: &str, url: &str) {
    let dir = tmp(suite);
    let input = dir.join("in.bin");
    let output = dir.join("out.bin");
    // Not a multiple of the block size: the last block is padded with zeros.
    let data = random_file(&input, 3 * 1024 * 1024 + 1001, 7);
    iser_ok(&[
        "write",
        input.to_str().unwrap(),
        url,
        "--bs",
        "256k",
        "--qd",
        "4",
    ]);
    iser_ok(&[
        "read",
        url,
        output.to_str().unwrap(),
        "--bs",
        "128k",
        "--qd",
        "8",
    ]);
    let back = std::fs::read(&output).unwrap();
    assert!(back.len() >= data.len() + 511);
    assert!(
        back[..data.len()] == data[..],
        "read back differs from what was written"
    );
    let pad_end = data.len().div_ceil(512) * 512;
    assert!(
        back[data.len()..pad_end].iter().all(|&b| b == 0),
        "padding not zero"
    );

    let out = iser_ok(&["verify", url, "--size", "8m", "--seed", "42", "--bs", "64k"]);
    assert!(out.starts_with("verify: OK, 8.0 MiB"), "{out}");
    assert!(out.contains("(seed 42)"), "{out}");

    let out = iser_ok(&[
        "bench", url, "--rw", "randrw", "--qd", "4", "--time", "300ms", "--json",
    ]);
    assert!(out.starts_with('{') && out.contains("\"iops\":"), "{out}");
}

/// Picks a free loopback port at or above `from`.
pub fn free_port(from: u16) -> u16 {
    (from..from + 400)
        .find(|&p| TcpListener::bind(("127.0.0.1", p)).is_ok())
        .expect("no free port")
}

/// A child process killed (by its own PID) if the test ends without stopping it.
pub struct Guard {
    pub child: Option<Child>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Reads `listening on ADDR` from a child's stdout.
pub fn listening_addr(child: &mut Child) -> Option<String> {
    let stdout = child.stdout.take()?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(a) = line.strip_prefix("listening on ") {
                let _ = tx.send(a.trim().to_owned());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20)).ok()
}
