//! Reading CDB fields (SPC-4 §4.2: big-endian multi-byte fields) and checking a CDB against its
//! CDB USAGE DATA map (SPC-4 §6.35.3): any bit set outside the map is an INVALID FIELD IN CDB.

use super::sense::Sense;

/// `N` bytes at `at`, zeros if the slice is too short.
#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn bytes<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    b.get(at..)
        .and_then(|s| s.first_chunk::<N>())
        .copied()
        .unwrap_or([0; N])
}

/// Byte at `at`, 0 if absent.
#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn u8_at(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(bytes(b, at))
}

#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn be24(b: &[u8], at: usize) -> u32 {
    let [x, y, z] = bytes(b, at);
    u32::from_be_bytes([0, x, y, z])
}

#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes(b, at))
}

#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(bytes(b, at))
}

/// CONTROL byte bits we refuse: NACA (bit 2, ACA is not supported, SAM-5 §5.9.1) and the
/// obsolete LINK bit (bit 0). Vendor-specific bits 7–6 are ignored.
const CONTROL_REJECT: u8 = 0x05;

/// The bits `usage` allows in the first 16 CDB bytes, big-endian: the opcode byte and bytes
/// past the CDB allow anything, the CONTROL byte (the last) all but NACA and LINK. Computed at
/// compile time for the command table, so the per-command check is one AND.
#[allow(clippy::arithmetic_side_effects)] // const context: i stays below 16
pub(crate) const fn allowed_bits(usage: &[u8]) -> u128 {
    let mut m = [0xffu8; 16];
    let last = usage.len().saturating_sub(1);
    let mut i = 1;
    while i < usage.len() && i < m.len() {
        #[allow(clippy::indexing_slicing)] // i < both lengths (const context: no iterators)
        {
            m[i] = if i == last { !CONTROL_REJECT } else { usage[i] };
        }
        i += 1;
    }
    u128::from_be_bytes(m)
}

/// As [`check_usage`], with `allowed` = [`allowed_bits`]`(usage)`: one AND when the CDB is
/// valid, the byte-by-byte search for the sense data only when it is not.
#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn check_usage_bits(cdb: &[u8], usage: &[u8], allowed: u128) -> Result<(), Sense> {
    let window = match cdb.first_chunk::<16>() {
        Some(w) => *w,
        None => bytes_padded(cdb),
    };
    if u128::from_be_bytes(window) & !allowed == 0 && usage.len() <= 16 {
        return Ok(());
    }
    check_usage(cdb, usage)
}

/// The first 16 bytes of a shorter CDB, zero padded.
fn bytes_padded(cdb: &[u8]) -> [u8; 16] {
    let mut w = [0u8; 16];
    for (d, s) in w.iter_mut().zip(cdb) {
        *d = *s;
    }
    w
}

/// Checks `cdb` against `usage` (byte 0 is the opcode, the last byte the CONTROL byte).
/// Returns INVALID FIELD IN CDB pointing at the most significant offending bit.
pub(crate) fn check_usage(cdb: &[u8], usage: &[u8]) -> Result<(), Sense> {
    let last = usage.len().saturating_sub(1);
    for (i, (&b, &u)) in cdb.iter().zip(usage).enumerate().skip(1) {
        let allowed = if i == last { !CONTROL_REJECT } else { u };
        let bad = b & !allowed;
        if bad != 0 {
            let bit = 7u32.saturating_sub(bad.leading_zeros()) as u8;
            return Err(Sense::invalid_field_in_cdb(
                u16::try_from(i).unwrap_or(u16::MAX),
                Some(bit),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    proptest! {
        /// The one-AND check agrees with the byte-by-byte one on every CDB and usage map.
        #[test]
        fn prop_usage_bits_agree(
            usage in proptest::collection::vec(any::<u8>(), 1..=16),
            cdb in proptest::collection::vec(any::<u8>(), 0..=20),
            masked in any::<bool>(),
        ) {
            // Half the cases: a CDB inside the map, so the valid path is exercised too.
            let cdb: Vec<u8> = if masked {
                cdb.iter().zip(usage.iter().chain(core::iter::repeat(&0xff))).enumerate()
                    .map(|(i, (&b, &u))| if i + 1 == usage.len() { b & !CONTROL_REJECT } else if i == 0 { b } else { b & u })
                    .collect()
            } else {
                cdb
            };
            prop_assert_eq!(
                check_usage_bits(&cdb, &usage, allowed_bits(&usage)),
                check_usage(&cdb, &usage)
            );
        }
    }
    use crate::scsi::sense::SenseSpecific;

    #[test]
    fn test_fields() {
        let b = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(be16(&b, 0), 0x0102);
        assert_eq!(be24(&b, 1), 0x020304);
        assert_eq!(be32(&b, 5), 0x06070809);
        assert_eq!(be64(&b, 1), 0x0203040506070809);
        assert_eq!(be64(&b, 2), 0, "short input reads as zero");
        assert_eq!(u8_at(&b, 100), 0);
    }

    #[test]
    fn test_usage_points_at_bad_bit() {
        let usage = [0x28, 0x1e, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0x00];
        let mut cdb = [0x28, 0x18, 0, 0, 0, 0, 0, 0, 1, 0];
        assert_eq!(check_usage(&cdb, &usage), Ok(()));
        cdb[1] = 0x20;
        let s = check_usage(&cdb, &usage).unwrap_err();
        assert_eq!(
            s.specific,
            Some(SenseSpecific::FieldPointer {
                in_cdb: true,
                byte: 1,
                bit: Some(5)
            })
        );
        cdb[1] = 0;
        cdb[9] = 0xc0; // vendor bits are fine
        assert_eq!(check_usage(&cdb, &usage), Ok(()));
        cdb[9] = 0x04; // NACA is not
        assert!(check_usage(&cdb, &usage).is_err());
    }
}
