//! The configuration blob firmware reads: `b"ISFW"`, a format version, the body length (u32
//! LE), the postcard encoding of a [`NodeConfig`], and a CRC-32 (IEEE, LE) of every byte before
//! it. Bytes after the checksum are ignored, so a blob may sit at a known flash address in
//! front of erased flash. Postcard alone cannot tell a flipped bit in an integer from a real
//! value; the checksum can. Decoding never allocates and never panics.

use core::fmt;

use super::{NodeConfig, OutOfRange};

/// The blob's first four bytes.
pub const MAGIC: [u8; 4] = *b"ISFW";
/// The format version written and read.
pub const VERSION: u8 = 2;
/// Bytes before the body: magic, version, length.
pub const HEADER_LEN: usize = 9;
/// Bytes of the trailing checksum.
pub const CRC_LEN: usize = 4;

/// Why a blob was refused (or could not be written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum BlobError {
    /// Fewer bytes than the header, or than the header says the blob has.
    Truncated {
        /// Bytes present.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// Not a configuration blob.
    BadMagic,
    /// A format version this code does not read.
    Version(u8),
    /// The checksum does not match: the blob is corrupt.
    Checksum {
        /// CRC-32 stored in the blob.
        stored: u32,
        /// CRC-32 of the bytes.
        computed: u32,
    },
    /// The checksum matched but postcard could not decode the body.
    Decode(DecodeError),
    /// The body is longer than the configuration it encodes.
    TrailingBytes,
    /// Decoded, but a value is out of range.
    OutOfRange(OutOfRange),
    /// Encoding: the output buffer is too small.
    BufferTooSmall,
}

/// What postcard found wrong in a body whose checksum matched (an encoder bug or a blob
/// written for other capacities).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DecodeError {
    /// The body ends inside a value.
    UnexpectedEnd,
    /// A malformed variable-length integer.
    BadVarint,
    /// A boolean other than 0 or 1.
    BadBool,
    /// A string that is not UTF-8.
    BadUtf8,
    /// An option or enum tag that does not exist.
    BadTag,
    /// More portals, targets or LUNs than [`MAX_PORTALS`](super::MAX_PORTALS),
    /// [`MAX_TARGETS`](super::MAX_TARGETS) or [`MAX_LUNS`](super::MAX_LUNS).
    TooMany,
    /// Anything else postcard reports.
    Other,
}

impl From<postcard::Error> for DecodeError {
    fn from(e: postcard::Error) -> Self {
        use postcard::Error as E;
        match e {
            E::DeserializeUnexpectedEnd => DecodeError::UnexpectedEnd,
            E::DeserializeBadVarint => DecodeError::BadVarint,
            E::DeserializeBadBool => DecodeError::BadBool,
            E::DeserializeBadUtf8 | E::DeserializeBadChar => DecodeError::BadUtf8,
            E::DeserializeBadOption | E::DeserializeBadEnum => DecodeError::BadTag,
            E::SerdeDeCustom => DecodeError::TooMany,
            _ => DecodeError::Other,
        }
    }
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobError::Truncated { len, needed } => {
                write!(f, "truncated: {len} bytes, {needed} needed")
            }
            BlobError::BadMagic => write!(f, "bad magic (not an ISFW configuration blob)"),
            BlobError::Version(v) => write!(f, "format version {v}, this reads {VERSION}"),
            BlobError::Checksum { stored, computed } => write!(
                f,
                "CRC-32 mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            BlobError::Decode(e) => write!(f, "postcard decode error: {e:?}"),
            BlobError::TrailingBytes => write!(f, "bytes left after the configuration"),
            BlobError::OutOfRange(e) => write!(f, "{e}"),
            BlobError::BufferTooSmall => write!(f, "output buffer too small"),
        }
    }
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

