//! iSER Hello (RFC 7145 §9.3) and HelloReply (RFC 7145 §9.4): the optional exchange right after
//! login in which the initiator declares its iSER-IRD and the target answers with its iSER-ORD.
//!
//! ```text
//! Hello:      byte 0 = 0x2 << 4 | reserved;  byte 1 = MaxVer << 4 | MinVer;  bytes 2-3 iSER-IRD
//! HelloReply: byte 0 = 0x3 << 4 | reserved | Rej (0x01);  byte 1 = MaxVer << 4 | CurVer;
//!             bytes 2-3 iSER-ORD
//! bytes 4-11 reserved
//! ```
//!
//! The layout is checked against illumos' `iser_hello_hdr_t`/`iser_helloreply_hdr_t` and
//! Wireshark's iSER dissector. Reserved bits and bytes are ignored on receipt and written as zero;
//! bytes after the 12 are ignored (a peer may send the message in a 28-byte iSER header slot).

use super::bytes::{self, bit, flag};
use super::error::WireError;
use super::iser::IserOpcode;

/// Length of a Hello or HelloReply message.
pub const HELLO_LEN: usize = 12;

/// The iSER version of RFC 7145 (RFC 5046 used 1); Wireshark's dissector expects 10 in both
/// version nibbles.
pub const ISER_VERSION: u8 = 10;

mod field {
    pub const FLAGS: usize = 0;
    pub const VERSIONS: usize = 1;
    pub const IRD_ORD: usize = 2;
}

/// Rej bit of a HelloReply.
const REJ: u8 = 0x01;
const NIBBLE: u8 = 0x0f;

fn check(buf: &[u8], opcode: IserOpcode) -> Result<(), WireError> {
    if buf.len() < HELLO_LEN {
        return Err(WireError::Truncated { needed: HELLO_LEN });
    }
    if IserOpcode::of_flags(bytes::u8_at(buf, field::FLAGS)) != opcode {
        return Err(WireError::BadField("iSER opcode"));
    }
    Ok(())
}

fn versions(buf: &[u8]) -> (u8, u8) {
    let b = bytes::u8_at(buf, field::VERSIONS);
    (b.wrapping_shr(4), b & NIBBLE)
}

fn start(
    buf: &mut [u8],
    opcode: IserOpcode,
    low_bits: u8,
    hi_ver: u8,
    lo_ver: u8,
) -> Result<(), WireError> {
    let dst = buf
        .get_mut(..HELLO_LEN)
        .ok_or(WireError::Truncated { needed: HELLO_LEN })?;
    if hi_ver > NIBBLE || lo_ver > NIBBLE {
        return Err(WireError::BadField("iSER version"));
    }
    let op = opcode
        .to_flags()
        .ok_or(WireError::BadField("iSER opcode"))?;
    dst.fill(0);
    bytes::set_u8(dst, field::FLAGS, op | low_bits);
    bytes::set_u8(dst, field::VERSIONS, hi_ver.wrapping_shl(4) | lo_ver);
    Ok(())
}

/// An iSER Hello Message (RFC 7145 §9.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HelloRepr {
    /// MaxVer (4 bits): highest iSER version the initiator supports.
    pub max_ver: u8,
    /// MinVer (4 bits): lowest iSER version the initiator supports.
    pub min_ver: u8,
    /// iSER-IRD: RDMA Read requests the initiator can have incoming at once.
    pub iser_ird: u16,
}

impl HelloRepr {
    /// Reads a Hello.
    pub fn parse(buf: &[u8]) -> Result<Self, WireError> {
        check(buf, IserOpcode::HELLO)?;
        let (max_ver, min_ver) = versions(buf);
        Ok(HelloRepr {
            max_ver,
            min_ver,
            iser_ird: bytes::u16_at(buf, field::IRD_ORD),
        })
    }

    /// Writes the 12 bytes; returns [`HELLO_LEN`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        start(buf, IserOpcode::HELLO, 0, self.max_ver, self.min_ver)?;
        bytes::set_u16(buf, field::IRD_ORD, self.iser_ird);
        Ok(HELLO_LEN)
    }

    /// Length [`HelloRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        HELLO_LEN
    }
}

/// An iSER HelloReply Message (RFC 7145 §9.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HelloReplyRepr {
    /// Rej: the target rejects the Hello (e.g., no common version); it then closes the
    /// connection.
    pub reject: bool,
    /// MaxVer (4 bits): highest iSER version the target supports.
    pub max_ver: u8,
    /// CurVer (4 bits): the version chosen for the connection.
    pub cur_ver: u8,
    /// iSER-ORD: RDMA Read requests the target will have outstanding at once.
    pub iser_ord: u16,
}

