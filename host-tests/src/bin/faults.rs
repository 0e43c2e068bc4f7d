//! Fault injection against a running `iserd` (issue 9): initiators that vanish mid-I/O with a
//! TCP reset, a file LUN whose file system fills up, and a file LUN whose file system starts
//! failing every I/O with EIO. Each mode prints what it injected and checks that nothing leaked
//! (descriptors, threads) and that the other sessions and LUNs carried on.
//!
//! Usage:
//! - `faults reset  --dir DIR [--iserd PATH] [--cycles N]`
//! - `faults enospc --dir DIR --mount MNT [--iserd PATH]` (MNT: a small, empty tmpfs)
//! - `faults eio    --dir DIR --mount MNT [--iserd PATH]` (MNT: an empty ext4 file system; the
//!   tool shuts it down with `EXT4_IOC_SHUTDOWN`, as xfstests' `godown` does)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use host_tests::iserd::{
    block_generation, fill_block, options, read16, write16, Iserd, SplitMix, SYNCHRONIZE_CACHE_10,
    TARGET,
};
use iser_core::scsi::{AdditionalSense, Sense, SenseKey};
use iser_initiator::session::{Session, Status};

const BLOCK: usize = 512;
const INITIATOR: &str = "iqn.2026-11.rs.iserd:faults";

type Result<T> = std::result::Result<T, String>;

struct Args {
    mode: String,
    dir: PathBuf,
    mount: Option<PathBuf>,
    iserd: PathBuf,
    cycles: u32,
}

fn parse_args() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        mode: it
            .next()
            .ok_or("usage: faults reset|enospc|eio --dir DIR ...")?,
        dir: PathBuf::new(),
        mount: None,
        iserd: host_tests::iserd::default_bin(),
        cycles: 300,
    };
    while let Some(k) = it.next() {
        let v = it.next().ok_or(format!("{k} needs a value"))?;
        match k.as_str() {
            "--dir" => a.dir = v.into(),
            "--mount" => a.mount = Some(v.into()),
            "--iserd" => a.iserd = v.into(),
            "--cycles" => a.cycles = v.parse().map_err(|_| format!("--cycles: {v}"))?,
            _ => return Err(format!("unknown option {k}")),
        }
    }
    if a.dir.as_os_str().is_empty() {
        return Err("--dir is required".into());
    }
    Ok(a)
}

