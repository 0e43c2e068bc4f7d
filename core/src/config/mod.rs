//! A node's configuration as data: portals, targets with their LUNs, session limits and the
//! negotiation limits of RFC 7143 §13, with the range checks the standard sets. No heap: counts
//! are bounded by [`MAX_PORTALS`], [`MAX_TARGETS`] and [`MAX_LUNS`]; names borrow from where
//! the configuration was read (a firmware blob, a host's TOML file). `blob` frames it for
//! firmware (feature `serde`).

#[cfg(feature = "serde")]
pub mod blob;
mod list;
#[cfg(feature = "serde")]
mod octets;

pub use list::List;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// Most portals a configuration lists.
pub const MAX_PORTALS: usize = 4;
/// Most targets a configuration offers.
pub const MAX_TARGETS: usize = 4;
/// Most logical units per target.
pub const MAX_LUNS: usize = 8;
/// Longest iSCSI name (RFC 7143 §4.2.7.1).
pub const MAX_ISCSI_NAME_LEN: usize = 223;
/// Highest LUN (flat space addressing, SAM-5 §4.7.7).
pub const MAX_LUN: u16 = 16383;
/// Largest data segment or burst length a login may declare (RFC 7143 §13.12–§13.14).
pub const MAX_DATA_LENGTH: u32 = 16_777_215;
/// Smallest data segment or burst length a login may declare (RFC 7143 §13.12–§13.14).
pub const MIN_DATA_LENGTH: u32 = 512;

/// Everything a node serves: where, what, and within which limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NodeConfig<'a> {
    /// Network portals; at least one.
    pub portals: List<PortalConfig, MAX_PORTALS>,
    /// Session and connection limits, the same for every target.
    pub session: SessionLimits,
    /// Login key limits (RFC 7143 §13), the same for every target.
    pub negotiation: NegotiationLimits,
    /// Targets offered; at least one.
    #[cfg_attr(feature = "serde", serde(borrow))]
    pub targets: List<TargetConfig<'a>, MAX_TARGETS>,
}

/// One network portal (RFC 7143 §4.4.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PortalConfig {
    /// Address to listen on.
    pub address: IpAddress,
    /// TCP port (RDMA CM port space for iSER); 0 picks a free one.
    pub port: u16,
    /// TargetPortalGroupTag (RFC 7143 §13.9).
    pub group_tag: u16,
    /// Transports offered here.
    pub transport: Transport,
}

/// An IP address, in network byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IpAddress {
    /// IPv4.
    V4(#[cfg_attr(feature = "serde", serde(deserialize_with = "octets::deserialize"))] [u8; 4]),
    /// IPv6.
    V6(#[cfg_attr(feature = "serde", serde(deserialize_with = "octets::deserialize"))] [u8; 16]),
}

impl Default for IpAddress {
    fn default() -> Self {
        IpAddress::V4([0; 4])
    }
}

/// Which transports a portal offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Transport {
    /// iSER (RFC 7145) where an RDMA device serves the address, and iSCSI/TCP always.
    #[default]
    Auto,
    /// iSCSI/TCP only.
    Tcp,
}

/// Session and connection limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SessionLimits {
    /// Most sessions at once across all targets.
    pub max_sessions: u32,
    /// Commands an initiator may have outstanding per session (the CmdSN window, RFC 7143
    /// §3.2.2.1).
    pub queue_depth: u32,
    /// Idle seconds before a NOP-In ping (RFC 7143 §11.19); 0 = never.
    pub nop_in_interval_secs: u32,
    /// Seconds the initiator has to answer a NOP-In ping.
    pub nop_in_timeout_secs: u32,
    /// Seconds a login may take.
    pub login_timeout_secs: u32,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            max_sessions: 64,
            queue_depth: 64,
            nop_in_interval_secs: 30,
            nop_in_timeout_secs: 15,
            login_timeout_secs: 15,
        }
    }
}

/// What the target offers and accepts in login negotiation (RFC 7143 §13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NegotiationLimits {
    /// MaxRecvDataSegmentLength declared (§13.12).
    pub max_recv_data_segment_length: u32,
    /// MaxBurstLength offered (§13.13).
    pub max_burst_length: u32,
    /// FirstBurstLength offered (§13.14), at most `max_burst_length`.
    pub first_burst_length: u32,
    /// ImmediateData offered (§13.11).
    pub immediate_data: bool,
    /// InitialR2T offered (§13.10).
    pub initial_r2t: bool,
    /// MaxOutstandingR2T accepted at most (§13.17).
    pub max_outstanding_r2t: u16,
    /// Whether CRC32C HeaderDigest/DataDigest may be negotiated (§13.1).
    pub allow_digests: bool,
}

