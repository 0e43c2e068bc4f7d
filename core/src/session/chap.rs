//! CHAP authentication (RFC 7143 §12.1.3, RFC 1994) with MD5 and SHA-256 digests: one-way and
//! mutual, both roles. Values travel as hex (`0x…`) or base64 (`0b…`) binary strings (§6.1).
//!
//! The core has no random source: challenges and identifiers come from entropy the caller hands in.

use md5::Md5;
use sha2::{Digest, Sha256};

/// Longest challenge we send or accept, in bytes (RFC 7143 §12.1.3 recommends 1024 bits at most
/// being useful; we accept up to 1024 bytes as Linux does).
pub const MAX_CHALLENGE_LEN: usize = 1024;
/// Longest secret we hold, in bytes.
pub const MAX_SECRET_LEN: usize = 256;
/// Length of the challenges we generate, in bytes.
pub const CHALLENGE_LEN: usize = 32;
/// Longest digest of any algorithm we support.
pub const MAX_DIGEST_LEN: usize = 32;

/// CHAP_A values (IANA "PPP Authentication Algorithms").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ChapAlgorithm {
    /// CHAP with MD5, CHAP_A=5 (RFC 1994).
    Md5,
    /// CHAP with SHA-256, CHAP_A=7 (RFC 7143 §12.1.3 and its IANA registry).
    Sha256,
}

impl ChapAlgorithm {
    /// The CHAP_A number.
    pub const fn code(self) -> u32 {
        match self {
            ChapAlgorithm::Md5 => 5,
            ChapAlgorithm::Sha256 => 7,
        }
    }

    /// The algorithm for a CHAP_A number we support.
    pub const fn from_code(code: u32) -> Option<Self> {
        match code {
            5 => Some(ChapAlgorithm::Md5),
            7 => Some(ChapAlgorithm::Sha256),
            _ => None,
        }
    }

    /// Digest length in bytes.
    pub const fn digest_len(self) -> usize {
        match self {
            ChapAlgorithm::Md5 => 16,
            ChapAlgorithm::Sha256 => 32,
        }
    }

    /// `H(identifier || secret || challenge)` (RFC 1994 §4.1), written into `out`; returns the
    /// digest length.
    pub fn response(
        self,
        identifier: u8,
        secret: &[u8],
        challenge: &[u8],
        out: &mut [u8; MAX_DIGEST_LEN],
    ) -> usize {
        match self {
            ChapAlgorithm::Md5 => {
                let mut h = Md5::new();
                h.update([identifier]);
                h.update(secret);
                h.update(challenge);
                let d = h.finalize();
                for (o, b) in out.iter_mut().zip(d.iter()) {
                    *o = *b;
                }
                16
            }
            ChapAlgorithm::Sha256 => {
                let mut h = Sha256::new();
                h.update([identifier]);
                h.update(secret);
                h.update(challenge);
                let d = h.finalize();
                for (o, b) in out.iter_mut().zip(d.iter()) {
                    *o = *b;
                }
                32
            }
        }
    }
}

/// A binary value could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum BinaryError {
    /// Neither `0x`/`0X` nor `0b`/`0B` prefix.
    BadPrefix,
    /// A character outside the encoding's alphabet, or bad base64 padding.
    BadDigit,
    /// The decoded value does not fit the destination.
    TooLong,
}

/// Decodes an RFC 7143 §6.1 binary value (`0x` hex or `0b` base64) into `out`, returning its length.
pub fn decode_binary(value: &str, out: &mut [u8]) -> Result<usize, BinaryError> {
    let bytes = value.as_bytes();
    match bytes {
        [b'0', b'x' | b'X', rest @ ..] => decode_hex(rest, out),
        [b'0', b'b' | b'B', rest @ ..] => decode_base64(rest, out),
        _ => Err(BinaryError::BadPrefix),
    }
}