/// Reads, checks and range-checks a blob; names borrow from `blob`.
pub fn decode(blob: &[u8]) -> Result<NodeConfig<'_>, BlobError> {
    let truncated = |needed| BlobError::Truncated {
        len: blob.len(),
        needed,
    };
    let header = blob.get(..HEADER_LEN).ok_or(truncated(HEADER_LEN))?;
    let (magic, rest) = header.split_at(4);
    if magic != MAGIC {
        return Err(BlobError::BadMagic);
    }
    let (version, length) = rest.split_at(1);
    match version.first() {
        Some(&VERSION) => {}
        Some(&v) => return Err(BlobError::Version(v)),
        None => return Err(truncated(HEADER_LEN)),
    }
    let body_len = length
        .try_into()
        .map(u32::from_le_bytes)
        .map_err(|_| truncated(HEADER_LEN))?;
    let body_end = usize::try_from(body_len)
        .ok()
        .and_then(|n| n.checked_add(HEADER_LEN))
        .ok_or(truncated(usize::MAX))?;
    let needed = body_end.checked_add(CRC_LEN).ok_or(truncated(usize::MAX))?;
    let framed = blob.get(..body_end).ok_or(truncated(needed))?;
    let stored = blob
        .get(body_end..needed)
        .and_then(|c| c.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or(truncated(needed))?;
    let computed = crc32(framed);
    if stored != computed {
        return Err(BlobError::Checksum { stored, computed });
    }
    let body = framed.get(HEADER_LEN..).unwrap_or(&[]);
    let (config, rest) = postcard::take_from_bytes::<NodeConfig<'_>>(body)
        .map_err(|e| BlobError::Decode(e.into()))?;
    if !rest.is_empty() {
        return Err(BlobError::TrailingBytes);
    }
    config.check().map_err(BlobError::OutOfRange)?;
    Ok(config)
}

/// Range-checks `config` and writes its blob into `out`; returns the blob's length.
pub fn encode(config: &NodeConfig<'_>, out: &mut [u8]) -> Result<usize, BlobError> {
    config.check().map_err(BlobError::OutOfRange)?;
    let (header, rest) = out
        .split_at_mut_checked(HEADER_LEN)
        .ok_or(BlobError::BufferTooSmall)?;
    let body_len = postcard::to_slice(config, rest)
        .map_err(|_| BlobError::BufferTooSmall)?
        .len();
    let (magic, rest) = header.split_at_mut(4);
    magic.copy_from_slice(&MAGIC);
    let (version, length) = rest.split_at_mut(1);
    version.fill(VERSION);
    let body_len32 = u32::try_from(body_len).map_err(|_| BlobError::BufferTooSmall)?;
    length.copy_from_slice(&body_len32.to_le_bytes());
    let end = body_len
        .checked_add(HEADER_LEN)
        .ok_or(BlobError::BufferTooSmall)?;
    let total = end.checked_add(CRC_LEN).ok_or(BlobError::BufferTooSmall)?;
    let crc = crc32(out.get(..end).ok_or(BlobError::BufferTooSmall)?);
    out.get_mut(end..total)
        .ok_or(BlobError::BufferTooSmall)?
        .copy_from_slice(&crc.to_le_bytes());
    Ok(total)
}

#[cfg(test)]
mod tests {
    use std::vec::Vec;

    use proptest::prelude::*;

    use super::super::tests::sample;
    use super::super::*;
    use super::*;

    fn blob(c: &NodeConfig<'_>) -> Vec<u8> {
        let mut out = [0u8; 2048];
        let n = encode(c, &mut out).unwrap();
        out[..n].to_vec()
    }

    /// Rewrites the checksum so the next check down the line is reached.
    fn reseal(b: &mut [u8]) {
        let n = b.len() - CRC_LEN;
        let crc = crc32(&b[..n]);
        b[n..].copy_from_slice(&crc.to_le_bytes());
    }

    #[test]
    fn test_crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn test_round_trip_and_padding_after_the_blob() {
        let c = sample();
        let mut b = blob(&c);
        assert_eq!(decode(&b), Ok(c));
        b.extend_from_slice(&[0xff; 64]);
        assert_eq!(decode(&b), Ok(c));
    }

    #[test]
    fn test_every_corruption_class_is_named() {
        let good = blob(&sample());
        assert_eq!(
            decode(&good[..3]),
            Err(BlobError::Truncated { len: 3, needed: 9 })
        );
        assert_eq!(
            decode(&good[..good.len() - 1]),
            Err(BlobError::Truncated {
                len: good.len() - 1,
                needed: good.len()
            })
        );
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(decode(&bad), Err(BlobError::BadMagic));
        let mut bad = good.clone();
        bad[4] = 1;
        assert_eq!(decode(&bad), Err(BlobError::Version(1)));
        let mut bad = good.clone();
        bad[20] ^= 0x10;
        assert!(matches!(decode(&bad), Err(BlobError::Checksum { .. })));
        // A body that ends inside a value, sealed with a valid checksum.
        let mut short = good[..good.len() - CRC_LEN - 1].to_vec();
        let n = u32::from_le_bytes(short[5..9].try_into().unwrap()) - 1;
        short[5..9].copy_from_slice(&n.to_le_bytes());
        short.extend_from_slice(&[0; 4]);
        reseal(&mut short);
        assert_eq!(
            decode(&short),
            Err(BlobError::Decode(DecodeError::UnexpectedEnd))
        );
        // One byte more in the body than the configuration uses.
        let mut long = good[..good.len() - CRC_LEN].to_vec();
        long.push(0);
        let n = u32::from_le_bytes(long[5..9].try_into().unwrap()) + 1;
        long[5..9].copy_from_slice(&n.to_le_bytes());
        long.extend_from_slice(&[0; 4]);
        reseal(&mut long);
        assert_eq!(decode(&long), Err(BlobError::TrailingBytes));
    }