impl HelloReplyRepr {
    /// Reads a HelloReply.
    pub fn parse(buf: &[u8]) -> Result<Self, WireError> {
        check(buf, IserOpcode::HELLO_REPLY)?;
        let (max_ver, cur_ver) = versions(buf);
        Ok(HelloReplyRepr {
            reject: bit(bytes::u8_at(buf, field::FLAGS), REJ),
            max_ver,
            cur_ver,
            iser_ord: bytes::u16_at(buf, field::IRD_ORD),
        })
    }

    /// Writes the 12 bytes; returns [`HELLO_LEN`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        start(
            buf,
            IserOpcode::HELLO_REPLY,
            flag(self.reject, REJ),
            self.max_ver,
            self.cur_ver,
        )?;
        bytes::set_u16(buf, field::IRD_ORD, self.iser_ord);
        Ok(HELLO_LEN)
    }

    /// Length [`HelloReplyRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        HELLO_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::iser::IserMessage;
    use proptest::prelude::*;

    /// Hello built by hand from the RFC 7145 §9.3 figure: version 10..10, iSER-IRD 16.
    const RFC7145_HELLO: [u8; HELLO_LEN] = [0x20, 0xaa, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0];
    /// HelloReply from the §9.4 figure: Rej set, MaxVer 10, CurVer 10, iSER-ORD 4.
    const RFC7145_HELLO_REPLY: [u8; HELLO_LEN] = [0x31, 0xaa, 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0];

    #[test]
    fn rfc7145_vectors() {
        let hello = HelloRepr {
            max_ver: ISER_VERSION,
            min_ver: ISER_VERSION,
            iser_ird: 16,
        };
        assert_eq!(HelloRepr::parse(&RFC7145_HELLO), Ok(hello));
        let mut buf = [0xffu8; HELLO_LEN];
        assert_eq!(hello.emit(&mut buf), Ok(HELLO_LEN));
        assert_eq!(buf, RFC7145_HELLO);

        let reply = HelloReplyRepr {
            reject: true,
            max_ver: ISER_VERSION,
            cur_ver: ISER_VERSION,
            iser_ord: 4,
        };
        assert_eq!(HelloReplyRepr::parse(&RFC7145_HELLO_REPLY), Ok(reply));
        assert_eq!(reply.emit(&mut buf), Ok(HELLO_LEN));
        assert_eq!(buf, RFC7145_HELLO_REPLY);

        assert_eq!(
            IserMessage::parse(&RFC7145_HELLO),
            Ok(IserMessage::Hello(hello))
        );
        assert_eq!(
            IserMessage::parse(&RFC7145_HELLO_REPLY),
            Ok(IserMessage::HelloReply(reply))
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            HelloRepr::parse(&RFC7145_HELLO[..11]),
            Err(WireError::Truncated { needed: 12 })
        );
        assert_eq!(
            HelloRepr::parse(&RFC7145_HELLO_REPLY),
            Err(WireError::BadField("iSER opcode"))
        );
        let bad = HelloRepr {
            max_ver: 16,
            min_ver: 1,
            iser_ird: 0,
        };
        assert_eq!(
            bad.emit(&mut [0; HELLO_LEN]),
            Err(WireError::BadField("iSER version"))
        );
        // A longer buffer (28-byte header slot) is accepted.
        let mut long = [0u8; 28];
        long[..HELLO_LEN].copy_from_slice(&RFC7145_HELLO);
        assert!(HelloRepr::parse(&long).is_ok());
    }

    proptest! {
        #[test]
        fn round_trip(max_ver in 0u8..16, min_ver in 0u8..16, ird in any::<u16>(), reject in any::<bool>()) {
            let hello = HelloRepr { max_ver, min_ver, iser_ird: ird };
            let mut buf = [0u8; HELLO_LEN];
            hello.emit(&mut buf).unwrap();
            prop_assert_eq!(HelloRepr::parse(&buf), Ok(hello));
            let reply = HelloReplyRepr { reject, max_ver, cur_ver: min_ver, iser_ord: ird };
            reply.emit(&mut buf).unwrap();
            prop_assert_eq!(HelloReplyRepr::parse(&buf), Ok(reply));
        }
    }
}
