//! Additional Header Segments (RFC 7143 §11.2.2): the iterator over the AHS area, the Extended
//! CDB AHS (§11.2.2.3) that carries CDB bytes beyond 16, and the Bidirectional Read Expected Data
//! Transfer Length AHS (§11.2.2.4).
//!
//! Each AHS is `AHSLength` (2 bytes: the length after AHSType, excluding padding), `AHSType`
//! (1 byte), then `AHSLength` bytes of AHS-specific data, padded to a multiple of 4.

use super::bytes;
use super::error::WireError;
use super::frame::padded_len;
use super::scsi_command::BHS_CDB_LEN;

/// Largest CDB an iSCSI command can carry: 16 bytes in the BHS plus 244 in the Extended CDB AHS
/// (RFC 7143 §11.2.2.3).
pub const MAX_CDB_LEN: usize = 260;

/// Length of an AHS header (AHSLength and AHSType).
const AHS_HEADER_LEN: usize = 3;

/// Length of a Bidirectional Read Expected Data Transfer Length AHS, including its header.
pub const BIDI_READ_LENGTH_AHS_LEN: usize = 8;

/// AHSLength of a Bidirectional Read Expected Data Transfer Length AHS.
const BIDI_AHS_LENGTH: u16 = 5;

wire_enum! {
    /// AHSType (RFC 7143 §11.2.2.2); 0 and 3–59 are reserved, 60–63 are for non-iSCSI
    /// extensions.
    pub struct AhsType(u8);
    /// Extended CDB.
    EXTENDED_CDB = 1,
    /// Bidirectional Read Expected Data Transfer Length.
    BIDI_READ_LENGTH = 2,
}

/// One AHS in the AHS area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ahs<'a> {
    /// AHSType.
    pub ahs_type: AhsType,
    /// The `AHSLength` AHS-specific bytes (from byte 3 of the AHS, padding excluded).
    pub specific: &'a [u8],
}

/// Iterator over the AHS area of a PDU (the `4 * TotalAHSLength` bytes after the BHS). After an
/// error it yields nothing more.
#[derive(Debug, Clone)]
pub struct AhsIter<'a> {
    rest: &'a [u8],
}

impl<'a> AhsIter<'a> {
    /// Iterates over `area`.
    pub const fn new(area: &'a [u8]) -> Self {
        AhsIter { rest: area }
    }
}

impl<'a> Iterator for AhsIter<'a> {
    type Item = Result<Ahs<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = core::mem::take(&mut self.rest);
        let len = usize::from(bytes::u16_at(rest, 0));
        let ahs_type = AhsType(bytes::u8_at(rest, 2));
        let end = AHS_HEADER_LEN.saturating_add(len);
        let total = padded_len(end);
        let (Some(specific), Some(next)) = (rest.get(AHS_HEADER_LEN..end), rest.get(total..))
        else {
            return Some(Err(WireError::BadField("AHSLength")));
        };
        self.rest = next;
        Some(Ok(Ahs { ahs_type, specific }))
    }
}

/// A complete CDB of up to [`MAX_CDB_LEN`] bytes, stored inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Cdb {
    bytes: [u8; MAX_CDB_LEN],
    len: u16,
}

impl Cdb {
    /// A CDB from its bytes; at most [`MAX_CDB_LEN`].
    pub fn new(cdb: &[u8]) -> Result<Self, WireError> {
        let mut bytes = [0u8; MAX_CDB_LEN];
        let dst = bytes
            .get_mut(..cdb.len())
            .ok_or(WireError::BadField("CDB length"))?;
        dst.copy_from_slice(cdb);
        let len = u16::try_from(cdb.len()).map_err(|_| WireError::BadField("CDB length"))?;
        Ok(Cdb { bytes, len })
    }

    /// The CDB bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// CDB length in bytes.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the CDB is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The 16 bytes the BHS carries (zero padded if shorter).
    pub fn bhs_part(&self) -> [u8; BHS_CDB_LEN] {
        bytes::get(&self.bytes, 0)
    }

    /// The bytes beyond 16 that go in an Extended CDB AHS (empty for CDBs up to 16 bytes).
    pub fn extension(&self) -> &[u8] {
        self.as_bytes().get(BHS_CDB_LEN..).unwrap_or(&[])
    }
}

