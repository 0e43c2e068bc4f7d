//! The command line: `iserd [--config FILE] [--listen ADDR:PORT]... [--ram-lun SIZE[,OPT]...]...
//! [--file-lun PATH[,OPT]...]... [--target-name IQN] [--log-level LEVEL]`, and how it combines
//! with the configuration file into one [`Config`].

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use log::LevelFilter;

use crate::config::{self, Config, ConfigError, LunConfig, Target, TransportChoice};
use crate::size::ByteSize;

/// Usage text for `--help`.
pub const USAGE: &str = "\
usage: iserd [OPTIONS]
       iserd firmware-config CONFIG.toml -o BLOB

An iSCSI target (iSER datamover planned; iSCSI/TCP today).

options:
  -c, --config FILE       read the TOML configuration FILE (see docs/configuration.md)
  -l, --listen ADDR:PORT  listen here instead of the configured portals (repeatable;
                          port 0 picks a free port; the bound address is printed
                          on stdout as `listening on ADDR:PORT`)
      --ram-lun SIZE[,OPT...]
                          add a RAM LUN of SIZE (e.g. 64MiB) to the command-line target
      --file-lun PATH[,OPT...]
                          add a LUN backed by the existing file or block device PATH
                          LUN options: thin, read-only, removable, direct,
                          physical=BYTES (physical block size),
                          sanitize-rate=SIZE (bytes/s a background SANITIZE writes)
      --target-name IQN   name of the command-line target (default iqn.2026-11.rs.iserd:ram0)
      --log-level LEVEL   off, error, warn, info (default), debug or trace
      --nop-in-interval SECS
                          idle seconds before a NOP-In ping (0: none; default 30)
      --logout-linger SECS
                          seconds an iSER initiator has to disconnect after its Logout
                          before the target does (0: at once; default 30)
  -h, --help              print this help
  -V, --version           print the version

`firmware-config` validates CONFIG.toml as the daemon would and writes it as the firmware's
configuration blob (RAM LUNs only; see docs/firmware.md).

Without --config the daemon serves one target with the LUNs given on the command line, or a
64 MiB RAM LUN, on 127.0.0.1:3260. With --config, --target-name/--ram-lun/--file-lun add one
more target to the file's targets.
";

/// A LUN given on the command line, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CliLun {
    /// `--ram-lun SIZE[,OPT]...`.
    Ram(ByteSize, LunOptions),
    /// `--file-lun PATH[,OPT]...`.
    File(PathBuf, LunOptions),
}

/// The `,thin`, `,read-only`, `,removable` and `,physical=BYTES` suffixes of a command-line
/// LUN.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LunOptions {
    /// `thin`.
    pub thin: bool,
    /// `read-only`.
    pub read_only: bool,
    /// `removable`.
    pub removable: bool,
    /// `direct` (file LUNs: O_DIRECT).
    pub direct: bool,
    /// `physical=BYTES`: the physical block size reported.
    pub physical_block_size: Option<u32>,
    /// `sanitize-rate=SIZE`: bytes per second a background SANITIZE writes.
    pub sanitize_rate: Option<ByteSize>,
}

/// Splits `VALUE,OPT,...` into the value and its LUN options.
fn lun_spec<'a>(spec: &'a str, what: &str) -> Result<(&'a str, LunOptions), String> {
    let mut parts = spec.split(',');
    let value = parts.next().unwrap_or_default();
    let mut o = LunOptions::default();
    for opt in parts {
        match opt {
            "thin" => o.thin = true,
            "read-only" => o.read_only = true,
            "removable" => o.removable = true,
            "direct" => o.direct = true,
            other => {
                if let Some(n) = other.strip_prefix("physical=") {
                    o.physical_block_size = Some(
                        n.parse()
                            .map_err(|_| format!("{what}: physical={n:?} is not a number"))?,
                    );
                } else if let Some(r) = other.strip_prefix("sanitize-rate=") {
                    let rate: ByteSize = r
                        .parse()
                        .map_err(|e| format!("{what}: sanitize-rate={r:?}: {e}"))?;
                    if rate.0 == 0 {
                        return Err(format!("{what}: sanitize-rate must be above 0"));
                    }
                    o.sanitize_rate = Some(rate);
                } else {
                    return Err(format!(
                        "{what}: unknown LUN option {other:?} (thin, read-only, removable, \
                         direct, physical=BYTES, sanitize-rate=SIZE)"
                    ));
                }
            }
        }
    }
    Ok((value, o))
}

