//! The iSER header (RFC 7145 §9.2): 28 bytes in front of every iSCSI control-type PDU sent as an
//! RDMA Send, advertising the initiator's Write and Read STags with their base offsets; and
//! [`IserMessage`], which tells control-type PDUs from Hello and HelloReply (§9.3, §9.4).
//!
//! ```text
//! byte 0: opcode (high nibble) | W 0x08 | R 0x04 | reserved (2 bits);  bytes 1-3 reserved
//! bytes 4-7 Write STag; 8-15 Write Base Offset; 16-19 Read STag; 20-27 Read Base Offset
//! ```
//!
//! Reserved bits and bytes are ignored on receipt and written as zero; STag fields without their
//! valid bit are ignored and written as zero. The control-type PDU after the header has no
//! digests (RFC 7145 §6.4): read it with [`super::frame::Pdu::parse`] and [`Digests::NONE`].
//!
//! [`Digests::NONE`]: super::frame::Digests::NONE

use super::bytes::{self, bit, flag};
use super::error::WireError;
use super::hello::{HelloReplyRepr, HelloRepr};

/// Length of the iSER header.
pub const ISER_HEADER_LEN: usize = 28;

mod field {
    pub const FLAGS: usize = 0;
    pub const WRITE_STAG: usize = 4;
    pub const WRITE_BASE_OFFSET: usize = 8;
    pub const READ_STAG: usize = 16;
    pub const READ_BASE_OFFSET: usize = 20;
}

/// W: the Write STag and Write Base Offset are valid.
const W: u8 = 0x08;
/// R: the Read STag and Read Base Offset are valid.
const R: u8 = 0x04;

wire_enum! {
    /// The iSER opcode: the high nibble of byte 0 (RFC 7145 §9.2).
    pub struct IserOpcode(u8);
    /// iSCSI control-type PDU follows.
    ISCSI_CTRL = 0x1,
    /// iSER Hello Message (§9.3).
    HELLO = 0x2,
    /// iSER HelloReply Message (§9.4).
    HELLO_REPLY = 0x3,
}

impl IserOpcode {
    /// The opcode in byte 0 of an iSER message.
    pub const fn of_flags(byte0: u8) -> Self {
        IserOpcode(byte0.wrapping_shr(4))
    }

    /// Byte 0 bits for this opcode; `None` if it does not fit in 4 bits.
    pub(crate) const fn to_flags(self) -> Option<u8> {
        if self.0 > 0x0f {
            None
        } else {
            Some(self.0.wrapping_shl(4))
        }
    }
}

/// A read/write view of an iSER header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IserHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IserHeader<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        IserHeader { buffer }
    }

    /// Wraps a buffer of at least [`ISER_HEADER_LEN`] bytes.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let header = Self::new_unchecked(buffer);
        header.check_len()?;
        Ok(header)
    }

    /// Checks that the buffer holds a whole header.
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < ISER_HEADER_LEN {
            Err(WireError::Truncated {
                needed: ISER_HEADER_LEN,
            })
        } else {
            Ok(())
        }
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Byte 0.
    pub fn flags(&self) -> u8 {
        bytes::u8_at(self.buffer.as_ref(), field::FLAGS)
    }

    /// The iSER opcode.
    pub fn opcode(&self) -> IserOpcode {
        IserOpcode::of_flags(self.flags())
    }

    /// W bit.
    pub fn write_stag_valid(&self) -> bool {
        bit(self.flags(), W)
    }

    /// R bit.
    pub fn read_stag_valid(&self) -> bool {
        bit(self.flags(), R)
    }

    /// Write STag: the initiator's buffer the target RDMA-Reads write data from.
    pub fn write_stag(&self) -> u32 {
        bytes::u32_at(self.buffer.as_ref(), field::WRITE_STAG)
    }

    /// Write Base Offset.
    pub fn write_base_offset(&self) -> u64 {
        bytes::u64_at(self.buffer.as_ref(), field::WRITE_BASE_OFFSET)
    }

    /// Read STag: the initiator's buffer the target RDMA-Writes read data into.
    pub fn read_stag(&self) -> u32 {
        bytes::u32_at(self.buffer.as_ref(), field::READ_STAG)
    }

    /// Read Base Offset.
    pub fn read_base_offset(&self) -> u64 {
        bytes::u64_at(self.buffer.as_ref(), field::READ_BASE_OFFSET)
    }

    /// The bytes after the header (the control-type PDU).
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(ISER_HEADER_LEN..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IserHeader<T> {
    /// Sets byte 0.
    pub fn set_flags(&mut self, flags: u8) {
        bytes::set_u8(self.buffer.as_mut(), field::FLAGS, flags);
    }

    /// Sets the Write STag.
    pub fn set_write_stag(&mut self, stag: u32) {
        bytes::set_u32(self.buffer.as_mut(), field::WRITE_STAG, stag);
    }

    /// Sets the Write Base Offset.
    pub fn set_write_base_offset(&mut self, offset: u64) {
        bytes::set_u64(self.buffer.as_mut(), field::WRITE_BASE_OFFSET, offset);
    }

    /// Sets the Read STag.
    pub fn set_read_stag(&mut self, stag: u32) {
        bytes::set_u32(self.buffer.as_mut(), field::READ_STAG, stag);
    }

    /// Sets the Read Base Offset.
    pub fn set_read_base_offset(&mut self, offset: u64) {
        bytes::set_u64(self.buffer.as_mut(), field::READ_BASE_OFFSET, offset);
    }

    /// The bytes after the header, for writing the control-type PDU.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(ISER_HEADER_LEN..)
            .unwrap_or(&mut [])
    }
}

