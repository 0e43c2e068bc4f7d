//! Durability under SIGKILL: writes random blocks to a file LUN of `iserd` with FUA, or with
//! plain WRITE(16)s followed by SYNCHRONIZE CACHE (SBC-4 §5.24, §5.53), kills the daemon at a
//! random moment, restarts it and checks that every block holds the last write acknowledged as
//! durable, or a later write that had been sent but not acknowledged when the daemon died.
//!
//! Usage: `durability [--rounds N] [--dir DIR] [--iserd PATH] [--seed S] [--threads T]
//! [--inject-loss]`. Exits 1 on any lost or damaged block. `--inject-loss` zeroes one durable
//! block in the backing file after each kill, to show that the check catches a loss.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use host_tests::iserd::{
    block_generation, command, config, fill_block, options, read16, write16, Iserd, SplitMix,
    SYNCHRONIZE_CACHE_10, TARGET,
};
use iser_initiator::session::Session;

const BLOCK: usize = 512;
const LUN_BLOCKS: u64 = 16 << 11; // 16 MiB
const MAX_WRITE_BLOCKS: u64 = 16;

/// What may be in one block.
#[derive(Clone, Debug, Default)]
struct BlockState {
    /// The generation acknowledged as durable (0: never written).
    durable: u64,
    /// Generations sent after it and not (yet) known durable, in order.
    pending: Vec<u64>,
}

#[derive(Default)]
struct Counters {
    fua_writes: AtomicU64,
    synced_writes: AtomicU64,
    syncs: AtomicU64,
}

struct Args {
    rounds: u32,
    dir: PathBuf,
    iserd: PathBuf,
    seed: u64,
    threads: u64,
    inject_loss: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        rounds: 50,
        dir: std::env::temp_dir().join(format!("iserd-durability-{}", std::process::id())),
        iserd: host_tests::iserd::default_bin(),
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
        threads: 4,
        inject_loss: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "--inject-loss" {
            a.inject_loss = true;
            continue;
        }
        let v = it.next().ok_or(format!("{k} needs a value"))?;
        let bad = |_| format!("{k}: bad value {v}");
        match k.as_str() {
            "--rounds" => a.rounds = v.parse().map_err(bad)?,
            "--dir" => a.dir = v.into(),
            "--iserd" => a.iserd = v.into(),
            "--seed" => a.seed = v.parse().map_err(bad)?,
            "--threads" => a.threads = v.parse::<u64>().map_err(bad)?.clamp(1, 16),
            _ => return Err(format!("unknown option {k}")),
        }
    }
    Ok(a)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One writer: its own region of the LUN, one command at a time, until the daemon dies or
/// `stop` is set. Records a generation as pending before sending it and as durable only after
/// GOOD status of a FUA write or of the SYNCHRONIZE CACHE that follows it.
fn writer(
    addr: String,
    region: std::ops::Range<u64>,
    state: Arc<Mutex<Vec<BlockState>>>,
    next_generation: Arc<AtomicU64>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    seed: u64,
) {
    let mut rng = SplitMix(seed);
    let Ok(mut s) = Session::open(
        &addr,
        Some(TARGET),
        &options("iqn.2026-11.rs.iserd:durability", Duration::from_secs(5)),
    ) else {
        return;
    };
    let span = region.end - region.start;
    let mut unsynced: Vec<(u64, u64)> = Vec::new(); // (lba, generation) written without FUA
    while !stop.load(Ordering::Relaxed) {
        let blocks = 1 + rng.below(MAX_WRITE_BLOCKS);
        let lba = region.start + rng.below(span - blocks + 1);
        let generation = next_generation.fetch_add(1, Ordering::Relaxed);
        let fua = rng.below(10) < 7;
        let mut data = vec![0u8; BLOCK * blocks as usize];
        for (i, b) in data.chunks_mut(BLOCK).enumerate() {
            fill_block(b, lba + i as u64, generation);
        }
        {
            let mut st = lock(&state);
            for l in lba..lba + blocks {
                st[l as usize].pending.push(generation);
            }
        }
        let cdb = write16(lba, blocks as u32, fua);
        match command(&mut s, &cdb, 0, Some(&data)) {
            Ok((status, _)) if status.is_good() => {}
            _ => return,
        }
        if fua {
            let mut st = lock(&state);
            for l in lba..lba + blocks {
                let b = &mut st[l as usize];
                b.durable = generation;
                b.pending.clear();
            }
            counters.fua_writes.fetch_add(1, Ordering::Relaxed);
        } else {
            unsynced.extend((lba..lba + blocks).map(|l| (l, generation)));
        }
        if !unsynced.is_empty() && (rng.below(4) == 0 || stop.load(Ordering::Relaxed)) {
            match command(&mut s, &SYNCHRONIZE_CACHE_10, 0, None) {
                Ok((status, _)) if status.is_good() => {}
                _ => return,
            }
            let mut st = lock(&state);
            for &(l, g) in &unsynced {
                let b = &mut st[l as usize];
                // A later FUA write may already have made a newer generation durable.
                if g >= b.durable {
                    b.durable = g;
                    b.pending.retain(|&p| p > g);
                }
            }
            counters
                .synced_writes
                .fetch_add(unsynced.len() as u64, Ordering::Relaxed);
            counters.syncs.fetch_add(1, Ordering::Relaxed);
            unsynced.clear();
        }
    }
}