/// Parsed command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--listen ADDR:PORT`, each.
    pub listen: Vec<String>,
    /// `--ram-lun` / `--file-lun`, in order.
    pub luns: Vec<CliLun>,
    /// `--target-name IQN`.
    pub target_name: Option<String>,
    /// `--log-level LEVEL`.
    pub log_level: Option<String>,
    /// `--nop-in-interval SECS` (0: no pings).
    pub nop_in_interval: Option<u64>,
    /// `--logout-linger SECS`: overrides `[limits] logout_linger`.
    pub logout_linger: Option<u64>,
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the daemon.
    Run(Options),
    /// Print usage.
    Help,
    /// Print the version.
    Version,
    /// `firmware-config INPUT -o OUTPUT`: write the firmware blob of a TOML configuration.
    FirmwareConfig {
        /// The TOML file.
        input: PathBuf,
        /// Where the blob goes.
        output: PathBuf,
    },
}

/// Parses arguments (without the program name).
pub fn parse_args<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    use lexopt::prelude::*;
    let mut args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    if args.first().is_some_and(|a| a == "firmware-config") {
        args.remove(0);
        return parse_firmware_config(args);
    }
    let mut p = lexopt::Parser::from_args(args);
    let mut o = Options::default();
    let text = |v: OsString, what: &str| -> Result<String, String> {
        v.into_string()
            .map_err(|v| format!("{what}: not valid UTF-8: {v:?}"))
    };
    let seconds = |v: OsString, what: &str| -> Result<u64, String> {
        let v = text(v, what)?;
        v.parse()
            .map_err(|_| format!("{what}: {v:?} is not a number of seconds"))
    };
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Short('c') | Long("config") => {
                o.config = Some(PathBuf::from(p.value().map_err(|e| e.to_string())?));
            }
            Short('l') | Long("listen") => {
                o.listen
                    .push(text(p.value().map_err(|e| e.to_string())?, "--listen")?);
            }
            Long("ram-lun") => {
                let v = text(p.value().map_err(|e| e.to_string())?, "--ram-lun")?;
                let (v, opts) = lun_spec(&v, "--ram-lun")?;
                let size = v
                    .parse::<ByteSize>()
                    .map_err(|e| format!("--ram-lun: {e}"))?;
                o.luns.push(CliLun::Ram(size, opts));
            }
            Long("file-lun") => {
                let v = text(p.value().map_err(|e| e.to_string())?, "--file-lun")?;
                let (v, opts) = lun_spec(&v, "--file-lun")?;
                o.luns.push(CliLun::File(PathBuf::from(v), opts));
            }
            Long("target-name") => {
                o.target_name = Some(text(
                    p.value().map_err(|e| e.to_string())?,
                    "--target-name",
                )?);
            }
            Long("log-level") => {
                o.log_level = Some(text(p.value().map_err(|e| e.to_string())?, "--log-level")?);
            }
            Long("nop-in-interval") => {
                let v = p.value().map_err(|e| e.to_string())?;
                o.nop_in_interval = Some(seconds(v, "--nop-in-interval")?);
            }
            Long("logout-linger") => {
                let v = p.value().map_err(|e| e.to_string())?;
                o.logout_linger = Some(seconds(v, "--logout-linger")?);
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(Command::Run(o))
}

