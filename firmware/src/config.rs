//! The firmware's configuration: the node configuration blob (`iser_core::config::blob`, the
//! ISFW format `iserd firmware-config` writes from a TOML file) resolved against what the image
//! reserved, plus the image's own parameters (initiator name, iSER buffer sizing, the self-test
//! workload) that the daemon's format does not describe. Limits follow RFC 7143 §13 and
//! RFC 7145 §6.

use iser_core::config::blob::{self, BlobError};
use iser_core::config::{is_iscsi_name, NodeConfig, PortalConfig};

/// Everything the image configures itself from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FwConfig<'a> {
    /// The target's iSCSI name (RFC 7143 §4.2.7): the blob's first target.
    pub target_name: &'a str,
    /// Its TargetAlias (§13.6).
    pub target_alias: Option<&'a str>,
    /// The in-image initiator's iSCSI name.
    pub initiator_name: &'a str,
    /// The portal the target lists in SendTargets: the blob's first portal.
    pub portal: PortalConfig,
    /// The RAM logical unit: the first target's first LUN.
    pub lun: LunConfig,
    /// Negotiation limits and iSER sizing.
    pub limits: Limits,
    /// The self-test the image runs.
    pub workload: Workload,
}

/// The RAM logical unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LunConfig {
    /// Its LUN number (peripheral or flat space addressing, SAM-5 §4.6.6).
    pub lun: u16,
    /// Logical block size (512 or 4096).
    pub block_size: u32,
    /// Capacity in blocks (must fit the image's static LU memory).
    pub blocks: u64,
    /// Thin provisioned (reported; RAM blocks always read back as written).
    pub thin: bool,
    /// MAXIMUM TRANSFER LENGTH in blocks (Block Limits VPD).
    pub max_transfer_blocks: u32,
    /// Device identifier (NAA / serial number source).
    pub device_id: u64,
}

/// Negotiation limits (RFC 7143 §13) and iSER buffer sizing (RFC 7145 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Limits {
    /// MaxRecvDataSegmentLength the target declares (§13.12; capped by `buf_size`).
    pub max_recv_data_segment_length: u32,
    /// MaxBurstLength (§13.13).
    pub max_burst_length: u32,
    /// FirstBurstLength (§13.14).
    pub first_burst_length: u32,
    /// Commands the initiator may have outstanding (the CmdSN window).
    pub queue_depth: u32,
    /// Size of each registered buffer (control message or RDMA transfer unit).
    pub buf_size: u32,
    /// Receives kept posted per connection.
    pub recv_depth: u16,
    /// Concurrent RDMA Reads (iSER-ORD).
    pub max_rdma_reads: u16,
    /// Sends in flight at most.
    pub send_window: u16,
    /// Whether the initiator sends the iSER Hello (RFC 7145 §9.3).
    pub hello: bool,
    /// ImmediateData both sides offer (RFC 7143 §13.11); under iSER, immediate data rides in
    /// the command's Send, the rest comes by RDMA Read.
    pub immediate_data: bool,
    /// InitialR2T both sides offer (RFC 7143 §13.10).
    pub initial_r2t: bool,
}

/// What the image's self-test does after login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Workload {
    /// Write-then-read pairs.
    pub commands: u16,
    /// Largest transfer in blocks.
    pub max_blocks: u32,
    /// Seed of the LBA/size/data generator.
    pub seed: u64,
}

/// The image's own parameters: what the node configuration does not say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FwParams {
    /// The in-image initiator's iSCSI name.
    pub initiator_name: &'static str,
    /// MAXIMUM TRANSFER LENGTH in blocks.
    pub max_transfer_blocks: u32,
    /// Device identifier of the LU.
    pub device_id: u64,
    /// Size of each registered buffer.
    pub buf_size: u32,
    /// Receives kept posted per connection.
    pub recv_depth: u16,
    /// Concurrent RDMA Reads.
    pub max_rdma_reads: u16,
    /// Sends in flight at most.
    pub send_window: u16,
    /// Whether the initiator sends the iSER Hello.
    pub hello: bool,
    /// Write-then-read pairs of the self-test.
    pub commands: u16,
    /// Largest self-test transfer in bytes (a whole number of the LUN's blocks is used, at
    /// most the LUN's capacity).
    pub max_transfer_bytes: u32,
    /// Seed of the self-test's LBA/size/data generator.
    pub seed: u64,
}