    #[test]
    fn test_decode_refuses_values_out_of_range() {
        // Written without `encode`'s check, as a foreign encoder could.
        let mut c = sample();
        c.negotiation.max_burst_length = 100;
        let mut out = [0u8; 1024];
        let body = postcard::to_slice(&c, &mut out[HEADER_LEN..])
            .unwrap()
            .len();
        out[..4].copy_from_slice(&MAGIC);
        out[4] = VERSION;
        out[5..9].copy_from_slice(&(body as u32).to_le_bytes());
        let mut b = out[..HEADER_LEN + body + CRC_LEN].to_vec();
        reseal(&mut b);
        assert_eq!(
            decode(&b),
            Err(BlobError::OutOfRange(OutOfRange {
                field: "negotiation.max_burst_length",
                index: 0
            }))
        );
        assert_eq!(
            encode(&c, &mut out),
            Err(BlobError::OutOfRange(OutOfRange {
                field: "negotiation.max_burst_length",
                index: 0
            }))
        );
        assert_eq!(
            encode(&sample(), &mut out[..20]),
            Err(BlobError::BufferTooSmall)
        );
    }

    /// Every byte of the body replaced by values that break postcard in each way, the blob
    /// resealed so the checksum passes: decode never panics, and each decode fault class and
    /// the range check are reached somewhere.
    #[test]
    fn test_resealed_body_mutations_reach_every_decode_class() {
        let good = blob(&sample());
        let mut seen = std::collections::BTreeSet::new();
        for i in HEADER_LEN..good.len() - CRC_LEN {
            for v in [0x02, 0x80, 0xff, 0xc3, 0x00] {
                let mut b = good.clone();
                b[i] = v;
                reseal(&mut b);
                seen.insert(match decode(&b) {
                    Ok(_) => "Ok",
                    Err(BlobError::Decode(DecodeError::BadBool)) => "BadBool",
                    Err(BlobError::Decode(DecodeError::BadTag)) => "BadTag",
                    Err(BlobError::Decode(DecodeError::BadUtf8)) => "BadUtf8",
                    Err(BlobError::Decode(DecodeError::BadVarint)) => "BadVarint",
                    Err(BlobError::Decode(DecodeError::UnexpectedEnd)) => "UnexpectedEnd",
                    Err(BlobError::Decode(_)) => "Decode",
                    Err(BlobError::TrailingBytes) => "TrailingBytes",
                    Err(BlobError::OutOfRange(_)) => "OutOfRange",
                    Err(_) => "other",
                });
            }
        }
        for class in [
            "BadBool",
            "BadTag",
            "BadUtf8",
            "BadVarint",
            "UnexpectedEnd",
            "OutOfRange",
        ] {
            assert!(seen.contains(class), "{class} not reached: {seen:?}");
        }
    }

    /// A blob of `sample()` whose one target has `luns`, written field by field (postcard
    /// writes a list as a varint count, then the items), so the count may exceed [`MAX_LUNS`].
    fn blob_with_luns(luns: &[LunConfig]) -> Vec<u8> {
        let c = sample();
        let t = c.targets.as_slice()[0];
        let mut b = Vec::from(MAGIC);
        b.extend_from_slice(&[VERSION, 0, 0, 0, 0]);
        let mut tmp = [0u8; 1024];
        b.extend_from_slice(postcard::to_slice(&c.portals, &mut tmp).unwrap());
        b.extend_from_slice(postcard::to_slice(&c.session, &mut tmp).unwrap());
        b.extend_from_slice(postcard::to_slice(&c.negotiation, &mut tmp).unwrap());
        b.push(1);
        b.extend_from_slice(postcard::to_slice(&(t.name, t.alias), &mut tmp).unwrap());
        b.extend_from_slice(postcard::to_slice(luns, &mut tmp).unwrap());
        let body = (b.len() - HEADER_LEN) as u32;
        b[5..9].copy_from_slice(&body.to_le_bytes());
        b.extend_from_slice(&[0; CRC_LEN]);
        reseal(&mut b);
        b
    }

