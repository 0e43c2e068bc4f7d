//! The subcommands other than `bench`: `discover`, `ls`, `read`, `write`, `verify`.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use crate::link::iser::ISER_MAX_IO;
use crate::scsi;
use crate::session::{Error, IoReq, Job, Options, Session};
use crate::url::{TargetUrl, Transport};
use crate::util::{human_bytes, Progress, Rng};

/// Takes the transport and CHAP credentials from the URL.
pub fn prepare(url: &TargetUrl, opts: &Options) -> Result<Options, Error> {
    let mut o = opts.clone();
    o.transport = url.transport;
    if url.chap.is_some() {
        o.chap = url.chap.clone();
    }
    if o.mutual.is_some() && o.chap.is_none() {
        return Err(Error::Other(
            "mutual CHAP (--target-user/--target-secret) needs user%secret@ in the URL".into(),
        ));
    }
    Ok(o)
}

fn need_target(url: &TargetUrl) -> Result<&str, Error> {
    url.target.as_deref().ok_or_else(|| {
        Error::Other("the URL names no target: iscsi://host[:port]/target-iqn/lun".into())
    })
}

fn need_lun(url: &TargetUrl) -> Result<u16, Error> {
    url.lun.ok_or_else(|| {
        Error::Other("the URL names no LUN: iscsi://host[:port]/target-iqn/lun".into())
    })
}

/// Opens a session to the URL's target and its LUN: (session, lun, blocks, block length).
pub fn open_lun(url: &TargetUrl, opts: &Options) -> Result<(Session, u16, u64, u32), Error> {
    let opts = prepare(url, opts)?;
    let target = need_target(url)?;
    let lun = need_lun(url)?;
    let mut s = Session::open(&url.portal(), Some(target), &opts)?;
    let (blocks, block_len) = s.open_lun(lun)?;
    Ok((s, lun, blocks, block_len))
}

/// `discover <portal>`: SendTargets=All in a discovery session.
pub fn discover(url: &TargetUrl, opts: &Options) -> Result<Vec<(String, Option<String>)>, Error> {
    let opts = prepare(url, opts)?;
    let mut s = Session::open(&url.portal(), None, &opts)?;
    let entries = s.send_targets()?;
    s.logout()?;
    Ok(entries)
}

pub fn print_discovery(entries: &[(String, Option<String>)]) {
    for (name, addr) in entries {
        match addr {
            Some(a) => println!("{name} {a}"),
            None => println!("{name}"),
        }
    }
}

/// `ls <url>`: LUNs with capacity and identifiers, for one target or every discovered one.
pub fn ls(url: &TargetUrl, opts: &Options) -> Result<(), Error> {
    let opts = prepare(url, opts)?;
    let targets: Vec<String> = match &url.target {
        Some(t) => vec![t.clone()],
        None => {
            let mut names: Vec<String> =
                discover(url, &opts)?.into_iter().map(|(n, _)| n).collect();
            names.dedup();
            names
        }
    };
    for (i, t) in targets.iter().enumerate() {
        if i > 0 {
            println!();
        }
        let mut s = Session::open(&url.portal(), Some(t), &opts)?;
        println!("{t}");
        let luns = match url.lun {
            Some(l) => vec![l],
            None => s.report_luns()?,
        };
        for lun in luns {
            ls_lun(&mut s, lun)?;
        }
        s.logout()?;
    }
    Ok(())
}

fn ls_lun(s: &mut Session, lun: u16) -> Result<(), Error> {
    let (blocks, block_len) = match s.open_lun(lun) {
        Ok(c) => (Some(c.0), c.1),
        Err(e @ Error::LunMissing { .. }) => return Err(e),
        // Not a block device, or not ready: list what INQUIRY says.
        Err(_) => (None, 0),
    };
    let std_data = s.command_ok("INQUIRY", lun, &scsi::inquiry(None, 96), 96)?;
    let inq = scsi::parse_inquiry(&std_data).unwrap_or_default();
    let capacity = match blocks {
        Some(b) => format!(
            ", {b} blocks x {block_len} = {}",
            human_bytes(b.saturating_mul(u64::from(block_len)))
        ),
        None => String::new(),
    };
    println!(
        "  LUN {lun}: {} {} {} {}{capacity}",
        scsi::device_type_name(inq.device_type),
        inq.vendor,
        inq.product,
        inq.revision
    );
    if let Ok(d) = s.command_ok("INQUIRY VPD 80h", lun, &scsi::inquiry(Some(0x80), 255), 255) {
        if let Some(serial) = scsi::parse_unit_serial(&d).filter(|x| !x.is_empty()) {
            println!("    serial: {serial}");
        }
    }
    if let Ok(d) = s.command_ok(
        "INQUIRY VPD 83h",
        lun,
        &scsi::inquiry(Some(0x83), 1024),
        1024,
    ) {
        for id in scsi::parse_device_identification(&d) {
            println!("    id: {id}");
        }
    }
    Ok(())
}