/// The parameters the image runs with.
pub const PARAMS: FwParams = FwParams {
    initiator_name: "iqn.2026-11.rs.iser:firmware-initiator",
    max_transfer_blocks: 256,
    device_id: 0x0d9f_0001,
    buf_size: 8192 + 512,
    recv_depth: 8,
    max_rdma_reads: 4,
    send_window: 4,
    hello: true,
    commands: 24,
    max_transfer_bytes: 64 * 1024,
    seed: 0x1_5e4f_0001,
};

/// Capacity the image reserved statically; a configuration must fit it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// Bytes of LU memory.
    pub lu_bytes: usize,
    /// Largest `buf_size`.
    pub max_buf_size: u32,
    /// Registered buffers per connection (`BUFS`).
    pub bufs: usize,
    /// Bytes of the initiator's data area.
    pub data_bytes: usize,
    /// Commands in flight per connection (`TASKS`).
    pub tasks: usize,
}

/// Why the image refuses its configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConfigError {
    /// The blob itself: truncated, corrupt, another version, undecodable or out of range.
    Blob(BlobError),
    /// A field does not fit the image or is out of range; names the field.
    Invalid(&'static str),
}

impl ConfigError {
    /// The class of fault, or the field out of range, for the text summary.
    pub fn reason(&self) -> &'static str {
        match self {
            ConfigError::Blob(BlobError::Truncated { .. }) => "Truncated",
            ConfigError::Blob(BlobError::BadMagic) => "BadMagic",
            ConfigError::Blob(BlobError::Version(_)) => "Version",
            ConfigError::Blob(BlobError::Checksum { .. }) => "Checksum (CRC-32 mismatch)",
            ConfigError::Blob(BlobError::Decode(_)) => "Decode (postcard)",
            ConfigError::Blob(BlobError::TrailingBytes) => "TrailingBytes",
            ConfigError::Blob(BlobError::OutOfRange(e)) => e.field,
            ConfigError::Blob(_) => "Blob",
            ConfigError::Invalid(field) => field,
        }
    }
}

