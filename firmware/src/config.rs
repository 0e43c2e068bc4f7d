//! The firmware's configuration blob: target, initiator, LUN, portal and limits, postcard-encoded
//! and framed as `b"ISFW"`, a format version, the postcard body, and a CRC-32 (IEEE) of all the
//! bytes before it (little-endian). Postcard alone cannot tell a flipped bit in an integer from
//! a real value; the checksum can. Limits follow RFC 7143 §13 and RFC 7145 §6.

use serde::{Deserialize, Serialize};

/// The blob's first four bytes.
pub const MAGIC: [u8; 4] = *b"ISFW";
/// The format version this firmware reads.
pub const VERSION: u8 = 1;

/// Everything the image configures itself from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FwConfig<'a> {
    /// The target's iSCSI name (RFC 7143 §4.2.7).
    pub target_name: &'a str,
    /// The in-image initiator's iSCSI name.
    pub initiator_name: &'a str,
    /// The portal the target lists in SendTargets (`host:port,tag`).
    pub portal: &'a str,
    /// The RAM logical unit.
    pub lun: LunConfig,
    /// Negotiation limits and iSER sizing.
    pub limits: Limits,
    /// The self-test the image runs.
    pub workload: Workload,
}

/// The RAM logical unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LunConfig {
    /// Its LUN number (peripheral or flat space addressing, SAM-5 §4.6.6).
    pub lun: u16,
    /// Logical block size (512 or 4096).
    pub block_size: u32,
    /// Capacity in blocks (must fit the image's static LU memory).
    pub blocks: u64,
    /// MAXIMUM TRANSFER LENGTH in blocks (Block Limits VPD).
    pub max_transfer_blocks: u32,
    /// Device identifier (NAA / serial number source).
    pub device_id: u64,
}

/// Negotiation limits (RFC 7143 §13) and iSER buffer sizing (RFC 7145 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Workload {
    /// Write-then-read pairs.
    pub commands: u16,
    /// Largest transfer in blocks.
    pub max_blocks: u32,
    /// Seed of the LBA/size/data generator.
    pub seed: u64,
}

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

/// Why a blob was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConfigError {
    /// Shorter than magic, version and checksum.
    Truncated {
        /// Bytes present.
        len: usize,
    },
    /// Not a configuration blob.
    BadMagic,
    /// A format version this firmware does not read.
    Version(u8),
    /// The checksum does not match: the blob is corrupt.
    Checksum {
        /// CRC-32 stored in the blob.
        stored: u32,
        /// CRC-32 of the bytes.
        computed: u32,
    },
    /// The checksum matched but postcard could not decode the body.
    Decode,
    /// Bytes left after the body.
    TrailingBytes,
    /// A field is out of range or does not fit the image; names the field.
    Invalid(&'static str),
}

/// CRC-32 (IEEE 802.3, reflected, as zlib computes it).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

