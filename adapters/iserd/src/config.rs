//! The daemon's configuration: the TOML file format (documented in `docs/configuration.md`),
//! its validation with errors naming the file and key, and the built-in default (one 64 MiB RAM
//! LUN on 127.0.0.1:3260). iSCSI names follow RFC 7143 §4.2.7; negotiation limits are the login
//! keys of RFC 7143 §13.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use log::LevelFilter;
use serde::Deserialize;

use crate::acl::AddressRange;
use crate::size::ByteSize;

/// Target name of the built-in default configuration.
pub const DEFAULT_TARGET_NAME: &str = "iqn.2026-11.rs.iserd:ram0";
/// Listen address of the built-in default configuration.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3260";
/// Size of the RAM LUN of the built-in default configuration.
pub const DEFAULT_RAM_LUN: ByteSize = ByteSize(64 << 20);
/// Longest iSCSI name (RFC 7143 §4.2.7.1: 223 bytes).
pub const MAX_ISCSI_NAME_LEN: usize = 223;
/// Highest LUN we accept (flat space addressing, SAM-5 §4.7.7).
pub const MAX_LUN: u16 = 16383;
/// Most sessions the daemon can track (the logical units' I_T nexus slots).
pub const MAX_SESSIONS: u32 = 256;
/// Deepest per-session command queue (the engine's task table size).
pub const MAX_QUEUE_DEPTH: u32 = 128;
/// Most R2Ts per task the engine tracks.
pub const MAX_OUTSTANDING_R2T: u16 = 4;
/// Largest `limits.max_login_requests`.
pub const MAX_LOGIN_REQUESTS: u32 = 1024;
/// Longest `limits.logout_linger`.
pub const MAX_LOGOUT_LINGER: Duration = Duration::from_secs(3600);

/// A validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Log verbosity.
    pub log_level: LevelFilter,
    /// Where to listen; never empty.
    pub portals: Vec<Portal>,
    /// Negotiation and resource limits, the same for every target.
    pub limits: Limits,
    /// CHAP demanded of discovery sessions; `None` = discovery needs no authentication.
    pub discovery_chap: Option<Chap>,
    /// The targets offered; never empty.
    pub targets: Vec<Target>,
}

/// One network portal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Portal {
    /// Address and port to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// TargetPortalGroupTag (RFC 7143 §13.9) of this portal.
    pub group_tag: u16,
    /// Which transports to offer here.
    pub transport: TransportChoice,
}

/// Which transports a portal offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TransportChoice {
    /// iSER where an RDMA device serves the address, and iSCSI/TCP always.
    #[default]
    Auto,
    /// iSCSI/TCP only.
    Tcp,
}

/// Negotiation and resource limits (RFC 7143 §13 keys where named so).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most sessions at once across all targets (new logins beyond get "out of resources").
    pub max_sessions: u32,
    /// Commands an initiator may have outstanding per session (the CmdSN window).
    pub queue_depth: u32,
    /// MaxRecvDataSegmentLength we declare (RFC 7143 §13.12), 512..=16777215.
    pub max_recv_data_segment_length: u32,
    /// MaxBurstLength we offer (§13.13), 512..=16777215.
    pub max_burst_length: u32,
    /// FirstBurstLength we offer (§13.14), 512..=16777215 and at most `max_burst_length`.
    pub first_burst_length: u32,
    /// ImmediateData we offer (§13.11).
    pub immediate_data: bool,
    /// InitialR2T we offer (§13.10).
    pub initial_r2t: bool,
    /// MaxOutstandingR2T we accept at most (§13.17), 1..=[`MAX_OUTSTANDING_R2T`].
    pub max_outstanding_r2t: u16,
    /// Whether CRC32C header and data digests may be negotiated (§13.1).
    pub allow_digests: bool,
    /// Idle time after which we send a NOP-In ping (§11.19); `None` = never.
    pub nop_in_interval: Option<Duration>,
    /// How long the initiator has to answer a NOP-In ping before the connection is dropped.
    pub nop_in_timeout: Duration,
    /// How long a login may take before the connection is dropped.
    pub login_timeout: Duration,
    /// Login Requests (negotiation rounds and continued pieces) one login may take before
    /// the connection is dropped.
    pub max_login_requests: u32,
    /// After an iSER Logout Response, how long the target leaves the disconnect to the
    /// initiator before disconnecting itself (RFC 7143 §11.15: both ends close); zero
    /// disconnects at once.
    pub logout_linger: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sessions: 64,
            queue_depth: 64,
            max_recv_data_segment_length: 256 << 10,
            max_burst_length: 1 << 20,
            first_burst_length: 64 << 10,
            immediate_data: true,
            initial_r2t: false,
            max_outstanding_r2t: 1,
            allow_digests: true,
            nop_in_interval: Some(Duration::from_secs(30)),
            nop_in_timeout: Duration::from_secs(15),
            login_timeout: Duration::from_secs(15),
            max_login_requests: 32,
            logout_linger: Duration::from_secs(30),
        }
    }
}

