//! The firmware's configuration: the node configuration blob (`iser_core::config::blob`, the
//! ISFW format `iserd firmware-config` writes from a TOML file) resolved against what the image
//! reserved, plus the image's own parameters (initiator name, iSER buffer sizing, the self-test
//! workload) that the daemon's format does not describe. Limits follow RFC 7143 §13 and
//! RFC 7145 §6.

use iser_core::config::blob::{self, BlobError};
use iser_core::config::{is_iscsi_name, List, NodeConfig, PortalConfig, TargetConfig};
use iser_core::config::{MAX_PORTALS, MAX_TARGETS};

/// Everything the image configures itself from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FwConfig<'a> {
    /// The targets served, each with its LUNs (RAM logical units): the blob's, in order.
    pub targets: List<TargetConfig<'a>, MAX_TARGETS>,
    /// The in-image initiator's iSCSI name.
    pub initiator_name: &'a str,
    /// The portals the target lists in SendTargets (RFC 7143 §13.8); the in-image connection
    /// arrives on the first, whose portal group tag every target reports (§13.9).
    pub portals: List<PortalConfig, MAX_PORTALS>,
    /// What every logical unit shares that the blob does not say.
    pub lu: LuParams,
    /// Negotiation limits and iSER sizing.
    pub limits: Limits,
    /// The self-test the image runs.
    pub workload: Workload,
}

/// What the image sets for every RAM logical unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LuParams {
    /// MAXIMUM TRANSFER LENGTH in blocks (Block Limits VPD).
    pub max_transfer_blocks: u32,
    /// Device identifier of the first LU (NAA / serial number source); the n-th LU of the
    /// configuration (all targets, in order) gets `device_id + n`.
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

/// What the image's self-test does after each login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Workload {
    /// Write-then-read pairs per logical unit.
    pub commands: u16,
    /// Largest transfer in bytes (a whole number of the LUN's blocks is used, at most the
    /// LUN's capacity and MAXIMUM TRANSFER LENGTH).
    pub max_bytes: u32,
    /// Seed of the LBA/size/data generator.
    pub seed: u64,
}

impl Workload {
    /// Largest transfer in blocks on a LUN of `block_size` × `blocks` (0: none fits).
    pub fn max_blocks(&self, block_size: u32, blocks: u64, max_transfer_blocks: u32) -> u32 {
        let by_bytes = self.max_bytes.checked_div(block_size).unwrap_or(0);
        let by_capacity = u32::try_from(blocks).unwrap_or(u32::MAX);
        by_bytes.min(by_capacity).min(max_transfer_blocks)
    }
}

/// The image's own parameters: what the node configuration does not say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FwParams {
    /// The in-image initiator's iSCSI name.
    pub initiator_name: &'static str,
    /// MAXIMUM TRANSFER LENGTH in blocks.
    pub max_transfer_blocks: u32,
    /// Device identifier of the first LU.
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
    /// Write-then-read pairs of the self-test, per logical unit.
    pub commands: u16,
    /// Largest self-test transfer in bytes.
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
    commands: 12,
    max_transfer_bytes: 64 * 1024,
    seed: 0x1_5e4f_0001,
};

/// Capacity the image reserved statically; a configuration must fit it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// Targets served (`TARGETS` of the backend).
    pub targets: usize,
    /// Logical units, all targets together (`LUS` of the backend).
    pub lus: usize,
    /// Bytes of LU memory, all logical units together.
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

/// Refusal names (`ConfigError::Invalid`) of the capacity checks.
pub mod refused {
    /// More targets than the image serves.
    pub const TARGETS: &str = "targets (more than the image serves)";
    /// More logical units, all targets together, than the image serves.
    pub const LUS: &str = "targets.luns (more logical units than the image serves)";
    /// One LUN larger than the image's LU memory.
    pub const LUN_BLOCKS: &str = "lun.blocks (larger than the LU memory)";
    /// The LUNs together larger than the image's LU memory.
    pub const LU_BYTES: &str = "targets.luns.blocks (together larger than the LU memory)";
    /// A read-only LUN (the self-test writes every LUN).
    pub const READ_ONLY: &str = "targets.luns.read_only";
}