impl Default for NegotiationLimits {
    fn default() -> Self {
        NegotiationLimits {
            max_recv_data_segment_length: 256 << 10,
            max_burst_length: 1 << 20,
            first_burst_length: 64 << 10,
            immediate_data: true,
            initial_r2t: false,
            max_outstanding_r2t: 1,
            allow_digests: true,
        }
    }
}

/// One target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TargetConfig<'a> {
    /// TargetName (RFC 7143 §13.4, §4.2.7).
    pub name: &'a str,
    /// TargetAlias (§13.6).
    #[cfg_attr(feature = "serde", serde(borrow))]
    pub alias: Option<&'a str>,
    /// Logical units; at least one, distinct ids.
    pub luns: List<LunConfig, MAX_LUNS>,
}

/// One logical unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LunConfig {
    /// The LUN, 0..=[`MAX_LUN`].
    pub id: u16,
    /// Logical block size: 512 or 4096.
    pub block_size: u32,
    /// Capacity in logical blocks; at least one.
    pub blocks: u64,
    /// Physical block size reported (a power-of-two multiple of `block_size`, at most 32 KiB);
    /// `None` = the logical block size.
    pub physical_block_size: Option<u32>,
    /// Refuse writes (DATA PROTECT).
    pub read_only: bool,
    /// Thin provisioned (UNMAP frees space).
    pub thin: bool,
    /// Removable medium (INQUIRY RMB=1).
    pub removable: bool,
}

impl Default for LunConfig {
    fn default() -> Self {
        LunConfig {
            id: 0,
            block_size: 512,
            blocks: 1,
            physical_block_size: None,
            read_only: false,
            thin: false,
            removable: false,
        }
    }
}

impl LunConfig {
    /// Capacity in bytes (`None` on overflow).
    pub fn bytes(&self) -> Option<u64> {
        self.blocks.checked_mul(u64::from(self.block_size))
    }
}

/// A value outside what the standard or this configuration allows; names the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OutOfRange {
    /// Dotted field path (`targets.luns.block_size`).
    pub field: &'static str,
    /// Index of the portal, target or LUN it belongs to (0 when not in a list).
    pub index: usize,
}

impl core::fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} (item {}) out of range", self.field, self.index)
    }
}

impl<'a> NodeConfig<'a> {
    /// Checks every value against RFC 7143 §13 and SAM/SBC limits, and that names and LUN ids
    /// are unique.
    pub fn check(&self) -> Result<(), OutOfRange> {
        let need = |ok: bool, field: &'static str, index: usize| {
            if ok {
                Ok(())
            } else {
                Err(OutOfRange { field, index })
            }
        };
        need(!self.portals.is_empty(), "portals", 0)?;
        for (i, p) in self.portals.iter().enumerate() {
            let twice = self
                .portals
                .iter()
                .take(i)
                .any(|o| o.address == p.address && o.port == p.port && p.port != 0);
            need(!twice, "portals.port", i)?;
        }
        let s = &self.session;
        need(s.max_sessions >= 1, "session.max_sessions", 0)?;
        need(s.queue_depth >= 1, "session.queue_depth", 0)?;
        need(s.nop_in_timeout_secs >= 1, "session.nop_in_timeout_secs", 0)?;
        need(s.login_timeout_secs >= 1, "session.login_timeout_secs", 0)?;
        let n = &self.negotiation;
        let length = MIN_DATA_LENGTH..=MAX_DATA_LENGTH;
        need(
            length.contains(&n.max_recv_data_segment_length),
            "negotiation.max_recv_data_segment_length",
            0,
        )?;
        need(
            length.contains(&n.max_burst_length),
            "negotiation.max_burst_length",
            0,
        )?;
        need(
            length.contains(&n.first_burst_length) && n.first_burst_length <= n.max_burst_length,
            "negotiation.first_burst_length",
            0,
        )?;
        need(
            n.max_outstanding_r2t >= 1,
            "negotiation.max_outstanding_r2t",
            0,
        )?;
        need(!self.targets.is_empty(), "targets", 0)?;
        for (i, t) in self.targets.iter().enumerate() {
            need(is_iscsi_name(t.name), "targets.name", i)?;
            let twice = self.targets.iter().take(i).any(|o| o.name == t.name);
            need(!twice, "targets.name", i)?;
            need(t.alias.is_none_or(|a| a.len() <= 255), "targets.alias", i)?;
            need(!t.luns.is_empty(), "targets.luns", i)?;
            for (k, l) in t.luns.iter().enumerate() {
                need(l.id <= MAX_LUN, "targets.luns.id", k)?;
                need(
                    !t.luns.iter().take(k).any(|o| o.id == l.id),
                    "targets.luns.id",
                    k,
                )?;
                need(
                    matches!(l.block_size, 512 | 4096),
                    "targets.luns.block_size",
                    k,
                )?;
                need(
                    l.blocks >= 1 && l.bytes().is_some(),
                    "targets.luns.blocks",
                    k,
                )?;
                need(
                    l.physical_block_size.is_none_or(|p| {
                        p >= l.block_size
                            && p <= 32768
                            && p.is_power_of_two()
                            && p.checked_rem(l.block_size) == Some(0)
                    }),
                    "targets.luns.physical_block_size",
                    k,
                )?;
            }
        }
        Ok(())
    }
}

