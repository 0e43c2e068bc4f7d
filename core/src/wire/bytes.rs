//! Non-panicking big-endian field access shared by the fixed-layout views of [`crate::wire`]
//! (all iSCSI and iSER integers are big-endian, RFC 7143 §11.1; only the CRC32C digest is not).
//!
//! A field that does not fit in the buffer reads as zero and is not written. Views check their
//! length once (`check_len`), so this only matters for views built with `new_unchecked`.

/// `N` bytes at `at`, or zeros if the buffer is too short.
#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn get<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = at.checked_add(N).and_then(|end| buf.get(at..end)) {
        out.copy_from_slice(src);
    }
    out
}

/// Writes `value` at `at` if it fits.
#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn put<const N: usize>(buf: &mut [u8], at: usize, value: [u8; N]) {
    if let Some(dst) = at.checked_add(N).and_then(|end| buf.get_mut(at..end)) {
        dst.copy_from_slice(&value);
    }
}

#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn u8_at(buf: &[u8], at: usize) -> u8 {
    buf.get(at).copied().unwrap_or(0)
}

#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn set_u8(buf: &mut [u8], at: usize, value: u8) {
    if let Some(b) = buf.get_mut(at) {
        *b = value;
    }
}

#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn u16_at(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(get(buf, at))
}

#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn set_u16(buf: &mut [u8], at: usize, value: u16) {
    put(buf, at, value.to_be_bytes());
}

/// A 24-bit big-endian integer (DataSegmentLength).
#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn u24_at(buf: &[u8], at: usize) -> u32 {
    let [a, b, c] = get::<3>(buf, at);
    u32::from_be_bytes([0, a, b, c])
}

/// Writes the low 24 bits of `value`.
#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn set_u24(buf: &mut [u8], at: usize, value: u32) {
    let [_, a, b, c] = value.to_be_bytes();
    put(buf, at, [a, b, c]);
}

#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(get(buf, at))
}

#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn set_u32(buf: &mut [u8], at: usize, value: u32) {
    put(buf, at, value.to_be_bytes());
}

#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn u64_at(buf: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(get(buf, at))
}

#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn set_u64(buf: &mut [u8], at: usize, value: u64) {
    put(buf, at, value.to_be_bytes());
}

/// Zeroes `len` bytes at `at` (as far as they fit).
#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn zero(buf: &mut [u8], at: usize, len: usize) {
    let end = at.saturating_add(len).min(buf.len());
    if let Some(dst) = buf.get_mut(at..end) {
        dst.fill(0);
    }
}

/// A bit of a flags byte.
#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) const fn bit(byte: u8, mask: u8) -> bool {
    byte & mask != 0
}

/// `mask` if `on`, else 0.
#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) const fn flag(on: bool, mask: u8) -> u8 {
    if on {
        mask
    } else {
        0
    }
}
