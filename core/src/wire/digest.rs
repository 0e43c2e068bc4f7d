//! CRC32C (Castagnoli), the iSCSI HeaderDigest and DataDigest (RFC 7143 §13.1; algorithm and test
//! vectors in RFC 3720 §B.4): reflected, polynomial 0x1EDC6F41 (0x82F63B78 reflected), initial
//! value and final XOR 0xFFFFFFFF.
//!
//! On the wire the 32-bit digest goes least significant byte first ([`to_wire`]); RFC 3720 §B.4
//! lists 32 zero bytes with CRC "aa 36 91 8a", i.e. the value 0x8a9136aa.

/// The reflected Castagnoli polynomial.
const POLY: u32 = 0x82f6_3b78;

/// Slice-by-8 tables, built at compile time: `TABLES[0]` is the classic byte table, `TABLES[k]`
/// advances a byte through `k` further zero bytes.
// Const evaluation: an overflow or out-of-bounds index here is a compile error, not a panic.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const TABLES: [[u32; 256]; 8] = {
    let mut tables = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        tables[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[k - 1][i];
            tables[k][i] = (prev >> 8) ^ tables[0][(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    tables
};

/// Entry `index & 0xff` of table `k` (the mask keeps the index in range; the compiler drops the
/// check).
#[cfg_attr(not(feature = "small-code"), inline(always))]
fn table(k: usize, index: u32) -> u32 {
    TABLES
        .get(k)
        .and_then(|t| t.get((index & 0xff) as usize))
        .copied()
        .unwrap_or(0)
}

/// An incremental CRC32C: feed it the segment in pieces with [`Crc32c::update`], then
/// [`Crc32c::finish`]. Padding bytes are part of the data digest (RFC 7143 §13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Crc32c {
    state: u32,
}

impl Default for Crc32c {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32c {
    /// A fresh digest.
    pub const fn new() -> Self {
        Crc32c { state: 0xffff_ffff }
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        let mut crc = self.state;
        let mut chunks = data.chunks_exact(8);
        for chunk in &mut chunks {
            let [b0, b1, b2, b3, b4, b5, b6, b7] = super::bytes::get::<8>(chunk, 0);
            let low = crc ^ u32::from_le_bytes([b0, b1, b2, b3]);
            crc = table(7, low)
                ^ table(6, low.wrapping_shr(8))
                ^ table(5, low.wrapping_shr(16))
                ^ table(4, low.wrapping_shr(24))
                ^ table(3, u32::from(b4))
                ^ table(2, u32::from(b5))
                ^ table(1, u32::from(b6))
                ^ table(0, u32::from(b7));
        }
        for &b in chunks.remainder() {
            crc = table(0, crc ^ u32::from(b)) ^ crc.wrapping_shr(8);
        }
        self.state = crc;
    }

    /// Feeds `n` zero bytes (padding).
    pub fn update_zeros(&mut self, n: usize) {
        for _ in 0..n {
            self.update(&[0]);
        }
    }

    /// The digest value.
    pub const fn finish(&self) -> u32 {
        self.state ^ 0xffff_ffff
    }
}

/// CRC32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = Crc32c::new();
    crc.update(data);
    crc.finish()
}

/// The four bytes sent for a digest value (least significant byte first).
pub const fn to_wire(digest: u32) -> [u8; 4] {
    digest.to_le_bytes()
}

/// The digest value of four received bytes.
pub const fn from_wire(bytes: [u8; 4]) -> u32 {
    u32::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// RFC 3720 §B.4 test vectors.
    #[test]
    fn rfc3720_vectors() {
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
        let inc: Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c(&inc), 0x46dd_794e);
        let dec: Vec<u8> = (0u8..32).rev().collect();
        assert_eq!(crc32c(&dec), 0x113f_db5c);
        // The RFC writes the zeros vector's CRC as the wire bytes "aa 36 91 8a".
        assert_eq!(to_wire(crc32c(&[0u8; 32])), [0xaa, 0x36, 0x91, 0x8a]);
        assert_eq!(from_wire([0xaa, 0x36, 0x91, 0x8a]), 0x8a91_36aa);
    }

    #[test]
    fn check_value() {
        // The standard CRC-32C check value.
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(&[]), 0);
    }

    /// Bit-at-a-time reference implementation.
    fn reference(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ POLY
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    proptest! {
        #[test]
        fn matches_reference_in_any_pieces(data in proptest::collection::vec(any::<u8>(), 0..300),
                                           cut in any::<prop::sample::Index>()) {
            let at = cut.index(data.len() + 1);
            let mut crc = Crc32c::new();
            crc.update(&data[..at]);
            crc.update(&data[at..]);
            prop_assert_eq!(crc.finish(), reference(&data));
            prop_assert_eq!(crc32c(&data), reference(&data));
        }

        #[test]
        fn zeros(n in 0usize..20) {
            let mut a = Crc32c::new();
            a.update(b"abc");
            a.update_zeros(n);
            let mut data = b"abc".to_vec();
            data.resize(3 + n, 0);
            prop_assert_eq!(a.finish(), crc32c(&data));
        }
    }
}