/// Whether `name` has the form of an iSCSI name (RFC 7143 §4.2.7: `iqn.`, `eui.` or `naa.`
/// format, at most 223 bytes of lowercase letters, digits, `-`, `.` and `:`).
pub fn is_iscsi_name(name: &str) -> bool {
    let chars_ok = name
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'.' | b':'));
    let hex = |s: &str, lens: &[usize]| {
        lens.contains(&s.len()) && s.bytes().all(|c| c.is_ascii_hexdigit())
    };
    let form_ok = if let Some(rest) = name.strip_prefix("iqn.") {
        let b = rest.as_bytes();
        b.len() > 8
            && b.iter().take(4).all(u8::is_ascii_digit)
            && b.get(4) == Some(&b'-')
            && b.get(5..7)
                .is_some_and(|m| m.iter().all(u8::is_ascii_digit))
            && b.get(7) == Some(&b'.')
    } else if let Some(rest) = name.strip_prefix("eui.") {
        hex(rest, &[16])
    } else if let Some(rest) = name.strip_prefix("naa.") {
        hex(rest, &[16, 32])
    } else {
        false
    };
    chars_ok && form_ok && name.len() <= MAX_ISCSI_NAME_LEN
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> NodeConfig<'static> {
        let lun = |id, blocks| LunConfig {
            id,
            blocks,
            ..LunConfig::default()
        };
        NodeConfig {
            portals: List::from_slice(&[PortalConfig {
                address: IpAddress::V4([192, 0, 2, 1]),
                port: 3260,
                group_tag: 1,
                transport: Transport::Auto,
            }])
            .unwrap(),
            session: SessionLimits::default(),
            negotiation: NegotiationLimits::default(),
            targets: List::from_slice(&[TargetConfig {
                name: "iqn.2026-11.rs.iser:fw",
                alias: Some("firmware"),
                luns: List::from_slice(&[lun(0, 2048), lun(3, 8)]).unwrap(),
            }])
            .unwrap(),
        }
    }

    #[test]
    fn test_check_accepts_sample() {
        assert_eq!(sample().check(), Ok(()));
    }

    #[test]
    fn test_check_names_the_field() {
        let field = |c: NodeConfig<'_>| c.check().map_err(|e| (e.field, e.index));
        let mut c = sample();
        c.negotiation.first_burst_length = c.negotiation.max_burst_length + 1;
        assert_eq!(field(c), Err(("negotiation.first_burst_length", 0)));
        let mut c = sample();
        c.negotiation.max_recv_data_segment_length = 511;
        assert_eq!(
            field(c),
            Err(("negotiation.max_recv_data_segment_length", 0))
        );
        let mut c = sample();
        c.targets = List::from_slice(&[TargetConfig {
            name: "Target",
            ..c.targets.as_slice()[0]
        }])
        .unwrap();
        assert_eq!(field(c), Err(("targets.name", 0)));
        let mut c = sample();
        let mut t = c.targets.as_slice()[0];
        t.luns = List::from_slice(&[LunConfig::default(), LunConfig::default()]).unwrap();
        c.targets = List::from_slice(&[t]).unwrap();
        assert_eq!(field(c), Err(("targets.luns.id", 1)));
        let mut c = sample();
        let mut t = c.targets.as_slice()[0];
        t.luns = List::from_slice(&[LunConfig {
            block_size: 1024,
            ..LunConfig::default()
        }])
        .unwrap();
        c.targets = List::from_slice(&[t]).unwrap();
        assert_eq!(field(c), Err(("targets.luns.block_size", 0)));
        let mut c = sample();
        c.session.queue_depth = 0;
        assert_eq!(field(c), Err(("session.queue_depth", 0)));
        let mut c = sample();
        c.portals = List::new();
        assert_eq!(field(c), Err(("portals", 0)));
    }

    #[test]
    fn test_iscsi_names() {
        assert!(is_iscsi_name("iqn.2026-11.rs.iserd:ram0"));
        assert!(is_iscsi_name("eui.0123456789abcdef"));
        assert!(is_iscsi_name("naa.0123456789abcdef"));
        assert!(!is_iscsi_name("iqn.2026-11"));
        assert!(!is_iscsi_name("iqn.2026-11.RS.iserd"));
        assert!(!is_iscsi_name("target0"));
        assert!(!is_iscsi_name(""));
    }
}
