//! A running `iserd` for the reliability tools (`durability`, `faults`, `soak`): started from a
//! config text on 127.0.0.1:0, killed by its own PID, watched through `/proc/PID`, and the
//! self-describing block pattern those tools write and check.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use iser_initiator::session::{Error, Options, Session, Status};

/// A daemon this process started.
#[derive(Debug)]
pub struct Iserd {
    child: Option<Child>,
    /// `ADDR:PORT` it listens on.
    pub addr: String,
    /// Its process id.
    pub pid: u32,
}

impl Iserd {
    /// Starts `bin --config <dir>/iserd.toml` with `config`; its log goes to `<dir>/iserd.log`
    /// (appended). Waits up to 10 s for `listening on`.
    pub fn start(bin: &Path, dir: &Path, config: &str) -> Result<Iserd, String> {
        let path = dir.join("iserd.toml");
        std::fs::write(&path, config).map_err(|e| format!("{}: {e}", path.display()))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("iserd.log"))
            .map_err(|e| format!("iserd.log: {e}"))?;
        let mut child = Command::new(bin)
            .arg("--config")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(a) = line.strip_prefix("listening on ") {
                    let _ = tx.send(a.to_owned());
                }
            }
        });
        let mut me = Iserd {
            child: Some(child),
            addr: String::new(),
            pid,
        };
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(a) => me.addr = a,
            Err(_) => {
                me.kill();
                return Err(format!(
                    "iserd did not start; see {}",
                    dir.join("iserd.log").display()
                ));
            }
        }
        Ok(me)
    }

    /// SIGKILL (our own child, by PID) and reap it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; whether it exited 0.
    pub fn stop(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        for _ in 0..200 {
            if let Ok(Some(st)) = c.try_wait() {
                return st.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    /// Open file descriptors (`/proc/PID/fd`).
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid)).map_or(0, |d| d.count())
    }

    /// Threads (`/proc/PID/task`).
    pub fn threads(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/task", self.pid)).map_or(0, |d| d.count())
    }

    /// Resident set size in KiB (`VmRSS` of `/proc/PID/status`).
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(0)
    }
}

impl Drop for Iserd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Login options for the tools: no CHAP, no digests.
pub fn options(initiator: &str, timeout: Duration) -> Options {
    Options {
        initiator_name: initiator.into(),
        chap: None,
        mutual: None,
        header_digest: false,
        data_digest: false,
        timeout,
        transport: iser_initiator::url::Transport::Tcp,
    }
}

/// `iserd` next to this executable's profile directory (`target/<profile>/iserd`), or
/// `ISERD_BIN`.
pub fn default_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("ISERD_BIN") {
        return p.into();
    }
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("iserd")))
        .unwrap_or_else(|| PathBuf::from("iserd"))
}

/// A config with one target `iqn.2026-11.rs.iserd:rel` on 127.0.0.1:0, its LUN 0 described
/// by `lun` (the body of a `[[target.lun]]` table), and extra top-level `limits`.
pub fn config(limits: &str, lun: &str) -> String {
    format!(
        "log_level = \"warn\"\n[[portal]]\nlisten = \"127.0.0.1:0\"\ntransport = \"tcp\"\n\
         [limits]\n{limits}\n[[target]]\nname = \"{TARGET}\"\n[[target.lun]]\n{lun}\n"
    )
}

/// The target of [`config`].
pub const TARGET: &str = "iqn.2026-11.rs.iserd:rel";

/// WRITE(16) (SBC-4 §5.53), with FUA when asked.
pub fn write16(lba: u64, blocks: u32, fua: bool) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0] = 0x8a;
    if fua {
        c[1] = 0x08;
    }
    c[2..10].copy_from_slice(&lba.to_be_bytes());
    c[10..14].copy_from_slice(&blocks.to_be_bytes());
    c
}

/// READ(16) (SBC-4 §5.16).
pub fn read16(lba: u64, blocks: u32) -> [u8; 16] {
    let mut c = write16(lba, blocks, false);
    c[0] = 0x88;
    c
}

/// SYNCHRONIZE CACHE(10) of the whole medium (SBC-4 §5.24).
pub const SYNCHRONIZE_CACHE_10: [u8; 10] = [0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// Runs a command, passing through up to three unit attentions (a restarted target reports
/// POWER ON OCCURRED first); the final status.
pub fn command(
    s: &mut Session,
    cdb: &[u8],
    read_len: u32,
    write: Option<&[u8]>,
) -> Result<(Status, Vec<u8>), Error> {
    let mut last = None;
    for _ in 0..4 {
        let (st, data) = s.command(0, cdb, read_len, write.map(<[u8]>::to_vec))?;
        if !st.is_good() && iser_initiator::scsi::is_unit_attention(&st.sense) {
            last = Some((st, data));
            continue;
        }
        return Ok((st, data));
    }
    last.ok_or_else(|| Error::Other("no status".into()))
}

/// SplitMix64: a tiny deterministic generator for patterns and choices.
#[derive(Clone, Debug)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Fills `block` with the pattern of (`lba`, `generation`): the two as little-endian u64s,
/// then bytes derived from both, so a block names its own content and a torn or misplaced
/// block is seen.
pub fn fill_block(block: &mut [u8], lba: u64, generation: u64) {
    let mut r = SplitMix(lba.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ generation);
    for (i, chunk) in block.chunks_mut(8).enumerate() {
        let v = match i {
            0 => lba,
            1 => generation,
            _ => r.next_u64(),
        };
        let b = v.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
}

/// What a block read back holds: `Some(0)` for never written (all zeros), `Some(g)` for a
/// whole, correctly placed generation `g`, `None` for anything else (torn, misplaced, garbage).
pub fn block_generation(block: &[u8], lba: u64) -> Option<u64> {
    if block.iter().all(|&b| b == 0) {
        return Some(0);
    }
    let word = |i: usize| -> Option<u64> {
        Some(u64::from_le_bytes(
            block.get(i * 8..i * 8 + 8)?.try_into().ok()?,
        ))
    };
    if word(0)? != lba {
        return None;
    }
    let g = word(1)?;
    let mut want = vec![0u8; block.len()];
    fill_block(&mut want, lba, g);
    (want == block).then_some(g)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pattern_round_trips_and_catches_damage() {
        let mut b = vec![0u8; 512];
        assert_eq!(block_generation(&b, 7), Some(0));
        fill_block(&mut b, 7, 42);
        assert_eq!(block_generation(&b, 7), Some(42));
        assert_eq!(block_generation(&b, 8), None);
        b[300] ^= 1;
        assert_eq!(block_generation(&b, 7), None);
        let mut c = vec![0u8; 512];
        fill_block(&mut c, 7, 43);
        b[..256].copy_from_slice(&c[..256]);
        assert_eq!(block_generation(&b, 7), None, "torn block");
    }
}
