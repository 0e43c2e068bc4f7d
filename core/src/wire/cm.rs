//! iSER private data in the RDMA CM connect request and reply (the iSER CM REQ/REP header of the
//! IBTA iSER annex A12; Linux `struct iser_cm_hdr`): one flags byte and three reserved bytes.
//!
//! Every real initiator sets "zero-based virtual addressing not supported" (0x80), so targets use
//! absolute addresses (base offset = virtual address); libiscsi also sets "Send with Invalidate
//! not supported" (0x40). The IB CM pads private data, so longer input is accepted and the rest
//! ignored; shorter input is an error. Reserved bits are ignored on receipt and written as zero.

use super::bytes::{self, bit, flag};
use super::error::WireError;

/// Length of the iSER CM private data.
pub const CM_PRIVATE_DATA_LEN: usize = 4;

/// Zero-based virtual addressing is not supported.
const ZBVA_NOT_SUPPORTED: u8 = 0x80;
/// Send with Invalidate is not supported.
const SEND_INV_NOT_SUPPORTED: u8 = 0x40;

/// iSER CM private data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CmPrivateData {
    /// 0x80: the sender cannot use zero-based virtual addresses; STag offsets are absolute.
    pub zbva_not_supported: bool,
    /// 0x40: the sender cannot take Send with Invalidate; do not use it towards it.
    pub send_inv_not_supported: bool,
}

impl CmPrivateData {
    /// What the Linux initiator sends on a device without remote invalidation (and libiscsi
    /// always): both flags set.
    pub const LINUX_INITIATOR: Self = CmPrivateData {
        zbva_not_supported: true,
        send_inv_not_supported: true,
    };

    /// Reads private data of at least [`CM_PRIVATE_DATA_LEN`] bytes.
    pub fn parse(buf: &[u8]) -> Result<Self, WireError> {
        if buf.len() < CM_PRIVATE_DATA_LEN {
            return Err(WireError::Truncated {
                needed: CM_PRIVATE_DATA_LEN,
            });
        }
        let flags = bytes::u8_at(buf, 0);
        Ok(CmPrivateData {
            zbva_not_supported: bit(flags, ZBVA_NOT_SUPPORTED),
            send_inv_not_supported: bit(flags, SEND_INV_NOT_SUPPORTED),
        })
    }

    /// Writes the four bytes; returns [`CM_PRIVATE_DATA_LEN`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let dst = buf
            .get_mut(..CM_PRIVATE_DATA_LEN)
            .ok_or(WireError::Truncated {
                needed: CM_PRIVATE_DATA_LEN,
            })?;
        dst.fill(0);
        bytes::set_u8(
            dst,
            0,
            flag(self.zbva_not_supported, ZBVA_NOT_SUPPORTED)
                | flag(self.send_inv_not_supported, SEND_INV_NOT_SUPPORTED),
        );
        Ok(CM_PRIVATE_DATA_LEN)
    }

    /// Length [`CmPrivateData::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        CM_PRIVATE_DATA_LEN
    }

    /// Whether STags may be addressed zero-based (offsets) rather than by absolute VA.
    pub const fn zero_based_va(&self) -> bool {
        !self.zbva_not_supported
    }

    /// Whether responses may use Send with Invalidate on the peer's STags.
    pub const fn send_with_invalidate(&self) -> bool {
        !self.send_inv_not_supported
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn linux_and_libiscsi_bytes() {
        // Linux iser_route_handler: flags = ISER_ZBVA_NOT_SUP (0x80) [| ISER_SEND_W_INV_NOT_SUP].
        assert_eq!(
            CmPrivateData::parse(&[0x80, 0, 0, 0]),
            Ok(CmPrivateData {
                zbva_not_supported: true,
                send_inv_not_supported: false
            })
        );
        let mut buf = [0xffu8; 4];
        assert_eq!(CmPrivateData::LINUX_INITIATOR.emit(&mut buf), Ok(4));
        assert_eq!(buf, [0xc0, 0, 0, 0]);
        // IB CM pads private data (56 bytes in a REQ): accepted.
        let mut padded = [0u8; 56];
        padded[0] = 0xc0;
        assert_eq!(
            CmPrivateData::parse(&padded),
            Ok(CmPrivateData::LINUX_INITIATOR)
        );
        assert_eq!(
            CmPrivateData::parse(&[0xc0, 0, 0]),
            Err(WireError::Truncated { needed: 4 })
        );
    }

    proptest! {
        #[test]
        fn round_trip(z in any::<bool>(), s in any::<bool>(), extra in 0usize..60) {
            let repr = CmPrivateData { zbva_not_supported: z, send_inv_not_supported: s };
            let mut buf = std::vec![0u8; CM_PRIVATE_DATA_LEN + extra];
            prop_assert_eq!(repr.emit(&mut buf), Ok(4));
            prop_assert_eq!(CmPrivateData::parse(&buf), Ok(repr));
        }
    }
}