/// The arguments of `firmware-config`: one input file and `-o OUTPUT`.
fn parse_firmware_config(args: Vec<OsString>) -> Result<Command, String> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let (mut input, mut output) = (None, None);
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('o') | Long("output") => {
                output = Some(PathBuf::from(p.value().map_err(|e| e.to_string())?));
            }
            Value(v) if input.is_none() => input = Some(PathBuf::from(v)),
            other => return Err(other.unexpected().to_string()),
        }
    }
    match (input, output) {
        (Some(input), Some(output)) => Ok(Command::FirmwareConfig { input, output }),
        (None, _) => Err("firmware-config: missing the TOML configuration file".into()),
        (_, None) => Err("firmware-config: missing -o OUTPUT".into()),
    }
}

impl Options {
    /// The configuration these options describe: the file's (or the built-in one), with the
    /// command line's portals, target and log level applied.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let cli = "<command line>";
        let err = |key: &str, message: String| ConfigError {
            origin: cli.to_owned(),
            key: key.to_owned(),
            message,
        };
        let has_cli_target = self.target_name.is_some() || !self.luns.is_empty();
        let mut config = match &self.config {
            Some(path) => config::Config::load(path)?,
            None => {
                let mut c = Config::builtin();
                if has_cli_target {
                    c.targets.clear();
                }
                c
            }
        };
        if has_cli_target {
            let name = self
                .target_name
                .clone()
                .unwrap_or_else(|| config::DEFAULT_TARGET_NAME.to_owned());
            config::check_iscsi_name(&name).map_err(|m| err("--target-name", m))?;
            let mut luns = Vec::new();
            for (i, l) in self.luns.iter().enumerate() {
                let id = u16::try_from(i).unwrap_or(u16::MAX);
                let (mut lun, opts) = match l {
                    CliLun::Ram(size, opts) => {
                        if size.0 < 512 || size.0 % 512 != 0 {
                            return Err(err(
                                "--ram-lun",
                                format!("{size} is not a positive multiple of 512 bytes"),
                            ));
                        }
                        (LunConfig::ram(id, size.0), opts)
                    }
                    CliLun::File(path, opts) => (LunConfig::file(id, path.clone()), opts),
                };
                lun.thin = opts.thin;
                lun.read_only = opts.read_only;
                lun.removable = opts.removable;
                lun.direct = opts.direct;
                lun.sanitize_rate = opts.sanitize_rate.map(|r| r.0);
                if let Some(p) = opts.physical_block_size {
                    config::check_physical_block_size(p, lun.block_size)
                        .map_err(|m| err("physical=", m))?;
                    lun.physical_block_size = Some(p);
                }
                luns.push(lun);
            }
            if luns.is_empty() {
                luns.push(LunConfig::ram(0, config::DEFAULT_RAM_LUN.0));
            }
            config.targets.push(Target {
                name,
                alias: None,
                luns,
                allowed_initiators: Vec::new(),
                allowed_addresses: Vec::new(),
                chap: None,
            });
        }
        if !self.listen.is_empty() {
            let mut portals = Vec::new();
            for l in &self.listen {
                let listen = config::parse_listen(l).map_err(|m| err("--listen", m))?;
                portals.push(config::Portal {
                    listen,
                    group_tag: 1,
                    transport: TransportChoice::Auto,
                });
            }
            config.portals = portals;
        }
        if let Some(secs) = self.nop_in_interval {
            config.limits.nop_in_interval = (secs > 0).then(|| Duration::from_secs(secs));
        }
        if let Some(secs) = self.logout_linger {
            config.limits.logout_linger = Duration::from_secs(secs);
        }
        if let Some(level) = &self.log_level {
            config.log_level = config::parse_log_level(level).map_err(|m| err("--log-level", m))?;
        }
        let origin = self
            .config
            .as_ref()
            .map_or_else(|| cli.to_owned(), |p| format!("{} + {cli}", p.display()));
        config.check(&origin)?;
        Ok(config)
    }
}

