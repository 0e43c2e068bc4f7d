//! `iserd firmware-config`: the daemon's TOML configuration turned into the firmware's
//! configuration blob (`iser_core::config::blob`, the ISFW postcard format), and back. Only
//! what the blob carries is accepted: RAM LUNs, no CHAP, no initiator lists.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use iser_core::config::{
    blob, IpAddress, List, LunConfig as BlobLun, NegotiationLimits, NodeConfig, PortalConfig,
    SessionLimits, TargetConfig, Transport,
};
use log::LevelFilter;

use crate::config::{
    Backing, Config, ConfigError, Limits, LunConfig, Portal, Target, TransportChoice,
};

/// Largest blob written (far above what the list capacities allow).
const MAX_BLOB: usize = 16 * 1024;

/// The blob form of `config`; errors name the key the blob cannot carry.
pub fn to_node<'a>(config: &'a Config, origin: &str) -> Result<NodeConfig<'a>, ConfigError> {
    let err = |key: String, message: &str| ConfigError {
        origin: origin.to_owned(),
        key,
        message: message.to_owned(),
    };
    if config.discovery_chap.is_some() {
        return Err(err("discovery.chap".into(), "firmware has no CHAP"));
    }
    if config.limits.max_login_requests != Limits::default().max_login_requests {
        return Err(err(
            "limits.max_login_requests".into(),
            "firmware has its own login request limit",
        ));
    }
    let mut node = NodeConfig {
        session: session_limits(&config.limits).map_err(|(k, m)| err(k.into(), m))?,
        negotiation: negotiation_limits(&config.limits),
        ..NodeConfig::default()
    };
    for (i, p) in config.portals.iter().enumerate() {
        let address = match p.listen.ip() {
            IpAddr::V4(a) => IpAddress::V4(a.octets()),
            IpAddr::V6(a) => IpAddress::V6(a.octets()),
        };
        let transport = match p.transport {
            TransportChoice::Auto => Transport::Auto,
            TransportChoice::Tcp => Transport::Tcp,
        };
        node.portals
            .push(PortalConfig {
                address,
                port: p.listen.port(),
                group_tag: p.group_tag,
                transport,
            })
            .map_err(|_| err(format!("portal[{i}]"), "more portals than the blob holds"))?;
    }
    for (i, t) in config.targets.iter().enumerate() {
        let key = format!("target[{i}]");
        if t.chap.is_some() {
            return Err(err(format!("{key}.chap"), "firmware has no CHAP"));
        }
        if !t.allowed_initiators.is_empty() {
            return Err(err(
                format!("{key}.allowed_initiators"),
                "firmware admits every initiator",
            ));
        }
        if !t.allowed_addresses.is_empty() {
            return Err(err(
                format!("{key}.allowed_addresses"),
                "firmware admits every initiator",
            ));
        }
        let mut luns = List::new();
        for (k, l) in t.luns.iter().enumerate() {
            let key = format!("{key}.lun[{k}]");
            let Backing::Ram { size } = l.backing else {
                return Err(err(format!("{key}.file"), "firmware LUNs are RAM LUNs"));
            };
            if l.direct {
                return Err(err(format!("{key}.direct"), "only for file LUNs"));
            }
            luns.push(BlobLun {
                id: l.id,
                block_size: l.block_size,
                blocks: size / u64::from(l.block_size),
                physical_block_size: l.physical_block_size,
                read_only: l.read_only,
                thin: l.thin,
                removable: l.removable,
            })
            .map_err(|_| err(key, "more LUNs than the blob holds"))?;
        }
        node.targets
            .push(TargetConfig {
                name: &t.name,
                alias: t.alias.as_deref(),
                luns,
            })
            .map_err(|_| err(key, "more targets than the blob holds"))?;
    }
    node.check()
        .map_err(|e| err(e.field.into(), "out of range"))?;
    Ok(node)
}

fn secs(d: Duration, key: &'static str) -> Result<u32, (&'static str, &'static str)> {
    u32::try_from(d.as_secs()).map_err(|_| (key, "more seconds than the blob holds"))
}

fn session_limits(l: &Limits) -> Result<SessionLimits, (&'static str, &'static str)> {
    Ok(SessionLimits {
        max_sessions: l.max_sessions,
        queue_depth: l.queue_depth,
        nop_in_interval_secs: match l.nop_in_interval {
            None => 0,
            Some(d) => secs(d, "limits.nop_in_interval")?,
        },
        nop_in_timeout_secs: secs(l.nop_in_timeout, "limits.nop_in_timeout")?,
        login_timeout_secs: secs(l.login_timeout, "limits.login_timeout")?,
    })
}