    #[test]
    fn test_too_many_luns_is_a_decode_error() {
        let luns: Vec<LunConfig> = (0..=MAX_LUNS as u16)
            .map(|id| LunConfig {
                id,
                ..LunConfig::default()
            })
            .collect();
        let full = blob_with_luns(&luns[..MAX_LUNS]);
        assert_eq!(
            decode(&full).unwrap().targets.as_slice()[0].luns.len(),
            MAX_LUNS
        );
        assert_eq!(
            decode(&blob_with_luns(&luns)),
            Err(BlobError::Decode(DecodeError::TooMany))
        );
    }

    fn arb_config() -> impl Strategy<Value = NodeConfig<'static>> {
        const NAMES: [&str; 3] = [
            "iqn.2026-11.rs.iser:a",
            "iqn.2026-11.rs.iser:b",
            "eui.0123456789abcdef",
        ];
        let lun = (
            0u16..=MAX_LUN,
            any::<bool>(),
            1u64..1 << 40,
            any::<[bool; 3]>(),
        )
            .prop_map(
                |(id, big, blocks, [read_only, thin, removable])| LunConfig {
                    id,
                    block_size: if big { 4096 } else { 512 },
                    blocks,
                    physical_block_size: big.then_some(4096),
                    read_only,
                    thin,
                    removable,
                },
            );
        let target = (
            0usize..3,
            proptest::option::of("[a-z ]{0,20}"),
            proptest::collection::vec(lun, 1..=MAX_LUNS),
        );
        let portal = (
            any::<bool>(),
            any::<[u8; 16]>(),
            any::<u16>(),
            any::<u16>(),
            any::<bool>(),
        );
        (
            proptest::collection::vec(portal, 1..=MAX_PORTALS),
            (1u32.., 1u32.., any::<u32>(), 1u32.., 1u32..),
            (
                512u32..=MAX_DATA_LENGTH,
                512u32..=MAX_DATA_LENGTH,
                any::<[bool; 3]>(),
                1u16..,
            ),
            proptest::collection::vec(target, 1..=MAX_TARGETS),
        )
            .prop_map(|(portals, s, n, targets)| {
                let mut c = NodeConfig {
                    session: SessionLimits {
                        max_sessions: s.0,
                        queue_depth: s.1,
                        nop_in_interval_secs: s.2,
                        nop_in_timeout_secs: s.3,
                        login_timeout_secs: s.4,
                    },
                    negotiation: NegotiationLimits {
                        max_recv_data_segment_length: n.0,
                        max_burst_length: n.0.max(n.1),
                        first_burst_length: n.0.min(n.1),
                        immediate_data: n.2[0],
                        initial_r2t: n.2[1],
                        max_outstanding_r2t: n.3,
                        allow_digests: n.2[2],
                    },
                    ..NodeConfig::default()
                };
                for (i, (v6, a, port, tag, tcp)) in portals.into_iter().enumerate() {
                    let address = if v6 {
                        IpAddress::V6(a)
                    } else {
                        IpAddress::V4([a[0], a[1], a[2], a[3]])
                    };
                    c.portals
                        .push(PortalConfig {
                            address,
                            port: port.wrapping_add(i as u16),
                            group_tag: tag,
                            transport: if tcp { Transport::Tcp } else { Transport::Auto },
                        })
                        .unwrap();
                }
                for (name, alias, luns) in targets {
                    if c.targets.iter().any(|t| t.name == NAMES[name]) {
                        continue;
                    }
                    let alias: Option<&'static str> =
                        alias.map(|a| &*std::boxed::Box::leak(a.into_boxed_str()));
                    let mut list = List::new();
                    for (k, mut l) in luns.into_iter().enumerate() {
                        l.id = k as u16;
                        list.push(l).unwrap();
                    }
                    c.targets
                        .push(TargetConfig {
                            name: NAMES[name],
                            alias,
                            luns: list,
                        })
                        .unwrap();
                }
                c
            })
            .prop_filter("valid", |c| c.check().is_ok())
    }

    proptest! {
        /// Every valid configuration survives encode → decode unchanged.
        #[test]
        fn round_trip(c in arb_config()) {
            let b = blob(&c);
            prop_assert_eq!(decode(&b), Ok(c));
        }

        /// Any bytes: decode never panics, and what it accepts re-encodes to the same blob.
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(c) = decode(&bytes) {
                let b = blob(&c);
                prop_assert_eq!(&bytes[..b.len()], &b[..]);
            }
        }

        /// Any single flipped bit of a valid blob is refused.
        #[test]
        fn any_bit_flip_is_refused(c in arb_config(), bit in any::<usize>()) {
            let mut b = blob(&c);
            let bit = bit % (8 * b.len());
            b[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(decode(&b).is_err());
        }
    }
}