impl<'a> FwConfig<'a> {
    /// Reads the blob and resolves it with `params`. Never panics, whatever the bytes.
    pub fn from_blob(blob: &'a [u8], params: &FwParams) -> Result<FwConfig<'a>, ConfigError> {
        let node = blob::decode(blob).map_err(ConfigError::Blob)?;
        FwConfig::resolve(&node, params)
    }

    /// The image's view of `node`: its first portal, first target and that target's first
    /// LUN, with `params` for the rest.
    pub fn resolve(node: &NodeConfig<'a>, params: &FwParams) -> Result<FwConfig<'a>, ConfigError> {
        let portal = *node
            .portals
            .first()
            .ok_or(ConfigError::Invalid("portals"))?;
        let target = node
            .targets
            .first()
            .ok_or(ConfigError::Invalid("targets"))?;
        let lun = target
            .luns
            .first()
            .ok_or(ConfigError::Invalid("targets.luns"))?;
        if lun.read_only {
            // The self-test writes.
            return Err(ConfigError::Invalid("targets.luns.read_only"));
        }
        let n = &node.negotiation;
        let max_blocks = (params.max_transfer_bytes.checked_div(lun.block_size))
            .map(u64::from)
            .unwrap_or(0)
            .min(lun.blocks);
        Ok(FwConfig {
            target_name: target.name,
            target_alias: target.alias,
            initiator_name: params.initiator_name,
            portal,
            lun: LunConfig {
                lun: lun.id,
                block_size: lun.block_size,
                blocks: lun.blocks,
                thin: lun.thin,
                max_transfer_blocks: params.max_transfer_blocks,
                device_id: params.device_id,
            },
            limits: Limits {
                max_recv_data_segment_length: n.max_recv_data_segment_length,
                max_burst_length: n.max_burst_length,
                first_burst_length: n.first_burst_length,
                queue_depth: node.session.queue_depth,
                buf_size: params.buf_size,
                recv_depth: params.recv_depth,
                max_rdma_reads: params.max_rdma_reads,
                send_window: params.send_window,
                hello: params.hello,
                immediate_data: n.immediate_data,
                initial_r2t: n.initial_r2t,
            },
            workload: Workload {
                commands: params.commands,
                max_blocks: u32::try_from(max_blocks).unwrap_or(u32::MAX),
                seed: params.seed,
            },
        })
    }

    /// Checks ranges (RFC 7143 §13, RFC 7145 §6) and that the configuration fits `cap`.
    pub fn validate(&self, cap: &Capacity) -> Result<(), ConfigError> {
        let invalid = |ok: bool, field| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::Invalid(field))
            }
        };
        invalid(is_iscsi_name(self.target_name), "target_name")?;
        invalid(is_iscsi_name(self.initiator_name), "initiator_name")?;
        let l = &self.lun;
        invalid(matches!(l.block_size, 512 | 4096), "lun.block_size")?;
        let lu_bytes = l.blocks.checked_mul(u64::from(l.block_size));
        invalid(
            l.blocks > 0 && lu_bytes.is_some_and(|b| b <= cap.lu_bytes as u64),
            "lun.blocks",
        )?;
        invalid(l.max_transfer_blocks > 0, "lun.max_transfer_blocks")?;
        let m = &self.limits;
        invalid(
            (512..=16_777_215).contains(&m.max_recv_data_segment_length),
            "limits.max_recv_data_segment_length",
        )?;
        invalid(
            (512..=16_777_215).contains(&m.max_burst_length),
            "limits.max_burst_length",
        )?;
        invalid(
            (512..=m.max_burst_length).contains(&m.first_burst_length),
            "limits.first_burst_length",
        )?;
        invalid(m.queue_depth >= 1, "limits.queue_depth")?;
        invalid(
            (1024..=cap.max_buf_size).contains(&m.buf_size),
            "limits.buf_size",
        )?;
        invalid(
            m.recv_depth >= 2 && usize::from(m.recv_depth) < cap.bufs,
            "limits.recv_depth",
        )?;
        invalid(m.max_rdma_reads >= 1, "limits.max_rdma_reads")?;
        invalid(
            m.send_window >= 1 && m.send_window <= m.recv_depth,
            "limits.send_window",
        )?;
        let w = &self.workload;
        let max_bytes = u64::from(w.max_blocks).checked_mul(u64::from(l.block_size));
        invalid(
            w.max_blocks >= 1
                && w.max_blocks <= l.max_transfer_blocks
                && u64::from(w.max_blocks) <= l.blocks
                && max_bytes.is_some_and(|b| b <= cap.data_bytes as u64),
            "workload.max_blocks",
        )?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use iser_core::config::{IpAddress, Transport};
    use proptest::prelude::*;

    /// The blob the image links by default (`iserd firmware-config config/example.toml`).
    const BLOB: &[u8] = include_bytes!("../config/default.postcard");

    const CAP: Capacity = Capacity {
        lu_bytes: 1 << 20,
        max_buf_size: 16 * 1024 + 512,
        bufs: 16,
        data_bytes: 128 * 1024,
        tasks: 8,
    };

