//! Soak: many sessions at a queue depth against one RAM LUN of `iserd` for a time, every block
//! written carrying its LBA and a write generation and every read checked against the last
//! write to it; the daemon's RSS sampled every few seconds.
//!
//! Usage: `soak [--secs N] [--sessions S] [--qd Q] [--dir DIR] [--iserd PATH]`
//! (defaults: 60 s, 64 sessions, QD 32). Exits 1 on any mismatch, I/O error or RSS growth.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use host_tests::iserd::{block_generation, config, fill_block, options, Iserd, SplitMix, TARGET};
use iser_initiator::session::{Error, IoReq, Job, Session};

const BLOCK: usize = 512;
/// Blocks per I/O (4 KiB).
const IO_BLOCKS: u32 = 8;
const LUN_BYTES: u64 = 256 << 20;

struct Args {
    secs: u64,
    sessions: u64,
    qd: usize,
    dir: PathBuf,
    iserd: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        secs: 60,
        sessions: 64,
        qd: 32,
        dir: std::env::temp_dir().join(format!("iserd-soak-{}", std::process::id())),
        iserd: host_tests::iserd::default_bin(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().ok_or(format!("{k} needs a value"))?;
        let bad = |_| format!("{k}: bad value {v}");
        match k.as_str() {
            "--secs" => a.secs = v.parse().map_err(bad)?,
            "--sessions" => a.sessions = v.parse::<u64>().map_err(bad)?.clamp(1, 200),
            "--qd" => a.qd = v.parse::<usize>().map_err(bad)?.clamp(1, 128),
            "--dir" => a.dir = v.into(),
            "--iserd" => a.iserd = v.into(),
            _ => return Err(format!("unknown option {k}")),
        }
    }
    Ok(a)
}

/// Totals across sessions.
#[derive(Default)]
struct Totals {
    reads: AtomicU64,
    writes: AtomicU64,
    verified_blocks: AtomicU64,
}

/// One session's I/O over its own region: no two I/Os in flight on one slot, so every read has
/// exactly one right answer.
struct SoakJob {
    rng: SplitMix,
    first_lba: u64,
    /// Generation last acknowledged per slot (0: never written).
    committed: Vec<u64>,
    /// Generation of the write in flight per slot, or `u64::MAX` for a read in flight.
    busy: Vec<Option<u64>>,
    next_generation: u64,
    deadline: Instant,
    totals: Arc<Totals>,
    stop: Arc<AtomicBool>,
}

impl Job for SoakJob {
    fn next(&mut self, buf: &mut Vec<u8>) -> Option<IoReq> {
        if Instant::now() >= self.deadline || self.stop.load(Ordering::Relaxed) {
            return None;
        }
        let slots = self.committed.len() as u64;
        let mut slot = self.rng.below(slots) as usize;
        while self.busy[slot].is_some() {
            slot = (slot + 1) % slots as usize;
        }
        let lba = self.first_lba + slot as u64 * u64::from(IO_BLOCKS);
        let write = self.rng.below(2) == 0;
        if write {
            let g = self.next_generation;
            self.next_generation += 1;
            buf.resize(IO_BLOCKS as usize * BLOCK, 0);
            for (i, b) in buf.chunks_mut(BLOCK).enumerate() {
                fill_block(b, lba + i as u64, g);
            }
            self.busy[slot] = Some(g);
        } else {
            self.busy[slot] = Some(u64::MAX);
        }
        Some(IoReq {
            write,
            lba,
            blocks: IO_BLOCKS,
            tag: slot as u64,
        })
    }

