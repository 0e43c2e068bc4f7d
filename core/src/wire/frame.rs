//! Whole PDUs on a TCP byte stream (RFC 7143 §11.1–§11.2): BHS, AHS, optional HeaderDigest, data
//! segment padded to 4 bytes, optional DataDigest (CRC32C, §13.1).
//!
//! ```text
//! | BHS (48) | AHS (4*TotalAHSLength) | HD (4)? | data (DataSegmentLength) | pad (0-3) | DD (4)? |
//! ```
//!
//! The DataDigest is present only when the data segment is (DataSegmentLength > 0) and covers the
//! padding; the HeaderDigest covers BHS and AHS. Under iSER no digests are used (RFC 7145 §6.4).
//!
//! Sending without copying payload twice: [`emit_header_in_place`] when the payload already sits
//! at [`data_offset`] in the send buffer, or [`emit_header`] + payload + [`Trailer`] for a
//! vectored (scatter-gather) write.

use super::bhs::{Bhs, BHS_LEN, MAX_DATA_SEGMENT_LENGTH};
use super::digest::{from_wire, to_wire, Crc32c};
use super::error::WireError;
use super::pdu::PduRepr;

/// Length of a digest on the wire.
pub const DIGEST_LEN: usize = 4;

/// Longest AHS area TotalAHSLength can describe.
pub const MAX_AHS_LEN: usize = 255 * 4;

/// Padding bytes after `n` bytes to reach a multiple of 4.
pub const fn pad_len(n: usize) -> usize {
    n.wrapping_neg() & 3
}

/// `n` rounded up to a multiple of 4 (saturating near `usize::MAX`).
pub const fn padded_len(n: usize) -> usize {
    n.saturating_add(3) & !3
}

/// Which digests the connection negotiated (HeaderDigest and DataDigest keys, §13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Digests {
    /// HeaderDigest=CRC32C.
    pub header: bool,
    /// DataDigest=CRC32C.
    pub data: bool,
}

impl Digests {
    /// No digests (the default, and always under iSER).
    pub const NONE: Digests = Digests {
        header: false,
        data: false,
    };
    /// Both digests CRC32C.
    pub const BOTH: Digests = Digests {
        header: true,
        data: true,
    };

    const fn header_len(self) -> usize {
        if self.header {
            DIGEST_LEN
        } else {
            0
        }
    }
}

/// Where each part of a PDU sits; all offsets from the start of the PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    /// End of the AHS (where the header digest starts).
    header_end: usize,
    /// Start of the data segment.
    data_start: usize,
    /// End of the data segment without padding.
    data_end: usize,
    /// End of the padding.
    padded_end: usize,
    /// Whole PDU length.
    total: usize,
}

impl Layout {
    fn new(ahs_len: usize, data_len: usize, digests: Digests) -> Option<Layout> {
        let header_end = BHS_LEN.checked_add(ahs_len)?;
        let data_start = header_end.checked_add(digests.header_len())?;
        let data_end = data_start.checked_add(data_len)?;
        let padded_end = data_end.checked_add(pad_len(data_len))?;
        let data_digest = if digests.data && data_len > 0 {
            DIGEST_LEN
        } else {
            0
        };
        let total = padded_end.checked_add(data_digest)?;
        Some(Layout {
            header_end,
            data_start,
            data_end,
            padded_end,
            total,
        })
    }

    fn of<T: AsRef<[u8]>>(bhs: &Bhs<T>, digests: Digests) -> Option<Layout> {
        let data_len = usize::try_from(bhs.data_segment_length()).ok()?;
        Layout::new(bhs.ahs_len(), data_len, digests)
    }
}

/// Length of the whole PDU whose BHS is `bhs`, digests and padding included.
pub fn pdu_len<T: AsRef<[u8]>>(bhs: &Bhs<T>, digests: Digests) -> usize {
    Layout::of(bhs, digests).map_or(usize::MAX, |l| l.total)
}

/// Offset of the data segment in a PDU with `ahs_len` bytes of AHS.
pub const fn data_offset(ahs_len: usize, digests: Digests) -> usize {
    BHS_LEN
        .saturating_add(ahs_len)
        .saturating_add(digests.header_len())
}

