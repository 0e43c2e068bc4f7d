//! Errors of the wire codecs (RFC 7143 §11, RFC 7145 §9): one small `Copy` enum for every view and
//! `Repr` in [`crate::wire`].

use super::opcode::Opcode;

/// Why bytes could not be read as (or written into) a wire format.
///
/// Every variant is the peer's fault when returned by a `parse`, and ours when returned by an
/// `emit`. The session layer maps peer faults to a Reject (RFC 7143 §11.17) or Login Status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum WireError {
    /// The buffer is shorter than the format; `needed` is the length it must have.
    Truncated {
        /// Bytes the format needs.
        needed: usize,
    },
    /// A reserved field that the RFC says receivers must check is not zero.
    ReservedNonZero {
        /// Byte offset of the field.
        offset: usize,
    },
    /// The BHS carries an opcode this crate does not know (answer with Reject, reason
    /// Command not supported / Protocol Error, RFC 7143 §11.17.1).
    UnknownOpcode(Opcode),
    /// A typed `Repr::parse` was handed a BHS with another opcode.
    OpcodeMismatch {
        /// The opcode this `Repr` parses.
        expected: Opcode,
        /// The opcode found in the BHS.
        found: Opcode,
    },
    /// A field holds a value the format forbids (parse), or a `Repr` field does not fit its wire
    /// field (emit). The string names the field in the RFC's words.
    BadField(&'static str),
}

impl core::fmt::Display for WireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WireError::Truncated { needed } => write!(f, "truncated: {needed} bytes needed"),
            WireError::ReservedNonZero { offset } => {
                write!(f, "reserved field at byte {offset} is not zero")
            }
            WireError::UnknownOpcode(op) => write!(f, "unknown opcode {op:?}"),
            WireError::OpcodeMismatch { expected, found } => {
                write!(f, "expected opcode {expected:?}, found {found:?}")
            }
            WireError::BadField(name) => write!(f, "bad value in field {name}"),
        }
    }
}

impl core::error::Error for WireError {}
