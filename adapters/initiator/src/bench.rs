//! `bench <url>`: random or sequential reads, writes or a mix at a block size and queue depth for
//! a time, over one or several sessions (one thread each); IOPS, MB/s and latency percentiles.

use std::time::{Duration, Instant};

use crate::commands::open_lun;
use crate::histogram::Histogram;
use crate::session::{Error, IoReq, Job, Options};
use crate::url::TargetUrl;
use crate::util::{Latency, Rng};

/// The access pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Rw {
    Randread,
    Randwrite,
    Read,
    Write,
    Randrw,
}

impl Rw {
    pub fn name(self) -> &'static str {
        match self {
            Rw::Randread => "randread",
            Rw::Randwrite => "randwrite",
            Rw::Read => "read",
            Rw::Write => "write",
            Rw::Randrw => "randrw",
        }
    }

    fn random(self) -> bool {
        matches!(self, Rw::Randread | Rw::Randwrite | Rw::Randrw)
    }
}

/// What to run.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub rw: Rw,
    pub bs: u64,
    pub qd: usize,
    pub time: Duration,
    pub sessions: usize,
    /// Bytes of the LUN to use (0: all).
    pub size: u64,
    /// Percentage of reads for `randrw`.
    pub read_pct: u8,
    pub seed: u64,
}

/// What one run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub ios: u64,
    pub bytes: u64,
    pub reads: u64,
    pub writes: u64,
    pub seconds: f64,
    pub iops: f64,
    pub mb_per_s: f64,
    pub lat_us: Latency,
    /// Every I/O's latency.
    pub histogram: Histogram,
}

struct BenchJob {
    rw: Rw,
    rng: Rng,
    blocks_per_io: u32,
    slots: u64,
    /// Sequential cursor, in I/O units.
    cursor: u64,
    deadline: Instant,
    read_pct: u8,
    pattern: Vec<u8>,
    latencies: Histogram,
    reads: u64,
    writes: u64,
}

impl Job for BenchJob {
    fn next(&mut self, buf: &mut Vec<u8>) -> Option<IoReq> {
        if Instant::now() >= self.deadline {
            return None;
        }
        let slot = if self.rw.random() {
            self.rng.below(self.slots)
        } else {
            let s = self.cursor % self.slots;
            self.cursor += 1;
            s
        };
        let write = match self.rw {
            Rw::Randread | Rw::Read => false,
            Rw::Randwrite | Rw::Write => true,
            Rw::Randrw => self.rng.below(100) >= u64::from(self.read_pct),
        };
        if write {
            buf.clear();
            buf.extend_from_slice(&self.pattern);
        }
        Some(IoReq {
            write,
            lba: slot * u64::from(self.blocks_per_io),
            blocks: self.blocks_per_io,
            tag: 0,
        })
    }

    fn complete(&mut self, req: &IoReq, _data: &[u8], latency: Duration) -> Result<(), Error> {
        self.latencies
            .record(latency.as_micros().min(u128::from(u32::MAX)) as u32);
        if req.write {
            self.writes += 1;
        } else {
            self.reads += 1;
        }
        Ok(())
    }
}