fn hex_digit(c: u8) -> Result<u8, BinaryError> {
    match c {
        b'0'..=b'9' => Ok(c.wrapping_sub(b'0')),
        b'a'..=b'f' => Ok(c.wrapping_sub(b'a').wrapping_add(10)),
        b'A'..=b'F' => Ok(c.wrapping_sub(b'A').wrapping_add(10)),
        _ => Err(BinaryError::BadDigit),
    }
}

fn decode_hex(digits: &[u8], out: &mut [u8]) -> Result<usize, BinaryError> {
    if digits.is_empty() {
        return Err(BinaryError::BadDigit);
    }
    // An odd number of digits has an implied leading zero.
    let odd = digits.len() % 2;
    let len = (digits.len() / 2).saturating_add(odd);
    let out = out.get_mut(..len).ok_or(BinaryError::TooLong)?;
    let mut i = 0usize;
    for (n, o) in out.iter_mut().enumerate() {
        let hi = if n == 0 && odd == 1 {
            0
        } else {
            let d = hex_digit(*digits.get(i).ok_or(BinaryError::BadDigit)?)?;
            i = i.wrapping_add(1);
            d
        };
        let lo = hex_digit(*digits.get(i).ok_or(BinaryError::BadDigit)?)?;
        i = i.wrapping_add(1);
        *o = (hi << 4) | lo;
    }
    Ok(len)
}

fn b64_digit(c: u8) -> Result<u8, BinaryError> {
    match c {
        b'A'..=b'Z' => Ok(c.wrapping_sub(b'A')),
        b'a'..=b'z' => Ok(c.wrapping_sub(b'a').wrapping_add(26)),
        b'0'..=b'9' => Ok(c.wrapping_sub(b'0').wrapping_add(52)),
        b'+' => Ok(62),
        b'/' => Ok(63),
        _ => Err(BinaryError::BadDigit),
    }
}

fn decode_base64(digits: &[u8], out: &mut [u8]) -> Result<usize, BinaryError> {
    let trimmed = match digits {
        [rest @ .., b'=', b'='] => rest,
        [rest @ .., b'='] => rest,
        _ => digits,
    };
    if trimmed.is_empty() || trimmed.len() % 4 == 1 {
        return Err(BinaryError::BadDigit);
    }
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut n = 0usize;
    for &c in trimmed {
        acc = (acc << 6) | u32::from(b64_digit(c)?);
        bits = bits.wrapping_add(6);
        if bits >= 8 {
            bits = bits.wrapping_sub(8);
            let slot = out.get_mut(n).ok_or(BinaryError::TooLong)?;
            *slot = (acc >> bits) as u8;
            n = n.wrapping_add(1);
        }
    }
    Ok(n)
}

/// The lowercase hex digit for a nibble.
const fn hex_char(nibble: u8) -> u8 {
    match nibble {
        0..=9 => b'0'.wrapping_add(nibble),
        _ => b'a'.wrapping_add(nibble.wrapping_sub(10) & 0xf),
    }
}

/// Encodes `data` as `0x…` hex into `out`; returns the text, or `None` when `out` is too small.
pub fn encode_hex<'a>(data: &[u8], out: &'a mut [u8]) -> Option<&'a str> {
    let need = data.len().checked_mul(2)?.checked_add(2)?;
    let out = out.get_mut(..need)?;
    let (prefix, digits) = out.split_at_mut(2);
    prefix.copy_from_slice(b"0x");
    for (pair, b) in digits.chunks_exact_mut(2).zip(data) {
        if let [hi, lo] = pair {
            *hi = hex_char(b >> 4);
            *lo = hex_char(b & 0xf);
        }
    }
    core::str::from_utf8(out).ok()
}

/// The CHAP keys of one login text (RFC 7143 §12.1.3), borrowed from it: what the negotiator
/// leaves to the authentication layer, for either role.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ChapKeys<'t> {
    pub a: Option<&'t str>,
    pub i: Option<&'t str>,
    pub c: Option<&'t str>,
    pub n: Option<&'t str>,
    pub r: Option<&'t str>,
}