fn main() -> std::process::ExitCode {
    let result = parse_args().and_then(|a| {
        std::fs::create_dir_all(&a.dir).map_err(|e| format!("{}: {e}", a.dir.display()))?;
        match a.mode.as_str() {
            "reset" => reset(&a),
            "enospc" => enospc(&a),
            "eio" => eio(&a),
            m => Err(format!("unknown mode {m}")),
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("faults: FAIL: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

/// A target with LUN 0 as given and LUN 1 a RAM disk, for the bystander I/O.
fn two_lun_config(limits: &str, lun0: &str) -> String {
    format!(
        "log_level = \"warn\"\n[[portal]]\nlisten = \"127.0.0.1:0\"\ntransport = \"tcp\"\n\
         [limits]\n{limits}\n[[target]]\nname = \"{TARGET}\"\n[[target.lun]]\n{lun0}\n\
         [[target.lun]]\nram = \"16MiB\"\n"
    )
}

fn open(addr: &str, who: &str) -> Result<Session> {
    Session::open(addr, Some(TARGET), &options(who, Duration::from_secs(10)))
        .map_err(|e| format!("login as {who}: {e}"))
}

/// One command on `lun`, through unit attentions.
fn cmd(
    s: &mut Session,
    lun: u16,
    cdb: &[u8],
    read_len: u32,
    write: Option<&[u8]>,
) -> Result<(Status, Vec<u8>)> {
    for _ in 0..4 {
        let (st, data) = s
            .command(lun, cdb, read_len, write.map(<[u8]>::to_vec))
            .map_err(|e| format!("command {:#04x} on LUN {lun}: {e}", cdb[0]))?;
        if !st.is_good() && iser_initiator::scsi::is_unit_attention(&st.sense) {
            continue;
        }
        return Ok((st, data));
    }
    Err("unit attention did not clear".into())
}

/// Writes `blocks` patterned blocks at `lba` of `lun` and reads them back.
fn write_read_check(
    s: &mut Session,
    lun: u16,
    lba: u64,
    blocks: u32,
    generation: u64,
) -> Result<()> {
    let mut data = vec![0u8; blocks as usize * BLOCK];
    for (i, b) in data.chunks_mut(BLOCK).enumerate() {
        fill_block(b, lba + i as u64, generation);
    }
    let (st, _) = cmd(s, lun, &write16(lba, blocks, false), 0, Some(&data))?;
    if !st.is_good() {
        return Err(format!(
            "WRITE(16) LUN {lun} LBA {lba}: {}",
            iser_initiator::scsi::describe_sense(&st.sense)
        ));
    }
    let (st, back) = cmd(s, lun, &read16(lba, blocks), data.len() as u32, None)?;
    if !st.is_good() || back != data {
        return Err(format!("LUN {lun} LBA {lba}: read back differs"));
    }
    Ok(())
}

/// A session doing verified I/O on LUN 1 until stopped: the "other session" that must carry on.
fn bystander(addr: String, stop: Arc<AtomicBool>, ops: Arc<AtomicU64>) -> Result<()> {
    let mut s = open(&addr, "iqn.2026-11.rs.iserd:bystander")?;
    let mut rng = SplitMix(7);
    let mut generation = 1;
    while !stop.load(Ordering::Relaxed) {
        // The upper half of LUN 1 is the bystander's: the sessions under test check blocks
        // of the lower half, and an overlapping write in between would fail their read-back.
        let lba = 16384 + rng.below(16384 - 64);
        write_read_check(&mut s, 1, lba, 64, generation)?;
        generation += 1;
        ops.fetch_add(1, Ordering::Relaxed);
    }
    s.logout().map_err(|e| format!("bystander logout: {e}"))
}

fn sense_of(st: &Status) -> Option<Sense> {
    Sense::parse(&st.sense)
}

// ---- (a) initiators vanishing mid-I/O ----

/// A bare connection that logs in with raw PDUs (RFC 7143 §11.12) so that it can leave
/// commands and half-sent Data-Out behind, then vanish with a TCP reset.
struct Raw {
    s: TcpStream,
    cmd_sn: u32,
    exp_stat_sn: u32,
    itt: u32,
}

fn be24(n: usize) -> [u8; 3] {
    let b = (n as u32).to_be_bytes();
    [b[1], b[2], b[3]]
}

impl Raw {
    fn connect(addr: &str) -> Result<Raw> {
        let s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        // SO_LINGER {on, 0}: close() sends RST and drops whatever is unsent.
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid socket descriptor and a correctly sized, initialised option value.
        let rc = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                std::ptr::from_ref(&linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(format!("SO_LINGER: {}", std::io::Error::last_os_error()));
        }
        Ok(Raw {
            s,
            cmd_sn: 1,
            exp_stat_sn: 0,
            itt: 1,
        })
    }

    fn send(&mut self, mut bhs: [u8; 48], data: &[u8]) -> Result<()> {
        bhs[5..8].copy_from_slice(&be24(data.len()));
        let mut pdu = bhs.to_vec();
        pdu.extend_from_slice(data);
        pdu.resize(pdu.len().next_multiple_of(4), 0);
        self.s.write_all(&pdu).map_err(|e| format!("send: {e}"))
    }

    /// Reads one PDU; its header.
    fn recv(&mut self) -> Result<[u8; 48]> {
        let mut h = [0u8; 48];
        self.s
            .read_exact(&mut h)
            .map_err(|e| format!("recv: {e}"))?;
        let len = u32::from_be_bytes([0, h[5], h[6], h[7]]) as usize;
        let mut d = vec![0u8; len.next_multiple_of(4)];
        self.s
            .read_exact(&mut d)
            .map_err(|e| format!("recv: {e}"))?;
        Ok(h)
    }

    fn login(&mut self, initiator: &str) -> Result<()> {
        let steps = [
            (
                0x81u8,
                format!(
                    "InitiatorName={initiator}\0TargetName={TARGET}\0SessionType=Normal\0\
                     AuthMethod=None\0"
                ),
            ),
            (
                0x87,
                "InitialR2T=No\0ImmediateData=Yes\0FirstBurstLength=65536\0\
                 MaxBurstLength=262144\0MaxRecvDataSegmentLength=262144\0"
                    .to_owned(),
            ),
            (0x87, String::new()),
            (0x87, String::new()),
        ];
        for (flags, text) in steps {
            let mut h = [0u8; 48];
            h[0] = 0x43;
            h[1] = flags;
            h[8..14].copy_from_slice(&[0x80, 0, 0, 0xfa, 0x17, 0x00]);
            h[24..28].copy_from_slice(&self.cmd_sn.to_be_bytes());
            h[28..32].copy_from_slice(&self.exp_stat_sn.to_be_bytes());
            self.send(h, text.as_bytes())?;
            let r = self.recv()?;
            if r[0] & 0x3f != 0x23 || r[36] != 0 {
                return Err(format!("login refused: {:02x}{:02x}", r[36], r[37]));
            }
            self.exp_stat_sn = u32::from_be_bytes([r[24], r[25], r[26], r[27]]).wrapping_add(1);
            self.cmd_sn = u32::from_be_bytes([r[28], r[29], r[30], r[31]]);
            if r[1] & 0x83 == 0x83 {
                return Ok(());
            }
        }
        Err("login did not reach the full feature phase".into())
    }

    /// A SCSI Command (§11.3): `write` bytes of immediate data, `len` expected.
    fn command(&mut self, cdb: &[u8; 16], write: bool, len: u32, immediate: &[u8]) -> Result<u32> {
        let itt = self.itt;
        self.itt += 1;
        let mut h = [0u8; 48];
        h[0] = 0x01;
        // F only when no unsolicited Data-Out follows; R or W; SIMPLE.
        h[1] = if write { 0x20 } else { 0x80 | 0x40 } | 0x01;
        h[16..20].copy_from_slice(&itt.to_be_bytes());
        h[20..24].copy_from_slice(&len.to_be_bytes());
        h[24..28].copy_from_slice(&self.cmd_sn.to_be_bytes());
        h[28..32].copy_from_slice(&self.exp_stat_sn.to_be_bytes());
        h[32..48].copy_from_slice(cdb);
        self.cmd_sn = self.cmd_sn.wrapping_add(1);
        self.send(h, immediate)?;
        Ok(itt)
    }

    /// An unsolicited Data-Out (§11.7); `cut` sends only the first bytes of the PDU.
    fn data_out(
        &mut self,
        itt: u32,
        data_sn: u32,
        offset: u32,
        data: &[u8],
        last: bool,
        cut: Option<usize>,
    ) -> Result<()> {
        let mut h = [0u8; 48];
        h[0] = 0x05;
        if last {
            h[1] = 0x80;
        }
        h[16..20].copy_from_slice(&itt.to_be_bytes());
        h[20..24].copy_from_slice(&u32::MAX.to_be_bytes());
        h[28..32].copy_from_slice(&self.exp_stat_sn.to_be_bytes());
        h[36..40].copy_from_slice(&data_sn.to_be_bytes());
        h[40..44].copy_from_slice(&offset.to_be_bytes());
        match cut {
            None => self.send(h, data),
            Some(n) => {
                h[5..8].copy_from_slice(&be24(data.len()));
                let mut pdu = h.to_vec();
                pdu.extend_from_slice(data);
                pdu.truncate(n);
                self.s.write_all(&pdu).map_err(|e| format!("send: {e}"))
            }
        }
    }
}

fn wait_for(limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ok()
}

/// What one storm of resets injected.
#[derive(Default)]
struct Storm {
    commands: u64,
    data_outs: u64,
    cut_pdus: u64,
    login_resets: u64,
}

/// `cycles` connections that log in, leave reads, writes and Data-Out outstanding (some cut
/// mid-PDU, some mid-login) and vanish with a TCP reset.
fn storm(addr: &str, cycles: u32, rng: &mut SplitMix, n: &mut Storm) -> Result<()> {
    let chunk = vec![0xa5u8; 8192];
    for cycle in 0..cycles {
        let mut c = Raw::connect(addr)?;
        if cycle % 10 == 9 {
            // Vanish mid-login: half a Login Request.
            let _ = c.s.write_all(&[0x43, 0x81, 0, 0, 0, 0, 0x10]);
            n.login_resets += 1;
            drop(c);
            continue;
        }
        c.login(&format!("iqn.2026-11.rs.iserd:vanish{cycle}"))?;
        for _ in 0..1 + rng.below(24) {
            let lba = rng.below(65536 - 128);
            if rng.below(2) == 0 {
                c.command(&read16(lba, 128), false, 65536, &[])?;
            } else {
                // 64 KiB write: 8 KiB immediate, then some of the unsolicited Data-Out.
                let itt = c.command(&write16(lba, 128, false), true, 65536, &chunk)?;
                let pieces = rng.below(7);
                for k in 0..pieces {
                    let offset = 8192 * (1 + k as u32);
                    c.data_out(itt, k as u32, offset, &chunk, offset == 57344, None)?;
                    n.data_outs += 1;
                }
            }
            n.commands += 1;
        }
        if rng.below(2) == 0 {
            // Leave a Data-Out PDU half sent.
            let itt = c.command(&write16(0, 128, false), true, 65536, &chunk)?;
            let cut = 1 + rng.below(48 + 8191) as usize;
            c.data_out(itt, 0, 8192, &chunk, false, Some(cut))?;
            n.commands += 1;
            n.cut_pdus += 1;
        }
        std::thread::sleep(Duration::from_micros(rng.below(3000)));
        drop(c); // RST
    }
    Ok(())
}

fn reset(a: &Args) -> Result<()> {
    let cfg = two_lun_config("initial_r2t = false\nmax_sessions = 16", "ram = \"32MiB\"");
    let d = Iserd::start(&a.iserd, &a.dir, &cfg)?;
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let by = {
        let (addr, stop, ops) = (d.addr.clone(), stop.clone(), ops.clone());
        std::thread::spawn(move || bystander(addr, stop, ops))
    };
    if !wait_for(Duration::from_secs(10), || ops.load(Ordering::Relaxed) > 0) {
        return Err("the bystander session did no I/O".into());
    }
    let (fds0, threads0, rss0) = (d.fds(), d.threads(), d.rss_kib());
    let mut rng = SplitMix(0x5eed);
    let mut n = Storm::default();
    let started = Instant::now();
    // Two halves: the first also fills the RAM LUN's lazily allocated chunks, so RSS after
    // the second shows what the resets themselves kept.
    storm(&d.addr, a.cycles / 2, &mut rng, &mut n)?;
    let rss_half = d.rss_kib();
    storm(&d.addr, a.cycles - a.cycles / 2, &mut rng, &mut n)?;
    let storm = started.elapsed();
    let settled = wait_for(Duration::from_secs(10), || {
        d.fds() <= fds0 && d.threads() <= threads0
    });
    let (fds1, threads1, rss1) = (d.fds(), d.threads(), d.rss_kib());
    stop.store(true, Ordering::Relaxed);
    let by_result = by.join().map_err(|_| "bystander panicked".to_owned())?;
    // A fresh session after the storm.
    let mut s = open(&d.addr, INITIATOR)?;
    write_read_check(&mut s, 0, 1000, 128, 99)?;
    s.logout().map_err(|e| format!("logout: {e}"))?;
    println!(
        "faults reset: {} connections reset (SO_LINGER 0), {} of them mid-login; \
         {} commands and {} Data-Out PDUs outstanding at the resets, \
         {} Data-Out PDUs cut mid-PDU; {:.1} s",
        a.cycles,
        n.login_resets,
        n.commands,
        n.data_outs,
        n.cut_pdus,
        storm.as_secs_f64()
    );
    println!(
        "faults reset: iserd fds {fds0} -> {fds1}, threads {threads0} -> {threads1}, \
         RSS {rss0} -> {rss_half} (half way) -> {rss1} KiB; bystander session {} verified write+read ops meanwhile",
        ops.load(Ordering::Relaxed)
    );
    by_result?;
    if !settled {
        return Err(format!(
            "leak: fds {fds0} -> {fds1}, threads {threads0} -> {threads1}"
        ));
    }
    Ok(())
}

// ---- (b) disk full ----

fn enospc(a: &Args) -> Result<()> {
    let mount = a.mount.as_ref().ok_or("--mount is required")?;
    let image = mount.join("lun.img");
    let cfg = two_lun_config(
        "",
        &format!("file = \"{}\"\nsize = \"64MiB\"", image.display()),
    );
    let d = Iserd::start(&a.iserd, &a.dir, &cfg)?;
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let by = {
        let (addr, stop, ops) = (d.addr.clone(), stop.clone(), ops.clone());
        std::thread::spawn(move || bystander(addr, stop, ops))
    };
    let fds0 = d.fds();
    let mut s = open(&d.addr, INITIATOR)?;
    let (mut good, mut full, mut full_fua, mut full_sync) = (0u64, 0u64, 0u64, 0u64);
    let chunk_blocks: u32 = 2048; // 1 MiB
    let mut written = Vec::new();
    for i in 0..64u64 {
        let lba = i * u64::from(chunk_blocks);
        let mut data = vec![0u8; chunk_blocks as usize * BLOCK];
        for (k, b) in data.chunks_mut(BLOCK).enumerate() {
            fill_block(b, lba + k as u64, 1);
        }
        let fua = i % 2 == 1;
        let (st, _) = cmd(&mut s, 0, &write16(lba, chunk_blocks, fua), 0, Some(&data))?;
        if st.is_good() {
            good += 1;
            written.push(lba);
            continue;
        }
        match sense_of(&st) {
            Some(x)
                if x.key == SenseKey::DATA_PROTECT
                    && x.code == AdditionalSense::SPACE_ALLOCATION_FAILED_WRITE_PROTECT =>
            {
                full += 1;
                if fua {
                    full_fua += 1;
                }
            }
            _ => {
                return Err(format!(
                    "write at LBA {lba} on a full file system: {}",
                    iser_initiator::scsi::describe_sense(&st.sense)
                ))
            }
        }
        // The session carries on: the other LUN and a cache flush answer.
        write_read_check(&mut s, 1, 100 + i, 8, i)?;
        let (st, _) = cmd(&mut s, 0, &SYNCHRONIZE_CACHE_10, 0, None)?;
        if !st.is_good() {
            full_sync += 1;
        }
    }
    // What was acknowledged reads back.
    for &lba in &written {
        let (st, back) = cmd(
            &mut s,
            0,
            &read16(lba, chunk_blocks),
            chunk_blocks * BLOCK as u32,
            None,
        )?;
        let whole = back
            .chunks(BLOCK)
            .enumerate()
            .all(|(k, b)| block_generation(b, lba + k as u64) == Some(1));
        if !st.is_good() || !whole {
            return Err(format!("acknowledged data at LBA {lba} does not read back"));
        }
    }
    s.logout().map_err(|e| format!("logout: {e}"))?;
    let mut s2 = open(&d.addr, "iqn.2026-11.rs.iserd:after-full")?;
    write_read_check(&mut s2, 1, 5000, 16, 5)?;
    s2.logout().map_err(|e| format!("logout: {e}"))?;
    stop.store(true, Ordering::Relaxed);
    by.join().map_err(|_| "bystander panicked".to_owned())??;
    let fds1 = d.fds();
    println!(
        "faults enospc: 64 x 1 MiB writes to a 64 MiB file LUN on a full tmpfs: {good} GOOD, \
         {full} CHECK CONDITION DATA PROTECT / SPACE ALLOCATION FAILED WRITE PROTECT (27/07) \
         ({full_fua} of them FUA), SYNCHRONIZE CACHE after them not GOOD {full_sync}; \
         {} acknowledged MiB read back intact; other LUN and sessions carried on \
         (bystander {} ops); fds {fds0} -> {fds1}",
        written.len(),
        ops.load(Ordering::Relaxed)
    );
    if good == 0 || full == 0 {
        return Err("the file system did not fill part way".into());
    }
    Ok(())
}

// ---- (c) EIO ----

/// `EXT4_IOC_SHUTDOWN` (`_IOR('X', 125, __u32)`) with `EXT4_GOING_FLAGS_NOLOGFLUSH`: every
/// later I/O on the file system fails with EIO.
fn shutdown_ext4(mount: &Path) -> Result<()> {
    let dir = std::fs::File::open(mount).map_err(|e| format!("{}: {e}", mount.display()))?;
    let flags: u32 = 2;
    // SAFETY: a valid descriptor; the ioctl reads one u32 from the pointer.
    let rc = unsafe { libc::ioctl(dir.as_raw_fd(), 0x8004_587d, std::ptr::from_ref(&flags)) };
    if rc != 0 {
        return Err(format!(
            "EXT4_IOC_SHUTDOWN: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

fn eio(a: &Args) -> Result<()> {
    let mount = a.mount.as_ref().ok_or("--mount is required")?;
    let image = mount.join("lun.img");
    let cfg = two_lun_config(
        "",
        &format!("file = \"{}\"\nsize = \"8MiB\"", image.display()),
    );
    let d = Iserd::start(&a.iserd, &a.dir, &cfg)?;
    let mut s = open(&d.addr, INITIATOR)?;
    for i in 0..8 {
        write_read_check(&mut s, 0, i * 64, 64, 1)?;
    }
    let (st, _) = cmd(&mut s, 0, &SYNCHRONIZE_CACHE_10, 0, None)?;
    if !st.is_good() {
        return Err("SYNCHRONIZE CACHE before the fault".into());
    }
    let fds0 = d.fds();
    shutdown_ext4(mount)?;
    let (mut write_errors, mut read_errors, mut sync_errors) = (0u64, 0u64, 0u64);
    let expect = |st: &Status, code: AdditionalSense, what: &str| -> Result<()> {
        match sense_of(st) {
            Some(x) if x.key == SenseKey::MEDIUM_ERROR && x.code == code => Ok(()),
            _ => Err(format!(
                "{what} after EIO: {}",
                iser_initiator::scsi::describe_sense(&st.sense)
            )),
        }
    };
    let data = vec![0x5au8; 64 * BLOCK];
    for i in 0..20u64 {
        let (st, _) = cmd(&mut s, 0, &write16(i * 64, 64, i % 2 == 0), 0, Some(&data))?;
        expect(&st, AdditionalSense::WRITE_ERROR, "WRITE(16)")?;
        write_errors += 1;
        let (st, _) = cmd(&mut s, 0, &read16(i * 64, 64), 64 * BLOCK as u32, None)?;
        expect(&st, AdditionalSense::UNRECOVERED_READ_ERROR, "READ(16)")?;
        read_errors += 1;
        let (st, _) = cmd(&mut s, 0, &SYNCHRONIZE_CACHE_10, 0, None)?;
        expect(&st, AdditionalSense::WRITE_ERROR, "SYNCHRONIZE CACHE")?;
        sync_errors += 1;
        // The same session still serves the healthy LUN.
        write_read_check(&mut s, 1, i * 64, 64, i)?;
    }
    s.logout().map_err(|e| format!("logout: {e}"))?;
    let mut s2 = open(&d.addr, "iqn.2026-11.rs.iserd:after-eio")?;
    write_read_check(&mut s2, 1, 9000, 16, 3)?;
    s2.logout().map_err(|e| format!("logout: {e}"))?;
    let fds1 = d.fds();
    println!(
        "faults eio: ext4 under a file LUN shut down (EXT4_IOC_SHUTDOWN): {write_errors} WRITE(16) \
         -> MEDIUM ERROR / WRITE ERROR (03 0C/00), {read_errors} READ(16) -> MEDIUM ERROR / \
         UNRECOVERED READ ERROR (03 11/00), {sync_errors} SYNCHRONIZE CACHE -> MEDIUM ERROR; \
         the healthy LUN answered every time, a new session logged in; fds {fds0} -> {fds1}"
    );
    drop(d);
    Ok(())
}
