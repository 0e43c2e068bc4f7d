//! Who a logical unit says it is (standard INQUIRY, SPC-4 §6.6.2; Unit Serial Number and Device
//! Identification VPD pages, §7.8.15 and §7.8.6) and its advertised limits (Block Limits VPD,
//! SBC-3 §6.5.3).

/// A string of at most `N` bytes stored inline (no allocation), for identity fields.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FixedStr<const N: usize> {
    len: usize,
    buf: [u8; N],
}

impl<const N: usize> FixedStr<N> {
    /// `s` if it fits in `N` bytes and is printable ASCII (SPC-4 §4.3.1: 20h–7Eh).
    pub fn new(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() > N || !b.iter().all(|c| (0x20..=0x7e).contains(c)) {
            return None;
        }
        let mut buf = [0u8; N];
        buf.get_mut(..b.len())?.copy_from_slice(b);
        Some(FixedStr { len: b.len(), buf })
    }

    /// The bytes of the string.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// The string (always ASCII).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const N: usize> Default for FixedStr<N> {
    fn default() -> Self {
        FixedStr {
            len: 0,
            buf: [0; N],
        }
    }
}

impl<const N: usize> core::fmt::Debug for FixedStr<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(feature = "defmt")]
impl<const N: usize> defmt::Format for FixedStr<N> {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(f, "{=str}", self.as_str())
    }
}

/// `s` left-aligned in `N` bytes padded with spaces (SPC-4 §4.3.1 ASCII data fields);
/// `None` if too long or not printable ASCII.
pub fn space_padded<const N: usize>(s: &str) -> Option<[u8; N]> {
    let f = FixedStr::<N>::new(s)?;
    let mut out = [b' '; N];
    out.get_mut(..f.len())?.copy_from_slice(f.as_bytes());
    Some(out)
}

/// Identity of a logical unit and of the target port it is reached through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LuIdentity {
    /// T10 VENDOR IDENTIFICATION (8 bytes, space padded).
    pub vendor: [u8; 8],
    /// PRODUCT IDENTIFICATION (16 bytes, space padded).
    pub product: [u8; 16],
    /// PRODUCT REVISION LEVEL (4 bytes, space padded).
    pub revision: [u8; 4],
    /// PRODUCT SERIAL NUMBER (Unit Serial Number VPD page, also in the T10 vendor ID designator).
    pub serial: FixedStr<32>,
    /// IEEE company ID (24 bits) for the NAA IEEE Registered Extended designator.
    pub naa_oui: u32,
    /// The 64-bit identifier the NAA-6 designator is derived from: its VENDOR SPECIFIC
    /// IDENTIFIER holds the upper 36 bits and its extension all 64 (SPC-4 §7.8.6.6.5).
    pub device_id: u64,
    /// iSCSI name of the target (SCSI name string designators, SPC-4 §7.8.6.11).
    pub target_name: FixedStr<224>,
    /// Target Portal Group Tag of the target port (the ",t,0x" part of the port name).
    pub portal_group_tag: u16,
    /// RELATIVE TARGET PORT IDENTIFIER (SPC-4 §7.8.6.7); must be non-zero.
    pub relative_port_id: u16,
    /// TARGET PORT GROUP for asymmetric access (SPC-4 §7.8.6.8, REPORT TARGET PORT GROUPS).
    pub port_group: u16,
}

impl LuIdentity {
    /// Default vendor identification.
    pub const VENDOR: [u8; 8] = *b"ISER-RS ";
    /// Default product identification.
    pub const PRODUCT: [u8; 16] = *b"VIRTUAL-DISK    ";
    /// Default product revision.
    pub const REVISION: [u8; 4] = *b"0001";

