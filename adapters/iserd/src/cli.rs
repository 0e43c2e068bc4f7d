//! The command line: `iserd [--config FILE] [--listen ADDR:PORT]... [--ram-lun SIZE]...
//! [--file-lun PATH]... [--target-name IQN] [--log-level LEVEL]`, and how it combines with the
//! configuration file into one [`Config`].

use std::ffi::OsString;
use std::path::PathBuf;

use log::LevelFilter;

use crate::config::{self, Config, ConfigError, LunConfig, Target, TransportChoice};
use crate::size::ByteSize;

/// Usage text for `--help`.
pub const USAGE: &str = "\
usage: iserd [OPTIONS]

An iSCSI target (iSER datamover planned; iSCSI/TCP today).

options:
  -c, --config FILE       read the TOML configuration FILE (see docs/configuration.md)
  -l, --listen ADDR:PORT  listen here instead of the configured portals (repeatable;
                          port 0 picks a free port; the bound address is printed
                          on stdout as `listening on ADDR:PORT`)
      --ram-lun SIZE      add a RAM LUN of SIZE (e.g. 64MiB) to the command-line target
      --file-lun PATH     add a LUN backed by the existing file or block device PATH
      --target-name IQN   name of the command-line target (default iqn.2026-11.rs.iserd:ram0)
      --log-level LEVEL   off, error, warn, info (default), debug or trace
  -h, --help              print this help
  -V, --version           print the version

Without --config the daemon serves one target with the LUNs given on the command line, or a
64 MiB RAM LUN, on 127.0.0.1:3260. With --config, --target-name/--ram-lun/--file-lun add one
more target to the file's targets.
";

/// A LUN given on the command line, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CliLun {
    /// `--ram-lun SIZE`.
    Ram(ByteSize),
    /// `--file-lun PATH`.
    File(PathBuf),
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
}

/// Parses arguments (without the program name).
pub fn parse_args<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let mut o = Options::default();
    let text = |v: OsString, what: &str| -> Result<String, String> {
        v.into_string()
            .map_err(|v| format!("{what}: not valid UTF-8: {v:?}"))
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
                let size = v
                    .parse::<ByteSize>()
                    .map_err(|e| format!("--ram-lun: {e}"))?;
                o.luns.push(CliLun::Ram(size));
            }
            Long("file-lun") => {
                o.luns.push(CliLun::File(PathBuf::from(
                    p.value().map_err(|e| e.to_string())?,
                )));
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
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(Command::Run(o))
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
                luns.push(match l {
                    CliLun::Ram(size) => {
                        if size.0 < 512 || size.0 % 512 != 0 {
                            return Err(err(
                                "--ram-lun",
                                format!("{size} is not a positive multiple of 512 bytes"),
                            ));
                        }
                        LunConfig::ram(id, size.0)
                    }
                    CliLun::File(path) => LunConfig::file(id, path.clone()),
                });
            }
            if luns.is_empty() {
                luns.push(LunConfig::ram(0, config::DEFAULT_RAM_LUN.0));
            }
            config.targets.push(Target {
                name,
                alias: None,
                luns,
                allowed_initiators: Vec::new(),
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
