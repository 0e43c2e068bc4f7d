//! The 48-byte Basic Header Segment every iSCSI PDU starts with (RFC 7143 §11.2.1), and the
//! SAM LUN it carries (RFC 7143 §11.2.1.5, SAM-5 §4.7).

use super::bytes;
use super::error::WireError;
use super::opcode::Opcode;

/// Length of the Basic Header Segment.
pub const BHS_LEN: usize = 48;

/// The reserved tag value: an ITT or TTT of 0xffffffff means "no task" (RFC 7143 §11.2.1.8).
pub const RESERVED_TAG: u32 = 0xffff_ffff;

/// Longest data segment the 24-bit DataSegmentLength can describe.
pub const MAX_DATA_SEGMENT_LENGTH: u32 = 0x00ff_ffff;

/// Byte offsets of the fields common to all PDUs (RFC 7143 §11.2.1).
pub(crate) mod field {
    /// I bit (0x40) and opcode (low 6 bits).
    pub const OPCODE: usize = 0;
    /// F bit (0x80) and opcode-specific flags.
    pub const FLAGS: usize = 1;
    /// TotalAHSLength, in 4-byte words.
    pub const TOTAL_AHS_LENGTH: usize = 4;
    /// DataSegmentLength, 24 bits.
    pub const DATA_SEGMENT_LENGTH: usize = 5;
    /// LUN or opcode-specific, 8 bytes.
    pub const LUN: usize = 8;
    /// Initiator Task Tag, 4 bytes.
    pub const ITT: usize = 16;
}

/// The I (immediate delivery) bit in byte 0.
pub const IMMEDIATE_BIT: u8 = 0x40;
/// The F (final) bit in byte 1; fixed to 1 in PDUs that are always final.
pub const FINAL_BIT: u8 = 0x80;