/// Why no PDU could be taken from the front of a receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FrameError {
    /// Not enough bytes yet: read until the buffer holds `needed` bytes and try again. `needed` is
    /// the whole PDU's length once the header is known (and, with HeaderDigest, verified); before
    /// that it is the header's length.
    Incomplete {
        /// Bytes the buffer must hold.
        needed: usize,
    },
    /// DataSegmentLength exceeds our MaxRecvDataSegmentLength (a protocol error, §13.12).
    DataSegmentTooLong {
        /// DataSegmentLength of the PDU.
        len: u32,
        /// The limit given to [`Pdu::parse`].
        max: usize,
    },
    /// HeaderDigest mismatch: the header cannot be trusted and the connection must be dropped
    /// (§7.8).
    HeaderDigest {
        /// CRC32C of the received BHS and AHS.
        computed: u32,
        /// Digest received.
        received: u32,
    },
    /// DataDigest mismatch: the header is sound, so the PDU can be skipped (`consumed` bytes) and
    /// answered with a Reject, reason Data digest error (§7.8, §11.17.1).
    DataDigest {
        /// CRC32C of the received data and padding.
        computed: u32,
        /// Digest received.
        received: u32,
        /// Length of the whole PDU.
        consumed: usize,
    },
    /// The lengths in the header do not describe a PDU this machine can address.
    Malformed,
}

/// A PDU framed in a receive buffer, borrowing its parts. Digests have been verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pdu<'a> {
    /// The 48-byte BHS.
    pub bhs: &'a [u8],
    /// The AHS area (`4 * TotalAHSLength` bytes).
    pub ahs: &'a [u8],
    /// The data segment, without padding.
    pub data: &'a [u8],
}

impl<'a> Pdu<'a> {
    /// Takes one PDU from the front of `buf`; returns it and the bytes it spans.
    ///
    /// `max_data_len` is the MaxRecvDataSegmentLength we declared; a longer data segment is
    /// refused before waiting for it.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub fn parse(
        buf: &'a [u8],
        digests: Digests,
        max_data_len: usize,
    ) -> Result<(Pdu<'a>, usize), FrameError> {
        let Some(bhs_bytes) = buf.get(..BHS_LEN) else {
            return Err(FrameError::Incomplete { needed: BHS_LEN });
        };
        let bhs = Bhs::new_unchecked(bhs_bytes);
        let header_end = BHS_LEN
            .checked_add(bhs.ahs_len())
            .ok_or(FrameError::Malformed)?;
        if digests.header {
            // Verify the header before trusting its lengths.
            let hd_end = header_end
                .checked_add(DIGEST_LEN)
                .ok_or(FrameError::Malformed)?;
            let (Some(header), Some(hd)) = (buf.get(..header_end), buf.get(header_end..hd_end))
            else {
                return Err(FrameError::Incomplete { needed: hd_end });
            };
            let computed = super::digest::crc32c(header);
            let received = from_wire(super::bytes::get(hd, 0));
            if computed != received {
                return Err(FrameError::HeaderDigest { computed, received });
            }
        }
        let len = bhs.data_segment_length();
        if usize::try_from(len).map_or(true, |l| l > max_data_len) {
            return Err(FrameError::DataSegmentTooLong {
                len,
                max: max_data_len,
            });
        }
        let layout = Layout::of(&bhs, digests).ok_or(FrameError::Malformed)?;
        let Some(pdu) = buf.get(..layout.total) else {
            return Err(FrameError::Incomplete {
                needed: layout.total,
            });
        };
        let ahs = pdu.get(BHS_LEN..layout.header_end).unwrap_or(&[]);
        let data = pdu.get(layout.data_start..layout.data_end).unwrap_or(&[]);
        if digests.data && !data.is_empty() {
            let covered = pdu.get(layout.data_start..layout.padded_end).unwrap_or(&[]);
            let computed = super::digest::crc32c(covered);
            let received = from_wire(super::bytes::get(pdu, layout.padded_end));
            if computed != received {
                return Err(FrameError::DataDigest {
                    computed,
                    received,
                    consumed: layout.total,
                });
            }
        }
        Ok((
            Pdu {
                bhs: bhs_bytes,
                ahs,
                data,
            },
            layout.total,
        ))
    }

    /// A view of the BHS.
    pub fn bhs_view(&self) -> Bhs<&'a [u8]> {
        Bhs::new_unchecked(self.bhs)
    }

    /// The header as a [`PduRepr`].
    pub fn repr(&self) -> Result<PduRepr, WireError> {
        PduRepr::parse(self.bhs)
    }
}

/// Why a PDU could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EmitError {
    /// The output buffer must hold at least `needed` bytes.
    BufferTooSmall {
        /// Bytes the PDU needs.
        needed: usize,
    },
    /// The AHS area is not a multiple of 4 bytes or longer than [`MAX_AHS_LEN`].
    BadAhsLength,
    /// The data segment is longer than the 24-bit DataSegmentLength allows.
    DataSegmentTooLong,
    /// The header itself could not be written.
    Header(WireError),
}