/// An iSER header (RFC 7145 §9.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct IserHeaderRepr {
    /// iSER opcode (4 bits).
    pub opcode: IserOpcode,
    /// `(Write STag, Write Base Offset)` if W is set: where the target reads write data from.
    pub write_stag: Option<(u32, u64)>,
    /// `(Read STag, Read Base Offset)` if R is set: where the target writes read data to.
    pub read_stag: Option<(u32, u64)>,
}

impl IserHeaderRepr {
    /// Reads an iSER header.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub fn parse<T: AsRef<[u8]>>(header: &IserHeader<T>) -> Result<Self, WireError> {
        header.check_len()?;
        Ok(IserHeaderRepr {
            opcode: header.opcode(),
            write_stag: header
                .write_stag_valid()
                .then(|| (header.write_stag(), header.write_base_offset())),
            read_stag: header
                .read_stag_valid()
                .then(|| (header.read_stag(), header.read_base_offset())),
        })
    }

    /// Writes the 28 header bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        header: &mut IserHeader<T>,
    ) -> Result<(), WireError> {
        header.check_len()?;
        let opcode = self
            .opcode
            .to_flags()
            .ok_or(WireError::BadField("iSER opcode"))?;
        bytes::zero(header.buffer.as_mut(), 0, ISER_HEADER_LEN);
        header.set_flags(
            opcode | flag(self.write_stag.is_some(), W) | flag(self.read_stag.is_some(), R),
        );
        if let Some((stag, offset)) = self.write_stag {
            header.set_write_stag(stag);
            header.set_write_base_offset(offset);
        }
        if let Some((stag, offset)) = self.read_stag {
            header.set_read_stag(stag);
            header.set_read_base_offset(offset);
        }
        Ok(())
    }

    /// Length [`IserHeaderRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        ISER_HEADER_LEN
    }
}

/// The iSER header of an iSCSI control PDU that advertises no STag (every PDU a target sends,
/// RFC 7145 §9.2), as [`IserHeaderRepr::emit`] writes it: opcode 0x1, W and R clear, zeros.
pub const ISCSI_CTRL_HEADER: [u8; ISER_HEADER_LEN] = {
    let mut h = [0u8; ISER_HEADER_LEN];
    h[0] = 0x10;
    h
};

/// A received iSER message (the payload of an RDMA Send), told apart by its opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IserMessage<'a> {
    /// An iSCSI control-type PDU with its iSER header.
    Control {
        /// The iSER header.
        header: IserHeaderRepr,
        /// The iSCSI PDU after the header (BHS, AHS, data; no digests).
        pdu: &'a [u8],
    },
    /// iSER Hello (initiator → target).
    Hello(HelloRepr),
    /// iSER HelloReply (target → initiator).
    HelloReply(HelloReplyRepr),
}