    /// What `config/example.toml` says, resolved with [`PARAMS`].
    pub(crate) const DEFAULT: FwConfig<'static> = FwConfig {
        target_name: "iqn.2026-11.rs.iser:dpu0",
        target_alias: Some("dpu firmware"),
        initiator_name: "iqn.2026-11.rs.iser:firmware-initiator",
        portal: PortalConfig {
            address: IpAddress::V4([192, 0, 2, 1]),
            port: 3260,
            group_tag: 1,
            transport: Transport::Auto,
        },
        lun: LunConfig {
            lun: 0,
            block_size: 512,
            blocks: 2048,
            thin: false,
            max_transfer_blocks: 256,
            device_id: 0x0d9f_0001,
        },
        limits: Limits {
            max_recv_data_segment_length: 8192,
            max_burst_length: 262_144,
            first_burst_length: 65_536,
            queue_depth: 32,
            buf_size: 8192 + 512,
            recv_depth: 8,
            max_rdma_reads: 4,
            send_window: 4,
            hello: true,
            immediate_data: false,
            initial_r2t: true,
        },
        workload: Workload {
            commands: 24,
            max_blocks: 128,
            seed: 0x1_5e4f_0001,
        },
    };

    #[test]
    fn test_linked_blob_resolves_and_fits() {
        let c = FwConfig::from_blob(BLOB, &PARAMS).unwrap();
        assert_eq!(c, DEFAULT);
        assert_eq!(c.validate(&CAP), Ok(()));
    }

    #[test]
    fn test_corrupt_blobs_name_the_fault() {
        fn parse(b: &[u8]) -> Result<FwConfig<'_>, ConfigError> {
            FwConfig::from_blob(b, &PARAMS)
        }
        assert_eq!(
            parse(&BLOB[..3]),
            Err(ConfigError::Blob(BlobError::Truncated {
                len: 3,
                needed: 9
            }))
        );
        let mut bad = BLOB.to_vec();
        bad[BLOB.len() / 2] ^= 0x5a;
        assert!(matches!(
            parse(&bad),
            Err(ConfigError::Blob(BlobError::Checksum { .. }))
        ));
        assert!(matches!(
            parse(&BLOB[..BLOB.len() - 7]),
            Err(ConfigError::Blob(BlobError::Truncated { .. }))
        ));
    }

    #[test]
    fn test_validate_refuses_what_does_not_fit() {
        let mut c = DEFAULT;
        c.lun.blocks = 1 << 20;
        assert_eq!(c.validate(&CAP), Err(ConfigError::Invalid("lun.blocks")));
        let mut c = DEFAULT;
        c.limits.buf_size = 1 << 20;
        assert_eq!(
            c.validate(&CAP),
            Err(ConfigError::Invalid("limits.buf_size"))
        );
        let mut c = DEFAULT;
        c.target_name = "target";
        assert_eq!(c.validate(&CAP), Err(ConfigError::Invalid("target_name")));
        let mut c = DEFAULT;
        c.lun.blocks = u64::MAX;
        assert_eq!(c.validate(&CAP), Err(ConfigError::Invalid("lun.blocks")));
    }

    #[test]
    fn test_read_only_lun_is_refused() {
        let mut node = blob::decode(BLOB).unwrap();
        let mut t = *node.targets.first().unwrap();
        let mut l = *t.luns.first().unwrap();
        l.read_only = true;
        t.luns = iser_core::config::List::from_slice(&[l]).unwrap();
        node.targets = iser_core::config::List::from_slice(&[t]).unwrap();
        assert_eq!(
            FwConfig::resolve(&node, &PARAMS),
            Err(ConfigError::Invalid("targets.luns.read_only"))
        );
    }

    proptest! {
        /// Any single flipped bit of the linked blob is caught.
        #[test]
        fn any_bit_flip_is_refused(bit in 0usize..(8 * BLOB.len())) {
            let mut b = BLOB.to_vec();
            b[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(FwConfig::from_blob(&b, &PARAMS).is_err());
        }
    }
}