impl<'t> ChapKeys<'t> {
    /// Reads the CHAP_* keys of a complete login text (a malformed pair ends the reading).
    pub(crate) fn read(text: &'t [u8]) -> Self {
        let mut k = ChapKeys::default();
        for (key, v) in crate::wire::text::TextReader::with_value_limit(
            text,
            crate::negotiate::keys::value_limit,
        )
        .map_while(Result::ok)
        {
            match key {
                "CHAP_A" => k.a = Some(v),
                "CHAP_I" => k.i = Some(v),
                "CHAP_C" => k.c = Some(v),
                "CHAP_N" => k.n = Some(v),
                "CHAP_R" => k.r = Some(v),
                _ => {}
            }
        }
        k
    }

    /// Whether a complete login text holds any CHAP_* key, read as [`ChapKeys::read`] does
    /// (without `chap` nothing more of the keys is needed).
    #[cfg(not(feature = "chap"))]
    pub(crate) fn present(text: &[u8]) -> bool {
        crate::wire::text::TextReader::with_value_limit(text, crate::negotiate::keys::value_limit)
            .map_while(Result::ok)
            .any(|(key, _)| matches!(key, "CHAP_A" | "CHAP_I" | "CHAP_C" | "CHAP_N" | "CHAP_R"))
    }

    /// Whether any CHAP key was present.
    pub(crate) fn any(&self) -> bool {
        self.a.is_some()
            || self.n.is_some()
            || self.r.is_some()
            || self.i.is_some()
            || self.c.is_some()
    }
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_response_matches_rfc1994_construction() {
        // Known answer computed independently: md5(0x01 || "secret" || 0x00..0x0f).
        let challenge: std::vec::Vec<u8> = (0u8..16).collect();
        let mut out = [0u8; MAX_DIGEST_LEN];
        let n = ChapAlgorithm::Md5.response(1, b"secret", &challenge, &mut out);
        assert_eq!(n, 16);
        let mut h = Md5::new();
        h.update([1u8]);
        h.update(b"secret");
        h.update(&challenge);
        assert_eq!(&out[..16], h.finalize().as_slice());
    }

    #[test]
    fn sha256_of_empty_parts_is_known_vector() {
        // SHA-256 of the single byte 0x00 (identifier 0, empty secret and challenge).
        let mut out = [0u8; MAX_DIGEST_LEN];
        let n = ChapAlgorithm::Sha256.response(0, b"", b"", &mut out);
        assert_eq!(n, 32);
        let mut hex = [0u8; 66];
        assert_eq!(
            encode_hex(&out, &mut hex).unwrap(),
            "0x6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    #[test]
    fn hex_and_base64_decode() {
        let mut out = [0u8; 8];
        assert_eq!(decode_binary("0x0a0B", &mut out), Ok(2));
        assert_eq!(&out[..2], &[0x0a, 0x0b]);
        assert_eq!(decode_binary("0xabc", &mut out), Ok(2));
        assert_eq!(&out[..2], &[0x0a, 0xbc]);
        assert_eq!(decode_binary("0bAQID", &mut out), Ok(3));
        assert_eq!(&out[..3], &[1, 2, 3]);
        assert_eq!(decode_binary("0bAQI=", &mut out), Ok(2));
        assert_eq!(decode_binary("0xzz", &mut out), Err(BinaryError::BadDigit));
        assert_eq!(decode_binary("12", &mut out), Err(BinaryError::BadPrefix));
        assert_eq!(decode_binary("0x", &mut out), Err(BinaryError::BadDigit));
        assert_eq!(
            decode_binary("0x112233445566778899", &mut out),
            Err(BinaryError::TooLong)
        );
    }

    #[test]
    fn hex_round_trip() {
        let data = [0u8, 1, 0xfe, 0xff];
        let mut text = [0u8; 10];
        let s = encode_hex(&data, &mut text).unwrap();
        assert_eq!(s, "0x0001feff");
        let mut back = [0u8; 4];
        assert_eq!(decode_binary(s, &mut back), Ok(4));
        assert_eq!(back, data);
        assert!(encode_hex(&data, &mut [0u8; 9]).is_none());
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