/// CHAP secrets (RFC 7143 §12.1.3).
#[derive(Clone, PartialEq, Eq)]
pub struct Chap {
    /// The CHAP_N the initiator must present.
    pub username: String,
    /// The secret the initiator must know.
    pub secret: String,
    /// For mutual CHAP: the name and secret the target proves itself with.
    pub mutual: Option<(String, String)>,
}

impl fmt::Debug for Chap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chap")
            .field("username", &self.username)
            .field("secret", &"<hidden>")
            .field("mutual", &self.mutual.as_ref().map(|(n, _)| n))
            .finish()
    }
}

/// One target.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// TargetName (RFC 7143 §13.4).
    pub name: String,
    /// TargetAlias (§13.6).
    pub alias: Option<String>,
    /// Logical units, by ascending id.
    pub luns: Vec<LunConfig>,
    /// Initiator names allowed to log in and to see the target; empty = everyone.
    pub allowed_initiators: Vec<String>,
    /// Initiator addresses allowed to log in and to see the target; empty = everyone.
    pub allowed_addresses: Vec<AddressRange>,
    /// CHAP demanded of initiators; `None` = AuthMethod=None.
    pub chap: Option<Chap>,
}

/// One logical unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LunConfig {
    /// The LUN.
    pub id: u16,
    /// Where the blocks live.
    pub backing: Backing,
    /// Refuse writes (DATA PROTECT).
    pub read_only: bool,
    /// Thin provisioned: UNMAP frees space (RAM: zeroes; file: punches holes).
    pub thin: bool,
    /// Removable medium (INQUIRY RMB=1): START STOP UNIT ejects and loads it.
    pub removable: bool,
    /// File LUNs: bypass the page cache (O_DIRECT); every write then reaches the device before
    /// status, and reads come from it.
    pub direct: bool,
    /// Logical block size: 512 or 4096.
    pub block_size: u32,
    /// Physical block size reported (a power-of-two multiple of `block_size`, at most 32
    /// KiB); `None` = the logical block size.
    pub physical_block_size: Option<u32>,
    /// Bytes per second a background SANITIZE may write, so that it does not take the
    /// device's whole bandwidth from the other LUNs; `None` = as fast as the device goes.
    pub sanitize_rate: Option<u64>,
}

/// The storage behind a logical unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backing {
    /// Heap memory of this many bytes, zeroed at start, lost at exit.
    Ram {
        /// Size in bytes.
        size: u64,
    },
    /// A file or block device.
    File {
        /// Its path.
        path: PathBuf,
        /// Create the file with this size when it does not exist.
        create_size: Option<u64>,
    },
}