    /// An identity derived from `device_id`: the serial number is its 16 hex digits, the
    /// target name, OUI and port numbers are defaults to be overwritten by configuration.
    pub fn new(device_id: u64) -> LuIdentity {
        let mut hex = [0u8; 16];
        for (i, h) in hex.iter_mut().enumerate() {
            let shift = 60u32.saturating_sub((i as u32).saturating_mul(4));
            let nib = (device_id.checked_shr(shift).unwrap_or(0) & 0xf) as u8;
            *h = if nib < 10 {
                b'0'.saturating_add(nib)
            } else {
                b'a'.saturating_add(nib.saturating_sub(10))
            };
        }
        let serial = core::str::from_utf8(&hex)
            .ok()
            .and_then(FixedStr::new)
            .unwrap_or_default();
        LuIdentity {
            vendor: Self::VENDOR,
            product: Self::PRODUCT,
            revision: Self::REVISION,
            serial,
            naa_oui: 0,
            device_id,
            target_name: FixedStr::new("iqn.2024-01.rs.iser:target").unwrap_or_default(),
            portal_group_tag: 1,
            relative_port_id: 1,
            port_group: 0,
        }
    }

    /// The 16-byte NAA IEEE Registered Extended designator (NAA 6h, SPC-4 §7.8.6.6.5).
    pub fn naa6(&self) -> [u8; 16] {
        let oui = self.naa_oui & 0x00ff_ffff;
        let vsid = self.device_id >> 28; // upper 36 bits
        let hi: u64 = (0x6u64 << 60) | (u64::from(oui) << 36) | vsid;
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&hi.to_be_bytes());
        out[8..].copy_from_slice(&self.device_id.to_be_bytes());
        out
    }
}

/// Limits a logical unit advertises in the Block Limits VPD page (SBC-3 §6.5.3) and enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LuConfig {
    /// MAXIMUM TRANSFER LENGTH in blocks for READ/WRITE/VERIFY; further capped so the byte
    /// count fits the 32-bit iSCSI Expected Data Transfer Length.
    pub max_transfer_blocks: u32,
    /// OPTIMAL TRANSFER LENGTH in blocks (0: not reported).
    pub optimal_transfer_blocks: u32,
    /// MAXIMUM WRITE SAME LENGTH in blocks.
    pub max_write_same_blocks: u64,
    /// MAXIMUM UNMAP LBA COUNT.
    pub max_unmap_blocks: u32,
    /// MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT (further capped by the scratch buffer).
    pub max_unmap_descriptors: u32,
    /// Support WRITE ATOMIC(16), up to as many blocks as the scratch buffer holds. Off by
    /// default: libiscsi's test writes 256 blocks atomically whatever the Block Limits page
    /// says, so enable it with a scratch buffer of at least 256 blocks.
    pub atomic_writes: bool,
    /// A removable medium (INQUIRY RMB=1): START STOP UNIT with LOEJ ejects and loads it, and
    /// PREVENT ALLOW MEDIUM REMOVAL guards it (SBC-4 §4.10, §5.15, §5.25). SBC allows this for
    /// direct-access devices (e.g. USB sticks, RDX cartridges); the data stays while ejected.
    pub removable: bool,
}

impl Default for LuConfig {
    fn default() -> Self {
        LuConfig {
            max_transfer_blocks: 65535,
            optimal_transfer_blocks: 0,
            max_write_same_blocks: 65535,
            max_unmap_blocks: 1 << 20,
            max_unmap_descriptors: 256,
            atomic_writes: false,
            removable: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_fixed_str() {
        assert_eq!(FixedStr::<4>::new("abcd").unwrap().as_str(), "abcd");
        assert!(FixedStr::<4>::new("abcde").is_none());
        assert!(FixedStr::<8>::new("a\u{7f}").is_none());
        assert_eq!(space_padded::<8>("ab"), Some(*b"ab      "));
    }

    #[test]
    fn test_naa6_layout() {
        let mut id = LuIdentity::new(0x0123_4567_89ab_cdef);
        id.naa_oui = 0xabcdef;
        let n = id.naa6();
        assert_eq!(n[0] >> 4, 6);
        // OUI straddles the nibble boundary.
        assert_eq!(&n[0..4], &[0x6a, 0xbc, 0xde, 0xf0]);
        assert_eq!(&n[8..], &0x0123_4567_89ab_cdefu64.to_be_bytes());
        assert_eq!(id.serial.as_str(), "0123456789abcdef");
    }
}