impl<'a> FwConfig<'a> {
    /// Reads and checks a blob. Never panics, whatever the bytes.
    pub fn parse(blob: &'a [u8]) -> Result<FwConfig<'a>, ConfigError> {
        let truncated = ConfigError::Truncated { len: blob.len() };
        let body_end = blob.len().checked_sub(4).ok_or(truncated)?;
        let (framed, crc) = blob.split_at_checked(body_end).ok_or(truncated)?;
        let (head, body) = framed.split_at_checked(5).ok_or(truncated)?;
        let (magic, version) = head.split_at_checked(4).ok_or(truncated)?;
        if magic != MAGIC {
            return Err(ConfigError::BadMagic);
        }
        let stored = u32::from_le_bytes(crc.try_into().map_err(|_| truncated)?);
        let computed = crc32(framed);
        if stored != computed {
            return Err(ConfigError::Checksum { stored, computed });
        }
        match version.first() {
            Some(&VERSION) => {}
            Some(&v) => return Err(ConfigError::Version(v)),
            None => return Err(truncated),
        }
        let (config, rest) =
            postcard::take_from_bytes::<FwConfig<'a>>(body).map_err(|_| ConfigError::Decode)?;
        if !rest.is_empty() {
            return Err(ConfigError::TrailingBytes);
        }
        Ok(config)
    }

    /// Writes the blob into `out`; returns its length (`None` when `out` is too small).
    pub fn encode(&self, out: &mut [u8]) -> Option<usize> {
        let (head, rest) = out.split_at_mut_checked(5)?;
        head.get_mut(..4)?.copy_from_slice(&MAGIC);
        *head.get_mut(4)? = VERSION;
        let body_len = postcard::to_slice(self, rest).ok()?.len();
        let end = body_len.checked_add(5)?;
        let crc = crc32(out.get(..end)?);
        out.get_mut(end..end.checked_add(4)?)?
            .copy_from_slice(&crc.to_le_bytes());
        end.checked_add(4)
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
        invalid(
            self.target_name.starts_with("iqn.")
                || self.target_name.starts_with("eui.")
                || self.target_name.starts_with("naa."),
            "target_name",
        )?;
        invalid(
            self.initiator_name.starts_with("iqn.")
                || self.initiator_name.starts_with("eui.")
                || self.initiator_name.starts_with("naa."),
            "initiator_name",
        )?;
        invalid(!self.portal.is_empty(), "portal")?;
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

/// The configuration the image ships with (`config/default.postcard` is its encoding).
pub const DEFAULT: FwConfig<'static> = FwConfig {
    target_name: "iqn.2026-11.rs.iser:dpu-target",
    initiator_name: "iqn.2026-11.rs.iser:dpu-initiator",
    portal: "192.0.2.1:3260,1",
    lun: LunConfig {
        lun: 0,
        block_size: 512,
        blocks: 2048,
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CAP: Capacity = Capacity {
        lu_bytes: 1 << 20,
        max_buf_size: 16 * 1024 + 512,
        bufs: 16,
        data_bytes: 128 * 1024,
        tasks: 8,
    };

    fn blob(c: &FwConfig<'_>) -> std::vec::Vec<u8> {
        let mut out = [0u8; 512];
        let n = c.encode(&mut out).unwrap();
        out[..n].to_vec()
    }

    #[test]
    fn test_crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn test_default_round_trips_and_fits() {
        let b = blob(&DEFAULT);
        assert_eq!(FwConfig::parse(&b), Ok(DEFAULT));
        assert_eq!(DEFAULT.validate(&CAP), Ok(()));
    }

    /// `config/default.postcard` is the encoding of [`DEFAULT`]; `UPDATE_BLOB=1` rewrites it.
    #[test]
    fn test_checked_in_blob_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.postcard");
        let b = blob(&DEFAULT);
        if std::env::var_os("UPDATE_BLOB").is_some() {
            std::fs::write(path, &b).unwrap();
        }
        assert_eq!(std::fs::read(path).unwrap(), b, "run with UPDATE_BLOB=1");
    }

    #[test]
    fn test_corrupt_blobs_name_the_fault() {
        let good = blob(&DEFAULT);
        assert_eq!(
            FwConfig::parse(&good[..3]),
            Err(ConfigError::Truncated { len: 3 })
        );
        assert_eq!(FwConfig::parse(&[]), Err(ConfigError::Truncated { len: 0 }));
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(FwConfig::parse(&bad), Err(ConfigError::BadMagic));
        let mut bad = good.clone();
        bad[20] ^= 0x10;
        assert!(matches!(
            FwConfig::parse(&bad),
            Err(ConfigError::Checksum { .. })
        ));
        assert!(matches!(
            FwConfig::parse(&good[..good.len() - 1]),
            Err(ConfigError::Checksum { .. })
        ));
        // A newer format with a valid checksum.
        let mut v2 = good.clone();
        v2[4] = 2;
        let n = v2.len() - 4;
        let crc = crc32(&v2[..n]);
        v2[n..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(FwConfig::parse(&v2), Err(ConfigError::Version(2)));
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

    proptest! {
        /// Any bytes: parse never panics, and anything it accepts re-encodes to the same blob.
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(c) = FwConfig::parse(&bytes) {
                prop_assert_eq!(blob(&c), bytes);
            }
        }

        /// Any single flipped bit of the shipped blob is caught.
        #[test]
        fn any_bit_flip_is_refused(bit in 0usize..(8 * 120)) {
            let mut b = blob(&DEFAULT);
            let i = bit / 8 % b.len();
            b[i] ^= 1 << (bit % 8);
            prop_assert!(FwConfig::parse(&b).is_err());
        }
    }
}