    fn complete(&mut self, req: &IoReq, data: &[u8], _latency: Duration) -> Result<(), Error> {
        let slot = req.tag as usize;
        let in_flight = self.busy[slot].take();
        if req.write {
            self.committed[slot] = in_flight.unwrap_or(0);
            self.totals.writes.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let want = self.committed[slot];
        for (i, b) in data.chunks(BLOCK).enumerate() {
            let lba = req.lba + i as u64;
            let got = block_generation(b, lba);
            if got != Some(want) {
                return Err(Error::Other(format!(
                    "MISMATCH at LBA {lba}: read generation {got:?}, last written {want}"
                )));
            }
        }
        self.totals
            .verified_blocks
            .fetch_add(u64::from(IO_BLOCKS), Ordering::Relaxed);
        self.totals.reads.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn session(
    addr: String,
    index: u64,
    region_blocks: u64,
    qd: usize,
    deadline: Instant,
    totals: Arc<Totals>,
    stop: Arc<AtomicBool>,
) -> Result<(), String> {
    let who = format!("iqn.2026-11.rs.iserd:soak{index}");
    let mut s = Session::open(&addr, Some(TARGET), &options(&who, Duration::from_secs(30)))
        .map_err(|e| format!("{who}: {e}"))?;
    s.open_lun(0).map_err(|e| format!("{who}: {e}"))?;
    let slots = (region_blocks / u64::from(IO_BLOCKS)) as usize;
    let mut job = SoakJob {
        rng: SplitMix(index.wrapping_mul(0x9e37_79b9) ^ 0xc0ffee),
        first_lba: index * region_blocks,
        committed: vec![0; slots],
        busy: vec![None; slots],
        next_generation: 1,
        deadline,
        totals,
        stop: stop.clone(),
    };
    let r = s.pipeline(0, BLOCK as u32, qd, &mut job);
    if r.is_err() {
        stop.store(true, Ordering::Relaxed);
    }
    r.map_err(|e| format!("{who}: {e}"))?;
    s.logout().map_err(|e| format!("{who}: logout: {e}"))
}

fn main() -> std::process::ExitCode {
    match parse_args().and_then(|a| run(&a)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("soak: FAIL: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

fn run(a: &Args) -> Result<(), String> {
    std::fs::create_dir_all(&a.dir).map_err(|e| format!("{}: {e}", a.dir.display()))?;
    let cfg = config(
        &format!(
            "max_sessions = {}\nqueue_depth = {}",
            a.sessions + 4,
            a.qd.max(64)
        ),
        &format!("ram = {LUN_BYTES}"),
    );
    let d = Iserd::start(&a.iserd, &a.dir, &cfg)?;
    let region_blocks = LUN_BYTES / BLOCK as u64 / a.sessions;
    let totals = Arc::new(Totals::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(a.secs);
    println!(
        "soak: {} sessions x QD {} of 4 KiB random 50/50 reads/writes, {} MiB RAM LUN, {} s",
        a.sessions,
        a.qd,
        LUN_BYTES >> 20,
        a.secs
    );
    let workers: Vec<_> = (0..a.sessions)
        .map(|i| {
            let (addr, totals, stop) = (d.addr.clone(), totals.clone(), stop.clone());
            let qd = a.qd;
            std::thread::spawn(move || session(addr, i, region_blocks, qd, deadline, totals, stop))
        })
        .collect();
    let mut samples: Vec<(f64, u64)> = Vec::new();
    let mut last_print = Instant::now();
    while workers.iter().any(|w| !w.is_finished()) {
        std::thread::sleep(Duration::from_millis(200));
        if samples.is_empty() || last_print.elapsed() >= Duration::from_secs(5) {
            let t = started.elapsed().as_secs_f64();
            let rss = d.rss_kib();
            samples.push((t, rss));
            println!(
                "soak: t={t:>5.0} s  RSS {rss} KiB  I/Os {}  verified blocks {}",
                totals.reads.load(Ordering::Relaxed) + totals.writes.load(Ordering::Relaxed),
                totals.verified_blocks.load(Ordering::Relaxed)
            );
            last_print = Instant::now();
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut errors = Vec::new();
    for w in workers {
        match w.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(e),
            Err(_) => errors.push("a session thread panicked".into()),
        }
    }
    let rss_end = d.rss_kib();
    samples.push((elapsed, rss_end));
    let (reads, writes) = (
        totals.reads.load(Ordering::Relaxed),
        totals.writes.load(Ordering::Relaxed),
    );
    let min = samples.iter().map(|s| s.1).min().unwrap_or(0);
    let max = samples.iter().map(|s| s.1).max().unwrap_or(0);
    // After the first quarter (the RAM LUN's chunks are allocated on first write), RSS should
    // stay where it is.
    let settle = samples
        .iter()
        .find(|s| s.0 >= elapsed / 4.0)
        .map_or(rss_end, |s| s.1);
    let late_max = samples
        .iter()
        .filter(|s| s.0 >= elapsed / 4.0)
        .map(|s| s.1)
        .max()
        .unwrap_or(rss_end);
    println!(
        "soak: {:.0} s, {} I/Os ({reads} reads, {writes} writes), {:.0} IOPS, {} blocks \
         verified, {} errors; iserd RSS min {min} KiB, max {max} KiB, after the first quarter \
         {settle} KiB -> max {late_max} KiB, end {rss_end} KiB ({} samples)",
        elapsed,
        reads + writes,
        (reads + writes) as f64 / elapsed,
        totals.verified_blocks.load(Ordering::Relaxed),
        errors.len(),
        samples.len()
    );
    let clean_stop = {
        let mut d = d;
        d.stop()
    };
    if let Some(e) = errors.first() {
        return Err(e.clone());
    }
    if late_max > settle + settle / 10 + 8192 {
        return Err(format!("RSS grew from {settle} KiB to {late_max} KiB"));
    }
    if !clean_stop {
        return Err("iserd did not exit cleanly on SIGTERM".into());
    }
    let _ = std::fs::remove_dir_all(&a.dir);
    Ok(())
}