impl<'a> IserMessage<'a> {
    /// Reads a received message. Opcodes other than 1–3 give
    /// [`WireError::BadField`]`("iSER opcode")`.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub fn parse(buf: &'a [u8]) -> Result<Self, WireError> {
        let byte0 = *buf.first().ok_or(WireError::Truncated { needed: 1 })?;
        match IserOpcode::of_flags(byte0) {
            IserOpcode::ISCSI_CTRL => {
                let view = IserHeader::new_checked(buf)?;
                Ok(IserMessage::Control {
                    header: IserHeaderRepr::parse(&view)?,
                    pdu: buf.get(ISER_HEADER_LEN..).unwrap_or(&[]),
                })
            }
            IserOpcode::HELLO => Ok(IserMessage::Hello(HelloRepr::parse(buf)?)),
            IserOpcode::HELLO_REPLY => Ok(IserMessage::HelloReply(HelloReplyRepr::parse(buf)?)),
            _ => Err(WireError::BadField("iSER opcode")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn test_iscsi_ctrl_header_template_matches_emit() {
        let mut buf = [0xffu8; ISER_HEADER_LEN];
        let repr = IserHeaderRepr {
            opcode: IserOpcode::ISCSI_CTRL,
            write_stag: None,
            read_stag: None,
        };
        repr.emit(&mut IserHeader::new_unchecked(&mut buf[..]))
            .unwrap();
        assert_eq!(buf, ISCSI_CTRL_HEADER);
    }

    /// An iSER header built by hand from the RFC 7145 §9.2 figure: opcode 1, W and R set,
    /// Write STag 0x11223344 at 0x0102030405060708, Read STag 0x55667788 at 0x1112131415161718.
    const RFC7145_HEADER: [u8; ISER_HEADER_LEN] = [
        0x1c, 0, 0, 0, //
        0x11, 0x22, 0x33, 0x44, //
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, //
        0x55, 0x66, 0x77, 0x88, //
        0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
    ];

    #[test]
    fn rfc7145_vector() {
        let repr =
            IserHeaderRepr::parse(&IserHeader::new_checked(&RFC7145_HEADER[..]).unwrap()).unwrap();
        assert_eq!(
            repr,
            IserHeaderRepr {
                opcode: IserOpcode::ISCSI_CTRL,
                write_stag: Some((0x1122_3344, 0x0102_0304_0506_0708)),
                read_stag: Some((0x5566_7788, 0x1112_1314_1516_1718)),
            }
        );
        let mut out = [0xffu8; ISER_HEADER_LEN];
        repr.emit(&mut IserHeader::new_unchecked(&mut out[..]))
            .unwrap();
        assert_eq!(out, RFC7145_HEADER);

        // Read only (a SCSI Read): W clear, write fields zero.
        let read_only = IserHeaderRepr {
            opcode: IserOpcode::ISCSI_CTRL,
            write_stag: None,
            read_stag: Some((7, 8)),
        };
        read_only
            .emit(&mut IserHeader::new_unchecked(&mut out[..]))
            .unwrap();
        assert_eq!(out[0], 0x14);
        assert!(out[4..16].iter().all(|&b| b == 0));
    }

    #[test]
    fn message_dispatch() {
        let mut msg = [0u8; ISER_HEADER_LEN + 48];
        msg[..ISER_HEADER_LEN].copy_from_slice(&RFC7145_HEADER);
        msg[ISER_HEADER_LEN] = 0x01;
        match IserMessage::parse(&msg).unwrap() {
            IserMessage::Control { header, pdu } => {
                assert_eq!(header.opcode, IserOpcode::ISCSI_CTRL);
                assert_eq!(pdu.len(), 48);
                assert_eq!(pdu[0], 0x01);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            IserMessage::parse(&[0x40; 28]),
            Err(WireError::BadField("iSER opcode"))
        );
        assert_eq!(
            IserMessage::parse(&[]),
            Err(WireError::Truncated { needed: 1 })
        );
        assert_eq!(
            IserMessage::parse(&[0x10; 27]),
            Err(WireError::Truncated { needed: 28 })
        );
    }

    fn any_stag() -> impl Strategy<Value = Option<(u32, u64)>> {
        proptest::option::of((any::<u32>(), any::<u64>()))
    }

    proptest! {
        #[test]
        fn round_trip(opcode in 0u8..16, write_stag in any_stag(), read_stag in any_stag()) {
            let repr = IserHeaderRepr { opcode: IserOpcode(opcode), write_stag, read_stag };
            let mut buf = [0u8; ISER_HEADER_LEN];
            repr.emit(&mut IserHeader::new_unchecked(&mut buf[..])).unwrap();
            prop_assert_eq!(IserHeaderRepr::parse(&IserHeader::new_unchecked(&buf[..])), Ok(repr));
        }

        #[test]
        fn parse_arbitrary(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = IserMessage::parse(&bytes);
        }
    }
}
