//! `iser`: discover targets, list LUNs, copy between LUNs and files, verify and benchmark, over
//! iSCSI/TCP or iSER (RFC 7145, through the RDMA verbs). URLs as libiscsi takes them:
//! `iscsi://[user%secret@]host[:port]/target-iqn/lun`, `iser://` for iSER.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use iser_initiator::bench::{self, Rw, Spec};
use iser_initiator::commands;
use iser_initiator::session::{Error, Options};
use iser_initiator::url::{TargetUrl, Transport};
use iser_initiator::util::{clock_seed, human_bytes, parse_duration, parse_size};

/// iSCSI and iSER initiator: discover, ls, read, write, verify, bench.
#[derive(Parser, Debug)]
#[command(name = "iser", version, about)]
struct Cli {
    /// Our iSCSI name (InitiatorName).
    #[arg(long, global = true, default_value = "iqn.2026-01.rs.iser:initiator")]
    initiator_name: String,
    /// Mutual CHAP: the name the target must answer with.
    #[arg(long, global = true, requires = "target_secret")]
    target_user: Option<String>,
    /// Mutual CHAP: the secret the target must prove.
    #[arg(long, global = true, requires = "target_user")]
    target_secret: Option<String>,
    /// Offer HeaderDigest=CRC32C.
    #[arg(long, global = true)]
    header_digest: bool,
    /// Offer DataDigest=CRC32C.
    #[arg(long, global = true)]
    data_digest: bool,
    /// Connect, login and command timeout (e.g. 10s, 500ms).
    #[arg(long, global = true, default_value = "15s", value_parser = parse_duration)]
    timeout: Duration,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the targets a portal offers (SendTargets=All).
    Discover {
        /// `host[:port]`, `iscsi://[user%secret@]host[:port]` or `iser://host[:port]`
        portal: String,
    },
    /// List LUNs with type, capacity, serial number and identifiers.
    Ls {
        /// `iscsi://` or `iser://host[:port]/target-iqn[/lun]`; without a target, every
        /// discovered one.
        url: String,
    },
    /// Copy a LUN into a file.
    Read {
        url: String,
        file: String,
        /// Transfer size per command.
        #[arg(long, default_value = "1m", value_parser = parse_size)]
        bs: u64,
        /// Commands in flight.
        #[arg(long, default_value_t = 8)]
        qd: usize,
    },
    /// Copy a file onto a LUN, from block 0 (the last block padded with zeros).
    Write {
        file: String,
        url: String,
        #[arg(long, default_value = "1m", value_parser = parse_size)]
        bs: u64,
        #[arg(long, default_value_t = 8)]
        qd: usize,
    },
    /// Write seeded random data in random chunks, read it back, compare checksums. Destroys data.
    Verify {
        url: String,
        /// Bytes to verify from block 0 (capped at the LUN's size).
        #[arg(long, default_value = "64m", value_parser = parse_size)]
        size: u64,
        /// Seed for data and order (printed, so a failure can be replayed).
        #[arg(long)]
        seed: Option<u64>,
        /// Largest I/O.
        #[arg(long, default_value = "256k", value_parser = parse_size)]
        bs: u64,
        #[arg(long, default_value_t = 16)]
        qd: usize,
    },
    /// Measure IOPS, throughput and latency.
    Bench {
        url: String,
        #[arg(long, value_enum, default_value_t = Rw::Randread)]
        rw: Rw,
        #[arg(long, default_value = "4k", value_parser = parse_size)]
        bs: u64,
        #[arg(long, default_value_t = 1)]
        qd: usize,
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        time: Duration,
        /// Sessions, each on its own connection and thread.
        #[arg(long, default_value_t = 1)]
        sessions: usize,
        /// Bytes of the LUN to spread I/O over (default: all of it).
        #[arg(long, value_parser = parse_size)]
        size: Option<u64>,
        /// Percentage of reads for randrw.
        #[arg(long, default_value_t = 50)]
        rwmixread: u8,
        #[arg(long)]
        seed: Option<u64>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn url(s: &str) -> Result<TargetUrl, Error> {
    TargetUrl::parse(s).map_err(|e| Error::Other(e.to_string()))
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    let opts = Options {
        initiator_name: cli.initiator_name,
        chap: None,
        mutual: cli.target_user.zip(cli.target_secret),
        header_digest: cli.header_digest,
        data_digest: cli.data_digest,
        timeout: cli.timeout,
        transport: Transport::Tcp,
    };
    match cli.command {
        Command::Discover { portal } => {
            let entries = commands::discover(&url(&portal)?, &opts)?;
            commands::print_discovery(&entries);
        }
        Command::Ls { url: u } => commands::ls(&url(&u)?, &opts)?,
        Command::Read {
            url: u,
            file,
            bs,
            qd,
        } => {
            let n = commands::read(&url(&u)?, &file, bs, qd, &opts)?;
            eprintln!("read {} into {file}", human_bytes(n));
        }
        Command::Write {
            file,
            url: u,
            bs,
            qd,
        } => {
            let n = commands::write(&file, &url(&u)?, bs, qd, &opts)?;
            eprintln!("wrote {} from {file}", human_bytes(n));
        }
        Command::Verify {
            url: u,
            size,
            seed,
            bs,
            qd,
        } => {
            let seed = seed.unwrap_or_else(clock_seed);
            let r = commands::verify(&url(&u)?, size, bs, qd, seed, &opts)?;
            if r.mismatches.is_empty() {
                println!(
                    "verify: OK, {} written and read back in {} I/Os (seed {})",
                    human_bytes(r.bytes),
                    r.ios,
                    r.seed
                );
            } else {
                let first: Vec<String> = r.mismatches.iter().take(8).map(u64::to_string).collect();
                println!(
                    "verify: FAILED, {} chunks differ (seed {}); first at LBA {}",
                    r.mismatches.len(),
                    r.seed,
                    first.join(", ")
                );
                return Ok(ExitCode::from(3));
            }
        }
        Command::Bench {
            url: u,
            rw,
            bs,
            qd,
            time,
            sessions,
            size,
            rwmixread,
            seed,
            json,
        } => {
            let u = url(&u)?;
            let spec = Spec {
                rw,
                bs,
                qd,
                time,
                sessions,
                size: size.unwrap_or(0),
                read_pct: rwmixread,
                seed: seed.unwrap_or_else(clock_seed),
            };
            let r = bench::run(&u, &spec, &opts)?;
            if json {
                println!("{}", bench::to_json(&u, &spec, &r));
            } else {
                println!("{}", bench::to_text(&spec, &r));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Log lines on stderr, at the level `ISER_LOG` names (error … trace; warn when unset).
struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            eprintln!("{:5} {}", r.level(), r.args());
        }
    }

    fn flush(&self) {}
}

fn main() -> ExitCode {
    static LOGGER: StderrLog = StderrLog;
    let level = std::env::var("ISER_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(log::LevelFilter::Warn);
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("iser: {e}");
            ExitCode::FAILURE
        }
    }
}