/// The log level to use before the configuration is read.
pub fn early_log_level(o: &Options) -> LevelFilter {
    o.log_level
        .as_deref()
        .and_then(|l| config::parse_log_level(l).ok())
        .unwrap_or(LevelFilter::Info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Options {
        match parse_args(args.iter().copied()).unwrap() {
            Command::Run(o) => o,
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn no_arguments_is_the_builtin_default() {
        let c = run(&[]).into_config().unwrap();
        assert_eq!(c, Config::builtin());
    }

    #[test]
    fn command_line_target() {
        let c = run(&[
            "--listen",
            "127.0.0.1:0",
            "--ram-lun",
            "1MiB",
            "--file-lun",
            "/tmp/x.img",
            "--target-name",
            "iqn.2026-11.rs.iserd:t",
            "--log-level",
            "debug",
        ])
        .into_config()
        .unwrap();
        assert_eq!(c.portals.len(), 1);
        assert_eq!(c.portals[0].listen.port(), 0);
        assert_eq!(c.targets.len(), 1);
        assert_eq!(c.targets[0].name, "iqn.2026-11.rs.iserd:t");
        assert_eq!(c.targets[0].luns.len(), 2);
        assert_eq!(c.targets[0].luns[1].id, 1);
        assert_eq!(c.log_level, LevelFilter::Debug);
    }

    #[test]
    fn lun_options() {
        let c = run(&[
            "--ram-lun",
            "1MiB,thin,removable,physical=4096",
            "--file-lun",
            "/tmp/x.img,read-only",
        ])
        .into_config()
        .unwrap();
        let l = &c.targets[0].luns;
        assert!(l[0].thin && l[0].removable && !l[0].read_only);
        assert_eq!(l[0].physical_block_size, Some(4096));
        assert_eq!(l[1].physical_block_size, None);
        assert!(l[1].read_only && !l[1].thin);
        assert_eq!(
            l[1].backing,
            config::Backing::File {
                path: "/tmp/x.img".into(),
                create_size: None
            }
        );
        assert!(parse_args(["--ram-lun", "1MiB,fast"]).is_err());
        assert!(parse_args(["--ram-lun", "1MiB,physical=x"]).is_err());
        let e = run(&["--ram-lun", "1MiB,physical=1000"])
            .into_config()
            .unwrap_err();
        assert_eq!(e.key, "physical=");
        let c = run(&[
            "--ram-lun",
            "1MiB,sanitize-rate=8MiB",
            "--nop-in-interval",
            "0",
        ])
        .into_config()
        .unwrap();
        assert_eq!(c.targets[0].luns[0].sanitize_rate, Some(8 << 20));
        assert_eq!(c.limits.nop_in_interval, None);
        let c = run(&["--nop-in-interval", "90"]).into_config().unwrap();
        assert_eq!(c.limits.nop_in_interval, Some(Duration::from_secs(90)));
        assert!(parse_args(["--ram-lun", "1MiB,sanitize-rate=0"]).is_err());
        assert!(parse_args(["--ram-lun", "1MiB,sanitize-rate=fast"]).is_err());
        assert!(parse_args(["--nop-in-interval", "soon"]).is_err());
        let c = run(&["--logout-linger", "0"]).into_config().unwrap();
        assert_eq!(c.limits.logout_linger, Duration::ZERO);
        assert_eq!(
            run(&[]).into_config().unwrap().limits.logout_linger,
            Duration::from_secs(30)
        );
        let e = run(&["--logout-linger", "3601"]).into_config().unwrap_err();
        assert_eq!(e.key, "limits.logout_linger");
        assert!(parse_args(["--logout-linger", "soon"]).is_err());
    }

    #[test]
    fn bad_arguments() {
        assert!(parse_args(["--ram-lun", "12MB"]).is_err());
        assert!(parse_args(["--bogus"]).is_err());
        assert!(parse_args(["--listen"]).is_err());
        assert_eq!(parse_args(["-h"]), Ok(Command::Help));
        let e = run(&["--target-name", "Bad Name"])
            .into_config()
            .unwrap_err();
        assert_eq!(e.key, "--target-name");
        let e = run(&["--listen", "nope"]).into_config().unwrap_err();
        assert_eq!(e.key, "--listen");
        let e = run(&["--log-level", "loud"]).into_config().unwrap_err();
        assert_eq!(e.key, "--log-level");
        let e = run(&["--ram-lun", "100"]).into_config().unwrap_err();
        assert_eq!(e.key, "--ram-lun");
    }
}