/// A configuration error: which file and key, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, or `<command line>` / `<default>`.
    pub origin: String,
    /// Dotted key path (`target[0].lun[1].size`), or `line:column` for syntax errors.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.origin, self.message)
        } else {
            write!(f, "{}: {}: {}", self.origin, self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

// ----- the file format -----

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    log_level: Option<String>,
    #[serde(default)]
    portal: Vec<RawPortal>,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    discovery: RawDiscovery,
    #[serde(default)]
    target: Vec<RawTarget>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPortal {
    listen: String,
    group_tag: Option<u16>,
    #[serde(default)]
    transport: TransportChoice,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_sessions: Option<u32>,
    queue_depth: Option<u32>,
    max_recv_data_segment_length: Option<ByteSize>,
    max_burst_length: Option<ByteSize>,
    first_burst_length: Option<ByteSize>,
    immediate_data: Option<bool>,
    initial_r2t: Option<bool>,
    max_outstanding_r2t: Option<u16>,
    allow_digests: Option<bool>,
    nop_in_interval: Option<u64>,
    nop_in_timeout: Option<u64>,
    login_timeout: Option<u64>,
    max_login_requests: Option<u32>,
    logout_linger: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDiscovery {
    chap: Option<RawChap>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChap {
    username: String,
    secret: String,
    mutual_username: Option<String>,
    mutual_secret: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: String,
    alias: Option<String>,
    #[serde(default)]
    allowed_initiators: Vec<String>,
    #[serde(default)]
    allowed_addresses: Vec<String>,
    chap: Option<RawChap>,
    #[serde(default)]
    lun: Vec<RawLun>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLun {
    id: Option<u16>,
    ram: Option<ByteSize>,
    file: Option<PathBuf>,
    size: Option<ByteSize>,
    #[serde(default)]
    read_only: bool,
    #[serde(default)]
    thin: bool,
    #[serde(default)]
    removable: bool,
    #[serde(default)]
    direct: bool,
    block_size: Option<u32>,
    physical_block_size: Option<u32>,
    sanitize_rate: Option<ByteSize>,
}

impl Config {
    /// The built-in default: one target [`DEFAULT_TARGET_NAME`] with LUN 0 a 64 MiB RAM disk,
    /// listening on [`DEFAULT_LISTEN`].
    pub fn builtin() -> Config {
        Config {
            log_level: LevelFilter::Info,
            portals: vec![Portal {
                listen: SocketAddr::from(([127, 0, 0, 1], 3260)),
                group_tag: 1,
                transport: TransportChoice::Auto,
            }],
            limits: Limits::default(),
            discovery_chap: None,
            targets: vec![Target {
                name: DEFAULT_TARGET_NAME.to_owned(),
                alias: None,
                luns: vec![LunConfig::ram(0, DEFAULT_RAM_LUN.0)],
                allowed_initiators: Vec::new(),
                allowed_addresses: Vec::new(),
                chap: None,
            }],
        }
    }

    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            origin: origin.clone(),
            key: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        Config::parse(&text, &origin)
    }

    /// Parses and validates TOML `text`; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let key = e
                .span()
                .map(|s| {
                    let (line, col) = line_col(text, s.start);
                    format!("{line}:{col}")
                })
                .unwrap_or_default();
            ConfigError {
                origin: origin.to_owned(),
                key,
                message: e.message().trim().to_owned(),
            }
        })?;
        let err = |key: String, message: String| ConfigError {
            origin: origin.to_owned(),
            key,
            message,
        };
        raw.validate().map_err(|(k, m)| err(k, m))
    }

    /// Checks the cross-item rules (unique names, LUN ids, ...) again, for configurations
    /// edited after parsing (the command line adds targets and portals).
    pub fn check(&self, origin: &str) -> Result<(), ConfigError> {
        let err = |key: String, message: String| ConfigError {
            origin: origin.to_owned(),
            key,
            message,
        };
        if self.portals.is_empty() {
            return Err(err("portal".into(), "no portal to listen on".into()));
        }
        if self.targets.is_empty() {
            return Err(err("target".into(), "no target defined".into()));
        }
        if self.limits.logout_linger > MAX_LOGOUT_LINGER {
            return Err(err(
                "limits.logout_linger".into(),
                format!(
                    "{} is outside 0..={}",
                    self.limits.logout_linger.as_secs(),
                    MAX_LOGOUT_LINGER.as_secs()
                ),
            ));
        }
        for (i, t) in self.targets.iter().enumerate() {
            check_iscsi_name(&t.name).map_err(|m| err(format!("target[{i}].name"), m))?;
            if let Some(j) = self.targets.iter().take(i).position(|o| o.name == t.name) {
                return Err(err(
                    format!("target[{i}].name"),
                    format!("{:?} is already the name of target[{j}]", t.name),
                ));
            }
            if t.luns.is_empty() {
                return Err(err(
                    format!("target[{i}].lun"),
                    "a target needs at least one LUN".into(),
                ));
            }
            for (k, l) in t.luns.iter().enumerate() {
                if let Some(j) = t.luns.iter().take(k).position(|o| o.id == l.id) {
                    return Err(err(
                        format!("target[{i}].lun[{k}].id"),
                        format!("LUN {} is already used by target[{i}].lun[{j}]", l.id),
                    ));
                }
            }
        }
        for (i, p) in self.portals.iter().enumerate() {
            if let Some(j) = self
                .portals
                .iter()
                .take(i)
                .position(|o| o.listen == p.listen && p.listen.port() != 0)
            {
                return Err(err(
                    format!("portal[{i}].listen"),
                    format!("{} is already portal[{j}]", p.listen),
                ));
            }
        }
        Ok(())
    }
}

impl LunConfig {
    /// A read-write, fully provisioned RAM LUN with 512-byte blocks.
    pub fn ram(id: u16, size: u64) -> LunConfig {
        LunConfig {
            id,
            backing: Backing::Ram { size },
            read_only: false,
            thin: false,
            removable: false,
            direct: false,
            block_size: 512,
            physical_block_size: None,
            sanitize_rate: None,
        }
    }

    /// A read-write, fully provisioned file LUN with 512-byte blocks over an existing file.
    pub fn file(id: u16, path: PathBuf) -> LunConfig {
        LunConfig {
            id,
            backing: Backing::File {
                path,
                create_size: None,
            },
            read_only: false,
            thin: false,
            removable: false,
            direct: false,
            block_size: 512,
            physical_block_size: None,
            sanitize_rate: None,
        }
    }
}

type KeyError = (String, String);

impl RawConfig {
    fn validate(self) -> Result<Config, KeyError> {
        let log_level = match &self.log_level {
            None => LevelFilter::Info,
            Some(s) => parse_log_level(s).map_err(|m| ("log_level".to_owned(), m))?,
        };
        let mut portals = Vec::new();
        for (i, p) in self.portal.into_iter().enumerate() {
            let listen = parse_listen(&p.listen).map_err(|m| (format!("portal[{i}].listen"), m))?;
            portals.push(Portal {
                listen,
                group_tag: p.group_tag.unwrap_or(1),
                transport: p.transport,
            });
        }
        if portals.is_empty() {
            portals = Config::builtin().portals;
        }
        let limits = self.limits.validate()?;
        let discovery_chap = self
            .discovery
            .chap
            .map(|c| c.validate("discovery.chap"))
            .transpose()?;
        let mut targets = Vec::new();
        for (i, t) in self.target.into_iter().enumerate() {
            targets.push(t.validate(i)?);
        }
        let config = Config {
            log_level,
            portals,
            limits,
            discovery_chap,
            targets,
        };
        config.check("").map_err(|e| (e.key, e.message))?;
        Ok(config)
    }
}

impl RawLimits {
    fn validate(self) -> Result<Limits, KeyError> {
        let d = Limits::default();
        let len = |v: Option<ByteSize>, default: u32, key: &str| -> Result<u32, KeyError> {
            match v {
                None => Ok(default),
                Some(ByteSize(n)) if (512..=0xff_ffff).contains(&n) => {
                    u32::try_from(n).map_err(|_| (format!("limits.{key}"), "too large".into()))
                }
                Some(ByteSize(n)) => Err((
                    format!("limits.{key}"),
                    format!("{n} is outside 512..=16777215 (RFC 7143 §13)"),
                )),
            }
        };
        let limits = Limits {
            max_sessions: self.max_sessions.unwrap_or(d.max_sessions),
            queue_depth: self.queue_depth.unwrap_or(d.queue_depth),
            max_recv_data_segment_length: len(
                self.max_recv_data_segment_length,
                d.max_recv_data_segment_length,
                "max_recv_data_segment_length",
            )?,
            max_burst_length: len(
                self.max_burst_length,
                d.max_burst_length,
                "max_burst_length",
            )?,
            first_burst_length: len(
                self.first_burst_length,
                d.first_burst_length,
                "first_burst_length",
            )?,
            immediate_data: self.immediate_data.unwrap_or(d.immediate_data),
            initial_r2t: self.initial_r2t.unwrap_or(d.initial_r2t),
            max_outstanding_r2t: self.max_outstanding_r2t.unwrap_or(d.max_outstanding_r2t),
            allow_digests: self.allow_digests.unwrap_or(d.allow_digests),
            nop_in_interval: match self.nop_in_interval {
                None => d.nop_in_interval,
                Some(0) => None,
                Some(s) => Some(Duration::from_secs(s)),
            },
            nop_in_timeout: self
                .nop_in_timeout
                .map_or(d.nop_in_timeout, Duration::from_secs),
            login_timeout: self
                .login_timeout
                .map_or(d.login_timeout, Duration::from_secs),
            max_login_requests: self.max_login_requests.unwrap_or(d.max_login_requests),
            logout_linger: self
                .logout_linger
                .map_or(d.logout_linger, Duration::from_secs),
        };
        let range = |v: u32, max: u32, key: &str| -> Result<(), KeyError> {
            if (1..=max).contains(&v) {
                Ok(())
            } else {
                Err((format!("limits.{key}"), format!("{v} is outside 1..={max}")))
            }
        };
        range(limits.max_sessions, MAX_SESSIONS, "max_sessions")?;
        range(limits.queue_depth, MAX_QUEUE_DEPTH, "queue_depth")?;
        range(
            limits.max_login_requests,
            MAX_LOGIN_REQUESTS,
            "max_login_requests",
        )?;
        range(
            u32::from(limits.max_outstanding_r2t),
            u32::from(MAX_OUTSTANDING_R2T),
            "max_outstanding_r2t",
        )?;
        if limits.nop_in_timeout.is_zero() {
            return Err((
                "limits.nop_in_timeout".into(),
                "must be at least 1 second".into(),
            ));
        }
        if limits.login_timeout.is_zero() {
            return Err((
                "limits.login_timeout".into(),
                "must be at least 1 second".into(),
            ));
        }
        if limits.first_burst_length > limits.max_burst_length {
            return Err((
                "limits.first_burst_length".into(),
                format!(
                    "{} exceeds max_burst_length {} (RFC 7143 §13.14)",
                    limits.first_burst_length, limits.max_burst_length
                ),
            ));
        }
        Ok(limits)
    }
}

impl RawChap {
    fn validate(self, key: &str) -> Result<Chap, KeyError> {
        if self.username.is_empty() {
            return Err((format!("{key}.username"), "must not be empty".into()));
        }
        if self.secret.is_empty() {
            return Err((format!("{key}.secret"), "must not be empty".into()));
        }
        let mutual = match (self.mutual_username, self.mutual_secret) {
            (None, None) => None,
            (Some(n), Some(s)) => {
                if n.is_empty() || s.is_empty() {
                    return Err((
                        format!("{key}.mutual_secret"),
                        "mutual CHAP name and secret must not be empty".into(),
                    ));
                }
                if s == self.secret {
                    // RFC 7143 §12.1.3: the secrets of the two directions must differ.
                    return Err((
                        format!("{key}.mutual_secret"),
                        "must differ from `secret` (RFC 7143 §12.1.3)".into(),
                    ));
                }
                Some((n, s))
            }
            (Some(_), None) => {
                return Err((
                    format!("{key}.mutual_secret"),
                    "mutual_username needs mutual_secret".into(),
                ))
            }
            (None, Some(_)) => {
                return Err((
                    format!("{key}.mutual_username"),
                    "mutual_secret needs mutual_username".into(),
                ))
            }
        };
        Ok(Chap {
            username: self.username,
            secret: self.secret,
            mutual,
        })
    }
}

impl RawTarget {
    fn validate(self, i: usize) -> Result<Target, KeyError> {
        let key = format!("target[{i}]");
        check_iscsi_name(&self.name).map_err(|m| (format!("{key}.name"), m))?;
        for (k, n) in self.allowed_initiators.iter().enumerate() {
            check_iscsi_name(n).map_err(|m| (format!("{key}.allowed_initiators[{k}]"), m))?;
        }
        let allowed_addresses = self
            .allowed_addresses
            .iter()
            .enumerate()
            .map(|(k, a)| {
                a.parse::<AddressRange>()
                    .map_err(|m| (format!("{key}.allowed_addresses[{k}]"), m))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let chap = self
            .chap
            .map(|c| c.validate(&format!("{key}.chap")))
            .transpose()?;
        let mut luns = Vec::new();
        for (k, l) in self.lun.into_iter().enumerate() {
            let default_id = u16::try_from(k).unwrap_or(u16::MAX);
            luns.push(l.validate(&format!("{key}.lun[{k}]"), default_id)?);
        }
        luns.sort_by_key(|l| l.id);
        Ok(Target {
            name: self.name,
            alias: self.alias.filter(|a| !a.is_empty()),
            luns,
            allowed_initiators: self.allowed_initiators,
            allowed_addresses,
            chap,
        })
    }
}

impl RawLun {
    fn validate(self, key: &str, default_id: u16) -> Result<LunConfig, KeyError> {
        let id = self.id.unwrap_or(default_id);
        if id > MAX_LUN {
            return Err((
                format!("{key}.id"),
                format!("{id} is above the highest LUN {MAX_LUN}"),
            ));
        }
        let block_size = self.block_size.unwrap_or(512);
        if block_size != 512 && block_size != 4096 {
            return Err((
                format!("{key}.block_size"),
                format!("{block_size} is not 512 or 4096"),
            ));
        }
        if let Some(p) = self.physical_block_size {
            check_physical_block_size(p, block_size)
                .map_err(|m| (format!("{key}.physical_block_size"), m))?;
        }
        let physical_block_size = self.physical_block_size;
        let check_size = |n: u64, k: &str| -> Result<(), KeyError> {
            if n < u64::from(block_size) || n % u64::from(block_size) != 0 {
                Err((
                    format!("{key}.{k}"),
                    format!(
                        "{} is not a positive multiple of the block size {block_size}",
                        ByteSize(n)
                    ),
                ))
            } else {
                Ok(())
            }
        };
        let backing = match (self.ram, self.file) {
            (Some(ByteSize(size)), None) => {
                if self.size.is_some() {
                    return Err((
                        format!("{key}.size"),
                        "only for `file` LUNs; a RAM LUN's size is `ram`".into(),
                    ));
                }
                check_size(size, "ram")?;
                Backing::Ram { size }
            }
            (None, Some(path)) => {
                if path.as_os_str().is_empty() {
                    return Err((format!("{key}.file"), "empty path".into()));
                }
                if let Some(ByteSize(n)) = self.size {
                    check_size(n, "size")?;
                }
                Backing::File {
                    path,
                    create_size: self.size.map(|s| s.0),
                }
            }
            (Some(_), Some(_)) => {
                return Err((
                    key.to_owned(),
                    "give either `ram` or `file`, not both".into(),
                ))
            }
            (None, None) => {
                return Err((key.to_owned(), "needs `ram = SIZE` or `file = PATH`".into()))
            }
        };
        Ok(LunConfig {
            id,
            backing,
            read_only: self.read_only,
            thin: self.thin,
            removable: self.removable,
            direct: self.direct,
            block_size,
            physical_block_size,
            sanitize_rate: match self.sanitize_rate {
                Some(ByteSize(0)) => {
                    return Err((
                        format!("{key}.sanitize_rate"),
                        "0 bytes per second would never finish; leave it out for no limit".into(),
                    ))
                }
                rate => rate.map(|r| r.0),
            },
        })
    }
}

/// Checks a physical block size against the logical `block_size`: a power-of-two multiple of
/// it, at most 32 KiB.
pub fn check_physical_block_size(physical: u32, block_size: u32) -> Result<(), String> {
    if physical < block_size
        || physical > 32768
        || !physical.is_power_of_two()
        || physical % block_size != 0
    {
        return Err(format!(
            "{physical} is not a power-of-two multiple of the block size {block_size} up to 32768"
        ));
    }
    Ok(())
}

/// Parses a log level name (`off`, `error`, `warn`, `info`, `debug`, `trace`).
pub fn parse_log_level(s: &str) -> Result<LevelFilter, String> {
    s.parse()
        .map_err(|_| format!("unknown log level {s:?} (off, error, warn, info, debug, trace)"))
}

/// Parses `ADDR:PORT` (`[v6]:PORT` for IPv6); a bare address gets port 3260.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        return Ok(SocketAddr::new(ip, 3260));
    }
    Err(format!(
        "{s:?} is not ADDR:PORT (e.g. 0.0.0.0:3260 or [::]:3260)"
    ))
}

/// Checks an iSCSI name's form (RFC 7143 §4.2.7): `iqn.YYYY-MM.reversed.domain[:anything]`,
/// `eui.` + 16 hex digits, or `naa.` + 16 or 32 hex digits; at most 223 bytes of lowercase
/// letters, digits, `-`, `.` and `:`.
pub fn check_iscsi_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty iSCSI name".into());
    }
    if name.len() > MAX_ISCSI_NAME_LEN {
        return Err(format!("iSCSI name longer than {MAX_ISCSI_NAME_LEN} bytes"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | ':')))
    {
        let hint = if c.is_ascii_uppercase() {
            " (iSCSI names are lowercase)"
        } else {
            ""
        };
        return Err(format!(
            "{name:?}: character {c:?} not allowed in an iSCSI name{hint}"
        ));
    }
    let hex = |s: &str, lens: &[usize]| {
        lens.contains(&s.len()) && s.chars().all(|c| c.is_ascii_hexdigit())
    };
    if let Some(rest) = name.strip_prefix("iqn.") {
        let b = rest.as_bytes();
        let date_ok = b.len() > 8
            && b.iter().take(4).all(u8::is_ascii_digit)
            && b.get(4) == Some(&b'-')
            && b.get(5..7)
                .is_some_and(|m| m.iter().all(u8::is_ascii_digit))
            && b.get(7) == Some(&b'.');
        if date_ok {
            return Ok(());
        }
        return Err(format!(
            "{name:?}: expected iqn.YYYY-MM.reversed.domain[:identifier]"
        ));
    }
    if let Some(rest) = name.strip_prefix("eui.") {
        if hex(rest, &[16]) {
            return Ok(());
        }
        return Err(format!("{name:?}: expected eui. and 16 hex digits"));
    }
    if let Some(rest) = name.strip_prefix("naa.") {
        if hex(rest, &[16, 32]) {
            return Ok(());
        }
        return Err(format!("{name:?}: expected naa. and 16 or 32 hex digits"));
    }
    Err(format!(
        "{name:?}: an iSCSI name starts with iqn., eui. or naa."
    ))
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count().saturating_add(1);
    let col = before
        .rfind('\n')
        .map_or(before.len(), |nl| {
            before.len().saturating_sub(nl).saturating_sub(1)
        })
        .saturating_add(1);
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "iqn.2026-11.rs.iserd:ram0",
            "iqn.1993-08.org.debian:01:abcdef",
            "eui.02004567a425678d",
            "naa.52004567ba64678d",
        ] {
            assert_eq!(check_iscsi_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "iqn.2026.x",
            "IQN.2026-11.x",
            "iqn.2026-11.rs iserd",
            "eui.12",
            "foo.bar",
        ] {
            assert!(check_iscsi_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn listen_defaults_port() {
        assert_eq!(
            parse_listen("10.0.0.1"),
            Ok("10.0.0.1:3260".parse().unwrap())
        );
        assert_eq!(parse_listen("[::1]"), Ok("[::1]:3260".parse().unwrap()));
        assert!(parse_listen("nowhere:x").is_err());
    }
}
