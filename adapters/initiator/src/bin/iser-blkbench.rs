//! `iser-blkbench DEV --rw randread|read|write --bs SIZE --qd N --time SECS`: a small fio stand-in
//! for the VM benchmark (the guest has no fio): N threads each keep one O_DIRECT I/O in flight on
//! a block device (a kernel initiator's disk), for a time. Prints one line:
//! `rw=… bs=… qd=…: IOPS, MB/s, latency p50/p99/p99.9 µs`.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::fs::OpenOptions;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iser_initiator::histogram::Histogram;
use iser_initiator::util::{parse_duration, parse_size, Rng};

/// A page-aligned buffer (O_DIRECT wants aligned memory).
struct Aligned {
    ptr: *mut u8,
    layout: Layout,
}

impl Aligned {
    fn new(len: usize) -> Option<Aligned> {
        let layout = Layout::from_size_align(len.max(4096), 4096).ok()?;
        // SAFETY: non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        (!ptr.is_null()).then_some(Aligned { ptr, layout })
    }

    fn bytes(&mut self, len: usize) -> &mut [u8] {
        // SAFETY: `ptr` owns `layout.size()` zeroed bytes; `len` is at most that (the caller
        // asked for it in `new`), and `&mut self` makes this the only view.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, len.min(self.layout.size())) }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Rw {
    RandRead,
    Read,
    Write,
}

fn run(dev: &str, rw: Rw, bs: u64, qd: usize, time: Duration) -> Result<String, String> {
    let file = OpenOptions::new()
        .read(true)
        .write(rw == Rw::Write)
        .custom_flags(libc::O_DIRECT)
        .open(dev)
        .map_err(|e| format!("{dev}: {e}"))?;
    let size = file
        .metadata()
        .map(|m| m.len())
        .ok()
        .filter(|&l| l > 0)
        .or_else(|| {
            std::fs::read_to_string(format!(
                "/sys/class/block/{}/size",
                dev.trim_start_matches("/dev/")
            ))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(|sectors| sectors * 512)
        })
        .ok_or_else(|| format!("{dev}: unknown size"))?;
    let slots = size / bs;
    if slots == 0 {
        return Err("the device is smaller than one I/O".into());
    }
    let file = Arc::new(file);
    let start = Instant::now();
    let deadline = start + time;
    let mut threads = Vec::new();
    for t in 0..qd {
        let file = file.clone();
        threads.push(std::thread::spawn(move || -> Result<Histogram, String> {
            let mut h = Histogram::default();
            let mut rng = Rng::new(0x5eed ^ t as u64);
            let mut buf = Aligned::new(bs as usize).ok_or("out of memory")?;
            let buf = buf.bytes(bs as usize);
            buf.fill(0x5a);
            // Sequential threads each take every qd-th block.
            let mut next = t as u64;
            while Instant::now() < deadline {
                let slot = match rw {
                    Rw::RandRead => rng.below(slots),
                    _ => {
                        let s = next % slots;
                        next += qd as u64;
                        s
                    }
                };
                let at = slot * bs;
                let t0 = Instant::now();
                let r = if rw == Rw::Write {
                    file.write_at(buf, at)
                } else {
                    file.read_at(buf, at)
                };
                match r {
                    Ok(n) if n as u64 == bs => {}
                    Ok(n) => return Err(format!("short I/O: {n} of {bs} bytes at {at}")),
                    Err(e) => return Err(format!("I/O at {at}: {e}")),
                }
                h.record(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
            }
            Ok(h)
        }));
    }
    let mut all = Histogram::default();
    for t in threads {
        let h = t.join().map_err(|_| "a thread panicked".to_string())??;
        all.merge(&h);
    }
    let secs = start.elapsed().as_secs_f64();
    let l = all.summary();
    let iops = all.len() as f64 / secs;
    Ok(format!(
        "{:.0} IOPS {:.1} MB/s p50 {} p99 {} p99.9 {} us ({} I/Os in {secs:.1} s)",
        iops,
        iops * bs as f64 / 1e6,
        l.p50,
        l.p99,
        l.p999,
        all.len()
    ))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage =
        "usage: iser-blkbench DEV --rw randread|read|write --bs SIZE --qd N --time DURATION";
    let Some(dev) = args.first() else {
        eprintln!("{usage}");
        return ExitCode::FAILURE;
    };
    let (mut rw, mut bs, mut qd, mut time) =
        (Rw::RandRead, 4096u64, 1usize, Duration::from_secs(10));
    let mut it = args.iter().skip(1);
    while let Some(flag) = it.next() {
        let Some(v) = it.next() else {
            eprintln!("{flag} needs a value\n{usage}");
            return ExitCode::FAILURE;
        };
        let ok = match flag.as_str() {
            "--rw" => match v.as_str() {
                "randread" => Some(Rw::RandRead),
                "read" => Some(Rw::Read),
                "write" => Some(Rw::Write),
                _ => None,
            }
            .map(|r| rw = r),
            "--bs" => parse_size(v)
                .ok()
                .filter(|b| *b > 0 && b % 512 == 0)
                .map(|b| bs = b),
            "--qd" => v.parse().ok().filter(|q| *q > 0).map(|q| qd = q),
            "--time" => parse_duration(v).ok().map(|t| time = t),
            _ => None,
        };
        if ok.is_none() {
            eprintln!("bad {flag} {v}\n{usage}");
            return ExitCode::FAILURE;
        }
    }
    match run(dev, rw, bs, qd, time) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("iser-blkbench: {e}");
            ExitCode::FAILURE
        }
    }
}