/// Sequential chunks of a range, for `read` and `write`.
struct Sequential<'f> {
    file: &'f File,
    write: bool,
    next_lba: u64,
    end_lba: u64,
    chunk_blocks: u32,
    block_len: u32,
    /// Bytes of the file (writes: what exists; the rest of the last block is zeros).
    file_len: u64,
    progress: Progress,
    error: Option<std::io::Error>,
}

impl Job for Sequential<'_> {
    fn next(&mut self, buf: &mut Vec<u8>) -> Option<IoReq> {
        if self.next_lba >= self.end_lba || self.error.is_some() {
            return None;
        }
        let blocks = (self.end_lba - self.next_lba).min(u64::from(self.chunk_blocks)) as u32;
        let req = IoReq {
            write: self.write,
            lba: self.next_lba,
            blocks,
            tag: 0,
        };
        self.next_lba += u64::from(blocks);
        if self.write {
            let at = req.lba * u64::from(self.block_len);
            let len = blocks as usize * self.block_len as usize;
            buf.resize(len, 0);
            let have = self.file_len.saturating_sub(at).min(len as u64) as usize;
            if let Err(e) = self.file.read_exact_at(&mut buf[..have], at) {
                self.error = Some(e);
            }
            buf[have..].fill(0);
        }
        Some(req)
    }

    fn complete(&mut self, req: &IoReq, data: &[u8], _latency: Duration) -> Result<(), Error> {
        let at = req.lba * u64::from(self.block_len);
        if !self.write {
            self.file.write_all_at(data, at).map_err(|e| Error::Io {
                verb: "write to the output file",
                source: e,
            })?;
        }
        self.progress
            .add(u64::from(req.blocks) * u64::from(self.block_len));
        Ok(())
    }
}

/// `read <url> <file>`: the whole LUN into a file.
pub fn read(url: &TargetUrl, path: &str, bs: u64, qd: usize, opts: &Options) -> Result<u64, Error> {
    let (mut s, lun, blocks, block_len) = open_lun(url, opts)?;
    let file = File::create(path).map_err(|e| Error::Io {
        verb: "create the output file",
        source: e,
    })?;
    let total = blocks * u64::from(block_len);
    file.set_len(total).map_err(|e| Error::Io {
        verb: "size the output file",
        source: e,
    })?;
    let mut job = Sequential {
        file: &file,
        write: false,
        next_lba: 0,
        end_lba: blocks,
        chunk_blocks: chunk_blocks(io_size(url, bs), block_len),
        block_len,
        file_len: 0,
        progress: Progress::new("read", total, false),
        error: None,
    };
    s.pipeline(lun, block_len, qd, &mut job)?;
    job.progress.finish();
    s.logout()?;
    Ok(total)
}

/// `write <file> <url>`: a file onto the LUN from LBA 0 (the last block padded with zeros).
pub fn write(
    path: &str,
    url: &TargetUrl,
    bs: u64,
    qd: usize,
    opts: &Options,
) -> Result<u64, Error> {
    let file = File::open(path).map_err(|e| Error::Io {
        verb: "open the input file",
        source: e,
    })?;
    let file_len = file
        .metadata()
        .map_err(|e| Error::Io {
            verb: "stat the input file",
            source: e,
        })?
        .len();
    let (mut s, lun, blocks, block_len) = open_lun(url, opts)?;
    let need = file_len.div_ceil(u64::from(block_len));
    if need > blocks {
        return Err(Error::Other(format!(
            "{path} ({}) does not fit the LUN ({})",
            human_bytes(file_len),
            human_bytes(blocks * u64::from(block_len))
        )));
    }
    let mut job = Sequential {
        file: &file,
        write: true,
        next_lba: 0,
        end_lba: need,
        chunk_blocks: chunk_blocks(io_size(url, bs), block_len),
        block_len,
        file_len,
        progress: Progress::new("write", file_len, false),
        error: None,
    };
    s.pipeline(lun, block_len, qd, &mut job)?;
    job.progress.finish();
    if let Some(e) = job.error {
        return Err(Error::Io {
            verb: "read the input file",
            source: e,
        });
    }
    s.logout()?;
    Ok(file_len)
}