/// A read/write view of a Basic Header Segment.
///
/// Build it with [`Bhs::new_checked`]; after that no accessor can panic. (Accessors of a view made
/// with [`Bhs::new_unchecked`] over a short buffer read zeros and drop writes rather than panic.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bhs<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Bhs<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        Bhs { buffer }
    }

    /// Wraps a buffer of at least [`BHS_LEN`] bytes.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let bhs = Self::new_unchecked(buffer);
        bhs.check_len()?;
        Ok(bhs)
    }

    /// Checks that the buffer holds a whole BHS.
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < BHS_LEN {
            Err(WireError::Truncated { needed: BHS_LEN })
        } else {
            Ok(())
        }
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The 48 header bytes (fewer if the buffer is short).
    pub fn as_bytes(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        buf.get(..BHS_LEN).unwrap_or(buf)
    }

    /// The opcode (RFC 7143 §11.2.1.2).
    pub fn opcode(&self) -> Opcode {
        Opcode(self.byte(field::OPCODE) & Opcode::MASK)
    }

    /// The I bit: deliver immediately, outside CmdSN ordering (RFC 7143 §11.2.1.1).
    pub fn immediate(&self) -> bool {
        bytes::bit(self.byte(field::OPCODE), IMMEDIATE_BIT)
    }

    /// Byte 1: the F bit and opcode-specific flags.
    pub fn flags(&self) -> u8 {
        self.byte(field::FLAGS)
    }

    /// The F bit (0x80 of byte 1; RFC 7143 §11.2.1.3).
    pub fn final_flag(&self) -> bool {
        bytes::bit(self.flags(), FINAL_BIT)
    }

    /// TotalAHSLength in 4-byte words (RFC 7143 §11.2.1.4).
    pub fn total_ahs_length(&self) -> u8 {
        self.byte(field::TOTAL_AHS_LENGTH)
    }

    /// Length of the AHS area in bytes: `4 * TotalAHSLength`.
    pub fn ahs_len(&self) -> usize {
        usize::from(self.total_ahs_length()).saturating_mul(4)
    }

    /// DataSegmentLength in bytes, without padding (RFC 7143 §11.2.1.5).
    pub fn data_segment_length(&self) -> u32 {
        bytes::u24_at(self.buffer.as_ref(), field::DATA_SEGMENT_LENGTH)
    }

    /// Bytes 8..16 as a LUN (in PDUs where they are one).
    pub fn lun(&self) -> Lun {
        Lun(self.u64_at(field::LUN))
    }

    /// The Initiator Task Tag (RFC 7143 §11.2.1.8).
    pub fn itt(&self) -> u32 {
        self.u32_at(field::ITT)
    }

    /// Raw byte at `at` (0 if out of range).
    pub fn byte(&self, at: usize) -> u8 {
        bytes::u8_at(self.buffer.as_ref(), at)
    }

    /// Raw big-endian 16-bit word at `at`.
    pub fn u16_at(&self, at: usize) -> u16 {
        bytes::u16_at(self.buffer.as_ref(), at)
    }

    /// Raw big-endian 32-bit word at `at`.
    pub fn u32_at(&self, at: usize) -> u32 {
        bytes::u32_at(self.buffer.as_ref(), at)
    }

    /// Raw big-endian 64-bit word at `at`.
    pub fn u64_at(&self, at: usize) -> u64 {
        bytes::u64_at(self.buffer.as_ref(), at)
    }

    /// Raw `N` bytes at `at`.
    pub fn array_at<const N: usize>(&self, at: usize) -> [u8; N] {
        bytes::get(self.buffer.as_ref(), at)
    }

    /// Whether the `len` bytes at `at` are all zero (for reserved-field checks).
    pub fn is_zero(&self, at: usize, len: usize) -> bool {
        let buf = self.buffer.as_ref();
        let end = at.saturating_add(len).min(buf.len());
        buf.get(at..end).is_none_or(|b| b.iter().all(|&x| x == 0))
    }

    /// Fails with [`WireError::OpcodeMismatch`] unless the opcode is `expected`; used by every
    /// `Repr::parse`, which also checks the length.
    pub(crate) fn expect(&self, expected: Opcode) -> Result<(), WireError> {
        self.check_len()?;
        let found = self.opcode();
        if found == expected {
            Ok(())
        } else {
            Err(WireError::OpcodeMismatch { expected, found })
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Bhs<T> {
    /// Zeroes the 48 header bytes.
    pub fn clear(&mut self) {
        bytes::zero(self.buffer.as_mut(), 0, BHS_LEN);
    }

    /// Sets the opcode, keeping the I bit.
    pub fn set_opcode(&mut self, opcode: Opcode) {
        let b = (self.byte(field::OPCODE) & !Opcode::MASK) | (opcode.0 & Opcode::MASK);
        self.set_byte(field::OPCODE, b);
    }

    /// Sets the I bit.
    pub fn set_immediate(&mut self, immediate: bool) {
        let b = (self.byte(field::OPCODE) & !IMMEDIATE_BIT) | bytes::flag(immediate, IMMEDIATE_BIT);
        self.set_byte(field::OPCODE, b);
    }

    /// Sets byte 1.
    pub fn set_flags(&mut self, flags: u8) {
        self.set_byte(field::FLAGS, flags);
    }

    /// Sets TotalAHSLength, in 4-byte words.
    pub fn set_total_ahs_length(&mut self, words: u8) {
        self.set_byte(field::TOTAL_AHS_LENGTH, words);
    }

    /// Sets DataSegmentLength; only the low 24 bits are kept (check against
    /// [`MAX_DATA_SEGMENT_LENGTH`] first).
    pub fn set_data_segment_length(&mut self, len: u32) {
        bytes::set_u24(self.buffer.as_mut(), field::DATA_SEGMENT_LENGTH, len);
    }

    /// Sets bytes 8..16 to a LUN.
    pub fn set_lun(&mut self, lun: Lun) {
        self.set_u64_at(field::LUN, lun.0);
    }

    /// Sets the Initiator Task Tag.
    pub fn set_itt(&mut self, itt: u32) {
        self.set_u32_at(field::ITT, itt);
    }

    /// Sets the raw byte at `at`.
    pub fn set_byte(&mut self, at: usize, value: u8) {
        bytes::set_u8(self.buffer.as_mut(), at, value);
    }

    /// Sets the raw big-endian 16-bit word at `at`.
    pub fn set_u16_at(&mut self, at: usize, value: u16) {
        bytes::set_u16(self.buffer.as_mut(), at, value);
    }

    /// Sets the raw big-endian 32-bit word at `at`.
    pub fn set_u32_at(&mut self, at: usize, value: u32) {
        bytes::set_u32(self.buffer.as_mut(), at, value);
    }

    /// Sets the raw big-endian 64-bit word at `at`.
    pub fn set_u64_at(&mut self, at: usize, value: u64) {
        bytes::set_u64(self.buffer.as_mut(), at, value);
    }

    /// Sets the raw `N` bytes at `at`.
    pub fn set_array_at<const N: usize>(&mut self, at: usize, value: [u8; N]) {
        bytes::put(self.buffer.as_mut(), at, value);
    }

    /// Clears the header and writes bytes 0 and 1; every `Repr::emit` starts here, so reserved
    /// fields, TotalAHSLength and DataSegmentLength are zero until the framer sets them.
    pub(crate) fn start(&mut self, opcode: Opcode, immediate: bool, flags: u8) {
        self.clear();
        self.set_byte(
            field::OPCODE,
            (opcode.0 & Opcode::MASK) | bytes::flag(immediate, IMMEDIATE_BIT),
        );
        self.set_flags(flags);
    }
}

/// A SCSI Logical Unit Number as the 8 bytes carried in the BHS (SAM-5 §4.7), big-endian.
///
/// iSCSI carries the LUN opaquely (RFC 7143 §11.2.1.5); [`Lun::from_index`] and [`Lun::index`]
/// translate the single-level forms targets hand out: peripheral device addressing (method 00b,
/// bus 0) for LUNs below 256 and flat space addressing (method 01b) up to 16383, as Linux and tgt do.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Lun(pub u64);

impl Lun {
    /// Largest index a single-level flat space LUN can hold.
    pub const MAX_INDEX: u16 = 0x3fff;

    const METHOD_MASK: u8 = 0xc0;
    const METHOD_PERIPHERAL: u8 = 0x00;
    const METHOD_FLAT: u8 = 0x40;

    /// The 8 wire bytes.
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// From the 8 wire bytes.
    pub const fn from_bytes(bytes: [u8; 8]) -> Self {
        Lun(u64::from_be_bytes(bytes))
    }

    /// The LUN for index `index`: peripheral addressing below 256, flat space addressing up to
    /// [`Lun::MAX_INDEX`], `None` above.
    pub const fn from_index(index: u16) -> Option<Self> {
        let [hi, lo] = index.to_be_bytes();
        if index < 256 {
            Some(Lun::from_bytes([
                Self::METHOD_PERIPHERAL,
                lo,
                0,
                0,
                0,
                0,
                0,
                0,
            ]))
        } else if index <= Self::MAX_INDEX {
            Some(Lun::from_bytes([
                Self::METHOD_FLAT | hi,
                lo,
                0,
                0,
                0,
                0,
                0,
                0,
            ]))
        } else {
            None
        }
    }

    /// The index of a single-level peripheral (bus 0) or flat space LUN; `None` for other
    /// addressing methods and hierarchical LUNs (bytes 2..8 not zero).
    pub const fn index(self) -> Option<u16> {
        let [b0, b1, rest @ ..] = self.to_bytes();
        if u64::from_be_bytes([0, 0, rest[0], rest[1], rest[2], rest[3], rest[4], rest[5]]) != 0 {
            return None;
        }
        match b0 & Self::METHOD_MASK {
            Self::METHOD_PERIPHERAL if b0 == 0 => Some(b1 as u16),
            Self::METHOD_FLAT => Some(u16::from_be_bytes([b0 & !Self::METHOD_MASK, b1])),
            _ => None,
        }
    }
}

impl core::fmt::Debug for Lun {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.index() {
            Some(i) => write!(f, "Lun({i})"),
            None => write!(f, "Lun({:#018x})", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn common_fields() {
        let mut buf = [0u8; BHS_LEN];
        let mut bhs = Bhs::new_checked(&mut buf[..]).unwrap();
        bhs.set_opcode(Opcode::SCSI_COMMAND);
        bhs.set_immediate(true);
        bhs.set_flags(0xc1);
        bhs.set_total_ahs_length(5);
        bhs.set_data_segment_length(0x0012_3456);
        bhs.set_lun(Lun::from_index(1).unwrap());
        bhs.set_itt(0xdead_beef);
        assert_eq!(buf[0], 0x41);
        assert_eq!(buf[1], 0xc1);
        assert_eq!(buf[4], 5);
        assert_eq!(&buf[5..8], &[0x12, 0x34, 0x56]);
        assert_eq!(&buf[8..16], &[0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&buf[16..20], &[0xde, 0xad, 0xbe, 0xef]);
        let bhs = Bhs::new_checked(&buf[..]).unwrap();
        assert_eq!(bhs.opcode(), Opcode::SCSI_COMMAND);
        assert!(bhs.immediate());
        assert!(bhs.final_flag());
        assert_eq!(bhs.ahs_len(), 20);
        assert_eq!(bhs.data_segment_length(), 0x0012_3456);
        assert_eq!(bhs.lun().index(), Some(1));
        assert_eq!(bhs.itt(), 0xdead_beef);
    }

    #[test]
    fn short_buffer() {
        assert_eq!(
            Bhs::new_checked(&[0u8; 47][..]),
            Err(WireError::Truncated { needed: 48 })
        );
        // Unchecked views of short buffers do not panic.
        let bhs = Bhs::new_unchecked(&[0x25u8, 0x80][..]);
        assert_eq!(bhs.opcode(), Opcode::DATA_IN);
        assert_eq!(bhs.itt(), 0);
    }

    #[test]
    fn lun_forms() {
        assert_eq!(Lun::from_index(0).unwrap().to_bytes(), [0; 8]);
        assert_eq!(
            Lun::from_index(5).unwrap().to_bytes(),
            [0, 5, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            Lun::from_index(256).unwrap().to_bytes(),
            [0x41, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            Lun::from_index(0x3fff).unwrap().to_bytes(),
            [0x7f, 0xff, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(Lun::from_index(0x4000), None);
        // Peripheral addressing with a non-zero bus is not a single-level index.
        assert_eq!(
            Lun::from_bytes([0x01, 0x02, 0, 0, 0, 0, 0, 0]).index(),
            None
        );
        // Hierarchical second level.
        assert_eq!(Lun::from_bytes([0, 1, 0, 2, 0, 0, 0, 0]).index(), None);
        // Flat space with small value is still read back.
        assert_eq!(
            Lun::from_bytes([0x40, 7, 0, 0, 0, 0, 0, 0]).index(),
            Some(7)
        );
    }

    proptest! {
        #[test]
        fn lun_index_round_trip(i in 0u16..=Lun::MAX_INDEX) {
            prop_assert_eq!(Lun::from_index(i).unwrap().index(), Some(i));
        }
    }
}