impl<'a> FwConfig<'a> {
    /// Reads the blob and resolves it with `params`. Never panics, whatever the bytes.
    pub fn from_blob(blob: &'a [u8], params: &FwParams) -> Result<FwConfig<'a>, ConfigError> {
        let node = blob::decode(blob).map_err(ConfigError::Blob)?;
        FwConfig::resolve(&node, params)
    }

    /// The image's view of `node`: all its targets and LUNs, its portals, with `params` for
    /// the rest.
    pub fn resolve(node: &NodeConfig<'a>, params: &FwParams) -> Result<FwConfig<'a>, ConfigError> {
        if node.portals.is_empty() {
            return Err(ConfigError::Invalid("portals"));
        }
        if node.targets.is_empty() {
            return Err(ConfigError::Invalid("targets"));
        }
        let n = &node.negotiation;
        Ok(FwConfig {
            targets: node.targets,
            initiator_name: params.initiator_name,
            portals: node.portals,
            lu: LuParams {
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
                max_bytes: params.max_transfer_bytes,
                seed: params.seed,
            },
        })
    }

    /// The portal the in-image connection arrives on (the first).
    pub fn portal(&self) -> PortalConfig {
        self.portals.first().copied().unwrap_or_default()
    }

    /// Logical units of every target together.
    pub fn lu_count(&self) -> usize {
        self.targets.iter().map(|t| t.luns.len()).sum()
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
        invalid(!self.portals.is_empty(), "portals")?;
        invalid(!self.targets.is_empty(), "targets")?;
        invalid(self.targets.len() <= cap.targets, refused::TARGETS)?;
        invalid(self.lu_count() <= cap.lus, refused::LUS)?;
        invalid(is_iscsi_name(self.initiator_name), "initiator_name")?;
        invalid(self.lu.max_transfer_blocks > 0, "lun.max_transfer_blocks")?;
        let mut lu_bytes = 0u64;
        for t in self.targets.iter() {
            invalid(is_iscsi_name(t.name), "target_name")?;
            invalid(!t.luns.is_empty(), "targets.luns")?;
            for l in t.luns.iter() {
                invalid(matches!(l.block_size, 512 | 4096), "lun.block_size")?;
                let bytes = l
                    .bytes()
                    .filter(|&b| l.blocks > 0 && b <= cap.lu_bytes as u64);
                invalid(bytes.is_some(), refused::LUN_BLOCKS)?;
                invalid(!l.read_only, refused::READ_ONLY)?;
                lu_bytes = lu_bytes.saturating_add(bytes.unwrap_or(u64::MAX));
                let max_blocks =
                    self.workload
                        .max_blocks(l.block_size, l.blocks, self.lu.max_transfer_blocks);
                invalid(max_blocks >= 1, "workload.max_bytes")?;
            }
        }
        invalid(lu_bytes <= cap.lu_bytes as u64, refused::LU_BYTES)?;
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
        invalid(
            self.workload.max_bytes as usize <= cap.data_bytes,
            "workload.max_bytes",
        )?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use iser_core::config::{IpAddress, LunConfig, Transport};
    use proptest::prelude::*;

    /// The blob the image links by default (`iserd firmware-config config/example.toml`).
    const BLOB: &[u8] = include_bytes!("../config/default.postcard");

    pub(crate) const CAP: Capacity = Capacity {
        targets: 2,
        lus: 4,
        lu_bytes: 2 << 20,
        max_buf_size: 16 * 1024 + 512,
        bufs: 16,
        data_bytes: 128 * 1024,
        tasks: 8,
    };

    fn lun(id: u16, block_size: u32, blocks: u64, thin: bool) -> LunConfig {
        LunConfig {
            id,
            block_size,
            blocks,
            thin,
            ..LunConfig::default()
        }
    }

    /// What `config/example.toml` says, resolved with [`PARAMS`].
    pub(crate) fn default_config() -> FwConfig<'static> {
        let dpu0 = TargetConfig {
            name: "iqn.2026-11.rs.iser:dpu0",
            alias: Some("dpu firmware"),
            luns: List::from_slice(&[lun(0, 512, 2048, false), lun(1, 4096, 64, true)]).unwrap(),
        };
        let dpu1 = TargetConfig {
            name: "iqn.2026-11.rs.iser:dpu1",
            alias: None,
            luns: List::from_slice(&[lun(3, 512, 1024, false)]).unwrap(),
        };
        FwConfig {
            targets: List::from_slice(&[dpu0, dpu1]).unwrap(),
            initiator_name: "iqn.2026-11.rs.iser:firmware-initiator",
            portals: List::from_slice(&[PortalConfig {
                address: IpAddress::V4([192, 0, 2, 1]),
                port: 3260,
                group_tag: 1,
                transport: Transport::Auto,
            }])
            .unwrap(),
            lu: LuParams {
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
                commands: 12,
                max_bytes: 64 * 1024,
                seed: 0x1_5e4f_0001,
            },
        }
    }

    #[test]
    fn test_linked_blob_resolves_and_fits() {
        let c = FwConfig::from_blob(BLOB, &PARAMS).unwrap();
        assert_eq!(c, default_config());
        assert_eq!(c.lu_count(), 3);
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

    /// `default_config()` with its targets replaced.
    fn with_targets(targets: &[TargetConfig<'static>]) -> FwConfig<'static> {
        FwConfig {
            targets: List::from_slice(targets).unwrap(),
            ..default_config()
        }
    }

    fn target(name: &'static str, luns: &[LunConfig]) -> TargetConfig<'static> {
        TargetConfig {
            name,
            alias: None,
            luns: List::from_slice(luns).unwrap(),
        }
    }

    #[test]
    fn test_validate_refuses_what_does_not_fit() {
        let refuses = |c: FwConfig<'static>, why| {
            assert_eq!(c.validate(&CAP), Err(ConfigError::Invalid(why)));
        };
        let a = "iqn.2026-11.rs.iser:a";
        refuses(
            with_targets(&[target(a, &[lun(0, 512, 1 << 20, false)])]),
            refused::LUN_BLOCKS,
        );
        refuses(
            with_targets(&[target(a, &[lun(0, 512, u64::MAX, false)])]),
            refused::LUN_BLOCKS,
        );
        // Each fits, together they do not.
        let half = lun(0, 512, 2048, false);
        refuses(
            with_targets(&[target(
                a,
                &[half, lun(1, 512, 2048, false), lun(2, 512, 1, false)],
            )]),
            refused::LU_BYTES,
        );
        let small = |id| lun(id, 512, 8, false);
        refuses(
            with_targets(&[
                target(a, &[small(0)]),
                target("iqn.2026-11.rs.iser:b", &[small(0)]),
                target("iqn.2026-11.rs.iser:c", &[small(0)]),
            ]),
            refused::TARGETS,
        );
        refuses(
            with_targets(&[
                target(a, &[small(0), small(1), small(2)]),
                target("iqn.2026-11.rs.iser:b", &[small(0), small(1)]),
            ]),
            refused::LUS,
        );
        let mut ro = lun(0, 512, 8, false);
        ro.read_only = true;
        refuses(with_targets(&[target(a, &[ro])]), refused::READ_ONLY);
        refuses(
            with_targets(&[target("target", &[small(0)])]),
            "target_name",
        );
        let mut c = default_config();
        c.limits.buf_size = 1 << 20;
        refuses(c, "limits.buf_size");
        // Capacity exactly used: four LUs, 2 MiB, two targets.
        let quarter = |id| lun(id, 4096, 128, false);
        let full = with_targets(&[
            target(a, &[quarter(0), quarter(1), quarter(2)]),
            target("iqn.2026-11.rs.iser:b", &[quarter(7)]),
        ]);
        assert_eq!(full.validate(&CAP), Ok(()));
    }

    #[test]
    fn test_workload_max_blocks() {
        let w = default_config().workload;
        assert_eq!(w.max_blocks(512, 2048, 256), 128);
        assert_eq!(w.max_blocks(4096, 64, 256), 16);
        assert_eq!(w.max_blocks(4096, 3, 256), 3);
        assert_eq!(w.max_blocks(512, 2048, 100), 100);
        assert_eq!(w.max_blocks(0, 2048, 256), 0);
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