/// Runs the benchmark: every session logs in first, then all start together.
pub fn run(url: &TargetUrl, spec: &Spec, opts: &Options) -> Result<Report, Error> {
    let sessions = spec.sessions.max(1);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(sessions));
    let mut handles = Vec::new();
    for i in 0..sessions {
        let url = url.clone();
        let opts = opts.clone();
        let spec = *spec;
        let barrier = barrier.clone();
        handles.push(std::thread::spawn(
            move || -> Result<(BenchJob, f64), Error> {
                let opened = open_lun(&url, &opts);
                // Everyone waits for everyone, logged in or not, so a failure cannot hang the rest.
                barrier.wait();
                let (mut s, lun, blocks, block_len) = opened?;
                s.host.discard_reads = true;
                let blocks_per_io = (spec.bs / u64::from(block_len)).max(1) as u32;
                let usable = if spec.size == 0 {
                    blocks
                } else {
                    (spec.size / u64::from(block_len)).min(blocks)
                };
                let slots = usable / u64::from(blocks_per_io);
                if slots == 0 {
                    return Err(Error::Other("the LUN is smaller than one I/O".into()));
                }
                let start = Instant::now();
                let mut job = BenchJob {
                    rw: spec.rw,
                    rng: Rng::new(spec.seed ^ (i as u64).wrapping_mul(0x9e37_79b9)),
                    blocks_per_io,
                    slots,
                    cursor: slots * i as u64 / sessions as u64,
                    deadline: start + spec.time,
                    read_pct: spec.read_pct.min(100),
                    pattern: vec![0x5a; (blocks_per_io * block_len) as usize],
                    latencies: Histogram::default(),
                    reads: 0,
                    writes: 0,
                };
                s.pipeline(lun, block_len, spec.qd, &mut job)?;
                let secs = start.elapsed().as_secs_f64();
                s.logout()?;
                Ok((job, secs))
            },
        ));
    }
    let mut all = Histogram::default();
    let (mut reads, mut writes) = (0u64, 0u64);
    let mut seconds = 0f64;
    let mut io_bytes = 0u64;
    let mut first_error = None;
    for h in handles {
        match h.join() {
            Ok(Ok((job, secs))) => {
                reads += job.reads;
                writes += job.writes;
                io_bytes = job.pattern.len() as u64;
                seconds = seconds.max(secs);
                all.merge(&job.latencies);
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(_) => {
                first_error.get_or_insert(Error::Other("a session thread panicked".into()));
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let ios = reads + writes;
    let io_len = if io_bytes > 0 { io_bytes } else { spec.bs };
    let bytes = ios * io_len;
    let seconds = seconds.max(1e-9);
    Ok(Report {
        ios,
        bytes,
        reads,
        writes,
        seconds,
        iops: ios as f64 / seconds,
        mb_per_s: bytes as f64 / seconds / 1e6,
        lat_us: all.summary(),
        histogram: all,
    })
}

/// The report as one JSON object.
pub fn to_json(url: &TargetUrl, spec: &Spec, r: &Report) -> String {
    format!(
        concat!(
            "{{\"target\":\"{}\",\"lun\":{},\"rw\":\"{}\",\"bs\":{},\"qd\":{},\"sessions\":{},",
            "\"seconds\":{:.3},\"ios\":{},\"reads\":{},\"writes\":{},\"bytes\":{},",
            "\"iops\":{:.1},\"mb_per_s\":{:.2},",
            "\"lat_us\":{{\"mean\":{:.1},\"p50\":{},\"p99\":{},\"p99_9\":{},\"max\":{}}},",
            "\"cdf\":[{}]}}"
        ),
        json_escape(url.target.as_deref().unwrap_or("")),
        url.lun.unwrap_or(0),
        spec.rw.name(),
        spec.bs,
        spec.qd,
        spec.sessions,
        r.seconds,
        r.ios,
        r.reads,
        r.writes,
        r.bytes,
        r.iops,
        r.mb_per_s,
        r.lat_us.mean,
        r.lat_us.p50,
        r.lat_us.p99,
        r.lat_us.p999,
        r.lat_us.max,
        cdf_json(&r.histogram)
    )
}

/// `[µs,fraction]` pairs of the latency CDF, comma-separated.
fn cdf_json(h: &Histogram) -> String {
    let points: Vec<String> = h
        .cdf()
        .iter()
        .map(|(us, f)| format!("[{us},{f:.6}]"))
        .collect();
    points.join(",")
}

fn json_escape(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o
}

/// The report as text.
pub fn to_text(spec: &Spec, r: &Report) -> String {
    format!(
        "{} bs={} qd={} sessions={}: {:.0} IOPS, {:.1} MB/s over {:.1} s ({} I/Os)\n\
         latency (us): mean {:.0}, p50 {}, p99 {}, p99.9 {}, max {}",
        spec.rw.name(),
        spec.bs,
        spec.qd,
        spec.sessions,
        r.iops,
        r.mb_per_s,
        r.seconds,
        r.ios,
        r.lat_us.mean,
        r.lat_us.p50,
        r.lat_us.p99,
        r.lat_us.p999,
        r.lat_us.max
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_carries_percentiles_and_the_cdf() {
        let mut h = Histogram::default();
        for v in [10u32, 10, 20, 400] {
            h.record(v);
        }
        let r = Report {
            ios: 4,
            bytes: 16384,
            reads: 4,
            writes: 0,
            seconds: 1.0,
            iops: 4.0,
            mb_per_s: 0.016,
            lat_us: h.summary(),
            histogram: h,
        };
        let spec = Spec {
            rw: Rw::Randread,
            bs: 4096,
            qd: 1,
            time: Duration::from_secs(1),
            sessions: 1,
            size: 0,
            read_pct: 50,
            seed: 1,
        };
        let url = TargetUrl::parse("iscsi://h/iqn.x:y/0").unwrap();
        let j = to_json(&url, &spec, &r);
        assert!(j.contains("\"p50\":10,"), "{j}");
        assert!(j.contains("\"max\":400}"), "{j}");
        assert!(
            j.ends_with("\"cdf\":[[10,0.500000],[20,0.750000],[400,1.000000]]}"),
            "{j}"
        );
    }
}