/// Reads the whole LUN and checks each block against its state; afterwards the state is what
/// was found. Returns (blocks checked, pending generations found landed, failures).
fn verify(addr: &str, state: &mut [BlockState]) -> Result<(u64, u64, u64), String> {
    let mut s = Session::open(
        addr,
        Some(TARGET),
        &options("iqn.2026-11.rs.iserd:verify", Duration::from_secs(10)),
    )
    .map_err(|e| format!("verify login: {e}"))?;
    let chunk: u64 = 2048;
    let (mut checked, mut landed, mut failures) = (0, 0, 0);
    for start in (0..LUN_BLOCKS).step_by(chunk as usize) {
        let n = chunk.min(LUN_BLOCKS - start);
        let (st, data) = command(
            &mut s,
            &read16(start, n as u32),
            (n as usize * BLOCK) as u32,
            None,
        )
        .map_err(|e| format!("verify read at {start}: {e}"))?;
        if !st.is_good() || data.len() != n as usize * BLOCK {
            return Err(format!("verify read at {start}: status {:?}", st.status));
        }
        for (i, block) in data.chunks(BLOCK).enumerate() {
            let lba = start + i as u64;
            let b = &mut state[lba as usize];
            checked += 1;
            match block_generation(block, lba) {
                Some(g) if g == b.durable => {}
                Some(g) if b.pending.contains(&g) => {
                    landed += 1;
                    b.durable = g;
                }
                found => {
                    failures += 1;
                    if failures <= 10 {
                        eprintln!(
                            "LOST: LBA {lba} holds {found:?}; durable {}, pending {:?}",
                            b.durable, b.pending
                        );
                    }
                    // Report each loss once: what was found is the baseline from now on.
                    if let Some(g) = found {
                        b.durable = g;
                    }
                }
            }
            b.pending.clear();
        }
    }
    let _ = s.logout();
    Ok((checked, landed, failures))
}

/// Zeroes the first block that holds a durable generation, behind the daemon's back.
fn inject_loss(image: &std::path::Path, state: &[BlockState]) -> Result<(), String> {
    use std::os::unix::fs::FileExt;
    let Some(lba) = state.iter().position(|b| b.durable != 0) else {
        return Ok(());
    };
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(image)
        .map_err(|e| format!("{}: {e}", image.display()))?;
    f.write_all_at(&[0u8; BLOCK], (lba * BLOCK) as u64)
        .map_err(|e| format!("inject loss: {e}"))
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("durability: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(0) => std::process::ExitCode::SUCCESS,
        Ok(_) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("durability: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

fn run(args: &Args) -> Result<u64, String> {
    let _ = std::fs::remove_dir_all(&args.dir);
    std::fs::create_dir_all(&args.dir).map_err(|e| format!("{}: {e}", args.dir.display()))?;
    let image = args.dir.join("lun.img");
    let cfg = config(
        "",
        &format!(
            "file = \"{}\"\nsize = {}",
            image.display(),
            LUN_BLOCKS * BLOCK as u64
        ),
    );
    println!(
        "durability: {} rounds, {} writer sessions, {} MiB file LUN, seed {}",
        args.rounds,
        args.threads,
        (LUN_BLOCKS * BLOCK as u64) >> 20,
        args.seed
    );
    let started = Instant::now();
    let mut rng = SplitMix(args.seed);
    let state = Arc::new(Mutex::new(vec![BlockState::default(); LUN_BLOCKS as usize]));
    let next_generation = Arc::new(AtomicU64::new(1));
    let counters = Arc::new(Counters::default());
    let mut daemon = Iserd::start(&args.iserd, &args.dir, &cfg)?;
    let (mut checked, mut landed, mut failures) = (0u64, 0u64, 0u64);
    let region = LUN_BLOCKS / args.threads;
    for round in 1..=args.rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..args.threads)
            .map(|t| {
                let (addr, state, next, counters, stop) = (
                    daemon.addr.clone(),
                    state.clone(),
                    next_generation.clone(),
                    counters.clone(),
                    stop.clone(),
                );
                let seed = rng.next_u64();
                std::thread::spawn(move || {
                    writer(
                        addr,
                        t * region..(t + 1) * region,
                        state,
                        next,
                        counters,
                        stop,
                        seed,
                    )
                })
            })
            .collect();
        // The kill lands at a random moment of the writers' run.
        std::thread::sleep(Duration::from_millis(100 + rng.below(500)));
        daemon.kill();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            let _ = w.join();
        }
        if args.inject_loss {
            inject_loss(&image, &lock(&state))?;
        }
        daemon = Iserd::start(&args.iserd, &args.dir, &cfg)?;
        let (c, l, f) = verify(&daemon.addr, &mut lock(&state))?;
        checked += c;
        landed += l;
        failures += f;
        if f > 0 {
            eprintln!("round {round}: {f} block(s) lost or damaged");
        }
    }
    daemon.stop();
    let fua = counters.fua_writes.load(Ordering::Relaxed);
    let synced = counters.synced_writes.load(Ordering::Relaxed);
    println!(
        "durability: rounds {} (SIGKILL + restart each), writes sent {}, acknowledged FUA \
         writes {fua}, acknowledged SYNCHRONIZE CACHE {} (covering {synced} block writes), \
         blocks verified {checked}, unacknowledged writes found landed {landed}, \
         failures {failures}, {:.1} s",
        args.rounds,
        next_generation.load(Ordering::Relaxed) - 1,
        counters.syncs.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    if failures == 0 {
        let _ = std::fs::remove_dir_all(&args.dir);
    }
    Ok(failures)
}