/// The transfer size per command: `bs`, at most [`ISER_MAX_IO`] over iSER.
fn io_size(url: &TargetUrl, bs: u64) -> u64 {
    match url.transport {
        Transport::Iser => bs.min(ISER_MAX_IO),
        Transport::Tcp => bs,
    }
}

fn chunk_blocks(bs: u64, block_len: u32) -> u32 {
    (bs / u64::from(block_len)).clamp(1, 1 << 16) as u32
}

/// What `verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub bytes: u64,
    pub ios: u64,
    pub seed: u64,
    /// LBAs of chunks whose read-back checksum differed.
    pub mismatches: Vec<u64>,
}

/// One chunk of the verify region: where, how long, and the CRC32C of what was written.
#[derive(Clone, Copy, Debug)]
struct Chunk {
    lba: u64,
    blocks: u32,
    crc: u32,
}

struct Verify {
    chunks: Vec<Chunk>,
    order: Vec<usize>,
    at: usize,
    write: bool,
    seed: u64,
    block_len: u32,
    mismatches: Vec<u64>,
    progress: Progress,
}

fn chunk_data(seed: u64, lba: u64, len: usize, buf: &mut Vec<u8>) {
    buf.resize(len, 0);
    Rng::new(seed ^ lba.wrapping_mul(0x2545_f491_4f6c_dd1d)).fill(buf);
}

impl Job for Verify {
    fn next(&mut self, buf: &mut Vec<u8>) -> Option<IoReq> {
        let &i = self.order.get(self.at)?;
        self.at += 1;
        let c = self.chunks[i];
        if self.write {
            chunk_data(
                self.seed,
                c.lba,
                c.blocks as usize * self.block_len as usize,
                buf,
            );
            self.chunks[i].crc = iser_core::wire::crc32c(buf);
        }
        Some(IoReq {
            write: self.write,
            lba: c.lba,
            blocks: c.blocks,
            tag: i as u64,
        })
    }

    fn complete(&mut self, req: &IoReq, data: &[u8], _latency: Duration) -> Result<(), Error> {
        if !self.write {
            let c = self.chunks[req.tag as usize];
            let want = c.blocks as usize * self.block_len as usize;
            if data.len() < want || iser_core::wire::crc32c(&data[..want]) != c.crc {
                self.mismatches.push(c.lba);
            }
        }
        self.progress
            .add(u64::from(req.blocks) * u64::from(self.block_len));
        Ok(())
    }
}

/// `verify <url>`: writes `size` bytes of seeded random data in random chunks and order, reads
/// them back in another order and compares CRC32C checksums.
pub fn verify(
    url: &TargetUrl,
    size: u64,
    max_io: u64,
    qd: usize,
    seed: u64,
    opts: &Options,
) -> Result<VerifyReport, Error> {
    let (mut s, lun, blocks, block_len) = open_lun(url, opts)?;
    let region = (size / u64::from(block_len)).min(blocks);
    if region == 0 {
        return Err(Error::Other(
            "nothing to verify: --size is below one block".into(),
        ));
    }
    let max_blocks = chunk_blocks(io_size(url, max_io), block_len);
    let mut rng = Rng::new(seed);
    let mut chunks = Vec::new();
    let mut lba = 0u64;
    while lba < region {
        let n = (1 + rng.below(u64::from(max_blocks))).min(region - lba) as u32;
        chunks.push(Chunk {
            lba,
            blocks: n,
            crc: 0,
        });
        lba += u64::from(n);
    }
    let shuffled = |rng: &mut Rng| {
        let mut o: Vec<usize> = (0..chunks.len()).collect();
        for i in (1..o.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            o.swap(i, j);
        }
        o
    };
    let order = shuffled(&mut rng);
    let total = region * u64::from(block_len);
    let mut job = Verify {
        order,
        chunks: chunks.clone(),
        at: 0,
        write: true,
        seed,
        block_len,
        mismatches: Vec::new(),
        progress: Progress::new("verify: write", total, false),
    };
    s.pipeline(lun, block_len, qd, &mut job)?;
    job.progress.finish();
    job.order = shuffled(&mut rng);
    job.at = 0;
    job.write = false;
    job.progress = Progress::new("verify: read", total, false);
    s.pipeline(lun, block_len, qd, &mut job)?;
    job.progress.finish();
    s.logout()?;
    let mut mismatches = job.mismatches;
    mismatches.sort_unstable();
    Ok(VerifyReport {
        bytes: total,
        ios: 2 * job.chunks.len() as u64,
        seed,
        mismatches,
    })
}