impl From<WireError> for EmitError {
    fn from(e: WireError) -> Self {
        EmitError::Header(e)
    }
}

/// Checks the segment lengths and computes the layout.
fn plan(ahs: &[u8], data_len: usize, digests: Digests) -> Result<(Layout, u8, u32), EmitError> {
    if ahs.len() % 4 != 0 || ahs.len() > MAX_AHS_LEN {
        return Err(EmitError::BadAhsLength);
    }
    let words = u8::try_from(ahs.len() / 4).map_err(|_| EmitError::BadAhsLength)?;
    let dsl = u32::try_from(data_len)
        .ok()
        .filter(|&l| l <= MAX_DATA_SEGMENT_LENGTH)
        .ok_or(EmitError::DataSegmentTooLong)?;
    let layout = Layout::new(ahs.len(), data_len, digests).ok_or(EmitError::DataSegmentTooLong)?;
    Ok((layout, words, dsl))
}

/// Writes BHS, AHS and header digest into `buf` (which holds at least `layout.data_start`).
fn write_header(
    header: &PduRepr,
    ahs: &[u8],
    words: u8,
    dsl: u32,
    layout: &Layout,
    digests: Digests,
    buf: &mut [u8],
) -> Result<(), EmitError> {
    let needed = layout.data_start;
    let head = buf
        .get_mut(..needed)
        .ok_or(EmitError::BufferTooSmall { needed })?;
    let mut bhs = Bhs::new_checked(&mut *head)?;
    header.emit_bhs(&mut bhs)?;
    bhs.set_total_ahs_length(words);
    bhs.set_data_segment_length(dsl);
    if let Some(dst) = head.get_mut(BHS_LEN..layout.header_end) {
        if let Some(dst) = dst.get_mut(..ahs.len()) {
            dst.copy_from_slice(ahs);
        }
    }
    if digests.header {
        let crc = super::digest::crc32c(head.get(..layout.header_end).unwrap_or(&[]));
        super::bytes::put(head, layout.header_end, to_wire(crc));
    }
    Ok(())
}

/// Writes a whole PDU (header, AHS, digests, data and padding) into `buf`; returns its length.
///
/// `ahs` is the finished AHS area (a multiple of 4 bytes, e.g. from
/// [`super::ahs::CommandAhs::emit`]); TotalAHSLength and DataSegmentLength are set from `ahs` and
/// `data`.
pub fn emit_pdu(
    header: &PduRepr,
    ahs: &[u8],
    data: &[u8],
    digests: Digests,
    buf: &mut [u8],
) -> Result<usize, EmitError> {
    let (layout, _, _) = plan(ahs, data.len(), digests)?;
    let needed = layout.total;
    let pdu = buf
        .get_mut(..needed)
        .ok_or(EmitError::BufferTooSmall { needed })?;
    if let Some(dst) = pdu.get_mut(layout.data_start..layout.data_end) {
        if let Some(dst) = dst.get_mut(..data.len()) {
            dst.copy_from_slice(data);
        }
    }
    emit_header_in_place(header, ahs, data.len(), digests, pdu)
}

/// Completes a PDU whose `data_len` data bytes the caller already placed at
/// [`data_offset`]`(ahs.len(), digests)` in `buf`: writes the header, AHS, header digest, padding
/// and data digest around them. Returns the PDU length. The data are not copied.
pub fn emit_header_in_place(
    header: &PduRepr,
    ahs: &[u8],
    data_len: usize,
    digests: Digests,
    buf: &mut [u8],
) -> Result<usize, EmitError> {
    let (layout, words, dsl) = plan(ahs, data_len, digests)?;
    let needed = layout.total;
    let pdu = buf
        .get_mut(..needed)
        .ok_or(EmitError::BufferTooSmall { needed })?;
    write_header(header, ahs, words, dsl, &layout, digests, pdu)?;
    super::bytes::zero(pdu, layout.data_end, pad_len(data_len));
    if digests.data && data_len > 0 {
        let covered = pdu.get(layout.data_start..layout.padded_end).unwrap_or(&[]);
        let crc = super::digest::crc32c(covered);
        super::bytes::put(pdu, layout.padded_end, to_wire(crc));
    }
    Ok(layout.total)
}