impl core::fmt::Debug for Cdb {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Cdb(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// What the AHS of a SCSI Command adds to its BHS: the full CDB and, for bidirectional commands,
/// the expected read length (RFC 7143 §11.3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandAhs {
    /// The whole CDB: the 16 BHS bytes, then the Extended CDB AHS bytes if present.
    pub cdb: Cdb,
    /// Bidirectional Read Expected Data Transfer Length, if that AHS is present.
    pub bidi_read_length: Option<u32>,
}

impl CommandAhs {
    /// Assembles a command's CDB from the 16 BHS bytes and the AHS area. Repeated AHSs, wrong
    /// lengths and reserved AHSTypes are errors; types 60–63 (non-iSCSI extensions) are skipped.
    pub fn parse(bhs_cdb: &[u8; BHS_CDB_LEN], ahs_area: &[u8]) -> Result<Self, WireError> {
        let mut bytes = [0u8; MAX_CDB_LEN];
        bytes::put(&mut bytes, 0, *bhs_cdb);
        let mut len = BHS_CDB_LEN;
        let mut extended = false;
        let mut bidi_read_length = None;
        for ahs in AhsIter::new(ahs_area) {
            let ahs = ahs?;
            match ahs.ahs_type {
                AhsType::EXTENDED_CDB => {
                    // specific = reserved byte + CDB bytes 16..
                    let ext = ahs
                        .specific
                        .get(1..)
                        .ok_or(WireError::BadField("AHSLength"))?;
                    let dst = bytes
                        .get_mut(BHS_CDB_LEN..)
                        .and_then(|b| b.get_mut(..ext.len()))
                        .ok_or(WireError::BadField("AHSLength"))?;
                    if extended {
                        return Err(WireError::BadField("AHSType"));
                    }
                    dst.copy_from_slice(ext);
                    len = BHS_CDB_LEN.saturating_add(ext.len());
                    extended = true;
                }
                AhsType::BIDI_READ_LENGTH => {
                    if bidi_read_length.is_some() {
                        return Err(WireError::BadField("AHSType"));
                    }
                    if ahs.specific.len() != usize::from(BIDI_AHS_LENGTH) {
                        return Err(WireError::BadField("AHSLength"));
                    }
                    bidi_read_length = Some(bytes::u32_at(ahs.specific, 1));
                }
                AhsType(60..=63) => {}
                _ => return Err(WireError::BadField("AHSType")),
            }
        }
        let len = u16::try_from(len).map_err(|_| WireError::BadField("AHSLength"))?;
        Ok(CommandAhs {
            cdb: Cdb { bytes, len },
            bidi_read_length,
        })
    }

    /// Bytes [`CommandAhs::emit`] writes: the AHS area length (a multiple of 4).
    pub fn buffer_len(&self) -> usize {
        extended_cdb_ahs_len(self.cdb.len()).saturating_add(if self.bidi_read_length.is_some() {
            BIDI_READ_LENGTH_AHS_LEN
        } else {
            0
        })
    }

    /// Writes the AHS area (Extended CDB AHS if the CDB is longer than 16 bytes, then the
    /// bidirectional read length AHS if set); returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let needed = self.buffer_len();
        if buf.len() < needed {
            return Err(WireError::Truncated { needed });
        }
        let mut at = emit_extended_cdb(self.cdb.as_bytes(), buf)?;
        if let Some(len) = self.bidi_read_length {
            let rest = buf.get_mut(at..).unwrap_or(&mut []);
            at = at.saturating_add(emit_bidi_read_length(len, rest)?);
        }
        Ok(at)
    }
}

/// Length of the Extended CDB AHS a CDB of `cdb_len` bytes needs (0 up to 16 bytes).
pub fn extended_cdb_ahs_len(cdb_len: usize) -> usize {
    match cdb_len.checked_sub(BHS_CDB_LEN) {
        None | Some(0) => 0,
        Some(ext) => padded_len(AHS_HEADER_LEN.saturating_add(1).saturating_add(ext)),
    }
}

/// Writes the Extended CDB AHS for the bytes of `cdb` beyond 16 (nothing for shorter CDBs);
/// returns its padded length. AHSLength is `cdb.len() - 15` (§11.2.2.3).
pub fn emit_extended_cdb(cdb: &[u8], buf: &mut [u8]) -> Result<usize, WireError> {
    let Some(ext) = cdb.get(BHS_CDB_LEN..).filter(|e| !e.is_empty()) else {
        return Ok(0);
    };
    if cdb.len() > MAX_CDB_LEN {
        return Err(WireError::BadField("CDB length"));
    }
    let total = extended_cdb_ahs_len(cdb.len());
    let dst = buf
        .get_mut(..total)
        .ok_or(WireError::Truncated { needed: total })?;
    dst.fill(0);
    let ahs_length = u16::try_from(ext.len().saturating_add(1))
        .map_err(|_| WireError::BadField("CDB length"))?;
    bytes::set_u16(dst, 0, ahs_length);
    bytes::set_u8(dst, 2, AhsType::EXTENDED_CDB.0);
    let body = dst
        .get_mut(AHS_HEADER_LEN.saturating_add(1)..)
        .and_then(|b| b.get_mut(..ext.len()))
        .ok_or(WireError::Truncated { needed: total })?;
    body.copy_from_slice(ext);
    Ok(total)
}