fn negotiation_limits(l: &Limits) -> NegotiationLimits {
    NegotiationLimits {
        max_recv_data_segment_length: l.max_recv_data_segment_length,
        max_burst_length: l.max_burst_length,
        first_burst_length: l.first_burst_length,
        immediate_data: l.immediate_data,
        initial_r2t: l.initial_r2t,
        max_outstanding_r2t: l.max_outstanding_r2t,
        allow_digests: l.allow_digests,
    }
}

/// The daemon configuration a blob describes (log level `info`, RAM LUNs).
pub fn from_node(node: &NodeConfig<'_>) -> Config {
    let s = &node.session;
    let n = &node.negotiation;
    let secs = |s: u32| Duration::from_secs(u64::from(s));
    Config {
        log_level: LevelFilter::Info,
        portals: node
            .portals
            .iter()
            .map(|p| Portal {
                listen: match p.address {
                    IpAddress::V4(a) => SocketAddr::from((a, p.port)),
                    IpAddress::V6(a) => SocketAddr::from((a, p.port)),
                },
                group_tag: p.group_tag,
                transport: match p.transport {
                    Transport::Tcp => TransportChoice::Tcp,
                    _ => TransportChoice::Auto,
                },
            })
            .collect(),
        limits: Limits {
            max_sessions: s.max_sessions,
            queue_depth: s.queue_depth,
            max_recv_data_segment_length: n.max_recv_data_segment_length,
            max_burst_length: n.max_burst_length,
            first_burst_length: n.first_burst_length,
            immediate_data: n.immediate_data,
            initial_r2t: n.initial_r2t,
            max_outstanding_r2t: n.max_outstanding_r2t,
            allow_digests: n.allow_digests,
            nop_in_interval: (s.nop_in_interval_secs != 0).then(|| secs(s.nop_in_interval_secs)),
            nop_in_timeout: secs(s.nop_in_timeout_secs),
            login_timeout: secs(s.login_timeout_secs),
            ..Limits::default()
        },
        discovery_chap: None,
        targets: node
            .targets
            .iter()
            .map(|t| Target {
                name: t.name.to_owned(),
                alias: t.alias.map(str::to_owned),
                luns: t
                    .luns
                    .iter()
                    .map(|l| LunConfig {
                        read_only: l.read_only,
                        thin: l.thin,
                        removable: l.removable,
                        block_size: l.block_size,
                        physical_block_size: l.physical_block_size,
                        ..LunConfig::ram(l.id, l.bytes().unwrap_or(u64::MAX))
                    })
                    .collect(),
                allowed_initiators: Vec::new(),
                allowed_addresses: Vec::new(),
                chap: None,
            })
            .collect(),
    }
}

/// The blob of `config`.
pub fn encode(config: &Config, origin: &str) -> Result<Vec<u8>, ConfigError> {
    let node = to_node(config, origin)?;
    let mut out = vec![0u8; MAX_BLOB];
    let n = blob::encode(&node, &mut out).map_err(|e| ConfigError {
        origin: origin.to_owned(),
        key: String::new(),
        message: e.to_string(),
    })?;
    out.truncate(n);
    Ok(out)
}

/// `iserd firmware-config INPUT -o OUTPUT`: reads and validates the TOML file `input` as the
/// daemon would, writes its blob to `output`; returns a one-line summary.
pub fn convert(input: &Path, output: &Path) -> Result<String, String> {
    let config = Config::load(input).map_err(|e| e.to_string())?;
    let bytes = encode(&config, &input.display().to_string()).map_err(|e| e.to_string())?;
    std::fs::write(output, &bytes)
        .map_err(|e| format!("{}: cannot write: {e}", output.display()))?;
    let luns: usize = config.targets.iter().map(|t| t.luns.len()).sum();
    Ok(format!(
        "{}: {} bytes (ISFW v{}, CRC-32 {:#010x}): {} portal(s), {} target(s), {} LUN(s)",
        output.display(),
        bytes.len(),
        blob::VERSION,
        blob::crc32(
            bytes
                .get(..bytes.len().saturating_sub(blob::CRC_LEN))
                .unwrap_or(&[])
        ),
        config.portals.len(),
        config.targets.len(),
        luns
    ))
}