/// Writes only the front of a PDU (BHS, AHS, header digest) for a vectored write of
/// `front | data | trailer`, with DataSegmentLength `data_len`. Returns the bytes written, which
/// equal [`data_offset`]. Send [`Trailer`] after the data.
pub fn emit_header(
    header: &PduRepr,
    ahs: &[u8],
    data_len: usize,
    digests: Digests,
    buf: &mut [u8],
) -> Result<usize, EmitError> {
    let (layout, words, dsl) = plan(ahs, data_len, digests)?;
    write_header(header, ahs, words, dsl, &layout, digests, buf)?;
    Ok(layout.data_start)
}

/// What follows the data segment on the wire: 0–3 padding bytes and the data digest, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    bytes: [u8; 7],
    len: u8,
}

impl Trailer {
    /// The trailer for `data` sent as one segment.
    pub fn new(data: &[u8], digests: Digests) -> Self {
        let mut crc = Crc32c::new();
        if digests.data {
            crc.update(data);
        }
        Self::with_crc(data.len(), crc, digests)
    }

    /// The trailer for a data segment of `data_len` bytes whose CRC32C the caller has computed
    /// so far in `crc` (fed with the data, not the padding), e.g. over a scattered buffer.
    pub fn with_crc(data_len: usize, mut crc: Crc32c, digests: Digests) -> Self {
        let pad = pad_len(data_len);
        let mut bytes = [0u8; 7];
        let mut len = pad;
        if digests.data && data_len > 0 {
            crc.update_zeros(pad);
            super::bytes::put(&mut bytes, pad, to_wire(crc.finish()));
            len = pad.saturating_add(DIGEST_LEN);
        }
        Trailer {
            bytes,
            len: u8::try_from(len).unwrap_or(0),
        }
    }

    /// The bytes to send after the data.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::nop::NopOutRepr;
    use crate::wire::testutil::any_pdu_repr;
    use crate::wire::Lun;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn any_digests() -> impl Strategy<Value = Digests> {
        (any::<bool>(), any::<bool>()).prop_map(|(header, data)| Digests { header, data })
    }

    fn nop() -> PduRepr {
        PduRepr::NopOut(NopOutRepr {
            immediate: true,
            lun: Lun(0),
            itt: 7,
            ttt: 0xffff_ffff,
            cmd_sn: 1,
            exp_stat_sn: 2,
        })
    }

    #[test]
    fn padding() {
        assert_eq!(
            (0..9).map(pad_len).collect::<Vec<_>>(),
            [0, 3, 2, 1, 0, 3, 2, 1, 0]
        );
        assert_eq!(
            (0..9).map(padded_len).collect::<Vec<_>>(),
            [0, 4, 4, 4, 4, 8, 8, 8, 8]
        );
    }

    #[test]
    fn layout_with_digests() {
        let data = [1u8, 2, 3, 4, 5];
        let ahs = [0u8, 1, 60, 0];
        let mut buf = [0u8; 128];
        let n = emit_pdu(&nop(), &ahs, &data, Digests::BOTH, &mut buf).unwrap();
        // 48 BHS + 4 AHS + 4 HD + 5 data + 3 pad + 4 DD
        assert_eq!(n, 68);
        assert_eq!(buf[4], 1);
        assert_eq!(&buf[5..8], &[0, 0, 5]);
        assert_eq!(&buf[52..56], &to_wire(crate::wire::crc32c(&buf[..52])));
        assert_eq!(&buf[56..61], &data);
        assert_eq!(&buf[61..64], &[0, 0, 0]);
        assert_eq!(&buf[64..68], &to_wire(crate::wire::crc32c(&buf[56..64])));
        assert_eq!(pdu_len(&Bhs::new_unchecked(&buf[..]), Digests::BOTH), 68);
        let (pdu, used) = Pdu::parse(&buf[..n], Digests::BOTH, 8192).unwrap();
        assert_eq!(used, 68);
        assert_eq!(pdu.ahs, &ahs);
        assert_eq!(pdu.data, &data);
        assert_eq!(pdu.repr(), Ok(nop()));
    }

    #[test]
    fn no_data_digest_without_data() {
        let mut buf = [0u8; 64];
        assert_eq!(emit_pdu(&nop(), &[], &[], Digests::BOTH, &mut buf), Ok(52));
        assert_eq!(Pdu::parse(&buf, Digests::BOTH, 0).unwrap().1, 52);
    }

    #[test]
    fn digest_errors() {
        let mut buf = [0u8; 128];
        let n = emit_pdu(&nop(), &[], b"ping", Digests::BOTH, &mut buf).unwrap();
        let mut bad = buf;
        bad[20] ^= 1;
        assert!(matches!(
            Pdu::parse(&bad[..n], Digests::BOTH, 8192),
            Err(FrameError::HeaderDigest { .. })
        ));
        let mut bad = buf;
        bad[53] ^= 1;
        assert_eq!(
            Pdu::parse(&bad[..n], Digests::BOTH, 8192),
            Err(FrameError::DataDigest {
                computed: crate::wire::crc32c(&bad[52..56]),
                received: from_wire(bad[56..60].try_into().unwrap()),
                consumed: n,
            })
        );
    }