/// Writes a Bidirectional Read Expected Data Transfer Length AHS; returns its length (8).
pub fn emit_bidi_read_length(read_length: u32, buf: &mut [u8]) -> Result<usize, WireError> {
    let dst = buf
        .get_mut(..BIDI_READ_LENGTH_AHS_LEN)
        .ok_or(WireError::Truncated {
            needed: BIDI_READ_LENGTH_AHS_LEN,
        })?;
    bytes::set_u16(dst, 0, BIDI_AHS_LENGTH);
    bytes::set_u8(dst, 2, AhsType::BIDI_READ_LENGTH.0);
    bytes::set_u8(dst, 3, 0);
    bytes::set_u32(dst, 4, read_length);
    Ok(BIDI_READ_LENGTH_AHS_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn extended_cdb_layout() {
        // A 32-byte CDB: AHSLength 17, type 1, reserved, 16 bytes; 20 bytes total.
        let cdb: Vec<u8> = (0u8..32).collect();
        let mut buf = [0xaau8; 20];
        assert_eq!(emit_extended_cdb(&cdb, &mut buf), Ok(20));
        assert_eq!(&buf[..4], &[0, 17, 1, 0]);
        assert_eq!(&buf[4..], &cdb[16..]);
        let ahs = CommandAhs::parse(&cdb[..16].try_into().unwrap(), &buf).unwrap();
        assert_eq!(ahs.cdb.as_bytes(), &cdb[..]);
        assert_eq!(ahs.bidi_read_length, None);
    }

    #[test]
    fn bidi_layout() {
        let mut buf = [0xaau8; 8];
        assert_eq!(emit_bidi_read_length(0x0102_0304, &mut buf), Ok(8));
        assert_eq!(buf, [0, 5, 2, 0, 1, 2, 3, 4]);
        let ahs = CommandAhs::parse(&[0; 16], &buf).unwrap();
        assert_eq!(ahs.bidi_read_length, Some(0x0102_0304));
        assert_eq!(ahs.cdb.len(), 16);
    }

    #[test]
    fn bad_areas() {
        // AHSLength runs past the area.
        assert_eq!(
            CommandAhs::parse(&[0; 16], &[0, 9, 1, 0, 0, 0, 0, 0]),
            Err(WireError::BadField("AHSLength"))
        );
        // Reserved type.
        assert_eq!(
            CommandAhs::parse(&[0; 16], &[0, 1, 3, 0]),
            Err(WireError::BadField("AHSType"))
        );
        // Non-iSCSI extension types are skipped.
        assert!(CommandAhs::parse(&[0; 16], &[0, 1, 60, 0]).is_ok());
        // Bidi AHS of the wrong length.
        assert_eq!(
            CommandAhs::parse(&[0; 16], &[0, 1, 2, 0]),
            Err(WireError::BadField("AHSLength"))
        );
        // Extended CDB too long for 260 bytes.
        let mut big = vec![0u8; 4 + 248];
        big[..4].copy_from_slice(&[0, 246, 1, 0]);
        assert_eq!(
            CommandAhs::parse(&[0; 16], &big),
            Err(WireError::BadField("AHSLength"))
        );
    }

    proptest! {
        #[test]
        fn round_trip(cdb in proptest::collection::vec(any::<u8>(), 1..=MAX_CDB_LEN),
                      bidi in proptest::option::of(any::<u32>())) {
            let ahs = CommandAhs { cdb: Cdb::new(&cdb).unwrap(), bidi_read_length: bidi };
            let mut buf = vec![0u8; ahs.buffer_len()];
            prop_assert_eq!(ahs.emit(&mut buf), Ok(buf.len()));
            prop_assert_eq!(buf.len() % 4, 0);
            let parsed = CommandAhs::parse(&ahs.cdb.bhs_part(), &buf).unwrap();
            // CDBs shorter than 16 bytes come back zero padded to 16.
            let mut want = cdb.clone();
            if want.len() < 16 { want.resize(16, 0); }
            prop_assert_eq!(parsed.cdb.as_bytes(), &want[..]);
            prop_assert_eq!(parsed.bidi_read_length, bidi);
        }

        #[test]
        fn iter_never_panics(area in proptest::collection::vec(any::<u8>(), 0..64)) {
            for ahs in AhsIter::new(&area) {
                if ahs.is_err() { break; }
            }
            let _ = CommandAhs::parse(&[0; 16], &area);
        }
    }
}
