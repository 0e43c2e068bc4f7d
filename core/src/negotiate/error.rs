//! Negotiation errors, grouped by who is at fault, each mapped to a Login Status class and detail
//! (RFC 7143 §11.13.5).

use crate::wire::text::TextError;

/// Login Status class/detail pairs used here (RFC 7143 §11.13.5). The wire module's `LoginStatus`
/// constants take these raw values over at integration.
pub mod status {
    /// 0x0200 Initiator error (the catch-all for a misbehaving initiator).
    pub const INITIATOR_ERROR: (u8, u8) = (0x02, 0x00);
    /// 0x0201 Authentication failure.
    pub const AUTHENTICATION_FAILURE: (u8, u8) = (0x02, 0x01);
    /// 0x0205 Unsupported version.
    pub const UNSUPPORTED_VERSION: (u8, u8) = (0x02, 0x05);
    /// 0x0207 Missing parameter.
    pub const MISSING_PARAMETER: (u8, u8) = (0x02, 0x07);
    /// 0x0209 Session type not supported.
    pub const SESSION_TYPE_NOT_SUPPORTED: (u8, u8) = (0x02, 0x09);
    /// 0x020B Invalid request during login.
    pub const INVALID_DURING_LOGIN: (u8, u8) = (0x02, 0x0b);
    /// 0x0300 Target error.
    pub const TARGET_ERROR: (u8, u8) = (0x03, 0x00);
    /// 0x0302 Out of resources.
    pub const OUT_OF_RESOURCES: (u8, u8) = (0x03, 0x02);
}

/// Why a login negotiation cannot go on.
///
/// A fault of the peer is filed under the peer's role: a target that meets a broken initiator
/// reports [`NegotiationError::Initiator`] (Login Status class 0x02); an initiator that meets a
/// broken target reports [`NegotiationError::Target`] and simply drops the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum NegotiationError {
    /// The initiator broke a rule.
    Initiator(ProtocolFault),
    /// The target broke a rule.
    Target(ProtocolFault),
    /// This side cannot continue (no room for the answer, a configuration it cannot honour).
    Local(LocalFault),
}

/// A rule of RFC 7143 §6 / §13 (or of RFC 7145 §6 under iSER) that the peer broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ProtocolFault {
    /// The text itself is malformed (RFC 7143 §6.1).
    Text(TextError),
    /// A key was negotiated or declared a second time in one login with a different value
    /// (RFC 7143 §6.2: "Neither the initiator nor the target should attempt to declare or
    /// negotiate a parameter more than once during login").
    Renegotiated {
        /// The key.
        key: &'static str,
    },
    /// A value that is malformed or out of range where it cannot be answered with `Reject`
    /// (a declaration, or a rejected value whose default this side cannot accept).
    InvalidValue {
        /// The key.
        key: &'static str,
    },
    /// An answer that breaks the key's result function (RFC 7143 §6.2.2), e.g. a Min answer above
    /// the offer, or a list answer that was not offered.
    InvalidAnswer {
        /// The key.
        key: &'static str,
    },
    /// An offer that needs an answer got none before the stage ended.
    MissingAnswer {
        /// The key.
        key: &'static str,
    },
    /// A key that must be present is missing (InitiatorName, TargetName for a Normal session).
    MissingParameter {
        /// The key.
        key: &'static str,
    },
    /// A list offer shares no value with ours and its default is not acceptable.
    NoCommonValue {
        /// The key.
        key: &'static str,
    },
    /// The peer answered Reject or NotUnderstood to an offer whose default we cannot live with.
    Rejected {
        /// The key.
        key: &'static str,
    },
    /// A key sent in a stage where it is not allowed (a security key in operational negotiation).
    OutOfStage {
        /// The key.
        key: &'static str,
    },
    /// The transport's policy forbids the outcome (iSER: digests, RDMAExtensions=No).
    TransportRequirement {
        /// The key.
        key: &'static str,
    },
    /// AuthMethod offers share no method with ours.
    AuthMethodMismatch,
    /// The SessionType is not one we serve.
    UnsupportedSessionType,
    /// No common protocol version (for the login layer's VersionMax/VersionMin check).
    UnsupportedVersion,
}

/// A reason on this side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum LocalFault {
    /// The answer did not fit the caller's text buffer.
    BufferTooSmall {
        /// Bytes the buffer would have needed.
        needed: usize,
    },
    /// The local configuration has a value this key cannot carry.
    Misconfigured {
        /// The key.
        key: &'static str,
    },
    /// Our own offer is still unanswered and the caller finished anyway.
    Unanswered {
        /// The key.
        key: &'static str,
    },
}

impl ProtocolFault {
    /// The Login Status detail (class 0x02) for this fault committed by an initiator.
    const fn initiator_detail(&self) -> (u8, u8) {
        match self {
            ProtocolFault::MissingParameter { .. } => status::MISSING_PARAMETER,
            ProtocolFault::AuthMethodMismatch => status::AUTHENTICATION_FAILURE,
            ProtocolFault::UnsupportedSessionType => status::SESSION_TYPE_NOT_SUPPORTED,
            ProtocolFault::UnsupportedVersion => status::UNSUPPORTED_VERSION,
            ProtocolFault::OutOfStage { .. } => status::INVALID_DURING_LOGIN,
            _ => status::INITIATOR_ERROR,
        }
    }
}

impl NegotiationError {
    /// The Login Status class and detail a target sends for this error (RFC 7143 §11.13.5).
    ///
    /// On the initiator side nothing is sent; the pair still says what went wrong.
    pub const fn login_status(&self) -> (u8, u8) {
        match self {
            NegotiationError::Initiator(fault) => fault.initiator_detail(),
            NegotiationError::Target(_) => status::TARGET_ERROR,
            NegotiationError::Local(LocalFault::BufferTooSmall { .. }) => status::OUT_OF_RESOURCES,
            NegotiationError::Local(_) => status::TARGET_ERROR,
        }
    }
}

impl core::fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (class, detail) = self.login_status();
        write!(f, "{self:?} (login status {class:#04x}/{detail:#04x})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_login_status_mapping() {
        let e = NegotiationError::Initiator(ProtocolFault::MissingParameter {
            key: "InitiatorName",
        });
        assert_eq!(e.login_status(), (0x02, 0x07));
        let e = NegotiationError::Initiator(ProtocolFault::Renegotiated {
            key: "MaxBurstLength",
        });
        assert_eq!(e.login_status(), (0x02, 0x00));
        let e = NegotiationError::Initiator(ProtocolFault::UnsupportedVersion);
        assert_eq!(e.login_status(), (0x02, 0x05));
        let e = NegotiationError::Initiator(ProtocolFault::AuthMethodMismatch);
        assert_eq!(e.login_status(), (0x02, 0x01));
        let e = NegotiationError::Initiator(ProtocolFault::UnsupportedSessionType);
        assert_eq!(e.login_status(), (0x02, 0x09));
        let e = NegotiationError::Initiator(ProtocolFault::OutOfStage { key: "CHAP_A" });
        assert_eq!(e.login_status(), (0x02, 0x0b));
        let e = NegotiationError::Target(ProtocolFault::AuthMethodMismatch);
        assert_eq!(e.login_status(), (0x03, 0x00));
        let e = NegotiationError::Local(LocalFault::BufferTooSmall { needed: 9000 });
        assert_eq!(e.login_status(), (0x03, 0x02));
        let e = NegotiationError::Local(LocalFault::Misconfigured { key: "TargetName" });
        assert_eq!(e.login_status(), (0x03, 0x00));
    }
}