    #[test]
    fn too_long_and_too_small() {
        let mut buf = [0u8; 128];
        let n = emit_pdu(&nop(), &[], &[0; 9], Digests::NONE, &mut buf).unwrap();
        assert_eq!(
            Pdu::parse(&buf[..n], Digests::NONE, 8),
            Err(FrameError::DataSegmentTooLong { len: 9, max: 8 })
        );
        assert_eq!(
            emit_pdu(&nop(), &[], &[0; 9], Digests::NONE, &mut buf[..59]),
            Err(EmitError::BufferTooSmall { needed: 60 })
        );
        assert_eq!(
            emit_pdu(&nop(), &[0; 3], &[], Digests::NONE, &mut buf),
            Err(EmitError::BadAhsLength)
        );
    }

    proptest! {
        /// emit_pdu → Pdu::parse gives back header, AHS and data, for any PDU, data length and
        /// digest setting; the in-place and vectored writers produce the same bytes.
        #[test]
        fn round_trip(repr in any_pdu_repr(), ahs_words in 0usize..4,
                      data in proptest::collection::vec(any::<u8>(), 0..300),
                      digests in any_digests()) {
            let ahs: Vec<u8> = (0..ahs_words * 4).map(|i| i as u8).collect();
            let mut buf = vec![0u8; 1024];
            let n = emit_pdu(&repr, &ahs, &data, digests, &mut buf).unwrap();
            prop_assert_eq!(n % 4, 0);
            prop_assert_eq!(pdu_len(&Bhs::new_unchecked(&buf[..]), digests), n);
            // Trailing bytes of the next PDU are not consumed.
            let (pdu, used) = Pdu::parse(&buf, digests, data.len()).unwrap();
            prop_assert_eq!(used, n);
            prop_assert_eq!(pdu.repr().unwrap(), repr);
            prop_assert_eq!(pdu.ahs, &ahs[..]);
            prop_assert_eq!(pdu.data, &data[..]);

            // In place: data first, then the header around it.
            let mut inplace = vec![0xeeu8; 1024];
            let off = data_offset(ahs.len(), digests);
            inplace[off..off + data.len()].copy_from_slice(&data);
            prop_assert_eq!(emit_header_in_place(&repr, &ahs, data.len(), digests, &mut inplace), Ok(n));
            prop_assert_eq!(&inplace[..n], &buf[..n]);

            // Vectored: front | data | trailer.
            let mut front = vec![0u8; off];
            prop_assert_eq!(emit_header(&repr, &ahs, data.len(), digests, &mut front), Ok(off));
            let mut joined = front.clone();
            joined.extend_from_slice(&data);
            joined.extend_from_slice(Trailer::new(&data, digests).as_bytes());
            prop_assert_eq!(&joined[..], &buf[..n]);
        }

        /// Every truncation of a valid PDU asks for the right number of bytes.
        #[test]
        fn truncation(repr in any_pdu_repr(), ahs_words in 0usize..3,
                      data_len in 0usize..40, digests in any_digests()) {
            let ahs = vec![0u8; ahs_words * 4];
            let data = vec![0x5au8; data_len];
            let mut buf = vec![0u8; 512];
            let n = emit_pdu(&repr, &ahs, &data, digests, &mut buf).unwrap();
            let header = data_offset(ahs.len(), digests);
            for cut in 0..n {
                let needed = if cut < BHS_LEN {
                    BHS_LEN
                } else if digests.header && cut < header {
                    header
                } else {
                    n
                };
                prop_assert_eq!(Pdu::parse(&buf[..cut], digests, 1 << 24),
                                Err(FrameError::Incomplete { needed }));
            }
            prop_assert!(Pdu::parse(&buf[..n], digests, 1 << 24).is_ok());
        }

        /// Arbitrary bytes never make the framer panic.
        #[test]
        fn parse_arbitrary(bytes in proptest::collection::vec(any::<u8>(), 48..600),
                           digests in any_digests(), max in 0usize..1000) {
            if let Ok((pdu, used)) = Pdu::parse(&bytes, digests, max) {
                prop_assert!(used <= bytes.len());
                prop_assert!(pdu.data.len() <= max);
                let _ = pdu.repr();
            }
        }
    }
}
